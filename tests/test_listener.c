/* SPDX-License-Identifier: MIT */
/*
 * Listeners: 8 clients at once on unix: and tcp:, each served on its own
 * channel; allow_uid refusing a client that runs under another uid; port 0
 * and the URIs that uipc_listener_uri and uipc_uri hand to clients.
 */
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define NCLIENTS 8
#define NMSG 200

static char uri[256];

/* A client: sends NMSG numbered requests, expects each echoed with its id. */
static int client(void *arg)
{
    int id = (int)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 10;
    for (int i = 0; i < NMSG; i++) {
        int req[2] = {id, i}, rep[2];
        if (uipc_send(ch, req, sizeof req, 10000) != sizeof req)
            return 11;
        if (uipc_recv(ch, rep, sizeof rep, 10000) != sizeof rep || rep[0] != id || rep[1] != i)
            return 12;
    }
    uipc_close(ch);
    return 0;
}

static void serve_many(const char *u)
{
    int fds = tu_count_fds();
    uipc_listener *l;
    snprintf(uri, sizeof uri, "%s", u);
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    pid_t pids[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        pids[i] = tu_fork(client, (void *)(intptr_t)i);

    uipc_channel *chs[NCLIENTS];
    struct pollfd p[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(uipc_accept(l, &chs[i], 10000), 0);
        p[i] = (struct pollfd){.fd = uipc_pollfd(chs[i]), .events = POLLIN};
        assert_true(p[i].fd >= 0);
    }
    /* Serve all clients from one loop: each channel is its own peer. */
    int done = 0, seen[NCLIENTS] = {0};
    while (done < NCLIENTS) {
        assert_true(poll(p, NCLIENTS, 10000) > 0);
        for (int i = 0; i < NCLIENTS; i++) {
            if (!p[i].revents || seen[i] < 0)
                continue;
            int req[2];
            ssize_t n = uipc_recv(chs[i], req, sizeof req, 0);
            if (n == -EAGAIN)
                continue;
            if (n == -EPIPE) {
                assert_int_equal(seen[i], NMSG);
                seen[i] = -1;
                done++;
                p[i].fd = -1;
                continue;
            }
            assert_int_equal(n, sizeof req);
            assert_int_equal(req[1], seen[i]); /* in order, per client */
            seen[i]++;
            assert_int_equal(uipc_send(chs[i], req, sizeof req, 10000), sizeof req);
        }
    }
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(tu_wait(pids[i]), 0);
        uipc_close(chs[i]);
    }
    assert_int_equal(uipc_listener_close(l), 0);
    assert_int_equal(tu_count_fds(), fds);
}

static void unix_eight_clients(void **state)
{
    (void)state;
    char u[128], name[64];
    tu_name(name, sizeof name, "uipc-lst-");
    snprintf(u, sizeof u, "unix:///tmp/%s.sock", name);
    serve_many(u);
    assert_int_equal(access(u + 7, F_OK), -1); /* the listener removed its socket file */
    snprintf(u, sizeof u, "unix:@%s?type=seqpacket", name);
    serve_many(u);
}

static void tcp_eight_clients(void **state)
{
    (void)state;
    char u[128];
    snprintf(u, sizeof u, "tcp://127.0.0.1:%d", tu_free_port(1 /* SOCK_STREAM */));
    serve_many(u);
}

/* ---- the listener conformance: 12 clients, one server thread ---- */

/*
 * Every listener transport alike (unix: stream and seqpacket, tcp:, and
 * shm: once it has a listener): 12 client processes do checksummed
 * request/reply round trips of mixed sizes; client 0 is SIGKILLed in the
 * middle of its stream, client 1 leaves early; one server thread serves
 * them all, once with poll(2) over the pollfds (recv with timeout 0 may
 * then say -EAGAIN: a spurious wake-up) and once with uipc_poll (exact: it
 * never may).  Afterwards nothing of the rendezvous is left and no
 * descriptor leaked.
 */
#define CONF_CLIENTS 12
#define CONF_ROUNDS 2000
#define CONF_EARLY 40       /* round trips of the client that leaves early */
#define CONF_KILL_AFTER 150 /* requests from client 0 before it is killed */
#define CONF_MAXLEN 60000

struct conf_hdr {
    uint32_t client, seq, len;
};

static const size_t conf_sizes[] = {0, 1, 15, 64, 200, 1000, 4093, 16384, CONF_MAXLEN};

