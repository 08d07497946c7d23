/* SPDX-License-Identifier: MIT */
/*
 * Named semaphores (uipc_sem_*): counting across real processes, blocking
 * and waking, timeouts per the contract (0 never waits: -EAGAIN; > 0:
 * -ETIMEDOUT), resumption after signals, names, flags, corrupt objects.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define NPROCS 4
#define PAIRS 100000

struct fx {
    char name[64];
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    tu_name(f->name, sizeof f->name, "tsem-");
    f->fds = tu_count_fds();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    uipc_sem_unlink(f->name);
    free(f);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Takes every count there is without waiting; returns how many. */
static long drain(uipc_sem *s)
{
    long n = 0;
    int e;
    while ((e = uipc_sem_wait(s, 0)) == 0)
        n++;
    return e == -EAGAIN ? n : -1;
}

static void test_basic_and_timeouts(void **state)
{
    struct fx *f = *state;
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 2, UIPC_CREATE | UIPC_EXCL), 0);
    assert_int_equal(uipc_sem_wait(s, 0), 0);
    assert_int_equal(uipc_sem_wait(s, UIPC_FOREVER), 0);
    assert_int_equal(uipc_sem_wait(s, 0), -EAGAIN);
    assert_int_equal(uipc_sem_wait(s, 30), -ETIMEDOUT);
    assert_int_equal(uipc_sem_post(s), 0);
    assert_int_equal(uipc_sem_wait(s, 30), 0);
    assert_int_equal(uipc_sem_close(s), 0);

    /* Persistent until unlinked: the count survives close. */
    assert_int_equal(uipc_sem_open(&s, f->name, 0, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_null(s);
    assert_int_equal(uipc_sem_open(&s, f->name, 0, 0), 0);
    assert_int_equal(uipc_sem_post(s), 0);
    assert_int_equal(uipc_sem_close(s), 0);
    /* UIPC_CREATE without EXCL opens the existing one; initial is ignored. */
    assert_int_equal(uipc_sem_open(&s, f->name, 5, UIPC_CREATE), 0);
    assert_int_equal(drain(s), 1);
    assert_int_equal(uipc_sem_close(s), 0);

    assert_int_equal(uipc_sem_unlink(f->name), 0);
    assert_int_equal(uipc_sem_unlink(f->name), -ENOENT);
    assert_int_equal(uipc_sem_open(&s, f->name, 0, 0), -ENOENT);
    assert_null(s);
    /* UIPC_CREATE alone makes it when missing, with initial. */
    assert_int_equal(uipc_sem_open(&s, f->name, 3, UIPC_CREATE), 0);
    assert_int_equal(drain(s), 3);
    assert_int_equal(uipc_sem_close(s), 0);
    assert_int_equal(tu_count_fds(), f->fds);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    static const char *const bad_names[] = {"", ".", "..", "a/b", "/lead", "tab\there"};
    uipc_sem *s = (uipc_sem *)1;
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_int_equal(uipc_sem_open(&s, bad_names[i], 0, UIPC_CREATE), -EINVAL);
        assert_null(s);
        assert_int_equal(uipc_sem_unlink(bad_names[i]), -EINVAL);
    }
    assert_int_equal(uipc_sem_open(&s, longname, 0, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_sem_unlink(longname), -EINVAL);
    assert_int_equal(uipc_sem_open(&s, NULL, 0, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_sem_unlink(NULL), -EINVAL);
    assert_int_equal(uipc_sem_open(NULL, f->name, 0, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_sem_open(&s, f->name, 0, UIPC_EXCL), -EINVAL);
    assert_int_equal(uipc_sem_open(&s, f->name, 0, 1 << 9), -EINVAL);
    assert_int_equal(uipc_sem_open(&s, f->name, 0x80000000u, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_sem_wait(NULL, 0), -EINVAL);
    assert_int_equal(uipc_sem_post(NULL), -EINVAL);
    assert_int_equal(uipc_sem_close(NULL), -EINVAL);
    assert_int_equal(uipc_sem_open(&s, f->name, 0, 0), -ENOENT); /* nothing was made */

    /* The largest count, and one more. */
    assert_int_equal(uipc_sem_open(&s, f->name, 0x7fffffffu, UIPC_CREATE), 0);
    assert_int_equal(uipc_sem_post(s), -EOVERFLOW);
    assert_int_equal(uipc_sem_wait(s, 0), 0);
    assert_int_equal(uipc_sem_post(s), 0);
    assert_int_equal(uipc_sem_close(s), 0);
    assert_int_equal(tu_count_fds(), f->fds);
}

/* Objects under the semaphore's name that are not semaphores. */
static void test_corrupt_object(void **state)
{
    struct fx *f = *state;
    char obj[128];
    snprintf(obj, sizeof obj, "/uipc-sem-%s", f->name);
    int fd = shm_open(obj, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 16), 0);
    uint32_t junk[4] = {0xdeadbeef, 1, 0, 0};
    assert_int_equal(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 0, 0), -EBADMSG);
    assert_int_equal(uipc_sem_open(&s, f->name, 0, UIPC_CREATE), -EBADMSG);
    assert_int_equal(ftruncate(fd, 4096), 0); /* wrong size */
    assert_int_equal(uipc_sem_open(&s, f->name, 0, 0), -EBADMSG);
    close(fd);
    assert_int_equal(uipc_sem_unlink(f->name), 0);
    assert_int_equal(tu_count_fds(), f->fds);
}

/* Each child opens the semaphore by name, as an unrelated process would. */
static int child_pairs(void *p)
{
    uipc_sem *s;
    if (uipc_sem_open(&s, p, 0, 0) < 0)
        return 10;
    for (int i = 0; i < PAIRS; i++) {
        if (uipc_sem_post(s) < 0)
            return 11;
        if (uipc_sem_wait(s, UIPC_FOREVER) < 0)
            return 12;
    }
    return uipc_sem_close(s) == 0 ? 0 : 13;
}

static void test_pairs_exact(void **state)
{
    struct fx *f = *state;
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 3, UIPC_CREATE | UIPC_EXCL), 0);
    pid_t pids[NPROCS];
    for (int i = 0; i < NPROCS; i++)
        pids[i] = tu_fork(child_pairs, f->name);
    for (int i = 0; i < NPROCS; i++)
        assert_int_equal(tu_wait(pids[i]), 0);
    assert_int_equal(drain(s), 3);
    assert_int_equal(uipc_sem_close(s), 0);
}

