/* SPDX-License-Identifier: MIT */
/*
 * Named counting semaphores shared by unrelated processes: a futex on a
 * counter in a small POSIX shared memory object "/uipc-sem-<name>".
 *
 * The object holds a magic and a layout version (checked by every
 * attacher; the creator formats the object under no name and publishes it
 * whole through the rendezvous layer), the count, and the number of
 * processes asleep on it, so that a post only enters the kernel when someone
 * may be waiting.  Like POSIX named semaphores, a semaphore persists until
 * uipc_sem_unlink removes its name; uipc_sem_close only unmaps it.
 * UIPC_CREATE makes it with the initial count, or opens the existing one and
 * ignores initial; with UIPC_EXCL an existing one is -EEXIST.
 *
 * Waiting: the count is taken with a compare-and-swap; a waiter announces
 * itself in waiters before it sleeps on the count's futex, and a poster
 * bumps the count before it reads waiters, so one of the two always sees
 * the other (no lost wake-up).  Sleeps are cut into slices so that a waiter
 * killed right after being woken delays the others by one slice at most,
 * instead of stranding a count nobody was woken for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"
#include "rendezvous.h"

#define SEM_PREFIX "/uipc-sem-"
#define SEM_NAME_MAX 200
#define SEM_MAGIC 0x55534d31u /* "USM1" */
#define SEM_VERSION 1u
#define SEM_VALUE_MAX 0x7fffffffu
/* Longest sleep before a waiter looks at the count again (see above). */
#define SEM_SLICE_NS (250 * 1000000ll)

struct sem_shared {
    _Atomic uint32_t magic; /* SEM_MAGIC once initialised (release) */
    uint32_t version;
    _Atomic uint32_t count;
    _Atomic uint32_t waiters; /* processes inside futex_wait, approximately */
};

struct uipc_sem {
    struct sem_shared *sh;
};

/* "/uipc-sem-<name>" into buf; -EINVAL for a bad name. */
static int sem_objname(char *buf, size_t cap, const char *name)
{
    if (!name || !uipc__name_ok(name, SEM_NAME_MAX))
        return -EINVAL;
    size_t n = strlen(name);
    if (sizeof SEM_PREFIX + n > cap)
        return -EINVAL;
    memcpy(buf, SEM_PREFIX, sizeof SEM_PREFIX - 1);
    memcpy(buf + sizeof SEM_PREFIX - 1, name, n + 1);
    return 0;
}

