/* SPDX-License-Identifier: MIT */
/*
 * sysvmq: — System V message queues: round trips both ways, selective
 * receive by type with msgrcv semantics, a too-large message staying
 * queued, timeouts with and without signals, 4 producers and 3 consumers
 * moving 10^5 messages exactly once, ftok keys, removal waking waiters,
 * stale owner take-over, the fork rule and bad input.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

static char uri[256];
static key_t key;

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
    if (uri[0]) { /* directly: our own leaked handle would make uipc_unlink refuse */
        int id = msgget(key, 0);
        if (id >= 0)
            msgctl(id, IPC_RMID, NULL);
    }
    uri[0] = '\0';
    return 0;
}

/* A key no queue uses yet, built from the pid, and its URI. */
static void new_uri(const char *query)
{
    static unsigned counter;
    do
        key = (key_t)(0x75000000u | (((unsigned)getpid() & 0xfffu) << 12) | (counter++ & 0xfffu));
    while (msgget(key, 0) >= 0);
    snprintf(uri, sizeof uri, "sysvmq://0x%08x%s", (unsigned)key, query);
}

static void test_roundtrip(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    new_uri("");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    assert_string_equal(uipc_scheme(own), "sysvmq");
    unsigned long msgmax = tu_proc_value("/proc/sys/kernel/msgmax");
    unsigned long msgmnb = tu_proc_value("/proc/sys/kernel/msgmnb");
    assert_int_equal(uipc_max_msg(own), msgmax < msgmnb ? msgmax : msgmnb);
    assert_int_equal(uipc_pollfd(own), -ENOTSUP);
    assert_int_equal(uipc_peer_cred(own, NULL, NULL, NULL), -ENOTSUP);

    char buf[16384];
    assert_int_equal(uipc_send(att, "up", 2, 1000), 2);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 0), -EAGAIN); /* not for attachers */
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 1000), 2);
    assert_memory_equal(buf, "up", 2);
    assert_int_equal(uipc_send(own, "down!", 5, 1000), 5);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), -EAGAIN); /* not for the owner */
    uipc_msginfo info = {0, 0};
    assert_int_equal(uipc_recvmsg(att, buf, sizeof buf, &info, 1000), 5);
    assert_memory_equal(buf, "down!", 5);
    assert_int_equal(info.type, 1); /* type 0 on send means 1 */
    assert_int_equal(uipc_send(att, NULL, 0, 1000), 0);
    assert_int_equal(uipc_recv(own, buf, 0, 1000), 0);
    size_t big = uipc_max_msg(own);
    tu_fill(buf, big, 3);
    assert_int_equal(uipc_send(own, buf, big, 1000), (ssize_t)big);
    memset(buf, 0, sizeof buf);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 1000), (ssize_t)big);
    assert_int_equal(tu_check(buf, big, 3), 0);
    /* N-party: no peer to lose. */
    assert_int_equal(uipc_close(att), 0);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 20), -ETIMEDOUT);
    assert_int_equal(uipc_close(own), 0);
    assert_int_equal(msgget(key, 0), -1); /* the owner removed it */
    assert_int_equal(uipc_open(&att, uri, 0), -ENOENT);
    assert_int_equal(tu_count_fds(), fds);
}

