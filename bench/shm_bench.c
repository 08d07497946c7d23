/* SPDX-License-Identifier: MIT */
/*
 * shm_bench — the shm: ring against its baselines, in one run.
 *
 * Two forked processes pinned to CPUs 0 and 1 (sched_setaffinity), fresh
 * processes for every measurement, rounds interleaved across all cases and
 * the median of the rounds reported (the method of docs/PERFORMANCE.md;
 * results in docs/shm.md).  For 64 B, 1 KiB, 64 KiB and 1 MiB messages:
 *
 *  latency     one-way = ping-pong round trip / 2, per-iteration samples:
 *              p50, p99, p99.9, max.  Samples include one clock_gettime
 *              (~25 ns here), not subtracted.
 *  throughput  the sender streams for --ms milliseconds (after a warm-up),
 *              the receiver acknowledges the last message; msgs/s and MB/s.
 *
 * Cases: a single cache line bounced between the processes (the hardware
 * floor), memcpy of the message size in one process, a raw pipe and a raw
 * UNIX stream socketpair (baselines), and uipc shm: with the copying calls
 * spinning (default ?spin=), futex-only (?spin=0), and zero-copy.  Zero-copy
 * comes in two kinds: "zc" stamps a sequence number into the reservation
 * and the receiver reads it in place (what the transport itself costs), and
 * "zc+fill" writes the whole payload into the reservation with memcpy and
 * the receiver reads one word of every cache line in place (one copy where
 * the copying calls make two).
 *
 * Prints numbers only; nothing here asserts a speed.
 *   usage: shm_bench [--rounds N] [--ms T] [--sizes 64,1024,...] [--quick]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

#define MAX_SIZES 8
#define STOP UINT64_MAX
#define MAX_SAMPLES 200000

enum mech { PIPE, UNIXS, SHM_SPIN, SHM_NOSPIN, SHM_ZC, SHM_ZC_FILL, SHM_SPIN_UNPINNED, NMECH };

static const char *const mech_name[NMECH] = {
    "raw pipe", "raw unix stream", "shm spin", "shm spin=0", "shm zc", "shm zc+fill",
    "shm spin, unpinned",
};

static int opt_rounds = 3;
static int opt_ms = 300;

/* ---- time, pinning, statistics ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        perror("sched_setaffinity");
}

static void unpin(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    CPU_SET(1, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n ? v[n / 2] : 0;
}

static void die(const char *what, long err)
{
    fprintf(stderr, "shm_bench: %s: %s\n", what,
            err < 0 ? uipc_strerror((int)err) : strerror(errno));
    exit(2);
}

/* ---- one end of a link, over any mechanism ---- */

struct end {
    enum mech m;
    int rfd, wfd;      /* pipe, unix */
    uipc_channel *ch;  /* shm */
    unsigned char *src; /* payload source for the copying senders */
    unsigned char *dst;
    size_t size;
};

static void full_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("write", 0);
        p += n;
        len -= (size_t)n;
    }
}

