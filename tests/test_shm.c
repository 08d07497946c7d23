/* SPDX-License-Identifier: MIT */
/*
 * shm: and mmap: across real processes: streams of messages both ways
 * (spinning and futex-only, UIPC_STRESS_MSGS each, default 10^6), fork
 * with uipc_pair, peers SIGKILLed at random points (no hang, no torn
 * message, the name can be created again), a third process scribbling
 * over the mapping, uipc_pollfd under epoll level- and edge-triggered,
 * zero-copy, names, sizes and every kind of bad input, and mmap:
 * persistence.  The ring's internals are tests/test_ring.c.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring.h"
#include "wait.h"
#include "testutil.h"
#include "uipc/uipc.h"

struct fx {
    char name[64];
    char shm_path[96];
    char dir[64];
    char ring_path[128];
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    tu_name(f->name, sizeof f->name, "uipc-tshm-");
    snprintf(f->shm_path, sizeof f->shm_path, "/dev/shm/%s", f->name);
    tu_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->ring_path, sizeof f->ring_path, "%s/q.ring", f->dir);
    f->fds = tu_count_fds();
    *state = f;
    alarm(120); /* a hang fails the test instead of the whole CI job */
    return f->dir[0] ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    alarm(0);
    unlink(f->shm_path);
    tu_rmdir_all(f->dir);
    free(f);
    return 0;
}

static const char *uri_of(char *buf, size_t cap, const char *scheme_and_name, const char *query)
{
    snprintf(buf, cap, "%s%s", scheme_and_name, query ? query : "");
    return buf;
}

/* The URIs live in a small rotation of buffers: a test keeps a few at once. */
static char *uri_buf(void)
{
    static char bufs[8][256];
    static unsigned next;
    return bufs[next++ % 8];
}

static const char *shm_uri(struct fx *f, const char *query)
{
    char base[128];
    snprintf(base, sizeof base, "shm://%s", f->name);
    return uri_of(uri_buf(), 256, base, query);
}

static const char *mmap_uri(struct fx *f, const char *query)
{
    char base[192];
    snprintf(base, sizeof base, "mmap://%s", f->ring_path);
    return uri_of(uri_buf(), 256, base, query);
}

/*
 * fork() for the tests: the child gets the default action for the signals
 * cmocka catches (a crash in a child must end the child, not resume the
 * suite inside it) and an alarm, so that it never outlives a failed test.
 */
static pid_t fork_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        alarm(60);
    }
    return pid;
}

static void check_fds(struct fx *f)
{
    assert_int_equal(tu_count_fds(), f->fds);
}

/* ---- messages that carry their sequence number and check themselves ---- */

static void msg_make(unsigned char *buf, size_t len, uint64_t seq)
{
    memcpy(buf, &seq, sizeof seq);
    tu_fill(buf + 8, len - 8, seq);
}

/* 0 if buf holds message seq, whole. */
static int msg_check(const unsigned char *buf, ssize_t len, uint64_t seq)
{
    uint64_t got;
    if (len < 8)
        return -1;
    memcpy(&got, buf, 8);
    return got == seq && tu_check(buf + 8, (size_t)len - 8, seq) == 0 ? 0 : -1;
}