/* Selective receive: exactly the requested types, in order, others stay. */
static void test_types(void **state)
{
    (void)state;
    new_uri("");
    uipc_channel *own, *att, *other;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    assert_int_equal(uipc_open(&other, uri, 0), 0);
    for (uint32_t i = 0; i < 30; i++) {
        uipc_msginfo info = {.type = 1 + i % 3};
        assert_int_equal(uipc_sendmsg(own, &i, sizeof i, &info, 0), sizeof i);
    }
    /* A message to the owner side is never taken by an attacher. */
    assert_int_equal(uipc_send(other, "c2s", 3, 0), 3);

    uint32_t m, last;
    uipc_msginfo info;
    last = 0;
    for (int k = 0; k < 10; k++) { /* type 2: 1, 4, 7, ... */
        info = (uipc_msginfo){.type = 2};
        assert_int_equal(uipc_recvmsg(att, &m, sizeof m, &info, 0), sizeof m);
        assert_int_equal(info.type, 2);
        assert_int_equal(m % 3, 1);
        assert_true(k == 0 || m > last);
        last = m;
    }
    info = (uipc_msginfo){.type = 2};
    assert_int_equal(uipc_recvmsg(att, &m, sizeof m, &info, 0), -EAGAIN);
    /* Lowest type <= 3 first: every type 1, then type 3. */
    for (int k = 0; k < 20; k++) {
        info = (uipc_msginfo){.type = -3};
        assert_int_equal(uipc_recvmsg(other, &m, sizeof m, &info, 0), sizeof m);
        assert_int_equal(info.type, k < 10 ? 1 : 3);
        assert_int_equal(m, (uint32_t)(k < 10 ? 3 * k : 3 * (k - 10) + 2));
    }
    info = (uipc_msginfo){.type = 0};
    assert_int_equal(uipc_recvmsg(att, &m, sizeof m, &info, 0), -EAGAIN);
    /* Type 0 is FIFO across types; the extremes of the type range. */
    uipc_msginfo t5 = {.type = 5}, t1 = {.type = 1}, top = {.type = LONG_MAX - 1};
    uipc_msginfo over = {.type = LONG_MAX};
    assert_int_equal(uipc_sendmsg(own, "a", 1, &t5, 0), 1);
    assert_int_equal(uipc_sendmsg(own, "b", 1, &t1, 0), 1);
    assert_int_equal(uipc_sendmsg(own, "c", 1, &top, 0), 1);
    assert_int_equal(uipc_sendmsg(own, "d", 1, &over, 0), -EINVAL);
    char c;
    const char expect[] = {'a', 'b', 'c'};
    const long types[] = {5, 1, LONG_MAX - 1};
    for (int k = 0; k < 3; k++) {
        info = (uipc_msginfo){.type = 0};
        assert_int_equal(uipc_recvmsg(att, &c, 1, &info, 0), 1);
        assert_int_equal(c, expect[k]);
        assert_int_equal(info.type, types[k]);
    }
    /* The c2s message is still there, for the owner. */
    char buf[8];
    info = (uipc_msginfo){.type = LONG_MIN};
    assert_int_equal(uipc_recvmsg(att, buf, sizeof buf, &info, 0), -EAGAIN);
    info = (uipc_msginfo){0, 0};
    assert_int_equal(uipc_recvmsg(own, buf, sizeof buf, &info, 0), 3);
    assert_int_equal(info.type, 0);
    uipc_close(other);
    uipc_close(att);
    uipc_close(own);
}

static void test_attributes(void **state)
{
    (void)state;
    new_uri("");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    char buf[8];
    uipc_msginfo neg = {.type = -1}, pos = {.type = 4}, prio = {.priority = 1};
    assert_int_equal(uipc_sendmsg(own, "x", 1, &neg, 0), -EINVAL);
    assert_int_equal(uipc_sendmsg(att, "x", 1, &neg, 0), -EINVAL);
    assert_int_equal(uipc_sendmsg(att, "x", 1, &pos, 0), -ENOTSUP); /* c2s is untyped */
    assert_int_equal(uipc_sendmsg(own, "x", 1, &prio, 0), -ENOTSUP);
    assert_int_equal(uipc_recvmsg(own, buf, sizeof buf, &pos, 0), -ENOTSUP);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 0), -EAGAIN); /* nothing was sent */
    uipc_close(att);
    uipc_close(own);
}

static void test_too_large_stays(void **state)
{
    (void)state;
    new_uri("");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    char msg[100], buf[100];
    tu_fill(msg, sizeof msg, 9);
    uipc_msginfo t7 = {.type = 7};
    assert_int_equal(uipc_sendmsg(own, msg, sizeof msg, &t7, 0), sizeof msg);
    assert_int_equal(uipc_recv(att, buf, 10, 0), -EMSGSIZE);
    assert_int_equal(uipc_recvmsg(att, buf, 99, &t7, 0), -EMSGSIZE);
    uipc_msginfo info = {.type = -7};
    assert_int_equal(uipc_recvmsg(att, buf, sizeof buf, &info, 0), sizeof msg);
    assert_int_equal(info.type, 7);
    assert_int_equal(tu_check(buf, sizeof msg, 9), 0);
    assert_int_equal(uipc_send(att, msg, sizeof msg, 0), sizeof msg);
    assert_int_equal(uipc_recv(own, buf, 50, 0), -EMSGSIZE);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), sizeof msg);
    uipc_close(att);
    uipc_close(own);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static int send_late(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    usleep(100000);
    if (uipc_open(&ch, uri, 0) < 0)
        return 1;
    int r = uipc_send(ch, "late", 4, 1000) == 4 ? 0 : 2;
    uipc_close(ch);
    return r;
}

