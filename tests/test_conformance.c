/* SPDX-License-Identifier: MIT */
/*
 * The conformance suite: one contract (shared/API.md, include/uipc/uipc.h),
 * every transport.  The same test bodies run against every row of the case
 * table below, across fork and across a separately started program
 * (uipc_peer.c), with real kernel objects and real SIGKILLs.
 *
 * Each test is "<case>/<body>", one cmocka group per case.  A body runs in
 * the test process (the "parent") and forks peers ("children") that report
 * through their exit status: a child never uses cmocka's assertions (they
 * would unwind into the child's copy of the test runner), it prints what
 * went wrong and returns non-zero.  Every wait is bounded, so a bug shows
 * up as a failure, never as a hang.  Around every body the parent counts
 * its descriptors: a body that leaves one open fails.
 *
 * Run a subset with a cmocka filter: test_conformance 'unix-*'
 * (or UIPC_CONF_FILTER='*sigkill*').
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "conformance.h"
#include "internal.h"
#include "testutil.h"

#ifndef UIPC_PEER_PATH
#error "UIPC_PEER_PATH (the uipc_peer program) must be defined by the build"
#endif

/* ------------------------------------------------------------------ */
/* The case table                                                      */
/* ------------------------------------------------------------------ */

/* How a case makes its two endpoints. */
enum how {
    ANY = 0,   /* (bodies only) runs for both kinds */
    PAIR = 1,  /* uipc_pair(uri) in the parent, then fork */
    NAMED = 2, /* one side uipc_open(uri, UIPC_CREATE), the other uipc_open(uri, 0) */
};

/*
 * Properties of a transport that some bodies rely on: the transport's own
 * table says which hold (struct uipc_transport.caps, lib/internal.h, where
 * each is defined); main() copies them into each row, minus the bits that
 * hold only for named channels when the row is a pair.
 */
#define CAP_RELIABLE UIPC__CAP_RELIABLE
#define CAP_BOUNDED UIPC__CAP_BOUNDED
#define CAP_PEER_EOF UIPC__CAP_PEER_EOF
#define CAP_POLL_EOF UIPC__CAP_POLL_EOF
#define CAP_SEND_EPIPE UIPC__CAP_SEND_EPIPE
#define CAP_N_PARTY UIPC__CAP_N_PARTY
#define CAP_CRED UIPC__CAP_CRED
#define CAP_LOCAL_NAME UIPC__CAP_LOCAL_NAME
#define CAP_OWNED UIPC__CAP_OWNED
#define CAP_CLIENT_FIRST UIPC__CAP_CLIENT_FIRST
#define CAP_PERSISTENT UIPC__CAP_PERSISTENT
#define CAP_CLOSE_DESTROYS UIPC__CAP_CLOSE_DESTROYS

struct conf_case {
    const char *name; /* appears in every test name: "<name>/<body>" */
    const char *uri;  /* template, expanded afresh for each use (below) */
    enum how how;
    unsigned caps; /* filled in by main() from the transport's table */
};

/*
 * HOW TO ADD A TRANSPORT: add a row.  That is all.
 *
 *  - name: short, unique, used in test names and filters.
 *  - uri: a template; each placeholder is replaced by a fresh value every
 *    time a body needs a URI, so rendezvous never collide:
 *      {dir}  an absolute, empty temporary directory of this test
 *             (removed afterwards), e.g. "fifo://{dir}/f" -> fifo:///tmp/uipc-test-ab12/f
 *      {id}   a unique name "uipc-conf-<pid>-<n>", e.g. "shm://{id}", "unix:@{id}"
 *      {tcp}  a free TCP port on 127.0.0.1     {tcp6} a free TCP port on ::1
 *      {udp}  a free UDP port on 127.0.0.1
 *      {key}  a System V IPC key made of the pid and a counter, "0x55xxxxxx"
 *  - how: PAIR if the case is made with uipc_pair (related processes),
 *    NAMED if by uipc_open with and without UIPC_CREATE.  A transport that
 *    supports both gets two rows.
 *  - caps are not written here: they come from the transport's table
 *    (lib/internal.h, UIPC__CAP_*).  A body that needs one the row lacks
 *    is not generated for it (see bodies[] at the end), and parts of
 *    bodies check a property only where the row claims it (e.g. udp: has
 *    none of RELIABLE, BOUNDED, PEER_EOF; mq: is RELIABLE | BOUNDED |
 *    N_PARTY | LOCAL_NAME | OWNED).
 * Every other property in the contract (boundaries, sizes up to max_msg,
 * timeouts, -EMSGSIZE, zero-copy, pollfd, no descriptor leaks, NULL
 * arguments) is required of every row.
 */
