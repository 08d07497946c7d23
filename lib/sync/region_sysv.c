/* SPDX-License-Identifier: MIT */
/*
 * sysvshm: regions — a System V shared memory segment as a uipc_region:
 * "sysvshm://0x4d2?size=4K" (the key, decimal or 0x hex) or
 * "sysvshm:///etc/app?proj=7&size=4K" (ftok of an existing path), named
 * exactly as sysvmq: names its queues.  The whole segment is the region, no
 * header, so a program that calls shmget(1234, ...) and shmat() itself
 * shares the same bytes.
 *
 * Ownership and lifetime follow the other regions (docs/sync.md):
 *  - UIPC_CREATE makes the segment (IPC_CREAT | IPC_EXCL, ?size= bytes,
 *    zero-filled by the kernel, ?mode= permissions, default 0600, exact:
 *    System V applies no umask) and owns it.  With UIPC_EXCL an existing
 *    key is -EEXIST.
 *  - An existing segment is live while anything is attached to it
 *    (shm_nattch > 0) or its creator (shm_cpid) still runs: UIPC_CREATE is
 *    -EADDRINUSE.  Otherwise it is stale, and UIPC_CREATE takes it over
 *    (removes it and makes a fresh one) only if the caller's effective uid
 *    owns it; another user's stale segment stays (-EPERM, as for shm:).
 *  - The owner removes the segment (IPC_RMID) when it closes the region, in
 *    the process that made it, not in a forked child.  The key is free at
 *    once; processes still attached, libuipc or not, keep the memory until
 *    they detach, when the kernel destroys it.
 *  - Attaching (no UIPC_CREATE) learns the size from the segment
 *    (shm_segsz); a ?size= given must match it (-EINVAL).  The kernel checks
 *    the segment's mode at shmat (-EACCES).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "sync/region_sysv.h"

static const char *const sysvshm_keys[] = {"size", "mode", "proj", NULL};

/* How many times a creator looks again at a key that keeps changing under it. */
#define CREATE_ATTEMPTS 16

static bool pid_running(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/*
 * The segment id found at a key that UIPC_CREATE found taken: removes it
 * when it is stale and the caller's.  0 when the key may be tried again.
 */
static int take_over(int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0)
        return errno == EINVAL || errno == EIDRM ? 0 : -errno; /* gone meanwhile */
    if (ds.shm_nattch > 0 || pid_running(ds.shm_cpid))
        return -EADDRINUSE;
    int r = uipc__rdv_adoptable(ds.shm_perm.uid); /* never destroy another user's data */
    if (r < 0)
        return r;
    if (shmctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL && errno != EIDRM)
        return -errno;
    return 0;
}

static int create(key_t key, uint64_t size, mode_t mode, int flags)
{
    for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        int id = shmget(key, (size_t)size, IPC_CREAT | IPC_EXCL | (int)mode);
        if (id >= 0)
            return id;
        if (errno != EEXIST)
            return -errno; /* EINVAL: above kernel.shmmax; ENOSPC: out of segments */
        if (flags & UIPC_EXCL)
            return -EEXIST;
        id = shmget(key, 0, 0);
        if (id < 0 && errno != ENOENT)
            return -errno;
        if (id >= 0) {
            int r = take_over(id);
            if (r < 0)
                return r;
        }
    }
    return -EADDRINUSE;
}

static int attach_existing(key_t key, uint64_t want_size, uint64_t size_max, uint64_t *size)
{
    int id = shmget(key, 0, 0);
    if (id < 0)
        return -errno;
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0)
        return -errno;
    if (ds.shm_segsz > size_max)
        return -EFBIG;
    if (want_size && want_size != ds.shm_segsz)
        return -EINVAL;
    *size = ds.shm_segsz;
    return id;
}

int uipc__sysvshm_open(struct uipc__sysvshm *s, const struct uipc__uri *u, int flags,
                       uint64_t size_max, void **ptr, size_t *size)
{
    key_t key;
    uint64_t want;
    mode_t mode;
    int r;
    s->id = -1;
    s->owner = false;
    if ((r = uipc__uri_check_keys(u, sysvshm_keys)) < 0 ||
        (r = uipc__uri_size(u, "size", 1, size_max, 0, &want)) < 0 ||
        (r = uipc__uri_mode(u, &mode)) < 0 || (r = uipc__uri_sysv_key(u, &key)) < 0)
        return r;

    uint64_t got = want;
    int id;
    if (flags & UIPC_CREATE) {
        if (want == 0)
            return -EINVAL; /* a region is made with an explicit ?size= */
        id = create(key, want, mode, flags);
    } else {
        id = attach_existing(key, want, size_max, &got);
    }
    if (id < 0)
        return id;
    void *p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
        r = -errno;
        if (flags & UIPC_CREATE)
            shmctl(id, IPC_RMID, NULL);
        return r;
    }
    s->id = id;
    s->owner = (flags & UIPC_CREATE) != 0;
    *ptr = p;
    *size = (size_t)got;
    return 0;
}

int uipc__sysvshm_close(const struct uipc__sysvshm *s, void *ptr, bool in_creator)
{
    int err = 0;
    if (ptr && shmdt(ptr) < 0)
        err = -errno;
    /* EINVAL/EIDRM: somebody (ipcrm) removed it already. */
    if (s->owner && in_creator && shmctl(s->id, IPC_RMID, NULL) < 0 && errno != EINVAL &&
        errno != EIDRM && err == 0)
        err = -errno;
    return err;
}
