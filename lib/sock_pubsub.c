/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe over unix: (stream) and tcp: — the contract is in
 * uipc.h; docs/pubsub.md compares it with shm:.
 *
 * The publisher is a listening socket and a list of connected
 * subscribers.  It has no thread: it accepts the subscribers waiting in
 * the kernel's queue at the start of every send and in uipc_pollfd, and
 * writes each message to each subscriber.  A subscriber's open returns
 * once the kernel has queued its connection, so every message published
 * after that reaches it.
 *
 * Wire format: libuipc framing (a 4-byte length, framing.h) whose body is
 * an 8-byte word, sequence << 8 | kind, then the message.  Kind HELLO
 * (first frame on every connection) carries the sequence number of the
 * next message; kind DATA a message.  A subscriber that sees a sequence
 * number beyond the one it expects was lapped: it returns -EOVERFLOW once
 * and keeps the message for the next receive.
 *
 * Per subscriber, what the socket does not take at once waits in a queue
 * in the publisher's memory, bounded by ?size= bytes (default 1 MiB); the
 * socket's send buffer is set to ?size= too (and a subscriber that gives
 * ?size= sets its receive buffer to it), so that the kernel does not hold
 * megabytes more than the channel says.  It
 * is flushed at every send, in uipc_pollfd and at close (for at most
 * UIPC__CLOSE_FLUSH_MS); the publisher's poll descriptor polls readable
 * when a subscriber waits to be accepted or a queued socket takes more, so
 * an idle publisher's event loop calls uipc_pollfd again to move them.  ?overflow=drop: a full queue loses its oldest
 * whole frames (never one partly written).  ?overflow=block: a send first
 * waits, within its timeout, until every subscriber's queue has room,
 * polling their sockets; a subscriber that died shows as an error or a
 * hang-up and is dropped, so it never blocks the publisher.  ?subs= caps
 * the subscribers (default 64; the ones beyond are refused).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sock.h"

#define KIND_DATA 0u
#define KIND_HELLO 1u
#define WORD 8u
#define DEFAULT_QUEUE (1u << 20)
#define DEFAULT_SUBS 64
#define MAX_SUBS 4096
/* A subscriber's connect gives up after this long (the kernel of a live
 * publisher answers at once; only a lost network takes longer). */
#define CONNECT_MS 10000

/* A frame (or what is left of it) waiting for a subscriber's socket. */
struct qframe {
    struct qframe *next;
    size_t len, off; /* bytes, bytes already written */
    unsigned char data[];
};

struct subscriber {
    int fd;
    struct qframe *head, *tail;
    size_t queued; /* bytes in the queue */
    bool watched;  /* in the publisher's poll set for EPOLLOUT */
};

struct uipc__sockps {
    bool publisher, block;
    size_t queue_max; /* ?size= */
    size_t max_subs;  /* ?subs= */
    /* Publisher. */
    int listen_fd;
    struct subscriber *subs;
    size_t nsubs;
    uint64_t seq; /* of the next message */
    struct uipc__pollset ps;
    /* Subscriber. */
    unsigned char *buf; /* a frame body: WORD + max_msg */
    ssize_t held;       /* a message kept after -EOVERFLOW or -EMSGSIZE, -1 if none */
    uint64_t expect;    /* sequence number of the next message */
    bool have_expect;
};

static void put_word(unsigned char *p, uint64_t w)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(w >> (8 * i));
}