static struct conf_case cases[] = {
    {"pipe", "pipe:", PAIR, 0},
    {"pipe-maxmsg", "pipe:?maxmsg=100000", PAIR, 0},
    {"unix-pair", "unix:", PAIR, 0},
    {"unix-pair-seqpacket", "unix:?type=seqpacket", PAIR, 0},
    {"fifo", "fifo://{dir}/f", NAMED, 0},
    {"unix-path", "unix://{dir}/s.sock", NAMED, 0},
    {"unix-abstract", "unix:@{id}", NAMED, 0},
    {"unix-seqpacket", "unix://{dir}/q.sock?type=seqpacket", NAMED, 0},
    {"unix-abstract-seqpacket", "unix:@{id}?type=seqpacket&maxmsg=200000", NAMED, 0},
    {"tcp4", "tcp://127.0.0.1:{tcp}", NAMED, 0},
    {"tcp6", "tcp://[::1]:{tcp6}", NAMED, 0},
    {"shm-pair", "shm:", PAIR, 0},
    {"shm", "shm://{id}", NAMED, 0},
    {"udp", "udp://127.0.0.1:{udp}", NAMED, 0},
    {"mq", "mq:///{id}", NAMED, 0},
    {"sysvmq", "sysvmq://{key}", NAMED, 0},
    {"file", "file://{dir}/{id}.spool", NAMED, 0},
    {"mmap", "mmap://{dir}/{id}.ring", NAMED, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* ------------------------------------------------------------------ */
/* Per-test context and helpers                                        */
/* ------------------------------------------------------------------ */

#define MAX_KIDS 8
#define MAX_URIS 8

struct ctx {
    const struct conf_case *c;
    char dir[64];     /* this test's temporary directory */
    char uri[512];    /* the URI of the current link */
    char used[MAX_URIS][512]; /* every URI made, removed at teardown */
    int nused;
    uipc_channel *ch; /* the parent's end of the current link */
    uipc_channel *ch2;
    pid_t kids[MAX_KIDS];
    int c2p[2], p2c[2]; /* side pipes: child to parent, parent to child */
};

/* Descriptors above 2 that were inheritable (no FD_CLOEXEC) at start-up. */
static char inherited_fds[256];

#define WAIT_MS CONF_WAIT_MS

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static const char *err_text(long long v)
{
    return v < 0 ? uipc_strerror((int)v) : "ok";
}

/* Parent side: an expression must give exactly want. */
#define EXPECT_RC(expr, want)                                                               \
    do {                                                                                    \
        long long got_ = (long long)(expr), want_ = (long long)(want);                      \
        if (got_ != want_)                                                                  \
            fail_msg("%s:%d: %s = %lld (%s), expected %lld (%s)", __FILE__, __LINE__,       \
                     #expr, got_, err_text(got_), want_, err_text(want_));                  \
    } while (0)

/* Child side: report and return non-zero instead of asserting. */
#define CK(cond)                                                                            \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "[child %d] %s:%d: check failed: %s\n", (int)getpid(),          \
                    __FILE__, __LINE__, #cond);                                             \
            return 1;                                                                       \
        }                                                                                   \
    } while (0)
#define CK_RC(expr, want)                                                                   \
    do {                                                                                    \
        long long got_ = (long long)(expr), want_ = (long long)(want);                      \
        if (got_ != want_) {                                                                \
            fprintf(stderr, "[child %d] %s:%d: %s = %lld (%s), expected %lld (%s)\n",       \
                    (int)getpid(), __FILE__, __LINE__, #expr, got_, err_text(got_), want_,  \
                    err_text(want_));                                                       \
            return 1;                                                                       \
        }                                                                                   \
    } while (0)

static void skip_because(const char *why)
{
    print_message("      skipped: %s\n", why);
    skip();
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

/* A free port on ::1, or -1 when the machine has no IPv6 loopback. */
static int free_port6(int type)
{
    int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin6_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Expands the case's URI template into out (see the table's comment). */
static void make_uri(struct ctx *x, char *out, size_t cap)
{
    const char *t = x->c->uri;
    size_t o = 0;
    while (*t) {
        char val[256];
        if (*t != '{') {
            assert_true(o + 1 < cap);
            out[o++] = *t++;
            continue;
        }
        const char *end = strchr(t, '}');
        assert_non_null(end);
        size_t klen = (size_t)(end - t - 1);
        int port = 0;
        if (klen == 3 && !strncmp(t + 1, "dir", 3))
            snprintf(val, sizeof val, "%s", x->dir);
        else if (klen == 2 && !strncmp(t + 1, "id", 2))
            tu_name(val, sizeof val, "uipc-conf-");
        else if (klen == 3 && !strncmp(t + 1, "tcp", 3))
            port = tu_free_port(SOCK_STREAM);
        else if (klen == 4 && !strncmp(t + 1, "tcp6", 4)) {
            port = free_port6(SOCK_STREAM);
            if (port < 0)
                skip_because("no IPv6 loopback on this machine");
        } else if (klen == 3 && !strncmp(t + 1, "udp", 3))
            port = tu_free_port(SOCK_DGRAM);
        else if (klen == 3 && !strncmp(t + 1, "key", 3)) {
            static unsigned serial;
            snprintf(val, sizeof val, "0x%08x",
                     0x55000000u | ((unsigned)getpid() & 0x3fffu) << 10 | (serial++ & 0x3ffu));
        } else
            fail_msg("unknown placeholder in URI template %s", x->c->uri);
        if (port)
            snprintf(val, sizeof val, "%d", port);
        assert_true(port >= 0);
        size_t vlen = strlen(val);
        assert_true(o + vlen < cap);
        memcpy(out + o, val, vlen);
        o += vlen;
        t = end + 1;
    }
    out[o] = '\0';
}

static void new_uri(struct ctx *x)
{
    make_uri(x, x->uri, sizeof x->uri);
    if (x->nused < MAX_URIS)
        memcpy(x->used[x->nused++], x->uri, sizeof x->uri);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_ch(uipc_channel **ch)
{
    if (*ch) {
        int r = uipc_close(*ch);
        *ch = NULL;
        EXPECT_RC(r, 0);
    }
}

/* ---- side pipes: 8-byte tokens between parent and child ---- */

static int post(int fd, uint64_t v)
{
    return write(fd, &v, sizeof v) == (ssize_t)sizeof v ? 0 : -EPIPE;
}

/* 0 with the token in *v, -ETIMEDOUT, or -EPIPE when the other side is gone. */
static int await(int fd, uint64_t *v, int timeout_ms)
{
    uint64_t dummy;
    if (!v)
        v = &dummy;
    long long end = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left = end - now_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, v, sizeof *v);
        if (n < 0 && errno == EINTR)
            continue;
        return n == (ssize_t)sizeof *v ? 0 : -EPIPE;
    }
}

/* Parent: tell the child / hear from it. */
static void tell(struct ctx *x, uint64_t v)
{
    EXPECT_RC(post(x->p2c[1], v), 0);
}

static uint64_t hear(struct ctx *x)
{
    uint64_t v = 0;
    int r = await(x->c2p[0], &v, WAIT_MS);
    if (r == -EPIPE)
        fail_msg("the child went away before it reported (see its messages above)");
    EXPECT_RC(r, 0);
    return v;
}

/* Child: the same in the other direction. */
static int c_tell(struct ctx *x, uint64_t v)
{
    return post(x->c2p[1], v);
}

static int c_hear(struct ctx *x, uint64_t *v)
{
    return await(x->p2c[0], v, WAIT_MS);
}

/* ---- children ---- */

static void add_kid(struct ctx *x, pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (x->kids[i] <= 0) {
            x->kids[i] = pid;
            return;
        }
    fail_msg("too many children");
}

/* Waits for pid at most timeout_ms; kills it if it does not end.  Returns
 * its exit status, 128 + signal when killed, -1 on timeout. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
        if (r < 0 && errno != EINTR)
            return -2;
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(1000);
    }
}

/* Parent: the child must end with status want. */
static void reap(struct ctx *x, pid_t pid, int want)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (x->kids[i] == pid)
            x->kids[i] = 0;
    int st = wait_exit(pid, WAIT_MS);
    if (st == -1)
        fail_msg("child %d did not end within %d ms (killed)", (int)pid, WAIT_MS);
    if (st != want)
        fail_msg("child %d ended with status %d, expected %d (see its messages above)", (int)pid,
                 st, want);
}

/* Kills and reaps every child still around (after a failure). */
static void kill_kids(struct ctx *x)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (x->kids[i] > 0) {
            kill(x->kids[i], SIGKILL);
            waitpid(x->kids[i], NULL, 0);
            x->kids[i] = 0;
        }
}

/* Which side of a NAMED link makes the rendezvous. */
enum role { PARENT_OWNS, CHILD_OWNS };

/* A child's part of a body: *ch is its end (it may close it and set NULL). */
typedef int (*peer_fn)(uipc_channel **ch, struct ctx *x);

/*
 * Makes a link for the current x->uri and forks a child that runs fn on
 * the other end; the parent's end is x->ch.  Each process closes the
 * handles it does not use (the contract's fork rule), so every body also
 * checks that doing so disturbs nothing.  For CHILD_OWNS the child makes
 * the rendezvous, says so on the side pipe, and the parent attaches.
 */
static pid_t link_fork(struct ctx *x, peer_fn fn, enum role role)
{
    uipc_channel *mine = NULL, *theirs = NULL;
    close_fd(&x->c2p[0]);
    close_fd(&x->c2p[1]);
    close_fd(&x->p2c[0]);
    close_fd(&x->p2c[1]);
    assert_int_equal(pipe2(x->c2p, O_CLOEXEC), 0);
    assert_int_equal(pipe2(x->p2c, O_CLOEXEC), 0);
    if (x->c->how == PAIR)
        EXPECT_RC(uipc_pair(x->uri, &mine, &theirs), 0);
    else if (role == PARENT_OWNS)
        EXPECT_RC(uipc_open(&mine, x->uri, UIPC_CREATE), 0);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close_fd(&x->c2p[0]);
        close_fd(&x->p2c[1]);
        if (mine)
            uipc_close(mine);
        if (x->c->how == NAMED) {
            int r = uipc_open(&theirs, x->uri, role == CHILD_OWNS ? UIPC_CREATE : 0);
            if (r < 0) {
                fprintf(stderr, "[child %d] open %s: %s\n", (int)getpid(), x->uri,
                        uipc_strerror(r));
                _exit(100);
            }
            /* The owner child starts only once the parent has attached, so that
             * a body that closes early never races the parent's open. */
            if (role == CHILD_OWNS && (c_tell(x, 0) < 0 || c_hear(x, NULL) < 0))
                _exit(103);
            if (x->c->caps & CAP_CLIENT_FIRST) {
                int h = role == CHILD_OWNS ? conf_owner_hello(theirs) : conf_client_hello(theirs);
                if (h)
                    _exit(h);
            }
        }
        int rc = fn(&theirs, x);
        if (theirs && uipc_close(theirs) < 0 && rc == 0)
            rc = 101;
        _exit(rc);
    }
    add_kid(x, pid);
    close_fd(&x->c2p[1]);
    close_fd(&x->p2c[0]);
    if (theirs)
        close_ch(&theirs);
    if (x->c->how == NAMED && role == CHILD_OWNS) {
        hear(x);
        EXPECT_RC(uipc_open(&mine, x->uri, 0), 0);
        tell(x, 0);
    }
    x->ch = mine;
    if (x->c->how == NAMED && (x->c->caps & CAP_CLIENT_FIRST))
        assert_int_equal(role == CHILD_OWNS ? conf_client_hello(mine) : conf_owner_hello(mine), 0);
    return pid;
}

/* The roles a body runs a NAMED case with: both, one after the other. */
static int nroles(const struct ctx *x)
{
    return x->c->how == NAMED ? 2 : 1;
}

/* Ends the current link: the child must finish and succeed, then the
 * parent closes (an owner's close may destroy what is still queued, as
 * IPC_RMID does on sysvmq:). */
static void unlink_child(struct ctx *x, pid_t pid)
{
    reap(x, pid, 0);
    close_ch(&x->ch);
}

/* ---- message streams: lengths and contents derived from seq ---- */

/* Sends messages first..first+count-1 (lengths conf_len(seq, maxlen)). */
static int send_seq(uipc_channel *ch, uint64_t first, uint64_t count, size_t maxlen)
{
    unsigned char *buf = malloc(maxlen ? maxlen : 1);
    int rc = 0;
    if (!buf)
        return 2;
    for (uint64_t seq = first; seq < first + count && rc == 0; seq++) {
        size_t n = conf_len(seq, maxlen);
        tu_fill(buf, n, seq);
        ssize_t r = uipc_send(ch, buf, n, WAIT_MS);
        if (r != (ssize_t)n) {
            fprintf(stderr, "[%d] send #%llu (%zu B): %zd (%s)\n", (int)getpid(),
                    (unsigned long long)seq, n, r, err_text(r));
            rc = 1;
        }
    }
    free(buf);
    return rc;
}

