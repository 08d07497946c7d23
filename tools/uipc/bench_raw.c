/* SPDX-License-Identifier: MIT */
/*
 * uipc bench: the raw mechanisms, measured in the same run as the libuipc
 * transports that wrap them, so the ratio shows what libuipc costs:
 *  - raw pipe, raw unix (socketpair SOCK_STREAM), raw tcp (loopback,
 *    TCP_NODELAY): fixed-size messages read with a plain read loop, no
 *    framing, blocking descriptors;
 *  - raw udp: two connected datagram sockets;
 *  - raw mq: two POSIX queues, blocking mq_send/mq_timedreceive;
 *  - raw sysvmq: two System V queues, blocking msgsnd/msgrcv;
 *  - cache line and ring floor: the floors of shared memory (see below);
 *  - memcpy: one process copying the message, the bandwidth ceiling.
 * Each is deliberately the simplest correct use of the mechanism.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* fd[0], fd[1]: the driver's read and write descriptors; fd[2], fd[3]: the echo's. */

static int full_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int full_read(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fd_open(struct bench_link *l)
{
    /* Keep this side's pair, close the other side's. */
    int drop = 2 - l->side * 2;
    close(l->fd[drop]);
    if (l->fd[drop + 1] != l->fd[drop]) /* a socket is one descriptor for both directions */
        close(l->fd[drop + 1]);
    l->fd[drop] = l->fd[drop + 1] = -1;
    return 0;
}

static int fd_send(struct bench_link *l, const void *buf, size_t len)
{
    return full_write(l->fd[l->side * 2 + 1], buf, len);
}

static int fd_recv(struct bench_link *l, void *buf, size_t len)
{
    return full_read(l->fd[l->side * 2], buf, len);
}

static void fd_close(struct bench_link *l)
{
    int a = l->fd[l->side * 2], b = l->fd[l->side * 2 + 1];
    close(a);
    if (b != a)
        close(b);
}

static int pipe_prepare(struct bench_link *l)
{
    int d2e[2], e2d[2];
    if (pipe2(d2e, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(e2d, O_CLOEXEC) < 0) {
        int r = -errno;
        close(d2e[0]);
        close(d2e[1]);
        return r;
    }
    l->fd[0] = e2d[0], l->fd[1] = d2e[1], l->fd[2] = d2e[0], l->fd[3] = e2d[1];
    return 0;
}

static int unix_prepare(struct bench_link *l)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    l->fd[0] = l->fd[1] = sv[0];
    l->fd[2] = l->fd[3] = sv[1];
    return 0;
}

/* A connected loopback pair made before the fork: the same data path as
 * connecting after it, without a rendezvous to coordinate. */
static int inet_prepare(struct bench_link *l, int type)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1, r;
    int lfd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    int cfd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    int sfd = -1;
    if (lfd < 0 || cfd < 0)
        goto fail;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
        goto fail;
    if (type == SOCK_STREAM) {
        if (listen(lfd, 1) < 0 || connect(cfd, (struct sockaddr *)&a, sizeof a) < 0 ||
            (sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            goto fail;
        close(lfd);
        setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
        struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t blen = sizeof b;
        if (bind(cfd, (struct sockaddr *)&b, sizeof b) < 0 ||
            getsockname(cfd, (struct sockaddr *)&b, &blen) < 0 ||
            connect(cfd, (struct sockaddr *)&a, sizeof a) < 0 ||
            connect(lfd, (struct sockaddr *)&b, sizeof b) < 0)
            goto fail;
        sfd = lfd;
        /* The echo gives up on a lost datagram instead of waiting forever. */
        struct timeval tv = {0, 500000};
        setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    l->fd[0] = l->fd[1] = sfd;
    l->fd[2] = l->fd[3] = cfd;
    return 0;
fail:
    r = -errno;
    if (lfd >= 0 && lfd != sfd)
        close(lfd);
    if (cfd >= 0)
        close(cfd);
    if (sfd >= 0)
        close(sfd);
    return r;
}

static int tcp_prepare(struct bench_link *l)
{
    return inet_prepare(l, SOCK_STREAM);
}

static int udp_prepare(struct bench_link *l)
{
    int r = bench_kernel_limit(l, "udp");
    if (r < 0)
        return r;
    r = inet_prepare(l, SOCK_DGRAM);
    if (r == 0) { /* give both ends room for a burst, as much as allowed */
        int big = 4 << 20;
        setsockopt(l->fd[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        setsockopt(l->fd[2], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    return r;
}

static int dgram_send(struct bench_link *l, const void *buf, size_t len)
{
    ssize_t n;
    do
        n = send(l->fd[l->side * 2 + 1], buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

static int dgram_recv(struct bench_link *l, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(l->fd[l->side * 2], buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? -ETIMEDOUT : -errno;
    return (size_t)n == len ? 0 : -EBADMSG;
}

/* ---- raw POSIX message queues: l->fd[0] driver->echo, l->fd[1] echo->driver ---- */

static int mq_prepare(struct bench_link *l)
{
    /* The same depth rule as the libuipc mq: case ({depth} in bench_uipc.c). */
    long depth = (600L * 1024) / (2 * ((long)l->size + 64));
    struct mq_attr attr = {.mq_maxmsg = depth < 1 ? 1 : depth > 10 ? 10 : depth,
                           .mq_msgsize = (long)l->size};
    char name[96];
    int limit = bench_kernel_limit(l, "mq");
    if (limit < 0)
        return limit;
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "/%s-%c", l->name, i ? 'b' : 'a');
        mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
        if (q == (mqd_t)-1) {
            int r = -errno;
            snprintf(l->note, sizeof l->note, "mq_open: %s", strerror(-r));
            if (i) {
                close(l->fd[0]);
                snprintf(name, sizeof name, "/%s-a", l->name);
                mq_unlink(name);
            }
            return r;
        }
        mq_unlink(name); /* nothing left behind, whatever happens next */
        l->fd[i] = (int)q;
    }
    return 0;
}

static int mq_link_open(struct bench_link *l)
{
    (void)l;
    return 0;
}

static int mq_link_send(struct bench_link *l, const void *buf, size_t len)
{
    mqd_t q = (mqd_t)l->fd[l->side];
    while (mq_send(q, buf, len, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int mq_link_recv(struct bench_link *l, void *buf, size_t len)
{
    mqd_t q = (mqd_t)l->fd[1 - l->side];
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += l->timeout_ms / 1000;
    ssize_t n;
    while ((n = mq_timedreceive(q, buf, len < 1 ? 1 : len, NULL, &deadline)) < 0)
        if (errno != EINTR)
            return errno == EMSGSIZE ? -EBADMSG : -errno;
    return (size_t)n == len ? 0 : -EBADMSG;
}

static int mq_link_recv_any(struct bench_link *l, void *buf, size_t len)
{
    /* mq_receive needs a buffer of the queue's message size. */
    if (len >= l->size)
        return mq_link_recv(l, buf, len);
    char *tmp = malloc(l->size);
    if (!tmp)
        return -ENOMEM;
    mqd_t q = (mqd_t)l->fd[1 - l->side];
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += l->timeout_ms / 1000;
    ssize_t n;
    while ((n = mq_timedreceive(q, tmp, l->size, NULL, &deadline)) < 0 && errno == EINTR)
        ;
    int r = n < 0 ? -errno : (size_t)n == len ? 0 : -EBADMSG;
    if (r == 0)
        memcpy(buf, tmp, len);
    free(tmp);
    return r;
}

static void mq_link_close(struct bench_link *l)
{
    mq_close((mqd_t)l->fd[0]);
    mq_close((mqd_t)l->fd[1]);
}

/* ---- the floors: what moving bytes through shared memory costs at least ---- */

/*
 * "cache line": one 64-byte line per direction holding a counter; a send
 * stores the next value, a receive spins until the line changes.  The
 * ping-pong is the hardware floor of any shared-memory handoff (latency
 * only: a counter is not a queue).
 *
 * "ring floor": a minimal single-producer/single-consumer byte ring per
 * direction, the ring any shared-memory transport is built on and nothing
 * else: head and tail on lines of their own, each side caching the other's
 * index and rereading it only when the cache says full or empty, records
 * of an 8-byte length and the payload padded to 8 (copied in two pieces
 * when they wrap), busy-polling, no validation, no wake-ups, no liveness.
 * The ring has the size the shm: cases use, so the ratio is what libuipc's
 * safety costs.
 */
struct floor_ring {
    _Alignas(64) _Atomic uint64_t head; /* producer: bytes written */
    _Alignas(64) _Atomic uint64_t tail; /* consumer: bytes freed */
    _Alignas(64) unsigned char data[];  /* size bytes follow */
};

/* This process's side of the link (one link per process). */
static struct {
    uint64_t head, tail_seen; /* producer */
    uint64_t tail, head_seen; /* consumer */
    uint64_t seq_out, seq_in; /* cache line */
    size_t size;              /* data bytes per ring */
} floor_me;

static size_t floor_one(size_t ring)
{
    return (sizeof(struct floor_ring) + ring + 4095) & ~(size_t)4095;
}

static int floor_prepare(struct bench_link *l)
{
    size_t ring = bench_ring_size(l->size), one = floor_one(ring);
    void *p = mmap(NULL, 2 * one, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    l->ptr[0] = p; /* driver -> echo */
    l->ptr[1] = (char *)p + one;
    l->len[0] = 2 * one;
    l->len[1] = ring;
    return 0;
}

static int floor_open(struct bench_link *l)
{
    memset(&floor_me, 0, sizeof floor_me);
    floor_me.size = l->len[1];
    return 0;
}

/* Spins until *word != unless; gives up after the operation timeout (peer died). */
static int floor_spin(_Atomic uint64_t *word, uint64_t unless, uint64_t *seen, int timeout_ms)
{
    double start = 0;
    for (unsigned long spins = 1;; spins++) {
        uint64_t v = atomic_load_explicit(word, memory_order_acquire);
        if (v != unless) {
            *seen = v;
            return 0;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        if ((spins & 0xfffff) == 0) {
            double now = bench_now_ns();
            if (start == 0)
                start = now;
            else if (now - start > timeout_ms * 1e6)
                return -ETIMEDOUT;
        }
    }
}

static void floor_copy_in(struct floor_ring *r, uint64_t pos, const void *src, size_t len)
{
    size_t off = pos & (floor_me.size - 1), first = floor_me.size - off;
    if (first >= len) {
        memcpy(r->data + off, src, len);
    } else {
        memcpy(r->data + off, src, first);
        memcpy(r->data, (const char *)src + first, len - first);
    }
}

static void floor_copy_out(const struct floor_ring *r, uint64_t pos, void *dst, size_t len)
{
    size_t off = pos & (floor_me.size - 1), first = floor_me.size - off;
    if (first >= len) {
        memcpy(dst, r->data + off, len);
    } else {
        memcpy(dst, r->data + off, first);
        memcpy((char *)dst + first, r->data, len - first);
    }
}

static int floor_send(struct bench_link *l, const void *buf, size_t len)
{
    struct floor_ring *r = l->ptr[l->side];
    uint64_t rec = 8 + ((len + 7) & ~(size_t)7), lenword = len;
    while (floor_me.size - (floor_me.head - floor_me.tail_seen) < rec) {
        int e = floor_spin(&r->tail, floor_me.tail_seen, &floor_me.tail_seen, l->timeout_ms);
        if (e < 0)
            return e;
    }
    floor_copy_in(r, floor_me.head, &lenword, 8);
    floor_copy_in(r, floor_me.head + 8, buf, len);
    floor_me.head += rec;
    atomic_store_explicit(&r->head, floor_me.head, memory_order_release);
    return 0;
}

static int floor_recv(struct bench_link *l, void *buf, size_t len)
{
    struct floor_ring *r = l->ptr[1 - l->side];
    uint64_t lenword;
    if (floor_me.head_seen == floor_me.tail) {
        int e = floor_spin(&r->head, floor_me.tail, &floor_me.head_seen, l->timeout_ms);
        if (e < 0)
            return e;
    }
    floor_copy_out(r, floor_me.tail, &lenword, 8);
    if (lenword != len)
        return -EBADMSG; /* the benchmark's own check that it measures what it says */
    floor_copy_out(r, floor_me.tail + 8, buf, len);
    floor_me.tail += 8 + ((len + 7) & ~(size_t)7);
    atomic_store_explicit(&r->tail, floor_me.tail, memory_order_release);
    return 0;
}

static void floor_close(struct bench_link *l)
{
    munmap(l->ptr[0], l->len[0]);
}

static int line_prepare(struct bench_link *l)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    l->ptr[0] = p; /* driver -> echo: the first line; echo -> driver: the second */
    l->ptr[1] = (char *)p + 64;
    l->len[0] = 4096;
    return 0;
}

static int line_send(struct bench_link *l, const void *buf, size_t len)
{
    (void)buf, (void)len;
    atomic_store_explicit((_Atomic uint64_t *)l->ptr[l->side], ++floor_me.seq_out,
                          memory_order_release);
    return 0;
}

static int line_recv(struct bench_link *l, void *buf, size_t len)
{
    (void)buf, (void)len;
    return floor_spin(l->ptr[1 - l->side], floor_me.seq_in, &floor_me.seq_in, l->timeout_ms);
}

/* ---- raw System V message queues: fd[0] driver -> echo, fd[1] echo -> driver ---- */

static int svq_prepare(struct bench_link *l)
{
    int r = bench_kernel_limit(l, "sysvmq");
    if (r < 0)
        return r;
    for (int i = 0; i < 2; i++) {
        l->fd[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (l->fd[i] < 0) {
            r = -errno;
            if (i)
                msgctl(l->fd[0], IPC_RMID, NULL);
            return r;
        }
        /* Room for a few messages, as the sysvmq: case gets by default. */
        struct msqid_ds ds;
        if (msgctl(l->fd[i], IPC_STAT, &ds) == 0 && ds.msg_qbytes < 4 * (l->size + 8)) {
            ds.msg_qbytes = 4 * (l->size + 8);
            msgctl(l->fd[i], IPC_SET, &ds);
        }
    }
    l->ptr[0] = malloc(sizeof(long) + l->size + 1);
    return l->ptr[0] ? 0 : -ENOMEM;
}

static int svq_open(struct bench_link *l)
{
    (void)l;
    return 0;
}

static int svq_send(struct bench_link *l, const void *buf, size_t len)
{
    long *m = l->ptr[0];
    m[0] = 1;
    memcpy(m + 1, buf, len);
    while (msgsnd(l->fd[l->side], m, len, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int svq_recv(struct bench_link *l, void *buf, size_t len)
{
    long *m = l->ptr[0];
    ssize_t n;
    while ((n = msgrcv(l->fd[1 - l->side], m, l->size, 0, 0)) < 0)
        if (errno != EINTR)
            return -errno;
    if ((size_t)n != len)
        return -EBADMSG;
    memcpy(buf, m + 1, len);
    return 0;
}

static void svq_close(struct bench_link *l)
{
    free(l->ptr[0]);
    l->ptr[0] = NULL;
    if (l->side == 0) { /* the driver closes last: the echo has exited */
        msgctl(l->fd[0], IPC_RMID, NULL);
        msgctl(l->fd[1], IPC_RMID, NULL);
    }
}

/* ---- memcpy: ns per copy of size bytes, cold-cache-free best case ---- */

static double memcpy_local(size_t size, double seconds)
{
    char *a = malloc(size), *b = malloc(size);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memset(a, 1, size);
    memset(b, 2, size);
    long reps = 16;
    double t0, dt;
    for (;;) {
        t0 = bench_now_ns();
        for (long i = 0; i < reps; i++) {
            memcpy(i & 1 ? a : b, i & 1 ? b : a, size);
            __asm__ __volatile__("" ::"r"(a), "r"(b) : "memory");
        }
        dt = bench_now_ns() - t0;
        if (dt > seconds * 1e9 || reps > (1L << 40))
            break;
        reps *= 4;
    }
    free(a);
    free(b);
    return dt / (double)reps;
}

void bench_add_raw(struct bench_case *list, size_t *n)
{
    bench_case_add(list, n, GROUP_RAW, "raw pipe", NULL, pipe_prepare, fd_open, fd_send, fd_recv,
                   fd_close);
    bench_case_add(list, n, GROUP_RAW, "raw unix", NULL, unix_prepare, fd_open, fd_send, fd_recv,
                   fd_close);
    bench_case_add(list, n, GROUP_RAW, "raw tcp", NULL, tcp_prepare, fd_open, fd_send, fd_recv,
                   fd_close);
    struct bench_case *udp = bench_case_add(list, n, GROUP_RAW, "raw udp", NULL, udp_prepare,
                                            fd_open, dgram_send, dgram_recv, fd_close);
    if (udp)
        udp->lossy = true;
    bench_case_add(list, n, GROUP_RAW, "raw mq", NULL, mq_prepare, mq_link_open, mq_link_send,
                   mq_link_recv_any, mq_link_close);
    bench_case_add(list, n, GROUP_RAW, "raw sysvmq", NULL, svq_prepare, svq_open, svq_send,
                   svq_recv, svq_close);
    bench_case_add(list, n, GROUP_RAW, "ring floor", NULL, floor_prepare, floor_open, floor_send,
                   floor_recv, floor_close);
    struct bench_case *line = bench_case_add(list, n, GROUP_RAW, "cache line", NULL, line_prepare,
                                             floor_open, line_send, line_recv, floor_close);
    if (line)
        line->lat_only = true;
    struct bench_case *copy =
        bench_case_add(list, n, GROUP_RAW, "memcpy", NULL, NULL, NULL, NULL, NULL, NULL);
    if (copy)
        copy->local = memcpy_local;
}
