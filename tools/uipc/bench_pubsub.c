/* SPDX-License-Identifier: MIT */
/*
 * uipc bench --pubsub: one publisher and 1, 4 or 8 subscriber processes, on
 * shm:, unix: and tcp: (?overflow=block), beside ZeroMQ PUB/SUB and nng
 * pub0/sub0 over ipc:// when the build has them, and a two-party shm:
 * channel measured with the same loops as the reference.
 *
 * One unit (a case, a subscriber count, a message size):
 *  1. the subscribers are forked and open; the publisher sends warm-up
 *     messages until every subscriber has one (ZeroMQ's subscriptions take
 *     a moment to reach the publisher);
 *  2. latency: LAT_MSGS messages, one every PACE_US, each carrying its send
 *     time (CLOCK_MONOTONIC); every subscriber records arrival - send;
 *  3. throughput: the publisher sends as fast as it may, then an end
 *     message; the rate is the messages over the time until the last
 *     subscriber has the end message (block mode: every subscriber keeps
 *     up; ZeroMQ and nng never block a publisher, so their high-water
 *     marks are raised and a subscriber that still lost messages is
 *     reported);
 *  4. each subscriber reports its count and its latency percentiles through
 *     a pipe; the row shows the median subscriber's p50 and the worst p99.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

#include "bench.h"

#ifdef UIPC_HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef UIPC_HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#endif

#define KIND_WARM 0u
#define KIND_LAT 1u
#define KIND_THR 2u
#define KIND_END 3u
#define PACE_US 100
#define MAX_SUBS 8

struct msg_hdr {
    uint64_t seq;
    int64_t sent_ns;
    uint32_t kind;
    uint32_t pad;
};

/* A pub/sub mechanism seen through four operations. */
struct ps_case {
    const char *name;
    const char *fmt; /* uipc: URI with %s = a unique name or port; else the endpoint */
    bool two_party;  /* a plain channel: one subscriber, opened without flags */
    int kind;        /* 0 uipc, 1 zmq, 2 nng */
};