static int child_post(void *p)
{
    uipc_sem *s;
    if (uipc_sem_open(&s, p, 0, 0) < 0)
        return 10;
    for (int i = 0; i < PAIRS; i++)
        if (uipc_sem_post(s) < 0)
            return 11;
    uipc_sem_close(s);
    return 0;
}

static int child_wait(void *p)
{
    uipc_sem *s;
    if (uipc_sem_open(&s, p, 0, 0) < 0)
        return 10;
    for (int i = 0; i < PAIRS; i++)
        if (uipc_sem_wait(s, 20000) < 0)
            return 11;
    uipc_sem_close(s);
    return 0;
}

/* Waiters that really sleep: consumers start first on an empty count. */
static void test_producers_consumers(void **state)
{
    struct fx *f = *state;
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 0, UIPC_CREATE | UIPC_EXCL), 0);
    pid_t c1 = tu_fork(child_wait, f->name), c2 = tu_fork(child_wait, f->name);
    sleep_ms(20);
    pid_t p1 = tu_fork(child_post, f->name), p2 = tu_fork(child_post, f->name);
    assert_int_equal(tu_wait(p1), 0);
    assert_int_equal(tu_wait(p2), 0);
    assert_int_equal(tu_wait(c1), 0);
    assert_int_equal(tu_wait(c2), 0);
    assert_int_equal(drain(s), 0);
    assert_int_equal(uipc_sem_close(s), 0);
}

static void on_usr1(int sig)
{
    (void)sig;
}

struct intr_arg {
    const char *name;
    int timeout_ms;
    int expect;
};