static uint64_t get_word(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

static int parse(const struct uipc__uri *u, struct uipc__sockps *ps)
{
    int err = 0;
    uint64_t qmax;
    long subs;
    const char *ov = uipc__uri_get(u, "overflow", &err);
    if (err)
        return err;
    if (ov && strcmp(ov, "drop") != 0 && strcmp(ov, "block") != 0)
        return -EINVAL;
    int r = uipc__uri_size(u, "size", 1, (uint64_t)1 << 30, DEFAULT_QUEUE, &qmax);
    if (r == 0)
        r = uipc__uri_long(u, "subs", 1, MAX_SUBS, DEFAULT_SUBS, &subs);
    if (r < 0)
        return r;
    ps->block = ov && strcmp(ov, "block") == 0;
    ps->queue_max = (size_t)qmax;
    ps->max_subs = (size_t)subs;
    return 0;
}

bool uipc__sockps_keys_given(const struct uipc__uri *u)
{
    int err;
    return uipc__uri_get(u, "overflow", &err) || uipc__uri_get(u, "size", &err) ||
           uipc__uri_get(u, "subs", &err);
}

/* ------------------------------------------------------------------ */
/* Publisher: subscribers and their queues                             */
/* ------------------------------------------------------------------ */

static void drop_frames(struct subscriber *s)
{
    while (s->head) {
        struct qframe *q = s->head;
        s->head = q->next;
        free(q);
    }
    s->tail = NULL;
    s->queued = 0;
}

static void remove_sub(struct uipc__sockps *ps, size_t i)
{
    drop_frames(&ps->subs[i]);
    uipc__close_fd(ps->subs[i].fd);
    ps->subs[i] = ps->subs[--ps->nsubs];
}

/* Appends the bytes [off, len) of a frame given as iovecs to s's queue. */
static int enqueue(struct subscriber *s, const struct iovec *v, int n, size_t skip)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    struct qframe *q = malloc(sizeof *q + total);
    if (!q)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(q->data + at, v[i].iov_base, v[i].iov_len);
        at += v[i].iov_len;
    }
    q->next = NULL;
    q->len = total;
    q->off = skip;
    if (s->tail)
        s->tail->next = q;
    else
        s->head = q;
    s->tail = q;
    s->queued += total - skip;
    return 0;
}

/* Writes what the socket takes now: 0, or -EPIPE when the subscriber is gone. */
static int flush(struct subscriber *s)
{
    while (s->head) {
        struct qframe *q = s->head;
        ssize_t w = send(s->fd, q->data + q->off, q->len - q->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -EPIPE;
        }
        q->off += (size_t)w;
        s->queued -= (size_t)w;
        if (q->off < q->len)
            return 0;
        s->head = q->next;
        if (!s->head)
            s->tail = NULL;
        free(q);
    }
    return 0;
}

/* Drop mode: makes room for need bytes by dropping the oldest frames that
 * have not started to go out; the subscriber sees the gap in sequence. */
static void make_room(struct subscriber *s, size_t need, size_t max)
{
    struct qframe **pp = &s->head;
    while (*pp && s->queued + need > max) {
        struct qframe *q = *pp;
        if (q->off) {
            pp = &q->next;
            continue;
        }
        *pp = q->next;
        s->queued -= q->len;
        free(q);
    }
    s->tail = NULL;
    for (struct qframe *q = s->head; q; q = q->next)
        s->tail = q;
}

/* Sends (or queues) one frame to one subscriber: 0 or -EPIPE (gone). */
static int deliver(struct uipc__sockps *ps, struct subscriber *s, struct iovec *v, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    size_t done = 0;
    if (!s->head) {
        struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)n};
        ssize_t w;
        while ((w = sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
            ;
        if (w < 0 && errno != EAGAIN)
            return -EPIPE;
        done = w > 0 ? (size_t)w : 0;
        if (done == total)
            return 0;
    } else if (!ps->block && s->queued + total > ps->queue_max) {
        make_room(s, total, ps->queue_max);
    }
    return enqueue(s, v, n, done) < 0 ? -EPIPE : 0;
}

/* Sends a HELLO frame to a new subscriber: the sequence of what comes next. */
static int hello(struct uipc__sockps *ps, struct subscriber *s)
{
    unsigned char hdr[4 + WORD];
    uint32_t blen = WORD;
    memcpy(hdr, (unsigned char[4]){(unsigned char)blen, 0, 0, 0}, 4);
    put_word(hdr + 4, ps->seq << 8 | KIND_HELLO);
    struct iovec v = {hdr, sizeof hdr};
    return deliver(ps, s, &v, 1);
}

