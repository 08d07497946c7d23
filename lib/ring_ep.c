/* SPDX-License-Identifier: MIT */
/*
 * A channel endpoint over a whole ring mapping (see ring_ep.h): the file
 * and its header, waiting (bounded adaptive spin, then a shared futex), the
 * poll doorbell and the peer's liveness.  The lock-free ring itself is
 * ring.c; the lifecycle of the named file (publishing, locks, take-over,
 * removal) is the rendezvous layer's (rendezvous.h).
 *
 * Liveness: each side holds the rendezvous layer's OFD lock on the slot of
 * the file that stands for it (0 or 1).  An OFD lock lives as long as any
 * descriptor of its open file description, in any process: it is released
 * when the last process holding the side closes it or dies, and never by a
 * fork child closing its inherited copy.  The peer tests it with
 * uipc__rdv_held.
 */
#include "ring_ep.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"
#include "rendezvous.h"

/* A sleeper re-checks the peer's lock this often. */
#define SLICE_NS (50 * 1000000LL)
/* A caller polling with timeout 0 re-checks the peer's lock at most this often. */
#define POLL_CHECK_NS (10 * 1000000LL)
/* A send reads the clock every this many sends (send_looks_at_peer). */
#define SEND_LIVE_EVERY 16
/* A spinning side first leaves the ring alone this long (see spin()). */
#define SPIN_BACKOFF_NS 80

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

const char *const uipc__ring_keys[] = {"size", "maxmsg", "spin", "mode", NULL};