static void full_read(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("read", 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Sends one message of e->size bytes whose first 8 bytes are seq. */
static void xsend(struct end *e, uint64_t seq)
{
    void *w;
    long r;
    switch (e->m) {
    case PIPE:
    case UNIXS:
        memcpy(e->src, &seq, 8);
        full_write(e->wfd, e->src, e->size);
        return;
    case SHM_ZC:
    case SHM_ZC_FILL:
        if ((r = uipc_send_reserve(e->ch, &w, e->size, -1)) < 0)
            die("uipc_send_reserve", r);
        if (e->m == SHM_ZC_FILL)
            memcpy(w, e->src, e->size);
        memcpy(w, &seq, 8);
        if ((r = uipc_send_commit(e->ch, e->size)) < 0)
            die("uipc_send_commit", r);
        return;
    default:
        memcpy(e->src, &seq, 8);
        if ((r = uipc_send(e->ch, e->src, e->size, -1)) != (long)e->size)
            die("uipc_send", r);
    }
}

/* Receives one message of e->size bytes; returns its first 8 bytes. */
static uint64_t xrecv(struct end *e)
{
    const void *p;
    uint64_t seq;
    long r;
    switch (e->m) {
    case PIPE:
    case UNIXS:
        full_read(e->rfd, e->dst, e->size);
        memcpy(&seq, e->dst, 8);
        return seq;
    case SHM_ZC:
    case SHM_ZC_FILL:
        if ((r = uipc_recv_peek(e->ch, &p, -1)) != (long)e->size)
            die("uipc_recv_peek", r);
        memcpy(&seq, p, 8);
        if (e->m == SHM_ZC_FILL) { /* consume it in place: every line */
            volatile uint64_t sum = 0;
            for (size_t off = 0; off + 8 <= e->size; off += 64)
                sum += *(const volatile uint64_t *)(const void *)((const char *)p + off);
        }
        uipc_recv_release(e->ch);
        return seq;
    default:
        if ((r = uipc_recv(e->ch, e->dst, e->size, -1)) != (long)e->size)
            die("uipc_recv", r);
        memcpy(&seq, e->dst, 8);
        return seq;
    }
}

/* Small control messages (acks) always go through the copying calls. */
static void ctl_send(struct end *e, uint64_t v)
{
    if (e->ch) {
        long r = uipc_send(e->ch, &v, 8, -1);
        if (r != 8)
            die("uipc_send(ack)", r);
    } else {
        full_write(e->wfd, &v, 8);
    }
}

static uint64_t ctl_recv(struct end *e)
{
    uint64_t v;
    if (e->ch) {
        long r = uipc_recv(e->ch, &v, 8, -1);
        if (r != 8)
            die("uipc_recv(ack)", r);
    } else {
        full_read(e->rfd, &v, 8);
    }
    return v;
}

/* ---- a measurement: fork, pin, run both roles ---- */

struct result {
    double p50, p99, p999, max; /* one-way ns */
    double msgs_s, mb_s;
};

static const char *shm_uri(enum mech m, size_t size, char *buf, size_t cap)
{
    size_t ring = size * 8 < (256u << 10) ? (256u << 10) : size * 8;
    snprintf(buf, cap, "shm:?size=%zu&maxmsg=%zu%s", ring, size < 64 ? 64 : size,
             m == SHM_NOSPIN ? "&spin=0" : "");
    return buf;
}

/* Makes both ends: a for the parent, b for the child. */
static void make_link(enum mech m, size_t size, struct end *a, struct end *b)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->m = b->m = m;
    a->size = b->size = size;
    a->rfd = a->wfd = b->rfd = b->wfd = -1;
    if (m == PIPE) {
        int p1[2], p2[2];
        if (pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0)
            die("pipe", 0);
        a->wfd = p1[1], b->rfd = p1[0], b->wfd = p2[1], a->rfd = p2[0];
    } else if (m == UNIXS) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair", 0);
        a->rfd = a->wfd = sv[0];
        b->rfd = b->wfd = sv[1];
    } else {
        char uri[128];
        int r = uipc_pair(shm_uri(m, size, uri, sizeof uri), &a->ch, &b->ch);
        if (r < 0)
            die(uri, r);
    }
    for (struct end *e = a; e; e = e == a ? b : NULL) {
        e->src = malloc(size);
        e->dst = malloc(size);
        if (!e->src || !e->dst)
            die("malloc", 0);
        memset(e->src, 0x5a, size);
        memset(e->dst, 0, size);
    }
}

/* Keeps only this process's end. */
static void keep_end(struct end *mine, struct end *other)
{
    if (other->ch)
        uipc_close(other->ch);
    if (other->rfd >= 0)
        close(other->rfd);
    if (other->wfd >= 0 && other->wfd != other->rfd)
        close(other->wfd);
    free(other->src);
    free(other->dst);
    (void)mine;
}

static void drop_end(struct end *e)
{
    keep_end(NULL, e);
}

static void echo_loop(struct end *e)
{
    for (;;) {
        uint64_t seq = xrecv(e);
        if (seq == STOP)
            return;
        xsend(e, seq);
    }
}

static void sink_loop(struct end *e)
{
    for (int phase = 0; phase < 2; phase++) {
        uint64_t count = 0;
        while (xrecv(e) != STOP)
            count++;
        ctl_send(e, count);
    }
}

static void latency_driver(struct end *e, struct result *res)
{
    int64_t *samples = malloc(sizeof(int64_t) * MAX_SAMPLES);
    int n = 0;
    int64_t warm_end = now_ns() + 50 * 1000000LL;
    uint64_t seq = 0;
    while (now_ns() < warm_end) {
        xsend(e, seq);
        xrecv(e);
        seq++;
    }
    int64_t end = now_ns() + (int64_t)opt_ms * 1000000;
    for (; n < MAX_SAMPLES; n++) {
        int64_t t0 = now_ns();
        xsend(e, seq);
        if (xrecv(e) != seq)
            die("ping-pong out of order", 0);
        int64_t t1 = now_ns();
        samples[n] = t1 - t0;
        seq++;
        if (t1 > end)
            break;
    }
    n++;
    xsend(e, STOP);
    qsort(samples, (size_t)n, sizeof *samples, cmp_i64);
    res->p50 = samples[n / 2] / 2.0;
    res->p99 = samples[(int)(n * 0.99)] / 2.0;
    res->p999 = samples[(int)(n * 0.999)] / 2.0;
    res->max = samples[n - 1] / 2.0;
    free(samples);
}

