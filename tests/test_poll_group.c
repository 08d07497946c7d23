/* SPDX-License-Identifier: MIT */
/*
 * uipc_poll over the channels of one shm: listener: one sleep for all of
 * them.  Counted, not timed: the system calls of a wait over 256 idle
 * clients that one message ends (a tracer process counts them with
 * ptrace), and its voluntary context switches; no lost wake-up in 10^5
 * messages sent at random while the server parks each time; a client
 * killed (or closing) while the server is parked is UIPC_POLLHUP, also for
 * a channel that was not being polled when it died; a client that floods
 * its doorbell neither blocks nor starves the server; two threads polling
 * halves of one listener's channels (TSan: label ring).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define T 10000 /* ms: bounds every wait that must succeed */

static char uri[256];

static void raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Listens on a fresh shm: name with query q, forks n clients running fn
 * (argument: the index) and accepts them all; items[i] polls client i. */
static uipc_listener *serve(const char *q, int n, int (*fn)(void *), pid_t *pids,
                            uipc_pollitem *items)
{
    char name[64];
    tu_name(name, sizeof name, "uipc-pgrp-");
    snprintf(uri, sizeof uri, "shm://%s%s", name, q);
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    for (int i = 0; i < n; i++)
        pids[i] = tu_fork(fn, (void *)(intptr_t)i);
    for (int i = 0; i < n; i++)
        items[i].ch = NULL;
    for (int i = 0; i < n; i++) {
        uipc_channel *ch;
        pid_t pid;
        assert_int_equal(uipc_accept(l, &ch, T), 0);
        assert_int_equal(uipc_peer_cred(ch, &pid, NULL, NULL), 0);
        int k = 0; /* clients come in any order: items[k] is pids[k]'s */
        while (k < n && pids[k] != pid)
            k++;
        assert_true(k < n && !items[k].ch);
        items[k] = (uipc_pollitem){.ch = ch, .events = UIPC_POLLIN};
    }
    return l;
}

static void finish(uipc_listener *l, int n, pid_t *pids, uipc_pollitem *items, int status)
{
    for (int i = 0; i < n; i++)
        if (items[i].ch)
            uipc_send(items[i].ch, "bye", 3, T);
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            assert_int_equal(tu_wait(pids[i]), status);
    for (int i = 0; i < n; i++)
        uipc_close(items[i].ch);
    uipc_listener_close(l);
}

/* Waits for "bye" from the server. */
static int await_bye(uipc_channel *ch)
{
    char buf[8];
    ssize_t n = uipc_recv(ch, buf, sizeof buf, 60000);
    uipc_close(ch);
    return n == 3 ? 0 : 90;
}

/* ---- one wait over 256 idle clients: counted system calls ---- */

#define MANY 256
static int trig[2]; /* the tracer (first byte) and the test (second) wake client 0 */

static int idle_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 80;
    if (id == 0) {
        char c;
        if (read(trig[0], &c, 1) != 1 || uipc_send(ch, "one", 3, T) != 3)
            return 81;
        if (read(trig[0], &c, 1) != 1)
            return 82;
        usleep(100000); /* long after the server parked */
        if (uipc_send(ch, "two", 3, T) != 3)
            return 83;
    }
    return await_bye(ch);
}

/* A call that may sleep: a poll or epoll wait with a timeout other than 0
 * (a look with timeout 0 does not park). */
static bool sleeps(const struct __ptrace_syscall_info *si)
{
    switch (si->entry.nr) {
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
#endif
    case SYS_epoll_pwait:
        return (int)si->entry.args[3] != 0;
#ifdef SYS_poll
    case SYS_poll:
        return (int)si->entry.args[2] != 0;
#endif
    case SYS_ppoll: /* libuipc's looks use poll(); ppoll is its sleep */
        return true;
    default:
        return false;
    }
}

/*
 * The tracer: counts the system calls the target enters between two
 * getppid() markers, writes to trig_fd when the target first enters a
 * call that sleeps (so the message comes while it is parked), and reports
 * the count and the first calls' numbers on out_fd.
 */
