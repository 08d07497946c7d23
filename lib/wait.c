/* SPDX-License-Identifier: MIT */
/*
 * Deadlines, poll with the remaining time, and futex wait/wake.  The only
 * place in the library that deals with EINTR around a sleep.
 */
#include "wait.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int64_t uipc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void uipc__deadline_start(struct uipc__deadline *d, int timeout_ms)
{
    d->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    d->at_store = 0;
    d->at_ns = &d->at_store;
}

int64_t uipc__deadline_left_ns(const struct uipc__deadline *d)
{
    if (d->timeout_ms < 0)
        return -1;
    if (d->timeout_ms == 0)
        return 0;
    int64_t now = uipc__now_ns();
    if (*d->at_ns == 0)
        *d->at_ns = now + (int64_t)d->timeout_ms * 1000000;
    int64_t left = *d->at_ns - now;
    return left > 0 ? left : 0;
}

int uipc__deadline_error(const struct uipc__deadline *d)
{
    return d->timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
}

struct timespec uipc__ns_to_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

struct timeval uipc__ns_to_timeval(int64_t ns)
{
    int64_t us = (ns + 999) / 1000;
    struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
    return tv;
}

struct timespec uipc__deadline_abs(const struct uipc__deadline *d, clockid_t clock)
{
    struct timespec ts = {0, 0};
    int64_t left = uipc__deadline_left_ns(d);
    if (left <= 0)
        return ts;
    clock_gettime(clock, &ts);
    int64_t ns = ts.tv_nsec + left % 1000000000;
    ts.tv_sec += (time_t)(left / 1000000000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

int uipc__wait_fds(struct pollfd *fds, int n, const struct uipc__deadline *d)
{
    for (;;) {
        int64_t left = uipc__deadline_left_ns(d);
        struct timespec ts = uipc__ns_to_timespec(left < 0 ? 0 : left);
        int r = ppoll(fds, (nfds_t)n, left < 0 ? NULL : &ts, NULL);
        if (r > 0)
            return r;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r == 0 && uipc__deadline_left_ns(d) == 0)
            return uipc__deadline_error(d);
    }
}

int uipc__wait_fd(int fd, short events, const struct uipc__deadline *d)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r = uipc__wait_fds(&p, 1, d);
    if (r < 0)
        return r;
    return (p.revents & POLLNVAL) ? -EBADF : p.revents;
}

int uipc__futex_wait(_Atomic uint32_t *addr, uint32_t expected, const struct uipc__deadline *d,
                     int64_t max_ns)
{
    int64_t left = uipc__deadline_left_ns(d);
    if (left == 0)
        return uipc__deadline_error(d);
    bool sliced = max_ns >= 0 && (left < 0 || max_ns < left);
    int64_t wait_ns = sliced ? max_ns : left;
    struct timespec ts = uipc__ns_to_timespec(wait_ns < 0 ? 0 : wait_ns);
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, wait_ns < 0 ? NULL : &ts,
                     NULL, 0);
    if (r == 0 || errno == EAGAIN || errno == EINTR)
        return 0;
    if (errno == ETIMEDOUT)
        return sliced ? 0 : uipc__deadline_error(d);
    return -errno;
}

int uipc__futex_wake(_Atomic uint32_t *addr, int n)
{
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
    return r < 0 ? -errno : (int)r;
}

bool uipc__live_check_clock(struct uipc__live_check *c)
{
    int64_t now = uipc__now_ns();
    if (now < c->next_ns) {
        c->countdown = c->every;
        return false;
    }
    c->next_ns = now + UIPC__LIVENESS_NS;
    c->countdown = 1; /* a sender that pauses looks at every send */
    return true;
}

void uipc__nap_ns(int64_t ns)
{
    struct timespec ts = uipc__ns_to_timespec(ns);
    nanosleep(&ts, NULL);
}

/* ---- the alarm: a per-thread timer that interrupts a blocking call ---- */

static void alarm_handler(int sig)
{
    (void)sig; /* its only effect is the EINTR of the call it interrupted */
}

static pthread_once_t alarm_once = PTHREAD_ONCE_INIT;
static pthread_key_t alarm_key;   /* its destructor deletes a thread's timer */
static int alarm_setup_error;     /* set once by alarm_setup */

/* This thread's timer, valid while alarm_timer_ok. */
static _Thread_local timer_t alarm_timer;
static _Thread_local bool alarm_timer_ok;

static void alarm_thread_exit(void *marker)
{
    (void)marker;
    if (alarm_timer_ok)
        timer_delete(alarm_timer);
    alarm_timer_ok = false;
}