static void test_timeouts(void **state)
{
    (void)state;
    new_uri("?size=64&maxmsg=32");
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    assert_int_equal(uipc_max_msg(own), 32);
    char buf[32] = {0};
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), -EAGAIN);
    int64_t t0 = tu_now_ms();
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 100), -ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 99);
    /* 64 bytes fill the queue (both directions share it). */
    assert_int_equal(uipc_send(att, buf, 32, 0), 32);
    assert_int_equal(uipc_send(own, buf, 32, 0), 32);
    assert_int_equal(uipc_send(att, buf, 1, 0), -EAGAIN);
    t0 = tu_now_ms();
    assert_int_equal(uipc_send(own, buf, 1, 50), -ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 49);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 32);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 0), 32);

    /* Signals every 5 ms without SA_RESTART: no -EINTR, bounded or not. */
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {{0, 5000}, {0, 5000}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = tu_now_ms();
    ssize_t r1 = uipc_recv(own, buf, sizeof buf, 120);
    int64_t ms = tu_now_ms() - t0;
    pid_t pid = tu_fork(send_late, NULL);
    ssize_t r2 = uipc_recv(own, buf, sizeof buf, UIPC_FOREVER);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(r1, -ETIMEDOUT);
    assert_true(ms >= 119);
    assert_int_equal(r2, 4);
    assert_int_equal(tu_wait(pid), 0);
    uipc_close(att);
    uipc_close(own);
}

/* ---- N-party: 4 producers, 3 consumers, 10^5 messages exactly once ---- */

/* 4 producers, 3 consumers, 10^5 messages: each delivered exactly once. */
static void test_nparty(void **state)
{
    (void)state;
    char err[160] = "";
    new_uri("");
    if (tu_nparty(uri, 4, 3, 100000, UIPC_FOREVER, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void test_ftok(void **state)
{
    (void)state;
    char dir[64], path[128], u[256];
    tu_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/anchor", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(u, sizeof u, "sysvmq://%s?proj=7", path);
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, u, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, u, 0), 0);
    assert_true(msgget(ftok(path, 7), 0) >= 0);
    char buf[8];
    assert_int_equal(uipc_send(own, "k", 1, 0), 1);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 0), 1);
    /* Another project id is another queue. */
    snprintf(u, sizeof u, "sysvmq://%s?proj=8", path);
    uipc_channel *x;
    if (msgget(ftok(path, 8), 0) < 0)
        assert_int_equal(uipc_open(&x, u, 0), -ENOENT);
    snprintf(u, sizeof u, "sysvmq://%s?proj=7", path);
    assert_int_equal(uipc_unlink(u), -EADDRINUSE); /* the owner lives */
    assert_int_equal(uipc_close(own), 0);
    assert_int_equal(uipc_send(att, "gone", 4, 0), -EIDRM);
    assert_int_equal(uipc_recv(att, buf, sizeof buf, 0), -EIDRM);
    assert_int_equal(uipc_unlink(u), -ENOENT);
    uipc_close(att);
    tu_rmdir_all(dir);
}

static int wait_forever(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    char buf[8];
    if (uipc_open(&ch, uri, 0) < 0)
        return 1;
    ssize_t n = uipc_recv(ch, buf, sizeof buf, UIPC_FOREVER);
    uipc_close(ch);
    return n == -EIDRM ? 0 : 2;
}

static int wait_bounded(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    char buf[8];
    if (uipc_open(&ch, uri, 0) < 0)
        return 1;
    ssize_t n = uipc_recv(ch, buf, sizeof buf, 10000);
    uipc_close(ch);
    return n == -EIDRM ? 0 : 2;
}

/* Removing the queue wakes every waiter with -EIDRM. */
static void test_removed_wakes(void **state)
{
    (void)state;
    new_uri("");
    uipc_channel *own;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    pid_t a = tu_fork(wait_forever, NULL), b = tu_fork(wait_bounded, NULL);
    usleep(100000);
    assert_int_equal(uipc_close(own), 0);
    assert_int_equal(tu_wait(a), 0);
    assert_int_equal(tu_wait(b), 0);
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
    pause();
    return 0;
}

