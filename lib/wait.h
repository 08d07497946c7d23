/* SPDX-License-Identifier: MIT */
/*
 * Deadlines and waiting, written once for the whole library.
 *
 * A public call turns its timeout_ms into a struct uipc__deadline at entry;
 * every wait below it (poll, futex, retry loops) takes the deadline and
 * sleeps only for what remains, so EINTR and retries never stretch a
 * timeout.  When the deadline has passed, the error is -EAGAIN for a
 * timeout of 0 (the call would block) and -ETIMEDOUT otherwise.
 */
#ifndef UIPC_WAIT_H
#define UIPC_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

struct uipc__deadline {
    int timeout_ms;   /* as the caller gave it: -1 forever, 0 poll, > 0 bounded */
    /* CLOCK_MONOTONIC expiry when timeout_ms > 0, 0 until a wait first asks
     * what is left: a call that never waits never reads the clock (~25 ns,
     * as much as a whole shm: message).  The time before that first wait
     * is non-blocking work, so no call waits longer than its timeout.  Held
     * through a pointer so that the const deadline each wait receives can
     * still record it; uipc__deadline_start points it at at_store. */
    int64_t *at_ns;
    int64_t at_store;
};

/* Monotonic clock in nanoseconds. */
int64_t uipc__now_ns(void);

/*
 * A timeout_ms the contract accepts: -1 (forever), 0 or more.  Every public
 * call that takes one answers -EINVAL for anything else before it does
 * anything (API.md, Conventions).
 */
static inline bool uipc__timeout_valid(int timeout_ms)
{
    return timeout_ms >= -1;
}

/* Starts a deadline from a valid timeout (-1 means forever).  The struct
 * must not be copied afterwards (at_ns points into it). */
void uipc__deadline_start(struct uipc__deadline *d, int timeout_ms);

/* Nanoseconds left: -1 forever, 0 when expired (or timeout 0). */
int64_t uipc__deadline_left_ns(const struct uipc__deadline *d);

/* The error a call returns once its deadline has passed: -EAGAIN or -ETIMEDOUT. */
int uipc__deadline_error(const struct uipc__deadline *d);

/* ns (>= 0) as a relative timespec, for kernel calls that take a duration. */
struct timespec uipc__ns_to_timespec(int64_t ns);
/* The same as a timeval (SO_RCVTIMEO), rounded up to whole microseconds. */
struct timeval uipc__ns_to_timeval(int64_t ns);

/*
 * A bounded deadline (left >= 0) as an absolute time on clock, for calls
 * that take one: CLOCK_REALTIME for mq_timedsend/mq_timedreceive,
 * CLOCK_MONOTONIC for pthread_mutex_clocklock.  A deadline that has passed
 * gives a time in the past, so the call does not sleep.
 */
struct timespec uipc__deadline_abs(const struct uipc__deadline *d, clockid_t clock);

/*
 * Waits until fd reports one of events (POLLIN, POLLOUT) or the deadline
 * passes.  Returns the revents (> 0; POLLHUP/POLLERR included), or the
 * deadline's error.  EINTR resumes with the remaining time.
 */
int uipc__wait_fd(int fd, short events, const struct uipc__deadline *d);

/*
 * The same for several descriptors: fills in revents and returns how many
 * are ready (> 0), or the deadline's error.
 */
struct pollfd;
int uipc__wait_fds(struct pollfd *fds, int n, const struct uipc__deadline *d);

/*
 * Shared (not FUTEX_PRIVATE) futex on a 32-bit word, usable across
 * processes.  uipc__futex_wait sleeps while *addr == expected, at most until
 * the deadline, or at most max_ns when max_ns >= 0 (for periodic liveness
 * checks).  Returns 0 when woken or when the value differed (the caller
 * re-checks its condition), -EAGAIN/-ETIMEDOUT at the deadline; a max_ns
 * slice that ran out before the deadline returns 0.
 */
int uipc__futex_wait(_Atomic uint32_t *addr, uint32_t expected, const struct uipc__deadline *d,
                     int64_t max_ns);
/* Wakes up to n waiters on addr; returns how many were woken. */
int uipc__futex_wake(_Atomic uint32_t *addr, int n);

/*
 * Sleeps about ns nanoseconds (under a second): a step of a bounded retry
 * loop.  A signal may end it early; the loop re-checks its own condition.
 */
void uipc__nap_ns(int64_t ns);

