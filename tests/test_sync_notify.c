/* SPDX-License-Identifier: MIT */
/*
 * Notifications (uipc_notify*): values from another process arrive in
 * order with the sender's pid, timeouts per the contract, resumption after
 * other signals, and refusal of bad input (bad pids, an unblocked signal).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define NVALUES 1000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Takes whatever notifications are pending so that tests start clean. */
static void drain(void)
{
    while (uipc_notify_wait(NULL, NULL, 0) == 0) {
    }
}

static int setup(void **state)
{
    (void)state;
    drain();
    return 0;
}

/* Child: sends 0..NVALUES-1 to its parent, retrying while the queue is full. */
static int child_send_values(void *p)
{
    (void)p;
    pid_t parent = getppid();
    for (int i = 0; i < NVALUES; i++) {
        int e;
        while ((e = uipc_notify(parent, i * 7 - 3)) == -EAGAIN)
            sleep_ms(1);
        if (e < 0)
            return 10;
    }
    return 0;
}

static void test_values_in_order(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    pid_t pid = tu_fork(child_send_values, NULL);
    for (int i = 0; i < NVALUES; i++) {
        pid_t from = 0;
        int value = 0;
        int e = uipc_notify_wait(&from, &value, 10000);
        if (e != 0)
            fail_msg("value %d: %s", i, uipc_strerror(e));
        assert_int_equal(from, pid);
        assert_int_equal(value, i * 7 - 3);
    }
    assert_int_equal(tu_wait(pid), 0);
    assert_int_equal(uipc_notify_wait(NULL, NULL, 0), -EAGAIN);
    assert_int_equal(tu_count_fds(), fds);
}

static void test_timeouts_and_self(void **state)
{
    (void)state;
    pid_t from;
    int value;
    assert_int_equal(uipc_notify_wait(&from, &value, 0), -EAGAIN);
    assert_int_equal(uipc_notify_wait(&from, &value, 30), -ETIMEDOUT);
    assert_int_equal(uipc_notify(getpid(), -42), 0);
    assert_int_equal(uipc_notify_wait(&from, &value, 0), 0);
    assert_int_equal(from, getpid());
    assert_int_equal(value, -42);
    /* A plain kill() of the signal carries no value and is not a notification. */
    assert_int_equal(kill(getpid(), SIGRTMIN + 7), 0);
    assert_int_equal(uipc_notify(getpid(), 5), 0);
    assert_int_equal(uipc_notify_wait(&from, &value, 1000), 0);
    assert_int_equal(value, 5);
    assert_int_equal(uipc_notify_wait(&from, &value, 0), -EAGAIN);
}

static int exits_immediately(void *p)
{
    (void)p;
    return 0;
}

static void test_bad_input(void **state)
{
    (void)state;
    assert_int_equal(uipc_notify(0, 1), -EINVAL);
    assert_int_equal(uipc_notify(-1, 1), -EINVAL);
    assert_int_equal(uipc_notify(-getpid(), 1), -EINVAL);
    pid_t gone = tu_fork(exits_immediately, NULL);
    assert_int_equal(tu_wait(gone), 0);
    assert_int_equal(uipc_notify(gone, 1), -ESRCH);
}

/* Child: waits without the signal blocked; must be refused, not killed. */
static int child_wait_unblocked(void *p)
{
    (void)p;
    sigset_t all;
    sigemptyset(&all);
    sigaddset(&all, SIGRTMIN + 7);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    if (uipc_notify_wait(NULL, NULL, 0) != -EINVAL)
        return 1;
    if (uipc_notify_block() != 0)
        return 2;
    return uipc_notify_wait(NULL, NULL, 0) == -EAGAIN ? 0 : 3;
}

static void test_unblocked_refused(void **state)
{
    (void)state;
    assert_int_equal(tu_wait(tu_fork(child_wait_unblocked, NULL)), 0);
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* Child: pelts the parent with SIGUSR1, then notifies it once. */
static int child_interrupt_then_notify(void *p)
{
    (void)p;
    for (int i = 0; i < 5; i++) {
        sleep_ms(20);
        kill(getppid(), SIGUSR1);
    }
    return uipc_notify(getppid(), 99) == 0 ? 0 : 1;
}

static void test_signals_do_not_interrupt(void **state)
{
    (void)state;
    struct sigaction sa = {.sa_handler = on_usr1}, old; /* no SA_RESTART */
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    pid_t pid = tu_fork(child_interrupt_then_notify, NULL);
    int value = 0;
    assert_int_equal(uipc_notify_wait(NULL, &value, UIPC_FOREVER), 0);
    assert_int_equal(value, 99);
    assert_int_equal(tu_wait(pid), 0);

    /* A bounded wait interrupted by handlers still ends in -ETIMEDOUT. */
    pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 5; i++) {
            sleep_ms(20);
            kill(getppid(), SIGUSR1);
        }
        _exit(0);
    }
    assert_int_equal(uipc_notify_wait(NULL, NULL, 250), -ETIMEDOUT);
    assert_int_equal(tu_wait(pid), 0);
    sigaction(SIGUSR1, &old, NULL);
}

int main(void)
{
    /* Before anything else (and before any thread): block the signal. */
    if (uipc_notify_block() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_values_in_order, setup),
        cmocka_unit_test_setup(test_timeouts_and_self, setup),
        cmocka_unit_test_setup(test_bad_input, setup),
        cmocka_unit_test_setup(test_unblocked_refused, setup),
        cmocka_unit_test_setup(test_signals_do_not_interrupt, setup),
    };
    return cmocka_run_group_tests_name("sync_notify", tests, NULL, NULL);
}