static void test_stale_takeover(void **state)
{
    (void)state;
    new_uri("");
    assert_int_equal(pipe(ready_pipe), 0);
    pid_t pid = child = tu_fork(owner_then_wait, NULL);
    char c;
    assert_int_equal(read(ready_pipe[0], &c, 1), 1);
    uipc_channel *own, *att;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), -EADDRINUSE);
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    assert_int_equal(uipc_open(&att, uri, 0), 0);
    assert_int_equal(uipc_send(att, "kept", 4, 0), 4);
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    child = -1;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    char big[300];
    snprintf(big, sizeof big, "%s?size=4096&mode=0640", uri);
    assert_int_equal(uipc_open(&own, big, UIPC_CREATE), 0); /* adopts, sets its size */
    struct msqid_ds ds;
    assert_int_equal(msgctl(msgget(key, 0), IPC_STAT, &ds), 0);
    assert_int_equal(ds.msg_qbytes, 4096);
    assert_int_equal(ds.msg_perm.mode & 0777, 0640);
    char buf[8];
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "kept", 4);
    uipc_close(att);
    uipc_close(own);
    assert_int_equal(msgget(key, 0), -1);
    /* A stale queue is removed by uipc_unlink, once. */
    pid = child = tu_fork(owner_then_wait, NULL);
    assert_int_equal(read(ready_pipe[0], &c, 1), 1);
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    child = -1;
    assert_true(msgget(key, 0) >= 0);
    assert_int_equal(uipc_unlink(uri), 0);
    assert_int_equal(uipc_unlink(uri), -ENOENT);
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
    new_uri("");
    assert_int_equal(uipc_open(&inherited, uri, UIPC_CREATE), 0);
    assert_int_equal(tu_wait(tu_fork(close_inherited, NULL)), 0);
    assert_true(msgget(key, 0) >= 0); /* the child removed nothing */
    uipc_close(inherited);
    assert_int_equal(msgget(key, 0), -1);
}

static void test_bad_input(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    unsigned long msgmax = tu_proc_value("/proc/sys/kernel/msgmax");
    unsigned long msgmnb = tu_proc_value("/proc/sys/kernel/msgmnb");
    uipc_channel *ch = NULL;
    const char *bad[] = {
        "sysvmq://12abc",     "sysvmq://0x",        "sysvmq://0",
        "sysvmq://-5",        "sysvmq://+5",        "sysvmq://0x100000000",
        "sysvmq://4294967296", "sysvmq://",         "sysvmq:",
        "sysvmq://0x10/x",    "sysvmq://0x10?proj=3", "sysvmq://0x10?size=0",
        "sysvmq://0x10?colour=red", "sysvmq:relative?proj=1", "sysvmq://0x10?maxmsg=1x",
        "sysvmq:///tmp?proj=0", "sysvmq:///tmp?proj=256", "sysvmq:///tmp?proj=-1",
        "sysvmq://0x10?size=100&maxmsg=200",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = uipc_open(&ch, bad[i], UIPC_CREATE);
        if (r != -EINVAL)
            fail_msg("%s: %d (%s)", bad[i], r, uipc_strerror(r));
        assert_null(ch);
    }
    char u[512];
    new_uri("");
    snprintf(u, sizeof u, "%s?size=%lu", uri, msgmnb + 1);
    assert_int_equal(uipc_open(&ch, u, UIPC_CREATE), -EINVAL);
    snprintf(u, sizeof u, "%s?maxmsg=%lu", uri, msgmax + 1);
    assert_int_equal(uipc_open(&ch, u, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_open(&ch, "sysvmq:///nonexistent/uipc/anchor?proj=3", 0), -ENOENT);
    assert_int_equal(uipc_open(&ch, "sysvmq:///nonexistent/uipc/anchor?proj=3", UIPC_CREATE),
                     -ENOENT);
    assert_int_equal(uipc_unlink("sysvmq:///nonexistent/uipc/anchor"), -ENOENT);
    assert_int_equal(uipc_open(&ch, uri, 0), -ENOENT);
    assert_int_equal(uipc_unlink(uri), -ENOENT);
    /* An attacher cannot set the size. */
    uipc_channel *own;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    snprintf(u, sizeof u, "%s?size=100", uri);
    assert_int_equal(uipc_open(&ch, u, 0), -EINVAL);
    uipc_close(own);
    assert_int_equal(msgget(key, 0), -1); /* nothing left behind */
    assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_roundtrip, cleanup),
        cmocka_unit_test_teardown(test_types, cleanup),
        cmocka_unit_test_teardown(test_attributes, cleanup),
        cmocka_unit_test_teardown(test_too_large_stays, cleanup),
        cmocka_unit_test_teardown(test_timeouts, cleanup),
        cmocka_unit_test_teardown(test_nparty, cleanup),
        cmocka_unit_test_teardown(test_ftok, cleanup),
        cmocka_unit_test_teardown(test_removed_wakes, cleanup),
        cmocka_unit_test_teardown(test_stale_takeover, cleanup),
        cmocka_unit_test_teardown(test_fork_rule, cleanup),
        cmocka_unit_test_teardown(test_bad_input, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
