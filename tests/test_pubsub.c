/* SPDX-License-Identifier: MIT */
/*
 * Publish/subscribe across processes, the same suite on shm:, unix: and
 * tcp: (the contract is in uipc.h and API.md):
 *  - block mode: 5 subscribers each receive every message published after
 *    their open returned, in order, intact, exactly once; a sixth, killed
 *    with SIGKILL half-way, does not stall the publisher; a late joiner
 *    gets a gap-free suffix ending at the last message;
 *  - drop mode: a subscriber that never reads does not slow the
 *    publisher; a slow one sees -EOVERFLOW, then strictly increasing
 *    sequence numbers, no duplicate, no torn message;
 *  - the publisher's death (subscribers drain, then -EPIPE; the name is
 *    taken over at once) and a subscriber's death (nobody disturbed);
 *  - zero-copy on both sides, the subscriber's poll descriptor, wrong
 *    directions and bad flags, and nothing left in /dev/shm.
 * UIPC_PUBSUB_MSGS sets the length of the block-mode run (default 200000;
 * the figure is 2000000: UIPC_PUBSUB_MSGS=2000000).
 */
#include <dirent.h>
#include <errno.h>
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
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bcast.h" /* the layout, for the hostile subscriber */
#include "testutil.h"
#include "uipc/uipc.h"

enum { SHM, UNIX, TCP };
static const char *const scheme_name[] = {"shm", "unix", "tcp"};

/* A fresh rendezvous of transport t with the query q ("" or "a=b&..."). */
static void make_uri(char *buf, size_t cap, int t, const char *q)
{
    char name[64];
    tu_name(name, sizeof name, "uipc-ps-");
    const char *sep = q[0] ? "?" : "";
    if (t == SHM)
        snprintf(buf, cap, "shm://%s%s%s", name, sep, q);
    else if (t == UNIX)
        snprintf(buf, cap, "unix:///tmp/%s.sock%s%s", name, sep, q);
    else
        snprintf(buf, cap, "tcp://127.0.0.1:%d%s%s", tu_free_port(SOCK_STREAM), sep, q);
}

/* ---- messages: sequence number, then a pattern (tu_fill) ---- */

static size_t msg_len(uint64_t seq)
{
    return seq % 1000 == 7 ? 20000 : 8 + (size_t)(seq * 53 % 300);
}

static ssize_t publish(uipc_channel *p, uint64_t seq, int timeout_ms)
{
    static unsigned char buf[32768];
    size_t len = msg_len(seq);
    memcpy(buf, &seq, 8);
    tu_fill(buf + 8, len - 8, seq);
    return uipc_send(p, buf, len, timeout_ms);
}

/* Receives one message: its sequence number, or a negative errno; a torn
 * or mis-sized message is -EBADMSG. */
static int64_t receive(uipc_channel *s, int timeout_ms)
{
    static unsigned char buf[32768];
    ssize_t n = uipc_recv(s, buf, sizeof buf, timeout_ms);
    if (n < 0)
        return n;
    uint64_t seq;
    if (n < 8)
        return -EBADMSG;
    memcpy(&seq, buf, 8);
    if ((size_t)n != msg_len(seq) || tu_check(buf + 8, (size_t)n - 8, seq) != 0)
        return -EBADMSG;
    return (int64_t)seq;
}

static uint64_t run_length(void)
{
    const char *e = getenv("UIPC_PUBSUB_MSGS");
    return e && atol(e) > 0 ? (uint64_t)atol(e) : 200000;
}

/* ---- children ---- */

struct sub_args {
    const char *uri;
    uipc_channel *inherited; /* the parent's publisher: closed, not used */
    int ready_fd;            /* a byte here once open returned */
    uint64_t n;              /* messages to expect: 0..n-1 */
    uint64_t die_at;         /* > 0: SIGKILL itself after this many */
    bool late;               /* a late joiner: any gap-free suffix ending at n-1 */
    bool slow;               /* drop mode: reads slowly, expects -EOVERFLOW */
    bool may_keep_up;        /* tcp: the kernel's buffers may hold it all */
};

