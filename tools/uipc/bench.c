/* SPDX-License-Identifier: MIT */
/*
 * uipc bench: one-way latency and throughput of every transport built into
 * libuipc, next to the raw kernel mechanisms they wrap and the libraries
 * people would otherwise use, measured as docs/PERFORMANCE.md describes:
 *  - two processes, pinned to different CPUs when there are two;
 *  - latency from ping-pong, one sample per round trip (clock_gettime on
 *    both ends of the trip, ~25 ns included), halved: p50/p99/p99.9/max;
 *  - throughput: the driver streams N messages and the echo acknowledges
 *    the last; N is sized from a warm-up so a measurement lasts ~0.3 s;
 *  - rounds interleaved across every case and size, fresh processes for
 *    each, and the median of the rounds reported.
 * The orchestrating process never touches a channel itself: each unit runs
 * in a forked driver (its own process group, killed if it overruns) so
 * that libraries with threads (ZeroMQ, nng) never meet fork.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

#include "bench.h"
#include "tool.h"

struct params {
    double target_s;   /* length of one timed measurement */
    double warm_s;     /* warm-up before it */
    int timeout_ms;    /* longest wait of one operation */
    long min_iters;
    int rounds;
    int cpu[2];        /* -1: not pinned */
};

enum ctl_op { CTL_GO = 1, CTL_READY, CTL_LAT, CTL_THR, CTL_QUIT };

struct ctl {
    int op;
    int err;
    long count;
};

double bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static int ctl_write(int fd, int op, int err, long count)
{
    struct ctl c = {op, err, count};
    return write(fd, &c, sizeof c) == (ssize_t)sizeof c ? 0 : -EPIPE;
}

static int ctl_read(int fd, struct ctl *c)
{
    ssize_t n;
    do
        n = read(fd, c, sizeof *c);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *c ? 0 : -EPIPE;
}

/* ---- the echo process ---- */

static void echo_main(struct bench_link *l, int in, int out)
{
    const struct bench_case *bc = l->bc;
    struct ctl c;
    int r;
    if (!bc->echo_first && (ctl_read(in, &c) < 0 || c.op != CTL_GO))
        _exit(1);
    r = bc->open(l);
    ctl_write(out, CTL_READY, r, 0);
    if (r < 0)
        _exit(1);
    char *buf = malloc(l->size ? l->size : 1);
    if (!buf)
        _exit(1);
    memset(buf, 0x5a, l->size);
    while (ctl_read(in, &c) == 0 && c.op != CTL_QUIT) {
        if (c.op == CTL_LAT) {
            for (long i = 0; i < c.count; i++)
                if (bc->recv(l, buf, l->size) < 0 || bc->send(l, buf, l->size) < 0)
                    _exit(1);
        } else if (c.op == CTL_THR) {
            char ack = 'A';
            for (long i = 0; i < c.count; i++)
                if (bc->recv(l, buf, l->size) < 0) {
                    if (!bc->lossy)
                        _exit(1);
                    ack = 'L';
                    break;
                }
            if (bc->send(l, &ack, 1) < 0)
                _exit(1);
        }
    }
    bc->close(l);
    free(buf);
    _exit(0);
}

/* ---- the driver process ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs count ping-pongs; fills samples (one-way ns) when given. */
static int pingpong(struct bench_link *l, int ctl_out, long count, char *buf, double *samples)
{
    const struct bench_case *bc = l->bc;
    if (ctl_write(ctl_out, CTL_LAT, 0, count) < 0)
        return -EPIPE;
    for (long i = 0; i < count; i++) {
        double t0 = bench_now_ns();
        int r = bc->send(l, buf, l->size);
        if (r == 0)
            r = bc->recv(l, buf, l->size);
        if (r < 0)
            return r;
        if (samples)
            samples[i] = (bench_now_ns() - t0) / 2;
    }
    return 0;
}

/* Streams count messages and waits for the acknowledgement; ns elapsed. */
static double stream(struct bench_link *l, int ctl_out, long count, char *buf, int *err)
{
    const struct bench_case *bc = l->bc;
    char ack = 0;
    if (ctl_write(ctl_out, CTL_THR, 0, count) < 0) {
        *err = -EPIPE;
        return 0;
    }
    double t0 = bench_now_ns();
    for (long i = 0; i < count && *err == 0; i++)
        *err = bc->send(l, buf, l->size);
    if (*err == 0)
        *err = bc->recv(l, &ack, 1);
    double dt = bench_now_ns() - t0;
    if (*err == 0 && ack != 'A')
        *err = -ENOBUFS; /* the echo lost messages */
    return dt;
}

static long clampl(double v, long lo, long hi)
{
    return v < (double)lo ? lo : v > (double)hi ? hi : (long)v;
}