/* Receives and checks messages first..first+count-1. */
static int recv_seq(uipc_channel *ch, uint64_t first, uint64_t count, size_t maxlen)
{
    unsigned char *buf = malloc(maxlen ? maxlen : 1);
    int rc = 0;
    if (!buf)
        return 2;
    for (uint64_t seq = first; seq < first + count && rc == 0; seq++) {
        size_t n = conf_len(seq, maxlen);
        ssize_t r = uipc_recv(ch, buf, maxlen, WAIT_MS);
        if (r != (ssize_t)n || tu_check(buf, n, seq) != 0) {
            fprintf(stderr, "[%d] recv #%llu: %zd (%s), expected %zu B%s\n", (int)getpid(),
                    (unsigned long long)seq, r, err_text(r), n,
                    r == (ssize_t)n ? " (contents differ)" : "");
            rc = 1;
        }
    }
    free(buf);
    return rc;
}

static void send_quit(uipc_channel *ch)
{
    EXPECT_RC(uipc_send(ch, CONF_QUIT, CONF_QUIT_LEN, WAIT_MS), CONF_QUIT_LEN);
}

/* Sends until -EPIPE; tcp may accept a send or two before it learns of the
 * reset, so allow a short while. */
static int send_until_epipe(uipc_channel *ch)
{
    for (int i = 0; i < 200; i++) {
        ssize_t r = uipc_send(ch, "x", 1, 1000);
        if (r == -EPIPE)
            return 0;
        if (r != 1) {
            fprintf(stderr, "[%d] send to a gone peer: %zd (%s)\n", (int)getpid(), r,
                    err_text(r));
            return 1;
        }
        usleep(10000);
    }
    fprintf(stderr, "[%d] send to a gone peer never reported -EPIPE\n", (int)getpid());
    return 1;
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */
/* ------------------------------------------------------------------ */

static int peer_echo(uipc_channel **ch, struct ctx *x)
{
    (void)x;
    return conf_echo_loop(*ch, "child");
}

/*
 * Parent side of an echo peer: every size up to the maximum comes back
 * intact; then a burst of small messages sent back to back comes back one
 * by one with its boundaries (the burst fits the kernel buffers, so the
 * echo cannot deadlock).
 */
static void echo_exchange(uipc_channel *ch)
{
    size_t max = conf_test_max(ch);
    const size_t sizes[] = {0, 1, 63, 64, 4095, 65536, max};
    unsigned char *out = xmalloc(max), *in = xmalloc(max);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        if (n > max)
            continue;
        tu_fill(out, n, i);
        EXPECT_RC(uipc_send(ch, out, n, WAIT_MS), n);
        EXPECT_RC(uipc_recv(ch, in, max, WAIT_MS), n);
        assert_int_equal(tu_check(in, n, i), 0);
    }
    const size_t burst[] = {0, 1, 7, 0, 300, 2, 1000, 63};
    const size_t nburst = sizeof burst / sizeof burst[0];
    for (size_t i = 0; i < nburst; i++) {
        if (burst[i] > max)
            continue;
        tu_fill(out, burst[i], 100 + i);
        EXPECT_RC(uipc_send(ch, out, burst[i], WAIT_MS), burst[i]);
    }
    for (size_t i = 0; i < nburst; i++) {
        if (burst[i] > max)
            continue;
        EXPECT_RC(uipc_recv(ch, in, max, WAIT_MS), burst[i]);
        assert_int_equal(tu_check(in, burst[i], 100 + i), 0);
    }
    free(out);
    free(in);
}

/* Sizes 0, 1, 63, 64, 4095, 65536 and max, and boundaries, across fork. */
static void t_echo(struct ctx *x)
{
    for (int role = 0; role < nroles(x); role++) {
        new_uri(x);
        pid_t pid = link_fork(x, peer_echo, (enum role)role);
        echo_exchange(x->ch);
        send_quit(x->ch);
        reap(x, pid, 0);
        close_ch(&x->ch);
    }
}

/*
 * Starts uipc_peer in echo mode.  With create, waits until it says it made
 * the rendezvous.  The peer checks that it inherited no descriptor beyond
 * those the test process itself had inheritable at start-up.
 */
static pid_t spawn_peer(struct ctx *x, bool create)
{
    int out[2] = {-1, -1};
    char fds_arg[300];
    snprintf(fds_arg, sizeof fds_arg, "--fds=%s", inherited_fds);
    if (create)
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char *argv[] = {(char *)UIPC_PEER_PATH, (char *)"echo", x->uri,
                    (char *)(create ? "create" : "attach"), fds_arg,
                    (x->c->caps & CAP_CLIENT_FIRST) ? (char *)"--hello" : NULL, NULL};
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (create && dup2(out[1], STDOUT_FILENO) < 0)
            _exit(126);
        execv(UIPC_PEER_PATH, argv);
        _exit(127);
    }
    add_kid(x, pid);
    if (create) {
        close_fd(&out[1]);
        char line[16] = {0};
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        assert_true(poll(&p, 1, WAIT_MS) == 1);
        ssize_t n = read(out[0], line, sizeof line - 1);
        close_fd(&out[0]);
        if (n != 6 || strcmp(line, "ready\n") != 0)
            fail_msg("uipc_peer did not get ready (see its messages above)");
    }
    return pid;
}

/* The same echo with a separately started program, in both roles. */
static void t_echo_exec(struct ctx *x)
{
    new_uri(x);
    EXPECT_RC(uipc_open(&x->ch, x->uri, UIPC_CREATE), 0);
    pid_t pid = spawn_peer(x, false);
    if (x->c->caps & CAP_CLIENT_FIRST)
        assert_int_equal(conf_owner_hello(x->ch), 0);
    echo_exchange(x->ch);
    send_quit(x->ch);
    reap(x, pid, 0);
    close_ch(&x->ch);

    new_uri(x);
    pid = spawn_peer(x, true);
    EXPECT_RC(uipc_open(&x->ch, x->uri, 0), 0);
    if (x->c->caps & CAP_CLIENT_FIRST)
        assert_int_equal(conf_client_hello(x->ch), 0);
    echo_exchange(x->ch);
    send_quit(x->ch);
    reap(x, pid, 0);
    close_ch(&x->ch);
}

#define ORDER_N 100000
#define ORDER_MAXLEN 256

static int peer_order(uipc_channel **ch, struct ctx *x)
{
    (void)x;
    int rc = recv_seq(*ch, 0, ORDER_N, ORDER_MAXLEN);
    if (rc == 0)
        rc = send_seq(*ch, ORDER_N, ORDER_N, ORDER_MAXLEN);
    return rc;
}

/* 10^5 messages of 0..256 bytes in order, checksummed, each way. */
static void t_order(struct ctx *x)
{
    new_uri(x);
    pid_t pid = link_fork(x, peer_order, PARENT_OWNS);
    size_t maxlen = ORDER_MAXLEN < uipc_max_msg(x->ch) ? ORDER_MAXLEN : uipc_max_msg(x->ch);
    assert_int_equal(maxlen, ORDER_MAXLEN);
    assert_int_equal(send_seq(x->ch, 0, ORDER_N, ORDER_MAXLEN), 0);
    assert_int_equal(recv_seq(x->ch, ORDER_N, ORDER_N, ORDER_MAXLEN), 0);
    unlink_child(x, pid);
}

/* A process that inherited handles it does not use closes them and leaves. */
static int close_inherited(void *arg)
{
    uipc_channel **handles = arg;
    int rc = 0;
    for (int i = 0; i < 2; i++)
        if (handles[i] && uipc_close(handles[i]) != 0)
            rc = 1;
    return rc;
}

static void fork_closer(struct ctx *x, uipc_channel *a, uipc_channel *b)
{
    uipc_channel *handles[2] = {a, b};
    fflush(NULL);
    pid_t pid = tu_fork(close_inherited, handles);
    assert_true(pid > 0);
    add_kid(x, pid);
    reap(x, pid, 0);
}

/* One round trip with an echo peer. */
static void ping(uipc_channel *ch, uint64_t seq)
{
    unsigned char out[100], in[100];
    tu_fill(out, sizeof out, seq);
    EXPECT_RC(uipc_send(ch, out, sizeof out, WAIT_MS), sizeof out);
    EXPECT_RC(uipc_recv(ch, in, sizeof in, WAIT_MS), sizeof out);
    assert_int_equal(tu_check(in, sizeof in, seq), 0);
}