#define TRACE_LOG 64
static int tracer(pid_t target, int ready_fd, int trig_fd, int out_fd)
{
    if (ptrace(PTRACE_SEIZE, target, 0, PTRACE_O_TRACESYSGOOD) < 0)
        return 1;
    if (ptrace(PTRACE_INTERRUPT, target, 0, 0) < 0)
        return 2;
    int st, markers = 0, count = 0;
    bool triggered = false;
    long log[TRACE_LOG];
    if (write(ready_fd, "r", 1) != 1)
        return 3;
    while (waitpid(target, &st, __WALL) == target) {
        int sig = 0;
        if (!WIFSTOPPED(st))
            return 4;
        if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info si;
            if (ptrace(PTRACE_GET_SYSCALL_INFO, target, sizeof si, &si) > 0 &&
                si.op == PTRACE_SYSCALL_INFO_ENTRY) {
                if (si.entry.nr == SYS_getppid) {
                    if (++markers == 2) {
                        ptrace(PTRACE_DETACH, target, 0, 0);
                        long out[1 + TRACE_LOG] = {count};
                        memcpy(out + 1, log, sizeof log);
                        return write(out_fd, out, sizeof out) == sizeof out ? 0 : 5;
                    }
                } else if (markers == 1) {
                    if (count < TRACE_LOG)
                        log[count] = (long)si.entry.nr;
                    count++;
                    if (!triggered && sleeps(&si)) {
                        triggered = true;
                        if (write(trig_fd, "t", 1) != 1)
                            return 6;
                    }
                }
            }
        } else if (st >> 16 == 0) {
            sig = WSTOPSIG(st); /* a signal for the target: deliver it */
        }
        ptrace(PTRACE_SYSCALL, target, 0, sig);
    }
    return 7;
}

static int64_t nvcsw(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void one_wake_for_256_clients(void **state)
{
    (void)state;
    raise_nofile();
    int fds = tu_count_fds();
    static pid_t pids[MANY];
    static uipc_pollitem it[MANY];
    assert_int_equal(pipe(trig), 0);
    uipc_listener *l = serve("?size=4K", MANY, idle_client, pids, it);
    close(trig[0]);
    /* All parked once: a wait then re-arms only what rang. */
    assert_int_equal(uipc_poll(it, MANY, 50), -ETIMEDOUT);

    int ready[2], out[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(out), 0);
    pid_t me = getpid();
    pid_t tr = fork();
    if (tr == 0)
        _exit(tracer(me, ready[1], trig[1], out[1]));
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1); /* traced from here on */
    syscall(SYS_getppid);
    int r = uipc_poll(it, MANY, T);
    syscall(SYS_getppid);
    long res[1 + TRACE_LOG];
    assert_int_equal(read(out[0], res, sizeof res), sizeof res);
    assert_int_equal(tu_wait(tr), 0);
    assert_int_equal(r, 1);
    assert_int_equal(it[0].revents, UIPC_POLLIN);
    char buf[8];
    assert_int_equal(uipc_recv(it[0].ch, buf, sizeof buf, 0), 3);
    char calls[TRACE_LOG * 6] = "";
    for (long i = 0; i < res[0] && i < TRACE_LOG; i++)
        snprintf(calls + strlen(calls), sizeof calls - strlen(calls), " %ld", res[1 + i]);
    print_message("      a wait over %d idle shm: channels, one message: %ld system calls (%s)\n",
                  MANY, res[0], calls);
    if (res[0] > 12)
        fail_msg("%ld system calls for one wait (want one sleep for all)", res[0]);

    /* Untraced: the wait sleeps once and wakes once. */
    int64_t v0 = nvcsw();
    assert_int_equal(write(trig[1], "u", 1), 1);
    r = uipc_poll(it, MANY, T);
    int64_t switches = nvcsw() - v0;
    assert_int_equal(r, 1);
    assert_int_equal(uipc_recv(it[0].ch, buf, sizeof buf, 0), 3);
    print_message("      ... untraced: %lld voluntary context switches\n", (long long)switches);
    assert_true(switches <= 4);

    close(trig[1]);
    close(ready[0]);
    close(ready[1]);
    close(out[0]);
    close(out[1]);
    finish(l, MANY, pids, it, 0);
    assert_int_equal(tu_count_fds(), fds);
}

/* ---- no lost wake-up: 10^5 messages at random ---- */

#define STRESS_CLIENTS 8
#define STRESS_MSGS 12500 /* each: 10^5 in all */

struct stress_msg {
    uint32_t id, seq;
};

static int stress_client(void *arg)
{
    uint32_t id = (uint32_t)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 80;
    unsigned seed = id * 7919u + 1;
    for (uint32_t s = 0; s < STRESS_MSGS; s++) {
        struct stress_msg m = {id, s};
        if (uipc_send(ch, &m, sizeof m, T) != sizeof m)
            return 81;
        switch (rand_r(&seed) % 8) { /* sometimes at once, sometimes after a pause */
        case 0:
            usleep((useconds_t)(rand_r(&seed) % 100));
            break;
        case 1:
            sched_yield();
            break;
        case 2:
            for (volatile int k = rand_r(&seed) % 5000; k > 0; k--)
                ;
            break;
        default:
            break;
        }
    }
    return await_bye(ch);
}

