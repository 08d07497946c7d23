/* SPDX-License-Identifier: MIT */
/*
 * Raw shared regions: "shm://name?size=&mode=" (POSIX shared memory object
 * "/name", in /dev/shm) and "mmap:///path?size=&mode=" (a regular file).
 * The whole mapping belongs to the caller: no header, no magic, so the
 * bytes other programs see at "/dev/shm/name" are exactly the region.
 *
 * Lifetime follows the channels of the same schemes (docs/sync.md):
 *  - shm: the creator (UIPC_CREATE) owns the name and removes it when it
 *    closes the region, in the process that created it; processes still
 *    attached keep their mapping.  The creator holds the owner's OFD lock
 *    (rendezvous.h, the same lock as a shm: ring's) on the object for as
 *    long as its handle lives (forked children share it), which is how a
 *    later UIPC_CREATE tells a live owner (-EADDRINUSE) from a stale name
 *    left by a crash (removed and made afresh, only by the uid owning it:
 *    -EPERM otherwise).  The object is published whole, sized, marked as a
 *    region (user.uipc) and already locked (uipc__rdv_tmpfile + publish),
 *    so nobody sees it half-made.  Close removes the name only while it is
 *    still the object this handle made (compared by inode).
 *  - mmap: the file is persistent by nature.  UIPC_CREATE makes it if it is
 *    missing and otherwise opens it with its contents; nobody removes it.
 * A region is made zero-filled, with ?mode= permissions (default 0600) set
 * exactly (fchmod, so the umask does not interfere).  Attaching learns the
 * size; a ?size= given when attaching must match it.
 *
 * "sysvshm://KEY?size=" (System V segments, shared with programs that call
 * shmget/shmat themselves) is its own code path: lib/sync/region_sysv.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "sync/region_sysv.h"

/* Longest shm region name, without the leading '/' (NAME_MAX leaves room). */
#define REGION_NAME_MAX 200
/* Largest region: 64 GiB, or what a 32-bit address space can hope to map. */
#define REGION_SIZE_MAX (SIZE_MAX > (1ull << 36) ? (1ull << 36) : (uint64_t)(SIZE_MAX / 2))
/* How long an attacher waits for a creator that has made the name but not yet sized it. */
#define SIZING_WAIT_NS (100 * 1000000ll)

struct uipc_region {
    void *ptr;
    size_t size;
    int lock_fd;    /* shm creator: holds the owner's OFD lock; -1 otherwise */
    pid_t opener;   /* process that created it (fork detection) */
    char shm_name[REGION_NAME_MAX + 2]; /* "/name" for a shm creator, "" otherwise */
    struct uipc__sysvshm sysv; /* sysvshm: regions (id >= 0); region_sysv.c */
};

static const char *const region_keys[] = {"size", "mode", NULL};

struct region_args {
    bool is_shm;
    const char *where;  /* shm name (without '/') or absolute file path */
    uint64_t size;      /* 0 when absent */
    mode_t mode;
};

static int parse_region_uri(const struct uipc__uri *u, struct region_args *a)
{
    if (strcmp(u->scheme, "shm") != 0 && strcmp(u->scheme, "mmap") != 0)
        return -EPROTONOSUPPORT; /* regions live in shared memory or a file */
    int r = uipc__uri_check_keys(u, region_keys);
    if (r < 0)
        return r;
    if (strcmp(u->scheme, "shm") == 0) {
        /* "shm://name": the name is the authority and nothing follows it. */
        if (!u->has_authority || u->path[0] || !uipc__name_ok(u->authority, REGION_NAME_MAX))
            return -EINVAL;
        a->is_shm = true;
        a->where = u->authority;
    } else {
        /* "mmap:///abs/path": empty authority, absolute path, not a directory. */
        size_t n = strlen(u->path);
        if (!u->has_authority || u->authority[0] || u->path[0] != '/' || n >= PATH_MAX ||
            u->path[n - 1] == '/')
            return -EINVAL;
        a->is_shm = false;
        a->where = u->path;
    }
    r = uipc__uri_size(u, "size", 1, REGION_SIZE_MAX, 0, &a->size);
    if (r == 0)
        r = uipc__uri_mode(u, &a->mode);
    return r;
}

/*
 * The size of an existing object.  A size of 0 means its creator has made the
 * name but not sized it yet (an mmap: region's creator, or a program other
 * than libuipc: libuipc publishes shm regions whole), so we wait briefly; an
 * object still empty after that is not a region (-ENOENT: there is nothing
 * to attach to).
 */
