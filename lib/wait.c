/* SPDX-License-Identifier: MIT */
/*
 * Deadlines, poll with the remaining time, and futex wait/wake.  The only
 * place in the library that deals with EINTR around a sleep.
 */
#include "wait.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
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
    d->at_ns = timeout_ms > 0 ? uipc__now_ns() + (int64_t)timeout_ms * 1000000 : 0;
}

int64_t uipc__deadline_left_ns(const struct uipc__deadline *d)
{
    if (d->timeout_ms < 0)
        return -1;
    if (d->timeout_ms == 0)
        return 0;
    int64_t left = d->at_ns - uipc__now_ns();
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