static void throughput_driver(struct end *e, struct result *res)
{
    for (int phase = 0; phase < 2; phase++) {
        int64_t ms = phase ? opt_ms : 50;
        int64_t t0 = now_ns(), end = t0 + ms * 1000000;
        uint64_t seq = 0;
        for (;;) {
            xsend(e, seq++);
            if ((seq & 31) == 0 && now_ns() > end)
                break;
        }
        xsend(e, STOP);
        uint64_t got = ctl_recv(e);
        int64_t t1 = now_ns();
        if (got != seq)
            die("throughput: messages lost", 0);
        res->msgs_s = (double)got / ((double)(t1 - t0) / 1e9);
        res->mb_s = res->msgs_s * (double)e->size / 1e6;
    }
}

static void run(enum mech m, size_t size, bool latency, struct result *res)
{
    struct end a, b;
    bool pinned = m != SHM_SPIN_UNPINNED;
    enum mech real = pinned ? m : SHM_SPIN;
    make_link(real, size, &a, &b);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", 0);
    if (pid == 0) {
        if (pinned)
            pin(1);
        else
            unpin();
        keep_end(&b, &a);
        if (latency)
            echo_loop(&b);
        else
            sink_loop(&b);
        drop_end(&b);
        _exit(0);
    }
    if (pinned)
        pin(0);
    else
        unpin();
    keep_end(&a, &b);
    if (latency)
        latency_driver(&a, res);
    else
        throughput_driver(&a, res);
    int st;
    waitpid(pid, &st, 0);
    drop_end(&a);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("child failed", 0);
}

/* The hardware floor: one cache line bounced between the two processes. */
static double floor_latency(void)
{
    _Atomic uint64_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (line == MAP_FAILED)
        die("mmap", 0);
    atomic_store(line, 0);
    enum { N = 200000 };
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        for (uint64_t v = 1; v < 2 * (uint64_t)N + 2000; v += 2) {
            while (atomic_load_explicit(line, memory_order_acquire) != v)
                __builtin_ia32_pause();
            atomic_store_explicit(line, v + 1, memory_order_release);
        }
        _exit(0);
    }
    pin(0);
    int64_t *samples = malloc(sizeof(int64_t) * N);
    uint64_t v = 1;
    for (int i = 0; i < 1000; i++, v += 2) { /* warm-up */
        atomic_store_explicit(line, v, memory_order_release);
        while (atomic_load_explicit(line, memory_order_acquire) != v + 1)
            __builtin_ia32_pause();
    }
    for (int i = 0; i < N; i++, v += 2) {
        int64_t t0 = now_ns();
        atomic_store_explicit(line, v, memory_order_release);
        while (atomic_load_explicit(line, memory_order_acquire) != v + 1)
            __builtin_ia32_pause();
        samples[i] = now_ns() - t0;
    }
    waitpid(pid, NULL, 0);
    qsort(samples, N, sizeof *samples, cmp_i64);
    double p50 = samples[N / 2] / 2.0;
    free(samples);
    munmap((void *)line, 4096);
    return p50;
}