static size_t conf_len(uint32_t client, uint32_t seq, size_t max)
{
    size_t len = conf_sizes[(client * 7 + seq * 13) % (sizeof conf_sizes / sizeof conf_sizes[0])];
    return len + sizeof(struct conf_hdr) > max ? max - sizeof(struct conf_hdr) : len;
}

static int conf_client(void *arg)
{
    uint32_t id = (uint32_t)(intptr_t)arg;
    static unsigned char msg[sizeof(struct conf_hdr) + CONF_MAXLEN], rep[sizeof msg];
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 40;
    size_t max = uipc_max_msg(ch);
    uint32_t rounds = id == 0 ? UINT32_MAX : id == 1 ? CONF_EARLY : CONF_ROUNDS;
    for (uint32_t seq = 0; seq < rounds; seq++) {
        struct conf_hdr h = {id, seq, (uint32_t)conf_len(id, seq, max)};
        memcpy(msg, &h, sizeof h);
        tu_fill(msg + sizeof h, h.len, (uint64_t)id << 32 | seq);
        size_t n = sizeof h + h.len;
        if (uipc_send(ch, msg, n, 20000) != (ssize_t)n)
            return 41;
        if (uipc_recv(ch, rep, sizeof rep, 20000) != (ssize_t)n || memcmp(msg, rep, n) != 0)
            return 42;
    }
    uipc_close(ch);
    return 0;
}

struct conf_peer {
    uipc_channel *ch;
    int client;     /* -1 until its first request */
    uint32_t next;  /* the sequence number expected next */
    bool gone;
};

/* Serves one request from p (there is one, or the end): 1 served, 0 gone. */
static int conf_serve_one(struct conf_peer *p, bool exact, pid_t *pids, unsigned char *buf,
                          size_t cap)
{
    ssize_t n = uipc_recv(p->ch, buf, cap, 0);
    if (n == -EAGAIN) {
        if (exact)
            fail_msg("uipc_poll said UIPC_POLLIN, the receive said -EAGAIN");
        return 1;
    }
    if (n == -EPIPE) {
        p->gone = true;
        return 0;
    }
    assert_true(n >= (ssize_t)sizeof(struct conf_hdr));
    struct conf_hdr h;
    memcpy(&h, buf, sizeof h);
    if (p->client < 0)
        p->client = (int)h.client;
    assert_int_equal(h.client, (uint32_t)p->client); /* one client per channel */
    assert_int_equal(h.seq, p->next);                /* in order, none lost */
    assert_int_equal((size_t)n, sizeof h + h.len);
    assert_int_equal(tu_check(buf + sizeof h, h.len, (uint64_t)h.client << 32 | h.seq), 0);
    p->next++;
    if (h.client == 0 && p->next == CONF_KILL_AFTER)
        kill(pids[0], SIGKILL); /* mid-stream: its request is answered or not */
    ssize_t w = uipc_send(p->ch, buf, (size_t)n, 20000);
    if (w == -EPIPE && h.client == 0)
        return 1; /* it died before the reply: the hang-up comes next */
    assert_int_equal(w, n);
    return 1;
}