static void sync_post(int fd)
{
    char c = 1;
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static int sync_wait(int fd)
{
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

/* ---- stress: 10^6 messages each way (UIPC_STRESS_MSGS) ---- */

static uint64_t stress_msgs(void)
{
    const char *e = getenv("UIPC_STRESS_MSGS");
    uint64_t n = e ? strtoull(e, NULL, 10) : 0;
    return n ? n : 1000000;
}

static size_t stress_len(uint64_t i)
{
    return 8 + (size_t)(i * 7 % 57);
}

static int stream_send(uipc_channel *ch, uint64_t n)
{
    unsigned char buf[128];
    for (uint64_t i = 0; i < n; i++) {
        size_t len = stress_len(i);
        msg_make(buf, len, i);
        if (uipc_send(ch, buf, len, 20000) != (ssize_t)len)
            return 10;
    }
    return 0;
}

static int stream_recv(uipc_channel *ch, uint64_t n)
{
    unsigned char buf[128];
    for (uint64_t i = 0; i < n; i++) {
        ssize_t r = uipc_recv(ch, buf, sizeof buf, 20000);
        if (r != (ssize_t)stress_len(i) || msg_check(buf, r, i) != 0)
            return 20;
    }
    return 0;
}

static void stress(struct fx *f, const char *query, bool named)
{
    uipc_channel *a, *b = NULL;
    uint64_t n = stress_msgs();
    char pair_uri[128];
    if (named)
        assert_int_equal(uipc_open(&a, shm_uri(f, query), UIPC_CREATE), 0);
    else
        assert_int_equal(uipc_pair(uri_of(pair_uri, sizeof pair_uri, "shm:", query), &a, &b), 0);
    const char *attach = named ? shm_uri(f, query) : NULL;
    int64_t t0 = uipc__now_ns();
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        int r = 0;
        if (named)
            r = uipc_open(&b, attach, 0) == 0 ? 0 : 30;
        else
            uipc_close(a);
        if (r == 0)
            r = stream_recv(b, n);
        if (r == 0)
            r = stream_send(b, n);
        uipc_close(b);
        _exit(r);
    }
    if (!named)
        uipc_close(b);
    assert_int_equal(stream_send(a, n), 0);
    int64_t t1 = uipc__now_ns();
    assert_int_equal(stream_recv(a, n), 0);
    int64_t t2 = uipc__now_ns();
    assert_int_equal(tu_wait(pid), 0);
    char buf[8];
    assert_int_equal(uipc_recv(a, buf, sizeof buf, -1), -EPIPE);
    assert_int_equal(uipc_close(a), 0);
    print_message("        shm:%s %s: %llu msgs each way, %.2f M msg/s out, %.2f M msg/s back\n",
                  query, named ? "named" : "pair", (unsigned long long)n,
                  (double)n / (double)(t1 - t0) * 1e3, (double)n / (double)(t2 - t1) * 1e3);
    check_fds(f);
}

static void test_stress_pair_spin(void **state)
{
    stress(*state, "?size=64K", false);
}

static void test_stress_pair_futex_only(void **state)
{
    stress(*state, "?size=64K&spin=0", false);
}

static void test_stress_named_futex_only(void **state)
{
    stress(*state, "?size=4K&spin=0", true);
}

/* ---- fork with uipc_pair ---- */

/* Each process closes the end it does not use, the parent at once, before
 * the child touched anything: neither close disturbs the other side. */
static void test_fork_pair(void **state)
{
    struct fx *f = *state;
    uipc_channel *a, *b;
    char buf[16];
    assert_int_equal(uipc_pair("shm:", &a, &b), 0);
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        uipc_close(a);
        int r = uipc_recv(b, buf, sizeof buf, 10000) == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : 1;
        if (r == 0 && uipc_send(b, "pong", 4, 10000) != 4)
            r = 2;
        if (r == 0 && uipc_recv(b, buf, sizeof buf, 10000) != 3)
            r = 3;
        uipc_close(b);
        _exit(r);
    }
    uipc_close(b);
    usleep(50 * 1000); /* the child has closed its copy of a by now */
    assert_int_equal(uipc_send(a, "ping", 4, 1000), 4);
    assert_int_equal(uipc_recv(a, buf, sizeof buf, 10000), 4);
    assert_memory_equal(buf, "pong", 4);
    assert_int_equal(uipc_send(a, "bye", 3, 1000), 3);
    /* The child's close reaches us at once, after its messages. */
    assert_int_equal(uipc_recv(a, buf, sizeof buf, -1), -EPIPE);
    assert_int_equal(uipc_send(a, "x", 1, 0), -EPIPE);
    assert_int_equal(tu_wait(pid), 0);
    uipc_close(a);
    check_fds(f);
}

/* A child that exits without closing: its death is noticed by a receiver
 * blocked forever and by a sender blocked on a full ring. */
static void test_fork_pair_death(void **state)
{
    struct fx *f = *state;
    for (int sender = 0; sender < 2; sender++) {
        uipc_channel *a, *b;
        static char big[1000];
        assert_int_equal(uipc_pair("shm:?size=4K&maxmsg=1000&spin=0", &a, &b), 0);
        pid_t pid = fork_child();
        assert_true(pid >= 0);
        if (pid == 0) {
            uipc_close(a);
            uipc_send(b, "last", 4, 0);
            usleep(100 * 1000);
            _exit(0); /* no close */
        }
        uipc_close(b);
        if (sender) {
            ssize_t r;
            while ((r = uipc_send(a, big, sizeof big, -1)) == (ssize_t)sizeof big)
                ;
            assert_int_equal(r, -EPIPE);
        } else {
            char buf[8];
            assert_int_equal(uipc_recv(a, buf, sizeof buf, -1), 4);
            assert_int_equal(uipc_recv(a, buf, sizeof buf, -1), -EPIPE);
        }
        assert_int_equal(tu_wait(pid), 0);
        uipc_close(a);
    }
    check_fds(f);
}

/* ---- peers SIGKILLed at random points ---- */

/* Streams messages of 8..3000 bytes forever, some through zero-copy. */
static int stream_forever(uipc_channel *ch, unsigned seed)
{
    unsigned char buf[3000];
    srand(seed);
    for (uint64_t seq = 0;; seq++) {
        size_t len = 8 + (size_t)(rand() % 2993);
        if (seq % 3 == 0) {
            void *w;
            if (uipc_send_reserve(ch, &w, len, -1) < 0)
                return 1;
            /* Half written, then the rest: a kill in between must not show. */
            msg_make(buf, len, seq);
            memcpy(w, buf, len / 2);
            memcpy((char *)w + len / 2, buf + len / 2, len - len / 2);
            if (uipc_send_commit(ch, len) < 0)
                return 2;
        } else {
            msg_make(buf, len, seq);
            if (uipc_send(ch, buf, len, -1) != (ssize_t)len)
                return 3;
        }
    }
}

/* Receives until -EPIPE: every message whole and in order. */
static uint64_t drain_until_epipe(uipc_channel *ch)
{
    unsigned char buf[3000];
    uint64_t seq = 0;
    for (;;) {
        ssize_t r = uipc_recv(ch, buf, sizeof buf, -1);
        if (r == -EPIPE)
            return seq;
        if (r < 0)
            fail_msg("recv: %s", uipc_strerror((int)r));
        if (msg_check(buf, r, seq) != 0)
            fail_msg("message %llu torn or out of order", (unsigned long long)seq);
        seq++;
    }
}