static void measure(struct bench_link *l, int ctl_out, const struct params *p,
                    struct bench_result *res)
{
    char *buf = malloc(l->size ? l->size : 1);
    double *samples = NULL;
    int r = -ENOMEM;
    if (!buf)
        goto fail;
    memset(buf, 0xa5, l->size);

    /* Latency: warm up in small batches, then size the timed run. */
    long batch = 8, done = 0;
    double t0 = bench_now_ns(), per = 0;
    do {
        double b0 = bench_now_ns();
        if ((r = pingpong(l, ctl_out, batch, buf, NULL)) < 0)
            goto fail;
        per = (bench_now_ns() - b0) / (double)batch;
        done += batch;
    } while (bench_now_ns() - t0 < p->warm_s * 1e9);
    long iters = clampl(p->target_s * 1e9 / (per > 1 ? per : 1), p->min_iters, 1000000);
    samples = malloc((size_t)iters * sizeof *samples);
    if (!samples) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = pingpong(l, ctl_out, iters, buf, samples)) < 0)
        goto fail;
    qsort(samples, (size_t)iters, sizeof *samples, cmp_double);
    res->p50 = samples[iters / 2];
    res->p99 = samples[(long)((double)iters * 0.99)];
    res->p999 = samples[(long)((double)iters * 0.999)];
    res->max = samples[iters - 1];
    res->iters = iters;
    res->lat_ok = true;
    if (l->bc->lat_only)
        goto done;

    /* Throughput: the same, with the stream capped at 1 GiB per run. */
    batch = 16;
    t0 = bench_now_ns();
    double rate = 0;
    do {
        double dt = stream(l, ctl_out, batch, buf, &r);
        if (r < 0)
            goto fail;
        rate = (double)batch / (dt / 1e9);
    } while (bench_now_ns() - t0 < p->warm_s * 1e9);
    long cap = clampl((double)(1L << 30) / (double)(l->size ? l->size : 1), 16, 20000000);
    long count = clampl(p->target_s * rate, 16, cap);
    double dt = stream(l, ctl_out, count, buf, &r);
    if (r < 0)
        goto fail;
    res->msgs = (double)count / (dt / 1e9);
    res->mbps = res->msgs * (double)l->size / 1e6;
    res->count = count;
    res->thr_ok = true;
done:
    free(samples);
    free(buf);
    return;
fail:
    if (!res->note[0])
        snprintf(res->note, sizeof res->note, "%s%s", res->lat_ok ? "throughput: " : "",
                 r == -ENOBUFS ? "messages lost" : uipc_strerror(r));
    free(samples);
    free(buf);
}

static void drive(const struct bench_case *bc, size_t size, const struct params *p,
                  const char *tmpdir, unsigned seq, struct bench_result *res)
{
    struct bench_link l;
    memset(&l, 0, sizeof l);
    l.bc = bc;
    l.size = size;
    l.timeout_ms = p->timeout_ms;
    l.seq = seq;
    for (int i = 0; i < 4; i++)
        l.fd[i] = -1;
    snprintf(l.tmpdir, sizeof l.tmpdir, "%s", tmpdir);
    snprintf(l.name, sizeof l.name, "uipc-bench-%d-%u", (int)getppid(), seq);
    if (bc->local) {
        double ns = bc->local(size, p->target_s);
        res->msgs = 1e9 / ns;
        res->mbps = res->msgs * (double)size / 1e6;
        res->thr_ok = ns > 0;
        return;
    }
    int r = bc->prepare ? bc->prepare(&l) : 0;
    if (r < 0) {
        snprintf(res->note, sizeof res->note, "%s", l.note[0] ? l.note : uipc_strerror(r));
        return;
    }
    int to_echo[2], from_echo[2];
    if (pipe(to_echo) < 0 || pipe(from_echo) < 0) {
        snprintf(res->note, sizeof res->note, "pipe: %s", uipc_strerror(-errno));
        return;
    }
    pid_t echo = fork();
    if (echo == 0) {
        pin(bc->unpinned ? -1 : p->cpu[1]);
        close(to_echo[1]);
        close(from_echo[0]);
        l.side = 1;
        echo_main(&l, to_echo[0], from_echo[1]);
    }
    close(to_echo[0]);
    close(from_echo[1]);
    struct ctl c = {0};
    if (echo < 0) {
        r = -errno;
        goto out;
    }
    if (!bc->echo_first) {
        r = bc->open(&l);
        ctl_write(to_echo[1], r < 0 ? CTL_QUIT : CTL_GO, r, 0);
        if (r < 0)
            goto out;
        if (ctl_read(from_echo[0], &c) < 0 || c.err < 0) {
            r = c.err < 0 ? c.err : -EPIPE;
            snprintf(l.note, sizeof l.note, "peer side: %s", uipc_strerror(r));
            bc->close(&l);
            goto out;
        }
    } else {
        if (ctl_read(from_echo[0], &c) < 0 || c.err < 0) {
            r = c.err < 0 ? c.err : -EPIPE;
            snprintf(l.note, sizeof l.note, "peer side: %s", uipc_strerror(r));
            goto out;
        }
        if ((r = bc->open(&l)) < 0)
            goto out;
    }
    measure(&l, to_echo[1], p, res);
    ctl_write(to_echo[1], CTL_QUIT, 0, 0);
    if (!res->thr_ok) /* the echo may be stuck in a receive */
        kill(echo, SIGKILL);
    bc->close(&l);
out:
    if (r < 0 && !res->note[0])
        snprintf(res->note, sizeof res->note, "%s", l.note[0] ? l.note : uipc_strerror(r));
    close(to_echo[1]);
    close(from_echo[0]);
    if (echo > 0) {
        /* The echo exits on QUIT or on end of file; wait for it a while. */
        for (int i = 0; i < 500 && waitpid(echo, NULL, WNOHANG) == 0; i++)
            usleep(10000);
        if (kill(echo, 0) == 0) {
            kill(echo, SIGKILL);
            waitpid(echo, NULL, 0);
        }
    }
}