/*
 * Bounding a blocking system call that takes no timeout (msgsnd, msgrcv):
 * uipc__alarm_arm starts a per-thread POSIX timer (timer_create with
 * SIGEV_THREAD_ID) that sends UIPC__ALARM_SIGNAL to this thread when the
 * deadline passes; the library's handler for it does nothing and is
 * installed without SA_RESTART, so the blocked call returns EINTR at the
 * deadline (and again every millisecond until disarmed, so a signal that
 * came before the call blocked is not the only one).  The caller then
 * blocks in the kernel like a wait forever does,
 * using no CPU, instead of polling.
 *
 * The signal never reaches the application: the handler is installed only
 * where the signal's disposition is still the default (never over an
 * application's handler or SIG_IGN), and each arm checks it is still ours;
 * the signal is unblocked in the calling thread only between arm and
 * disarm (a caller that blocks every signal is served too: its mask is
 * restored); disarm stops the timer before restoring the mask, so nothing
 * stays pending.  Returns 0 when armed, -EBUSY when the application owns
 * the signal, another -errno when no timer can be made: the caller then
 * falls back to polling.  Not for a deadline of forever or of 0.
 */
#define UIPC__ALARM_SIGNAL (SIGRTMAX - 1)

struct uipc__alarm {
    bool armed;
    bool restore; /* the signal was blocked before arm: block it again */
};

int uipc__alarm_arm(struct uipc__alarm *a, const struct uipc__deadline *d);
void uipc__alarm_disarm(struct uipc__alarm *a);

/*
 * Asymmetric fences for the shared-memory rings' sleep/wake handshake.
 * A side that commits (a record, a tail) and then reads its peer's waiter
 * word needs that store ordered before that load, or a peer that is just
 * going to sleep may be missed; a full fence on every message costs more
 * than the rest of a small message's handling.  Instead the rare side pays:
 * a side about to sleep, after announcing it in its waiter word, calls
 * uipc__fence_heavy (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)), which
 * runs a full barrier on every CPU currently running a registered process,
 * so the fast side needs only a compiler barrier (uipc__fence_light).
 * A process registers with uipc__fence_register when it opens a ring
 * (again in a forked child); where that fails, uipc__fence_light_ok is
 * false and the fast side uses a sequentially consistent store instead.
 */
extern bool uipc__fence_light_ok;
void uipc__fence_register(void);
/* 0, or -errno when the kernel refused (the sleeper then relies on the
 * periodic re-check of its wait, SLICE_NS in ring.c). */
int uipc__fence_heavy(void);

/* Stores v to *word and then loads *peer, in that order as seen by a peer
 * that sleeps only after uipc__fence_heavy.  Returns what it loaded. */
static inline uint32_t uipc__store_then_load(_Atomic uint64_t *word, uint64_t v,
                                             _Atomic uint32_t *peer)
{
    if (__builtin_expect(uipc__fence_light_ok, 1)) {
        atomic_store_explicit(word, v, memory_order_release);
        atomic_signal_fence(memory_order_seq_cst); /* the compiler keeps the order */
    } else {
        atomic_store(word, v); /* seq_cst: ordered before the load below */
    }
    return atomic_load_explicit(peer, memory_order_relaxed);
}

/*
 * When a send path that cannot afford a system call per message looks at
 * its peer's liveness: on the first send, then on any send made
 * UIPC__LIVENESS_NS or more after the last look.  The clock itself is read
 * on the send after a look and then every `every` sends (1 where a send
 * costs a system call anyway, more on a ring's fast path), so:
 *  - a send made after a pause of UIPC__LIVENESS_NS looks at once;
 *  - a sender that never pauses looks about every UIPC__LIVENESS_NS, so a
 *    receiver's death costs it at most that long plus `every` sends.
 * Zero-filled is not a valid state: start with uipc__live_check_init.
 */
#define UIPC__LIVENESS_NS 1000000 /* 1 ms */

struct uipc__live_check {
    uint32_t countdown; /* sends until the clock is read */
    uint32_t every;
    int64_t next_ns;    /* the next look is due at this time */
};

static inline void uipc__live_check_init(struct uipc__live_check *c, uint32_t every)
{
    c->countdown = 1;
    c->every = every;
    c->next_ns = 0;
}

/* The slow half of uipc__live_check_due: reads the clock. */
bool uipc__live_check_clock(struct uipc__live_check *c);

/* True when this send should look at the peer's liveness. */
static inline bool uipc__live_check_due(struct uipc__live_check *c)
{
    return --c->countdown == 0 && uipc__live_check_clock(c);
}

/* A pause instruction for spin loops. */
static inline void uipc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* UIPC_WAIT_H */