static void test_fault_kill(void **state)
{
    struct fx *f = *state;
    const char *uri = shm_uri(f, "?size=16K&maxmsg=3000");
    struct stat st;
    srand((unsigned)getpid());
    for (int i = 0; i < 50; i++) {
        uipc_channel *ch;
        unsigned delay_us = (unsigned)(rand() % 4000);
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        bool child_owns = i % 2;
        if (!child_owns) /* takes over what the previous round's dead owner left */
            assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
        pid_t pid = fork_child();
        assert_true(pid >= 0);
        if (pid == 0) {
            uipc_channel *peer;
            close(ready[0]);
            if (uipc_open(&peer, uri, child_owns ? UIPC_CREATE : 0) < 0)
                _exit(9);
            sync_post(ready[1]);
            _exit(stream_forever(peer, (unsigned)i));
        }
        close(ready[1]);
        assert_int_equal(sync_wait(ready[0]), 0);
        close(ready[0]);
        if (child_owns)
            assert_int_equal(uipc_open(&ch, uri, 0), 0);
        usleep(delay_us);
        kill(pid, SIGKILL);
        uint64_t got = drain_until_epipe(ch);
        assert_int_equal(tu_wait(pid), 128 + SIGKILL);
        assert_int_equal(uipc_close(ch), 0);
        if (child_owns) {
            /* The dead owner's name is there, stale: it can be created again. */
            assert_int_equal(stat(f->shm_path, &st), 0);
            assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
            assert_int_equal(uipc_close(ch), 0);
        }
        assert_int_equal(stat(f->shm_path, &st), -1);
        (void)got;
    }
    check_fds(f);
}

/* ---- a hostile third process ---- */

static int scribble(const char *path, unsigned seed, int ms)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return 1;
    unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return 2;
    srand(seed);
    int64_t end = uipc__now_ns() + (int64_t)ms * 1000000;
    while (uipc__now_ns() < end) {
        size_t off = rand() % 2 ? (size_t)rand() % 4096 : (size_t)rand() % (size_t)st.st_size;
        if (rand() % 4 == 0) /* a plausible index: aligned, near the truth */
            m[off & ~(size_t)7] ^= (unsigned char)(8 << (rand() % 4));
        else
            m[off] = (unsigned char)rand();
        usleep((useconds_t)(rand() % 300));
    }
    return 0;
}

static void expect_sane(ssize_t r, size_t max)
{
    if (r >= 0) {
        assert_true((size_t)r <= max);
        return;
    }
    if (r != -EBADMSG && r != -EPROTO && r != -EPIPE && r != -ETIMEDOUT && r != -EAGAIN &&
        r != -EMSGSIZE)
        fail_msg("unexpected %s", uipc_strerror((int)r));
}

static void test_hostile_scribble(void **state)
{
    struct fx *f = *state;
    const char *uri = shm_uri(f, "?size=16K&maxmsg=2000");
    int corrupt_seen = 0;
    for (unsigned round = 0; round < 6; round++) {
        uipc_channel *ch;
        assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
        pid_t writer = fork_child();
        assert_true(writer >= 0);
        if (writer == 0) {
            uipc_channel *peer;
            if (uipc_open(&peer, uri, 0) < 0)
                _exit(1);
            unsigned char buf[2000], in[2000];
            for (uint64_t seq = 0;; seq++) {
                size_t len = 8 + seq % 1900;
                msg_make(buf, len, seq);
                ssize_t r = uipc_send(peer, buf, len, 50);
                ssize_t r2 = uipc_recv(peer, in, sizeof in, 0);
                if (r == -EBADMSG || r == -EPROTO || r == -EPIPE || r2 == -EBADMSG ||
                    r2 == -EPIPE)
                    break;
            }
            uipc_close(peer);
            _exit(0);
        }
        usleep(20 * 1000);
        pid_t vandal = fork_child();
        assert_true(vandal >= 0);
        if (vandal == 0)
            _exit(scribble(f->shm_path, round, 300));
        int64_t end = uipc__now_ns() + 400 * 1000000LL;
        unsigned char buf[2000];
        while (uipc__now_ns() < end) {
            const void *p;
            expect_sane(uipc_recv(ch, buf, round % 2 ? sizeof buf : 100, 20), 2000);
            expect_sane(uipc_send(ch, buf, 100, 0), 100);
            ssize_t n = uipc_recv_peek(ch, &p, 0);
            expect_sane(n, 2000);
            if (n >= 0)
                assert_int_equal(uipc_recv_release(ch), 0);
            if (n == -EBADMSG || n == -EPROTO) {
                corrupt_seen++;
                /* Sticky from now on: confirm once more and move on. */
                assert_int_equal(uipc_recv_peek(ch, &p, 0), n);
                break;
            }
        }
        assert_int_equal(tu_wait(vandal), 0);
        kill(writer, SIGKILL);
        tu_wait(writer);
        assert_int_equal(uipc_close(ch), 0);
    }
    print_message("        corruption reported in %d calls\n", corrupt_seen);
    check_fds(f);
}