/*
 * The process group of the unit running now, so that an interrupted bench
 * (Ctrl-C) takes its driver and echo down with it: they live in their own
 * group, which the terminal's signal does not reach.
 */
static volatile sig_atomic_t running_unit;
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    if (running_unit > 0)
        kill(-(pid_t)running_unit, SIGKILL);
    interrupted = sig;
}

/* Removes what a unit may have left in its private directory. */
static void clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static void run_unit(const struct bench_case *bc, size_t size, const struct params *p,
                     const char *tmpdir, unsigned seq, struct bench_result *res)
{
    memset(res, 0, sizeof *res);
    int rp[2];
    if (pipe(rp) < 0) {
        snprintf(res->note, sizeof res->note, "pipe: %s", uipc_strerror(-errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        close(rp[0]);
        pin(bc->unpinned ? -1 : p->cpu[0]);
        struct bench_result out;
        memset(&out, 0, sizeof out);
        drive(bc, size, p, tmpdir, seq, &out);
        ssize_t w = write(rp[1], &out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 1);
    }
    close(rp[1]);
    if (pid < 0) {
        snprintf(res->note, sizeof res->note, "fork: %s", uipc_strerror(-errno));
        close(rp[0]);
        return;
    }
    setpgid(pid, pid);
    running_unit = pid;
    /* A unit gets generous time; one that overruns is killed with its echo. */
    int limit_ms = (int)(3 * p->timeout_ms + 40 * (p->target_s + p->warm_s) * 1000);
    struct pollfd pfd = {rp[0], POLLIN, 0};
    int n;
    do
        n = poll(&pfd, 1, limit_ms);
    while (n < 0 && errno == EINTR && !interrupted);
    if (n <= 0 || read(rp[0], res, sizeof *res) != (ssize_t)sizeof *res) {
        memset(res, 0, sizeof *res);
        snprintf(res->note, sizeof res->note, n <= 0 ? "did not finish in time" : "crashed");
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    close(rp[0]);
    waitpid(pid, NULL, 0);
    running_unit = 0;
    clean_dir(tmpdir);
}

/* ---- results ---- */

static double median3(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians over rounds of each figure, over the rounds where it was measured. */
static void combine(const struct bench_result *per_round, int rounds, struct bench_result *out)
{
    double v[6][64];
    int nl = 0, nt = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < rounds; i++) {
        const struct bench_result *r = &per_round[i];
        if (r->lat_ok) {
            v[0][nl] = r->p50, v[1][nl] = r->p99, v[2][nl] = r->p999, v[3][nl] = r->max;
            nl++;
        }
        if (r->thr_ok) {
            v[4][nt] = r->msgs, v[5][nt] = r->mbps;
            nt++;
        }
        if (r->note[0] && !out->note[0])
            memcpy(out->note, r->note, sizeof out->note);
        out->iters += r->iters;
        out->count += r->count;
    }
    if (nl) {
        out->lat_ok = true;
        out->p50 = median3(v[0], nl);
        out->p99 = median3(v[1], nl);
        out->p999 = median3(v[2], nl);
        out->max = median3(v[3], nl);
    }
    if (nt) {
        out->thr_ok = true;
        out->msgs = median3(v[4], nt);
        out->mbps = median3(v[5], nt);
    }
}

static int by_latency(const void *a, const void *b)
{
    const struct bench_row *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    if (x->r.lat_ok != y->r.lat_ok)
        return x->r.lat_ok ? -1 : 1;
    if (!x->r.lat_ok)
        return (y->r.msgs > x->r.msgs) - (y->r.msgs < x->r.msgs);
    return cmp_double(&x->r.p50, &y->r.p50);
}

static void ratios(struct bench_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double best = 0;
        const struct bench_row *raw = NULL;
        for (size_t k = 0; k < n; k++) {
            if (rows[k].size != rows[i].size)
                continue;
            if (rows[k].r.lat_ok && (best == 0 || rows[k].r.p50 < best))
                best = rows[k].r.p50;
            if (rows[i].bc->raw && strcmp(rows[k].bc->name, rows[i].bc->raw) == 0)
                raw = &rows[k];
        }
        if (rows[i].r.lat_ok && best > 0)
            rows[i].ratio_best = rows[i].r.p50 / best;
        if (raw && raw->r.lat_ok && rows[i].r.lat_ok)
            rows[i].ratio_raw_lat = rows[i].r.p50 / raw->r.p50;
        if (raw && raw->r.thr_ok && rows[i].r.thr_ok)
            rows[i].ratio_raw_thr = rows[i].r.msgs / raw->r.msgs;
    }
}

static void fmt_size(size_t size, char *out, size_t cap)
{
    if (size >= (1u << 20) && size % (1u << 20) == 0)
        snprintf(out, cap, "%zu MiB", size >> 20);
    else if (size >= 1024 && size % 1024 == 0)
        snprintf(out, cap, "%zu KiB", size >> 10);
    else
        snprintf(out, cap, "%zu B", size);
}

static void fmt_ns(double ns, bool ok, char *out, size_t cap)
{
    if (!ok)
        snprintf(out, cap, "-");
    else if (ns < 10000)
        snprintf(out, cap, "%.2f", ns / 1000);
    else if (ns < 1e6)
        snprintf(out, cap, "%.1f", ns / 1000);
    else
        snprintf(out, cap, "%.0f", ns / 1000);
}

static void fmt_rate(double v, bool ok, char *out, size_t cap)
{
    if (!ok)
        snprintf(out, cap, "-");
    else if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else
        snprintf(out, cap, "%.0f", v);
}

static void fmt_ratio(double v, char *out, size_t cap)
{
    if (v <= 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2fx", v);
}

static void print_table(const struct bench_row *rows, size_t n)
{
    size_t last = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *w = &rows[i];
        if (w->size != last) {
            char sz[32];
            fmt_size(w->size, sz, sizeof sz);
            printf("%s%s messages: one-way latency in us, throughput; ratios: p50 / fastest "
                   "p50, p50 and msg/s / raw counterpart\n",
                   last == (size_t)-1 ? "" : "\n", sz);
            printf("%-16s %8s %8s %8s %8s %9s %9s %8s %8s %8s  %s\n", "transport", "p50", "p99",
                   "p99.9", "max", "msg/s", "MB/s", "x best", "lat/raw", "thr/raw", "note");
            last = w->size;
        }
        char a[16], b[16], c[16], d[16], e[16], f[16], g[16], h[16], k[16];
        bool ok = w->r.lat_ok, tok = w->r.thr_ok;
        fmt_ns(w->r.p50, ok, a, sizeof a);
        fmt_ns(w->r.p99, ok, b, sizeof b);
        fmt_ns(w->r.p999, ok, c, sizeof c);
        fmt_ns(w->r.max, ok, d, sizeof d);
        fmt_rate(w->r.msgs, tok, e, sizeof e);
        if (tok)
            snprintf(f, sizeof f, "%.1f", w->r.mbps);
        else
            snprintf(f, sizeof f, "-");
        fmt_ratio(w->ratio_best, g, sizeof g);
        fmt_ratio(w->ratio_raw_lat, h, sizeof h);
        fmt_ratio(w->ratio_raw_thr, k, sizeof k);
        const char *note = w->r.note;
        if (!note[0] && w->bc->local)
            note = "one process: copy bandwidth";
        printf("%-16s %8s %8s %8s %8s %9s %9s %8s %8s %8s  %s\n", w->bc->name, a, b, c, d, e, f,
               g, h, k, note);
    }
}

/*
 * The goals libuipc holds itself to (docs/PERFORMANCE.md), each a ratio of
 * two rows of this run.  A target is printed when both rows were measured;
 * add a line here to track a new one.
 */
enum metric { M_P50, M_MSGS, M_MBPS };

static const struct target {
    const char *row, *base; /* row names */
    size_t size;
    enum metric metric;
    double goal;  /* 0: shown for information */
    bool at_most; /* the ratio must stay at or below goal (latency) */
} targets[] = {
    {"uipc shm", "ring floor", 64, M_MSGS, 0.9, false},
    {"uipc shm", "ring floor", 1024, M_MSGS, 0.9, false},
    {"uipc shm", "memcpy", 1 << 20, M_MBPS, 0.8, false},
    {"uipc shm zc", "memcpy", 1 << 20, M_MBPS, 1.0, false},
    {"uipc shm zc+fill", "memcpy", 1 << 20, M_MBPS, 0, false},
    {"uipc shm", "cache line", 64, M_P50, 1.5, true},
    {"ring floor", "cache line", 64, M_P50, 0, true},
    {"uipc shm spin=0", "raw pipe", 64, M_P50, 1.0, true},
    {"uipc pipe", "raw pipe", 64, M_MSGS, 0.9, false},
    {"uipc pipe", "raw pipe", 64, M_P50, 1.1, true},
    {"uipc fifo", "raw pipe", 64, M_MSGS, 0.9, false},
    {"uipc fifo", "raw pipe", 64, M_P50, 1.1, true},
    {"uipc pipe", "raw pipe", 1024, M_MSGS, 0, false},
    {"uipc sysvmq", "raw sysvmq", 64, M_P50, 1.1, true},
};

static const struct bench_row *find_row(const struct bench_row *rows, size_t n, const char *name,
                                        size_t size)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].size == size && strcmp(rows[i].bc->name, name) == 0)
            return &rows[i];
    return NULL;
}

