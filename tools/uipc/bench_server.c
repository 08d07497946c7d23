/* SPDX-License-Identifier: MIT */
/*
 * uipc bench --servers: one server thread, many clients.  Each client (a
 * process of its own) sends a 64-byte request and waits for its echo, over
 * and over; the server, one process with one thread, serves all of them.
 * For libuipc it is a listener whose channels it waits on with one
 * uipc_poll (shm:, unix:, tcp:); beside it, in
 * the same run, ZeroMQ REQ clients against a ROUTER and nng req0 clients
 * against rep0, both over ipc://.  Reported per client count (1, 8, 64):
 * the server's throughput (round trips per second, all clients together)
 * and the mean round trip a client sees.  Nothing is pinned: on a machine
 * with fewer CPUs than clients, clients and server share them, which is
 * what a server of this shape meets in practice.
 *
 * The life of one unit: the orchestrator forks the server, which binds (a
 * port or a name of its own) and writes the URI for clients to a pipe; then
 * forks the clients, which connect, warm up and wait for "go" in a shared
 * page; the orchestrator sets go, sleeps the measured time, sets stop and
 * adds up the clients' counts.  A client closes its channel at the end;
 * the server leaves when every client has.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tool.h"


#define SRV_MSG 64
#define SRV_MAX_CLIENTS 64
#define SRV_TIMEOUT_MS 10000

static const int client_counts[] = {1, 8, 64};
#define NCOUNTS (sizeof client_counts / sizeof client_counts[0])

/* The page the orchestrator shares with every client. */
struct board {
    _Atomic int ready, go, stop;
    _Atomic long count[SRV_MAX_CLIENTS];
    _Atomic int failed;
};