/*
 * The fork rule.  PAIR: pair, a first child closes both inherited ends and
 * leaves, then the link is split between parent and an echo child, and a
 * third process closes its inherited copy of the parent's end while the
 * link is in use.  NAMED: the owner forks a child that closes its copy of
 * the owner handle before anyone attached (the rendezvous must stay), then
 * after the link is up (the link must stay).
 */
static void t_fork_rule(struct ctx *x)
{
    new_uri(x);
    if (x->c->how == PAIR) {
        uipc_channel *a, *b;
        EXPECT_RC(uipc_pair(x->uri, &a, &b), 0);
        fork_closer(x, a, b);
        x->ch = a;
        x->ch2 = b;
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            uipc_close(a);
            int rc = conf_echo_loop(b, "child");
            _exit(uipc_close(b) == 0 ? rc : 101);
        }
        add_kid(x, pid);
        close_ch(&x->ch2);
        ping(x->ch, 1);
        fork_closer(x, x->ch, NULL);
        ping(x->ch, 2);
        send_quit(x->ch);
        reap(x, pid, 0);
        close_ch(&x->ch);
        return;
    }
    EXPECT_RC(uipc_open(&x->ch, x->uri, UIPC_CREATE), 0);
    fork_closer(x, x->ch, NULL);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uipc_channel *mine;
        uipc_close(x->ch);
        int r = uipc_open(&mine, x->uri, 0);
        if (r < 0) {
            fprintf(stderr, "[child] attach after a sibling closed its copy: %s\n",
                    uipc_strerror(r));
            _exit(100);
        }
        if ((x->c->caps & CAP_CLIENT_FIRST) && conf_client_hello(mine))
            _exit(102);
        int rc = conf_echo_loop(mine, "child");
        _exit(uipc_close(mine) == 0 ? rc : 101);
    }
    add_kid(x, pid);
    if (x->c->caps & CAP_CLIENT_FIRST)
        assert_int_equal(conf_owner_hello(x->ch), 0);
    ping(x->ch, 1);
    fork_closer(x, x->ch, NULL);
    ping(x->ch, 2);
    send_quit(x->ch);
    reap(x, pid, 0);
    close_ch(&x->ch);
}

/*
 * Both sides send 4 MiB in 16 KiB messages at once, far more than any
 * kernel buffer holds.  A handle is used by one thread at a time, so each
 * side alternates non-blocking sends and receives and sleeps in poll on
 * uipc_pollfd when neither made progress.  A final "done" exchanged with a
 * real timeout flushes anything a non-blocking send left committed but
 * unwritten.
 */
#define DUPLEX_TOTAL (4u << 20)
#define DUPLEX_MSG (16u << 10)

static int duplex_side(uipc_channel *ch, uint64_t my_base, uint64_t their_base)
{
    size_t len = uipc_max_msg(ch) < DUPLEX_MSG ? uipc_max_msg(ch) : DUPLEX_MSG;
    uint64_t count = DUPLEX_TOTAL / len, sent = 0, got = 0;
    unsigned char *out = malloc(len), *in = malloc(len);
    int pfd = uipc_pollfd(ch), rc = 0;
    long long end = now_ms() + 60000;
    if (!out || !in)
        rc = 2;
    while (rc == 0 && (sent < count || got < count)) {
        bool progress = false;
        if (sent < count) {
            tu_fill(out, len, my_base + sent);
            ssize_t r = uipc_send(ch, out, len, 0);
            if (r == (ssize_t)len) {
                sent++;
                progress = true;
            } else if (r != -EAGAIN) {
                fprintf(stderr, "[%d] duplex send: %zd (%s)\n", (int)getpid(), r, err_text(r));
                rc = 1;
            }
        }
        if (got < count && rc == 0) {
            ssize_t r = uipc_recv(ch, in, len, 0);
            if (r == (ssize_t)len && tu_check(in, len, their_base + got) == 0) {
                got++;
                progress = true;
            } else if (r != -EAGAIN) {
                fprintf(stderr, "[%d] duplex recv #%llu: %zd (%s)\n", (int)getpid(),
                        (unsigned long long)got, r, err_text(r));
                rc = 1;
            }
        }
        if (!progress && rc == 0) {
            if (now_ms() > end) {
                fprintf(stderr, "[%d] duplex: no progress (sent %llu, got %llu of %llu)\n",
                        (int)getpid(), (unsigned long long)sent, (unsigned long long)got,
                        (unsigned long long)count);
                rc = 1;
            }
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            if (pfd >= 0)
                poll(&p, 1, 1); /* short: writability is not what pollfd reports */
            else
                usleep(1000);
        }
    }
    if (rc == 0 && uipc_send(ch, "done", 4, WAIT_MS) != 4)
        rc = 1;
    if (rc == 0 && (uipc_recv(ch, in, len, WAIT_MS) != 4 || memcmp(in, "done", 4) != 0))
        rc = 1;
    free(out);
    free(in);
    return rc;
}

static int peer_duplex(uipc_channel **ch, struct ctx *x)
{
    (void)x;
    return duplex_side(*ch, 1u << 20, 0);
}

static void t_duplex(struct ctx *x)
{
    new_uri(x);
    pid_t pid = link_fork(x, peer_duplex, PARENT_OWNS);
    assert_int_equal(duplex_side(x->ch, 0, 1u << 20), 0);
    unlink_child(x, pid);
}

/* Asserts that expr gives -ETIMEDOUT after roughly 50 ms (never less). */
#define EXPECT_50MS_TIMEOUT(expr)                                                           \
    do {                                                                                    \
        long long t0_ = now_ms();                                                           \
        EXPECT_RC(expr, -ETIMEDOUT);                                                        \
        long long dt_ = now_ms() - t0_;                                                     \
        if (dt_ < 45 || dt_ > 5000)                                                         \
            fail_msg("%s:%d: %s timed out after %lld ms, expected about 50", __FILE__,      \
                     __LINE__, #expr, dt_);                                                 \
    } while (0)

#define FILL_MSG 4096

static int peer_timeouts(uipc_channel **ch, struct ctx *x)
{
    uint64_t k;
    unsigned char buf[FILL_MSG];
    CK_RC(c_hear(x, &k), 0);
    /* Drain what the parent managed to send: exactly k whole messages. */
    for (uint64_t i = 0; i < k; i++) {
        CK_RC(uipc_recv(*ch, buf, sizeof buf, WAIT_MS), FILL_MSG);
        CK(tu_check(buf, FILL_MSG, i) == 0);
    }
    /* A send that timed out sent nothing. */
    CK_RC(uipc_recv(*ch, buf, sizeof buf, 0), -EAGAIN);
    long long t0 = now_ms();
    CK_RC(uipc_recv(*ch, buf, sizeof buf, 50), -ETIMEDOUT);
    long long dt = now_ms() - t0;
    CK(dt >= 45 && dt <= 5000);
    CK_RC(uipc_send(*ch, "ok", 2, WAIT_MS), 2);
    return conf_echo_loop(*ch, "child");
}

/*
 * timeout 0 is -EAGAIN and 50 is -ETIMEDOUT after about 50 ms: for the
 * owner before its peer arrived, on an empty link, and (BOUNDED) on a full
 * link, where a send that returns either sent nothing.
 */
static void t_timeouts(struct ctx *x)
{
    unsigned char buf[FILL_MSG];
    new_uri(x);
    if (x->c->how == NAMED) {
        EXPECT_RC(uipc_open(&x->ch, x->uri, UIPC_CREATE), 0);
        EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, 0), -EAGAIN);
        EXPECT_50MS_TIMEOUT(uipc_recv(x->ch, buf, sizeof buf, 50));
        close_ch(&x->ch);
        new_uri(x);
    }
    pid_t pid = link_fork(x, peer_timeouts, PARENT_OWNS);
    EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, 0), -EAGAIN);
    EXPECT_50MS_TIMEOUT(uipc_recv(x->ch, buf, sizeof buf, 50));

    /* k counts the messages sent whole: the child must receive exactly those. */
    uint64_t k = 0;
    if (x->c->caps & CAP_BOUNDED) {
        /* Fill the link while the child does not read (bounded at 256 MiB). */
        ssize_t r = 0;
        for (; k < (256u << 20) / FILL_MSG; k++) {
            tu_fill(buf, FILL_MSG, k);
            if ((r = uipc_send(x->ch, buf, FILL_MSG, 0)) != FILL_MSG)
                break;
        }
        EXPECT_RC(r, -EAGAIN);
        /* The kernel may still move queued bytes towards the receiver (tcp:
         * does), so a send with a timeout can yet get through: it counts. */
        for (int tries = 0;; tries++) {
            assert_true(tries < 1000);
            tu_fill(buf, FILL_MSG, k);
            long long t0 = now_ms();
            if ((r = uipc_send(x->ch, buf, FILL_MSG, 50)) == FILL_MSG) {
                k++;
                continue;
            }
            EXPECT_RC(r, -ETIMEDOUT);
            long long dt = now_ms() - t0;
            if (dt < 45 || dt > 5000)
                fail_msg("send on a full link timed out after %lld ms, expected about 50", dt);
            break;
        }
        tu_fill(buf, FILL_MSG, k);
        if ((r = uipc_send(x->ch, buf, FILL_MSG, 0)) == FILL_MSG)
            k++;
        else
            EXPECT_RC(r, -EAGAIN);
    }
    tell(x, k);
    EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, WAIT_MS), 2);
    assert_memory_equal(buf, "ok", 2);
    ping(x->ch, 7);
    send_quit(x->ch);
    unlink_child(x, pid);
}