static void listener_conformance(const char *listen_uri, bool exact)
{
    int fds = tu_count_fds();
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, listen_uri, 0), 0);
    snprintf(uri, sizeof uri, "%s", uipc_listener_uri(l));
    pid_t pids[CONF_CLIENTS];
    for (int i = 0; i < CONF_CLIENTS; i++)
        pids[i] = tu_fork(conf_client, (void *)(intptr_t)i);
    static unsigned char buf[sizeof(struct conf_hdr) + CONF_MAXLEN];
    struct conf_peer peer[CONF_CLIENTS];
    int npeers = 0, gone = 0;
    while (gone < CONF_CLIENTS) {
        /* The listener and every live channel, in one wait. */
        uipc_pollitem it[1 + CONF_CLIENTS];
        struct pollfd pf[1 + CONF_CLIENTS];
        it[0] = (uipc_pollitem){.l = l, .events = npeers < CONF_CLIENTS ? UIPC_POLLIN : 0};
        pf[0] = (struct pollfd){.fd = npeers < CONF_CLIENTS ? uipc_listener_pollfd(l) : -1,
                                .events = POLLIN};
        for (int i = 0; i < npeers; i++) {
            it[1 + i] = (uipc_pollitem){.ch = peer[i].ch, .events = peer[i].gone ? 0 : UIPC_POLLIN};
            pf[1 + i] = (struct pollfd){.fd = peer[i].gone ? -1 : uipc_pollfd(peer[i].ch),
                                        .events = POLLIN};
        }
        int r = exact ? uipc_poll(it, 1 + (size_t)npeers, 20000) : poll(pf, 1 + (nfds_t)npeers, 20000);
        if (r <= 0)
            fail_msg("%s: the wait ended with %d, %d of %d clients gone", listen_uri, r, gone,
                     CONF_CLIENTS);
        for (int i = 0; i < npeers; i++) {
            bool ready = exact ? (it[1 + i].revents & UIPC_POLLIN) : pf[1 + i].revents != 0;
            if (ready && !peer[i].gone && conf_serve_one(&peer[i], exact, pids, buf, sizeof buf) == 0)
                gone++;
        }
        if (exact ? it[0].revents : pf[0].revents) {
            uipc_channel *ch;
            int a = uipc_accept(l, &ch, 0);
            if (a == -EAGAIN && !exact)
                continue;
            assert_int_equal(a, 0);
            peer[npeers++] = (struct conf_peer){.ch = ch, .client = -1};
        }
    }
    for (int i = 0; i < CONF_CLIENTS; i++) {
        int st = tu_wait(pids[i]);
        if (st != (i == 0 ? 128 + SIGKILL : 0))
            fail_msg("%s: client %d exited %d", listen_uri, i, st);
    }
    for (int i = 0; i < npeers; i++) {
        int c = peer[i].client;
        uint32_t want = c == 0 ? peer[i].next : c == 1 ? CONF_EARLY : CONF_ROUNDS;
        assert_true(c >= 0 && c < CONF_CLIENTS);
        assert_int_equal(peer[i].next, want);
        if (c == 0)
            assert_true(peer[i].next >= CONF_KILL_AFTER);
        uipc_close(peer[i].ch);
    }
    assert_int_equal(uipc_listener_close(l), 0);
    assert_int_equal(tu_count_fds(), fds);
}

static void conformance_unix(void **state)
{
    (void)state;
    char name[64], u[128];
    tu_name(name, sizeof name, "uipc-lconf-");
    snprintf(u, sizeof u, "unix:///tmp/%s.sock", name);
    listener_conformance(u, false);
    listener_conformance(u, true);
    assert_int_equal(access(u + 7, F_OK), -1); /* nothing of the rendezvous left */
}

static void conformance_unix_seqpacket(void **state)
{
    (void)state;
    char name[64], u[128];
    tu_name(name, sizeof name, "uipc-lconf-");
    snprintf(u, sizeof u, "unix:@%s?type=seqpacket&maxmsg=%d", name, CONF_MAXLEN + 64);
    listener_conformance(u, false);
    listener_conformance(u, true);
}

static void conformance_shm(void **state)
{
    (void)state;
    char name[64], u[128], path[128];
    tu_name(name, sizeof name, "uipc-lconf-");
    snprintf(u, sizeof u, "shm://%s", name);
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    listener_conformance(u, false);
    assert_int_equal(access(path, F_OK), -1); /* nothing of the service left */
    listener_conformance(u, true);
    assert_int_equal(access(path, F_OK), -1);
}

static void conformance_tcp(void **state)
{
    (void)state;
    listener_conformance("tcp://127.0.0.1:0", false);
    listener_conformance("tcp://127.0.0.1:0", true);
}

/* ---- shm: listener specifics ---- */