/* Exit codes: 0 success, 10+ the failure. */
static int sub_child(void *arg)
{
    struct sub_args *a = arg;
    uipc_channel *s;
    if (a->inherited)
        uipc_close(a->inherited); /* after fork: close what we do not use */
    int r = uipc_open(&s, a->uri, UIPC_SUB);
    if (write(a->ready_fd, "r", 1) != 1 || r < 0)
        return 10;
    int64_t last = -1;
    uint64_t got = 0, overflows = 0;
    for (;;) {
        int64_t seq = receive(s, 30000);
        if (seq == -EPIPE)
            break;
        if (seq == -EOVERFLOW) {
            if (!a->slow)
                return 11;
            overflows++;
            continue;
        }
        if (seq < 0) {
            fprintf(stderr, "subscriber: %s after %lld\n", uipc_strerror((int)seq),
                    (long long)last);
            return seq == -EBADMSG ? 12 : 13;
        }
        if (seq <= last)
            return 14; /* duplicate or out of order */
        if (!a->slow && last >= 0 && seq != last + 1)
            return 15; /* a gap */
        if (!a->slow && !a->late && last < 0 && seq != 0)
            return 16; /* missed the first message */
        last = seq;
        got++;
        if (a->die_at && got == a->die_at)
            raise(SIGKILL);
        if (a->slow && overflows == 0 && got % 64 == 0)
            usleep(2000); /* slow until lapped, then drain */
    }
    if ((uint64_t)(last + 1) != a->n)
        return 17; /* did not end at the last message */
    if (a->slow && overflows == 0 && !a->may_keep_up)
        return 18;
    uipc_close(s);
    return 0;
}

static void wait_ready(int fd, int n)
{
    char c;
    for (int i = 0; i < n; i++)
        assert_int_equal(read(fd, &c, 1), 1);
}

/* ---- the tests ---- */

static int transport(void **state)
{
    return (int)(intptr_t)*state;
}

/*
 * Block mode: 5 subscribers that keep up get everything in order; a
 * sixth dies half-way (SIGKILL) and does not stall the publisher; a late
 * joiner gets a gap-free suffix.
 */
static void test_block_fanout(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "overflow=block&size=256K");
    uint64_t n = run_length();
    uipc_channel *p;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t kids[7];
    struct sub_args args[7];
    for (int i = 0; i < 6; i++) {
        args[i] = (struct sub_args){
            .uri = uri, .inherited = p, .ready_fd = pfd[1], .n = n, .die_at = i == 5 ? n / 2 : 0};
        kids[i] = tu_fork(sub_child, &args[i]);
    }
    wait_ready(pfd[0], 6);
    for (uint64_t i = 0; i < n; i++) {
        if (i == n / 3) {
            args[6] = (struct sub_args){
                .uri = uri, .inherited = p, .ready_fd = pfd[1], .n = n, .late = true};
            kids[6] = tu_fork(sub_child, &args[6]);
        }
        ssize_t r = publish(p, i, 60000);
        if (r < 0)
            fail_msg("%s: publish %llu: %s", scheme_name[t], (unsigned long long)i,
                     uipc_strerror((int)r));
    }
    wait_ready(pfd[0], 1);
    assert_int_equal(uipc_close(p), 0);
    for (int i = 0; i < 7; i++) {
        int st = tu_wait(kids[i]);
        if (i == 5)
            assert_int_equal(st, 128 + SIGKILL);
        else if (st != 0)
            fail_msg("%s: subscriber %d exited with %d", scheme_name[t], i, st);
    }
    close(pfd[0]);
    close(pfd[1]);
}