static int existing_size(int fd, uint64_t *size)
{
    int64_t until = uipc__now_ns() + SIZING_WAIT_NS;
    for (;;) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode))
            return -EINVAL;
        if (st.st_size > 0) {
            if ((uint64_t)st.st_size > REGION_SIZE_MAX)
                return -EFBIG;
            *size = (uint64_t)st.st_size;
            return 0;
        }
        if (uipc__now_ns() >= until)
            return -ENOENT;
        uipc__nap_ns(1000000); /* an early return only shortens one poll step */
    }
}

/* Sizes a freshly made object: exact permissions, zero-filled, reserved. */
static int size_new(int fd, uint64_t size, mode_t mode)
{
    if (fchmod(fd, mode) < 0)
        return -errno;
    return uipc__fd_allocate(fd, size);
}

/* The owner's lock (slot 0): -EADDRINUSE while a live owner holds it. */
static int lock_ex(int fd, bool wait)
{
    int r = uipc__rdv_lock(fd, 0, wait);
    return r == -EBUSY ? -EADDRINUSE : r;
}

/*
 * Removes the stale object at name in dirfd so that a creator can try
 * again: 0 when it is gone (or was meanwhile), -EADDRINUSE while its owner
 * holds the lock, -EPERM when another uid owns it.  Any object nobody
 * locks is stale: libuipc's creators publish theirs locked (shm_create).
 */
static int remove_stale(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    int r = lock_ex(fd, false);
    if (r == 0 && fstat(fd, &st) < 0)
        r = -errno;
    if (r == 0)
        r = uipc__rdv_adoptable(st.st_uid); /* never replace another uid's */
    if (r == 0) {
        struct uipc__rdv_id id = {st.st_dev, st.st_ino};
        r = uipc__rdv_remove(dirfd, name, &id);
        if (r == -ENOENT || r == -ESTALE)
            r = 0; /* gone or replaced meanwhile: try again */
    }
    uipc__close_fd(fd); /* releases our lock */
    return r;
}

/*
 * Creates the shm object name ("/x"), taking over a stale one.  The object
 * is published whole (rendezvous.h): sized, with its mode, marked as a
 * region and with the owner's lock already held before the name exists, so
 * nobody ever sees it half-made or ownerless.  Returns the descriptor
 * holding the owner lock.
 */
static int shm_create(const char *name, const struct region_args *a, int flags)
{
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    int r = -EADDRINUSE;
    for (int attempt = 0; attempt < 50; attempt++) {
        char tmp[UIPC__RDV_TMP_MAX];
        int fd = uipc__rdv_tmpfile(dirfd, a->mode, tmp);
        if (fd < 0) {
            r = fd;
            break;
        }
        r = uipc__fd_allocate(fd, a->size);
        if (r == 0)
            r = lock_ex(fd, false); /* a new inode: nobody else can hold it */
        if (r == 0) {
            uipc__rdv_mark(fd, "region"); /* a stale one is then removable */
            r = uipc__rdv_publish(dirfd, fd, tmp, name + 1);
        }
        uipc__rdv_discard(dirfd, tmp);
        if (r == 0) {
            uipc__close_fd(dirfd);
            return fd;
        }
        uipc__close_fd(fd);
        if (r != -EEXIST || (flags & UIPC_EXCL))
            break;
        r = remove_stale(dirfd, name + 1);
        if (r < 0)
            break;
        r = -EADDRINUSE;
    }
    uipc__close_fd(dirfd);
    return r;
}