/* Precise corruptions from another process, each reported as -EBADMSG. */
static void test_hostile_fields(void **state)
{
    struct fx *f = *state;
    enum { RING1 = UIPC__RING_HDR_SIZE + 16384 }; /* data of side 1's ring */
    enum expect { GOT_IT, BAD_RECV, BAD_SEND, NOTHING };
    static const struct {
        size_t off;
        uint64_t val;
        int bytes;
        enum expect expect;
    } cases[] = {
        {0, 0, 0, GOT_IT},                        /* control: no corruption */
        {RING1, 7, 8, BAD_RECV},                  /* commit word: unknown tag */
        {RING1, UIPC__REC_SKIP, 8, BAD_RECV},     /* a skip record at offset 0 */
        {RING1 + 8, 1u << 30, 4, BAD_RECV},       /* record length */
        {RING1 + 8, 16384, 4, BAD_RECV},          /* length past the end */
        {RING1, 16 | UIPC__REC_DATA, 8, NOTHING}, /* names another position */
        {offsetof(struct uipc__ring_hdr, ctl[0].tail), 8, 8, BAD_SEND},   /* unaligned tail */
        {offsetof(struct uipc__ring_hdr, ctl[0].tail), 1u << 20, 8, BAD_SEND}, /* tail ahead */
        {offsetof(struct uipc__ring_hdr, side[1].state), 3, 4, BAD_SEND}, /* peer state */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t off = cases[i].off;
        uint64_t val = cases[i].val;
        int bytes = cases[i].bytes;
        enum expect expect = cases[i].expect;
        uipc_channel *ch;
        char buf[64];
        assert_int_equal(uipc_open(&ch, shm_uri(f, "?size=16K"), UIPC_CREATE), 0);
        /* A corrupt tail is read by a send, and a send to a peer known dead
         * is -EPIPE before it reads anything: for BAD_SEND the vandal stays
         * alive (it says so on this pipe) until the sends are done. */
        int vandal_done[2];
        assert_int_equal(pipe(vandal_done), 0);
        pid_t pid = fork_child();
        assert_true(pid >= 0);
        if (pid == 0) {
            uipc_channel *peer;
            if (uipc_open(&peer, shm_uri(f, NULL), 0) < 0 || uipc_send(peer, "hello", 5, 0) != 5)
                _exit(1);
            if (bytes) {
                int fd = open(f->shm_path, O_RDWR);
                if (fd < 0 || pwrite(fd, &val, (size_t)bytes, (off_t)off) != bytes)
                    _exit(2);
                close(fd);
            }
            if (expect == BAD_SEND && write(vandal_done[1], "", 1) == 1)
                pause();
            _exit(0); /* without closing: the peer is dead from here on */
        }
        close(vandal_done[1]);
        if (expect == BAD_SEND) {
            char c;
            assert_int_equal(read(vandal_done[0], &c, 1), 1);
        } else {
            assert_int_equal(tu_wait(pid), 0);
        }
        close(vandal_done[0]);
        /* Fill our own ring so that a send must read the (corrupt) tail. */
        ssize_t r;
        while ((r = uipc_send(ch, buf, sizeof buf, 0)) == (ssize_t)sizeof buf)
            ;
        ssize_t got = uipc_recv(ch, buf, sizeof buf, 0);
        switch (expect) {
        case GOT_IT:
            assert_int_equal(got, 5);
            assert_int_equal(r, -EPIPE); /* the peer is gone: full, then EPIPE */
            break;
        case NOTHING: /* as if the peer had sent nothing before it died */
            assert_int_equal(got, -EPIPE);
            break;
        case BAD_SEND:
            assert_int_equal(r, -EBADMSG);
            kill(pid, SIGKILL);
            tu_wait(pid);
            break;
        case BAD_RECV:
            if (got != -EBADMSG)
                fail_msg("case %zu: %s", i, uipc_strerror((int)got));
            assert_int_equal(uipc_recv(ch, buf, sizeof buf, 0), -EBADMSG); /* sticky */
            break;
        }
        assert_int_equal(uipc_close(ch), 0);
    }
    check_fds(f);
}

/* ---- uipc_pollfd under epoll ---- */

static int poll_sender(uipc_channel *ch, int k)
{
    unsigned char buf[64];
    srand(3);
    for (int i = 0; i < k; i++) {
        msg_make(buf, 16, (uint64_t)i);
        if (uipc_send(ch, buf, 16, 10000) != 16)
            return 1;
        int pause = rand() % 10;
        if (pause < 3) /* a mix of bursts and gaps that let the receiver park */
            usleep((useconds_t)(rand() % 300));
    }
    usleep(20 * 1000);
    return 0;
}