/* Drop mode: a subscriber that never reads never makes a send wait. */
static void test_drop_nonreader(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "size=64K");
    uipc_channel *p, *s;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    for (uint64_t i = 0; i < 20000; i++)
        assert_int_equal(publish(p, i, 0), (ssize_t)msg_len(i));
    /* It was lapped: -EOVERFLOW once, then in order up to the last.  On
     * unix: and tcp: what the publisher queued moves when it calls in
     * (a send or uipc_pollfd): no thread of its own. */
    int64_t seq, last = -1, deadline = tu_now_ms() + 10000;
    int overflows = 0;
    while (last < 19999 && tu_now_ms() < deadline) {
        seq = receive(s, 0);
        if (seq == -EAGAIN) {
            assert_true(uipc_pollfd(p) >= 0 || t == SHM);
            usleep(1000);
            continue;
        }
        if (seq == -EOVERFLOW) {
            overflows++;
            continue;
        }
        assert_true(seq > last);
        last = seq;
    }
    assert_int_equal(last, 19999);
    assert_int_equal(receive(s, 0), -EAGAIN);
    /* tcp: may buffer all of it in the kernel: no lap needed there. */
    if (t != TCP)
        assert_int_equal(overflows, 1);
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
}

/* Drop mode: a slow subscriber sees -EOVERFLOW, then strictly increasing,
 * intact messages ending at the last one. */
static void test_drop_slow(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "size=64K&overflow=drop");
    uipc_channel *p;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    uint64_t n = 30000;
    struct sub_args a = {.uri = uri,
                         .inherited = p,
                         .ready_fd = pfd[1],
                         .n = n,
                         .slow = true,
                         .may_keep_up = t == TCP};
    pid_t kid = tu_fork(sub_child, &a);
    wait_ready(pfd[0], 1);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(publish(p, i, 0), (ssize_t)msg_len(i));
        if (i % 256 == 0)
            usleep(500); /* faster than the reader, slower than a lap */
    }
    assert_int_equal(uipc_close(p), 0);
    assert_int_equal(tu_wait(kid), 0);
    close(pfd[0]);
    close(pfd[1]);
}

static int pub_child(void *arg)
{
    const char *uri = arg;
    uipc_channel *p;
    if (uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB) < 0)
        return 10;
    for (uint64_t i = 0;; i++) {
        if (publish(p, i, 1000) < 0)
            return 11;
        usleep(1000); /* until killed */
    }
}

/* The publisher's death: the subscriber drains, then -EPIPE; a new
 * publisher takes the name over at once. */
static void test_publisher_killed(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "");
    /* Open the subscriber as soon as the publisher exists. */
    pid_t kid = tu_fork(pub_child, uri);
    uipc_channel *s = NULL;
    int64_t deadline = tu_now_ms() + 10000;
    while (uipc_open(&s, uri, UIPC_SUB) == -ENOENT && tu_now_ms() < deadline)
        usleep(1000);
    assert_non_null(s);
    int64_t seq = receive(s, 10000), last = seq;
    assert_true(seq >= 0);
    kill(kid, SIGKILL);
    assert_int_equal(tu_wait(kid), 128 + SIGKILL);
    /* What it published before it died, in order, then the end. */
    while ((seq = receive(s, 10000)) >= 0) {
        assert_int_equal(seq, last + 1);
        last = seq;
    }
    assert_int_equal(seq, -EPIPE);
    assert_int_equal(receive(s, 0), -EPIPE);
    uipc_channel *p;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    uipc_channel *s2;
    assert_int_equal(uipc_open(&s2, uri, UIPC_SUB), 0);
    assert_int_equal(publish(p, 5, 1000), (ssize_t)msg_len(5));
    assert_int_equal(receive(s2, 5000), 5);
    assert_int_equal(uipc_close(s2), 0);
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
}

/* A subscriber's death disturbs nobody: in block mode the publisher goes
 * on (within the check interval) and the other subscriber misses nothing. */
static void test_subscriber_killed(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "overflow=block&size=64K");
    uipc_channel *p, *s;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    struct sub_args a = {.uri = uri, .inherited = p, .ready_fd = pfd[1], .n = 1, .die_at = 1};
    pid_t kid = tu_fork(sub_child, &a);
    wait_ready(pfd[0], 1);
    close(pfd[0]);
    close(pfd[1]);
    /* It takes one message and dies holding its place. */
    assert_int_equal(publish(p, 0, 10000), (ssize_t)msg_len(0));
    assert_int_equal(receive(s, 10000), 0);
    assert_int_equal(tu_wait(kid), 128 + SIGKILL);
    for (uint64_t i = 1; i < 2000; i++) {
        assert_int_equal(publish(p, i, 10000), (ssize_t)msg_len(i));
        assert_int_equal(receive(s, 10000), (int64_t)i);
    }
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
}