/* The metric of a row, or 0 when it was not measured. */
static double metric_of(const struct bench_row *w, enum metric m)
{
    if (!w)
        return 0;
    if (m == M_P50)
        return w->r.lat_ok ? w->r.p50 : 0;
    if (!w->r.thr_ok)
        return 0;
    return m == M_MSGS ? w->r.msgs : w->r.mbps;
}

static void print_targets(const struct bench_row *rows, size_t n, bool json)
{
    static const char *const unit[] = {"p50 ns", "msg/s", "MB/s"};
    bool any = false;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        const struct target *t = &targets[i];
        double a = metric_of(find_row(rows, n, t->row, t->size), t->metric);
        double b = metric_of(find_row(rows, n, t->base, t->size), t->metric);
        if (a <= 0 || b <= 0)
            continue;
        double ratio = a / b;
        const char *verdict = t->goal <= 0                   ? "info"
                              : (t->at_most ? ratio <= t->goal : ratio >= t->goal) ? "met"
                                                                                   : "MISSED";
        if (json) {
            printf("%s\n    {\"row\": \"%s\", \"base\": \"%s\", \"size\": %zu, \"metric\": \"%s\", "
                   "\"value\": %.6g, \"base_value\": %.6g, \"ratio\": %.4g, \"goal\": %g, "
                   "\"at_most\": %s, \"verdict\": \"%s\"}",
                   any ? "," : "", t->row, t->base, t->size, unit[t->metric], a, b, ratio, t->goal,
                   t->at_most ? "true" : "false", verdict);
        } else {
            if (!any)
                printf("\ntargets: each a ratio of two rows of this run\n%-18s %-12s %7s %-7s "
                       "%12s %12s %8s %7s  %s\n",
                       "row", "baseline", "size", "of", "value", "baseline", "ratio", "goal",
                       "verdict");
            char sz[32], goal[16];
            fmt_size(t->size, sz, sizeof sz);
            if (t->goal > 0)
                snprintf(goal, sizeof goal, "%s%.2f", t->at_most ? "<=" : ">=", t->goal);
            else
                snprintf(goal, sizeof goal, "-");
            printf("%-18s %-12s %7s %-7s %12.4g %12.4g %7.2fx %7s  %s\n", t->row, t->base, sz,
                   unit[t->metric], a, b, ratio, goal, verdict);
        }
        any = true;
    }
    if (json && any)
        printf("\n  ");
}

