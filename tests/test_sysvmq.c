/* SPDX-License-Identifier: MIT */
/*
 * sysvmq: — System V message queues: round trips both ways, selective
 * receive by type with msgrcv semantics, a too-large message staying
 * queued, timeouts with and without signals, bounded waits that sleep in
 * the kernel (one thread or several, every signal blocked) without a
 * signal ever reaching the application, 4 producers and 3 consumers
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
#include <pthread.h>
#include <stdbool.h>
#include <sys/resource.h>
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

/* ---- bounded waits block in the kernel under the library's alarm ---- */

/* The signal libuipc reserves for its alarm (lib/wait.h, docs/queues.md). */
#define ALARM_SIG (SIGRTMAX - 1)

static volatile sig_atomic_t caught; /* signals that reached the application */

static void count_signal(int sig)
{
    (void)sig;
    caught++;
}

/* The application's handler on every real-time signal but the library's,
 * and on the usual timer signals: none of them may ever run. */
static void count_every_signal(bool including_alarm_sig)
{
    struct sigaction sa = {.sa_handler = count_signal};
    sigemptyset(&sa.sa_mask);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        if (sig != ALARM_SIG || including_alarm_sig)
            sigaction(sig, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
}

static long thread_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

/*
 * A timed receive on an empty queue: -ETIMEDOUT no earlier than asked (and
 * not absurdly late), having slept through it: a poll with back-off would
 * switch out hundreds of times in this long, blocking in msgrcv once or a
 * few times.  0, or the number of the check that failed.
 */
static int timed_recv_sleeps(uipc_channel *ch, int timeout_ms)
{
    char buf[64];
    long sw = thread_switches();
    int64_t t0 = tu_now_ms();
    ssize_t r = uipc_recv(ch, buf, sizeof buf, timeout_ms);
    int64_t ms = tu_now_ms() - t0;
    long switches = thread_switches() - sw;
    if (r != -ETIMEDOUT)
        return 10;
    if (ms < timeout_ms - 1 || ms > timeout_ms + 3000)
        return 11;
    if (switches > 20)
        return 12;
    return 0;
}

static int pending_none(void)
{
    sigset_t p;
    sigpending(&p);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&p, sig) == 1)
            return 0;
    return 1;
}

/* Child: timed receive and send, a message caught mid-wait, nothing leaks. */
static int timed_waits_child(void *arg)
{
    (void)arg;
    count_every_signal(false);
    uipc_channel *own, *att;
    if (uipc_open(&own, uri, UIPC_CREATE) < 0 || uipc_open(&att, uri, 0) < 0)
        return 1;
    sigset_t before, after;
    sigprocmask(SIG_BLOCK, NULL, &before);
    int r = timed_recv_sleeps(own, 300);
    if (r)
        return r;
    /* A full queue (64 bytes, both directions): a timed send sleeps too. */
    char buf[32] = {0};
    if (uipc_send(att, buf, 32, 0) != 32 || uipc_send(own, buf, 32, 0) != 32)
        return 2;
    long sw = thread_switches();
    int64_t t0 = tu_now_ms();
    if (uipc_send(own, buf, 1, 200) != -ETIMEDOUT)
        return 3;
    int64_t ms = tu_now_ms() - t0;
    if (ms < 199 || ms > 3200 || thread_switches() - sw > 20)
        return 4;
    if (uipc_recv(own, buf, sizeof buf, 0) != 32 || uipc_recv(att, buf, sizeof buf, 0) != 32)
        return 5;
    /* A message arriving during a timed wait ends it at once. */
    pid_t pid = tu_fork(send_late, NULL);
    if (uipc_recv(own, buf, sizeof buf, 5000) != 4 || tu_wait(pid) != 0)
        return 6;
    sigprocmask(SIG_BLOCK, NULL, &after);
    if (sigismember(&after, ALARM_SIG) != sigismember(&before, ALARM_SIG))
        return 7;
    if (!pending_none() || caught != 0)
        return 8;
    uipc_close(att);
    uipc_close(own);
    return 0;
}

static void test_timed_waits_sleep(void **state)
{
    (void)state;
    new_uri("?size=64&maxmsg=32");
    assert_int_equal(tu_wait(tu_fork(timed_waits_child, NULL)), 0);
}

/* Child: a caller that blocks every signal is served, its mask kept; a
 * bounded pipe: receive too. */
static int all_blocked_child(void *arg)
{
    (void)arg;
    count_every_signal(false);
    sigset_t all, before, after;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    sigprocmask(SIG_BLOCK, NULL, &before); /* all the kernel lets us block */
    if (sigismember(&before, ALARM_SIG) != 1)
        return 4;
    uipc_channel *own;
    if (uipc_open(&own, uri, UIPC_CREATE) < 0)
        return 1;
    int r = timed_recv_sleeps(own, 200);
    if (r)
        return r;
    /* A bounded pipe: receive waits under the same alarm (framing.c). */
    uipc_channel *pa, *pb;
    if (uipc_pair("pipe:", &pa, &pb) < 0)
        return 5;
    if ((r = timed_recv_sleeps(pa, 150)) != 0)
        return 20 + r;
    if (uipc_send(pb, "x", 1, 100) != 1 || (r = timed_recv_sleeps(pa, 100)) != 10)
        return 40 + r; /* a message waiting is taken at once: not -ETIMEDOUT */
    uipc_close(pa);
    uipc_close(pb);
    sigprocmask(SIG_BLOCK, NULL, &after);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&before, sig) != sigismember(&after, sig))
            return 2; /* the mask changed */
    if (!pending_none() || caught != 0)
        return 3;
    uipc_close(own);
    return 0;
}

