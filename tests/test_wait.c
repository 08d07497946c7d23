/* SPDX-License-Identifier: MIT */
/*
 * lib/wait.c: deadlines read the clock only when a call first waits, and
 * then keep the expiry they fixed.
 */
#include <errno.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_lazy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
