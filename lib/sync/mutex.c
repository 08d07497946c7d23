/* SPDX-License-Identifier: MIT */
/*
 * A process-shared robust mutex placed in the caller's uipc_mutex (which
 * lives inside a region): a pthread mutex with PTHREAD_PROCESS_SHARED,
 * PTHREAD_MUTEX_ROBUST and the error-checking type, followed by a magic that
 * tells an initialised mutex from stray bytes.
 *
 * Robustness comes from the kernel's robust futex list: when the owner dies
 * holding the lock, the next locker gets EOWNERDEAD and owns it.  We mark
 * the mutex consistent at once, so the lock keeps working whatever the
 * caller does next; -EOWNERDEAD only tells the caller to repair the data.
 * The error-checking type gives -EDEADLK when the owner locks again and
 * -EPERM when a non-owner unlocks.  No priority inheritance (docs/sync.md
 * says why).  Timeouts use CLOCK_MONOTONIC where the C library can
 * (pthread_mutex_clocklock, glibc 2.30+), CLOCK_REALTIME otherwise.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "internal.h"

#define MUTEX_MAGIC 0x554d5458u /* "UMTX" */

struct mutex_impl {
    pthread_mutex_t m;
    uint32_t magic;
};

static_assert(sizeof(struct mutex_impl) <= sizeof(uipc_mutex),
              "pthread_mutex_t and its magic must fit in uipc_mutex");
static_assert(_Alignof(struct mutex_impl) <= _Alignof(uipc_mutex),
              "uipc_mutex must be aligned for pthread_mutex_t");

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define HAVE_CLOCKLOCK 1
#else
#define HAVE_CLOCKLOCK 0
#endif

/*
 * ThreadSanitizer intercepts pthread_mutex_lock and trylock, but not
 * clocklock, and its timedlock ignores EOWNERDEAD: it would lose track of a
 * lock taken with a timeout.  Under TSan the timed path is annotated by
 * hand (the annotations also switch its interceptors off for the call).
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#endif
#ifdef UNDER_TSAN
#include <sanitizer/tsan_interface.h>
#define TSAN_PRE_TRYLOCK(m) __tsan_mutex_pre_lock((m), __tsan_mutex_try_lock)
#define TSAN_POST_TRYLOCK(m, got)                                                               \
    __tsan_mutex_post_lock((m), __tsan_mutex_try_lock | ((got) ? 0 : __tsan_mutex_try_lock_failed), 0)
#else
#define TSAN_PRE_TRYLOCK(m) ((void)0)
#define TSAN_POST_TRYLOCK(m, got) ((void)0)
#endif

static struct mutex_impl *impl_of(uipc_mutex *m)
{
    return (struct mutex_impl *)(void *)m->opaque;
}

UIPC_API int uipc_mutex_init(uipc_mutex *m)
{
    if (!m)
        return -EINVAL;
    struct mutex_impl *mi = impl_of(m);
    pthread_mutexattr_t attr;
    int r = pthread_mutexattr_init(&attr);
    if (r)
        return -r;
    if (!(r = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) &&
        !(r = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) &&
        !(r = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK)))
        r = pthread_mutex_init(&mi->m, &attr);
    pthread_mutexattr_destroy(&attr);
    if (r)
        return -r;
    mi->magic = MUTEX_MAGIC;
    return 0;
}

UIPC_API int uipc_mutex_lock(uipc_mutex *m, int timeout_ms)
{
    if (!m || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    struct mutex_impl *mi = impl_of(m);
    if (mi->magic != MUTEX_MAGIC)
        return -EINVAL;
    int r;
    if (timeout_ms < 0) {
        r = pthread_mutex_lock(&mi->m);
    } else if (timeout_ms == 0) {
        r = pthread_mutex_trylock(&mi->m);
        if (r == EBUSY)
            r = EAGAIN;
    } else {
        /* Reading the clock costs more than a free lock: try first. */
        r = pthread_mutex_trylock(&mi->m);
        if (r == EBUSY) {
            TSAN_PRE_TRYLOCK(&mi->m);
            struct uipc__deadline dl;
            uipc__deadline_start(&dl, timeout_ms);
#if HAVE_CLOCKLOCK
            struct timespec at = uipc__deadline_abs(&dl, CLOCK_MONOTONIC);
            r = pthread_mutex_clocklock(&mi->m, CLOCK_MONOTONIC, &at);
#else
            struct timespec at = uipc__deadline_abs(&dl, CLOCK_REALTIME);
            r = pthread_mutex_timedlock(&mi->m, &at);
#endif
            TSAN_POST_TRYLOCK(&mi->m, r == 0 || r == EOWNERDEAD);
        }
    }
    if (r == EOWNERDEAD) {
        /* We own it; make it usable again before handing the repair over. */
        pthread_mutex_consistent(&mi->m);
        return -EOWNERDEAD;
    }
    return -r;
}

UIPC_API int uipc_mutex_unlock(uipc_mutex *m)
{
    if (!m)
        return -EINVAL;
    struct mutex_impl *mi = impl_of(m);
    if (mi->magic != MUTEX_MAGIC)
        return -EINVAL;
    return -pthread_mutex_unlock(&mi->m);
}
