/* SPDX-License-Identifier: MIT */
/*
 * lib/wait.c: deadlines read the clock only when a call first waits, and
 * then keep the expiry they fixed.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "wait.h"

static void test_deadline_lazy(void **state)
{
    (void)state;
    struct uipc__deadline d;
    uipc__deadline_start(&d, -1);
    assert_int_equal(uipc__deadline_left_ns(&d), -1);
    uipc__deadline_start(&d, 0);
    assert_int_equal(uipc__deadline_left_ns(&d), 0);
    assert_int_equal(uipc__deadline_error(&d), -EAGAIN);
    uipc__deadline_start(&d, 100);
    assert_true(*d.at_ns == 0); /* no clock read yet */
    int64_t left = uipc__deadline_left_ns(&d);
    assert_true(left > 0 && left <= 100 * 1000000LL);
    int64_t at = *d.at_ns;
    assert_true(at != 0);
    assert_true(uipc__deadline_left_ns(&d) <= left); /* fixed at the first wait */
    assert_true(*d.at_ns == at);
    assert_int_equal(uipc__deadline_error(&d), -ETIMEDOUT);
}

/* Writes one byte to a pipe after a second: ends a read the alarm missed. */
static void *rescue(void *arg)
{
    int fd = *(int *)arg;
    struct timespec second = {1, 0};
    nanosleep(&second, NULL);
    (void)!write(fd, "x", 1);
    return NULL;
}

/*
 * The alarm fires before the caller has entered its blocking call (here:
 * a 1 ms deadline, then 20 ms of work, as a thread preempted between arm
 * and read would be).  The read must still be interrupted near the
 * deadline: a one-shot timer would leave it blocked until the rescuer's
 * byte arrives after a second, and the read would return that byte.
 */
static void test_alarm_before_the_call(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, rescue, &p[1]), 0);
    struct uipc__deadline d;
    uipc__deadline_start(&d, 1);
    struct uipc__alarm a;
    int r = uipc__alarm_arm(&a, &d);
    if (r == -EBUSY) {
        pthread_join(t, NULL);
        skip(); /* the signal belongs to someone else here */
    }
    assert_int_equal(r, 0);
    struct timespec busy = {0, 20 * 1000 * 1000};
    while (nanosleep(&busy, &busy) < 0 && errno == EINTR)
        ; /* the first alarm signal lands here, before the read */
    char c;
    ssize_t n = read(p[0], &c, 1);
    int err = errno;
    uipc__alarm_disarm(&a);
    pthread_join(t, NULL);
    assert_int_equal(n, -1);
    assert_int_equal(err, EINTR);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_lazy),
        cmocka_unit_test(test_alarm_before_the_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
