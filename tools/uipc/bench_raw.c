/* SPDX-License-Identifier: MIT */
/*
 * uipc bench: the raw mechanisms, measured in the same run as the libuipc
 * transports that wrap them, so the ratio shows what libuipc costs:
 *  - raw pipe, raw unix (socketpair SOCK_STREAM), raw tcp (loopback,
 *    TCP_NODELAY): fixed-size messages read with a plain read loop, no
 *    framing, blocking descriptors;
 *  - raw udp: two connected datagram sockets;
 *  - raw mq: two POSIX queues, blocking mq_send/mq_timedreceive;
 *  - shm floor: a single-producer ring per direction in a shared anonymous
 *    mapping with spinning on both ends, the cost of moving the bytes and
 *    one cache line between the CPUs: the floor any shared-memory
 *    transport is measured against;
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

/* ---- the shared-memory floor: one SPSC ring per direction ---- */

struct floor_slot {
    _Atomic unsigned full;
    unsigned len;
};

struct floor_ring {
    _Alignas(64) unsigned head; /* producer's next slot (private to it) */
    _Alignas(64) unsigned tail; /* consumer's next slot (private to it) */
    unsigned nslots;
    size_t stride;
    /* slots follow, each: floor_slot header in its own line, then data */
};

static size_t floor_stride(size_t size)
{
    return 64 + ((size + 63) & ~(size_t)63);
}

static unsigned floor_nslots(size_t size)
{
    size_t n = (8u << 20) / floor_stride(size);
    return n < 2 ? 2 : n > 64 ? 64 : (unsigned)n;
}

static struct floor_slot *floor_at(struct floor_ring *r, unsigned i)
{
    return (struct floor_slot *)((char *)r + 192 + (size_t)i * r->stride);
}

static int floor_prepare(struct bench_link *l)
{
    size_t stride = floor_stride(l->size);
    unsigned nslots = floor_nslots(l->size);
    size_t one = 192 + stride * nslots;
    one = (one + 4095) & ~(size_t)4095;
    void *p = mmap(NULL, 2 * one, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    for (int i = 0; i < 2; i++) {
        struct floor_ring *r = (struct floor_ring *)((char *)p + (size_t)i * one);
        r->nslots = nslots;
        r->stride = stride;
    }
    l->ptr[0] = p;
    l->ptr[1] = (char *)p + one;
    l->len[0] = 2 * one;
    return 0;
}

static int floor_open(struct bench_link *l)
{
    (void)l;
    return 0;
}

/* Spins on the slot; gives up after the operation timeout (peer died). */
static int floor_wait(struct floor_slot *s, unsigned want, int timeout_ms)
{
    for (unsigned long spins = 0;; spins++) {
        if (atomic_load_explicit(&s->full, memory_order_acquire) == want)
            return 0;
        if ((spins & 0xfffff) == 0xfffff) {
            static __thread double start;
            double now = bench_now_ns();
            if (spins == 0xfffff)
                start = now;
            else if (now - start > timeout_ms * 1e6)
                return -ETIMEDOUT;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

static int floor_send(struct bench_link *l, const void *buf, size_t len)
{
    struct floor_ring *r = l->ptr[l->side];
    struct floor_slot *s = floor_at(r, r->head);
    int e = floor_wait(s, 0, l->timeout_ms);
    if (e < 0)
        return e;
    memcpy((char *)s + 64, buf, len);
    s->len = (unsigned)len;
    atomic_store_explicit(&s->full, 1, memory_order_release);
    r->head = (r->head + 1) % r->nslots;
    return 0;
}

static int floor_recv(struct bench_link *l, void *buf, size_t len)
{
    struct floor_ring *r = l->ptr[1 - l->side];
    struct floor_slot *s = floor_at(r, r->tail);
    int e = floor_wait(s, 1, l->timeout_ms);
    if (e < 0)
        return e;
    if (s->len != len)
        return -EBADMSG;
    memcpy(buf, (char *)s + 64, len);
    atomic_store_explicit(&s->full, 0, memory_order_release);
    r->tail = (r->tail + 1) % r->nslots;
    return 0;
}

static void floor_close(struct bench_link *l)
{
    munmap(l->ptr[0], l->len[0]);
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
    bench_case_add(list, n, GROUP_RAW, "shm floor", NULL, floor_prepare, floor_open, floor_send,
                   floor_recv, floor_close);
    struct bench_case *copy =
        bench_case_add(list, n, GROUP_RAW, "memcpy", NULL, NULL, NULL, NULL, NULL, NULL);
    if (copy)
        copy->local = memcpy_local;
}