static int shm_entries(const char *prefix)
{
    DIR *d = opendir("/dev/shm");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

/* A client that sends one message, waits for its echo, and then stays
 * until the server is gone: it drains, then reads -EPIPE. */
static int drain_client(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    char b[16];
    if (uipc_open(&ch, uri, 0) < 0)
        return 50;
    if (uipc_send(ch, "one", 3, 10000) != 3 || uipc_recv(ch, b, sizeof b, 10000) != 3)
        return 51;
    /* The server sent two more and was SIGKILLed: both, then the end. */
    if (uipc_recv(ch, b, sizeof b, 10000) != 3 || uipc_recv(ch, b, sizeof b, 10000) != 3)
        return 52;
    ssize_t n = uipc_recv(ch, b, sizeof b, 10000);
    uipc_close(ch);
    return n == -EPIPE ? 0 : 53;
}

static int dying_server(void *arg)
{
    (void)arg;
    uipc_listener *l;
    uipc_channel *ch[3];
    char b[16];
    if (uipc_listen(&l, uri, 0) < 0)
        return 1;
    if (write(3, "L", 1) != 1) /* listening: the parent starts the clients */
        return 2;
    for (int i = 0; i < 3; i++) {
        if (uipc_accept(l, &ch[i], 10000) < 0 || uipc_recv(ch[i], b, sizeof b, 10000) != 3 ||
            uipc_send(ch[i], b, 3, 1000) != 3)
            return 3;
        uipc_send(ch[i], "two", 3, 1000);
        uipc_send(ch[i], "thr", 3, 1000);
    }
    raise(SIGKILL);
    return 4;
}

/* The server SIGKILLed: its clients drain and read -EPIPE; the name is
 * taken over at once by the next listener; nothing is left behind. */
static void shm_server_killed(void **state)
{
    (void)state;
    char name[64], path[128];
    tu_name(name, sizeof name, "uipc-lkill-");
    snprintf(uri, sizeof uri, "shm://%s", name);
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t srv = fork();
    if (srv == 0) {
        dup2(p[1], 3);
        _exit(dying_server(NULL));
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    pid_t cl[3];
    for (int i = 0; i < 3; i++)
        cl[i] = tu_fork(drain_client, NULL);
    assert_int_equal(tu_wait(srv), 128 + SIGKILL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tu_wait(cl[i]), 0);
    /* The dead server's socket file is stale: taken over at once. */
    uipc_listener *l, *l2;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    assert_int_equal(uipc_listen(&l2, uri, 0), -EADDRINUSE); /* a live one is not */
    assert_int_equal(uipc_listener_close(l), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(shm_entries(name), 0);
}

/* While clients are connected, /dev/shm holds the service socket and
 * nothing else; peer credentials on both sides. */
static int hold_client(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    char b[8];
    pid_t pid;
    uid_t uid;
    if (uipc_open(&ch, uri, 0) < 0)
        return 60;
    if (uipc_peer_cred(ch, &pid, &uid, NULL) != 0 || pid != getppid() || uid != geteuid())
        return 61; /* the server, as the kernel saw it */
    if (uipc_send(ch, "h", 1, 10000) != 1 || uipc_recv(ch, b, sizeof b, 10000) != 1)
        return 62;
    uipc_close(ch);
    return 0;
}

static void shm_nothing_named_per_client(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    char name[64];
    tu_name(name, sizeof name, "uipc-lname-");
    snprintf(uri, sizeof uri, "shm://%s?size=64K", name);
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    enum { N = 6 };
    pid_t pids[N];
    uipc_channel *ch[N];
    for (int i = 0; i < N; i++)
        pids[i] = tu_fork(hold_client, NULL);
    for (int i = 0; i < N; i++) {
        char b[8];
        pid_t pid;
        uid_t uid;
        assert_int_equal(uipc_accept(l, &ch[i], 10000), 0);
        assert_int_equal(uipc_peer_cred(ch[i], &pid, &uid, NULL), 0);
        bool known = false;
        for (int k = 0; k < N; k++)
            known |= pid == pids[k];
        assert_true(known);
        assert_int_equal(uid, geteuid());
        assert_int_equal(uipc_recv(ch[i], b, sizeof b, 10000), 1);
        assert_int_equal(shm_entries(name), 1); /* the service socket only */
        assert_int_equal(uipc_send(ch[i], b, 1, 10000), 1);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(tu_wait(pids[i]), 0);
        uipc_close(ch[i]);
    }
    uipc_listener_close(l);
    assert_int_equal(shm_entries(name), 0);
    assert_int_equal(tu_count_fds(), fds);
}

/* ?allow_uid= and ?mode= as on unix:, against a client running as nobody. */
static int nobody_shm_client(void *arg)
{
    int want = (int)(intptr_t)arg;
    struct passwd *pw = getpwnam("nobody");
    if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return 70;
    uipc_channel *ch;
    int r = uipc_open(&ch, uri, 0);
    if (r < 0)
        return r == want ? 0 : 71;
    char b[8];
    ssize_t n = uipc_send(ch, "x", 1, 2000);
    if (n == 1)
        n = uipc_recv(ch, b, sizeof b, 5000);
    uipc_close(ch);
    return (n == -EPIPE || n == -EACCES) ? 0 : 72;
}

static void shm_listener_refuses(void **state)
{
    (void)state;
    if (geteuid() != 0 || !getpwnam("nobody"))
        skip();
    char name[64];
    uipc_listener *l;
    uipc_channel *ch;
    tu_name(name, sizeof name, "uipc-lrefuse-");
    /* Permission bits: nobody cannot even connect (0600, owned by root). */
    snprintf(uri, sizeof uri, "shm://%s?mode=0600", name);
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    pid_t p = tu_fork(nobody_shm_client, (void *)(intptr_t)-EACCES);
    assert_int_equal(tu_wait(p), 0);
    assert_int_equal(uipc_accept(l, &ch, 200), -ETIMEDOUT);
    uipc_listener_close(l);
    /* allow_uid: nobody connects (0666) but is never handed out. */
    snprintf(uri, sizeof uri, "shm://%s?mode=0666&allow_uid=%u", name, (unsigned)geteuid());
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    p = tu_fork(nobody_shm_client, (void *)(intptr_t)-EACCES);
    assert_int_equal(uipc_accept(l, &ch, 1000), -ETIMEDOUT);
    assert_int_equal(tu_wait(p), 0);
    pid_t ok = tu_fork(hold_client, NULL);
    assert_int_equal(uipc_accept(l, &ch, 10000), 0);
    char b[8];
    assert_int_equal(uipc_recv(ch, b, sizeof b, 10000), 1);
    assert_int_equal(uipc_send(ch, b, 1, 10000), 1);
    assert_int_equal(tu_wait(ok), 0);
    uipc_close(ch);
    uipc_listener_close(l);
    /* A two-party shm: ring has nobody to refuse by uid. */
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EINVAL);
}

/* Crash injection: clients SIGKILLed at random points of uipc_open, 200
 * times, while a steady client is served; nothing leaks, no stall. */
static int open_and_linger(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) == 0)
        pause(); /* killed here, or earlier */
    return 0;
}