/* Accepts every subscriber the kernel has queued (never waits). */
static void accept_pending(struct uipc__sock_channel *c)
{
    struct uipc__sockps *ps = c->ps;
    struct uipc__deadline now;
    uipc__deadline_start(&now, 0);
    for (;;) {
        int fd = uipc__sock_accept_one(ps->listen_fd, &c->spec, &now);
        if (fd < 0)
            return;
        if (ps->nsubs == ps->max_subs) {
            uipc__close_fd(fd); /* refused: ?subs= reached */
            continue;
        }
        struct subscriber *grown = realloc(ps->subs, (ps->nsubs + 1) * sizeof *grown);
        if (!grown) {
            uipc__close_fd(fd);
            return;
        }
        ps->subs = grown;
        /* The kernel's buffer counts towards ?size= too (it would hold
         * megabytes on tcp:, and make a lagging subscriber look current). */
        int sndbuf = ps->queue_max > INT_MAX / 2 ? INT_MAX / 2 : (int)ps->queue_max;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        struct subscriber *s = &ps->subs[ps->nsubs++];
        *s = (struct subscriber){.fd = fd};
        if (hello(ps, s) < 0)
            remove_sub(ps, ps->nsubs - 1);
    }
}

static void flush_all(struct uipc__sockps *ps)
{
    for (size_t i = 0; i < ps->nsubs;) {
        if (flush(&ps->subs[i]) < 0)
            remove_sub(ps, i);
        else
            i++;
    }
}

/* Block mode: waits until every subscriber's queue has room for need
 * bytes (an empty queue always has), flushing as the sockets drain. */
static int wait_room(struct uipc__sockps *ps, size_t need, const struct uipc__deadline *dl)
{
    for (;;) {
        flush_all(ps);
        size_t nwait = 0;
        for (size_t i = 0; i < ps->nsubs; i++)
            if (ps->subs[i].head && ps->subs[i].queued + need > ps->queue_max)
                nwait++;
        if (nwait == 0)
            return 0;
        struct pollfd *pfd = calloc(nwait, sizeof *pfd);
        if (!pfd)
            return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < ps->nsubs; i++)
            if (ps->subs[i].head && ps->subs[i].queued + need > ps->queue_max)
                pfd[k++] = (struct pollfd){.fd = ps->subs[i].fd, .events = POLLOUT};
        int r = uipc__wait_fds(pfd, (int)nwait, dl);
        free(pfd);
        if (r < 0)
            return r;
        /* POLLOUT flushes at the top; an error or hang-up makes the flush
         * fail and drops the subscriber. */
    }
}

/*
 * Once the publisher asked for its poll descriptor, a subscriber whose
 * queue holds bytes is in it for EPOLLOUT: the descriptor polls readable
 * when the socket takes more, and the next uipc_pollfd or send moves it.
 */
static void watch_queues(struct uipc__sockps *ps)
{
    if (ps->ps.epfd < 0)
        return;
    for (size_t i = 0; i < ps->nsubs; i++) {
        struct subscriber *s = &ps->subs[i];
        bool want = s->head != NULL;
        if (want == s->watched)
            continue;
        struct epoll_event e = {.events = EPOLLOUT, .data.fd = s->fd};
        if (epoll_ctl(ps->ps.epfd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, s->fd, &e) == 0 || !want)
            s->watched = want;
    }
}