static int peer_emsgsize(uipc_channel **ch, struct ctx *x)
{
    (void)x;
    size_t max = conf_test_max(*ch);
    unsigned char *buf = malloc(max);
    CK(buf);
    const size_t sizes[] = {1000, 0, 1, max};
    for (size_t i = 0; i < 4; i++) {
        tu_fill(buf, sizes[i], i);
        CK_RC(uipc_send(*ch, buf, sizes[i], WAIT_MS), sizes[i]);
    }
    free(buf);
    return conf_echo_loop(*ch, "child");
}

/*
 * A too-small buffer is -EMSGSIZE and the message stays queued, whole, for
 * a retry (also with cap 0 and a NULL buffer); len > uipc_max_msg on send
 * (and send_reserve) is -EMSGSIZE and leaves the channel usable.
 */
static void t_emsgsize(struct ctx *x)
{
    new_uri(x);
    pid_t pid = link_fork(x, peer_emsgsize, PARENT_OWNS);
    size_t max = conf_test_max(x->ch);
    unsigned char *buf = xmalloc(max);

    EXPECT_RC(uipc_recv(x->ch, buf, 10, WAIT_MS), -EMSGSIZE);
    EXPECT_RC(uipc_recv(x->ch, buf, 999, WAIT_MS), -EMSGSIZE);
    EXPECT_RC(uipc_recv(x->ch, NULL, 0, WAIT_MS), -EMSGSIZE);
    EXPECT_RC(uipc_recv(x->ch, buf, 1000, WAIT_MS), 1000);
    assert_int_equal(tu_check(buf, 1000, 0), 0);
    EXPECT_RC(uipc_recv(x->ch, NULL, 0, WAIT_MS), 0);
    EXPECT_RC(uipc_recv(x->ch, buf, 0, WAIT_MS), -EMSGSIZE);
    EXPECT_RC(uipc_recv(x->ch, buf, 1, WAIT_MS), 1);
    assert_int_equal(tu_check(buf, 1, 2), 0);
    EXPECT_RC(uipc_recv(x->ch, buf, max - 1, WAIT_MS), -EMSGSIZE);
    EXPECT_RC(uipc_recv(x->ch, buf, max, WAIT_MS), max);
    assert_int_equal(tu_check(buf, max, 3), 0);
    free(buf);

    /* One byte over the channel's own limit, in a mapping that is never
     * touched (max_msg may be up to 1 GiB). */
    size_t over = uipc_max_msg(x->ch) + 1;
    void *big = mmap(NULL, over, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(big != MAP_FAILED);
    EXPECT_RC(uipc_send(x->ch, big, over, WAIT_MS), -EMSGSIZE);
    EXPECT_RC(uipc_send(x->ch, big, SIZE_MAX, WAIT_MS), -EMSGSIZE);
    munmap(big, over);
    void *zc = (void *)1;
    EXPECT_RC(uipc_send_reserve(x->ch, &zc, over, WAIT_MS), -EMSGSIZE);
    ping(x->ch, 5);
    send_quit(x->ch);
    unlink_child(x, pid);
}

#define EPIPE_QUEUED 3

/* Sends a few messages, closes its end, and stays alive until told. */
static int peer_close_alive(uipc_channel **ch, struct ctx *x)
{
    unsigned char buf[300];
    for (uint64_t i = 0; i < EPIPE_QUEUED; i++) {
        tu_fill(buf, 100 * i, i);
        CK_RC(uipc_send(*ch, buf, 100 * i, WAIT_MS), 100 * i);
    }
    CK_RC(uipc_close(*ch), 0);
    *ch = NULL;
    CK_RC(c_tell(x, 1), 0);
    CK_RC(c_hear(x, NULL), 0);
    return 0;
}

/*
 * The peer closes (and stays alive): the messages it queued come first,
 * then -EPIPE, again on every later call, and sends fail with -EPIPE.  In
 * both roles for NAMED cases.  N-party transports have no one peer to
 * lose: there the receiver just waits.
 */
static void t_epipe(struct ctx *x)
{
    unsigned char buf[300];
    for (int role = 0; role < nroles(x); role++) {
        if ((x->c->caps & CAP_CLOSE_DESTROYS) && role == CHILD_OWNS)
            continue; /* the closing owner takes its queued messages along */
        new_uri(x);
        pid_t pid = link_fork(x, peer_close_alive, (enum role)role);
        hear(x);
        for (uint64_t i = 0; i < EPIPE_QUEUED; i++) {
            EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, WAIT_MS), 100 * i);
            assert_int_equal(tu_check(buf, 100 * i, i), 0);
        }
        if (x->c->caps & CAP_PEER_EOF) {
            EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, WAIT_MS), -EPIPE);
            EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, 0), -EPIPE);
            EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, WAIT_MS), -EPIPE);
            if (x->c->caps & CAP_SEND_EPIPE)
                assert_int_equal(send_until_epipe(x->ch), 0);
            EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, WAIT_MS), -EPIPE);
        } else {
            /* N-party: no one peer to lose, the receiver waits (so does udp:'s). */
            EXPECT_50MS_TIMEOUT(uipc_recv(x->ch, buf, sizeof buf, 50));
        }
        tell(x, 0);
        reap(x, pid, 0);
        close_ch(&x->ch);
    }
}

#define KILL_BEFORE 20
#define KILL_MAXLEN 150000

/* Streams numbered messages until killed. */
static int peer_stream(uipc_channel **ch, struct ctx *x)
{
    (void)x;
    size_t maxlen = conf_test_max(*ch) < KILL_MAXLEN ? conf_test_max(*ch) : KILL_MAXLEN;
    unsigned char *buf = malloc(maxlen);
    CK(buf);
    for (uint64_t seq = 0;; seq++) {
        size_t n = conf_len(seq, maxlen);
        tu_fill(buf, n, seq);
        ssize_t r = uipc_send(*ch, buf, n, UIPC_FOREVER);
        if (r == -EPIPE)
            break;
        CK_RC(r, n);
    }
    free(buf);
    return 0;
}

/*
 * The peer is SIGKILLed while streaming (messages up to 150 KB, so it dies
 * in the middle of one): the survivor reads only whole, checksummed
 * messages in order, then -EPIPE; no call hangs (each waits at most 20 s
 * and a timeout fails the test).  In both roles for NAMED cases.  Without
 * PEER_EOF (N-party) the end is a receive that times out instead.
 */
static void t_sigkill(struct ctx *x)
{
    for (int role = 0; role < nroles(x); role++) {
        new_uri(x);
        pid_t pid = link_fork(x, peer_stream, (enum role)role);
        size_t maxlen = conf_test_max(x->ch) < KILL_MAXLEN ? conf_test_max(x->ch) : KILL_MAXLEN;
        unsigned char *buf = xmalloc(maxlen);
        uint64_t seq = 0;
        for (; seq < KILL_BEFORE; seq++) {
            size_t n = conf_len(seq, maxlen);
            EXPECT_RC(uipc_recv(x->ch, buf, maxlen, WAIT_MS), n);
            assert_int_equal(tu_check(buf, n, seq), 0);
        }
        assert_int_equal(kill(pid, SIGKILL), 0);
        reap(x, pid, 128 + SIGKILL);
        bool eof = x->c->caps & CAP_PEER_EOF;
        for (;; seq++) {
            ssize_t r = uipc_recv(x->ch, buf, maxlen, eof ? WAIT_MS : 500);
            if (r == (eof ? -EPIPE : -ETIMEDOUT))
                break;
            size_t n = conf_len(seq, maxlen);
            if (r != (ssize_t)n || tu_check(buf, n, seq) != 0)
                fail_msg("after the kill, message #%llu: %zd (%s), expected %zu intact bytes",
                         (unsigned long long)seq, r, err_text(r), n);
            assert_true(seq < 1000000);
        }
        free(buf);
        if (eof)
            EXPECT_RC(uipc_recv(x->ch, NULL, 0, 0), -EPIPE);
        if (x->c->caps & CAP_SEND_EPIPE)
            assert_int_equal(send_until_epipe(x->ch), 0);
        close_ch(&x->ch);
    }
}

