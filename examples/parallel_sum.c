/* SPDX-License-Identifier: MIT */
/*
 * parallel_sum — sums 1..N by splitting the range over K worker processes
 * that report their partial sums to the parent over the channel named on
 * the command line, then checks the total against N(N+1)/2.
 *
 *   parallel_sum URI K N
 *   parallel_sum unix:///tmp/sum.sock 10 10000
 *   parallel_sum tcp://127.0.0.1:7000 4 1000000
 *   parallel_sum fifo:///tmp/sum 4 1000
 *   parallel_sum pipe: 4 1000          (uipc_pair transports)
 *
 * Transports with a listener (unix:, tcp:) serve every worker on its own
 * channel; the others are two-party links, so the parent opens one channel
 * per worker, named URI-0, URI-1, ... (or one pair each for pair-only
 * schemes).  Only the URI decides the transport.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uipc/uipc.h>

struct partial {
    int worker;
    uint64_t sum;
};

static uint64_t sum_range(uint64_t from, uint64_t to)
{
    uint64_t s = 0;
    for (uint64_t i = from; i <= to; i++)
        s += i;
    return s;
}

static void die(const char *what, const char *uri, int err)
{
    fprintf(stderr, "parallel_sum: %s %s: %s\n", what, uri, uipc_strerror(err));
    exit(1);
}

/* The worker's half: compute, send one message, wait for the parent's ack. */
static int work(uipc_channel *ch, int id, uint64_t from, uint64_t to)
{
    struct partial p = {id, sum_range(from, to)};
    char ack;
    if (uipc_send(ch, &p, sizeof p, 10000) != sizeof p)
        return 1;
    if (uipc_recv(ch, &ack, 1, 10000) != 1)
        return 1;
    uipc_close(ch);
    return 0;
}

/* Per-worker URI for two-party transports: "fifo:///tmp/sum" -> "fifo:///tmp/sum-3". */
static void worker_uri(char *out, size_t cap, const char *uri, int id)
{
    const char *q = strchr(uri, '?');
    size_t base = q ? (size_t)(q - uri) : strlen(uri);
    snprintf(out, cap, "%.*s-%d%s", (int)base, uri, id, q ? q : "");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: parallel_sum URI WORKERS N\n");
        return 2;
    }
    const char *uri = argv[1];
    int k = atoi(argv[2]);
    uint64_t n = strtoull(argv[3], NULL, 10);
    if (k < 1 || k > 1000 || n < 1) {
        fprintf(stderr, "parallel_sum: need 1..1000 workers and N >= 1\n");
        return 2;
    }

    uipc_listener *l = NULL;
    /* A listener where the transport has one ("unix:" alone names no
     * socket to listen on: it is a pair, so -EINVAL falls through too). */
    int r = uipc_listen(&l, uri, 0);
    bool listening = r == 0;
    if (r < 0 && r != -ENOTSUP && r != -EINVAL)
        die("listen", uri, r);

    uipc_channel **chs = calloc((size_t)k, sizeof *chs);
    pid_t *pids = calloc((size_t)k, sizeof *pids);
    for (int i = 0; i < k; i++) {
        uint64_t from = n * (uint64_t)i / (uint64_t)k + 1, to = n * (uint64_t)(i + 1) / (uint64_t)k;
        char wuri[4096];
        uipc_channel *mine = NULL, *theirs = NULL;
        if (!listening) {
            r = uipc_pair(uri, &mine, &theirs);
            if (r == -ENOTSUP) {
                worker_uri(wuri, sizeof wuri, uri, i);
                r = uipc_open(&mine, wuri, UIPC_CREATE);
            }
            if (r < 0)
                die("open", uri, r);
        }
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork", uri, -errno);
        if (pids[i] == 0) {
            if (listening) {
                r = uipc_open(&theirs, uri, 0);
            } else if (!theirs) {
                uipc_close(mine); /* the parent's handle: released here, not signalled */
                r = uipc_open(&theirs, wuri, 0);
            } else {
                uipc_close(mine);
            }
            if (r < 0)
                die("attach", uri, r);
            _exit(work(theirs, i, from, to));
        }
        if (theirs)
            uipc_close(theirs);
        chs[i] = mine;
    }

    uint64_t total = 0;
    for (int i = 0; i < k; i++) {
        if (listening && (r = uipc_accept(l, &chs[i], 10000)) < 0)
            die("accept", uri, r);
        struct partial p;
        ssize_t got = uipc_recv(chs[i], &p, sizeof p, 10000);
        if (got != sizeof p)
            die("recv", uri, got < 0 ? (int)got : -EBADMSG);
        total += p.sum;
        uipc_send(chs[i], "k", 1, 10000);
    }
    int failed = 0;
    for (int i = 0; i < k; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        uipc_close(chs[i]);
    }
    if (l)
        uipc_listener_close(l);
    free(chs);
    free(pids);

    uint64_t expect = n * (n + 1) / 2;
    printf("sum 1..%" PRIu64 " over %d workers via %s = %" PRIu64 " (%s)\n", n, k, uri, total,
           total == expect && !failed ? "correct" : "WRONG");
    return total == expect && !failed ? 0 : 1;
}
