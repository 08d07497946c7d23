/* SPDX-License-Identifier: MIT */
/*
 * job_queue — the web-server pattern on an N-party queue: a dispatcher
 * pushes jobs onto the queue named on the command line, N worker
 * processes take them (each job goes to exactly one worker), and the
 * results come back on the same channel.  It prints the throughput and
 * checks that every job was done exactly once.
 *
 *   job_queue mq:///jobs [workers] [jobs]         jobs carry a priority 1..3
 *   job_queue sysvmq://0x4a0b [workers] [jobs]    jobs carry a type 1..3
 *
 * On mq: a higher priority is taken first; on sysvmq: the workers take the
 * lowest type first (filter -3), so type 1 is the most urgent.  The
 * dispatcher owns the queue (UIPC_CREATE) and removes it at the end; the
 * workers attach.  It never blocks on a full queue while results wait: it
 * sends with a timeout of 0 and, when the queue is full, collects results.
 * It also keeps at most WINDOW jobs outstanding: on sysvmq: both
 * directions share the queue's bytes, and a queue filled with jobs would
 * leave the workers no room for their results (a deadlock).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

#define STOP UINT32_MAX
#define WINDOW 256   /* jobs sent but not yet answered, at most */

struct job {
    uint32_t id;
    uint32_t n;      /* the work: count the Collatz steps of n */
};

struct result {
    uint32_t id;
    uint32_t steps;
    int32_t worker;  /* pid of the worker that did it */
};

static uint32_t collatz_steps(uint64_t n)
{
    uint32_t steps = 0;
    while (n > 1) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        steps++;
    }
    return steps;
}

static uint32_t job_input(uint32_t id)
{
    return 1000u + id * 7u;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A worker: attaches, takes jobs until the stop job, sends each result. */
static int worker(const char *uri, int sysv)
{
    uipc_channel *ch;
    int r = uipc_open(&ch, uri, 0);
    if (r < 0) {
        fprintf(stderr, "worker: open %s: %s\n", uri, uipc_strerror(r));
        return 1;
    }
    for (;;) {
        struct job j;
        uipc_msginfo info = {.type = sysv ? -3 : 0}; /* sysvmq: lowest type first */
        ssize_t n = uipc_recvmsg(ch, &j, sizeof j, &info, UIPC_FOREVER);
        if (n != sizeof j) {
            fprintf(stderr, "worker: recv: %s\n", n < 0 ? uipc_strerror((int)n) : "short job");
            return 1;
        }
        if (j.id == STOP)
            break;
        struct result res = {j.id, collatz_steps(j.n), (int32_t)getpid()};
        n = uipc_send(ch, &res, sizeof res, UIPC_FOREVER);
        if (n != sizeof res) {
            fprintf(stderr, "worker: send: %s\n", uipc_strerror((int)n));
            return 1;
        }
    }
    uipc_close(ch);
    return 0;
}

/* Records one result; 0 if it is right and new. */
static int take_result(const struct result *res, uint32_t njobs, unsigned char *done)
{
    if (res->id >= njobs || res->steps != collatz_steps(job_input(res->id))) {
        fprintf(stderr, "bad result for job %u\n", (unsigned)res->id);
        return -1;
    }
    if (done[res->id]++) {
        fprintf(stderr, "job %u done twice\n", (unsigned)res->id);
        return -1;
    }
    return 0;
}

static int dispatch(uipc_channel *ch, uint32_t njobs, int sysv, unsigned char *done)
{
    uint32_t sent = 0, finished = 0;
    while (finished < njobs) {
        if (sent < njobs && sent - finished < WINDOW) {
            struct job j = {sent, job_input(sent)};
            uipc_msginfo info = {0, 0};
            if (sysv)
                info.type = 1 + sent % 3;
            else
                info.priority = 1 + sent % 3;
            ssize_t n = uipc_sendmsg(ch, &j, sizeof j, &info, 0);
            if (n == sizeof j) {
                sent++;
                continue;
            }
            if (n != -EAGAIN) {
                fprintf(stderr, "dispatcher: send: %s\n", uipc_strerror((int)n));
                return -1;
            }
        }
        /* The queue or the window is full, or everything is sent: collect
         * a result (briefly while there are jobs left to send). */
        bool more = sent < njobs && sent - finished < WINDOW;
        struct result res;
        ssize_t n = uipc_recv(ch, &res, sizeof res, more ? 1 : 10000);
        if (n == -ETIMEDOUT && more)
            continue;
        if (n != sizeof res) {
            fprintf(stderr, "dispatcher: recv: %s\n", n < 0 ? uipc_strerror((int)n) : "short");
            return -1;
        }
        if (take_result(&res, njobs, done) < 0)
            return -1;
        finished++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s mq:///name|sysvmq://0xKEY [workers] [jobs]\n", argv[0]);
        return 2;
    }
    const char *uri = argv[1];
    int nworkers = argc > 2 ? atoi(argv[2]) : 4;
    long njobs_arg = argc > 3 ? atol(argv[3]) : 20000;
    if (nworkers < 1 || nworkers > 256 || njobs_arg < 1 || njobs_arg >= (long)STOP) {
        fprintf(stderr, "workers must be 1..256 and jobs positive\n");
        return 2;
    }
    uint32_t njobs = (uint32_t)njobs_arg;

    uipc_channel *ch;
    int r = uipc_open(&ch, uri, UIPC_CREATE);
    if (r < 0) {
        fprintf(stderr, "open %s: %s\n", uri, uipc_strerror(r));
        return 1;
    }
    const char *scheme = uipc_scheme(ch);
    int sysv = strcmp(scheme, "sysvmq") == 0;
    if (!sysv && strcmp(scheme, "mq") != 0) {
        fprintf(stderr, "%s: job_queue needs an N-party queue (mq: or sysvmq:)\n", uri);
        uipc_close(ch);
        return 2;
    }

    pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
    unsigned char *done = calloc(njobs, 1);
    if (!pids || !done) {
        uipc_close(ch);
        return 1;
    }
    for (int i = 0; i < nworkers; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            uipc_close(ch); /* the dispatcher's handle: releases this copy only */
            _exit(worker(uri, sysv));
        }
    }

    double t0 = now_s();
    int failed = dispatch(ch, njobs, sysv, done) < 0;
    double elapsed = now_s() - t0;

    /* One stop job per worker, after every real job (lowest priority on
     * mq:, the highest of the three types on sysvmq:, and sent last). */
    for (int i = 0; i < nworkers && !failed; i++) {
        struct job stop = {STOP, 0};
        uipc_msginfo info = {.priority = 0, .type = sysv ? 3 : 0};
        if (uipc_sendmsg(ch, &stop, sizeof stop, &info, 10000) != sizeof stop)
            failed = 1;
    }
    for (int i = 0; i < nworkers; i++) {
        if (failed)
            kill(pids[i], SIGTERM);
        int st;
        if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    uint32_t once = 0;
    for (uint32_t i = 0; i < njobs; i++)
        once += done[i] == 1;
    printf("%s: %u jobs, %d workers, %.3f s, %.0f jobs/s; done exactly once: %u/%u%s\n", uri,
           (unsigned)njobs, nworkers, elapsed, njobs / elapsed, (unsigned)once, (unsigned)njobs,
           failed || once != njobs ? " FAILED" : "");
    uipc_close(ch); /* the owner removes the queue */
    free(pids);
    free(done);
    return failed || once != njobs;
}