/* Zero-copy on both sides. */
static void test_zero_copy(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "");
    uipc_channel *p, *s;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    for (uint64_t i = 0; i < 100; i++) {
        void *buf;
        size_t len = msg_len(i);
        assert_int_equal(uipc_send_reserve(p, &buf, len + 100, 1000), 0);
        memcpy(buf, &i, 8);
        tu_fill((unsigned char *)buf + 8, len - 8, i);
        assert_int_equal(uipc_send_commit(p, len), 0);
        const void *m;
        assert_int_equal(uipc_recv_peek(s, &m, 5000), (ssize_t)len);
        uint64_t seq;
        memcpy(&seq, m, 8);
        assert_int_equal(seq, i);
        assert_int_equal(tu_check((const unsigned char *)m + 8, len - 8, i), 0);
        assert_int_equal(uipc_recv_release(s), 0);
    }
    void *buf;
    const void *m;
    assert_int_equal(uipc_send_reserve(s, &buf, 8, 0), -ENOTSUP);
    assert_int_equal(uipc_recv_peek(p, &m, 0), -ENOTSUP);
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
}

/* The subscriber's poll descriptor: readable when a message waits (level-
 * triggered), and when the publisher is gone. */
static void test_pollfd(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "");
    uipc_channel *p, *s;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    int fd = uipc_pollfd(s);
    assert_true(fd >= 0);
    assert_int_equal(uipc_pollfd(s), fd);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    /* Nothing yet: a spurious wake-up is allowed, a message is not. */
    if (poll(&pf, 1, 50) == 1)
        assert_int_equal(receive(s, 0), -EAGAIN);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(publish(p, i, 1000), (ssize_t)msg_len(i));
        /* Level-triggered: readable until it is received. */
        for (int k = 0; k < 2; k++) {
            pf.revents = 0;
            assert_int_equal(poll(&pf, 1, 5000), 1);
        }
        assert_int_equal(receive(s, 0), (int64_t)i);
    }
    assert_int_equal(uipc_close(p), 0);
    pf.revents = 0;
    assert_int_equal(poll(&pf, 1, 5000), 1);
    int64_t r;
    int64_t deadline = tu_now_ms() + 5000;
    while ((r = receive(s, 0)) == -EAGAIN && tu_now_ms() < deadline)
        poll(&pf, 1, 100);
    assert_int_equal(r, -EPIPE);
    assert_int_equal(uipc_close(s), 0);
}

/* uipc_poll on subscribers: UIPC_POLLIN when a message waits (level-
 * triggered), UIPC_POLLIN | UIPC_POLLHUP once the publisher is gone. */
static void test_uipc_poll(void **state)
{
    int t = transport(state);
    char uri[256];
    make_uri(uri, sizeof uri, t, "");
    uipc_channel *p, *s1, *s2;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s1, uri, UIPC_SUB), 0);
    assert_int_equal(uipc_open(&s2, uri, UIPC_SUB), 0);
    uipc_pollitem it[2] = {{.ch = s1, .events = UIPC_POLLIN}, {.ch = s2, .events = UIPC_POLLIN}};
    int r = uipc_poll(it, 2, 50);
    assert_true(r == -ETIMEDOUT || r >= 0); /* nothing yet (spurious allowed) */
    assert_int_equal(publish(p, 7, 1000), (ssize_t)msg_len(7));
    int64_t deadline = tu_now_ms() + 5000;
    int ready = 0;
    while (ready != 3 && tu_now_ms() < deadline) {
        r = uipc_poll(it, 2, 1000);
        for (int i = 0; i < 2 && r > 0; i++)
            if (it[i].revents & UIPC_POLLIN)
                ready |= 1 << i;
    }
    assert_int_equal(ready, 3);
    assert_int_equal(uipc_poll(it, 2, 0), 2); /* level-triggered: still there */
    assert_int_equal(receive(s1, 0), 7);
    assert_int_equal(receive(s2, 0), 7);
    assert_int_equal(uipc_close(p), 0);
    it[0].revents = it[1].revents = 0;
    deadline = tu_now_ms() + 5000;
    while (!(it[0].revents & UIPC_POLLHUP) && tu_now_ms() < deadline)
        uipc_poll(it, 1, 1000);
    assert_true(it[0].revents & UIPC_POLLHUP);
    assert_int_equal(receive(s1, 0), -EPIPE);
    assert_int_equal(uipc_close(s1), 0);
    assert_int_equal(uipc_close(s2), 0);
}

