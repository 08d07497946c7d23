/* SPDX-License-Identifier: MIT */
/*
 * bank_account: several processes update one bank account kept in a shared
 * region, first without a lock (updates get lost: the race made visible),
 * then under a uipc_mutex (the balance comes out exact).  Finally a process
 * is killed in the middle of a transfer while it holds the lock, and the
 * next process to lock gets -EOWNERDEAD and repairs the account from a
 * journal before the bank opens again.
 *
 *   usage: bank_account [processes (>= 2, default 2)] [operations per process (default 1000000)]
 *
 * Exits 0 when the locked run is exact and the recovery works.  The lost
 * updates of the unlocked run depend on scheduling: on a single CPU there
 * may be none.
 */
#define _POSIX_C_SOURCE 200809L /* kill, nanosleep, rand_r under -std=c11 */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uipc/uipc.h>

/* The account, as it lies in the region.  The mutex comes first: it needs
 * its 64-byte alignment, and the region starts page-aligned. */
struct account {
    uipc_mutex lock;
    volatile long checking;
    volatile long savings;
    volatile long transactions; /* updated together with checking */
    atomic_int ready;           /* tellers at the start line */
    struct {                    /* written before a transfer, cleared after */
        volatile int in_flight;
        volatile long checking_before, savings_before;
    } journal;
};

static char region_uri[96];

static void die(const char *what, int err)
{
    fprintf(stderr, "bank_account: %s: %s\n", what, uipc_strerror(err));
    exit(1);
}

/* A child attaches to the bank by name, as an unrelated process would. */
static struct account *attach(uipc_region **r)
{
    int e = uipc_region_open(r, region_uri, 0);
    if (e < 0)
        die("attach", e);
    return uipc_region_ptr(*r);
}

/* Deposit 3, withdraw 1, deposit 3, ...: a read-modify-write each time. */
static void teller(int procs, long ops, int locked)
{
    uipc_region *r;
    struct account *a = attach(&r);
    /* Start together, or the first teller may be done before the last one
     * has been forked and there would be no race to see. */
    atomic_fetch_add(&a->ready, 1);
    while (atomic_load(&a->ready) < procs)
        sched_yield();
    for (long i = 0; i < ops; i++) {
        long amount = (i % 2 == 0) ? 3 : -1;
        if (locked) {
            int e = uipc_mutex_lock(&a->lock, UIPC_FOREVER);
            if (e < 0)
                die("lock", e);
        }
        long balance = a->checking, count = a->transactions;
        a->checking = balance + amount;
        a->transactions = count + 1;
        if (locked)
            uipc_mutex_unlock(&a->lock);
    }
    uipc_region_close(r);
}

static long expected_change(long ops)
{
    return (ops + 1) / 2 * 3 - ops / 2;
}

static int run_tellers(struct account *a, int procs, long ops, int locked)
{
    a->checking = 1000;
    a->transactions = 0;
    atomic_store(&a->ready, 0);
    fflush(stdout); /* children must not inherit (and repeat) buffered output */
    for (int p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork", -errno);
        if (pid == 0) {
            teller(procs, ops, locked);
            _exit(0);
        }
    }
    int failed = 0, st;
    while (wait(&st) > 0)
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    long want = 1000 + procs * expected_change(ops);
    long lost = (long)procs * ops - a->transactions;
    printf("%-9s %d processes x %ld operations: balance %ld, expected %ld; %ld of %ld updates lost\n",
           locked ? "locked:" : "unlocked:", procs, ops, a->checking, want, lost,
           (long)procs * ops);
    return failed || (locked && (a->checking != want || lost != 0));
}

/* Moves 100 from checking to savings, but dies half-way, holding the lock. */
static void doomed_transfer(int ready_fd)
{
    uipc_region *r;
    struct account *a = attach(&r);
    int e = uipc_mutex_lock(&a->lock, UIPC_FOREVER);
    if (e < 0)
        die("lock", e);
    a->journal.checking_before = a->checking;
    a->journal.savings_before = a->savings;
    a->journal.in_flight = 1;
    a->checking -= 100; /* ... and the deposit into savings never happens */
    (void)!write(ready_fd, "x", 1);
    for (;;)
        pause();
}

static int crash_and_recover(struct account *a)
{
    a->checking = 500;
    a->savings = 500;
    int ready[2];
    if (pipe(ready) < 0)
        die("pipe", -errno);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", -errno);
    if (pid == 0) {
        close(ready[0]);
        doomed_transfer(ready[1]);
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1)
        die("child", -EPIPE);
    close(ready[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    printf("crash:    process %d killed mid-transfer holding the lock: checking %ld + savings %ld = %ld\n",
           (int)pid, a->checking, a->savings, a->checking + a->savings);

    int e = uipc_mutex_lock(&a->lock, 1000);
    if (e != -EOWNERDEAD) {
        fprintf(stderr, "bank_account: expected -EOWNERDEAD, got %s\n", uipc_strerror(e));
        return 1;
    }
    printf("recovery: lock returned -EOWNERDEAD (\"%s\"); ", uipc_strerror(e));
    if (a->journal.in_flight) {
        a->checking = a->journal.checking_before;
        a->savings = a->journal.savings_before;
        a->journal.in_flight = 0;
        printf("rolled back from the journal\n");
    }
    uipc_mutex_unlock(&a->lock);

    e = uipc_mutex_lock(&a->lock, 1000);
    if (e != 0)
        die("lock after recovery", e);
    long total = a->checking + a->savings;
    uipc_mutex_unlock(&a->lock);
    printf("after:    the lock works again; checking %ld + savings %ld = %ld\n", a->checking,
           a->savings, total);
    return total != 1000;
}

int main(int argc, char **argv)
{
    int procs = argc > 1 ? atoi(argv[1]) : 2;
    long ops = argc > 2 ? atol(argv[2]) : 1000000;
    if (argc > 3 || procs < 2 || procs > 64 || ops < 1) {
        fprintf(stderr, "usage: %s [processes >= 2] [operations per process]\n", argv[0]);
        return 2;
    }
    snprintf(region_uri, sizeof region_uri, "shm://bank-%d", (int)getpid());
    char create_uri[128];
    snprintf(create_uri, sizeof create_uri, "%s?size=4K", region_uri);

    uipc_region *r;
    int e = uipc_region_open(&r, create_uri, UIPC_CREATE | UIPC_EXCL);
    if (e < 0)
        die(create_uri, e);
    struct account *a = uipc_region_ptr(r); /* zero-filled */
    e = uipc_mutex_init(&a->lock);
    if (e < 0)
        die("mutex init", e);

    int failed = run_tellers(a, procs, ops, 0);
    failed |= run_tellers(a, procs, ops, 1);
    failed |= crash_and_recover(a);
    uipc_region_close(r); /* the creator's close removes the name */
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed;
}