static void poll_run(struct fx *f, bool named, bool edge)
{
    enum { K = 3000 };
    uipc_channel *a, *b = NULL;
    const char *uri = shm_uri(f, "?size=4K&spin=0");
    if (named)
        assert_int_equal(uipc_open(&a, uri, UIPC_CREATE), 0);
    else
        assert_int_equal(uipc_pair("shm:?size=4K&spin=0", &a, &b), 0);
    /* Created before the peer even exists: its arrival must not be lost. */
    int pfd = uipc_pollfd(a);
    assert_true(pfd >= 0);
    assert_int_equal(uipc_pollfd(a), pfd);
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (named && uipc_open(&b, uri, 0) < 0)
            _exit(9);
        if (!named)
            uipc_close(a);
        int r = poll_sender(b, K);
        uipc_close(b);
        _exit(r);
    }
    if (!named)
        uipc_close(b);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | (edge ? EPOLLET : 0)};
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &ev), 0);
    int got = 0, wakeups = 0, spurious = 0;
    unsigned char buf[64];
    for (bool done = false; !done;) {
        int n = epoll_wait(ep, &ev, 1, 5000);
        if (n != 1)
            fail_msg("missed wake-up: %d of %d messages, epoll_wait %d", got, K, n);
        wakeups++;
        /* Level-triggered: take one message per wake-up and rely on the
         * descriptor staying readable.  Edge-triggered: drain to EAGAIN. */
        int per_wakeup = edge ? K + 1 : 1, took = 0;
        for (int j = 0; j < per_wakeup; j++) {
            ssize_t r = uipc_recv(a, buf, sizeof buf, 0);
            if (r == -EAGAIN)
                break;
            if (r == -EPIPE) {
                done = true;
                break;
            }
            assert_int_equal(r, 16);
            assert_int_equal(msg_check(buf, r, (uint64_t)got), 0);
            got++;
            took++;
        }
        if (!took && !done)
            spurious++;
    }
    assert_int_equal(got, K);
    assert_int_equal(tu_wait(pid), 0);
    close(ep);
    uipc_close(a);
    print_message("        %s %s: %d messages, %d wake-ups (%d without a message)\n",
                  named ? "named" : "pair", edge ? "EPOLLET" : "level", K, wakeups, spurious);
    check_fds(f);
}

static void test_pollfd_pair_level(void **state)
{
    poll_run(*state, false, false);
}

static void test_pollfd_pair_edge(void **state)
{
    poll_run(*state, false, true);
}

static void test_pollfd_named_level(void **state)
{
    poll_run(*state, true, false);
}

static void test_pollfd_named_edge(void **state)
{
    poll_run(*state, true, true);
}

static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

/* Level semantics exactly: readable with a message queued before the
 * descriptor existed, quiet once drained, readable when the peer dies. */
static void test_pollfd_states(void **state)
{
    struct fx *f = *state;
    for (int named = 0; named < 2; named++) {
        uipc_channel *a, *b = NULL;
        char buf[16];
        if (named)
            assert_int_equal(uipc_open(&a, shm_uri(f, NULL), UIPC_CREATE), 0);
        int go[2];
        assert_int_equal(pipe(go), 0);
        if (!named)
            assert_int_equal(uipc_pair("shm:", &a, &b), 0);
        pid_t pid = fork_child();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(go[1]);
            if (named && uipc_open(&b, shm_uri(f, NULL), 0) < 0)
                _exit(1);
            if (!named)
                uipc_close(a);
            if (uipc_send(b, "zero", 4, 0) != 4 || uipc_send(b, "one", 3, 0) != 3 ||
                uipc_send(b, "two", 3, 0) != 3)
                _exit(2);
            sync_wait(go[0]);
            pause();
            _exit(0);
        }
        close(go[0]);
        if (!named)
            uipc_close(b);
        assert_int_equal(uipc_recv(a, buf, sizeof buf, 5000), 4);
        usleep(10 * 1000); /* the next two are queued by now */
        int pfd = uipc_pollfd(a);
        assert_true(readable(pfd, 0));
        assert_int_equal(uipc_recv(a, buf, sizeof buf, 0), 3);
        assert_true(readable(pfd, 0)); /* still one waiting */
        assert_int_equal(uipc_recv(a, buf, sizeof buf, 0), 3);
        /* Readable or not here (spurious is allowed) until recv says EAGAIN. */
        assert_int_equal(uipc_recv(a, buf, sizeof buf, 0), -EAGAIN);
        assert_false(readable(pfd, 0));
        sync_post(go[1]);
        kill(pid, SIGKILL);
        assert_int_equal(tu_wait(pid), 128 + SIGKILL);
        assert_true(readable(pfd, 5000)); /* death wakes the poller */
        assert_int_equal(uipc_recv(a, buf, sizeof buf, 0), -EPIPE);
        close(go[1]);
        uipc_close(a);
    }
    check_fds(f);
}

/* ---- zero-copy ---- */

static void test_zero_copy(void **state)
{
    struct fx *f = *state;
    uipc_channel *a, *b;
    int reserved[2], checked[2];
    assert_int_equal(pipe(reserved), 0);
    assert_int_equal(pipe(checked), 0);
    assert_int_equal(uipc_pair("shm:?size=8K", &a, &b), 0);
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        void *w;
        char ack[4];
        uipc_close(a);
        if (uipc_send_reserve(b, &w, 1000, 1000) < 0)
            _exit(1);
        msg_make(w, 500, 42);
        sync_post(reserved[1]);
        sync_wait(checked[0]);
        if (uipc_send_commit(b, 500) < 0)
            _exit(2);
        _exit(uipc_recv(b, ack, sizeof ack, 10000) == 3 ? 0 : 3);
    }
    uipc_close(b);
    const void *p, *p2;
    void *w;
    char buf[600];
    assert_int_equal(sync_wait(reserved[0]), 0);
    /* Written into the ring but not committed: invisible. */
    assert_int_equal(uipc_recv_peek(a, &p, 0), -EAGAIN);
    assert_int_equal(uipc_recv(a, buf, sizeof buf, 0), -EAGAIN);
    sync_post(checked[1]);
    assert_int_equal(uipc_recv_peek(a, &p, 10000), 500);
    assert_int_equal(msg_check(p, 500, 42), 0);
    assert_int_equal(uipc_recv_peek(a, &p2, 0), 500);
    assert_ptr_equal(p, p2);
    assert_int_equal(uipc_recv(a, buf, sizeof buf, 0), -EBUSY);
    assert_int_equal(uipc_recv_release(a), 0);
    assert_int_equal(uipc_recv_release(a), -EINVAL);
    /* The sending half, and its errors. */
    assert_int_equal(uipc_send_commit(a, 0), -EINVAL);
    assert_int_equal(uipc_send_reserve(a, &w, 4097, 0), -EMSGSIZE);
    void *w2;
    assert_int_equal(uipc_send_reserve(a, &w, 10, 0), 0);
    assert_int_equal(uipc_send_reserve(a, &w2, 10, 0), -EBUSY);
    assert_int_equal(uipc_send(a, "x", 1, 0), -EBUSY);
    assert_int_equal(uipc_send_commit(a, 11), -EINVAL);
    memcpy(w, "ack", 3);
    assert_int_equal(uipc_send_commit(a, 3), 0);
    assert_int_equal(tu_wait(pid), 0);
    uipc_close(a);
    close(reserved[0]);
    close(reserved[1]);
    close(checked[0]);
    close(checked[1]);
    check_fds(f);
}