/* Wrong directions, bad flags and keys, a second publisher. */
static void test_errors(void **state)
{
    int t = transport(state);
    char uri[256], bad[300];
    make_uri(uri, sizeof uri, t, "");
    uipc_channel *p, *s, *x = NULL;
    char buf[16];
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), -ENOENT);
    assert_int_equal(uipc_open(&x, uri, UIPC_PUB), -EINVAL);
    assert_int_equal(uipc_open(&x, uri, UIPC_CREATE | UIPC_PUB | UIPC_SUB), -EINVAL);
    assert_int_equal(uipc_open(&x, uri, UIPC_CREATE | UIPC_SUB), -EINVAL);
    assert_null(x);
    snprintf(bad, sizeof bad, "%s?overflow=sometimes", uri);
    assert_int_equal(uipc_open(&x, bad, UIPC_CREATE | UIPC_PUB), -EINVAL);
    snprintf(bad, sizeof bad, "%s?overflow=drop", uri);
    assert_int_equal(uipc_open(&x, bad, UIPC_CREATE), -EINVAL); /* not a publisher */
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&x, uri, UIPC_CREATE | UIPC_PUB), -EADDRINUSE);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    assert_int_equal(uipc_recv(p, buf, sizeof buf, 0), -ENOTSUP);
    assert_int_equal(uipc_send(s, "x", 1, 0), -ENOTSUP);
    assert_int_equal(uipc_send(p, buf, uipc_max_msg(p) + 1, 0), -EMSGSIZE);
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), -ENOENT);
}

/* Transports without publish/subscribe say so. */
static void test_not_supported(void **state)
{
    (void)state;
    uipc_channel *x;
    assert_int_equal(uipc_open(&x, "fifo:///tmp/uipc-ps-fifo", UIPC_CREATE | UIPC_PUB), -ENOTSUP);
    assert_int_equal(uipc_open(&x, "mq:///uipc-ps-mq", UIPC_SUB), -ENOTSUP);
    assert_int_equal(uipc_open(&x, "udp://127.0.0.1:9", UIPC_SUB), -ENOTSUP);
    assert_int_equal(
        uipc_open(&x, "unix:///tmp/uipc-ps-sp.sock?type=seqpacket", UIPC_CREATE | UIPC_PUB),
        -ENOTSUP);
}

/* shm: only: the slot table (?subs=), the read-only mapping, and a
 * two-party channel's name is not a publisher's. */
static int scribble_child(void *arg)
{
    uipc_channel *s = arg;
    const void *m;
    signal(SIGSEGV, SIG_DFL); /* cmocka's handler would carry on */
    if (uipc_recv_peek(s, &m, 5000) < 0)
        return 10;
    *(volatile char *)(uintptr_t)m = 1; /* must fault: mapped read-only */
    return 11;
}