static const char *group_name(enum bench_group g)
{
    return g == GROUP_UIPC ? "uipc" : g == GROUP_RAW ? "raw" : "peer";
}

static void json_str(FILE *out, const char *s)
{
    putc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", (unsigned char)*s);
        else
            putc(*s, out);
    }
    putc('"', out);
}

static void json_num(FILE *out, double v, bool ok)
{
    if (ok && isfinite(v))
        fprintf(out, "%.6g", v);
    else
        fputs("null", out);
}

static void print_json(const struct bench_row *rows, size_t n, const struct params *p,
                       const size_t *sizes, size_t nsizes, bool quick)
{
    printf("{\n  \"tool\": \"uipc bench\",\n  \"version\": ");
    json_str(stdout, uipc_version());
    printf(",\n  \"cpus\": [%d, %d],\n  \"rounds\": %d,\n  \"quick\": %s,\n"
           "  \"seconds_per_measurement\": %g,\n  \"sizes\": [",
           p->cpu[0], p->cpu[1], p->rounds, quick ? "true" : "false", p->target_s);
    for (size_t i = 0; i < nsizes; i++)
        printf("%s%zu", i ? ", " : "", sizes[i]);
    printf("],\n  \"rows\": [");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *w = &rows[i];
        printf("%s\n    {\"name\": ", i ? "," : "");
        json_str(stdout, w->bc->name);
        printf(", \"group\": \"%s\", \"uri\": ", group_name(w->bc->group));
        json_str(stdout, w->bc->uri_fmt);
        printf(", \"size\": %zu,\n     \"latency_ns\": {\"p50\": ", w->size);
        json_num(stdout, w->r.p50, w->r.lat_ok);
        printf(", \"p99\": ");
        json_num(stdout, w->r.p99, w->r.lat_ok);
        printf(", \"p999\": ");
        json_num(stdout, w->r.p999, w->r.lat_ok);
        printf(", \"max\": ");
        json_num(stdout, w->r.max, w->r.lat_ok);
        printf("},\n     \"msgs_per_s\": ");
        json_num(stdout, w->r.msgs, w->r.thr_ok);
        printf(", \"mb_per_s\": ");
        json_num(stdout, w->r.mbps, w->r.thr_ok);
        printf(", \"ratio_best\": ");
        json_num(stdout, w->ratio_best, w->ratio_best > 0);
        printf(", \"raw\": ");
        if (w->bc->raw)
            json_str(stdout, w->bc->raw);
        else
            fputs("null", stdout);
        printf(", \"ratio_raw_latency\": ");
        json_num(stdout, w->ratio_raw_lat, w->ratio_raw_lat > 0);
        printf(", \"ratio_raw_throughput\": ");
        json_num(stdout, w->ratio_raw_thr, w->ratio_raw_thr > 0);
        printf(", \"note\": ");
        json_str(stdout, w->r.note);
        printf("}");
    }
    printf("\n  ],\n  \"targets\": [");
    print_targets(rows, n, true);
    printf("]\n}\n");
}