/* ---- names, ownership, bad input ---- */

static void test_named_lifecycle(void **state)
{
    struct fx *f = *state;
    const char *uri = shm_uri(f, NULL);
    uipc_channel *own, *peer, *third, *again;
    struct stat st;
    char buf[8];
    assert_int_equal(uipc_open(&own, uri, 0), -ENOENT);
    assert_int_equal(uipc_unlink(uri), -ENOENT);
    assert_int_equal(uipc_open(&own, shm_uri(f, "?mode=0640"), UIPC_CREATE), 0);
    assert_int_equal(stat(f->shm_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_string_equal(uipc_scheme(own), "shm");
    assert_int_equal(uipc_max_msg(own), 512 * 1024);
    /* Sending before the peer exists is buffered in the ring. */
    assert_int_equal(uipc_send(own, "early", 5, 0), 5);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), -EAGAIN);
    assert_int_equal(uipc_open(&again, uri, UIPC_CREATE), -EADDRINUSE);
    assert_int_equal(uipc_open(&again, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    /* Attaching checks the sizes it was given. */
    assert_int_equal(uipc_open(&peer, shm_uri(f, "?size=2M"), 0), -EINVAL);
    assert_int_equal(uipc_open(&peer, shm_uri(f, "?size=1M&maxmsg=512K&spin=0"), 0), 0);
    assert_int_equal(uipc_open(&third, uri, 0), -EBUSY);
    assert_int_equal(uipc_recv(peer, buf, sizeof buf, 0), 5);
    assert_int_equal(uipc_close(peer), 0);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), -EPIPE);
    /* A shm: channel connects once. */
    assert_int_equal(uipc_open(&third, uri, 0), -EBUSY);
    assert_int_equal(uipc_close(own), 0);
    assert_int_equal(stat(f->shm_path, &st), -1);

    /* A stale name (owner gone, never closed) is removed by uipc_unlink. */
    pid_t pid = fork_child();
    if (pid == 0)
        _exit(uipc_open(&own, uri, UIPC_CREATE) == 0 ? 0 : 1);
    assert_int_equal(tu_wait(pid), 0);
    assert_int_equal(stat(f->shm_path, &st), 0);
    assert_int_equal(uipc_unlink(uri), 0);
    assert_int_equal(stat(f->shm_path, &st), -1);
    check_fds(f);
}

static void test_foreign_objects(void **state)
{
    struct fx *f = *state;
    const char *uri = shm_uri(f, NULL);
    uipc_channel *ch;
    struct stat st;
    /* Not a ring: attach refuses, create does not replace it. */
    int fd = open(f->shm_path, O_CREAT | O_EXCL | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 100000), 0);
    close(fd);
    assert_int_equal(uipc_open(&ch, uri, 0), -EBADMSG);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EEXIST);
    assert_int_equal(uipc_unlink(uri), -EBADMSG);
    assert_int_equal(stat(f->shm_path, &st), 0);
    assert_int_equal(st.st_size, 100000);
    unlink(f->shm_path);
    /* A ring of another layout version. */
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
    fd = open(f->shm_path, O_RDWR);
    uint32_t v = 99;
    assert_int_equal(pwrite(fd, &v, 4, offsetof(struct uipc__ring_hdr, version)), 4);
    close(fd);
    uipc_channel *peer;
    assert_int_equal(uipc_open(&peer, uri, 0), -EPROTO);
    uipc_close(ch);
    /* A symbolic link planted at the name is never followed. */
    char target[128];
    snprintf(target, sizeof target, "%s/victim", f->dir);
    fd = open(target, O_CREAT | O_RDWR, 0600);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    assert_int_equal(symlink(target, f->shm_path), 0);
    assert_int_equal(uipc_open(&ch, uri, 0), -ELOOP);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    int r = uipc_open(&ch, uri, UIPC_CREATE);
    assert_true(r == -ELOOP || r == -EEXIST);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 4);
    unlink(f->shm_path);
    check_fds(f);
}