/* Child: waits while the parent pelts it with signals that have a handler. */
static int child_wait_interrupted(void *p)
{
    const struct intr_arg *a = p;
    struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    uipc_sem *s;
    if (uipc_sem_open(&s, a->name, 0, 0) < 0)
        return 10;
    int e = uipc_sem_wait(s, a->timeout_ms);
    uipc_sem_close(s);
    return e == a->expect ? 0 : 20 + (e < 0 ? -e : e) % 100;
}

static void test_signals_do_not_interrupt(void **state)
{
    struct fx *f = *state;
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 0, UIPC_CREATE | UIPC_EXCL), 0);
    /* The children inherit the handler: a signal that arrives before a
     * (slow, e.g. ThreadSanitizer) child has installed its own must not
     * kill it. */
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

    /* A bounded wait still ends in -ETIMEDOUT, never -EINTR. */
    struct intr_arg a = {f->name, 300, -ETIMEDOUT};
    pid_t pid = tu_fork(child_wait_interrupted, &a);
    for (int i = 0; i < 5; i++) {
        sleep_ms(30);
        kill(pid, SIGUSR1);
    }
    assert_int_equal(tu_wait(pid), 0);

    /* A wait forever survives the signals and takes the post. */
    struct intr_arg b = {f->name, UIPC_FOREVER, 0};
    pid = tu_fork(child_wait_interrupted, &b);
    for (int i = 0; i < 5; i++) {
        sleep_ms(20);
        kill(pid, SIGUSR1);
    }
    assert_int_equal(uipc_sem_post(s), 0);
    assert_int_equal(tu_wait(pid), 0);
    sigaction(SIGUSR1, &old, NULL);
    assert_int_equal(drain(s), 0);
    assert_int_equal(uipc_sem_close(s), 0);
}

/* A waiter killed in its sleep takes nothing with it. */
static void test_killed_waiter(void **state)
{
    struct fx *f = *state;
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 0, UIPC_CREATE | UIPC_EXCL), 0);
    struct intr_arg a = {f->name, UIPC_FOREVER, 0};
    pid_t pid = tu_fork(child_wait_interrupted, &a);
    sleep_ms(30);
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    assert_int_equal(uipc_sem_post(s), 0);
    assert_int_equal(uipc_sem_wait(s, 0), 0);
    /* A later waiter is still woken by a later post. */
    pid = tu_fork(child_wait_interrupted, &a);
    sleep_ms(30);
    assert_int_equal(uipc_sem_post(s), 0);
    assert_int_equal(tu_wait(pid), 0);
    assert_int_equal(uipc_sem_close(s), 0);
}

struct thread_arg {
    uipc_sem *s;
    long *counter; /* plain memory: only the semaphore orders the updates */
    int rc;
};

static void *thread_binary_lock(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 20000 && a->rc == 0; i++) {
        a->rc = uipc_sem_wait(a->s, 20000);
        if (a->rc == 0) {
            ++*a->counter;
            a->rc = uipc_sem_post(a->s);
        }
    }
    return NULL;
}

/*
 * Threads of one process sharing one handle (wait and post may be called
 * from many threads at once, docs/sync.md), so that ThreadSanitizer can
 * check that a wait orders what the matching post's thread did before it.
 * (Separate handles would be separate mappings of the same page, which
 * ThreadSanitizer cannot relate.)
 */
static void test_threads_binary_lock(void **state)
{
    struct fx *f = *state;
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, f->name, 1, UIPC_CREATE | UIPC_EXCL), 0);
    long counter = 0;
    pthread_t t[NPROCS];
    struct thread_arg a[NPROCS];
    for (int i = 0; i < NPROCS; i++) {
        a[i] = (struct thread_arg){s, &counter, 0};
        assert_int_equal(pthread_create(&t[i], NULL, thread_binary_lock, &a[i]), 0);
    }
    for (int i = 0; i < NPROCS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].rc, 0);
    }
    assert_int_equal(counter, NPROCS * 20000L);
    assert_int_equal(drain(s), 1);
    assert_int_equal(uipc_sem_close(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_and_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pairs_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producers_consumers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_do_not_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_waiter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_binary_lock, setup, teardown),
    };
    return cmocka_run_group_tests_name("sync_sem", tests, NULL, NULL);
}