struct srv_case {
    const char *name;
    const char *uri_fmt; /* %d: the server's pid; "" for the peers */
    /* Server: serves nclients until all have left; writes the URI clients
     * open to uri_out (a pipe) once it listens.  Returns an exit status. */
    int (*serve)(const char *uri, int nclients, int uri_out);
    /* Client: connects to uri, then round trips until stop.  An exit status. */
    int (*client)(const char *uri, struct board *b, int index);
    /* The server waits out a timeout after its clients left (the peers):
     * stop it with SIGTERM.  libuipc servers leave by themselves, closing
     * (and removing) their rendezvous. */
    bool kill_server;
    /* The peers: true when the library loads, else false with note set
     * ("not installed (libzmq.so.5)").  NULL for libuipc. */
    bool (*available)(char *note, size_t cap);
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int write_uri(int fd, const char *uri)
{
    size_t n = strlen(uri) + 1;
    return write(fd, uri, n) == (ssize_t)n ? 0 : -1;
}

/* A client: warm up, say ready, wait for go, count round trips until stop. */
#define CLIENT_LOOP(round_trip)                                                    \
    do {                                                                           \
        for (int w = 0; w < 100; w++)                                              \
            if ((round_trip) < 0)                                                  \
                return 2;                                                          \
        atomic_fetch_add(&b->ready, 1);                                            \
        while (!atomic_load(&b->go))                                               \
            sleep_ms(1);                                                           \
        long k = 0;                                                                \
        while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {            \
            if ((round_trip) < 0) {                                                \
                atomic_store(&b->failed, 1);                                       \
                return 3;                                                          \
            }                                                                      \
            k++;                                                                   \
            if ((k & 63) == 0)                                                     \
                atomic_store_explicit(&b->count[index], k, memory_order_relaxed);  \
        }                                                                          \
        atomic_store(&b->count[index], k);                                         \
    } while (0)

/* ---- libuipc: a listener and uipc_poll ---- */

static int uipc_serve(const char *uri, int nclients, int uri_out)
{
    uipc_listener *l;
    if (uipc_listen(&l, uri, 0) < 0 || write_uri(uri_out, uipc_listener_uri(l)) < 0)
        return 1;
    uipc_pollitem items[1 + SRV_MAX_CLIENTS];
    int n = 0, accepted = 0;
    char buf[SRV_MSG];
    items[0] = (uipc_pollitem){.l = l, .events = UIPC_POLLIN};
    while (accepted < nclients || n > 0) {
        int r = uipc_poll(items, 1 + (size_t)n, SRV_TIMEOUT_MS);
        if (r < 0)
            return 4;
        for (int i = n; i >= 1; i--) {
            if (!items[i].revents)
                continue;
            ssize_t got = uipc_recv(items[i].ch, buf, sizeof buf, 0);
            if (got >= 0 && uipc_send(items[i].ch, buf, (size_t)got, SRV_TIMEOUT_MS) == got)
                continue;
            if (got == -EAGAIN)
                continue;
            uipc_close(items[i].ch); /* -EPIPE: the client left */
            items[i] = items[n--];
        }
        if ((items[0].revents & UIPC_POLLIN) && accepted < nclients) {
            uipc_channel *ch;
            if (uipc_accept(l, &ch, 0) == 0) {
                items[++n] = (uipc_pollitem){.ch = ch, .events = UIPC_POLLIN};
                accepted++;
            }
        }
        items[0].events = accepted < nclients ? UIPC_POLLIN : 0;
    }
    uipc_listener_close(l);
    return 0;
}

/* The two-party baseline: a shm: channel (UIPC_CREATE) served the same way,
 * for one client only. */
static int uipc_serve_pair(const char *uri, int nclients, int uri_out)
{
    uipc_channel *ch;
    if (nclients != 1) {
        write_uri(uri_out, "");
        return 0;
    }
    if (uipc_open(&ch, uri, UIPC_CREATE) < 0 || write_uri(uri_out, uipc_uri(ch)) < 0)
        return 1;
    uipc_pollitem it = {.ch = ch, .events = UIPC_POLLIN};
    char buf[SRV_MSG];
    for (;;) {
        if (uipc_poll(&it, 1, SRV_TIMEOUT_MS) < 0)
            break;
        ssize_t got = uipc_recv(ch, buf, sizeof buf, 0);
        if (got == -EAGAIN)
            continue;
        if (got < 0 || uipc_send(ch, buf, (size_t)got, SRV_TIMEOUT_MS) != got)
            break;
    }
    uipc_close(ch);
    return 0;
}

static int uipc_round_trip(uipc_channel *ch, char *buf)
{
    if (uipc_send(ch, buf, SRV_MSG, SRV_TIMEOUT_MS) != SRV_MSG)
        return -1;
    return uipc_recv(ch, buf, SRV_MSG, SRV_TIMEOUT_MS) == SRV_MSG ? 0 : -1;
}

static int uipc_client(const char *uri, struct board *b, int index)
{
    uipc_channel *ch;
    char buf[SRV_MSG] = {0};
    if (uipc_open(&ch, uri, 0) < 0)
        return 1;
    CLIENT_LOOP(uipc_round_trip(ch, buf));
    uipc_close(ch);
    return 0;
}

/* ---- ZeroMQ: REQ clients, a ROUTER server ---- */

static int zmq_serve(const char *uri, int nclients, int uri_out)
{
    const struct bench_zmq *z = bench_zmq(NULL, 0);
    (void)nclients;
    char ep[256];
    snprintf(ep, sizeof ep, "ipc:///tmp/uipc-bench-router-%d.ipc", (int)getpid());
    void *ctx = z->ctx_new(), *s = z->socket(ctx, ZMQ_ROUTER);
    int timeout = SRV_TIMEOUT_MS, linger = 0;
    z->setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    z->setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    (void)uri;
    if (z->bind(s, ep) < 0 || write_uri(uri_out, ep) < 0)
        return 1;
    /* [identity][empty][request] in, the same frames out.  The server
     * stops when nothing came for the timeout (the clients are done). */
    char id[256], empty[8], buf[SRV_MSG];
    for (;;) {
        int idn = z->recv(s, id, sizeof id, 0);
        if (idn < 0)
            break;
        if (z->recv(s, empty, sizeof empty, 0) < 0)
            break;
        int n = z->recv(s, buf, sizeof buf, 0);
        if (n < 0)
            break;
        z->send(s, id, (size_t)idn, ZMQ_SNDMORE);
        z->send(s, "", 0, ZMQ_SNDMORE);
        z->send(s, buf, (size_t)n, 0);
    }
    z->close(s);
    z->ctx_term(ctx);
    unlink(ep + 6);
    return 0;
}

static int zmq_round_trip(void *s, char *buf)
{
    const struct bench_zmq *z = bench_zmq(NULL, 0);
    if (z->send(s, buf, SRV_MSG, 0) != SRV_MSG)
        return -1;
    return z->recv(s, buf, SRV_MSG, 0) == SRV_MSG ? 0 : -1;
}

static int zmq_client(const char *uri, struct board *b, int index)
{
    const struct bench_zmq *z = bench_zmq(NULL, 0);
    void *ctx = z->ctx_new(), *s = z->socket(ctx, ZMQ_REQ);
    int timeout = SRV_TIMEOUT_MS, linger = 0;
    char buf[SRV_MSG] = {0};
    z->setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    z->setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    z->setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (z->connect(s, uri) < 0)
        return 1;
    CLIENT_LOOP(zmq_round_trip(s, buf));
    z->close(s);
    z->ctx_term(ctx);
    return 0;
}

/* ---- nng: req0 clients, a rep0 server ---- */

static int nng_serve(const char *uri, int nclients, int uri_out)
{
    const struct bench_nng *g = bench_nng(NULL, 0);
    (void)uri;
    (void)nclients;
    char ep[256];
    snprintf(ep, sizeof ep, "ipc:///tmp/uipc-bench-rep-%d.ipc", (int)getpid());
    nng_socket s;
    if (g->rep0_open(&s) != 0)
        return 1;
    g->socket_set_ms(s, "recv-timeout", SRV_TIMEOUT_MS);
    if (g->listen(s, ep, NULL, 0) != 0 || write_uri(uri_out, ep) < 0)
        return 1;
    char buf[SRV_MSG];
    for (;;) {
        size_t n = sizeof buf;
        if (g->recv(s, buf, &n, 0) != 0 || g->send(s, buf, n, 0) != 0)
            break; /* nothing for the timeout: the clients are done */
    }
    g->close(s);
    unlink(ep + 6);
    return 0;
}

static int nng_round_trip(nng_socket s, char *buf)
{
    const struct bench_nng *g = bench_nng(NULL, 0);
    size_t n = SRV_MSG;
    if (g->send(s, buf, SRV_MSG, 0) != 0)
        return -1;
    return g->recv(s, buf, &n, 0) == 0 && n == SRV_MSG ? 0 : -1;
}

static int nng_client(const char *uri, struct board *b, int index)
{
    const struct bench_nng *g = bench_nng(NULL, 0);
    nng_socket s;
    char buf[SRV_MSG] = {0};
    if (g->req0_open(&s) != 0)
        return 1;
    g->socket_set_ms(s, "recv-timeout", SRV_TIMEOUT_MS);
    g->socket_set_ms(s, "send-timeout", SRV_TIMEOUT_MS);
    if (g->dial(s, uri, NULL, 0) != 0)
        return 1;
    CLIENT_LOOP(nng_round_trip(s, buf));
    g->close(s);
    return 0;
}

static bool zmq_available(char *note, size_t cap)
{
    return bench_zmq(note, cap) != NULL;
}

static bool nng_available(char *note, size_t cap)
{
    return bench_nng(note, cap) != NULL;
}

static const struct srv_case cases[] = {
    {"uipc shm two-party", "shm://uipc-bsrv-%d", uipc_serve_pair, uipc_client, false, NULL},
    {"uipc shm listener", "shm://uipc-bsrv-l%d?size=64K", uipc_serve, uipc_client, false, NULL},
    {"uipc unix listener", "unix:@uipc-bsrv-%d", uipc_serve, uipc_client, false, NULL},
    {"uipc tcp listener", "tcp://127.0.0.1:0", uipc_serve, uipc_client, false, NULL},
    {"zmq ipc ROUTER", "", zmq_serve, zmq_client, true, zmq_available},
    {"nng ipc rep0", "", nng_serve, nng_client, true, nng_available},
};
#define NCASES (sizeof cases / sizeof cases[0])

struct srv_result {
    bool ok;
    double rps;    /* round trips per second, all clients */
    double rtt_us; /* mean round trip one client sees */
    char note[64];
};

static void run_unit(const struct srv_case *c, int nclients, long ms, struct srv_result *res)
{
    memset(res, 0, sizeof *res);
    if (c->available && !c->available(res->note, sizeof res->note))
        return;
    struct board *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int p[2];
    if (b == MAP_FAILED || pipe(p) < 0) {
        snprintf(res->note, sizeof res->note, "%s", strerror(errno));
        return;
    }
    char uri[256] = "";
    snprintf(uri, sizeof uri, c->uri_fmt, (int)getpid());
    pid_t server = fork();
    if (server == 0) {
        close(p[0]);
        _exit(c->serve(uri, nclients, p[1]));
    }
    close(p[1]);
    char curi[256] = "";
    ssize_t got = 0, n;
    while (got < (ssize_t)sizeof curi - 1 && (n = read(p[0], curi + got, sizeof curi - 1 - (size_t)got)) > 0) {
        got += n;
        if (memchr(curi, '\0', (size_t)got))
            break;
    }
    close(p[0]);
    pid_t clients[SRV_MAX_CLIENTS];
    int started = 0;
    if (got > 0 && curi[0])
        for (; started < nclients; started++)
            if ((clients[started] = fork()) == 0)
                _exit(c->client(curi, b, started));
    /* Everyone connected and warm, or a client gave up. */
    for (int waited = 0; atomic_load(&b->ready) < started && waited < SRV_TIMEOUT_MS; waited++)
        sleep_ms(1);
    bool all_ready = started == nclients && atomic_load(&b->ready) == nclients;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long before = 0;
    for (int i = 0; i < started; i++)
        before += atomic_load(&b->count[i]);
    atomic_store(&b->go, 1);
    if (all_ready)
        sleep_ms(ms);
    atomic_store(&b->stop, 1);
    int bad = 0;
    for (int i = 0; i < started; i++) {
        int st;
        waitpid(clients[i], &st, 0);
        if (!bad && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
            bad = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long total = -before;
    for (int i = 0; i < started; i++)
        total += atomic_load(&b->count[i]);
    if (c->kill_server || !all_ready)
        kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    if (strncmp(curi, "ipc://", 6) == 0)
        unlink(curi + 6); /* the peers' socket file, which SIGTERM left */
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!all_ready || bad || atomic_load(&b->failed) || total <= 0) {
        if (!curi[0])
            snprintf(res->note, sizeof res->note, "not applicable");
        else if (!all_ready)
            snprintf(res->note, sizeof res->note, "clients did not connect");
        else
            snprintf(res->note, sizeof res->note, "a client failed (status %d)", bad);
    } else {
        res->ok = true;
        res->rps = (double)total / secs;
        res->rtt_us = secs * 1e6 * nclients / (double)total;
    }
    munmap(b, sizeof *b);
}

int bench_servers(bool quick, int rounds, bool json)
{
    long ms = quick ? 300 : 1000;
    static struct srv_result all[NCASES][NCOUNTS][64];
    if (rounds < 1)
        rounds = quick ? 1 : 3;
    if (rounds > 64)
        rounds = 64;
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "uipc bench --servers: %zu cases x %zu client counts x %d round(s), %ld ms each\n",
            NCASES, NCOUNTS, rounds, ms);
    for (int r = 0; r < rounds; r++)
        for (size_t c = 0; c < NCASES; c++) {
            fprintf(stderr, "  round %d/%d  %-20s", r + 1, rounds, cases[c].name);
            for (size_t k = 0; k < NCOUNTS; k++) {
                run_unit(&cases[c], client_counts[k], ms, &all[c][k][r]);
                fprintf(stderr, "  %d: %.0f/s", client_counts[k], all[c][k][r].rps);
            }
            fprintf(stderr, "\n");
        }
    if (json)
        printf("{\n  \"version\": \"%s\",\n  \"message_size\": %d,\n  \"rows\": [\n", uipc_version(),
               SRV_MSG);
    else
        printf("One server thread, N clients (processes), %d-byte request/reply, median of %d "
               "round(s)\n%-22s %14s %10s %14s %10s %14s %10s\n",
               SRV_MSG, rounds, "case", "1 client/s", "rtt us", "8 clients/s", "rtt us",
               "64 clients/s", "rtt us");
    for (size_t c = 0; c < NCASES; c++) {
        if (!json)
            printf("%-22s", cases[c].name);
        for (size_t k = 0; k < NCOUNTS; k++) {
            /* The median round by throughput. */
            struct srv_result *v = all[c][k], med = v[0];
            double xs[64];
            int nok = 0;
            for (int r = 0; r < rounds; r++)
                if (v[r].ok)
                    xs[nok++] = v[r].rps;
            for (int i = 1; i < nok; i++)
                for (int j = i; j > 0 && xs[j - 1] > xs[j]; j--) {
                    double t = xs[j];
                    xs[j] = xs[j - 1];
                    xs[j - 1] = t;
                }
            for (int r = 0; r < rounds; r++)
                if (nok && v[r].ok && v[r].rps == xs[nok / 2])
                    med = v[r];
            if (json)
                printf("    {\"name\": \"%s\", \"clients\": %d, \"ok\": %s, \"round_trips_per_s\": %.0f, "
                       "\"rtt_us\": %.2f, \"note\": \"%s\"}%s\n",
                       cases[c].name, client_counts[k], med.ok ? "true" : "false", med.ok ? med.rps : 0,
                       med.ok ? med.rtt_us : 0, med.note,
                       c + 1 == NCASES && k + 1 == NCOUNTS ? "" : ",");
            else if (med.ok)
                printf(" %14.0f %10.1f", med.rps, med.rtt_us);
            else
                printf(" %14s %10s", "n/a", "");
        }
        if (!json)
            printf("\n");
    }
    if (json)
        printf("  ]\n}\n");
    return 0;
}