static void shm_handshake_crashes(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    char name[64];
    tu_name(name, sizeof name, "uipc-lcrash-");
    snprintf(uri, sizeof uri, "shm://%s?size=16K", name);
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    unsigned seed = (unsigned)getpid();
    int accepted = 0;
    for (int round = 0; round < 200; round++) {
        pid_t p = tu_fork(open_and_linger, NULL);
        usleep((useconds_t)(rand_r(&seed) % 400)); /* before, during or after the handshake */
        kill(p, SIGKILL);
        assert_int_equal(tu_wait(p), 128 + SIGKILL);
        /* Whatever it got to: the server never stalls, and a channel it
         * hands out is one whose peer is gone. */
        uipc_channel *ch;
        int r;
        while ((r = uipc_accept(l, &ch, 0)) == 0) {
            accepted++;
            char b[8];
            assert_int_equal(uipc_recv(ch, b, sizeof b, 5000), -EPIPE);
            uipc_close(ch);
        }
        assert_int_equal(r, -EAGAIN);
    }
    /* Still serving. */
    pid_t ok = tu_fork(hold_client, NULL);
    uipc_channel *ch;
    char b[8];
    assert_int_equal(uipc_accept(l, &ch, 10000), 0);
    assert_int_equal(uipc_recv(ch, b, sizeof b, 10000), 1);
    assert_int_equal(uipc_send(ch, b, 1, 10000), 1);
    assert_int_equal(tu_wait(ok), 0);
    uipc_close(ch);
    assert_int_equal(shm_entries(name), 1);
    uipc_listener_close(l);
    assert_int_equal(shm_entries(name), 0);
    assert_int_equal(tu_count_fds(), fds);
    print_message("      %d of 200 killed clients had finished the handshake\n", accepted);
}

/* 256 clients at once, each with its own rings, one server thread; while
 * they idle, the server's uipc_poll sleeps (its CPU time is printed). */
#define MANY 256