/* Waits (at most 20 s) for pfd to poll readable. */
static void expect_readable(int pfd)
{
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, WAIT_MS);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        fail_msg("uipc_pollfd did not poll readable within %d ms (missed wake-up)", WAIT_MS);
}

/* poll + recv(..., 0) until a message (or end) arrives; -EAGAIN is a
 * spurious wake-up and allowed, a few times. */
static ssize_t poll_recv(uipc_channel *ch, int pfd, void *buf, size_t cap)
{
    for (int spurious = 0; spurious < 100; spurious++) {
        expect_readable(pfd);
        ssize_t r = uipc_recv(ch, buf, cap, 0);
        if (r != -EAGAIN)
            return r;
    }
    fail_msg("100 wake-ups in a row without a message");
    return -1;
}

#define POLL_BURST 5

static int peer_pollfd(uipc_channel **ch, struct ctx *x)
{
    unsigned char buf[200];
    CK_RC(c_hear(x, NULL), 0);
    tu_fill(buf, 50, 0);
    CK_RC(uipc_send(*ch, buf, 50, WAIT_MS), 50);
    CK_RC(c_tell(x, 1), 0);
    CK_RC(c_hear(x, NULL), 0);
    for (uint64_t i = 1; i <= POLL_BURST; i++) {
        tu_fill(buf, 20 * i, i);
        CK_RC(uipc_send(*ch, buf, 20 * i, WAIT_MS), 20 * i);
    }
    CK_RC(c_tell(x, 2), 0);
    CK_RC(c_hear(x, NULL), 0);
    CK_RC(uipc_close(*ch), 0);
    *ch = NULL;
    CK_RC(c_tell(x, 3), 0);
    CK_RC(c_hear(x, NULL), 0);
    return 0;
}

/*
 * uipc_pollfd, taken before the peer even attached: readable after the
 * peer sends, and then recv(..., 0) has the message; a burst sent at once
 * lands in a user-space buffer on stream transports, and every message of
 * it must still be reachable by poll + recv(..., 0).  The descriptor stays
 * the same; with POLL_EOF the peer's close wakes it too.
 */
static void t_pollfd(struct ctx *x)
{
    unsigned char buf[200];
    new_uri(x);
    pid_t pid = link_fork(x, peer_pollfd, PARENT_OWNS);
    int pfd = uipc_pollfd(x->ch);
    if (pfd == -ENOTSUP)
        skip_because("uipc_pollfd is -ENOTSUP on this transport"); /* teardown ends the child */
    assert_true(pfd >= 0);
    EXPECT_RC(uipc_pollfd(x->ch), pfd);

    tell(x, 0);
    assert_int_equal(hear(x), 1);
    EXPECT_RC(poll_recv(x->ch, pfd, buf, sizeof buf), 50);
    assert_int_equal(tu_check(buf, 50, 0), 0);

    tell(x, 0);
    assert_int_equal(hear(x), 2);
    for (uint64_t i = 1; i <= POLL_BURST; i++) {
        EXPECT_RC(poll_recv(x->ch, pfd, buf, sizeof buf), 20 * i);
        assert_int_equal(tu_check(buf, 20 * i, i), 0);
    }
    EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, 0), -EAGAIN);

    tell(x, 0);
    assert_int_equal(hear(x), 3);
    if (x->c->caps & CAP_POLL_EOF)
        EXPECT_RC(poll_recv(x->ch, pfd, buf, sizeof buf), -EPIPE);
    EXPECT_RC(uipc_pollfd(x->ch), pfd);
    tell(x, 0);
    reap(x, pid, 0);
    close_ch(&x->ch);
}

/* Receives with peek/release, answers with reserve/commit. */
static int peer_zerocopy(uipc_channel **ch, struct ctx *x)
{
    (void)x;
    const void *p, *p2;
    void *w;
    unsigned char buf[6000];
    /* 5000 bytes, peeked twice (the same message), then released. */
    CK_RC(uipc_recv_peek(*ch, &p, WAIT_MS), 5000);
    CK(tu_check(p, 5000, 1) == 0);
    CK_RC(uipc_recv_peek(*ch, &p2, WAIT_MS), 5000);
    CK(tu_check(p2, 5000, 1) == 0);
    CK_RC(uipc_recv_release(*ch), 0);
    /* 50 bytes committed out of 100 reserved; received with a plain recv. */
    CK_RC(uipc_recv(*ch, buf, sizeof buf, WAIT_MS), 50);
    CK(tu_check(buf, 50, 2) == 0);
    /* An empty message. */
    CK_RC(uipc_recv_peek(*ch, &p, WAIT_MS), 0);
    CK_RC(uipc_recv_release(*ch), 0);
    /* A plain message, peeked. */
    CK_RC(uipc_recv_peek(*ch, &p, WAIT_MS), 3000);
    CK(tu_check(p, 3000, 3) == 0);
    CK_RC(uipc_recv_release(*ch), 0);
    CK_RC(uipc_recv_peek(*ch, &p, 0), -EAGAIN);
    /* Answer: two messages through reserve/commit. */
    CK_RC(uipc_send_reserve(*ch, &w, 4000, WAIT_MS), 0);
    CK(w != NULL);
    tu_fill(w, 4000, 4);
    CK_RC(uipc_send_commit(*ch, 4000), 0);
    CK_RC(uipc_send_reserve(*ch, &w, 0, WAIT_MS), 0);
    CK_RC(uipc_send_commit(*ch, 0), 0);
    return conf_echo_loop(*ch, "child");
}

/* Zero-copy calls move messages on every transport (emulated or native),
 * and mix with the plain calls. */
static void t_zerocopy(struct ctx *x)
{
    new_uri(x);
    pid_t pid = link_fork(x, peer_zerocopy, PARENT_OWNS);
    void *w;
    const void *p;
    unsigned char buf[6000];

    EXPECT_RC(uipc_recv_peek(x->ch, &p, 0), -EAGAIN);
    EXPECT_RC(uipc_send_reserve(x->ch, &w, 5000, WAIT_MS), 0);
    assert_non_null(w);
    tu_fill(w, 5000, 1);
    EXPECT_RC(uipc_send_commit(x->ch, 5000), 0);
    EXPECT_RC(uipc_send_reserve(x->ch, &w, 100, WAIT_MS), 0);
    tu_fill(w, 50, 2);
    EXPECT_RC(uipc_send_commit(x->ch, 50), 0);
    EXPECT_RC(uipc_send_reserve(x->ch, &w, 0, WAIT_MS), 0);
    EXPECT_RC(uipc_send_commit(x->ch, 0), 0);
    tu_fill(buf, 3000, 3);
    EXPECT_RC(uipc_send(x->ch, buf, 3000, WAIT_MS), 3000);

    EXPECT_RC(uipc_recv_peek(x->ch, &p, WAIT_MS), 4000);
    assert_int_equal(tu_check(p, 4000, 4), 0);
    EXPECT_RC(uipc_recv_release(x->ch), 0);
    EXPECT_RC(uipc_recv(x->ch, buf, sizeof buf, WAIT_MS), 0);
    ping(x->ch, 9);
    send_quit(x->ch);
    unlink_child(x, pid);
}

/* The child checks its own view: the peer is the parent (PAIR: the
 * socketpair's creator, which is the parent too). */
static int peer_cred(uipc_channel **ch, struct ctx *x)
{
    pid_t pid = 0;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    unsigned char b[8];
    CK_RC(uipc_recv(*ch, b, sizeof b, WAIT_MS), 1); /* the link is up */
    CK_RC(uipc_send(*ch, "y", 1, WAIT_MS), 1);
    int r = uipc_peer_cred(*ch, &pid, &uid, &gid);
    if (x->c->caps & CAP_CRED) {
        CK_RC(r, 0);
        CK_RC(pid, getppid());
        CK_RC(uid, geteuid());
        CK_RC(gid, getegid());
        CK_RC(uipc_peer_cred(*ch, NULL, NULL, NULL), 0);
    } else {
        CK_RC(r, -ENOTSUP);
    }
    return conf_echo_loop(*ch, "child");
}

/* uipc_peer_cred: the peer's pid/uid/gid where the kernel vouches
 * (unix:), -ENOTSUP elsewhere. */