static void test_bad_uris(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "shm:", "shm://", "shm:///x", "shm://a/b", "shm://..", "shm://.", "shm://.hidden",
        "shm://a..b", "shm://x?size=1K", "shm://x?size=0", "shm://x?size=2G", "shm://x?size=abc",
        "shm://x?size=4K&maxmsg=4K", "shm://x?maxmsg=0", "shm://x?spin=-1",
        "shm://x?spin=2000000", "shm://x?mode=9", "shm://x?mode=01777", "shm://x?color=red",
        "shm://x?size=4K&size=8K", "mmap://", "mmap:///", "mmap://host/x", "mmap:///tmp/",
        "mmap:///tmp/x?size=1K",
    };
    char longname[300];
    memset(longname, 'n', sizeof longname);
    memcpy(longname, "shm://", 6);
    longname[6 + 201] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uipc_channel *ch;
        int r = uipc_open(&ch, bad[i], UIPC_CREATE);
        if (r != -EINVAL)
            fail_msg("%s: %s", bad[i], uipc_strerror(r));
        assert_null(ch);
    }
    uipc_channel *ch, *ch2;
    assert_int_equal(uipc_open(&ch, longname, UIPC_CREATE), -EINVAL);
    longname[6 + 200] = '\0'; /* 200 is the limit */
    assert_int_equal(uipc_open(&ch, longname, UIPC_CREATE), 0);
    uipc_close(ch);
    assert_int_equal(uipc_pair("shm://named", &ch, &ch2), -EINVAL);
    assert_int_equal(uipc_pair("shm:?mode=0600", &ch, &ch2), -EINVAL);
    assert_int_equal(uipc_pair("shm:?size=1K", &ch, &ch2), -EINVAL);
    assert_int_equal(uipc_pair("mmap:", &ch, &ch2), -ENOTSUP);
    assert_int_equal(uipc_open(&ch, "mmap:///nonexistent-dir-uipc/q", UIPC_CREATE), -ENOENT);
    /* The largest message and one byte more. */
    assert_int_equal(uipc_pair("shm:?size=4K&maxmsg=4080", &ch, &ch2), 0);
    static char big[4081];
    assert_int_equal(uipc_max_msg(ch), 4080);
    assert_int_equal(uipc_send(ch, big, 4081, 0), -EMSGSIZE);
    assert_int_equal(uipc_send(ch, big, 4080, 0), 4080);
    assert_int_equal(uipc_send(ch, big, 0, 0), -EAGAIN); /* full: not even a header fits */
    assert_int_equal(uipc_recv(ch2, big, sizeof big, 0), 4080);
    assert_int_equal(uipc_send(ch, big, 0, 0), 0);
    assert_int_equal(uipc_recv(ch2, big, sizeof big, 0), 0);
    uipc_close(ch);
    uipc_close(ch2);
    check_fds(f);
}

/* ---- mmap: persistence ---- */

