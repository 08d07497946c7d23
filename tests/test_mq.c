/* SPDX-License-Identifier: MIT */
/*
 * mq: — POSIX message queues: round trips both ways, priorities in order,
 * a too-large message staying queued, timeouts and EINTR, the poll
 * descriptor, 4 producers and 3 consumers moving 10^5 messages exactly
 * once, mode bits, stale owner take-over, the fork rule and bad input.
 *
 * Most queues here are small (?maxmsg=256) so that several fit in the
 * default RLIMIT_MSGQUEUE of 800 KiB even when other tests run alongside.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

static char qname[128];
static char uri[256];

/* Runs after every test, also a failed one: nothing is left behind. */
static pid_t child = -1;

static int cleanup(void **state)
{
    (void)state;
    if (child > 0) {
        kill(child, SIGKILL);
        tu_wait(child);
        child = -1;
    }
    if (qname[0]) { /* directly: our own leaked handle would make uipc_unlink refuse */
        char name[160];
        snprintf(name, sizeof name, "/%s.c2s", qname);
        mq_unlink(name);
        snprintf(name, sizeof name, "/%s.s2c", qname);
        mq_unlink(name);
    }
    qname[0] = '\0';
    uri[0] = '\0';
    return 0;
}

/* A fresh queue name and its URI with the given query (may be ""). */
static void new_uri(const char *query)
{
    tu_name(qname, sizeof qname, "uipc-mq-");
    snprintf(uri, sizeof uri, "mq:///%s%s", qname, query);
}

static void test_roundtrip(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    new_uri("");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    assert_string_equal(uipc_scheme(own), "mq");
    unsigned long dflt = tu_proc_value("/proc/sys/fs/mqueue/msgsize_default");
    unsigned long max = tu_proc_value("/proc/sys/fs/mqueue/msgsize_max");
    assert_int_equal(uipc_max_msg(own), dflt < max ? dflt : max);

    char buf[16384];
    assert_int_equal(uipc_send(att, "up", 2, 1000), 2);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 1000), 2);
    assert_memory_equal(buf, "up", 2);
    assert_int_equal(uipc_send(own, "down!", 5, 1000), 5);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 1000), 5);
    assert_memory_equal(buf, "down!", 5);
    /* Zero-length messages and a full-size one, into a small buffer too. */
    assert_int_equal(uipc_send(own, NULL, 0, 1000), 0);
    assert_int_equal(uipc_recv(att, buf, 4, 1000), 0);
    size_t big = uipc_max_msg(own);
    char *msg = malloc(big);
    tu_fill(msg, big, 7);
    assert_int_equal(uipc_send(own, msg, big, 1000), (ssize_t)big);
    assert_int_equal(uipc_send(own, msg, big + 1, 1000), -EMSGSIZE);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 1000), (ssize_t)big);
    assert_int_equal(tu_check(buf, big, 7), 0);
    free(msg);
    /* N-party: nobody to lose, a receiver just times out. */
    assert_int_equal(uipc_close(att), 0);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 20), -ETIMEDOUT);

    assert_int_equal(uipc_close(own), 0);
    assert_int_equal(uipc_open(&att, uri, 0), -ENOENT); /* the owner removed both */
    assert_int_equal(tu_count_fds(), fds);
}

/* 1000 messages of random priorities, in batches of the queue's depth. */
static void test_priorities(void **state)
{
    (void)state;
    new_uri("?maxmsg=64");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    unsigned long depth = tu_proc_value("/proc/sys/fs/mqueue/msg_default");
    unsigned long dmax = tu_proc_value("/proc/sys/fs/mqueue/msg_max");
    if (depth == 0 || depth > dmax)
        depth = dmax ? dmax : 10;
    unsigned seed = 12345;
    int total = 0;
    while (total < 1000) {
        int batch = (int)depth < 1000 - total ? (int)depth : 1000 - total;
        for (int i = 0; i < batch; i++) {
            uint32_t m[2] = {(uint32_t)(total + i), (uint32_t)(rand_r(&seed) % 32768)};
            uipc_msginfo info = {.priority = m[1]};
            assert_int_equal(uipc_sendmsg(att, m, sizeof m, &info, 0), sizeof m);
        }
        uint32_t last_prio = UINT32_MAX, last_seq = 0;
        uipc_msginfo info = {0, 0};
        for (int i = 0; i < batch; i++) {
            uint32_t m[2];
            /* info is reused: the priority going in is not a filter. */
            assert_int_equal(uipc_recvmsg(own, m, sizeof m, &info, 0), sizeof m);
            assert_int_equal(info.priority, m[1]);
            assert_true(m[1] <= last_prio);
            if (m[1] == last_prio)
                assert_true(m[0] > last_seq); /* FIFO within a priority */
            last_prio = m[1];
            last_seq = m[0];
        }
        total += batch;
    }
    uint32_t m[2];
    assert_int_equal(uipc_recv(own, m, sizeof m, 0), -EAGAIN);
    uipc_close(att);
    uipc_close(own);
}