struct ps_end {
    void *a, *b; /* uipc: channel; zmq: context, socket; nng: socket in a */
    int kind;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the mechanisms ---- */

static int ps_open(const struct ps_case *c, const char *ep, bool pub, struct ps_end *e)
{
    memset(e, 0, sizeof *e);
    e->kind = c->kind;
    if (c->kind == 0) {
        int flags = c->two_party ? (pub ? UIPC_CREATE : 0)
                    : pub        ? UIPC_CREATE | UIPC_PUB
                                 : UIPC_SUB;
        return uipc_open((uipc_channel **)&e->a, ep, flags);
    }
#ifdef UIPC_HAVE_ZMQ
    if (c->kind == 1) {
        int zero = 0;
        e->a = zmq_ctx_new();
        e->b = e->a ? zmq_socket(e->a, pub ? ZMQ_PUB : ZMQ_SUB) : NULL;
        if (!e->b)
            return -EIO;
        zmq_setsockopt(e->b, ZMQ_SNDHWM, &zero, sizeof zero); /* never drop: every */
        zmq_setsockopt(e->b, ZMQ_RCVHWM, &zero, sizeof zero); /* subscriber keeps up */
        zmq_setsockopt(e->b, ZMQ_LINGER, &zero, sizeof zero);
        int timeout = 5000; /* a lost end message must not hang the run */
        zmq_setsockopt(e->b, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        if (!pub)
            zmq_setsockopt(e->b, ZMQ_SUBSCRIBE, "", 0);
        return (pub ? zmq_bind(e->b, ep) : zmq_connect(e->b, ep)) < 0 ? -zmq_errno() : 0;
    }
#endif
#ifdef UIPC_HAVE_NNG
    if (c->kind == 2) {
        nng_socket *s = calloc(1, sizeof *s);
        e->a = s;
        if (!s || (pub ? nng_pub0_open(s) : nng_sub0_open(s)) != 0)
            return -EIO;
        if (!pub)
            nng_socket_set(*s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
        nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 5000);
        nng_socket_set_int(*s, NNG_OPT_SENDBUF, 8192);
        nng_socket_set_int(*s, NNG_OPT_RECVBUF, 8192);
        return (pub ? nng_listen(*s, ep, NULL, 0) : nng_dial(*s, ep, NULL, NNG_FLAG_NONBLOCK))
                   ? -EIO
                   : 0;
    }
#endif
    return -ENOTSUP;
}

static int ps_send(struct ps_end *e, const void *buf, size_t len)
{
    if (e->kind == 0) {
        ssize_t n = uipc_send(e->a, buf, len, 10000);
        return n < 0 ? (int)n : 0;
    }
#ifdef UIPC_HAVE_ZMQ
    if (e->kind == 1)
        return zmq_send(e->b, buf, len, 0) < 0 ? -zmq_errno() : 0;
#endif
#ifdef UIPC_HAVE_NNG
    if (e->kind == 2)
        return nng_send(*(nng_socket *)e->a, (void *)(uintptr_t)buf, len, 0) ? -EIO : 0;
#endif
    return -ENOTSUP;
}

static int ps_recv(struct ps_end *e, void *buf, size_t cap)
{
    if (e->kind == 0) {
        ssize_t n;
        while ((n = uipc_recv(e->a, buf, cap, 10000)) == -EOVERFLOW)
            ;
        return n < 0 ? (int)n : 0;
    }
#ifdef UIPC_HAVE_ZMQ
    if (e->kind == 1)
        return zmq_recv(e->b, buf, cap, 0) < 0 ? -zmq_errno() : 0;
#endif
#ifdef UIPC_HAVE_NNG
    if (e->kind == 2) {
        size_t n = cap;
        return nng_recv(*(nng_socket *)e->a, buf, &n, 0) ? -EIO : 0;
    }
#endif
    return -ENOTSUP;
}

static void ps_close(struct ps_end *e)
{
    if (e->kind == 0 && e->a)
        uipc_close(e->a);
#ifdef UIPC_HAVE_ZMQ
    if (e->kind == 1) {
        if (e->b)
            zmq_close(e->b);
        if (e->a)
            zmq_ctx_term(e->a);
    }
#endif
#ifdef UIPC_HAVE_NNG
    if (e->kind == 2 && e->a) {
        nng_close(*(nng_socket *)e->a);
        free(e->a);
    }
#endif
}

/* ---- one unit ---- */

struct sub_report {
    uint64_t count;  /* throughput messages received */
    double p50, p99; /* ns */
    int64_t end_ns;  /* when the end message arrived */
    int err;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void subscriber(const struct ps_case *c, const char *ep, size_t size, int nlat, int ready_fd,
                       int report_fd)
{
    struct sub_report rep = {0};
    struct ps_end e;
    unsigned char *buf = malloc(size < sizeof(struct msg_hdr) ? sizeof(struct msg_hdr) : size);
    int64_t *lat = calloc((size_t)nlat + 1, sizeof *lat);
    int nl = 0;
    rep.err = buf && lat ? ps_open(c, ep, false, &e) : -ENOMEM;
    /* Forked before the publisher opens (nng and ZeroMQ do not survive a
     * fork): a uipc subscriber waits for it to appear. */
    for (int64_t until = now_ns() + 10000000000LL; rep.err == -ENOENT && now_ns() < until;) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
        rep.err = ps_open(c, ep, false, &e);
    }
    bool warm = false;
    if (write(ready_fd, "o", 1) != 1)
        _exit(1);
    while (rep.err == 0) {
        int r = ps_recv(&e, buf, size);
        if (r < 0) {
            /* A publisher that dropped the end message (ZeroMQ, nng never
             * block): report what arrived, timed at the last arrival. */
            if (warm && (r == -EAGAIN || r == -ETIMEDOUT || e.kind != 0))
                break;
            rep.err = r;
            break;
        }
        struct msg_hdr h;
        memcpy(&h, buf, sizeof h);
        if (!warm) { /* the first message of any kind: we are connected */
            warm = true;
            if (write(ready_fd, "w", 1) != 1)
                break;
        }
        if (h.kind == KIND_LAT && nl < nlat)
            lat[nl++] = now_ns() - h.sent_ns;
        else if (h.kind == KIND_THR) {
            rep.count++;
            rep.end_ns = now_ns();
        } else if (h.kind == KIND_END) {
            rep.end_ns = now_ns();
            break;
        }
    }
    if (nl > 0) {
        qsort(lat, (size_t)nl, sizeof *lat, cmp_i64);
        rep.p50 = (double)lat[nl / 2];
        rep.p99 = (double)lat[(size_t)nl * 99 / 100];
    }
    if (write(report_fd, &rep, sizeof rep) != sizeof rep)
        _exit(1);
    ps_close(&e);
    _exit(0);
}

struct ps_result {
    bool ok;
    double msgs, p50, p99;
    uint64_t lost;
    char note[64];
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void drive(const struct ps_case *c, int nsubs, size_t size, long nthr, int nlat,
                  const char *tmpdir, unsigned seq, struct ps_result *out)
{
    memset(out, 0, sizeof *out);
    char ep[768], unique[320];
    if (strstr(c->fmt, "tcp://"))
        snprintf(unique, sizeof unique, "%d", bench_free_port(SOCK_STREAM));
    else if (strstr(c->fmt, "shm://"))
        snprintf(unique, sizeof unique, "uipc-bench-ps-%d-%u", (int)getpid(), seq);
    else
        snprintf(unique, sizeof unique, "%s/ps-%u", tmpdir, seq);
    snprintf(ep, sizeof ep, c->fmt, unique);
    int ready[2], report[2];
    if (pipe(ready) < 0 || pipe(report) < 0) {
        snprintf(out->note, sizeof out->note, "pipe: %s", strerror(errno));
        return;
    }
    pid_t kids[MAX_SUBS];
    int nk = 0;
    for (; nk < nsubs; nk++) {
        kids[nk] = fork();
        if (kids[nk] == 0)
            subscriber(c, ep, size, nlat, ready[1], report[1]);
    }
    struct ps_end pub;
    const char *phase = "open";
    int r = ps_open(c, ep, true, &pub);
    unsigned char *buf = calloc(1, size < sizeof(struct msg_hdr) ? sizeof(struct msg_hdr) : size);
    struct msg_hdr h = {0};
    char ch;
    for (int i = 0; r == 0 && i < nk; i++) /* every subscriber opened */
        if (read(ready[0], &ch, 1) != 1)
            r = -EIO;
    /* Warm up until every subscriber has a message. */
    phase = "warm-up";
    int warm = 0;
    int64_t give_up = now_ns() + 10 * 1000000000LL;
    while (r == 0 && warm < nk && now_ns() < give_up) {
        h.kind = KIND_WARM;
        memcpy(buf, &h, sizeof h);
        r = ps_send(&pub, buf, size);
        /* Count the subscribers that have one (each says "w" once). */
        struct pollfd pf = {.fd = ready[0], .events = POLLIN};
        while (warm < nk && poll(&pf, 1, 2) == 1 && read(ready[0], &ch, 1) == 1)
            warm++;
    }
    if (r == 0 && warm < nk)
        r = -ETIMEDOUT;
    /* Latency at a pace. */
    if (r == 0)
        phase = "latency";
    for (int i = 0; r == 0 && i < nlat; i++) {
        h.kind = KIND_LAT;
        h.seq = (uint64_t)i;
        h.sent_ns = now_ns();
        memcpy(buf, &h, sizeof h);
        r = ps_send(&pub, buf, size);
        struct timespec pace = {0, PACE_US * 1000};
        nanosleep(&pace, NULL);
    }
    /* Throughput. */
    if (r == 0)
        phase = "throughput";
    int64_t t0 = now_ns();
    h.kind = KIND_THR;
    for (long i = 0; r == 0 && i < nthr; i++) {
        h.seq = (uint64_t)i;
        memcpy(buf, &h, sizeof h);
        r = ps_send(&pub, buf, size);
    }
    h.kind = KIND_END;
    memcpy(buf, &h, sizeof h);
    if (r == 0)
        r = ps_send(&pub, buf, size);
    double p50s[MAX_SUBS], worst99 = 0;
    int64_t last_end = 0;
    int got = 0;
    if (r == 0)
        phase = "a subscriber";
    for (int i = 0; r == 0 && i < nk; i++) {
        struct sub_report rep;
        /* A uipc socket publisher has no thread: what its queues still hold
         * moves when it calls in, so it keeps its poll descriptor serviced
         * while it waits (uipc_pollfd accepts and flushes). */
        int pfd = c->kind == 0 ? uipc_pollfd(pub.a) : -1;
        struct pollfd w[2] = {{.fd = report[0], .events = POLLIN}, {.fd = pfd, .events = POLLIN}};
        while (pfd >= 0 && poll(w, 2, 20) >= 0 && !(w[0].revents & POLLIN))
            pfd = uipc_pollfd(pub.a);
        if (read(report[0], &rep, sizeof rep) != sizeof rep || rep.err) {
            r = rep.err ? rep.err : -EIO;
            break;
        }
        p50s[got++] = rep.p50;
        if (rep.p99 > worst99)
            worst99 = rep.p99;
        if (rep.end_ns > last_end)
            last_end = rep.end_ns;
        out->lost += (uint64_t)nthr - rep.count;
    }
    ps_close(&pub);
    for (int i = 0; i < nk; i++) {
        if (r < 0)
            kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    close(ready[0]);
    close(ready[1]);
    close(report[0]);
    close(report[1]);
    free(buf);
    if (r < 0) {
        snprintf(out->note, sizeof out->note, "%s: %s", phase, uipc_strerror(r));
        return;
    }
    qsort(p50s, (size_t)got, sizeof *p50s, cmp_d);
    out->ok = true;
    out->p50 = p50s[got / 2];
    out->p99 = worst99;
    out->msgs = (double)nthr / ((double)(last_end - t0) / 1e9);
}

/* Each unit in a process of its own: nng and ZeroMQ keep threads and
 * state that a later fork must not inherit. */
static void run_unit(const struct ps_case *c, int nsubs, size_t size, long nthr, int nlat,
                     const char *tmpdir, unsigned seq, struct ps_result *out)
{
    memset(out, 0, sizeof *out);
    int fds[2];
    if (pipe(fds) < 0) {
        snprintf(out->note, sizeof out->note, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        drive(c, nsubs, size, nthr, nlat, tmpdir, seq, out);
        _exit(write(fds[1], out, sizeof *out) == sizeof *out ? 0 : 1);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], out, sizeof *out) != sizeof *out) {
        memset(out, 0, sizeof *out);
        snprintf(out->note, sizeof out->note, "the unit failed");
    }
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int bench_pubsub(bool quick, bool tiny, bool peers)
{
    static const struct ps_case cases[] = {
        {"uipc shm two-party", "shm://%s?size=4M", true, 0},
        {"uipc shm", "shm://%s?size=4M&overflow=block", false, 0},
        {"uipc unix", "unix://%s.sock?size=4M&overflow=block", false, 0},
        {"uipc tcp", "tcp://127.0.0.1:%s?size=4M&overflow=block", false, 0},
#ifdef UIPC_HAVE_ZMQ
        {"zmq pub/sub ipc", "ipc://%s.zmq", false, 1},
#endif
#ifdef UIPC_HAVE_NNG
        {"nng pub0/sub0 ipc", "ipc://%s.nng", false, 2},
#endif
    };
    static const int subs[] = {1, 4, 8};
    static const size_t sizes[] = {64, 65536};
    char tmpdir[256];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/uipc-bench-ps-%d", (int)getpid());
    if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "uipc bench: %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int nlat = tiny ? 20 : quick ? 300 : 2000;
    printf("publish/subscribe: block mode; msgs/s while every subscriber keeps up;\n"
           "one-way latency at one message per %d us (median subscriber's p50, worst p99)\n\n",
           PACE_US);
    printf("%-20s %4s %7s %12s %10s %10s %10s  %s\n", "case", "subs", "size", "msgs/s", "MB/s",
           "p50 us", "p99 us", "note");
    unsigned seq = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        if (!peers && cases[ci].kind != 0)
            continue;
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (size_t ni = 0; ni < sizeof subs / sizeof subs[0]; ni++) {
                if (cases[ci].two_party && subs[ni] != 1)
                    continue;
                long nthr = sizes[si] <= 1024 ? (tiny    ? 200
                                                 : quick ? 50000
                                                         : 300000)
                                              : (tiny    ? 20
                                                 : quick ? 1000
                                                         : 5000);
                struct ps_result res;
                fprintf(stderr, "  %s, %d subscriber(s), %zu B\n", cases[ci].name, subs[ni],
                        sizes[si]);
                run_unit(&cases[ci], subs[ni], sizes[si], nthr, nlat, tmpdir, seq++, &res);
                if (!res.ok) {
                    printf("%-20s %4d %7zu %12s %10s %10s %10s  %s\n", cases[ci].name, subs[ni],
                           sizes[si], "-", "-", "-", "-", res.note);
                    continue;
                }
                char note[64] = "";
                if (res.lost)
                    snprintf(note, sizeof note, "%llu lost", (unsigned long long)res.lost);
                printf("%-20s %4d %7zu %12.0f %10.1f %10.1f %10.1f  %s\n", cases[ci].name, subs[ni],
                       sizes[si], res.msgs, res.msgs * (double)sizes[si] / 1e6, res.p50 / 1e3,
                       res.p99 / 1e3, note);
                fflush(stdout);
            }
    }
    rmdir(tmpdir);
    return 0;
}