static void test_mmap_persistence(void **state)
{
    struct fx *f = *state;
    const char *uri = mmap_uri(f, "?size=64K");
    uipc_channel *w, *r;
    unsigned char buf[200];
    struct stat st;
    assert_int_equal(uipc_open(&r, uri, 0), -ENOENT);
    assert_int_equal(uipc_open(&w, mmap_uri(f, "?size=64K&mode=0604"), UIPC_CREATE), 0);
    assert_string_equal(uipc_scheme(w), "mmap");
    assert_int_equal(stat(f->ring_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0604);
    for (uint64_t i = 0; i < 10; i++) {
        msg_make(buf, 100, i);
        assert_int_equal(uipc_send(w, buf, 100, 0), 100);
    }
    assert_int_equal(uipc_close(w), 0);
    assert_int_equal(stat(f->ring_path, &st), 0); /* close keeps the file */

    /* A receiver that comes later, takes 3 (the third by zero-copy, the
     * fourth peeked but not released), and goes. */
    assert_int_equal(uipc_open(&r, uri, 0), 0);
    for (uint64_t i = 0; i < 2; i++) {
        assert_int_equal(uipc_recv(r, buf, sizeof buf, 0), 100);
        assert_int_equal(msg_check(buf, 100, i), 0);
    }
    const void *p;
    assert_int_equal(uipc_recv_peek(r, &p, 0), 100);
    assert_int_equal(msg_check(p, 100, 2), 0);
    assert_int_equal(uipc_recv_release(r), 0);
    assert_int_equal(uipc_recv_peek(r, &p, 0), 100);
    assert_int_equal(uipc_close(r), 0);

    /* The writer comes back (with its messages) and adds more. */
    assert_int_equal(uipc_open(&w, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_open(&w, mmap_uri(f, "?size=128K"), UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_open(&w, uri, UIPC_CREATE), 0);
    for (uint64_t i = 10; i < 15; i++) {
        msg_make(buf, 100, i);
        assert_int_equal(uipc_send(w, buf, 100, 0), 100);
    }
    uipc_channel *w2, *r2;
    assert_int_equal(uipc_open(&w2, uri, UIPC_CREATE), -EADDRINUSE);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    assert_int_equal(uipc_close(w), 0);

    /* The receiver continues after the last message it released. */
    assert_int_equal(uipc_open(&r, uri, 0), 0);
    assert_int_equal(uipc_open(&r2, uri, 0), -EBUSY);
    for (uint64_t i = 3; i < 15; i++) {
        assert_int_equal(uipc_recv(r, buf, sizeof buf, 0), 100);
        assert_int_equal(msg_check(buf, 100, i), 0);
    }
    /* That writer left before this session: the next one is awaited. */
    assert_int_equal(uipc_recv(r, buf, sizeof buf, 0), -EAGAIN);
    assert_int_equal(uipc_recv(r, buf, sizeof buf, 20), -ETIMEDOUT);
    /* A writer of this session that closes ends it, after its messages. */
    assert_int_equal(uipc_open(&w, uri, UIPC_CREATE), 0);
    msg_make(buf, 100, 15);
    assert_int_equal(uipc_send(w, buf, 100, 0), 100);
    assert_int_equal(uipc_close(w), 0);
    assert_int_equal(uipc_recv(r, buf, sizeof buf, -1), 100);
    assert_int_equal(msg_check(buf, 100, 15), 0);
    assert_int_equal(uipc_recv(r, buf, sizeof buf, -1), -EPIPE);
    assert_int_equal(uipc_close(r), 0);
    assert_int_equal(uipc_unlink(uri), 0);
    assert_int_equal(stat(f->ring_path, &st), -1);
    assert_int_equal(uipc_unlink(uri), -ENOENT);
    check_fds(f);
}

/* A writer killed in the middle of a message never exposes any of it; the
 * next writer takes the side over and the stream goes on. */
static void test_mmap_killed_writer(void **state)
{
    struct fx *f = *state;
    const char *uri = mmap_uri(f, "?size=64K");
    unsigned char buf[2000];
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        uipc_channel *w;
        void *p;
        if (uipc_open(&w, uri, UIPC_CREATE) < 0)
            _exit(1);
        for (uint64_t i = 0; i < 5; i++) {
            msg_make(buf, 1000, i);
            uipc_send(w, buf, 1000, 0);
        }
        if (uipc_send_reserve(w, &p, 1000, 0) < 0)
            _exit(2);
        msg_make(buf, 1000, 5);
        memcpy(p, buf, 500);
        raise(SIGKILL);
    }
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    uipc_channel *r, *w;
    assert_int_equal(uipc_open(&r, uri, 0), 0);
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(uipc_recv(r, buf, sizeof buf, 0), 1000);
        assert_int_equal(msg_check(buf, 1000, i), 0);
    }
    /* Dead before this reader came: not an end, just nobody yet. */
    assert_int_equal(uipc_recv(r, buf, sizeof buf, 0), -EAGAIN);
    assert_int_equal(uipc_open(&w, uri, UIPC_CREATE), 0);
    msg_make(buf, 1000, 5);
    assert_int_equal(uipc_send(w, buf, 1000, 0), 1000);
    assert_int_equal(uipc_recv(r, buf, sizeof buf, 1000), 1000);
    assert_int_equal(msg_check(buf, 1000, 5), 0);
    uipc_close(w);
    assert_int_equal(uipc_recv(r, buf, sizeof buf, -1), -EPIPE); /* left during the session */
    uipc_close(r);
    check_fds(f);
}

static void test_mmap_symlink_and_foreign(void **state)
{
    struct fx *f = *state;
    const char *uri = mmap_uri(f, NULL);
    char victim[128];
    uipc_channel *ch;
    struct stat st;
    snprintf(victim, sizeof victim, "%s/victim", f->dir);
    int fd = open(victim, O_CREAT | O_RDWR, 0600);
    assert_int_equal(write(fd, "precious", 8), 8);
    close(fd);
    assert_int_equal(symlink(victim, f->ring_path), 0);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -ELOOP);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_open(&ch, uri, 0), -ELOOP);
    assert_int_equal(uipc_unlink(uri), -ELOOP);
    assert_int_equal(lstat(f->ring_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_size, 8);
    unlink(f->ring_path);
    /* A dangling link as well (it would create the target). */
    assert_int_equal(symlink("/tmp/uipc-should-not-exist", f->ring_path), 0);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -ELOOP);
    assert_int_equal(stat("/tmp/uipc-should-not-exist", &st), -1);
    unlink(f->ring_path);
    /* A regular file that is not a ring is neither used nor deleted. */
    fd = open(f->ring_path, O_CREAT | O_RDWR, 0600);
    assert_int_equal(write(fd, "data", 4), 4);
    close(fd);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EBADMSG);
    assert_int_equal(uipc_open(&ch, uri, 0), -EBADMSG);
    assert_int_equal(uipc_unlink(uri), -EBADMSG);
    assert_int_equal(stat(f->ring_path, &st), 0);
    unlink(f->ring_path);
    check_fds(f);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must never raise it */
    if (getenv("UIPC_TEST_FILTER")) /* e.g. UIPC_TEST_FILTER='test_mmap*' */
        cmocka_set_test_filter(getenv("UIPC_TEST_FILTER"));
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bad_uris),
        T(test_named_lifecycle),
        T(test_foreign_objects),
        T(test_fork_pair),
        T(test_fork_pair_death),
        T(test_zero_copy),
        T(test_pollfd_states),
        T(test_pollfd_pair_level),
        T(test_pollfd_pair_edge),
        T(test_pollfd_named_level),
        T(test_pollfd_named_edge),
        T(test_hostile_fields),
        T(test_hostile_scribble),
        T(test_fault_kill),
        T(test_mmap_persistence),
        T(test_mmap_killed_writer),
        T(test_mmap_symlink_and_foreign),
        T(test_stress_pair_spin),
        T(test_stress_pair_futex_only),
        T(test_stress_named_futex_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