static void test_shm_specific(void **state)
{
    (void)state;
    char uri[256];
    make_uri(uri, sizeof uri, SHM, "subs=2");
    uipc_channel *p, *s1, *s2, *s3;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s1, uri, UIPC_SUB), 0);
    assert_int_equal(uipc_open(&s2, uri, UIPC_SUB), 0);
    assert_int_equal(uipc_open(&s3, uri, UIPC_SUB), -EBUSY);
    assert_int_equal(uipc_close(s2), 0);
    assert_int_equal(uipc_open(&s2, uri, UIPC_SUB), 0); /* the slot is free again */
    assert_int_equal(publish(p, 1, 1000), (ssize_t)msg_len(1));
    pid_t kid = tu_fork(scribble_child, s1);
    assert_int_equal(tu_wait(kid), 128 + SIGSEGV);
    assert_int_equal(receive(s1, 1000), 1);
    assert_int_equal(receive(s2, 1000), 1);
    char other[256];
    strcpy(other, uri);
    *strchr(other, '?') = '\0';
    strcat(other, "x");
    uipc_channel *two;
    assert_int_equal(uipc_open(&two, other, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&s3, other, UIPC_SUB), -EPROTOTYPE);
    assert_int_equal(uipc_close(two), 0);
    assert_int_equal(uipc_close(s1), 0);
    assert_int_equal(uipc_close(s2), 0);
    assert_int_equal(uipc_close(p), 0);
}

/*
 * A hostile subscriber (shm:): it maps the control area writable itself
 * and scribbles on every slot, the waiter words and the join counter while
 * the publisher publishes in block mode to a good subscriber.  The
 * publisher never crashes, and is held back at most by the check interval
 * at a time (a scribbled slot has no live lock behind it); the good
 * subscriber still gets every message, in order, intact.
 */
static int scribbler(void *arg)
{
    const char *path = arg;
    int fd = open(path, O_RDWR);
    struct uipc__bcast_hdr h;
    if (fd < 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return 10;
    unsigned char *ctl = mmap(NULL, h.ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                              (off_t)(h.hdr_size + h.ring_size));
    if (ctl == MAP_FAILED)
        return 11;
    uint64_t x = 88172645463325252ull;
    for (;;) { /* until killed */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t at = (size_t)(x % (h.ctl_size / 4)) * 4;
        memcpy(ctl + at, &x, 4);
        if ((x & 1023) == 0)
            usleep(100);
    }
}

static void test_shm_hostile_subscriber(void **state)
{
    (void)state;
    char uri[256];
    make_uri(uri, sizeof uri, SHM, "overflow=block&size=64K&subs=8");
    uipc_channel *p, *s;
    assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", uri + strlen("shm://"));
    *strchr(path, '?') = '\0';
    pid_t kid = tu_fork(scribbler, path);
    for (uint64_t i = 0; i < 20000; i++) {
        assert_int_equal(publish(p, i, 10000), (ssize_t)msg_len(i));
        int64_t seq = receive(s, 10000);
        if (seq != (int64_t)i)
            fail_msg("message %llu: got %lld", (unsigned long long)i, (long long)seq);
    }
    kill(kid, SIGKILL);
    assert_int_equal(tu_wait(kid), 128 + SIGKILL);
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
}

/*
 * A subscriber that attaches the instant the publisher's name appears
 * (it retries while -ENOENT) is a subscriber like any other: it must not
 * take the publisher's start for its end.
 */
static int eager_subscriber(void *arg)
{
    uipc_channel *s = NULL;
    int r;
    int64_t until = tu_now_ms() + 5000;
    while ((r = uipc_open(&s, arg, UIPC_SUB)) == -ENOENT && tu_now_ms() < until)
        ;
    if (r < 0)
        return 10;
    int64_t seq = receive(s, 5000);
    uipc_close(s);
    return seq == 0 ? 0 : seq == -EPIPE ? 11 : 12;
}

static void test_eager_subscriber(void **state)
{
    int t = transport(state);
    for (int round = 0; round < (t == SHM ? 300 : 20); round++) {
        char uri[256];
        make_uri(uri, sizeof uri, t, "");
        pid_t kid = tu_fork(eager_subscriber, uri);
        uipc_channel *p;
        usleep((useconds_t)(round % 7) * 100);
        assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
        /* Publish until the subscriber has its message (it may attach late). */
        int st = -1;
        for (int k = 0; k < 5000 && st < 0; k++) {
            assert_int_equal(publish(p, 0, 1000), (ssize_t)msg_len(0));
            usleep(1000);
            if (waitpid(kid, &st, WNOHANG) == 0)
                st = -1;
        }
        assert_int_equal(uipc_close(p), 0);
        if (st < 0)
            st = tu_wait(kid) << 8;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s round %d: subscriber status %d", scheme_name[t], round, st);
    }
}

/* shm: holds 64 subscribers by default, one more is -EBUSY; each of them
 * gets the message, in block mode too. */
static void test_shm_64_subscribers(void **state)
{
    (void)state;
    for (int block = 0; block < 2; block++) {
        char uri[256];
        make_uri(uri, sizeof uri, SHM, block ? "size=64K&overflow=block" : "size=64K");
        uipc_channel *p, *s[65];
        assert_int_equal(uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB), 0);
        for (int i = 0; i < 64; i++)
            assert_int_equal(uipc_open(&s[i], uri, UIPC_SUB), 0);
        assert_int_equal(uipc_open(&s[64], uri, UIPC_SUB), -EBUSY);
        for (uint64_t m = 0; m < 3; m++) {
            assert_int_equal(publish(p, m, 1000), (ssize_t)msg_len(m));
            for (int i = 0; i < 64; i++)
                assert_int_equal(receive(s[i], 1000), (int64_t)m);
        }
        for (int i = 0; i < 64; i++)
            assert_int_equal(uipc_close(s[i]), 0);
        assert_int_equal(uipc_close(p), 0);
    }
}