static ssize_t pub_send(struct uipc__sock_channel *c, const void *msg, size_t len,
                        const struct uipc__deadline *dl)
{
    struct uipc__sockps *ps = c->ps;
    accept_pending(c);
    unsigned char hdr[4 + WORD];
    uint32_t blen = (uint32_t)(WORD + len);
    hdr[0] = (unsigned char)blen;
    hdr[1] = (unsigned char)(blen >> 8);
    hdr[2] = (unsigned char)(blen >> 16);
    hdr[3] = (unsigned char)(blen >> 24);
    put_word(hdr + 4, ps->seq << 8 | KIND_DATA);
    if (ps->block) {
        int r = wait_room(ps, sizeof hdr + len, dl);
        if (r < 0)
            return r;
    } else {
        flush_all(ps);
    }
    for (size_t i = 0; i < ps->nsubs;) {
        struct iovec v[2] = {{hdr, sizeof hdr}, {(void *)msg, len}};
        if (deliver(ps, &ps->subs[i], v, len ? 2 : 1) < 0)
            remove_sub(ps, i);
        else
            i++;
    }
    ps->seq++;
    watch_queues(ps);
    return (ssize_t)len;
}

/* ------------------------------------------------------------------ */
/* Subscriber                                                          */
/* ------------------------------------------------------------------ */

/* Gives the held message to the caller: its length or -EMSGSIZE (kept). */
static ssize_t give_held(struct uipc__sock_channel *c, void *buf, size_t cap)
{
    struct uipc__sockps *ps = c->ps;
    size_t n = (size_t)ps->held;
    if (n > cap)
        return -EMSGSIZE;
    memcpy(buf, ps->buf + WORD, n);
    ps->held = -1;
    return (ssize_t)n;
}

static ssize_t sub_recv(struct uipc__sock_channel *c, void *buf, size_t cap,
                        const struct uipc__deadline *dl)
{
    struct uipc__sockps *ps = c->ps;
    if (ps->held >= 0)
        return give_held(c, buf, cap);
    for (;;) {
        ssize_t n = uipc__framer_recv(&c->f, ps->buf, WORD + c->base.max_msg, dl);
        if (n == -EMSGSIZE)
            return c->f.broken = -EBADMSG; /* larger than the publisher may send */
        if (n < 0)
            return n;
        if ((size_t)n < WORD)
            return c->f.broken = -EBADMSG;
        uint64_t w = get_word(ps->buf);
        uint64_t seq = w >> 8;
        if ((w & 0xff) == KIND_HELLO) {
            ps->expect = seq;
            ps->have_expect = true;
            continue;
        }
        if ((w & 0xff) != KIND_DATA || (ps->have_expect && seq < ps->expect))
            return c->f.broken = -EBADMSG;
        ps->held = n - (ssize_t)WORD;
        bool lapped = ps->have_expect && seq > ps->expect;
        ps->expect = seq + 1;
        ps->have_expect = true;
        if (lapped) {
            /* The message stays for the next receive: keep poll readable. */
            uipc__pollset_signal(&c->f.ps, true);
            return -EOVERFLOW;
        }
        return give_held(c, buf, cap);
    }
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */
/* ------------------------------------------------------------------ */

/* Waits for the subscriber's connect: 0, -ENOENT when nobody publishes. */
static int finish_connect(struct uipc__sock_channel *c)
{
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, CONNECT_MS);
    int r = uipc__wait_fd(c->f.wfd, POLLOUT, &dl);
    if (r < 0)
        return r;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->f.wfd, SOL_SOCKET, SO_ERROR, &err, &len);
    c->connecting = false;
    return err == ECONNREFUSED ? -ENOENT : -err;
}

int uipc__sockps_listen_fd(const struct uipc__sockps *ps)
{
    return ps->publisher ? ps->listen_fd : -1;
}