/* Opens (and if need be makes) the file of an mmap: region.  Returns its fd. */
static int file_open(const struct region_args *a, int flags, bool *made)
{
    *made = false;
    if (flags & UIPC_CREATE) {
        int fd = open(a->where, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, a->mode);
        if (fd >= 0) {
            *made = true;
            return fd;
        }
        if (errno != EEXIST || (flags & UIPC_EXCL))
            return -errno;
    }
    int fd = open(a->where, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    return fd < 0 ? -errno : fd;
}

static int map_fd(struct uipc_region *rg, int fd, uint64_t size)
{
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    rg->ptr = p;
    rg->size = (size_t)size;
    return 0;
}

static int remove_own(const char *name, int fd);

static int open_shm(struct uipc_region *rg, const struct region_args *a, int flags)
{
    char name[REGION_NAME_MAX + 2];
    name[0] = '/';
    strcpy(name + 1, a->where); /* length checked by uipc__name_ok */
    uint64_t size = a->size;
    int r, fd;

    if (flags & UIPC_CREATE) {
        fd = shm_create(name, a, flags);
        if (fd < 0)
            return fd;
        r = map_fd(rg, fd, size);
        if (r < 0) {
            remove_own(name, fd);
            uipc__close_fd(fd);
            return r;
        }
        rg->lock_fd = fd;
        memcpy(rg->shm_name, name, sizeof name);
        return 0;
    }
    fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    r = existing_size(fd, &size);
    if (r == 0 && a->size && a->size != size)
        r = -EINVAL;
    if (r == 0)
        r = map_fd(rg, fd, size);
    uipc__close_fd(fd); /* the mapping keeps the object */
    return r;
}

static int open_file(struct uipc_region *rg, const struct region_args *a, int flags)
{
    bool made;
    uint64_t size = a->size;
    int fd = file_open(a, flags, &made);
    if (fd < 0)
        return fd;
    int r;
    if (made) {
        r = size_new(fd, size, a->mode);
        if (r < 0)
            unlink(a->where);
    } else {
        struct stat st;
        r = fstat(fd, &st) < 0 ? -errno : 0;
        if (r == 0 && !S_ISREG(st.st_mode))
            r = -EINVAL;
        if (r == 0 && st.st_size == 0 && (flags & UIPC_CREATE)) {
            /* An empty file we were asked to create: size it (idempotent
             * if another creator races us to it).  Its mode stays. */
            r = uipc__fd_allocate(fd, size);
        } else if (r == 0) {
            r = existing_size(fd, &size);
            if (r == 0 && a->size && a->size != size)
                r = -EINVAL;
        }
    }
    if (r == 0)
        r = map_fd(rg, fd, size);
    uipc__close_fd(fd);
    return r;
}

UIPC_API int uipc_region_open(uipc_region **out, const char *uri, int flags)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!uri || (flags & ~(UIPC_CREATE | UIPC_EXCL)) ||
        ((flags & UIPC_EXCL) && !(flags & UIPC_CREATE)))
        return -EINVAL;

    struct uipc__uri *u = malloc(sizeof *u);
    struct uipc_region *rg = calloc(1, sizeof *rg);
    struct region_args a;
    int r = (u && rg) ? 0 : -ENOMEM;
    if (r == 0)
        r = uipc__uri_parse(u, uri);
    if (r == 0)
        rg->sysv.id = -1;
    if (r == 0 && strcmp(u->scheme, "sysvshm") == 0) {
        rg->opener = getpid();
        r = uipc__sysvshm_open(&rg->sysv, u, flags, REGION_SIZE_MAX, &rg->ptr, &rg->size);
        if (r < 0)
            goto fail;
        free(u);
        *out = rg;
        return 0;
    }
    if (r == 0)
        r = parse_region_uri(u, &a);
    if (r == 0 && (flags & UIPC_CREATE) && a.size == 0)
        r = -EINVAL; /* a region is made with an explicit ?size= */
    if (r < 0)
        goto fail;

    rg->lock_fd = -1;
    rg->opener = getpid();
    r = a.is_shm ? open_shm(rg, &a, flags) : open_file(rg, &a, flags);
    if (r < 0)
        goto fail;
    free(u);
    *out = rg;
    return 0;
fail:
    free(u);
    free(rg);
    return r;
}

UIPC_API void *uipc_region_ptr(const uipc_region *r)
{
    return r ? r->ptr : NULL;
}

UIPC_API size_t uipc_region_size(const uipc_region *r)
{
    return r ? r->size : 0;
}

/* Removes the object's name while it still is the object behind fd. */
static int remove_own(const char *name, int fd)
{
    struct uipc__rdv_id id;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    int r = uipc__rdv_id_fd(fd, &id);
    if (r == 0)
        r = uipc__rdv_remove(dirfd, name + 1, &id);
    uipc__close_fd(dirfd);
    return r == -ENOENT || r == -ESTALE ? 0 : r;
}

UIPC_API int uipc_region_close(uipc_region *r)
{
    if (!r)
        return -EINVAL;
    if (r->sysv.id >= 0) {
        int err = uipc__sysvshm_close(&r->sysv, r->ptr, r->opener == getpid());
        free(r);
        return err;
    }
    int err = 0;
    if (r->ptr)
        munmap(r->ptr, r->size);
    /* Only the creating process removes the name: a forked child closing
     * its inherited copy leaves it (and the shared owner lock) alone. */
    if (r->lock_fd >= 0 && r->opener == getpid())
        err = remove_own(r->shm_name, r->lock_fd);
    uipc__close_fd(r->lock_fd);
    free(r);
    return err;
}