/* Timers are not inherited: the child of a fork makes its own. */
static void alarm_forked_child(void)
{
    alarm_timer_ok = false;
}

/* After the deadline the alarm repeats this often until disarmed. */
#define ALARM_REPEAT_NS (1000 * 1000LL)

static bool handler_is_ours(void)
{
    struct sigaction cur;
    return sigaction(UIPC__ALARM_SIGNAL, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
           cur.sa_handler == alarm_handler;
}

static void alarm_setup(void)
{
    struct sigaction cur, sa;
    if (pthread_key_create(&alarm_key, alarm_thread_exit) != 0 ||
        pthread_atfork(NULL, NULL, alarm_forked_child) != 0) {
        alarm_setup_error = -EAGAIN;
        return;
    }
    if (sigaction(UIPC__ALARM_SIGNAL, NULL, &cur) < 0) {
        alarm_setup_error = -errno;
        return;
    }
    if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL) {
        alarm_setup_error = -EBUSY; /* the application's: left alone */
        return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = alarm_handler; /* no SA_RESTART: the call returns EINTR */
    sigfillset(&sa.sa_mask);
    if (sigaction(UIPC__ALARM_SIGNAL, &sa, NULL) < 0)
        alarm_setup_error = -errno;
}

static int alarm_thread_timer(void)
{
    if (alarm_timer_ok)
        return 0;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = UIPC__ALARM_SIGNAL;
#ifdef sigev_notify_thread_id
    ev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
#else
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
#endif
    if (timer_create(CLOCK_MONOTONIC, &ev, &alarm_timer) < 0)
        return -errno;
    if (pthread_setspecific(alarm_key, &alarm_timer) != 0) {
        timer_delete(alarm_timer);
        return -ENOMEM;
    }
    alarm_timer_ok = true;
    return 0;
}

int uipc__alarm_arm(struct uipc__alarm *a, const struct uipc__deadline *d)
{
    a->armed = a->restore = false;
    int64_t left = uipc__deadline_left_ns(d);
    if (left <= 0)
        return -EINVAL;
    pthread_once(&alarm_once, alarm_setup);
    if (alarm_setup_error)
        return alarm_setup_error;
    if (!handler_is_ours())
        return -EBUSY; /* the application took the signal over since */
    int r = alarm_thread_timer();
    if (r < 0)
        return r;
    sigset_t ours, old;
    sigemptyset(&ours);
    sigaddset(&ours, UIPC__ALARM_SIGNAL);
    if (pthread_sigmask(SIG_UNBLOCK, &ours, &old) != 0)
        return -EINVAL;
    a->restore = sigismember(&old, UIPC__ALARM_SIGNAL) == 1;
    /* The timer keeps firing every ALARM_REPEAT_NS after the deadline until
     * disarmed: a signal that lands after arm but before the caller has
     * entered its blocking call (a thread preempted in between) is followed
     * by another one, so that call is still interrupted instead of blocking
     * for ever. */
    struct itimerspec its = {.it_value = uipc__ns_to_timespec(left),
                             .it_interval = uipc__ns_to_timespec(ALARM_REPEAT_NS)};
    if (timer_settime(alarm_timer, 0, &its, NULL) < 0) {
        r = -errno;
        if (a->restore)
            pthread_sigmask(SIG_BLOCK, &ours, NULL);
        a->restore = false;
        return r;
    }
    a->armed = true;
    return 0;
}

void uipc__alarm_disarm(struct uipc__alarm *a)
{
    if (!a->armed)
        return;
    /* Stopped first: a signal generated before this was delivered already
     * (it was unblocked), so blocking it again leaves nothing pending. */
    struct itimerspec zero;
    memset(&zero, 0, sizeof zero);
    timer_settime(alarm_timer, 0, &zero, NULL);
    if (a->restore) {
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, UIPC__ALARM_SIGNAL);
        pthread_sigmask(SIG_BLOCK, &ours, NULL);
    }
    a->armed = a->restore = false;
}

/* ---- asymmetric fences (wait.h) ---- */

bool uipc__fence_light_ok;
static pthread_once_t fence_once = PTHREAD_ONCE_INIT;

static void fence_register_now(void)
{
    long r = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0);
    __atomic_store_n(&uipc__fence_light_ok, r == 0, __ATOMIC_RELAXED);
}

static void fence_setup(void)
{
    /* A child does not rely on its parent's registration. */
    pthread_atfork(NULL, NULL, fence_register_now);
    fence_register_now();
}

void uipc__fence_register(void)
{
    pthread_once(&fence_once, fence_setup);
}

int uipc__fence_heavy(void)
{
    return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : -errno;
}