/* memcpy of size bytes between two private buffers, in MB/s. */
static double memcpy_bw(size_t size)
{
    pin(0);
    unsigned char *a = malloc(size), *b = malloc(size);
    memset(a, 1, size);
    memset(b, 2, size);
    uint64_t bytes = 0;
    int64_t t0 = now_ns(), end = t0 + (int64_t)opt_ms * 1000000, t1;
    do {
        for (int i = 0; i < 64; i++) {
            memcpy(b, a, size);
            __asm__ __volatile__("" ::"r"(b) : "memory");
            bytes += size;
        }
        t1 = now_ns();
    } while (t1 < end);
    free(a);
    free(b);
    return (double)bytes / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* ---- the run ---- */

static const enum mech lat_mechs[] = {PIPE, UNIXS, SHM_SPIN, SHM_NOSPIN, SHM_ZC, SHM_SPIN_UNPINNED};
static const enum mech tput_mechs[] = {PIPE, UNIXS, SHM_SPIN, SHM_NOSPIN, SHM_ZC, SHM_ZC_FILL};
#define NLAT (sizeof lat_mechs / sizeof lat_mechs[0])
#define NTPUT (sizeof tput_mechs / sizeof tput_mechs[0])
#define MAX_ROUNDS 15

struct cell {
    double p50[MAX_ROUNDS], p99[MAX_ROUNDS], p999[MAX_ROUNDS], max[MAX_ROUNDS];
    double msgs[MAX_ROUNDS], mb[MAX_ROUNDS];
};

static void fmt_ns(char *buf, size_t cap, double ns)
{
    if (ns < 10000)
        snprintf(buf, cap, "%.0f ns", ns);
    else if (ns < 10000000)
        snprintf(buf, cap, "%.1f µs", ns / 1e3);
    else
        snprintf(buf, cap, "%.1f ms", ns / 1e6);
}

static void fmt_rate(char *buf, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1f k", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

static const char *size_name(size_t s)
{
    static char buf[32];
    if (s >= (1u << 20) && s % (1u << 20) == 0)
        snprintf(buf, sizeof buf, "%zu MiB", s >> 20);
    else if (s >= 1024 && s % 1024 == 0)
        snprintf(buf, sizeof buf, "%zu KiB", s >> 10);
    else
        snprintf(buf, sizeof buf, "%zu B", s);
    return buf;
}

int main(int argc, char **argv)
{
    size_t sizes[MAX_SIZES] = {64, 1024, 65536, 1048576};
    int nsizes = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            opt_rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
            opt_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            opt_rounds = 1, opt_ms = 100;
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            nsizes = 0;
            for (char *t = strtok(argv[++i], ","); t && nsizes < MAX_SIZES; t = strtok(NULL, ","))
                sizes[nsizes++] = strtoul(t, NULL, 0);
        } else {
            fprintf(stderr, "usage: %s [--rounds N] [--ms T] [--sizes 64,1024,...] [--quick]\n",
                    argv[0]);
            return 2;
        }
    }
    if (opt_rounds < 1 || opt_rounds > MAX_ROUNDS || opt_ms < 10 || nsizes < 1)
        return 2;
    for (int s = 0; s < nsizes; s++)
        if (sizes[s] < 8 || sizes[s] > (64u << 20)) {
            fprintf(stderr, "sizes are 8 B .. 64 MiB\n");
            return 2;
        }

    static struct cell lat[MAX_SIZES][NMECH], tput[MAX_SIZES][NMECH];
    double floor_ns[MAX_ROUNDS], mcpy[MAX_SIZES][MAX_ROUNDS];
    for (int r = 0; r < opt_rounds; r++) {
        fprintf(stderr, "round %d/%d\n", r + 1, opt_rounds);
        floor_ns[r] = floor_latency();
        for (int s = 0; s < nsizes; s++) {
            mcpy[s][r] = memcpy_bw(sizes[s]);
            for (size_t k = 0; k < NLAT; k++) {
                enum mech m = lat_mechs[k];
                struct result res;
                if (m == SHM_SPIN_UNPINNED && sizes[s] != 64)
                    continue;
                run(m, sizes[s], true, &res);
                lat[s][m].p50[r] = res.p50;
                lat[s][m].p99[r] = res.p99;
                lat[s][m].p999[r] = res.p999;
                lat[s][m].max[r] = res.max;
            }
            for (size_t k = 0; k < NTPUT; k++) {
                enum mech m = tput_mechs[k];
                struct result res;
                run(m, sizes[s], false, &res);
                tput[s][m].msgs[r] = res.msgs_s;
                tput[s][m].mb[r] = res.mb_s;
            }
        }
    }

    int R = opt_rounds;
    double floor_med = median(floor_ns, R);
    printf("Median of %d interleaved rounds, %d ms per measurement, CPUs 0 and 1.\n", R, opt_ms);
    printf("One-way latency = ping-pong round trip / 2; samples include one clock_gettime.\n\n");
    printf("Hardware floor (one cache line, spinning): %.0f ns one-way p50\n\n", floor_med);
    double lat_pipe64 = 0, lat_spin64 = 0, lat_nospin64 = 0, tp_unix64 = 0, tp_spin64 = 0;
    double tp_copy1m = 0, tp_zc1m = 0, tp_fill1m = 0, mc1m = 0;
    for (int s = 0; s < nsizes; s++) {
        double mc = median(mcpy[s], R);
        printf("### %s\n\n", size_name(sizes[s]));
        printf("| case | p50 | p99 | p99.9 | max | msgs/s | MB/s |\n");
        printf("|---|---:|---:|---:|---:|---:|---:|\n");
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        fmt_rate(b5, sizeof b5, mc * 1e6 / (double)sizes[s]);
        printf("| memcpy (one process) | | | | | %s | %.0f |\n", b5, mc);
        for (int m = 0; m < NMECH; m++) {
            bool has_lat = false, has_tp = false;
            for (size_t k = 0; k < NLAT; k++)
                has_lat |= lat_mechs[k] == (enum mech)m;
            for (size_t k = 0; k < NTPUT; k++)
                has_tp |= tput_mechs[k] == (enum mech)m;
            if (m == SHM_SPIN_UNPINNED && sizes[s] != 64)
                has_lat = false;
            if (!has_lat && !has_tp)
                continue;
            struct cell *L = &lat[s][m], *T = &tput[s][m];
            double p50 = has_lat ? median(L->p50, R) : 0;
            if (has_lat) {
                fmt_ns(b1, sizeof b1, p50);
                fmt_ns(b2, sizeof b2, median(L->p99, R));
                fmt_ns(b3, sizeof b3, median(L->p999, R));
                fmt_ns(b4, sizeof b4, median(L->max, R));
            } else {
                b1[0] = b2[0] = b3[0] = b4[0] = '\0';
            }
            double msgs = has_tp ? median(T->msgs, R) : 0, mb = has_tp ? median(T->mb, R) : 0;
            if (has_tp)
                fmt_rate(b5, sizeof b5, msgs);
            else
                b5[0] = '\0';
            if (has_tp)
                printf("| %s | %s | %s | %s | %s | %s | %.0f |\n", mech_name[m], b1, b2, b3, b4,
                       b5, mb);
            else
                printf("| %s | %s | %s | %s | %s | | |\n", mech_name[m], b1, b2, b3, b4);
            if (sizes[s] == 64) {
                if (m == PIPE)
                    lat_pipe64 = p50;
                if (m == SHM_SPIN)
                    lat_spin64 = p50, tp_spin64 = msgs;
                if (m == SHM_NOSPIN)
                    lat_nospin64 = p50;
                if (m == UNIXS)
                    tp_unix64 = msgs;
            }
            if (sizes[s] == 1048576) {
                mc1m = mc;
                if (m == SHM_SPIN)
                    tp_copy1m = mb;
                if (m == SHM_ZC)
                    tp_zc1m = mb;
                if (m == SHM_ZC_FILL)
                    tp_fill1m = mb;
            }
        }
        printf("\n");
    }
    printf("### Targets\n\n| target | measured | ratio | goal |\n|---|---|---:|---|\n");
    if (lat_spin64 > 0)
        printf("| 64 B spinning latency vs cache-line floor | %.0f / %.0f ns | %.2fx | <= 2x |\n",
               lat_spin64, floor_med, lat_spin64 / floor_med);
    if (lat_nospin64 > 0 && lat_pipe64 > 0)
        printf("| 64 B spin=0 latency vs raw pipe | %.1f / %.1f µs | %.2fx "
               "| < 0.7x (<= 1.0x honest here) |\n",
               lat_nospin64 / 1e3, lat_pipe64 / 1e3, lat_nospin64 / lat_pipe64);
    if (tp_spin64 > 0 && tp_unix64 > 0)
        printf("| 64 B throughput vs raw unix stream | %.2f / %.2f M msg/s | %.1fx | >= 20x |\n",
               tp_spin64 / 1e6, tp_unix64 / 1e6, tp_spin64 / tp_unix64);
    if (mc1m > 0) {
        printf("| 1 MiB copying calls vs memcpy | %.0f / %.0f MB/s | %.2fx | >= 0.5x |\n",
               tp_copy1m, mc1m, tp_copy1m / mc1m);
        printf("| 1 MiB zero-copy (zc) vs memcpy | %.0f / %.0f MB/s | %.2fx | >= 1x |\n", tp_zc1m,
               mc1m, tp_zc1m / mc1m);
        printf("| 1 MiB zero-copy, payload written (zc+fill) vs memcpy | %.0f / %.0f MB/s "
               "| %.2fx | (one copy) |\n",
               tp_fill1m, mc1m, tp_fill1m / mc1m);
    }
    return 0;
}