static int map_shared(int fd, struct sem_shared **out)
{
    void *p = mmap(NULL, sizeof **out, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

/*
 * Makes a new semaphore, published whole (rendezvous.h): it is formatted
 * under no name and linked into /dev/shm only then, so nobody ever opens a
 * half-made one.  -EEXIST if the name is taken.
 */
static int sem_create(const char *objname, unsigned initial, struct sem_shared **out)
{
    char tmp[UIPC__RDV_TMP_MAX];
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    int fd = uipc__rdv_tmpfile(dirfd, 0600, tmp);
    if (fd < 0) {
        uipc__close_fd(dirfd);
        return fd;
    }
    int r = uipc__fd_allocate(fd, sizeof **out);
    if (r == 0)
        r = map_shared(fd, out);
    if (r == 0) {
        struct sem_shared *sh = *out;
        sh->version = SEM_VERSION;
        atomic_store_explicit(&sh->count, initial, memory_order_relaxed);
        atomic_store_explicit(&sh->waiters, 0, memory_order_relaxed);
        atomic_store_explicit(&sh->magic, SEM_MAGIC, memory_order_release);
        r = uipc__rdv_publish(dirfd, fd, tmp, objname + 1);
        if (r < 0)
            munmap(*out, sizeof **out);
    }
    uipc__rdv_discard(dirfd, tmp);
    uipc__close_fd(fd);
    uipc__close_fd(dirfd);
    return r;
}

/*
 * Attaches to an existing semaphore and validates it: anything else under
 * the name is -EBADMSG (remove it with uipc_sem_unlink).
 */
static int sem_attach(const char *objname, struct sem_shared **out)
{
    int fd = shm_open(objname, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && (size_t)st.st_size != sizeof **out)
        r = -EBADMSG;
    if (r == 0)
        r = map_shared(fd, out);
    uipc__close_fd(fd);
    if (r < 0)
        return r;
    struct sem_shared *sh = *out;
    if (atomic_load_explicit(&sh->magic, memory_order_acquire) != SEM_MAGIC ||
        sh->version != SEM_VERSION ||
        atomic_load_explicit(&sh->count, memory_order_relaxed) > SEM_VALUE_MAX) {
        munmap(sh, sizeof *sh);
        return -EBADMSG;
    }
    return 0;
}

UIPC_API int uipc_sem_open(uipc_sem **out, const char *name, unsigned initial, int flags)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    char objname[sizeof SEM_PREFIX + SEM_NAME_MAX];
    int r = sem_objname(objname, sizeof objname, name);
    if (r < 0)
        return r;
    if ((flags & ~(UIPC_CREATE | UIPC_EXCL)) || ((flags & UIPC_EXCL) && !(flags & UIPC_CREATE)) ||
        initial > SEM_VALUE_MAX)
        return -EINVAL;

    struct uipc_sem *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    r = -ENOENT;
    for (int attempt = 0; attempt < 100 && r == -ENOENT; attempt++) {
        if (flags & UIPC_CREATE) {
            r = sem_create(objname, initial, &s->sh);
            if (r != -EEXIST || (flags & UIPC_EXCL))
                break;
        }
        /* Attach; a name removed between the two steps is created again. */
        r = sem_attach(objname, &s->sh);
        if (!(flags & UIPC_CREATE))
            break;
    }
    if (r < 0) {
        free(s);
        return r;
    }
    *out = s;
    return 0;
}

/* Takes one count if there is one. */
static bool sem_take(struct sem_shared *sh)
{
    uint32_t v = atomic_load_explicit(&sh->count, memory_order_relaxed);
    while (v > 0) {
        if (atomic_compare_exchange_weak_explicit(&sh->count, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

UIPC_API int uipc_sem_wait(uipc_sem *s, int timeout_ms)
{
    if (!s || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    struct sem_shared *sh = s->sh;
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    for (;;) {
        if (sem_take(sh))
            return 0;
        if (uipc__deadline_left_ns(&dl) == 0)
            return uipc__deadline_error(&dl);
        atomic_fetch_add_explicit(&sh->waiters, 1, memory_order_seq_cst);
        int r = uipc__futex_wait(&sh->count, 0, &dl, SEM_SLICE_NS);
        atomic_fetch_sub_explicit(&sh->waiters, 1, memory_order_seq_cst);
        if (r < 0)
            return sem_take(sh) ? 0 : r; /* a post that raced the deadline still counts */
    }
}

UIPC_API int uipc_sem_post(uipc_sem *s)
{
    if (!s)
        return -EINVAL;
    struct sem_shared *sh = s->sh;
    uint32_t v = atomic_load_explicit(&sh->count, memory_order_relaxed);
    do {
        if (v >= SEM_VALUE_MAX)
            return -EOVERFLOW;
    } while (!atomic_compare_exchange_weak_explicit(&sh->count, &v, v + 1, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* The count is posted whatever FUTEX_WAKE says; a waiter it failed to
     * wake still sees the count at the end of its slice. */
    if (atomic_load_explicit(&sh->waiters, memory_order_seq_cst) > 0)
        (void)uipc__futex_wake(&sh->count, 1);
    return 0;
}

UIPC_API int uipc_sem_close(uipc_sem *s)
{
    if (!s)
        return -EINVAL;
    munmap(s->sh, sizeof *s->sh);
    free(s);
    return 0;
}

UIPC_API int uipc_sem_unlink(const char *name)
{
    char objname[sizeof SEM_PREFIX + SEM_NAME_MAX];
    int r = sem_objname(objname, sizeof objname, name);
    if (r < 0)
        return r;
    return shm_unlink(objname) < 0 ? -errno : 0;
}

/* ---- probe: sem: rows of uipc_list, uipc_remove("sem:NAME") ---- */

/*
 * Judges /dev/shm/<file> as a semaphore: UIPC_RDV_LIVE while some process
 * has it open or mapped (*pid: one of them), else UIPC_RDV_STALE;
 * -EBADMSG when it does not carry the semaphore's magic (not ours).
 */
static int sem_judge(int dirfd, const char *file, struct stat *st, pid_t *pid)
{
    int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint32_t magic = 0;
    int r = fstat(fd, st) < 0 ? -errno : 0;
    if (r == 0 && (!S_ISREG(st->st_mode) || (size_t)st->st_size != sizeof(struct sem_shared) ||
                   pread(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
                   magic != SEM_MAGIC))
        r = -EBADMSG;
    uipc__close_fd(fd);
    if (r < 0)
        return r;
    *pid = uipc__probe_file_holder(st);
    return *pid ? UIPC_RDV_LIVE : UIPC_RDV_STALE;
}

static int sem_row(struct uipc__probe_walk *w, int dirfd, const char *name, const struct stat *st)
{
    const char *prefix = SEM_PREFIX + 1;
    struct stat cur;
    pid_t pid;
    if (!S_ISREG(st->st_mode) || strncmp(name, prefix, strlen(prefix)) != 0)
        return 0;
    int state = sem_judge(dirfd, name, &cur, &pid);
    uipc_rdvinfo info;
    if (state < 0 ||
        uipc__probe_fill(&info, "sem", state, &cur, true, "sem:%s", name + strlen(prefix)) < 0)
        return 0;
    info.pid = pid;
    return w->emit(&info, w->arg);
}

int uipc__sem_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    if (dir)
        return 0;
    struct uipc__probe_walk w = {.dir = "/dev/shm", .emit = emit, .arg = arg};
    return uipc__probe_dir(&w, sem_row);
}

int uipc__sem_remove(const char *name, bool force)
{
    char objname[sizeof SEM_PREFIX + SEM_NAME_MAX];
    int r = sem_objname(objname, sizeof objname, name);
    if (r < 0)
        return r;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    struct stat st;
    pid_t pid;
    r = sem_judge(dirfd, objname + 1, &st, &pid);
    if (r == UIPC_RDV_LIVE && !force)
        r = -EADDRINUSE;
    if (r > 0) {
        struct uipc__rdv_id id = {st.st_dev, st.st_ino};
        r = uipc__rdv_remove(dirfd, objname + 1, &id);
    }
    uipc__close_fd(dirfd);
    return r;
}