static void t_peer_cred(struct ctx *x)
{
    new_uri(x);
    pid_t pid = link_fork(x, peer_cred, PARENT_OWNS);
    unsigned char b[8];
    EXPECT_RC(uipc_send(x->ch, "x", 1, WAIT_MS), 1);
    EXPECT_RC(uipc_recv(x->ch, b, sizeof b, WAIT_MS), 1);
    pid_t ppid = 0;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    int r = uipc_peer_cred(x->ch, &ppid, &uid, &gid);
    if (x->c->caps & CAP_CRED) {
        EXPECT_RC(r, 0);
        /* A socketpair reports its creator on both ends: that is us. */
        EXPECT_RC(ppid, x->c->how == PAIR ? getpid() : pid);
        EXPECT_RC(uid, geteuid());
        EXPECT_RC(gid, getegid());
        EXPECT_RC(uipc_peer_cred(x->ch, &ppid, NULL, NULL), 0);
    } else {
        EXPECT_RC(r, -ENOTSUP);
    }
    send_quit(x->ch);
    unlink_child(x, pid);
}

/*
 * Attaching to x->uri must fail because nothing is there: -ENOENT at open
 * for local names; a tcp: open may succeed (the connect finishes later) and
 * then its first operation fails with -ECONNREFUSED, never hangs.
 */
static void expect_missing(struct ctx *x)
{
    uipc_channel *ch = (uipc_channel *)1;
    int r = uipc_open(&ch, x->uri, 0);
    if (x->c->caps & CAP_LOCAL_NAME) {
        EXPECT_RC(r, -ENOENT);
        assert_null(ch);
        return;
    }
    if (r < 0) {
        EXPECT_RC(r, -ECONNREFUSED);
        assert_null(ch);
        return;
    }
    /* The refusal comes back on the first send, or (udp:) on the receive after it. */
    unsigned char b[8];
    ssize_t s = uipc_send(ch, "x", 1, WAIT_MS);
    if (s == 1)
        s = uipc_recv(ch, b, sizeof b, WAIT_MS);
    EXPECT_RC(s, -ECONNREFUSED);
    EXPECT_RC(uipc_close(ch), 0);
}

/* Attaching to a name nobody created; removing one that does not exist. */
static void t_missing(struct ctx *x)
{
    new_uri(x);
    expect_missing(x);
    int r = uipc_unlink(x->uri);
    if (r != -ENOTSUP)
        EXPECT_RC(r, -ENOENT);
}

/*
 * A live rendezvous: a second UIPC_CREATE is -EADDRINUSE, with UIPC_EXCL
 * -EEXIST, uipc_unlink refuses it (or has nothing to remove), and none of
 * these attempts disturbs it: a peer still attaches and talks.  Once the
 * owner closed, the name is gone.
 */
static void t_live(struct ctx *x)
{
    new_uri(x);
    EXPECT_RC(uipc_open(&x->ch, x->uri, UIPC_CREATE), 0);
    uipc_channel *other = (uipc_channel *)1;
    EXPECT_RC(uipc_open(&other, x->uri, UIPC_CREATE), -EADDRINUSE);
    assert_null(other);
    EXPECT_RC(uipc_open(&other, x->uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    int r = uipc_unlink(x->uri);
    if (r != -ENOTSUP && r != -ENOENT)
        EXPECT_RC(r, -EADDRINUSE);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uipc_channel *mine;
        uipc_close(x->ch);
        /* ...and from another process too. */
        if (uipc_open(&mine, x->uri, UIPC_CREATE) != -EADDRINUSE)
            _exit(99);
        if (uipc_open(&mine, x->uri, 0) != 0)
            _exit(100);
        if ((x->c->caps & CAP_CLIENT_FIRST) && conf_client_hello(mine))
            _exit(102);
        int rc = conf_echo_loop(mine, "child");
        _exit(uipc_close(mine) == 0 ? rc : 101);
    }
    add_kid(x, pid);
    if (x->c->caps & CAP_CLIENT_FIRST)
        assert_int_equal(conf_owner_hello(x->ch), 0);
    ping(x->ch, 3);
    send_quit(x->ch);
    reap(x, pid, 0);
    close_ch(&x->ch);
    if (!(x->c->caps & CAP_PERSISTENT))
        expect_missing(x); /* the owner removed it */
}

/* Makes the rendezvous in a child and kills the child: a stale one. */
static int peer_owner_idle(uipc_channel **ch, struct ctx *x)
{
    (void)ch;
    c_hear(x, NULL); /* killed while waiting */
    return 0;
}

static void make_stale(struct ctx *x)
{
    new_uri(x);
    pid_t pid = link_fork(x, peer_owner_idle, CHILD_OWNS);
    close_ch(&x->ch); /* attached and gone again: a peer was there too */
    assert_int_equal(kill(pid, SIGKILL), 0);
    reap(x, pid, 128 + SIGKILL);
}

/*
 * A rendezvous whose owner was SIGKILLed: UIPC_CREATE takes it over and the
 * new one works; or uipc_unlink removes it (for transports with something
 * left to remove) and then nothing is there.
 */
static void t_stale(struct ctx *x)
{
    make_stale(x);
    pid_t pid = link_fork(x, peer_echo, PARENT_OWNS); /* UIPC_CREATE over the stale one */
    ping(x->ch, 4);
    send_quit(x->ch);
    reap(x, pid, 0);
    close_ch(&x->ch);
    if (!(x->c->caps & CAP_PERSISTENT))
        expect_missing(x);

    make_stale(x);
    int r = uipc_unlink(x->uri);
    if (r == 0)
        r = uipc_unlink(x->uri); /* removed: nothing left the second time */
    if (r != -ENOTSUP)
        EXPECT_RC(r, -ENOENT);
    expect_missing(x);
}

/* ------------------------------------------------------------------ */
/* Tests that do not depend on a transport                            */
/* ------------------------------------------------------------------ */

/* Every public channel call refuses NULL where a pointer is required. */
static void t_null_args(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    uipc_channel *a = NULL, *b = NULL, *ch = (uipc_channel *)1;
    uipc_listener *l = (uipc_listener *)1;
    const void *cp;
    void *p;
    unsigned char buf[8];
    uipc_msginfo info = {0, 0};

    EXPECT_RC(uipc_open(NULL, "pipe:", 0), -EINVAL);
    EXPECT_RC(uipc_open(&ch, NULL, 0), -EINVAL);
    assert_null(ch);
    EXPECT_RC(uipc_open(&ch, NULL, UIPC_CREATE), -EINVAL);
    EXPECT_RC(uipc_open(&ch, "unix:@x", 1 << 7), -EINVAL);
    EXPECT_RC(uipc_open(&ch, "unix:@x", UIPC_EXCL), -EINVAL); /* EXCL without CREATE */
    EXPECT_RC(uipc_pair(NULL, &a, &b), -EINVAL);
    EXPECT_RC(uipc_pair("pipe:", NULL, &b), -EINVAL);
    EXPECT_RC(uipc_pair("pipe:", &a, NULL), -EINVAL);
    EXPECT_RC(uipc_unlink(NULL), -EINVAL);
    EXPECT_RC(uipc_send(NULL, "x", 1, 0), -EINVAL);
    EXPECT_RC(uipc_recv(NULL, buf, sizeof buf, 0), -EINVAL);
    EXPECT_RC(uipc_sendmsg(NULL, "x", 1, &info, 0), -EINVAL);
    EXPECT_RC(uipc_recvmsg(NULL, buf, sizeof buf, &info, 0), -EINVAL);
    EXPECT_RC(uipc_close(NULL), -EINVAL);
    assert_null(uipc_scheme(NULL));
    assert_int_equal(uipc_max_msg(NULL), 0);
    EXPECT_RC(uipc_pollfd(NULL), -EINVAL);
    EXPECT_RC(uipc_peer_cred(NULL, NULL, NULL, NULL), -EINVAL);
    EXPECT_RC(uipc_listen(NULL, "unix:@x", 0), -EINVAL);
    EXPECT_RC(uipc_listen(&l, NULL, 0), -EINVAL);
    assert_null(l);
    EXPECT_RC(uipc_accept(NULL, &ch, 0), -EINVAL);
    EXPECT_RC(uipc_listener_close(NULL), -EINVAL);
    EXPECT_RC(uipc_listener_pollfd(NULL), -EINVAL);
    EXPECT_RC(uipc_send_reserve(NULL, &p, 1, 0), -EINVAL);
    EXPECT_RC(uipc_send_commit(NULL, 0), -EINVAL);
    EXPECT_RC(uipc_recv_peek(NULL, &cp, 0), -EINVAL);
    EXPECT_RC(uipc_recv_release(NULL), -EINVAL);
    assert_non_null(uipc_strerror(0));
    assert_non_null(uipc_strerror(-EINVAL));
    assert_non_null(uipc_strerror(EINVAL));
    assert_non_null(uipc_strerror(-123456));
    assert_non_null(uipc_strerror(INT32_MIN));
    assert_string_equal(uipc_version(), UIPC_VERSION_STRING);

    /* On a real channel: NULL buffers with a length, NULL out-pointers. */
    EXPECT_RC(uipc_pair("pipe:", &a, &b), 0);
    EXPECT_RC(uipc_send(a, NULL, 1, 0), -EINVAL);
    EXPECT_RC(uipc_sendmsg(a, NULL, 1, NULL, 0), -EINVAL);
    EXPECT_RC(uipc_send(a, NULL, 0, 0), 0); /* an empty message needs no buffer */
    EXPECT_RC(uipc_recv(b, NULL, 1, 0), -EINVAL);
    EXPECT_RC(uipc_recv(b, NULL, 0, WAIT_MS), 0);
    EXPECT_RC(uipc_send_reserve(a, NULL, 1, 0), -EINVAL);
    EXPECT_RC(uipc_recv_peek(b, NULL, 0), -EINVAL);
    EXPECT_RC(uipc_send_commit(a, 0), -EINVAL);  /* nothing reserved */
    EXPECT_RC(uipc_recv_release(b), -EINVAL);    /* nothing peeked */
    assert_string_equal(uipc_scheme(a), "pipe");
    EXPECT_RC(uipc_close(a), 0);
    EXPECT_RC(uipc_close(b), 0);
    EXPECT_RC(tu_count_fds(), fds);
}

/* The synchronisation calls refuse NULL too. */
static void t_null_args_sync(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    uipc_region *r = (uipc_region *)1;
    uipc_sem *s = (uipc_sem *)1;
    EXPECT_RC(uipc_region_open(NULL, "shm://uipc-conf-null?size=4096", UIPC_CREATE), -EINVAL);
    EXPECT_RC(uipc_region_open(&r, NULL, UIPC_CREATE), -EINVAL);
    assert_null(uipc_region_ptr(NULL));
    assert_int_equal(uipc_region_size(NULL), 0);
    EXPECT_RC(uipc_region_close(NULL), -EINVAL);
    EXPECT_RC(uipc_sem_open(NULL, "uipc-conf-null", 0, UIPC_CREATE), -EINVAL);
    EXPECT_RC(uipc_sem_open(&s, NULL, 0, UIPC_CREATE), -EINVAL);
    EXPECT_RC(uipc_sem_wait(NULL, 0), -EINVAL);
    EXPECT_RC(uipc_sem_post(NULL), -EINVAL);
    EXPECT_RC(uipc_sem_close(NULL), -EINVAL);
    EXPECT_RC(uipc_sem_unlink(NULL), -EINVAL);
    EXPECT_RC(uipc_mutex_init(NULL), -EINVAL);
    EXPECT_RC(uipc_mutex_lock(NULL, 0), -EINVAL);
    EXPECT_RC(uipc_mutex_unlock(NULL), -EINVAL);
    EXPECT_RC(tu_count_fds(), fds);
}

/* ------------------------------------------------------------------ */
/* The matrix                                                          */
/* ------------------------------------------------------------------ */

struct body {
    const char *name;
    void (*fn)(struct ctx *x);
    enum how only;  /* ANY, or the one kind of case it applies to */
    unsigned needs; /* CAP_* that must all hold */
};

static const struct body bodies[] = {
    {"echo", t_echo, ANY, 0},
    {"echo_exec", t_echo_exec, NAMED, 0},
    {"order_1e5", t_order, ANY, CAP_RELIABLE},
    {"fork_rule", t_fork_rule, ANY, 0},
    {"duplex", t_duplex, ANY, CAP_RELIABLE},
    {"timeouts", t_timeouts, ANY, 0},
    {"emsgsize", t_emsgsize, ANY, 0},
    {"epipe", t_epipe, ANY, 0},
    {"sigkill", t_sigkill, ANY, CAP_RELIABLE},
    {"pollfd", t_pollfd, ANY, 0},
    {"zerocopy", t_zerocopy, ANY, 0},
    {"peer_cred", t_peer_cred, ANY, 0},
    {"missing", t_missing, NAMED, 0},
    {"live", t_live, NAMED, CAP_OWNED},
    {"stale", t_stale, NAMED, CAP_OWNED},
};
#define NBODIES (sizeof bodies / sizeof bodies[0])

struct inst {
    const struct body *b;
    struct ctx x;
    char name[96];
};

static int inst_setup(void **state)
{
    struct inst *in = *state;
    const struct conf_case *c = in->x.c;
    memset(&in->x, 0, sizeof in->x);
    in->x.c = c;
    in->x.c2p[0] = in->x.c2p[1] = in->x.p2c[0] = in->x.p2c[1] = -1;
    tu_tmpdir(in->x.dir, sizeof in->x.dir);
    return in->x.dir[0] ? 0 : -1;
}

/* Releases whatever a body left behind (all of it, after a failure). */
static void cleanup(struct ctx *x)
{
    kill_kids(x);
    if (x->ch)
        uipc_close(x->ch);
    if (x->ch2)
        uipc_close(x->ch2);
    x->ch = x->ch2 = NULL;
    close_fd(&x->c2p[0]);
    close_fd(&x->c2p[1]);
    close_fd(&x->p2c[0]);
    close_fd(&x->p2c[1]);
}

static int inst_teardown(void **state)
{
    struct inst *in = *state;
    cleanup(&in->x);
    /* Names outside the directory (shm, mq, System V keys) left by owners
     * that were killed, or by a failure. */
    if (in->x.c->how == NAMED)
        for (int i = 0; i < in->x.nused; i++)
            uipc_unlink(in->x.used[i]);
    if (in->x.dir[0])
        tu_rmdir_all(in->x.dir);
    return 0;
}

/* Lists this process's descriptors (to say which one leaked). */
static void print_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], target[256] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0)
            target[n] = '\0';
        print_message("      fd %s -> %s\n", e->d_name, target);
    }
    if (d)
        closedir(d);
}