static void csv_num(double v, bool ok)
{
    if (ok && isfinite(v))
        printf(",%.6g", v);
    else
        printf(",");
}

static void print_csv(const struct bench_row *rows, size_t n)
{
    printf("name,group,uri,size,p50_ns,p99_ns,p999_ns,max_ns,msgs_per_s,mb_per_s,ratio_best,"
           "raw,ratio_raw_latency,ratio_raw_throughput,note\n");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *w = &rows[i];
        printf("%s,%s,%s,%zu", w->bc->name, group_name(w->bc->group), w->bc->uri_fmt, w->size);
        csv_num(w->r.p50, w->r.lat_ok);
        csv_num(w->r.p99, w->r.lat_ok);
        csv_num(w->r.p999, w->r.lat_ok);
        csv_num(w->r.max, w->r.lat_ok);
        csv_num(w->r.msgs, w->r.thr_ok);
        csv_num(w->r.mbps, w->r.thr_ok);
        csv_num(w->ratio_best, w->ratio_best > 0);
        printf(",%s", w->bc->raw ? w->bc->raw : "");
        csv_num(w->ratio_raw_lat, w->ratio_raw_lat > 0);
        csv_num(w->ratio_raw_thr, w->ratio_raw_thr > 0);
        printf(",\"%s\"\n", w->r.note);
    }
}

/* ---- the command ---- */

/* Keeps the cases whose row name is one of the comma-separated names. */
static void keep_only(struct bench_case *cases, size_t *n, const char *list)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        size_t len = strlen(cases[i].name);
        for (const char *s = list; *s;) {
            size_t tok = strcspn(s, ",");
            if (tok == len && strncmp(s, cases[i].name, len) == 0) {
                if (kept != i)
                    cases[kept] = cases[i];
                kept++;
                break;
            }
            s += tok + (s[tok] == ',');
        }
    }
    *n = kept;
}

static void usage_bench(FILE *out)
{
    fprintf(out,
            "usage: uipc bench [--sizes LIST] [--quick] [--rounds N] [--json|--csv] [--svg FILE]\n"
            "                  [--no-peers] [URI...]\n"
            "       uipc bench --servers [--quick] [--rounds N] [--json]\n"
            "Measures one-way latency (p50/p99/p99.9/max, ping-pong) and throughput\n"
            "(messages/s, MB/s) between two processes pinned to different CPUs, for every\n"
            "transport built in (or the URIs given), next to the raw mechanisms and\n"
            "ZeroMQ and nng (loaded when installed).  Progress goes to standard error.\n"
            "  -s, --sizes LIST  message sizes, default 64,1K,64K,1M (K, M suffixes)\n"
            "  -q, --quick       short measurements, one round (under a minute)\n"
            "  -r, --rounds N    interleaved rounds, median reported (default 3)\n"
            "      --json        print JSON instead of the table\n"
            "      --csv         print CSV instead of the table\n"
            "      --svg FILE    also draw the results as a bar chart in FILE\n"
            "      --no-peers    skip ZeroMQ and nng\n"
            "      --pubsub      publish/subscribe instead: 1, 4, 8 subscribers, 64 B and\n"
            "                    64 KiB, shm:, unix:, tcp: beside ZeroMQ and nng PUB/SUB\n"
            "      --only LIST   only the rows named in LIST (\"uipc shm,ring floor\")\n"
            "A URI for a pair-capable scheme with nothing after the colon (\"unix:\") is\n"
            "measured with uipc_pair; any other URI is created by one process and\n"
            "opened by the other.\n"
            "With --servers: one server thread against 1, 8 and 64 client processes,\n"
            "64-byte request/reply; libuipc listeners served with uipc_poll, next to\n"
            "ZeroMQ ROUTER/REQ and nng rep0/req0 over ipc://.\n");
}