static void test_attributes(void **state)
{
    (void)state;
    new_uri("?maxmsg=64");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    char buf[64];
    uipc_msginfo too_high = {.priority = 32768};
    uipc_msginfo typed = {.type = 3};
    assert_int_equal(uipc_sendmsg(att, "x", 1, &too_high, 0), -EINVAL);
    assert_int_equal(uipc_sendmsg(att, "x", 1, &typed, 0), -ENOTSUP);
    uipc_msginfo top = {.priority = 32767};
    assert_int_equal(uipc_sendmsg(att, "x", 1, &top, 0), 1);
    assert_int_equal(uipc_recvmsg(own, buf, sizeof buf, &typed, 0), -ENOTSUP);
    uipc_msginfo out = {.priority = 5};
    assert_int_equal(uipc_recvmsg(own, buf, sizeof buf, &out, 0), 1);
    assert_int_equal(out.priority, 32767);
    assert_int_equal(out.type, 0);
    uipc_close(att);
    uipc_close(own);
}

static void test_too_large_stays(void **state)
{
    (void)state;
    new_uri("?maxmsg=256");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    char msg[200], buf[256];
    tu_fill(msg, sizeof msg, 1);
    uipc_msginfo hi = {.priority = 9};
    assert_int_equal(uipc_sendmsg(att, msg, sizeof msg, &hi, 0), sizeof msg);
    assert_int_equal(uipc_send(att, "next", 4, 0), 4);
    struct pollfd p = {.fd = uipc_pollfd(own), .events = POLLIN};
    assert_true(p.fd >= 0);
    assert_int_equal(uipc_recv(own, buf, 10, 0), -EMSGSIZE);
    assert_int_equal(uipc_recv(own, buf, 199, 0), -EMSGSIZE);
    assert_int_equal(poll(&p, 1, 0), 1); /* the held message is still waiting */
    uipc_msginfo out = {0, 0};
    assert_int_equal(uipc_recvmsg(own, buf, sizeof buf, &out, 0), sizeof msg);
    assert_int_equal(tu_check(buf, sizeof msg, 1), 0);
    assert_int_equal(out.priority, 9);
    assert_int_equal(uipc_recv(own, buf, 10, 0), 4);
    assert_memory_equal(buf, "next", 4);
    assert_int_equal(uipc_recv(own, buf, 10, 0), -EAGAIN);
    assert_int_equal(poll(&p, 1, 0), 0);
    uipc_close(att);
    uipc_close(own);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_timeouts(void **state)
{
    (void)state;
    new_uri("?maxmsg=16&depth=2");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    char buf[16];
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), -EAGAIN);
    int64_t t0 = tu_now_ms();
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 100), -ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 99);
    /* A full queue: the sender times out too. */
    assert_int_equal(uipc_send(att, "a", 1, 0), 1);
    assert_int_equal(uipc_send(att, "b", 1, 0), 1);
    assert_int_equal(uipc_send(att, "c", 1, 0), -EAGAIN);
    t0 = tu_now_ms();
    assert_int_equal(uipc_send(att, "c", 1, 50), -ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 49);

    /* Signals every 5 ms without SA_RESTART: the wait resumes, no -EINTR. */
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {{0, 5000}, {0, 5000}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = tu_now_ms();
    ssize_t r = uipc_send(att, "c", 1, 150);
    int64_t send_ms = tu_now_ms() - t0;
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 1);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 1);
    t0 = tu_now_ms();
    ssize_t r2 = uipc_recv(own, buf, sizeof buf, 150);
    int64_t recv_ms = tu_now_ms() - t0;
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(send_ms >= 149);
    assert_int_equal(r2, -ETIMEDOUT);
    assert_true(recv_ms >= 149);
    uipc_close(att);
    uipc_close(own);
}