static void run_inst(void **state)
{
    struct inst *in = *state;
    int before = tu_count_fds();
    in->b->fn(&in->x);
    cleanup(&in->x);
    int after = tu_count_fds();
    if (after != before) {
        print_fds();
        fail_msg("%d descriptors before the test, %d after", before, after);
    }
}

/* Remembers the descriptors a peer program may legitimately inherit. */
static void note_inherited_fds(void)
{
    size_t o = 0;
    for (int fd = 3; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC) && o + 12 < sizeof inherited_fds)
            o += (size_t)snprintf(inherited_fds + o, sizeof inherited_fds - o, "%s%d",
                                  o ? "," : "", fd);
    }
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : getenv("UIPC_CONF_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    note_inherited_fds();
    for (size_t c = 0; c < NCASES; c++) {
        char scheme[16];
        snprintf(scheme, sizeof scheme, "%.*s", (int)strcspn(cases[c].uri, ":"), cases[c].uri);
        const struct uipc_transport *tp = uipc__transport_find(scheme);
        if (!tp) {
            fprintf(stderr, "case %s: no transport %s\n", cases[c].name, scheme);
            return 2;
        }
        cases[c].caps = tp->caps & (cases[c].how == PAIR ? ~(unsigned)UIPC__CAP_NAMED_ONLY : ~0u);
    }
    for (size_t c = 0; c < NCASES; c++)
        if ((cases[c].caps & CAP_N_PARTY) && (cases[c].caps & (CAP_PEER_EOF | CAP_SEND_EPIPE))) {
            fprintf(stderr, "case %s: an N-party transport has no one peer to lose\n",
                    cases[c].name);
            return 2;
        }

    int failed = 0;
    static struct inst insts[NCASES][NBODIES];
    static struct CMUnitTest tests[NBODIES];
    for (size_t c = 0; c < NCASES; c++) {
        size_t n = 0;
        for (size_t b = 0; b < NBODIES; b++) {
            const struct body *bd = &bodies[b];
            if ((bd->only != ANY && bd->only != cases[c].how) ||
                (cases[c].caps & bd->needs) != bd->needs)
                continue;
            struct inst *in = &insts[c][b];
            in->b = bd;
            in->x.c = &cases[c];
            snprintf(in->name, sizeof in->name, "%s/%s", cases[c].name, bd->name);
            tests[n++] = (struct CMUnitTest){in->name, run_inst, inst_setup, inst_teardown, in};
        }
        char group[64];
        snprintf(group, sizeof group, "conformance/%s", cases[c].name);
        failed += _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    }

    /* Last: a sanitizer abort here must not hide the transports' results. */
    const struct CMUnitTest api[] = {
        cmocka_unit_test(t_null_args),
        cmocka_unit_test(t_null_args_sync),
    };
    failed += cmocka_run_group_tests_name("conformance/api", api, NULL, NULL);
    return failed ? 1 : 0;
}