/* Nothing of ours is left in /dev/shm. */
static void test_nothing_left(void **state)
{
    (void)state;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "uipc-ps-%d-", (int)getpid());
    DIR *d = opendir("/dev/shm");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            fail_msg("left behind: /dev/shm/%s", e->d_name);
    closedir(d);
}

/* A publisher on port 0 tells subscribers, through uipc_uri, the port the
 * kernel chose; a subscriber of that URI receives what it publishes. */
static void test_tcp_port_zero_uri(void **state)
{
    (void)state;
    uipc_channel *p, *s;
    assert_int_equal(uipc_open(&p, "tcp://127.0.0.1:0", UIPC_CREATE | UIPC_PUB), 0);
    const char *uri = uipc_uri(p);
    assert_non_null(uri);
    assert_null(strstr(uri, ":0"));
    assert_int_equal(strncmp(uri, "tcp://127.0.0.1:", 16), 0);
    assert_int_equal(uipc_open(&s, uri, UIPC_SUB), 0);
    char buf[16];
    ssize_t n = -EAGAIN;
    /* The publisher accepts inside its sends: publish until one arrives. */
    for (int i = 0; i < 500 && n == -EAGAIN; i++) {
        assert_int_equal(uipc_send(p, "tick", 4, 1000), 4);
        n = uipc_recv(s, buf, sizeof buf, 10);
        if (n == -ETIMEDOUT)
            n = -EAGAIN;
    }
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "tick", 4);
    assert_int_equal(uipc_close(s), 0);
    assert_int_equal(uipc_close(p), 0);
}

#define EACH(fn)                                                                                   \
    cmocka_unit_test_prestate(fn, (void *)(intptr_t)SHM),                                          \
        cmocka_unit_test_prestate(fn, (void *)(intptr_t)UNIX),                                     \
        cmocka_unit_test_prestate(fn, (void *)(intptr_t)TCP)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        EACH(test_errors),
        EACH(test_zero_copy),
        EACH(test_pollfd),
        EACH(test_uipc_poll),
        EACH(test_drop_nonreader),
        EACH(test_drop_slow),
        EACH(test_publisher_killed),
        EACH(test_subscriber_killed),
        EACH(test_block_fanout),
        EACH(test_eager_subscriber),
        cmocka_unit_test(test_not_supported),
        cmocka_unit_test(test_tcp_port_zero_uri),
        cmocka_unit_test(test_shm_specific),
        cmocka_unit_test(test_shm_hostile_subscriber),
        cmocka_unit_test(test_shm_64_subscribers),
        cmocka_unit_test(test_nothing_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