static int send_later(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    usleep(50000);
    if (uipc_open(&ch, uri, 0) < 0)
        return 1;
    int r = uipc_send(ch, "wake", 4, 1000) == 4 ? 0 : 2;
    uipc_close(ch);
    return r;
}

static void test_pollfd(void **state)
{
    (void)state;
    new_uri("?maxmsg=64");
    uipc_channel *own;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    int fd = uipc_pollfd(own);
    assert_true(fd >= 0);
    assert_int_equal(uipc_pollfd(own), fd); /* stable */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    pid_t pid = tu_fork(send_later, NULL);
    assert_int_equal(poll(&p, 1, 5000), 1);
    char buf[64];
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 4);
    assert_int_equal(tu_wait(pid), 0);
    assert_int_equal(poll(&p, 1, 0), 0);
    uipc_close(own);
}

/* ---- N-party: 4 producers, 3 consumers, 10^5 messages exactly once ---- */

/* 4 producers, 3 consumers, 10^5 messages: each delivered exactly once. */
static void test_nparty(void **state)
{
    (void)state;
    char err[160] = "";
    new_uri("?maxmsg=16");
    if (tu_nparty(uri, 4, 3, 100000, 20000, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void test_mode(void **state)
{
    (void)state;
    mode_t old = umask(077);
    new_uri("?maxmsg=16&mode=0640");
    uipc_channel *own;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    char name[160];
    snprintf(name, sizeof name, "/%s.c2s", qname);
    mqd_t q = mq_open(name, O_RDONLY | O_CLOEXEC);
    assert_true(q != (mqd_t)-1);
    struct stat st;
    assert_int_equal(fstat((int)q, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640); /* exactly, despite the umask */
    mq_close(q);
    uipc_close(own);

    new_uri("?maxmsg=16");
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    snprintf(name, sizeof name, "/%s.s2c", qname);
    q = mq_open(name, O_RDONLY | O_CLOEXEC);
    assert_true(q != (mqd_t)-1);
    assert_int_equal(fstat((int)q, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    mq_close(q);
    uipc_close(own);
    umask(old);
}

static int ready_pipe[2];

static int owner_then_wait(void *arg)
{
    (void)arg;
    uipc_channel *own;
    if (uipc_open(&own, uri, UIPC_CREATE) < 0)
        return 1;
    if (write(ready_pipe[1], "r", 1) != 1)
        return 2;
    pause(); /* killed */
    return 0;
}

static void test_stale_takeover(void **state)
{
    (void)state;
    new_uri("?maxmsg=16");
    assert_int_equal(pipe(ready_pipe), 0);
    pid_t pid = child = tu_fork(owner_then_wait, NULL);
    char c;
    assert_int_equal(read(ready_pipe[0], &c, 1), 1);
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), -EADDRINUSE); /* alive */
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    assert_int_equal(uipc_send(att, "kept", 4, 0), 4);
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    child = -1;
    /* The owner is gone: the queues are adopted with their messages. */
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    char buf[16];
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "kept", 4);
    /* The adopted queue's geometry stands; asking for another is refused. */
    char other[300];
    snprintf(other, sizeof other, "mq:///%s?maxmsg=32", qname);
    uipc_channel *x;
    assert_int_equal(uipc_open(&x, other, 0), -EINVAL);
    uipc_close(att);
    uipc_close(own);
    close(ready_pipe[0]);
    close(ready_pipe[1]);
}

static uipc_channel *inherited;

static int close_inherited(void *arg)
{
    (void)arg;
    return uipc_close(inherited) == 0 ? 0 : 1;
}

static void test_fork_rule(void **state)
{
    (void)state;
    new_uri("?maxmsg=16");
    assert_int_equal(uipc_open(&inherited, uri, UIPC_CREATE), 0);
    assert_int_equal(tu_wait(tu_fork(close_inherited, NULL)), 0);
    uipc_channel *att;
    assert_int_equal(uipc_open(&att, uri, 0), 0); /* still there */
    assert_int_equal(uipc_send(att, "x", 1, 0), 1);
    char b[16];
    assert_int_equal(uipc_recv(inherited, b, sizeof b, 0), 1);
    uipc_close(att);
    uipc_close(inherited);
}

/* uipc_unlink refuses a live pair and removes a stale one. */
static void test_unlink(void **state)
{
    (void)state;
    new_uri("?maxmsg=16");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    assert_int_equal(uipc_close(own), 0);
    assert_int_equal(uipc_unlink(uri), -ENOENT); /* the owner removed it */

    assert_int_equal(pipe(ready_pipe), 0);
    pid_t pid = child = tu_fork(owner_then_wait, NULL);
    char c;
    assert_int_equal(read(ready_pipe[0], &c, 1), 1);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    child = -1;
    assert_int_equal(uipc_unlink(uri), 0);
    assert_int_equal(uipc_unlink(uri), -ENOENT);
    assert_int_equal(uipc_open(&att, uri, 0), -ENOENT);
    close(ready_pipe[0]);
    close(ready_pipe[1]);
}

static void test_bad_input(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    unsigned long msg_max = tu_proc_value("/proc/sys/fs/mqueue/msg_max");
    unsigned long size_max = tu_proc_value("/proc/sys/fs/mqueue/msgsize_max");
    char q[64];
    uipc_channel *ch = NULL;
    tu_name(q, sizeof q, "uipc-mq-bad-");
    const char *bad[] = {
        "mq:///%s?depth=0",      "mq:///%s?depth=abc",  "mq:///%s?maxmsg=0",
        "mq:///%s?maxmsg=-1",    "mq:///%s?colour=red", "mq:///%s?mode=0999",
        "mq:///%s?depth=1&depth=2", "mq:///%s/sub",     "mq://%s/x",
    };
    char u[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(u, sizeof u, bad[i], q);
        assert_int_equal(uipc_open(&ch, u, UIPC_CREATE), -EINVAL);
        assert_null(ch);
    }
    assert_int_equal(uipc_open(&ch, "mq:///", UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_open(&ch, "mq:", UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_open(&ch, "mq:///..", UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_open(&ch, "mq:///a%01b", UIPC_CREATE), -EINVAL);
    /* Beyond the system's limits: refused, never clamped. */
    snprintf(u, sizeof u, "mq:///%s?depth=%lu", q, msg_max + 1);
    assert_int_equal(uipc_open(&ch, u, UIPC_CREATE), -EINVAL);
    snprintf(u, sizeof u, "mq:///%s?maxmsg=%lu", q, size_max + 1);
    assert_int_equal(uipc_open(&ch, u, UIPC_CREATE), -EINVAL);
    /* A name one byte too long for "/<name>.c2s" in NAME_MAX. */
    char longname[300];
    int n = snprintf(longname, sizeof longname, "mq:///%s", q);
    memset(longname + n, 'n', sizeof longname - (size_t)n);
    longname[6 + 252] = '\0';
    assert_int_equal(uipc_open(&ch, longname, UIPC_CREATE), -EINVAL);
    longname[6 + 251] = '\0'; /* 251 bytes: fits */
    assert_int_equal(uipc_open(&ch, longname, UIPC_CREATE), 0);
    uipc_close(ch);
    /* Nothing to attach to. */
    snprintf(u, sizeof u, "mq:///%s", q);
    assert_int_equal(uipc_open(&ch, u, 0), -ENOENT);
    assert_int_equal(uipc_unlink(u), -ENOENT);
    /* The failures above left nothing behind. */
    assert_int_equal(uipc_open(&ch, u, 0), -ENOENT);
    assert_int_equal(uipc_open(&ch, "mq:///x", UIPC_EXCL), -EINVAL);
    assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_roundtrip, cleanup),
        cmocka_unit_test_teardown(test_priorities, cleanup),
        cmocka_unit_test_teardown(test_attributes, cleanup),
        cmocka_unit_test_teardown(test_too_large_stays, cleanup),
        cmocka_unit_test_teardown(test_timeouts, cleanup),
        cmocka_unit_test_teardown(test_pollfd, cleanup),
        cmocka_unit_test_teardown(test_nparty, cleanup),
        cmocka_unit_test_teardown(test_mode, cleanup),
        cmocka_unit_test_teardown(test_stale_takeover, cleanup),
        cmocka_unit_test_teardown(test_fork_rule, cleanup),
        cmocka_unit_test_teardown(test_unlink, cleanup),
        cmocka_unit_test_teardown(test_bad_input, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
