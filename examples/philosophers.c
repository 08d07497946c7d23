/* SPDX-License-Identifier: MIT */
/*
 * philosophers: the dining philosophers as processes, one named semaphore
 * (uipc_sem) per fork.
 *
 *   naive    every philosopher takes the left fork, then the right one.  When
 *            all take their left fork at once nobody gets a right one: a
 *            deadlock.  Waiting for the right fork with a timeout detects it;
 *            the philosopher reports it, puts the left fork down, backs off
 *            for a random moment and tries again.
 *   ordered  forks are numbered and always taken lower number first, so a
 *            cycle of waiting philosophers cannot form: no deadlock.
 *   waiter   a waiter semaphore lets at most n-1 philosophers reach for forks
 *            at the same time, so at least one of them gets both: no deadlock.
 *
 *   usage: philosophers [naive|ordered|waiter|all] [philosophers (2..64, default 5)]
 *                       [rounds (default 3)]
 *
 * Every philosopher pauses between its first and second fork, which makes
 * the naive deadlock all but certain.  In the safe modes the same timeout is
 * only a safety net: if it ever fires the program exits 1.  Meals and
 * detections are counted in a shared region.
 */
#define _POSIX_C_SOURCE 200809L /* kill, nanosleep, rand_r under -std=c11 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

#define MAX_PHILOSOPHERS 64
#define NAIVE_TIMEOUT_MS 100   /* a right fork this late means deadlock */
#define SAFE_TIMEOUT_MS 10000  /* in the safe modes: never expected to fire */

enum mode { NAIVE, ORDERED, WAITER };
static const char *const mode_names[] = {"naive", "ordered", "waiter"};

/* What the philosophers report, each in its own slot (no lock needed). */
struct table {
    int meals[MAX_PHILOSOPHERS];
    int deadlocks[MAX_PHILOSOPHERS];   /* naive: timeouts on the second fork */
    int unexpected[MAX_PHILOSOPHERS];  /* safe modes: a timeout that should not be */
};