static void no_lost_wakeup(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    pid_t pids[STRESS_CLIENTS];
    uipc_pollitem it[STRESS_CLIENTS];
    /* ?spin=0: the server parks at every wait, the case that can lose one. */
    uipc_listener *l = serve("?size=4K&spin=0", STRESS_CLIENTS, stress_client, pids, it);
    uint32_t next[STRESS_CLIENTS] = {0};
    long total = 0, waits = 0;
    while (total < (long)STRESS_CLIENTS * STRESS_MSGS) {
        int r = uipc_poll(it, STRESS_CLIENTS, T);
        if (r <= 0)
            fail_msg("uipc_poll %d after %ld messages (a wake-up was lost)", r, total);
        waits++;
        for (int i = 0; i < STRESS_CLIENTS; i++) {
            if (!it[i].revents)
                continue;
            assert_int_equal(it[i].revents, UIPC_POLLIN);
            struct stress_msg m;
            ssize_t n;
            while ((n = uipc_recv(it[i].ch, &m, sizeof m, 0)) == sizeof m) {
                assert_int_equal(m.id, i);
                assert_int_equal(m.seq, next[i]);
                next[i]++;
                total++;
            }
            assert_int_equal(n, -EAGAIN);
        }
    }
    print_message("      %ld messages in %ld waits\n", total, waits);
    finish(l, STRESS_CLIENTS, pids, it, 0);
    assert_int_equal(tu_count_fds(), fds);
}

/* ---- the end of a client while the server is parked ---- */

#define ENDS 16

/* Waits for an order: "die" (SIGKILL itself a little later), "end"
 * (close a little later) or "bye". */
static int ending_client(void *arg)
{
    (void)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 80;
    char buf[8];
    ssize_t n = uipc_recv(ch, buf, sizeof buf, 60000);
    if (n == 3 && memcmp(buf, "die", 3) == 0) {
        usleep(100000);
        raise(SIGKILL);
    }
    if (n == 3 && memcmp(buf, "end", 3) == 0) {
        usleep(100000);
        uipc_close(ch);
        return 0;
    }
    uipc_close(ch);
    return n == 3 ? 0 : 90;
}

/* Orders client k to end (how), then waits over the channels from k on. */
static void parked_end(uipc_pollitem *it, int k, const char *how)
{
    assert_int_equal(uipc_send(it[k].ch, how, 3, T), 3);
    int r = uipc_poll(it + k, ENDS - (size_t)k, T); /* returns at the end, long before T */
    if (r != 1 || it[k].revents != (UIPC_POLLIN | UIPC_POLLHUP))
        fail_msg("%s: uipc_poll %d, revents %d", how, r, it[k].revents);
    assert_int_equal(uipc_recv(it[k].ch, NULL, 0, 0), -EPIPE);
    it[k].events = 0; /* done with it; still polled for the end alone */
}

static void client_end_while_parked(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    pid_t pids[ENDS];
    uipc_pollitem it[ENDS];
    uipc_listener *l = serve("?size=4K", ENDS, ending_client, pids, it);
    assert_int_equal(uipc_poll(it, ENDS, 0), -EAGAIN);
    parked_end(it, 3, "die");
    parked_end(it, 5, "end");
    assert_int_equal(tu_wait(pids[3]), 128 + SIGKILL);
    assert_int_equal(tu_wait(pids[5]), 0);
    pids[3] = pids[5] = -1;
    /* Without UIPC_POLLIN the end is reported all the same (and only it). */
    assert_int_equal(uipc_poll(it, ENDS, 0), 2);
    assert_int_equal(it[3].revents, UIPC_POLLHUP);
    assert_int_equal(it[5].revents, UIPC_POLLHUP);

    /* A client that dies while its channel is not being polled: the
     * hang-up the listener's wait took in passing is kept for it. */
    assert_int_equal(uipc_send(it[9].ch, "die", 3, T), 3);
    uipc_pollitem rest[2] = {it[0], it[1]};
    assert_int_equal(uipc_poll(rest, 2, 400), -ETIMEDOUT);
    assert_int_equal(tu_wait(pids[9]), 128 + SIGKILL);
    pids[9] = -1;
    assert_int_equal(uipc_poll(&it[9], 1, 0), 1);
    assert_int_equal(it[9].revents, UIPC_POLLIN | UIPC_POLLHUP);

    /* The listener closed: its channels still sleep together and wake. */
    uipc_listener_close(l);
    assert_int_equal(uipc_send(it[11].ch, "die", 3, T), 3);
    it[3].events = it[5].events = it[9].events = UIPC_POLLIN;
    for (int i = 0; i < ENDS; i++)
        if (i == 3 || i == 5 || i == 9) {
            uipc_close(it[i].ch);
            it[i].ch = NULL;
        }
    uipc_pollitem live[ENDS];
    int nlive = 0, k11 = -1;
    for (int i = 0; i < ENDS; i++)
        if (it[i].ch) {
            if (i == 11)
                k11 = nlive;
            live[nlive++] = it[i];
        }
    assert_int_equal(uipc_poll(live, (size_t)nlive, T), 1);
    assert_int_equal(live[k11].revents, UIPC_POLLIN | UIPC_POLLHUP);
    assert_int_equal(tu_wait(pids[11]), 128 + SIGKILL);
    pids[11] = -1;
    for (int i = 0; i < ENDS; i++)
        if (it[i].ch) {
            assert_int_equal(uipc_send(it[i].ch, "bye", 3, T), i == 11 ? -EPIPE : 3);
            if (pids[i] > 0)
                assert_int_equal(tu_wait(pids[i]), 0);
            uipc_close(it[i].ch);
        }
    assert_int_equal(tu_count_fds(), fds);
}

