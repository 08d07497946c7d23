/* SPDX-License-Identifier: MIT */
/*
 * Notifications: one int carried to another process by a queued real-time
 * signal, SIGRTMIN+7 (sigqueue), received synchronously with sigtimedwait.
 *
 * Real-time signals queue, so values from one sender arrive in the order
 * they were sent, up to the receiver's RLIMIT_SIGPENDING (a full queue makes
 * uipc_notify return -EAGAIN).  The signal must be blocked in every thread of
 * the receiver, or its default action (terminate) runs: uipc_notify_block
 * blocks it in the calling thread, to be called before threads are created
 * so that all inherit the mask, and uipc_notify_wait refuses (-EINVAL) to
 * wait in a thread where it is not blocked.  A SIGRTMIN+7 not sent by
 * sigqueue (kill(1), raise) carries no value and is discarded.
 * SIGRTMIN+7 leaves SIGRTMIN..+6 to the C library and to other code.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "internal.h"

static int notify_signal(void)
{
    return SIGRTMIN + 7;
}

static void notify_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, notify_signal());
}

UIPC_API int uipc_notify_block(void)
{
    sigset_t set;
    notify_set(&set);
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

UIPC_API int uipc_notify(pid_t pid, int value)
{
    if (pid <= 0)
        return -EINVAL; /* one process, never a group or everyone */
    union sigval v = {.sival_int = value};
    return sigqueue(pid, notify_signal(), v) < 0 ? -errno : 0;
}

UIPC_API int uipc_notify_wait(pid_t *from, int *value, int timeout_ms)
{
    if (!uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    sigset_t set, cur;
    notify_set(&set);
    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0 || !sigismember(&cur, notify_signal()))
        return -EINVAL; /* call uipc_notify_block first */

    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    for (;;) {
        siginfo_t si;
        int64_t left = uipc__deadline_left_ns(&dl);
        int n;
        if (left < 0) {
            n = sigwaitinfo(&set, &si);
        } else {
            struct timespec ts = uipc__ns_to_timespec(left);
            n = sigtimedwait(&set, &si, &ts);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue; /* another signal's handler ran: wait for what remains */
            if (errno == EAGAIN)
                return uipc__deadline_error(&dl);
            return -errno;
        }
        if (si.si_code != SI_QUEUE)
            continue;
        if (from)
            *from = si.si_pid;
        if (value)
            *value = si.si_value.sival_int;
        return 0;
    }
}