static int many_client(void *arg)
{
    uint32_t id = (uint32_t)(intptr_t)arg, got;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 80;
    if (uipc_send(ch, &id, sizeof id, 30000) != sizeof id ||
        uipc_recv(ch, &got, sizeof got, 30000) != sizeof got || got != id + 1)
        return 81;
    char bye[4];
    if (uipc_recv(ch, bye, sizeof bye, 60000) != 3) /* stay until all are served */
        return 82;
    uipc_close(ch);
    return 0;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void shm_many_clients(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t old = rl.rlim_cur;
    if (rl.rlim_cur < 4 * MANY + 64) { /* a socket, a lock and a poll set each */
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int fds = tu_count_fds();
    char name[64];
    tu_name(name, sizeof name, "uipc-lmany-");
    snprintf(uri, sizeof uri, "shm://%s?size=4K", name);
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    static pid_t pids[MANY];
    static uipc_pollitem it[1 + MANY];
    for (int i = 0; i < MANY; i++)
        pids[i] = tu_fork(many_client, (void *)(intptr_t)i);
    int n = 0, served = 0;
    it[0] = (uipc_pollitem){.l = l, .events = UIPC_POLLIN};
    while (served < MANY) {
        int r = uipc_poll(it, 1 + (size_t)n, 30000);
        if (r <= 0)
            fail_msg("uipc_poll %d with %d clients, %d served", r, n, served);
        for (int i = 1; i <= n; i++) {
            uint32_t id;
            if (!it[i].revents)
                continue;
            assert_int_equal(uipc_recv(it[i].ch, &id, sizeof id, 0), sizeof id);
            id++;
            assert_int_equal(uipc_send(it[i].ch, &id, sizeof id, 10000), sizeof id);
            served++;
        }
        uipc_channel *ch;
        if ((it[0].revents & UIPC_POLLIN) && uipc_accept(l, &ch, 0) == 0)
            it[++n] = (uipc_pollitem){.ch = ch, .events = UIPC_POLLIN};
    }
    assert_int_equal(n, MANY);
    /* All connected, all idle: the wait sleeps. */
    double c0 = cpu_s();
    int64_t t0 = tu_now_ms();
    assert_int_equal(uipc_poll(it + 1, MANY, 300), -ETIMEDOUT);
    print_message("      idle wait over %d shm: channels: %.1f ms CPU in %lld ms\n", MANY,
                  (cpu_s() - c0) * 1e3, (long long)(tu_now_ms() - t0));
    for (int i = 1; i <= n; i++)
        assert_int_equal(uipc_send(it[i].ch, "bye", 3, 10000), 3);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(tu_wait(pids[i]), 0);
    for (int i = 1; i <= n; i++)
        uipc_close(it[i].ch);
    uipc_listener_close(l);
    assert_int_equal(shm_entries(name), 0);
    assert_int_equal(tu_count_fds(), fds);
    rl.rlim_cur = old;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- port 0 and URIs ---- */

/* One echoed request from a fresh client of uri (a string in the parent). */
static int echo_client(void *arg)
{
    uipc_channel *ch;
    char buf[16];
    if (uipc_open(&ch, (const char *)arg, 0) < 0)
        return 30;
    if (uipc_send(ch, "ping", 4, 10000) != 4 || uipc_recv(ch, buf, sizeof buf, 10000) != 4)
        return 31;
    uipc_close(ch);
    return memcmp(buf, "ping", 4) == 0 ? 0 : 32;
}

/* A client reaches the listener through uipc_listener_uri; the accepted
 * channel reports the same URI. */
static void serve_one_by_uri(uipc_listener *l)
{
    const char *lu = uipc_listener_uri(l);
    assert_non_null(lu);
    pid_t pid = tu_fork(echo_client, (void *)lu);
    uipc_channel *ch;
    char buf[16];
    assert_int_equal(uipc_accept(l, &ch, 10000), 0);
    assert_string_equal(uipc_uri(ch), lu);
    assert_int_equal(uipc_recv(ch, buf, sizeof buf, 10000), 4);
    assert_int_equal(uipc_send(ch, buf, 4, 10000), 4);
    assert_int_equal(tu_wait(pid), 0);
    uipc_close(ch);
}

static unsigned uri_port(const char *u)
{
    const char *c = strrchr(u, ':');
    return c ? (unsigned)strtoul(c + 1, NULL, 10) : 0;
}

static void tcp_port_zero_listener(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, "tcp://127.0.0.1:0?maxmsg=4K", 0), 0);
    const char *lu = uipc_listener_uri(l);
    assert_non_null(lu);
    assert_int_equal(strncmp(lu, "tcp://127.0.0.1:", 16), 0);
    assert_true(uri_port(lu) > 0);
    assert_non_null(strstr(lu, "?maxmsg=4K")); /* the client needs the same keys */
    serve_one_by_uri(l);
    /* A second listener on port 0 gets another port: nothing collides. */
    uipc_listener *l2;
    assert_int_equal(uipc_listen(&l2, "tcp://127.0.0.1:0", 0), 0);
    assert_int_not_equal(uri_port(uipc_listener_uri(l2)), uri_port(lu));
    assert_int_equal(uipc_listener_close(l2), 0);
    assert_int_equal(uipc_listener_close(l), 0);

    /* IPv6 loopback, where the machine has it: the address in brackets. */
    if (uipc_listen(&l, "tcp://[::1]:0", 0) == 0) {
        assert_int_equal(strncmp(uipc_listener_uri(l), "tcp://[::1]:", 12), 0);
        serve_one_by_uri(l);
        uipc_listener_close(l);
    }
    assert_int_equal(tu_count_fds(), fds);
}

static void unix_listener_uri_is_the_name(void **state)
{
    (void)state;
    char name[64], u[128];
    uipc_listener *l;
    tu_name(name, sizeof name, "uipc-uri-");
    snprintf(u, sizeof u, "unix:@%s?type=seqpacket", name);
    assert_int_equal(uipc_listen(&l, u, 0), 0);
    assert_string_equal(uipc_listener_uri(l), u);
    serve_one_by_uri(l);
    uipc_listener_close(l);
    snprintf(u, sizeof u, "unix:///tmp/%s.sock", name);
    assert_int_equal(uipc_listen(&l, u, 0), 0);
    assert_string_equal(uipc_listener_uri(l), u);
    serve_one_by_uri(l);
    uipc_listener_close(l);
}

/* uipc_open(UIPC_CREATE) on port 0: a one-peer listener that says its port. */
static void tcp_port_zero_channel(void **state)
{
    (void)state;
    uipc_channel *srv, *ch;
    char buf[16];
    assert_int_equal(uipc_open(&srv, "tcp://127.0.0.1:0", UIPC_CREATE), 0);
    const char *su = uipc_uri(srv);
    assert_true(uri_port(su) > 0);
    pid_t pid = tu_fork(echo_client, (void *)su);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 10000), 4);
    assert_int_equal(uipc_send(srv, buf, 4, 10000), 4);
    assert_int_equal(tu_wait(pid), 0);
    assert_string_equal(uipc_uri(srv), su); /* stable once the peer came */
    uipc_close(srv);
    /* Clients cannot open port 0. */
    assert_int_equal(uipc_open(&ch, "tcp://127.0.0.1:0", 0), -EINVAL);
    assert_null(ch);
}