/* ---- a client that rings its doorbell at will ---- */

/* The client's connection to the service: its only socket. */
static int own_socket(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int fd = -1;
    while (d && (e = readdir(d))) {
        struct stat st;
        int n = atoi(e->d_name);
        if (n != dirfd(d) && e->d_name[0] != '.' && fstat(n, &st) == 0 && S_ISSOCK(st.st_mode))
            fd = n;
    }
    if (d)
        closedir(d);
    return fd;
}

static int flooding_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 80;
    if (id == 0) { /* rings until killed, never sends a message */
        int s = own_socket();
        if (s < 0)
            return 81;
        for (;;)
            (void)send(s, "x", 1, MSG_NOSIGNAL);
    }
    for (uint32_t i = 0; i < 2000; i++) { /* an honest client's round trips */
        uint32_t got;
        if (uipc_send(ch, &i, sizeof i, T) != sizeof i ||
            uipc_recv(ch, &got, sizeof got, T) != sizeof got || got != i)
            return 82;
    }
    return await_bye(ch);
}

static void doorbell_flood(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    pid_t pids[2];
    uipc_pollitem it[2];
    uipc_listener *l = serve("?size=4K", 2, flooding_client, pids, it);
    for (uint32_t served = 0; served < 2000;) {
        int r = uipc_poll(it, 2, T);
        if (r <= 0)
            fail_msg("uipc_poll %d after %u round trips", r, served);
        assert_int_equal(it[0].revents, 0); /* rings are no messages */
        if (it[1].revents) {
            uint32_t v;
            assert_int_equal(uipc_recv(it[1].ch, &v, sizeof v, 0), sizeof v);
            assert_int_equal(v, served);
            assert_int_equal(uipc_send(it[1].ch, &v, sizeof v, T), sizeof v);
            served++;
        }
    }
    kill(pids[0], SIGKILL);
    assert_int_equal(tu_wait(pids[0]), 128 + SIGKILL);
    pids[0] = -1;
    int r = uipc_poll(it, 1, T);
    assert_int_equal(r, 1);
    assert_true(it[0].revents & UIPC_POLLHUP);
    finish(l, 2, pids, it, 0);
    assert_int_equal(tu_count_fds(), fds);
}

/* ---- two threads, each polling half of one listener's channels ---- */

#define HALVES 8
#define HALF_MSGS 5000

static int half_client(void *arg)
{
    uint32_t id = (uint32_t)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 80;
    for (uint32_t s = 0; s < HALF_MSGS; s++) {
        struct stress_msg m = {id, s};
        if (uipc_send(ch, &m, sizeof m, T) != sizeof m)
            return 81;
        if (s % 64 == 0)
            usleep(50);
    }
    return await_bye(ch);
}

struct half {
    uipc_pollitem *it;
    int first, n, fails;
};

static void *serve_half(void *arg)
{
    struct half *h = arg;
    uint32_t next[HALVES] = {0};
    long total = 0;
    while (total < (long)h->n * HALF_MSGS) {
        if (uipc_poll(h->it, (size_t)h->n, T) <= 0) {
            h->fails++;
            break;
        }
        for (int i = 0; i < h->n; i++) {
            struct stress_msg m;
            while (h->it[i].revents && uipc_recv(h->it[i].ch, &m, sizeof m, 0) == sizeof m) {
                if (m.id != (uint32_t)(h->first + i) || m.seq != next[i]++)
                    h->fails++;
                total++;
            }
        }
    }
    return NULL;
}

static void two_threads_one_listener(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    pid_t pids[HALVES];
    uipc_pollitem it[HALVES];
    uipc_listener *l = serve("?size=4K&spin=0", HALVES, half_client, pids, it);
    struct half a = {it, 0, HALVES / 2, 0}, b = {it + HALVES / 2, HALVES / 2, HALVES / 2, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, serve_half, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, serve_half, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.fails, 0);
    assert_int_equal(b.fails, 0);
    finish(l, HALVES, pids, it, 0);
    assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_wake_for_256_clients),
        cmocka_unit_test(no_lost_wakeup),
        cmocka_unit_test(client_end_while_parked),
        cmocka_unit_test(doorbell_flood),
        cmocka_unit_test(two_threads_one_listener),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
