/* SPDX-License-Identifier: MIT */
/*
 * Length-prefixed framing over byte streams.
 * The contract is in framing.h; this file is the only place that deals with
 * partial reads and writes, EAGAIN and SIGPIPE for stream transports.
 */
#include "framing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <poll.h>
#include <unistd.h>

#include "internal.h"

/* ---- raw I/O without SIGPIPE ---- */

/*
 * Pieces this small are gathered into one buffer first: copying a few
 * hundred bytes costs less than the kernel's walk of an iovec array (a
 * writev of header and 64-byte body moves a quarter fewer messages per
 * second through a pipe than a write of both).
 */
#define SMALL_WRITE 512

/*
 * The descriptors stay blocking, and each call picks: a receive that may
 * wait forever blocks in the kernel, everything else asks not to block
 * (MSG_DONTWAIT; RWF_NOWAIT on pipes) and waits with poll when it must.
 * On this kind of VM a reader parked in read() is woken measurably faster
 * than one parked in poll() (a 64 KiB ping-pong over a UNIX socket: about
 * 20 us one-way against 40 us), which is most of what a framed channel
 * would otherwise lose to the raw mechanism.  A kernel without RWF_NOWAIT
 * on pipes gets O_NONBLOCK descriptors instead (f->nbfd) and always polls.
 * The write descriptor of a pipe or FIFO, which nothing reads through, is
 * made O_NONBLOCK for good (f->wnb, uipc__framer_guard): a plain write
 * then never blocks and costs less than pwritev2.
 */
static void fall_back_to_nonblock(struct uipc__framer *f)
{
    f->nbfd = true;
    fcntl(f->rfd, F_SETFL, fcntl(f->rfd, F_GETFL) | O_NONBLOCK);
    fcntl(f->wfd, F_SETFL, fcntl(f->wfd, F_GETFL) | O_NONBLOCK);
}

static ssize_t pipe_writev(struct uipc__framer *f, const struct iovec *iov, int n)
{
    if (f->nbfd || f->wnb)
        return n == 1 ? write(f->wfd, iov[0].iov_base, iov[0].iov_len) : writev(f->wfd, iov, n);
    ssize_t w = pwritev2(f->wfd, iov, n, -1, RWF_NOWAIT);
    if (w < 0 && errno == EOPNOTSUPP) {
        fall_back_to_nonblock(f);
        return writev(f->wfd, iov, n);
    }
    return w;
}