static void test_timed_wait_all_signals_blocked(void **state)
{
    (void)state;
    new_uri("");
    assert_int_equal(tu_wait(tu_fork(all_blocked_child, NULL)), 0);
}

/* Child: the application's handler on the library's signal, installed
 * before the first timed wait and after one, is never clobbered nor run;
 * timed waits then fall back to polling and still time out. */
static int app_owns_signal_child(void *arg)
{
    bool first = arg != NULL;
    struct sigaction sa = {.sa_handler = count_signal}, cur;
    sigemptyset(&sa.sa_mask);
    uipc_channel *own;
    if (uipc_open(&own, uri, UIPC_CREATE) < 0)
        return 1;
    char buf[8];
    if (first)
        sigaction(ALARM_SIG, &sa, NULL);
    else if (timed_recv_sleeps(own, 50) != 0) /* the library's handler goes in */
        return 2;
    count_every_signal(true);
    for (int i = 0; i < 3; i++) {
        int64_t t0 = tu_now_ms();
        if (uipc_recv(own, buf, sizeof buf, 60) != -ETIMEDOUT)
            return 3;
        int64_t ms = tu_now_ms() - t0;
        if (ms < 59 || ms > 3060)
            return 4;
    }
    if (sigaction(ALARM_SIG, NULL, &cur) < 0 || cur.sa_handler != count_signal)
        return 5;
    if (caught != 0)
        return 6;
    uipc_close(own);
    return 0;
}

static void test_timed_wait_leaves_app_signal(void **state)
{
    (void)state;
    new_uri("");
    assert_int_equal(tu_wait(tu_fork(app_owns_signal_child, "first")), 0);
    cleanup(NULL);
    new_uri("");
    assert_int_equal(tu_wait(tu_fork(app_owns_signal_child, NULL)), 0);
}

/* Threads, each with its own handle and timeout, time out on their own
 * deadlines; the one with the longest gets the message sent meanwhile. */
struct waiter {
    int timeout_ms;
    ssize_t result;
    int64_t ms;
    long switches;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    uipc_channel *att;
    char buf[16];
    w->result = -1000;
    if (uipc_open(&att, uri, 0) < 0)
        return NULL;
    long sw = thread_switches();
    int64_t t0 = tu_now_ms();
    w->result = uipc_recv(att, buf, sizeof buf, w->timeout_ms);
    w->ms = tu_now_ms() - t0;
    w->switches = thread_switches() - sw;
    uipc_close(att);
    return NULL;
}

static int threads_child(void *arg)
{
    (void)arg;
    count_every_signal(false);
    uipc_channel *own;
    if (uipc_open(&own, uri, UIPC_CREATE) < 0)
        return 1;
    struct waiter w[5] = {{60, 0, 0, 0}, {120, 0, 0, 0}, {240, 0, 0, 0}, {480, 0, 0, 0}, {8000, 0, 0, 0}};
    pthread_t t[5];
    for (int i = 0; i < 5; i++)
        if (pthread_create(&t[i], NULL, waiter_main, &w[i]) != 0)
            return 2;
    usleep(700000); /* every bounded one has timed out by now */
    if (uipc_send(own, "for the last", 12, 1000) != 12)
        return 3;
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        if (w[i].result != -ETIMEDOUT)
            return 10 + i;
        if (w[i].ms < w[i].timeout_ms - 1 || w[i].ms > w[i].timeout_ms + 3000)
            return 20 + i;
        if (w[i].switches > 20)
            return 30 + i;
    }
    if (w[4].result != 12 || w[4].ms >= 8000)
        return 40;
    if (caught != 0)
        return 50;
    uipc_close(own);
    return 0;
}

static void test_timed_waits_threads(void **state)
{
    (void)state;
    new_uri("");
    assert_int_equal(tu_wait(tu_fork(threads_child, NULL)), 0);
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
        cmocka_unit_test_teardown(test_timed_waits_sleep, cleanup),
        cmocka_unit_test_teardown(test_timed_wait_all_signals_blocked, cleanup),
        cmocka_unit_test_teardown(test_timed_wait_leaves_app_signal, cleanup),
        cmocka_unit_test_teardown(test_timed_waits_threads, cleanup),
        cmocka_unit_test_teardown(test_nparty, cleanup),
        cmocka_unit_test_teardown(test_ftok, cleanup),
        cmocka_unit_test_teardown(test_removed_wakes, cleanup),
        cmocka_unit_test_teardown(test_stale_takeover, cleanup),
        cmocka_unit_test_teardown(test_fork_rule, cleanup),
        cmocka_unit_test_teardown(test_bad_input, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