static int parse_sizes(const char *list, size_t *sizes, size_t *n)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (*n == BENCH_MAX_SIZES || !parse_size(tok, &v) || v < 1 || v > (256u << 20))
            return -1;
        sizes[(*n)++] = (size_t)v;
    }
    return *n ? 0 : -1;
}

static void choose_cpus(int cpu[2])
{
    cpu_set_t set;
    cpu[0] = cpu[1] = -1;
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        return;
    int k = 0;
    for (int i = 0; i < CPU_SETSIZE && k < 2; i++)
        if (CPU_ISSET(i, &set))
            cpu[k++] = i;
    if (k < 2)
        cpu[0] = cpu[1] = -1; /* one CPU: pinning would only serialise */
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sizes", required_argument, NULL, 's'}, {"quick", no_argument, NULL, 'q'},
        {"rounds", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'J'},
        {"csv", no_argument, NULL, 'C'},          {"svg", required_argument, NULL, 'S'},
        {"no-peers", no_argument, NULL, 'P'},     {"tiny", no_argument, NULL, 'T'},
        {"pubsub", no_argument, NULL, 'U'},
        {"only", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},         {"servers", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct params p = {.target_s = 0.3, .warm_s = 0.05, .min_iters = 200, .rounds = 3,
                       .timeout_ms = 10000};
    size_t sizes[BENCH_MAX_SIZES] = {64, 1024, 65536, 1 << 20}, nsizes = 4;
    bool quick = false, json = false, csv = false, peers = true, sizes_given = false;
    bool pubsub = false;
    bool servers = false;
    bool tiny = getenv("UIPC_BENCH_TINY") && *getenv("UIPC_BENCH_TINY");
    const char *svg = NULL, *only = NULL;
    int rounds = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:qr:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_sizes(optarg, sizes, &nsizes) < 0)
                return fail_usage("bench", "--sizes: '%s' is not a list of sizes (1..256M, at "
                                           "most %d)", optarg, BENCH_MAX_SIZES);
            sizes_given = true;
            break;
        case 'q': quick = true; break;
        case 'r':
            rounds = atoi(optarg);
            if (rounds < 1 || rounds > 64)
                return fail_usage("bench", "--rounds: '%s' is not 1..64", optarg);
            break;
        case 'J': json = true; break;
        case 'C': csv = true; break;
        case 'S': svg = optarg; break;
        case 'P': peers = false; break;
        case 'T': tiny = true; break;
        case 'U': pubsub = true; break;
        case 'V': servers = true; break;
        case 'O': only = optarg; break;
        case 'h': usage_bench(stdout); return 0;
        default:
            if (optopt)
                return fail_usage("bench", "unknown or incomplete option '-%c'", optopt);
            return fail_usage("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (json && csv)
        return fail_usage("bench", "--json and --csv exclude each other");
    if (pubsub) /* its own table: one publisher, N subscribers (bench_pubsub.c) */
        return json || csv || svg || optind < argc
                   ? fail_usage("bench", "--pubsub prints its own table: no --json, --csv, "
                                         "--svg or URI")
                   : bench_pubsub(quick, tiny, peers);
    if (servers && (csv || svg || optind < argc))
        return fail_usage("bench", "--servers takes only --quick, --rounds and --json");
    if (servers)
        return bench_servers(quick || tiny, rounds, json);
    if (quick) {
        p.target_s = 0.08, p.warm_s = 0.02, p.min_iters = 100, p.rounds = 1;
        p.timeout_ms = 2000;
    }
    if (tiny) { /* for the test suite: the structure, not the speed */
        p.target_s = 0.004, p.warm_s = 0.001, p.min_iters = 20, p.rounds = 1;
        p.timeout_ms = 1000;
        if (!sizes_given)
            sizes[0] = 64, nsizes = 1;
    }
    if (rounds)
        p.rounds = rounds;

    static struct bench_case cases[BENCH_MAX_CASES];
    size_t ncases = 0;
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            int r = bench_add_uipc_uri(cases, &ncases, argv[i]);
            if (r < 0)
                return fail_uri("bench", argv[i], r);
        }
        peers = false;
    } else {
        bench_add_uipc_defaults(cases, &ncases);
        bench_add_uipc_shm_variants(cases, &ncases);
    }
    bench_add_raw(cases, &ncases);
    if (peers)
        bench_add_peers(cases, &ncases);

    if (only)
        keep_only(cases, &ncases, only);
    if (ncases == 0)
        return fail_usage("bench", "--only: '%s' names no case", only);
    choose_cpus(p.cpu);
    char tmpdir[256];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/uipc-bench-%d", (int)getpid());
    if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "uipc bench: %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);

    size_t nunits = ncases * nsizes;
    struct bench_result *all = calloc(nunits * (size_t)p.rounds, sizeof *all);
    struct bench_row *rows = calloc(nunits, sizeof *rows);
    if (!all || !rows) {
        fprintf(stderr, "uipc bench: out of memory\n");
        return 1;
    }
    fprintf(stderr, "uipc bench: %zu cases x %zu sizes x %d round(s), %.2f s per measurement, "
                    "CPUs %d/%d\n", ncases, nsizes, p.rounds, p.target_s, p.cpu[0], p.cpu[1]);
    unsigned seq = 0;
    for (int round = 0; round < p.rounds; round++) {
        for (size_t ci = 0; ci < ncases; ci++) {
            fprintf(stderr, "  round %d/%d  %-16s", round + 1, p.rounds, cases[ci].name);
            for (size_t si = 0; si < nsizes; si++) {
                if (interrupted) { /* leave nothing behind, then die of the signal */
                    rmdir(tmpdir);
                    signal(interrupted, SIG_DFL);
                    raise(interrupted);
                }
                size_t unit = ci * nsizes + si;
                struct bench_result *res = &all[unit * (size_t)p.rounds + (size_t)round];
                run_unit(&cases[ci], sizes[si], &p, tmpdir, seq++, res);
                char sz[32], lat[16];
                fmt_size(sizes[si], sz, sizeof sz);
                fmt_ns(res->p50, res->lat_ok, lat, sizeof lat);
                fprintf(stderr, "  %s: %s%s", sz, res->lat_ok ? lat : (res->thr_ok ? "ok" : "n/a"),
                        res->lat_ok ? " us" : "");
            }
            fprintf(stderr, "\n");
        }
    }
    rmdir(tmpdir);

    for (size_t ci = 0; ci < ncases; ci++)
        for (size_t si = 0; si < nsizes; si++) {
            struct bench_row *w = &rows[ci * nsizes + si];
            w->bc = &cases[ci];
            w->size = sizes[si];
            combine(&all[(ci * nsizes + si) * (size_t)p.rounds], p.rounds, &w->r);
        }
    ratios(rows, nunits);
    qsort(rows, nunits, sizeof *rows, by_latency);

    if (json)
        print_json(rows, nunits, &p, sizes, nsizes, quick || tiny);
    else if (csv)
        print_csv(rows, nunits);
    else {
        print_table(rows, nunits);
        print_targets(rows, nunits, false);
    }
    int status = 0;
    if (svg) {
        char sub[160];
        snprintf(sub, sizeof sub, "uipc %s, %d round(s), median; CPUs %d/%d", uipc_version(),
                 p.rounds, p.cpu[0], p.cpu[1]);
        int r = bench_write_svg(svg, rows, nunits, sizes, nsizes, sub);
        if (r < 0) {
            fprintf(stderr, "uipc bench: %s: %s\n", svg, strerror(-r));
            status = 1;
        }
    }
    free(all);
    free(rows);
    return status;
}

struct bench_case *bench_case_add(struct bench_case *list, size_t *n, enum bench_group group,
                                  const char *name, const char *what,
                                  int (*prepare)(struct bench_link *),
                                  int (*open)(struct bench_link *),
                                  int (*send)(struct bench_link *, const void *, size_t),
                                  int (*recv)(struct bench_link *, void *, size_t),
                                  void (*close_fn)(struct bench_link *))
{
    if (*n >= BENCH_MAX_CASES)
        return NULL;
    struct bench_case *bc = &list[(*n)++];
    memset(bc, 0, sizeof *bc);
    snprintf(bc->name, sizeof bc->name, "%s", name);
    snprintf(bc->uri_fmt, sizeof bc->uri_fmt, "%s", what ? what : "");
    bc->group = group;
    bc->prepare = prepare;
    bc->open = open;
    bc->send = send;
    bc->recv = recv;
    bc->close = close_fn;
    return bc;
}