/* One write of a message's pieces, never blocking, never raising SIGPIPE. */
static ssize_t raw_writev(struct uipc__framer *f, const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    unsigned char one[SMALL_WRITE];
    struct iovec gathered = {one, total};
    if (n > 1 && total <= SMALL_WRITE) {
        unsigned char *p = one;
        for (int i = 0; i < n; i++) {
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
            p += iov[i].iov_len;
        }
        iov = &gathered;
        n = 1;
    }
    if (!f->sock)
        return pipe_writev(f, iov, n);
    if (n == 1)
        return send(f->wfd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    return sendmsg(f->wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * A socket can also wait in the kernel with a bound: SO_RCVTIMEO.  Setting
 * it costs a system call, so it is set to half of what is left of the
 * deadline and kept while later deadlines leave at least that much: a
 * caller that always passes the same timeout sets it once.  A receive that
 * times out early (after half) returns to the caller's poll for the rest.
 * f->rcvtimeo_ns is the value set, 0 for none (forever).
 */
int uipc__framer_arm_rcvtimeo(struct uipc__framer *f, const struct uipc__deadline *dl)
{
    int64_t set = 0; /* forever */
    if (dl->timeout_ms >= 0) {
        int64_t left = uipc__deadline_left_ns(dl);
        if (left < 2000)
            return -EAGAIN; /* too little left to park: the caller's poll reports it */
        set = f->rcvtimeo_ns && f->rcvtimeo_ns <= left ? f->rcvtimeo_ns : left / 2;
    }
    if (set != f->rcvtimeo_ns) {
        struct timeval tv = uipc__ns_to_timeval(set);
        if (setsockopt(f->rfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
            return -errno;
        f->rcvtimeo_ns = set;
    }
    return 0;
}

static ssize_t sock_recv_timed(struct uipc__framer *f, void *buf, size_t len,
                               const struct uipc__deadline *dl)
{
    int r = uipc__framer_arm_rcvtimeo(f, dl);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return recv(f->rfd, buf, len, 0);
}

/* One read: blocking when the caller may wait forever and nothing else
 * (a send backlog) needs watching, else without waiting. */
static ssize_t raw_read(struct uipc__framer *f, void *buf, size_t len,
                        const struct uipc__deadline *dl)
{
    bool block = (dl->timeout_ms < 0 && !f->tx) || f->alarmed;
    if (f->sock) {
        if (block && !f->rcvtimeo_ns)
            return recv(f->rfd, buf, len, 0);
        ssize_t n = recv(f->rfd, buf, len, MSG_DONTWAIT);
        if (n >= 0 || errno != EAGAIN || f->tx || dl->timeout_ms == 0)
            return n;
        return sock_recv_timed(f, buf, len, dl);
    }
    if (block || f->nbfd)
        return read(f->rfd, buf, len);
    struct iovec v = {buf, len};
    ssize_t n = preadv2(f->rfd, &v, 1, -1, RWF_NOWAIT);
    if (n < 0 && errno == EOPNOTSUPP) {
        fall_back_to_nonblock(f);
        return read(f->rfd, buf, len);
    }
    return n;
}

static int io_error(int err)
{
    /* A reset connection is a peer that went away. */
    return (err == ECONNRESET || err == EPIPE || err == ENOTCONN) ? -EPIPE : -err;
}

/* ---- sending ---- */

/* Writes the backlog without waiting.  0 when empty, -EAGAIN when not yet. */
static int flush_some(struct uipc__framer *f)
{
    while (f->tx_off < f->tx_len) {
        struct iovec v = {f->tx + f->tx_off, f->tx_len - f->tx_off};
        ssize_t n = raw_writev(f, &v, 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return -EAGAIN;
            return io_error(errno);
        }
        f->tx_off += (size_t)n;
    }
    free(f->tx);
    f->tx = NULL;
    f->tx_len = f->tx_off = 0;
    return 0;
}

/*
 * Waits for room to write.  A pipe's guard keeps the write side open even
 * when the peer is gone, so the peer's end of the read pipe is watched too:
 * its hang-up is the peer's death (-EPIPE).
 */
static int wait_writable(struct uipc__framer *f, const struct uipc__deadline *dl)
{
    struct pollfd p[2] = {{.fd = f->wfd, .events = POLLOUT}, {.fd = f->rfd, .events = 0}};
    int n = (f->sock || f->rfd < 0) ? 1 : 2;
    int r = uipc__wait_fds(p, n, dl);
    if (r < 0)
        return r;
    if (n == 2 && (p[1].revents & POLLHUP) && !(p[0].revents & POLLOUT)) {
        f->hup = true;
        return -EPIPE;
    }
    return 0;
}

/* Pipes: true when every writer of the read pipe, the peer, is gone. */
static bool read_pipe_hung_up(const struct uipc__framer *f)
{
    struct pollfd p = {.fd = f->rfd, .events = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

/* Flushes the backlog, waiting within the deadline. */
static int flush_wait(struct uipc__framer *f, const struct uipc__deadline *dl)
{
    for (;;) {
        int r = flush_some(f);
        if (r != -EAGAIN)
            return r;
        r = wait_writable(f, dl);
        if (r < 0)
            return r;
    }
}

/* Keeps the unwritten rest of a committed message for later. */
static int stash_tx(struct uipc__framer *f, const unsigned char *hdr, const void *msg,
                    size_t len, size_t written)
{
    size_t total = UIPC__FRAME_HDR + len, rest = total - written;
    unsigned char *t = malloc(rest);
    if (!t)
        return -ENOMEM;
    size_t off = 0;
    if (written < UIPC__FRAME_HDR) {
        memcpy(t, hdr + written, UIPC__FRAME_HDR - written);
        off = UIPC__FRAME_HDR - written;
        written = UIPC__FRAME_HDR;
    }
    memcpy(t + off, (const unsigned char *)msg + (written - UIPC__FRAME_HDR), rest - off);
    f->tx = t;
    f->tx_len = rest;
    f->tx_off = 0;
    return 0;
}

ssize_t uipc__framer_send(struct uipc__framer *f, const void *msg, size_t len,
                          const struct uipc__deadline *dl)
{
    if (f->broken)
        return f->broken;
    if (f->eof || f->hup)
        return -EPIPE; /* the peer's end of stream was seen: it is gone */
    if (f->guard >= 0 && uipc__live_check_due(&f->live) && read_pipe_hung_up(f)) {
        f->hup = true; /* the guard keeps the write side open: look (framing.h) */
        return -EPIPE;
    }
    if (f->tx) {
        int r = flush_wait(f, dl);
        if (r < 0)
            return r;
    }
    unsigned char hdr[UIPC__FRAME_HDR] = {(unsigned char)len, (unsigned char)(len >> 8),
                                          (unsigned char)(len >> 16),
                                          (unsigned char)(len >> 24)};
    size_t total = UIPC__FRAME_HDR + len, done = 0;
    while (done < total) {
        struct iovec v[2];
        int n = 0;
        if (done < UIPC__FRAME_HDR)
            v[n++] = (struct iovec){hdr + done, UIPC__FRAME_HDR - done};
        size_t boff = done > UIPC__FRAME_HDR ? done - UIPC__FRAME_HDR : 0;
        if (len > boff)
            v[n++] = (struct iovec){(unsigned char *)msg + boff, len - boff};
        ssize_t w = raw_writev(f, v, n);
        if (w >= 0) {
            done += (size_t)w;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return io_error(errno);
        int r = wait_writable(f, dl);
        if (r >= 0)
            continue;
        if (done == 0 || r == -EPIPE)
            return r;
        /* Part of the message has left: it is committed, keep the rest. */
        r = stash_tx(f, hdr, msg, len, done);
        return r < 0 ? r : (ssize_t)len;
    }
    return (ssize_t)len;
}

/* ---- receiving ---- */

static size_t buffered(const struct uipc__framer *f)
{
    return f->rlen - f->rpos;
}

static uint32_t header_len(const unsigned char *h)
{
    return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
}

/* True when a whole message (or the end of stream) is ready in user space. */
static bool ready_in_buffer(const struct uipc__framer *f)
{
    if (f->part_active) /* complete once uipc_poll read all of it (recv_ready) */
        return f->part_got == f->part_len || f->eof;
    if (buffered(f) < UIPC__FRAME_HDR)
        return f->eof;
    uint32_t len = header_len(f->rbuf + f->rpos);
    /* A header no sender could have written is ready too: the next recv
     * reports -EBADMSG at once, and a poller must be woken to learn it. */
    return buffered(f) - UIPC__FRAME_HDR >= len || len > f->max_msg || f->eof;
}

/* Reads what the kernel has into rbuf.  1 data, 0 EOF, -EAGAIN, -errno. */
static int fill(struct uipc__framer *f, const struct uipc__deadline *dl)
{
    if (!f->rbuf && !(f->rbuf = malloc(UIPC__FRAME_RBUF)))
        return -ENOMEM;
    if (f->rpos == f->rlen)
        f->rpos = f->rlen = 0;
    else if (f->rpos > 0 && f->rlen == UIPC__FRAME_RBUF) {
        memmove(f->rbuf, f->rbuf + f->rpos, buffered(f));
        f->rlen -= f->rpos;
        f->rpos = 0;
    }
    /* After a large message, expect another: read just the next header, so
     * that its body goes straight into the caller's buffer (read_body)
     * instead of through rbuf, a copy that costs more than the read. */
    size_t want = UIPC__FRAME_RBUF - f->rlen;
    if (f->large && buffered(f) < UIPC__FRAME_HDR)
        want = UIPC__FRAME_HDR - buffered(f);
    for (;;) {
        ssize_t n = raw_read(f, f->rbuf + f->rlen, want, dl);
        if (n > 0) {
            f->rlen += (size_t)n;
            return 1;
        }
        if (n == 0) {
            f->eof = true;
            return 0;
        }
        if (errno == EINTR) {
            if (f->alarmed && uipc__deadline_left_ns(dl) == 0)
                return uipc__deadline_error(dl);
            continue;
        }
        if (errno == EAGAIN)
            return -EAGAIN;
        if (errno == ECONNRESET) {
            f->eof = true;
            return 0;
        }
        return -errno;
    }
}

/*
 * Waits until the read side has something.  A backlog is flushed here too,
 * so a side that only receives after a timed-out send cannot deadlock a
 * peer that waits for the rest of that message.
 */
static int wait_readable(struct uipc__framer *f, const struct uipc__deadline *dl)
{
    for (;;) {
        if (f->tx && flush_some(f) == -EPIPE) {
            free(f->tx); /* the reader is gone; the rest can never arrive */
            f->tx = NULL;
            f->tx_len = f->tx_off = 0;
        }
        struct pollfd p[2] = {{.fd = f->rfd, .events = POLLIN}, {.fd = f->wfd, .events = POLLOUT}};
        int n = 1;
        if (f->tx && f->wfd == f->rfd)
            p[0].events |= POLLOUT;
        else if (f->tx)
            n = 2;
        int r = uipc__wait_fds(p, n, dl);
        if (r < 0)
            return r;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            return 0;
    }
}

/*
 * Waits for data: 1 when there is some (read already, or to read now), 0 at
 * end of stream, or the deadline's error or another -errno.  A
 * pipe with a bounded deadline blocks in read() under the alarm (wait.h),
 * as a wait forever does, instead of in poll: a pipe that was ever polled
 * makes the kernel look for sleepers on every later write (pipe_write's
 * poll_usage), which costs the writer; and a reader parked in read() is
 * woken sooner (one write of 64 B costs ~175 ns on a pipe never polled,
 * ~205 ns after a single poll, here).  Everything else polls
 * (wait_readable).
 */
static int wait_and_fill(struct uipc__framer *f, const struct uipc__deadline *dl)
{
    struct uipc__alarm a;
    if (dl->timeout_ms == 0 && !f->tx && !f->sock)
        return uipc__deadline_error(dl); /* the read just said "empty"; no poll either */
    if (f->sock || f->nbfd || f->tx || dl->timeout_ms <= 0 || uipc__alarm_arm(&a, dl) < 0) {
        int r = wait_readable(f, dl);
        return r < 0 ? r : 1; /* readable: the caller reads */
    }
    f->alarmed = true; /* raw_read blocks, fill ends at the deadline */
    int r = fill(f, dl);
    f->alarmed = false;
    uipc__alarm_disarm(&a);
    return r;
}

static void drop_part(struct uipc__framer *f)
{
    free(f->part);
    f->part = NULL;
    f->part_active = false;
    f->part_len = f->part_got = 0;
}

/*
 * Reads the rest of a message body straight into buf (got bytes are already
 * there).  On a timeout the received prefix is kept in f->part so that the
 * next call resumes; end of stream inside a body is -EPIPE: the torn message
 * is dropped, never delivered.
 */
static ssize_t read_body(struct uipc__framer *f, unsigned char *buf, size_t len, size_t got,
                         const struct uipc__deadline *dl)
{
    while (got < len) {
        ssize_t n = raw_read(f, buf + got, len - got, dl);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0 || errno == ECONNRESET) {
            f->eof = true;
            return -EPIPE;
        }
        if (errno == EINTR)
            continue;
        int r = errno == EAGAIN ? wait_readable(f, dl) : -errno;
        if (r == 0)
            continue;
        f->part = malloc(got ? got : 1);
        if (!f->part) {
            f->broken = -ENOMEM; /* the stream position is lost */
            return -ENOMEM;
        }
        memcpy(f->part, buf, got);
        f->part_active = true;
        f->part_len = len;
        f->part_got = got;
        return r;
    }
    return (ssize_t)len;
}

static ssize_t recv_one(struct uipc__framer *f, unsigned char *buf, size_t cap,
                        const struct uipc__deadline *dl)
{
    if (f->part_active) {
        if (f->part_len > cap)
            return -EMSGSIZE;
        size_t len = f->part_len, got = f->part_got;
        memcpy(buf, f->part, got);
        drop_part(f);
        return read_body(f, buf, len, got, dl);
    }
    while (buffered(f) < UIPC__FRAME_HDR) {
        if (f->eof)
            return -EPIPE; /* a clean end, or a torn header that is dropped */
        int r = fill(f, dl);
        if (r == -EAGAIN)
            r = wait_and_fill(f, dl);
        if (r < 0)
            return r;
    }
    uint32_t len = header_len(f->rbuf + f->rpos);
    if (len > f->max_msg) {
        f->broken = -EBADMSG; /* not a header a libuipc peer could have written */
        return -EBADMSG;
    }
    if (len > cap)
        return -EMSGSIZE;
    f->large = len >= UIPC__FRAME_DIRECT;
    f->rpos += UIPC__FRAME_HDR;
    size_t have = buffered(f) < len ? buffered(f) : len;
    memcpy(buf, f->rbuf + f->rpos, have);
    f->rpos += have;
    if (have == len)
        return (ssize_t)len;
    if (f->eof)
        return -EPIPE;
    return read_body(f, buf, len, have, dl);
}

ssize_t uipc__framer_recv(struct uipc__framer *f, void *buf, size_t cap,
                          const struct uipc__deadline *dl)
{
    if (f->broken)
        return f->broken;
    ssize_t r = recv_one(f, buf, cap, dl);
    uipc__pollset_signal(&f->ps, ready_in_buffer(f));
    return r;
}

/* ---- readiness for uipc_poll ---- */

/*
 * A message too large for rbuf, whose header is buffered, becomes a part
 * (as after a timed-out receive) so that its body can be read in ahead of
 * the receive: the kernel may never hold all of it at once (the sender
 * waits for room).  False when the next message is not such a one, or
 * when there is no memory for it (then the receive does the work).
 */
static bool start_part(struct uipc__framer *f)
{
    if (buffered(f) < UIPC__FRAME_HDR)
        return false;
    uint32_t len = header_len(f->rbuf + f->rpos);
    if ((uint64_t)UIPC__FRAME_HDR + len <= UIPC__FRAME_RBUF || !(f->part = malloc(len)))
        return false;
    f->rpos += UIPC__FRAME_HDR;
    size_t have = buffered(f) < len ? buffered(f) : len;
    memcpy(f->part, f->rbuf + f->rpos, have);
    f->rpos += have;
    f->part_active = true;
    f->part_len = len;
    f->part_got = have;
    f->large = true;
    return true;
}

/* True when a receive with timeout 0 would not return -EAGAIN.  Reads
 * what the kernel has, without waiting, into rbuf or a part. */
static bool recv_ready(struct uipc__framer *f)
{
    struct uipc__deadline now;
    uipc__deadline_start(&now, 0);
    for (;;) {
        if (f->broken || ready_in_buffer(f))
            return true;
        if (!f->part_active && !start_part(f)) {
            if (buffered(f) >= UIPC__FRAME_HDR &&
                (uint64_t)UIPC__FRAME_HDR + header_len(f->rbuf + f->rpos) > UIPC__FRAME_RBUF)
                return true; /* no memory to read ahead: let the receive try */
            int r = fill(f, &now);
            if (r == -EAGAIN)
                return false;
            if (r <= 0)
                return true; /* the end, or an error the receive reports at once */
            continue;
        }
        ssize_t n = raw_read(f, f->part + f->part_got, f->part_len - f->part_got, &now);
        if (n > 0)
            f->part_got += (size_t)n;
        else if (n == 0 || errno == ECONNRESET)
            f->eof = true;
        else if (errno != EINTR)
            return errno != EAGAIN;
    }
}

int uipc__framer_poll_ready(struct uipc__framer *f, int events, struct uipc__pollwait *w)
{
    if (f->rfd < 0)
        return 0;
    int rev = 0;
    if ((events & UIPC_POLLIN) && recv_ready(f))
        rev |= UIPC_POLLIN;
    else if (!(events & UIPC_POLLIN) && !f->eof &&
             (uipc__poll_fd_now(f->rfd, POLLRDHUP) & (POLLHUP | POLLRDHUP | POLLERR)))
        f->hup_seen = true;
    uipc__pollset_signal(&f->ps, ready_in_buffer(f));
    if (events & UIPC_POLLOUT) {
        if (f->broken || ((f->eof || f->hup) && !f->sock))
            rev |= UIPC_POLLOUT; /* a send fails at once */
        else if (uipc__poll_fd_now(f->wfd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP))
            rev |= UIPC_POLLOUT;
    }
    if (f->eof || f->hup || f->hup_seen)
        rev |= UIPC_POLLHUP;
    if (rev || !w)
        return rev;
    /* Without UIPC_POLLIN, only the hang-up of the read side wakes us. */
    uipc__pollwait_add(w, f->rfd, (events & UIPC_POLLIN) ? POLLIN : POLLRDHUP);
    if ((events & UIPC_POLLOUT) && f->wfd == f->rfd && w->nfds)
        w->fds[w->nfds - 1].events |= POLLOUT;
    else if (events & UIPC_POLLOUT)
        uipc__pollwait_add(w, f->wfd, POLLOUT);
    return 0;
}

/* ---- life cycle ---- */

void uipc__framer_init(struct uipc__framer *f, int rfd, int wfd, bool sock)
{
    memset(f, 0, sizeof *f);
    f->guard = -1;
    f->sock = sock;
    f->max_msg = UIPC__MAXMSG_CEILING;
    uipc__live_check_init(&f->live, 1);
    uipc__pollset_init(&f->ps);
    uipc__framer_attach(f, rfd, wfd);
}

void uipc__framer_attach(struct uipc__framer *f, int rfd, int wfd)
{
    f->rfd = rfd;
    f->wfd = wfd;
    /* Blocking descriptors, non-blocking calls (see raw_read). */
    int fds[2] = {rfd, wfd};
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) & ~O_NONBLOCK);
}

void uipc__framer_guard(struct uipc__framer *f, int guard)
{
    f->guard = guard;
    /* Nobody reads through the write descriptor: it can be non-blocking for
     * good, so a send is a plain write (pwritev2 with RWF_NOWAIT costs the
     * kernel an iovec import more: 263 -> ~200 ns a 64 B message here). */
    f->wnb = fcntl(f->wfd, F_SETFL, fcntl(f->wfd, F_GETFL) | O_NONBLOCK) == 0;
    /* A message of the pipe's size plus its header must not have to wait
     * for the reader halfway: ask for 256 KiB pipes (within the
     * unprivileged limit of 1 MiB, /proc/sys/fs/pipe-max-size; refused once
     * the user's pipe budget is spent, which is harmless). */
    fcntl(f->wfd, F_SETPIPE_SZ, 256 << 10);
    fcntl(f->rfd, F_SETPIPE_SZ, 256 << 10);
}

int uipc__framer_pollfd(struct uipc__framer *f)
{
    int ep = uipc__pollset_create(&f->ps);
    if (ep < 0)
        return ep;
    int r = uipc__pollset_add(&f->ps, f->rfd);
    if (r < 0)
        return r;
    uipc__pollset_signal(&f->ps, ready_in_buffer(f));
    return ep;
}

void uipc__framer_release(struct uipc__framer *f)
{
    if (f->tx) {
        /* The rest of a message a send already reported as sent: give the
         * peer a bounded time to take it, then give up (the peer then sees
         * end of stream inside that message and drops it whole). */
        struct uipc__deadline dl;
        uipc__deadline_start(&dl, UIPC__CLOSE_FLUSH_MS);
        flush_wait(f, &dl);
    }
    free(f->tx);
    free(f->rbuf);
    drop_part(f);
    if (f->wfd != f->rfd)
        uipc__close_fd(f->wfd);
    uipc__close_fd(f->rfd);
    uipc__close_fd(f->guard);
    uipc__pollset_release(&f->ps);
    f->rfd = f->wfd = f->guard = -1;
    f->tx = f->rbuf = NULL;
}