static void udp_port_zero_owner(void **state)
{
    (void)state;
    uipc_channel *srv, *cli;
    char buf[16];
    assert_int_equal(uipc_open(&srv, "udp://127.0.0.1:0", UIPC_CREATE), 0);
    const char *su = uipc_uri(srv);
    assert_int_equal(strncmp(su, "udp://127.0.0.1:", 16), 0);
    assert_true(uri_port(su) > 0);
    assert_int_equal(uipc_open(&cli, su, 0), 0);
    assert_string_equal(uipc_uri(cli), su);
    assert_int_equal(uipc_send(cli, "ping", 4, 5000), 4);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 5000), 4);
    uipc_close(cli);
    uipc_close(srv);
}

/* Everything else reports the text it was opened with. */
static void uri_of_other_endpoints(void **state)
{
    (void)state;
    uipc_channel *a, *b;
    char name[64], u[128];
    assert_null(uipc_uri(NULL));
    assert_null(uipc_listener_uri(NULL));
    assert_int_equal(uipc_pair("pipe:?maxmsg=1K", &a, &b), 0);
    assert_string_equal(uipc_uri(a), "pipe:?maxmsg=1K");
    assert_string_equal(uipc_uri(b), "pipe:?maxmsg=1K");
    uipc_close(a);
    uipc_close(b);
    tu_name(name, sizeof name, "uipc-uri-");
    snprintf(u, sizeof u, "shm://%s?size=64K", name);
    assert_int_equal(uipc_open(&a, u, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&b, u, 0), 0);
    assert_string_equal(uipc_uri(a), u);
    assert_string_equal(uipc_uri(b), u);
    uipc_close(b);
    uipc_close(a);
}

static void listen_unsupported(void **state)
{
    (void)state;
    uipc_listener *l = (uipc_listener *)&l;
    assert_int_equal(uipc_listen(&l, "pipe:", 0), -ENOTSUP);
    assert_null(l);
    assert_int_equal(uipc_listen(&l, "fifo:///tmp/uipc-never", 0), -ENOTSUP);
}

/* Client under another uid: refused, while an allowed one gets through. */
static int nobody_client(void *arg)
{
    (void)arg;
    struct passwd *pw = getpwnam("nobody");
    if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return 20;
    uipc_channel *ch;
    int r = uipc_open(&ch, uri, 0);
    if (r < 0)
        return r == -EACCES ? 0 : 21;
    char buf[8];
    ssize_t n = uipc_send(ch, "hi", 2, 5000);
    if (n == 2)
        n = uipc_recv(ch, buf, sizeof buf, 5000);
    uipc_close(ch);
    return (n == -EPIPE || n == -EACCES) ? 0 : 22;
}