static uint64_t pow2_ceil(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

int uipc__ring_params(const struct uipc__uri *u, struct uipc__ring_params *p)
{
    uint64_t size, max_msg;
    long spin_us;
    memset(p, 0, sizeof *p);
    /* A default of 0 lies outside each range: it marks "not given". */
    int r = uipc__uri_size(u, "size", UIPC__RING_MIN_SIZE, UIPC__RING_MAX_SIZE, 0, &size);
    if (r == 0)
        r = uipc__uri_size(u, "maxmsg", 1, UIPC__RING_MAX_SIZE - UIPC__RING_REC_HDR, 0,
                           &max_msg);
    if (r == 0)
        r = uipc__uri_long(u, "spin", 0, UIPC__RING_MAX_SPIN_US, UIPC__RING_DEFAULT_SPIN_US,
                           &spin_us);
    if (r == 0)
        r = uipc__uri_mode(u, &p->mode);
    if (r < 0)
        return r;
    p->size_given = size != 0;
    p->maxmsg_given = max_msg != 0;
    if (size)
        size = pow2_ceil(size);
    else if (max_msg) /* room for two of the largest messages */
        size = pow2_ceil(2 * (max_msg + UIPC__RING_REC_HDR));
    if (size < UIPC__RING_DEFAULT_SIZE && !p->size_given)
        size = UIPC__RING_DEFAULT_SIZE;
    if (size > UIPC__RING_MAX_SIZE)
        size = UIPC__RING_MAX_SIZE;
    if (!max_msg)
        max_msg = size / 2;
    if (max_msg > size - UIPC__RING_REC_HDR)
        return -EINVAL;
    p->ring_size = size;
    p->max_msg = max_msg;
    p->spin_ns = (int64_t)spin_us * 1000;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files, locks, geometry                                              */
/* ------------------------------------------------------------------ */

static uint64_t total_size(uint64_t ring_size)
{
    return UIPC__RING_HDR_SIZE + 2 * ring_size;
}

/*
 * Reads the header with pread (no mapping yet, so a short or foreign file
 * cannot fault) and validates the geometry against the file size.
 */
static int read_geometry(int fd, uint64_t file_size, struct uipc__ring_hdr *g)
{
    if (file_size < UIPC__RING_HDR_SIZE)
        return -EBADMSG;
    ssize_t n = pread(fd, g, offsetof(struct uipc__ring_hdr, side), 0);
    if (n < 0)
        return -errno;
    if ((size_t)n < offsetof(struct uipc__ring_hdr, side) || g->magic != UIPC__RING_MAGIC)
        return -EBADMSG;
    if (g->version != UIPC__RING_VERSION)
        return -EPROTO;
    uint64_t rs = g->ring_size;
    if (g->hdr_size != UIPC__RING_HDR_SIZE || g->flags != 0 || rs < UIPC__RING_MIN_SIZE ||
        rs > UIPC__RING_MAX_SIZE || (rs & (rs - 1)) || g->max_msg == 0 ||
        g->max_msg > rs - UIPC__RING_REC_HDR || g->total_size != total_size(rs) ||
        file_size < g->total_size)
        return -EBADMSG;
    return 0;
}

static void random_id(uint8_t id[16])
{
    if (getrandom(id, 16, GRND_NONBLOCK) == 16)
        return;
    /* No entropy yet (early boot): unique enough for a doorbell name. */
    uint64_t a = (uint64_t)uipc__now_ns(), b = (uint64_t)getpid() << 32 ^ (uintptr_t)id;
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

/* Sizes a new file and writes its header (magic last). */
static int format_fd(int fd, const struct uipc__ring_params *p)
{
    uint64_t total = total_size(p->ring_size);
    /* Reserve the memory now: running out later would be SIGBUS. */
    int r = uipc__fd_allocate(fd, total);
    if (r < 0)
        return r;
    struct uipc__ring_hdr *h =
        mmap(NULL, UIPC__RING_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED)
        return -errno;
    h->version = UIPC__RING_VERSION;
    h->hdr_size = UIPC__RING_HDR_SIZE;
    h->ring_size = p->ring_size;
    h->max_msg = p->max_msg;
    h->total_size = total;
    h->flags = 0;
    random_id(h->id);
    __atomic_store_n(&h->magic, UIPC__RING_MAGIC, __ATOMIC_RELEASE);
    munmap(h, UIPC__RING_HDR_SIZE);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                           */
/* ------------------------------------------------------------------ */

static void wake_consumer(struct uipc__ring_ep *ep, uint32_t bits);

void uipc__ring_ep_init(struct uipc__ring_ep *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->lock_fd = ep->bell_fd = ep->tx_fd = -1;
    uipc__pidwatch_init(&ep->peer_pid);
    uipc__live_check_init(&ep->send_live, SEND_LIVE_EVERY);
    uipc__pollset_init(&ep->ps);
}

/* How many pause instructions make SPIN_BACKOFF_NS on this CPU (a pause
 * takes ~10 ns on some, ~30-140 cycles on others). */
static unsigned backoff_pauses(void)
{
    int64_t best = INT64_MAX;
    for (int round = 0; round < 3; round++) {
        int64_t t0 = uipc__now_ns();
        for (int i = 0; i < 64; i++)
            uipc__cpu_relax();
        int64_t t = uipc__now_ns() - t0;
        if (t < best)
            best = t;
    }
    int64_t n = best > 0 ? SPIN_BACKOFF_NS * 64 / best : 32;
    return n < 1 ? 1 : n > 32 ? 32 : (unsigned)n;
}

static void ep_configure(struct uipc__ring_ep *ep, const struct uipc__ring_params *p)
{
    /* Spinning on the only CPU only delays the peer we wait for. */
    ep->spin_max_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? p->spin_ns : 0;
    ep->spin_ns = ep->spin_max_ns;
    if (ep->spin_max_ns)
        ep->backoff_pauses = backoff_pauses();
    uipc__fence_register(); /* before this process relies on uipc__fence_light */
}

/*
 * Takes side of the ring file fd: locks it (-EBUSY if held), validates and
 * maps the file, marks the side open.  p (may be NULL) must agree with the
 * file's geometry when it gave a size or maxmsg.  fresh: the side must
 * never have been used (a shm: channel connects once).  named: the
 * doorbells are abstract sockets (else the caller sets up a socketpair).
 * The caller keeps (and closes) fd either way.
 */
static int ep_attach(struct uipc__ring_ep *ep, int fd, unsigned side,
                     const struct uipc__ring_params *p, bool fresh, bool named)
{
    struct stat st;
    struct uipc__ring_hdr g;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EBADMSG;
    /* The lock gets an open file description of its own: the mapping
     * holds a reference to the one it was made from, which would keep the
     * lock alive after close() until munmap(). */
    int lock_fd = uipc__rdv_reopen(fd, O_RDWR);
    if (lock_fd < 0)
        return lock_fd;
    int r = uipc__rdv_lock(lock_fd, side, false);
    if (r == 0 && fstat(fd, &st) < 0) /* the size, now that we hold the side */
        r = -errno;
    if (r == 0)
        r = read_geometry(fd, (uint64_t)st.st_size, &g);
    if (r == 0 && p &&
        ((p->size_given && p->ring_size != g.ring_size) ||
         (p->maxmsg_given && p->max_msg != g.max_msg)))
        r = -EINVAL;
    unsigned char *map = MAP_FAILED;
    if (r == 0 &&
        (map = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        r = -errno;
    if (r < 0) {
        uipc__close_fd(lock_fd);
        return r;
    }
    struct uipc__ring_hdr *h = (struct uipc__ring_hdr *)map;
    struct uipc__ring_side *me = &h->side[side];
    uint32_t state = atomic_load(&me->state);
    unsigned char *data = map + UIPC__RING_HDR_SIZE;
    r = uipc__ring_bind(&ep->tx, &h->ctl[side], data + side * g.ring_size, g.ring_size,
                        g.max_msg, true);
    if (r == 0)
        r = uipc__ring_bind(&ep->rx, &h->ctl[1 - side], data + (1 - side) * g.ring_size,
                            g.ring_size, g.max_msg, false);
    if (r == 0 && (state & 3u) > UIPC__SIDE_CLOSED)
        r = -EBADMSG;
    if (r == 0 && fresh && state != UIPC__SIDE_FREE)
        r = -EBUSY;
    if (r < 0) {
        munmap(map, g.total_size);
        uipc__close_fd(lock_fd);
        return r;
    }
    ep->map = map;
    ep->map_len = g.total_size;
    ep->hdr = h;
    ep->side = side;
    ep->max_msg = g.max_msg;
    ep->dev = st.st_dev;
    ep->ino = st.st_ino;
    memcpy(ep->id, g.id, sizeof ep->id);
    ep->lock_fd = lock_fd;
    ep->named = named;
    ep->my_state = ((state >> 2) + 1) << 2 | UIPC__SIDE_OPEN;
    atomic_store(&me->pid, (uint32_t)getpid());
    atomic_store(&me->state, ep->my_state);
    /* A peer that polls for us learns of our arrival (and watches our
     * pidfd from then on) at its next wake-up. */
    if (atomic_load(&ep->tx.ctl->cons_wait))
        wake_consumer(ep, atomic_exchange(&ep->tx.ctl->cons_wait, 0));
    return 0;
}

/* A formatted ring file with no name yet (uipc__rdv_tmpfile). */
static int make_file(int dirfd, const struct uipc__ring_params *p, char tmp[UIPC__RDV_TMP_MAX])
{
    int fd = uipc__rdv_tmpfile(dirfd, p->mode, tmp);
    if (fd < 0)
        return fd;
    int r = format_fd(fd, p);
    if (r < 0) {
        uipc__rdv_discard(dirfd, tmp);
        uipc__close_fd(fd);
        return r;
    }
    return fd;
}

/* Opens an existing ring file without following a link or blocking on a
 * FIFO someone planted there. */
static int open_existing(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/*
 * A file that fails validation is still a ring of ours — truncated or
 * scribbled on — when it begins with the ring's magic, or is empty (holds
 * nothing of anybody's); anything else is a foreign object.
 */
static bool corrupt_ring(int fd, uint64_t file_size)
{
    uint64_t magic;
    if (file_size == 0)
        return true;
    return pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
           magic == UIPC__RING_MAGIC;
}

/* remove_stale: a corrupt ring nobody holds, left in place (see below). */
#define CORRUPT_LEFT (-EUCLEAN)

/*
 * Removes name when it is a ring whose owner (persistent: either side) is
 * gone.  The lock taken while checking keeps a concurrent creator from
 * judging the same file stale; the inode check makes sure the name still
 * refers to the file we judged.  -EBADMSG for a foreign object (never
 * removed).  A corrupt ring nobody holds is removed when remove_corrupt
 * (uipc_unlink), else left and reported as CORRUPT_LEFT (a creator says
 * what is wrong instead of replacing it).  A creator replaces only what
 * its effective uid owns (-EPERM).
 */
static int remove_stale(int dirfd, const char *name, bool persistent, bool remove_corrupt,
                        bool force)
{
    int fd = open_existing(dirfd, name);
    if (fd < 0)
        return fd;
    struct uipc__rdv_id id;
    struct stat st;
    struct uipc__ring_hdr g;
    bool corrupt = false;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && !S_ISREG(st.st_mode))
        r = -EBADMSG;
    if (r == 0) {
        r = read_geometry(fd, (uint64_t)st.st_size, &g);
        if (r == -EPROTO)
            r = 0; /* another layout version: still ours to judge */
        if (r == -EBADMSG && corrupt_ring(fd, (uint64_t)st.st_size)) {
            corrupt = true;
            r = 0;
        }
        /* A region (uipc_region_open) whose creator is gone goes the same
         * way: uipc_unlink removes it, a channel's creator does not. */
        if (r == -EBADMSG && remove_corrupt && uipc__rdv_marked(fd, "region")) {
            corrupt = true;
            r = 0;
        }
    }
    /* force (uipc_remove with UIPC_FORCE): ours, live or not. */
    if (r == 0 && !force)
        r = uipc__rdv_lock(fd, 0, false);
    if (r == 0 && !force && (persistent || corrupt))
        r = uipc__rdv_lock(fd, 1, false);
    if (r == -EBUSY)
        r = -EADDRINUSE;
    if (r == 0 && corrupt && !remove_corrupt)
        r = CORRUPT_LEFT;
    if (r == 0 && !remove_corrupt)
        r = uipc__rdv_adoptable(st.st_uid);
    if (r == 0) {
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        r = uipc__rdv_remove(dirfd, name, &id);
        if (r == -ESTALE || r == -ENOENT)
            r = -EAGAIN; /* replaced meanwhile: judge again */
    }
    uipc__close_fd(fd);
    return r;
}

/*
 * A persistent ring outlives its sessions: a peer that had already closed
 * or died when we opened has not come yet, as far as we are concerned (the
 * contract: operations wait for the peer).  Only a peer seen during our
 * session can be gone.  (On shm: a dead owner never comes back, so there
 * it counts as gone.)
 */
static void note_absent_peer(struct uipc__ring_ep *ep)
{
    unsigned peer = 1 - ep->side;
    uint32_t s = atomic_load(&ep->hdr->side[peer].state);
    if ((s & 3u) == UIPC__SIDE_CLOSED ||
        ((s & 3u) == UIPC__SIDE_OPEN && uipc__rdv_held(ep->lock_fd, peer) == 0)) {
        ep->absent_known = true;
        ep->absent_state = s;
    }
}

static int attach_existing(struct uipc__ring_ep *ep, int dirfd, const char *name,
                           const struct uipc__ring_params *p, unsigned side, bool persistent)
{
    int fd = open_existing(dirfd, name);
    if (fd < 0)
        return fd;
    int r = 0;
    /* A creator adopts a persistent ring only if it owns the file and the
     * file has the mode asked for (a live owner is -EADDRINUSE first). */
    if (side == 0) {
        r = uipc__rdv_held(fd, 0);
        r = r > 0 ? -EADDRINUSE : r;
        if (r == 0)
            r = uipc__rdv_adopt_fd(fd, p->mode);
    }
    if (r == 0)
        r = ep_attach(ep, fd, side, p, !persistent && side == 1, true);
    uipc__close_fd(fd);
    if (r < 0)
        return side == 0 && r == -EBUSY ? -EADDRINUSE : r;
    ep->persistent = persistent;
    if (persistent)
        note_absent_peer(ep);
    ep_configure(ep, p);
    return 0;
}

int uipc__ring_open_at(struct uipc__ring_ep *ep, int dirfd, const char *name,
                       const struct uipc__ring_params *p, int flags, bool persistent)
{
    uipc__ring_ep_init(ep);
    if (!(flags & UIPC_CREATE))
        return attach_existing(ep, dirfd, name, p, 1, persistent);

    char tmp[UIPC__RDV_TMP_MAX];
    int r = -EEXIST;
    for (int round = 0; round < 8; round++) {
        /* A persistent ring is reopened with its messages. */
        if (persistent && !(flags & UIPC_EXCL)) {
            r = attach_existing(ep, dirfd, name, p, 0, true);
            if (r != -ENOENT)
                return r;
        }
        int fd = make_file(dirfd, p, tmp);
        if (fd < 0)
            return fd;
        /* Lock side 0 before the name exists: nobody ever sees it stale. */
        r = ep_attach(ep, fd, 0, NULL, false, true);
        if (r == 0)
            r = uipc__rdv_publish(dirfd, fd, tmp, name);
        uipc__rdv_discard(dirfd, tmp);
        uipc__close_fd(fd);
        if (r == 0) {
            ep->persistent = persistent;
            ep_configure(ep, p);
            return 0;
        }
        if (ep->map)
            munmap(ep->map, ep->map_len);
        uipc__close_fd(ep->lock_fd);
        uipc__ring_ep_init(ep);
        if (r != -EEXIST || (flags & UIPC_EXCL))
            return r;
        if (!persistent) {
            r = remove_stale(dirfd, name, false, false, false);
            if (r == -EBADMSG)
                return -EEXIST; /* not a ring: not ours to replace */
            if (r == CORRUPT_LEFT)
                return -EBADMSG; /* a corrupt ring: uipc_unlink removes it */
            if (r < 0 && r != -ENOENT && r != -EAGAIN)
                return r;
        }
    }
    return r == -EAGAIN || r == -ENOENT ? -EADDRINUSE : r;
}

int uipc__ring_unlink_at(int dirfd, const char *name, bool persistent, bool force)
{
    int r = -EAGAIN;
    for (int round = 0; round < 8 && r == -EAGAIN; round++)
        r = remove_stale(dirfd, name, persistent, true, force);
    return r;
}

/* probe: the rows of uipc_list in one directory, judged as remove_stale would. */
int uipc__ring_probe_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                         const struct stat *st0)
{
    const struct uipc__ring_walk *rw = (const struct uipc__ring_walk *)w;
    if (!S_ISREG(st0->st_mode))
        return 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    struct uipc__ring_hdr g;
    uint64_t magic = 0;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    bool ring = ok && pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
                magic == UIPC__RING_MAGIC;
    bool region = ok && !ring && uipc__rdv_marked(fd, "region");
    int state = 0;
    if (ring || region) { /* an empty or foreign file is not listed */
        bool corrupt = ring && read_geometry(fd, (uint64_t)st.st_size, &g) == -EBADMSG;
        bool live = uipc__rdv_held(fd, 0) > 0 ||
                    ((rw->persistent || corrupt) && uipc__rdv_held(fd, 1) > 0);
        state = live ? UIPC_RDV_LIVE : corrupt ? UIPC_RDV_CORRUPT : UIPC_RDV_STALE;
    }
    uipc__close_fd(fd);
    uipc_rdvinfo info;
    if (!state || uipc__probe_fill(&info, rw->scheme, state, &st, true, "%s%s", rw->prefix,
                                   name) < 0)
        return 0;
    if (state == UIPC_RDV_LIVE)
        info.pid = uipc__probe_file_holder(&st);
    return w->emit(&info, w->arg);
}

int uipc__ring_probe_dir(const char *dir, const char *scheme, const char *uri_prefix,
                         bool persistent, uipc__probe_emit emit, void *arg)
{
    struct uipc__ring_walk rw = {.w = {.dir = dir, .emit = emit, .arg = arg},
                                 .scheme = scheme,
                                 .prefix = uri_prefix,
                                 .persistent = persistent};
    return uipc__probe_dir(&rw.w, uipc__ring_probe_row);
}

/* Seals a ring file may not lack: nobody can resize it under a mapping. */
#define RING_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

int uipc__ring_memfd(const struct uipc__ring_params *p)
{
    int mfd = memfd_create("uipc-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return -errno;
    int r = format_fd(mfd, p);
    /* Sealed: nobody can shrink the file under a mapping (SIGBUS). */
    if (r == 0 && fcntl(mfd, F_ADD_SEALS, RING_SEALS | F_SEAL_SEAL) < 0)
        r = -errno;
    if (r < 0) {
        uipc__close_fd(mfd);
        return r;
    }
    return mfd;
}

int uipc__ring_attach_fd(struct uipc__ring_ep *ep, int fd, unsigned side,
                         const struct uipc__ring_params *p, int bell)
{
    uipc__ring_ep_init(ep);
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & RING_SEALS) != RING_SEALS)
        return -EBADMSG; /* a file the peer could still shrink: SIGBUS for us */
    int r = ep_attach(ep, fd, side, NULL, true, false);
    if (r < 0)
        return r;
    ep->bell_fd = bell;
    ep->conn_bell = true;
    ep_configure(ep, p);
    return 0;
}

int uipc__ring_pair(struct uipc__ring_ep *a, struct uipc__ring_ep *b,
                    const struct uipc__ring_params *p)
{
    int sv[2] = {-1, -1};
    uipc__ring_ep_init(a);
    uipc__ring_ep_init(b);
    int mfd = uipc__ring_memfd(p);
    if (mfd < 0)
        return mfd;
    int r = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        r = -errno;
    if (r == 0)
        r = ep_attach(a, mfd, 0, NULL, false, false);
    if (r == 0)
        r = ep_attach(b, mfd, 1, NULL, false, false);
    uipc__close_fd(mfd);
    if (r < 0) {
        uipc__close_fd(sv[0]);
        uipc__close_fd(sv[1]);
        uipc__ring_ep_close(a);
        uipc__ring_ep_close(b);
        return r;
    }
    a->bell_fd = sv[0];
    b->bell_fd = sv[1];
    ep_configure(a, p);
    ep_configure(b, p);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Doorbell                                                            */
/* ------------------------------------------------------------------ */

/*
 * "\0uipc-bell-<id in hex>-<side>-<bell>": an abstract socket name, gone
 * with the socket, so a killed poller leaves nothing behind.  bell is a
 * random number the poller draws when it binds and then publishes in its
 * side's header (uipc__ring_side.bell): a stranger who reads the ring's id
 * from /proc/net/unix cannot bind a poller's name before it does.
 */
static socklen_t bell_addr(const struct uipc__ring_ep *ep, unsigned side, uint64_t bell,
                           struct sockaddr_un *a)
{
    static const char hex[] = "0123456789abcdef";
    char name[80] = "uipc-bell-";
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ep->id; i++) {
        name[n++] = hex[ep->id[i] >> 4];
        name[n++] = hex[ep->id[i] & 15];
    }
    name[n++] = '-';
    name[n++] = (char)('0' + side);
    name[n++] = '-';
    for (int sh = 60; sh >= 0; sh -= 4)
        name[n++] = hex[(bell >> sh) & 15];
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* Makes the peer's poll descriptor readable.  Never blocks or raises SIGPIPE. */
static void ring_peer(struct uipc__ring_ep *ep)
{
    static const char one = 1;
    if (!ep->named) {
        if (ep->bell_fd >= 0)
            (void)send(ep->bell_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
    if (ep->tx_fd < 0)
        ep->tx_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ep->tx_fd < 0)
        return;
    uint64_t bell = atomic_load(&ep->hdr->side[1 - ep->side].bell);
    if (bell == 0)
        return; /* the peer has never polled */
    struct sockaddr_un a;
    socklen_t n = bell_addr(ep, 1 - ep->side, bell, &a);
    /* No listener (the peer does not poll) or a full queue (it is already
     * readable): either way there is nothing more to do. */
    (void)sendto(ep->tx_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, n);
}

static void wake_consumer(struct uipc__ring_ep *ep, uint32_t bits)
{
    if (bits & UIPC__RING_SLEEPING)
        uipc__futex_wake(&ep->tx.ctl->cons_wait, INT_MAX);
    if (bits & UIPC__RING_PARKED)
        ring_peer(ep);
}

static void wake_producer(struct uipc__ring_ep *ep, uint32_t bits)
{
    if (bits & UIPC__RING_SLEEPING)
        uipc__futex_wake(&ep->rx.ctl->prod_wait, INT_MAX);
}

/* Empties the doorbell socket: one recvmmsg for what a bell leaves (one
 * byte or packet per ring), a bounded few for a peer that rings at will,
 * so a hostile peer cannot keep us here (what it leaves costs it its own
 * wake-ups only). */
#define DRAIN_BATCH 16
#define DRAIN_ROUNDS 4
static void drain(int fd)
{
    char buf[DRAIN_BATCH][16];
    struct iovec v[DRAIN_BATCH];
    struct mmsghdr m[DRAIN_BATCH];
    memset(m, 0, sizeof m);
    for (int i = 0; i < DRAIN_BATCH; i++) {
        v[i] = (struct iovec){buf[i], sizeof buf[i]};
        m[i].msg_hdr.msg_iov = &v[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    for (int round = 0; round < DRAIN_ROUNDS; round++)
        if (recvmmsg(fd, m, DRAIN_BATCH, MSG_DONTWAIT, NULL) < DRAIN_BATCH)
            break;
}

/* Named rings: keep the peer's pidfd in the poll set so that its death
 * wakes a poller (a socketpair gives the same through hang-up). */
static void watch_peer_pid(struct uipc__ring_ep *ep)
{
    uint32_t pid = atomic_load_explicit(&ep->hdr->side[1 - ep->side].pid, memory_order_relaxed);
    if (pid != 0 && pid <= INT_MAX)
        uipc__pidwatch_set(&ep->peer_pid, (pid_t)pid, &ep->ps);
}

static int peer_gone(struct uipc__ring_ep *ep, bool full);

/*
 * The receiver polls and found nothing: drain the doorbell and announce
 * PARKED, then look again.  Whatever arrives after PARKED is visible rings
 * the bell; whatever arrived before is seen by the second look, which then
 * keeps the poll descriptor readable itself.
 */
static void rearm_begin(struct uipc__ring_ep *ep)
{
    uipc__pollset_signal(&ep->ps, false);
    /* Whoever rings the bell clears PARKED first (it exchanges the word):
     * while PARKED is still set, nothing rang since the last drain, and an
     * idle channel is re-armed without a system call. */
    if (!(atomic_load(&ep->rx.ctl->cons_wait) & UIPC__RING_PARKED))
        drain(ep->bell_fd);
    if (ep->named)
        watch_peer_pid(ep);
    atomic_fetch_or(&ep->rx.ctl->cons_wait, UIPC__RING_PARKED);
}

/* The second look, after uipc__fence_heavy (a commit before the fence is
 * seen here, one after sees PARKED): true when something came meanwhile,
 * and the channel's own poll descriptor then stays readable. */
static bool rearm_end(struct uipc__ring_ep *ep)
{
    if (uipc__ring_readable(&ep->rx) || peer_gone(ep, false) || ep->broken) {
        uipc__pollset_signal(&ep->ps, true);
        return true;
    }
    return false;
}

static bool poll_rearm(struct uipc__ring_ep *ep)
{
    rearm_begin(ep);
    uipc__fence_heavy();
    return rearm_end(ep);
}

int uipc__ring_pollfd(struct uipc__ring_ep *ep)
{
    if (ep->ps.epfd >= 0)
        return ep->ps.epfd;
    int r = uipc__pollset_create(&ep->ps);
    if (r < 0)
        return r;
    if (ep->named) {
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0) {
            r = -errno;
            goto fail;
        }
        /* A name taken already (squatted, or a 1 in 2^64 collision) is
         * simply not ours: draw another. */
        uint64_t bell;
        r = -EADDRINUSE;
        for (int attempt = 0; attempt < 8 && r == -EADDRINUSE; attempt++) {
            if (getrandom(&bell, sizeof bell, GRND_NONBLOCK) != sizeof bell)
                bell = (uint64_t)uipc__now_ns() * 0x9e3779b97f4a7c15ull;
            bell |= 1; /* never 0: 0 means "not polling" */
            struct sockaddr_un a;
            socklen_t n = bell_addr(ep, ep->side, bell, &a);
            r = bind(s, (struct sockaddr *)&a, n) < 0 ? -errno : 0;
        }
        if (r < 0) {
            uipc__close_fd(s);
            goto fail;
        }
        ep->bell_fd = s;
        atomic_store(&ep->hdr->side[ep->side].bell, bell);
    }
    r = uipc__pollset_add(&ep->ps, ep->bell_fd);
    if (r < 0)
        goto fail;
    ep->polling = true;
    poll_rearm(ep);
    return ep->ps.epfd;
fail:
    if (ep->named) {
        uipc__close_fd(ep->bell_fd);
        ep->bell_fd = -1;
    }
    uipc__pollset_release(&ep->ps);
    return r;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */
/* ------------------------------------------------------------------ */

/*
 * 1 when the peer closed or died, 0 while it is alive or has not come yet,
 * -EBADMSG for a state word that cannot be.  Reading the state word is
 * cheap (its line changes only at open and close); full also tests the
 * peer's lock, a system call, for a peer killed without closing.
 */
static bool bell_hung_up(const struct uipc__ring_ep *ep)
{
    struct pollfd p = {.fd = ep->bell_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

static bool hub_hung_up(struct uipc__ring_ep *ep);

static int peer_gone(struct uipc__ring_ep *ep, bool full)
{
    uint32_t s = atomic_load(&ep->hdr->side[1 - ep->side].state);
    if (ep->absent_known && s == ep->absent_state)
        return 0; /* a persistent ring's previous peer: we wait for the next */
    if (ep->dead_known && s == ep->dead_state)
        return 1;
    switch (s & 3u) {
    case UIPC__SIDE_FREE:
        /* A shm: listener's client whose server never took its rings: the
         * connection hung up (refused, or the server closed or died). */
        return full && ep->conn_bell && bell_hung_up(ep) ? 1 : 0;
    case UIPC__SIDE_CLOSED:
        return 1;
    case UIPC__SIDE_OPEN:
        if (!hub_hung_up(ep) && (!full || uipc__rdv_held(ep->lock_fd, 1 - ep->side) != 0))
            return 0;
        ep->dead_known = true;
        ep->dead_state = s;
        return 1;
    default:
        return ep->broken = -EBADMSG;
    }
}

enum wait_for { WAIT_DATA, WAIT_SPACE };

static bool ready(struct uipc__ring_ep *ep, enum wait_for what, size_t len)
{
    return what == WAIT_DATA ? uipc__ring_readable(&ep->rx) : uipc__ring_writable(&ep->tx, len);
}

/*
 * Spins up to the adaptive budget: back to the full ?spin= after a spin
 * that paid off, halved (down to 1/16) after one that did not, so a side
 * whose peer is slow stops burning CPU for nothing.
 *
 * It starts by leaving the ring alone for SPIN_BACKOFF_NS.  A consumer that
 * has caught up would otherwise keep pulling the very line the producer is
 * writing next, and the producer's commit barrier would wait for that line
 * every time: the producer slows down, the consumer stays caught up, and
 * streaming settles at one cache-line round trip per message.  Backing off
 * about one line transfer lets the producer get ahead, after which lines
 * move in batches (64 B streaming: ~13 -> ~19 M msg/s here).  A ping-pong
 * loses nothing: no answer can come that soon after a wait begins.
 */
static bool spin(struct uipc__ring_ep *ep, enum wait_for what, size_t len,
                 const struct uipc__deadline *dl, int64_t *start_ns)
{
    int64_t budget = ep->spin_ns, left = uipc__deadline_left_ns(dl);
    int64_t start = *start_ns = uipc__now_ns();
    if (budget <= 0)
        return false;
    if (left >= 0 && left < budget)
        budget = left;
    for (unsigned k = 0; k < ep->backoff_pauses; k++)
        uipc__cpu_relax();
    for (unsigned i = 1;; i++) {
        if (ready(ep, what, len)) {
            ep->spin_ns = ep->spin_max_ns;
            return true;
        }
        uipc__cpu_relax();
        if ((i & 63) == 0 && uipc__now_ns() - start >= budget)
            break;
    }
    ep->spin_ns /= 2;
    if (ep->spin_ns < ep->spin_max_ns / 16)
        ep->spin_ns = ep->spin_max_ns / 16;
    return false;
}

/*
 * peer_gone as this side sees it: on a persistent ring the file keeps what
 * is sent for the next receiver, so only receiving cares that the peer left.
 */
static int peer_gone_for(struct uipc__ring_ep *ep, enum wait_for what, bool full)
{
    int g = peer_gone(ep, full);
    if (g > 0 && what == WAIT_SPACE && ep->persistent)
        return 0;
    return g < 0 ? g : g ? -EPIPE : 0;
}

/*
 * Ends a wait that slept: clears our SLEEPING bit (the waker usually has)
 * and, when the whole wait took less than the full spin budget, restores
 * that budget: spinning it would have caught the peer without sleeping.
 * Without this a ping-pong that once fell asleep stays asleep: each side's
 * spin has decayed below the other's wake-up time (~20 us here), every
 * spin fails because the peer is asleep, and the budget never recovers
 * (seen under load: 64 B one-way p50 at 17-29 us instead of 0.3 us in some
 * runs).  A peer that is really slow still leaves the budget low.
 */
static int woke(struct uipc__ring_ep *ep, _Atomic uint32_t *word, int64_t wait_start)
{
    atomic_fetch_and(word, ~UIPC__RING_SLEEPING);
    if (uipc__now_ns() - wait_start >= ep->spin_max_ns)
        return 0;
    /* Not when the peer last slept on our CPU: spinning there only keeps
     * it from running (two unpinned processes on a busy machine). */
    uint32_t peer = atomic_load_explicit(&ep->hdr->side[1 - ep->side].cpu, memory_order_relaxed);
    if (peer == 0 || (int)peer - 1 != sched_getcpu())
        ep->spin_ns = ep->spin_max_ns;
    return 0;
}

/* Tells the peer where we sleep (the hint woke reads). */
static void note_sleep_cpu(struct uipc__ring_ep *ep)
{
    int cpu = sched_getcpu();
    atomic_store_explicit(&ep->hdr->side[ep->side].cpu, cpu >= 0 ? (uint32_t)cpu + 1 : 0,
                          memory_order_relaxed);
}

/*
 * Waits until ready(what) may hold: 0, -EPIPE (peer gone), -EBADMSG, or the
 * deadline's error.  Spurious returns of 0 are fine: callers retry.
 */
static int ep_wait(struct uipc__ring_ep *ep, enum wait_for what, size_t len,
                   const struct uipc__deadline *dl)
{
    _Atomic uint32_t *word = what == WAIT_DATA ? &ep->rx.ctl->cons_wait : &ep->tx.ctl->prod_wait;
    int g = peer_gone_for(ep, what, false);
    if (g)
        return g;
    if (dl->timeout_ms == 0) {
        if (what == WAIT_DATA && ep->polling && poll_rearm(ep) && ready(ep, what, len))
            return 0;
        int64_t now = uipc__now_ns();
        if (ep->polling || now >= ep->next_check_ns) {
            ep->next_check_ns = now + POLL_CHECK_NS;
            g = peer_gone_for(ep, what, true);
            if (g)
                return g;
        }
        return -EAGAIN;
    }
    int64_t wait_start;
    if (spin(ep, what, len, dl, &wait_start))
        return 0;
    int64_t next_full = uipc__now_ns() + SLICE_NS;
    for (;;) {
        uint32_t v = atomic_fetch_or(word, UIPC__RING_SLEEPING) | UIPC__RING_SLEEPING;
        /* The peer's fast path has no fence (wait.h): a commit or tail it
         * stored before this is seen by ready(), one after sees SLEEPING. */
        uipc__fence_heavy();
        if (ready(ep, what, len))
            return woke(ep, word, wait_start);
        int64_t now = uipc__now_ns();
        bool full = now >= next_full;
        if (full)
            next_full = now + SLICE_NS;
        g = peer_gone_for(ep, what, full);
        if (g) {
            atomic_fetch_and(word, ~UIPC__RING_SLEEPING);
            return g;
        }
        note_sleep_cpu(ep);
        int r = uipc__futex_wait(word, v, dl, SLICE_NS);
        if (r < 0) {
            atomic_fetch_and(word, ~UIPC__RING_SLEEPING);
            return ready(ep, what, len) ? 0 : r;
        }
        /* Woken (or a slice ended): look before announcing again. */
        if (ready(ep, what, len))
            return woke(ep, word, wait_start);
    }
}

/* ------------------------------------------------------------------ */
/* Message operations                                                  */
/* ------------------------------------------------------------------ */

/*
 * Whether this send tests the peer's lock (a system call): a receiver
 * killed without closing leaves its state word OPEN, and a send that has
 * room never waits, so without this the sender would learn of the death
 * only once the ring is full.  uipc__live_check_due (wait.h) bounds it: a
 * send after a pause of 1 ms looks at once, a sender that never pauses
 * looks once a millisecond (the clock read every SEND_LIVE_EVERY sends).
 * A persistent ring keeps what is sent for the next receiver: no look.
 */
static bool send_looks_at_peer(struct uipc__ring_ep *ep)
{
    return !ep->persistent && uipc__live_check_due(&ep->send_live);
}

int uipc__ring_send_reserve(struct uipc__ring_ep *ep, void **buf, size_t len,
                            const struct uipc__deadline *dl)
{
    if (ep->broken)
        return ep->broken;
    if (ep->reserved)
        return -EBUSY;
    for (;;) {
        int g = peer_gone_for(ep, WAIT_SPACE, send_looks_at_peer(ep));
        if (g)
            return g;
        uint32_t bits;
        int r = uipc__ring_reserve(&ep->tx, len, buf, &bits);
        if (bits)
            wake_consumer(ep, bits);
        if (r == 0) {
            ep->reserved = true;
            ep->reserved_len = len;
            return 0;
        }
        if (r != -EAGAIN)
            return r == -EBADMSG ? (ep->broken = r) : r;
        r = ep_wait(ep, WAIT_SPACE, len, dl);
        if (r < 0)
            return r;
    }
}

int uipc__ring_send_commit(struct uipc__ring_ep *ep, size_t len)
{
    if (!ep->reserved || len > ep->reserved_len)
        return -EINVAL;
    ep->reserved = false;
    uint32_t bits = uipc__ring_commit(&ep->tx, len);
    if (bits)
        wake_consumer(ep, bits);
    return 0;
}

ssize_t uipc__ring_send(struct uipc__ring_ep *ep, const void *msg, size_t len,
                        const struct uipc__deadline *dl)
{
    void *buf;
    int r = uipc__ring_send_reserve(ep, &buf, len, dl);
    if (r < 0)
        return r;
    memcpy(buf, msg, len);
    uipc__ring_send_commit(ep, len);
    return (ssize_t)len;
}

/* One look at the ring: a message, -EAGAIN, or -EBADMSG (sticky). */
static ssize_t peek_once(struct uipc__ring_ep *ep, const void **buf)
{
    uint32_t bits;
    ssize_t n = uipc__ring_peek(&ep->rx, buf, &bits);
    if (bits)
        wake_producer(ep, bits);
    if (n < 0 && n != -EAGAIN)
        ep->broken = (int)n;
    return n;
}

ssize_t uipc__ring_recv_peek(struct uipc__ring_ep *ep, const void **buf,
                             const struct uipc__deadline *dl)
{
    if (ep->broken)
        return ep->broken;
    for (;;) {
        ssize_t n = peek_once(ep, buf);
        if (n != -EAGAIN) {
            ep->peeked = n >= 0;
            return n;
        }
        int r = ep_wait(ep, WAIT_DATA, 0, dl);
        if (r == -EPIPE) {
            /* The peer's last messages come before its end: drain first. */
            n = peek_once(ep, buf);
            ep->peeked = n >= 0;
            return n == -EAGAIN ? -EPIPE : n;
        }
        if (r < 0)
            return r;
    }
}

int uipc__ring_recv_release(struct uipc__ring_ep *ep)
{
    if (!ep->peeked)
        return -EINVAL;
    ep->peeked = false;
    uint32_t bits = uipc__ring_release(&ep->rx);
    if (bits)
        wake_producer(ep, bits);
    return 0;
}

ssize_t uipc__ring_recv(struct uipc__ring_ep *ep, void *buf, size_t cap,
                        const struct uipc__deadline *dl)
{
    const void *msg;
    ssize_t n = uipc__ring_recv_peek(ep, &msg, dl);
    if (n < 0)
        return n;
    if ((size_t)n > cap) {
        ep->peeked = false; /* stays queued: the next peek finds it again */
        return -EMSGSIZE;
    }
    memcpy(buf, msg, (size_t)n);
    uipc__ring_recv_release(ep);
    return n;
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

static void hub_leave(struct uipc__ring_ep *ep);

bool uipc__ring_ep_close(struct uipc__ring_ep *ep)
{
    bool last = false;
    if (ep->lock_fd >= 0) {
        /* Our lock outlives our descriptor only if another process still
         * holds this open file description (a fork child that uses it). */
        int probe = uipc__rdv_reopen(ep->lock_fd, O_RDWR);
        uipc__close_fd(ep->lock_fd);
        if (probe >= 0) {
            last = uipc__rdv_held(probe, ep->side) == 0;
            uipc__close_fd(probe);
        }
    }
    if (last && ep->hdr) {
        uint32_t open_state = ep->my_state;
        if (ep->polling)
            atomic_store(&ep->hdr->side[ep->side].bell, 0);
        atomic_compare_exchange_strong(&ep->hdr->side[ep->side].state, &open_state,
                                       (ep->my_state & ~3u) | UIPC__SIDE_CLOSED);
        /* Wake the peer wherever it waits: it sees CLOSED at once. */
        atomic_exchange(&ep->tx.ctl->cons_wait, 0);
        uipc__futex_wake(&ep->tx.ctl->cons_wait, INT_MAX);
        atomic_exchange(&ep->rx.ctl->prod_wait, 0);
        uipc__futex_wake(&ep->rx.ctl->prod_wait, INT_MAX);
        ring_peer(ep);
    }
    hub_leave(ep);
    uipc__pollset_release(&ep->ps);
    uipc__close_fd(ep->bell_fd);
    uipc__close_fd(ep->tx_fd);
    uipc__pidwatch_stop(&ep->peer_pid, NULL);
    if (ep->map)
        munmap(ep->map, ep->map_len);
    uipc__ring_ep_init(ep);
    return last;
}

/* ------------------------------------------------------------------ */
/* The channel operations shm: and mmap: share                         */
/* ------------------------------------------------------------------ */

static struct uipc__ring_ep *ep_of(struct uipc_channel *ch)
{
    return &((struct uipc__ring_channel *)ch)->ep;
}

ssize_t uipc__ring_ch_send(struct uipc_channel *ch, const void *msg, size_t len,
                           const uipc_msginfo *info, struct uipc__deadline *dl)
{
    (void)info; /* no attributes: the core refused any */
    return uipc__ring_send(ep_of(ch), msg, len, dl);
}

ssize_t uipc__ring_ch_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                           struct uipc__deadline *dl)
{
    (void)info;
    return uipc__ring_recv(ep_of(ch), buf, cap, dl);
}

int uipc__ring_ch_close(struct uipc_channel *ch, bool remove)
{
    struct uipc__ring_channel *c = (struct uipc__ring_channel *)ch;
    /* Removed while our lock still keeps anyone else from taking the name
     * over, and only while it is still our file. */
    if (remove && c->path[0]) {
        struct uipc__rdv_id id = {c->ep.dev, c->ep.ino};
        uipc__rdv_remove(AT_FDCWD, c->path, &id);
    }
    uipc__ring_ep_close(&c->ep);
    return 0;
}

int uipc__ring_ch_pollfd(struct uipc_channel *ch)
{
    /* Created on first use; the descriptor then stays for the channel's life. */
    return uipc__ring_pollfd(ep_of(ch));
}

int uipc__ring_ch_send_reserve(struct uipc_channel *ch, void **buf, size_t len,
                               struct uipc__deadline *dl)
{
    return uipc__ring_send_reserve(ep_of(ch), buf, len, dl);
}

int uipc__ring_ch_send_commit(struct uipc_channel *ch, size_t len)
{
    return uipc__ring_send_commit(ep_of(ch), len);
}

ssize_t uipc__ring_ch_recv_peek(struct uipc_channel *ch, const void **buf,
                                struct uipc__deadline *dl)
{
    return uipc__ring_recv_peek(ep_of(ch), buf, dl);
}

int uipc__ring_ch_recv_release(struct uipc_channel *ch)
{
    return uipc__ring_recv_release(ep_of(ch));
}

/* ------------------------------------------------------------------ */
/* Readiness for uipc_poll (lib/poll.c)                                */
/* ------------------------------------------------------------------ */

/*
 * A message waiting is found by a look at the ring, without a system call;
 * only an empty ring asks whether the peer is gone (its lock, a system
 * call, rate-limited).  Room for UIPC_POLLOUT is announced by nothing a
 * poller can sleep on, so a wait for it naps (lib/poll.c).  Before
 * sleeping, the consumer parks on the doorbell exactly as for uipc_pollfd:
 * the peer's next commit, or its death (pidfd, hang-up), wakes it.
 */

static void hub_collect(struct uipc__ring_hub *h, int64_t now);

/* One look, without arming: the readiness bits. */
static int ring_look(struct uipc__ring_ep *ep, int events, bool thorough)
{
    if (ep->broken)
        return events; /* every call reports the corruption at once */
    int rev = 0;
    const void *msg;
    /* A peek, not just a look at the commit word: a skip record alone is
     * no message (the peek consumes it and says -EAGAIN). */
    if ((events & UIPC_POLLIN) && uipc__ring_readable(&ep->rx) && peek_once(ep, &msg) != -EAGAIN)
        rev |= UIPC_POLLIN;
    if ((events & UIPC_POLLOUT) && uipc__ring_writable(&ep->tx, 0))
        rev |= UIPC_POLLOUT;
    /* The peer's lock (a system call) only on an empty ring, and on a
     * look that will not sleep at most every POLL_CHECK_NS; a sleeper
     * learns of a death from the peer's pidfd or the hang-up and looks at
     * once. */
    bool full = false;
    if (!(rev & UIPC_POLLIN)) {
        int64_t now = uipc__now_ns();
        full = thorough || now >= ep->next_check_ns;
        if (full)
            ep->next_check_ns = now + POLL_CHECK_NS;
        /* A listener's channel learns of its client's death from the
         * group's hang-up events, one epoll_wait for all of them. */
        if (full && ep->hub && !thorough) {
            hub_collect(ep->hub, now);
            full = false;
        }
    }
    int g = peer_gone(ep, full);
    if (g < 0)
        return events;
    if (g > 0)
        rev |= UIPC_POLLHUP | (events & UIPC_POLLIN) | (ep->persistent ? 0 : events & UIPC_POLLOUT);
    return rev;
}

int uipc__ring_poll_ready(struct uipc__ring_ep *ep, int events, struct uipc__pollwait *w)
{
    for (;;) {
        int rev = ring_look(ep, events, w != NULL);
        if (rev || !w)
            return rev;
        if (!(events & UIPC_POLLIN))
            break;
        int fd = uipc__ring_pollfd(ep);
        if (fd < 0)
            return fd;
        /* Parked: the peer's next commit rings the bell.  Something that
         * came meanwhile (a record, perhaps only a skip record, which is
         * no message) needs another look, and then another arming. */
        if (!poll_rearm(ep)) {
            uipc__pollwait_add(w, fd, POLLIN);
            break;
        }
    }
    /* Room, and the peer's end when no message is awaited, by napping. */
    if (events != UIPC_POLLIN)
        w->nap = true;
    return 0;
}

int uipc__ring_ch_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    return uipc__ring_poll_ready(&((struct uipc__ring_channel *)ch)->ep, events, w);
}

int64_t uipc__ring_ch_poll_spin_ns(const struct uipc_channel *ch)
{
    return ((const struct uipc__ring_channel *)ch)->ep.spin_max_ns;
}

/* ------------------------------------------------------------------ */
/* The poll group of a shm: listener's channels                        */
/* ------------------------------------------------------------------ */

/*
 * One epoll set for every channel the listener accepted: its connection
 * socket, which the client rings (one byte) when it commits to a ring
 * whose consumer announced PARKED, and which hangs up when the client
 * closes or dies.  Edge-triggered: an event is a new ring or the hang-up,
 * once, so a channel that rang while it was not polled, or that hung up,
 * does not wake every later wait over other channels; what a wait does not
 * act on at once is kept (a ring: the rings are looked at anyway; a
 * hang-up: in the member, for the next look at that channel).
 *
 * A member outlives its channel (it is reused, and freed with the hub): an
 * event that a sleeper read just before the channel left can only mark a
 * member, never touch freed memory, and a hang-up mark is always verified
 * on the socket (hub_hung_up), so a stale one costs one poll(2).
 *
 * Only one thread sleeps on the hub at a time (busy): with edge-triggered
 * events a second sleeper could take a wake-up meant for the first.
 * Another thread polling channels of the same listener meanwhile arms them
 * one by one on their own poll descriptors, as any ring.
 */
struct uipc__ring_hub_member {
    _Atomic bool hup;                  /* the connection hung up (to verify) */
    struct uipc__ring_hub_member *next; /* free list */
    struct uipc__ring_hub_member *all;  /* every member, freed with the hub */
};

struct uipc__ring_hub {
    struct uipc__pollgroup base; /* first: uipc_poll sees this */
    int epfd;
    pid_t pid; /* the process that made it: the epoll set is shared after fork */
    _Atomic int refs;
    _Atomic bool busy;
    _Atomic int64_t next_collect_ns;
    pthread_mutex_t lock; /* free and all */
    struct uipc__ring_hub_member *free, *all;
};

#define HUB_EVENTS 32

static bool hub_hung_up(struct uipc__ring_ep *ep)
{
    struct uipc__ring_hub_member *m = ep->hub_member;
    if (!m || !atomic_load_explicit(&m->hup, memory_order_relaxed))
        return false;
    atomic_store(&m->hup, false);
    return bell_hung_up(ep);
}

static bool hub_enter(struct uipc__pollgroup *g)
{
    struct uipc__ring_hub *h = (struct uipc__ring_hub *)g;
    return !atomic_exchange(&h->busy, true);
}

static void hub_release(struct uipc__pollgroup *g)
{
    atomic_store(&((struct uipc__ring_hub *)g)->busy, false);
}

static int hub_fd(struct uipc__pollgroup *g)
{
    return ((struct uipc__ring_hub *)g)->epfd;
}

static int hub_wait(struct uipc__pollgroup *g, int timeout_ms)
{
    struct uipc__ring_hub *h = (struct uipc__ring_hub *)g;
    struct epoll_event ev[HUB_EVENTS];
    int n = epoll_wait(h->epfd, ev, HUB_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++)
        if (ev[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
            atomic_store(&((struct uipc__ring_hub_member *)ev[i].data.ptr)->hup, true);
    return n;
}

/* A look that will not sleep learns of hang-ups at most every POLL_CHECK_NS
 * per hub (unless a sleeper holds the hub: it learns of them itself). */
static void hub_collect(struct uipc__ring_hub *h, int64_t now)
{
    if (now < atomic_load_explicit(&h->next_collect_ns, memory_order_relaxed) ||
        !hub_enter(&h->base))
        return;
    atomic_store_explicit(&h->next_collect_ns, now + POLL_CHECK_NS, memory_order_relaxed);
    (void)hub_wait(&h->base, 0);
    hub_release(&h->base);
}

static int hub_arm(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct uipc__ring_ep *ep = ep_of(ch);
    int rev = ring_look(ep, events, false);
    if (rev)
        return rev;
    if (events & UIPC_POLLIN)
        rearm_begin(ep);
    /* Room has no wake-up; the end has one: the hang-up, or the close's bell. */
    if (events & UIPC_POLLOUT)
        w->nap = true;
    return 0;
}

static int hub_armed(struct uipc_channel *ch, int events)
{
    struct uipc__ring_ep *ep = ep_of(ch);
    if (events & UIPC_POLLIN)
        return rearm_end(ep) ? UIPC_POLLIN : 0;
    return peer_gone(ep, false) ? UIPC_POLLHUP : 0;
}

static const struct uipc__pollgroup_ops hub_ops = {
    .enter = hub_enter,
    .leave = hub_release,
    .arm = hub_arm,
    .armed = hub_armed,
    .fd = hub_fd,
    .wait = hub_wait,
};

struct uipc__ring_hub *uipc__ring_hub_new(int *err)
{
    struct uipc__ring_hub *h = calloc(1, sizeof *h);
    if (!h) {
        *err = -ENOMEM;
        return NULL;
    }
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd < 0) {
        *err = -errno;
        free(h);
        return NULL;
    }
    h->base.ops = &hub_ops;
    h->pid = getpid();
    atomic_init(&h->refs, 1);
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void uipc__ring_hub_unref(struct uipc__ring_hub *h)
{
    if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    uipc__close_fd(h->epfd);
    for (struct uipc__ring_hub_member *m = h->all, *next; m; m = next) {
        next = m->all;
        free(m);
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int uipc__ring_hub_join(struct uipc__ring_hub *h, struct uipc__ring_ep *ep)
{
    if (!h || h->pid != getpid())
        return 0; /* a fork child's copy: its channels poll on their own */
    pthread_mutex_lock(&h->lock);
    struct uipc__ring_hub_member *m = h->free;
    if (m)
        h->free = m->next;
    else if ((m = calloc(1, sizeof *m))) {
        m->all = h->all;
        h->all = m;
    }
    pthread_mutex_unlock(&h->lock);
    if (!m)
        return -ENOMEM;
    atomic_store(&m->hup, false);
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = m};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, ep->bell_fd, &e) < 0) {
        int err = -errno;
        pthread_mutex_lock(&h->lock);
        m->next = h->free;
        h->free = m;
        pthread_mutex_unlock(&h->lock);
        return err;
    }
    atomic_fetch_add(&h->refs, 1);
    ep->hub = h;
    ep->hub_member = m;
    return 0;
}

static void hub_leave(struct uipc__ring_ep *ep)
{
    struct uipc__ring_hub *h = ep->hub;
    if (!h)
        return;
    /* In a fork child the epoll set is the parent's too: leave it alone. */
    if (h->pid == getpid())
        epoll_ctl(h->epfd, EPOLL_CTL_DEL, ep->bell_fd, NULL);
    pthread_mutex_lock(&h->lock);
    ep->hub_member->next = h->free;
    h->free = ep->hub_member;
    pthread_mutex_unlock(&h->lock);
    ep->hub = NULL;
    ep->hub_member = NULL;
    uipc__ring_hub_unref(h);
}

struct uipc__pollgroup *uipc__ring_ch_poll_group(const struct uipc_channel *ch)
{
    struct uipc__ring_hub *h = ((const struct uipc__ring_channel *)ch)->ep.hub;
    return h ? &h->base : NULL;
}