struct dinner {
    enum mode mode;
    int n, rounds;
    struct table *table;
    char prefix[48];
    uipc_sem *forks[MAX_PHILOSOPHERS];
    uipc_sem *waiter;
    uipc_sem *start;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void sem_name(char *buf, size_t cap, const struct dinner *d, const char *what, int i)
{
    snprintf(buf, cap, "%s-%s-%d", d->prefix, what, i);
}

static int open_sems(struct dinner *d)
{
    char name[96];
    int e = 0;
    for (int i = 0; i < d->n && e == 0; i++) {
        sem_name(name, sizeof name, d, "fork", i);
        e = uipc_sem_open(&d->forks[i], name, 1, UIPC_CREATE | UIPC_EXCL);
    }
    if (e == 0) {
        sem_name(name, sizeof name, d, "waiter", 0);
        e = uipc_sem_open(&d->waiter, name, (unsigned)d->n - 1, UIPC_CREATE | UIPC_EXCL);
    }
    if (e == 0) {
        sem_name(name, sizeof name, d, "start", 0);
        e = uipc_sem_open(&d->start, name, 0, UIPC_CREATE | UIPC_EXCL);
    }
    if (e < 0)
        fprintf(stderr, "philosophers: semaphore %s: %s\n", name, uipc_strerror(e));
    return e;
}

/* Closes and removes every semaphore of this dinner. */
static void remove_sems(struct dinner *d)
{
    char name[96];
    for (int i = 0; i < d->n; i++) {
        if (d->forks[i])
            uipc_sem_close(d->forks[i]);
        sem_name(name, sizeof name, d, "fork", i);
        uipc_sem_unlink(name);
    }
    if (d->waiter)
        uipc_sem_close(d->waiter);
    if (d->start)
        uipc_sem_close(d->start);
    sem_name(name, sizeof name, d, "waiter", 0);
    uipc_sem_unlink(name);
    sem_name(name, sizeof name, d, "start", 0);
    uipc_sem_unlink(name);
}

/*
 * One meal.  Returns 0 when eaten, 1 when the naive second fork timed out
 * (a deadlock, detected and broken), 2 on a timeout that should not happen.
 */
static int try_to_eat(struct dinner *d, int me, unsigned *seed)
{
    int left = me, right = (me + 1) % d->n;
    int first = left, second = right;
    if (d->mode == ORDERED && first > second) {
        first = right;
        second = left;
    }
    if (d->mode == WAITER && uipc_sem_wait(d->waiter, SAFE_TIMEOUT_MS) < 0)
        return 2;
    if (uipc_sem_wait(d->forks[first], SAFE_TIMEOUT_MS) < 0) {
        if (d->mode == WAITER)
            uipc_sem_post(d->waiter);
        return 2;
    }
    sleep_ms(5); /* reaching for the other fork: the window for the deadlock */
    int timeout = d->mode == NAIVE ? NAIVE_TIMEOUT_MS : SAFE_TIMEOUT_MS;
    if (uipc_sem_wait(d->forks[second], timeout) < 0) {
        if (d->mode == NAIVE)
            printf("  philosopher %d: fork %d still busy after %d ms while holding fork %d: "
                   "deadlock; putting fork %d down\n",
                   me, second, timeout, first, first);
        uipc_sem_post(d->forks[first]);
        if (d->mode == WAITER)
            uipc_sem_post(d->waiter);
        sleep_ms(rand_r(seed) % 20); /* a random back-off breaks the symmetry */
        return d->mode == NAIVE ? 1 : 2;
    }
    d->table->meals[me]++;
    sleep_ms(1); /* eating */
    uipc_sem_post(d->forks[second]);
    uipc_sem_post(d->forks[first]);
    if (d->mode == WAITER)
        uipc_sem_post(d->waiter);
    return 0;
}

static int philosopher(struct dinner *d, int me)
{
    unsigned seed = (unsigned)getpid();
    if (uipc_sem_wait(d->start, SAFE_TIMEOUT_MS) < 0)
        return 1;
    for (int round = 0; round < d->rounds;) {
        int r = try_to_eat(d, me, &seed);
        if (r == 0) {
            round++;
            sleep_ms(rand_r(&seed) % 3); /* thinking */
        } else if (r == 1) {
            d->table->deadlocks[me]++;
        } else {
            d->table->unexpected[me]++;
            return 1;
        }
    }
    return 0;
}

static int dine(enum mode mode, int n, int rounds, struct table *table)
{
    struct dinner d = {.mode = mode, .n = n, .rounds = rounds, .table = table};
    snprintf(d.prefix, sizeof d.prefix, "phil-%d-%s", (int)getpid(), mode_names[mode]);
    memset(table, 0, sizeof *table);
    int failed = open_sems(&d) < 0;
    printf("%s: %d philosophers, %d rounds each\n", mode_names[mode], n, rounds);
    fflush(stdout); /* children must not inherit (and repeat) buffered output */
    int started = 0;
    for (int i = 0; i < n && !failed; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            failed = 1;
            break;
        }
        if (pid == 0) {
            int rc = philosopher(&d, i);
            fflush(stdout);
            _exit(rc);
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        uipc_sem_post(d.start); /* everybody sits down at the same moment */
    int st;
    while (wait(&st) > 0)
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    remove_sems(&d);

    int meals = 0, deadlocks = 0, unexpected = 0;
    for (int i = 0; i < n; i++) {
        meals += table->meals[i];
        deadlocks += table->deadlocks[i];
        unexpected += table->unexpected[i];
    }
    failed |= meals != n * rounds;
    if (mode == NAIVE)
        printf("%s: %d meals; %d deadlocked waits detected by the %d ms timeout and broken\n",
               mode_names[mode], meals, deadlocks, NAIVE_TIMEOUT_MS);
    else
        printf("%s: %d meals; %d timeouts (none expected: this order cannot deadlock)\n",
               mode_names[mode], meals, unexpected);
    return failed;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    int n = argc > 2 ? atoi(argv[2]) : 5;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    int all = strcmp(which, "all") == 0;
    int chosen = -1;
    for (int m = 0; m < 3; m++)
        if (strcmp(which, mode_names[m]) == 0)
            chosen = m;
    if (argc > 4 || (!all && chosen < 0) || n < 2 || n > MAX_PHILOSOPHERS || rounds < 1) {
        fprintf(stderr, "usage: %s [naive|ordered|waiter|all] [philosophers 2..%d] [rounds]\n",
                argv[0], MAX_PHILOSOPHERS);
        return 2;
    }

    char uri[96];
    snprintf(uri, sizeof uri, "shm://phil-%d-table?size=%zu", (int)getpid(), sizeof(struct table));
    uipc_region *r;
    int e = uipc_region_open(&r, uri, UIPC_CREATE | UIPC_EXCL);
    if (e < 0) {
        fprintf(stderr, "philosophers: %s: %s\n", uri, uipc_strerror(e));
        return 1;
    }
    struct table *table = uipc_region_ptr(r);
    int failed = 0;
    for (int m = 0; m < 3; m++)
        if (all || m == chosen)
            failed |= dine((enum mode)m, n, rounds, table);
    uipc_region_close(r);
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed;
}