static void allow_uid_refuses_others(void **state)
{
    (void)state;
    if (geteuid() != 0 || !getpwnam("nobody"))
        skip(); /* needs root to run a client as nobody */
    char name[64];
    tu_name(name, sizeof name, "uipc-allow-");
    snprintf(uri, sizeof uri, "unix:@%s?allow_uid=%u", name, (unsigned)geteuid());
    uipc_listener *l;
    uipc_channel *ch;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    pid_t refused = tu_fork(nobody_client, NULL);
    assert_int_equal(uipc_accept(l, &ch, 1000), -ETIMEDOUT); /* never handed out */
    assert_int_equal(tu_wait(refused), 0);
    pid_t allowed = tu_fork(client, (void *)(intptr_t)7);
    assert_int_equal(uipc_accept(l, &ch, 10000), 0);
    pid_t pid;
    uid_t uid;
    assert_int_equal(uipc_peer_cred(ch, &pid, &uid, NULL), 0);
    assert_int_equal(pid, allowed);
    assert_int_equal(uid, geteuid());
    for (int i = 0; i < NMSG; i++) {
        int req[2];
        assert_int_equal(uipc_recv(ch, req, sizeof req, 10000), sizeof req);
        assert_int_equal(uipc_send(ch, req, sizeof req, 10000), sizeof req);
    }
    assert_int_equal(tu_wait(allowed), 0);
    uipc_close(ch);
    uipc_listener_close(l);
}

/* Makes every later listen() of this process fail with EPERM (seccomp). */
static int refuse_listen(void)
{
#if defined(__x86_64__)
    const uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const uint32_t arch = AUDIT_ARCH_AARCH64;
#else
    const uint32_t arch = 0;
#endif
    if (arch == 0)
        return -1;
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof insns / sizeof insns[0], .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -1 : 0;
}

/*
 * Child: in dir, a file named like the bytes of a sockaddr_in read as a
 * UNIX path (port, then 127 of 127.0.0.1), then a TCP listener whose
 * listen() fails.  0 when the listener fails with -EPERM and the file is
 * still there.
 */
static int tcp_listen_fails(void *arg)
{
    const char *dir = arg;
    if (chdir(dir) < 0)
        return 10;
    for (int attempt = 0; attempt < 100; attempt++) {
        int port = tu_free_port(1 /* SOCK_STREAM */);
        uint16_t be = htons((uint16_t)port);
        const unsigned char *b = (const unsigned char *)&be;
        if (!b[0] || !b[1] || b[0] == '/' || b[1] == '/')
            continue; /* not a plain file name: take another port */
        char victim[4] = {(char)b[0], (char)b[1], 0x7f, 0};
        int fd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
            return 11;
        close(fd);
        if (refuse_listen() < 0)
            return 12;
        char u[64];
        snprintf(u, sizeof u, "tcp://127.0.0.1:%d", port);
        uipc_listener *l = NULL;
        int r = uipc_listen(&l, u, 0);
        if (r != -EPERM || l)
            return 13;
        return access(victim, F_OK) == 0 ? 0 : 14;
    }
    return 15;
}

/*
 * A TCP listener whose listen() fails removes no file: sock.c used to
 * unlink sun_path of the address union on that path for every socket,
 * which for TCP is the port and address bytes taken as a relative path.
 */
static void tcp_listen_failure_removes_no_file(void **state)
{
    (void)state;
    char dir[256];
    tu_tmpdir(dir, sizeof dir);
    pid_t pid = tu_fork(tcp_listen_fails, dir);
    int status = tu_wait(pid);
    tu_rmdir_all(dir);
    if (status == 12)
        skip(); /* no seccomp filters here */
    assert_int_equal(status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unix_eight_clients),
        cmocka_unit_test(tcp_eight_clients),
        cmocka_unit_test(listen_unsupported),
        cmocka_unit_test(allow_uid_refuses_others),
        cmocka_unit_test(tcp_port_zero_listener),
        cmocka_unit_test(unix_listener_uri_is_the_name),
        cmocka_unit_test(tcp_port_zero_channel),
        cmocka_unit_test(udp_port_zero_owner),
        cmocka_unit_test(uri_of_other_endpoints),
        cmocka_unit_test(conformance_unix),
        cmocka_unit_test(conformance_unix_seqpacket),
        cmocka_unit_test(conformance_tcp),
        cmocka_unit_test(conformance_shm),
        cmocka_unit_test(shm_server_killed),
        cmocka_unit_test(shm_nothing_named_per_client),
        cmocka_unit_test(shm_listener_refuses),
        cmocka_unit_test(shm_handshake_crashes),
        cmocka_unit_test(shm_many_clients),
        cmocka_unit_test(tcp_listen_failure_removes_no_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