int uipc__sockps_open(struct uipc_channel *ch, const struct uipc__sockspec *s,
                      const struct uipc__uri *u, int flags)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    c->listen_fd = -1;
    uipc__framer_init(&c->f, -1, -1, true);
    if (s->type != SOCK_STREAM)
        return -ENOTSUP; /* the framing below needs a byte stream */
    struct uipc__sockps *ps = calloc(1, sizeof *ps);
    if (!ps)
        return -ENOMEM;
    int r = parse(u, ps);
    if (r < 0) {
        free(ps);
        return r;
    }
    ps->listen_fd = -1;
    ps->held = -1;
    uipc__pollset_init(&ps->ps);
    c->spec = *s;
    ch->max_msg = s->max_msg;
    if (flags & UIPC_PUB) {
        ps->publisher = true;
        r = ps->listen_fd = uipc__sock_listen_fd(&c->spec, flags, SOMAXCONN);
    } else {
        ps->buf = malloc(WORD + s->max_msg);
        r = ps->buf ? uipc__sock_open(ch, s, flags & ~UIPC_SUB) : -ENOMEM;
        if (r == 0 && c->connecting)
            r = finish_connect(c);
        int err;
        if (r == 0 && uipc__uri_get(u, "size", &err)) {
            /* A subscriber that says how much it holds bounds its kernel
             * buffer to it as well. */
            int rcvbuf = ps->queue_max > INT_MAX / 2 ? INT_MAX / 2 : (int)ps->queue_max;
            setsockopt(c->f.rfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        if (r == -ECONNREFUSED)
            r = -ENOENT; /* a socket file nobody listens on: no publisher */
        if (r < 0)
            uipc__framer_release(&c->f);
    }
    if (r < 0) {
        free(ps->buf);
        free(ps);
        return r;
    }
    c->ps = ps;
    return 0;
}

ssize_t uipc__sockps_send(struct uipc_channel *ch, const void *msg, size_t len,
                          const struct uipc__deadline *dl)
{
    return pub_send((struct uipc__sock_channel *)ch, msg, len, dl);
}

ssize_t uipc__sockps_recv(struct uipc_channel *ch, void *buf, size_t cap,
                          const struct uipc__deadline *dl)
{
    return sub_recv((struct uipc__sock_channel *)ch, buf, cap, dl);
}

int uipc__sockps_pollfd(struct uipc_channel *ch)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    struct uipc__sockps *ps = c->ps;
    if (!ps->publisher) {
        int ep = uipc__framer_pollfd(&c->f);
        if (ep >= 0 && ps->held >= 0)
            uipc__pollset_signal(&c->f.ps, true);
        return ep;
    }
    /* The publisher's descriptor polls readable while subscribers wait to
     * be accepted; asking for it accepts them and flushes the queues. */
    accept_pending(c);
    flush_all(ps);
    int ep = uipc__pollset_create(&ps->ps);
    if (ep < 0)
        return ep;
    int r = uipc__pollset_add(&ps->ps, ps->listen_fd);
    watch_queues(ps);
    return r < 0 ? r : ep;
}

int uipc__sockps_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    struct uipc__sockps *ps = c->ps;
    if (ps->publisher) {
        accept_pending(c);
        flush_all(ps);
        return events & UIPC_POLLOUT;
    }
    int out = events & UIPC_POLLOUT; /* a subscriber's send fails at once */
    if ((events & UIPC_POLLIN) && ps->held >= 0)
        return out | UIPC_POLLIN;
    int r = uipc__framer_poll_ready(&c->f, events & ~UIPC_POLLOUT, out ? NULL : w);
    return r < 0 ? r : r | out;
}

void uipc__sockps_close(struct uipc_channel *ch)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    struct uipc__sockps *ps = c->ps;
    if (ps->publisher && ch->opener == getpid()) {
        /* What the queues hold was reported sent: give the subscribers a
         * bounded time to take it. */
        struct uipc__deadline dl;
        uipc__deadline_start(&dl, UIPC__CLOSE_FLUSH_MS);
        bool block = ps->block;
        ps->block = true;
        (void)wait_room(ps, ps->queue_max + 1, &dl);
        ps->block = block;
    }
    while (ps->nsubs)
        remove_sub(ps, ps->nsubs - 1);
    free(ps->subs);
    uipc__close_fd(ps->listen_fd);
    uipc__pollset_release(&ps->ps);
    free(ps->buf);
    free(ps);
    c->ps = NULL;
}
