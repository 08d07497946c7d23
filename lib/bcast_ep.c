/* SPDX-License-Identifier: MIT */
/*
 * A shm: publisher or subscriber over the broadcast ring (bcast.h): the
 * file, liveness, waiting and doorbells.  The ring itself is bcast.c.
 *
 * The file /dev/shm/<name> is the header page, the data area and the
 * control area (docs/pubsub.md).  The publisher maps all of it; a
 * subscriber maps header and data read-only and the control area writable.
 *
 * Liveness is OFD locks (rendezvous.h), as in ring_ep.c: the publisher
 * holds the byte PUB_LOCK, each subscriber the byte of its slot.  The
 * kernel drops a lock when its holder dies, so a subscriber notices a dead
 * publisher (F_OFD_GETLK while it sleeps, every SLICE_NS) and a blocked
 * publisher notices the dead subscriber that blocks it (every CHECK_NS).
 *
 * Waiting: a bounded spin, then a shared futex on the waiter word of the
 * control area with the Dekker discipline of ring.c (bcast.h explains
 * why no waiter clears the bit).  A subscriber that polls binds an
 * abstract datagram socket named after the ring's id and its slot and
 * sets its slot's parked flag; the publisher rings the parked ones.
 */
#include "bcast.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "ring.h"
#include "ring_ep.h"

/* Lock slots (rendezvous.h, UIPC__RDV_BYTE): the publisher's, and each
 * subscriber slot's. */
#define PUB_LOCK 0u
#define SLOT_LOCK(i) (64u + (unsigned)(i))
/* A sleeping subscriber re-checks the publisher's lock this often. */
#define SLICE_NS (50 * 1000000LL)
/* A blocked publisher checks the subscriber in its way at most this often,
 * and so drops a dead one within about this long. */
#define CHECK_NS (10 * 1000000LL)
/* A caller polling with timeout 0 checks liveness at most this often. */
#define POLL_CHECK_NS (10 * 1000000LL)

void uipc__bcast_ep_init(struct uipc__bcast_ep *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->lock_fd = ep->bell_fd = ep->tx_fd = -1;
    ep->slot = -1;
    uipc__pollset_init(&ep->ps);
    uipc__pidwatch_init(&ep->pub_watch);
}

/* Liveness is rendezvous.h's: an OFD write lock on a byte per party. */
static int lock_byte(int fd, unsigned slot)
{
    return uipc__rdv_lock(fd, slot, false);
}

static int byte_held(int fd, unsigned slot)
{
    return uipc__rdv_held(fd, slot);
}

static int reopen_fd(int fd)
{
    return uipc__rdv_reopen(fd, O_RDWR);
}

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

struct bparams {
    struct uipc__ring_params ring; /* size, maxmsg, spin, mode */
    struct uipc__bcast_geom g;
    bool overflow_given, subs_given;
};

static int parse(const struct uipc__uri *u, struct bparams *p)
{
    int err = 0;
    long subs;
    memset(p, 0, sizeof *p);
    int r = uipc__ring_params(u, &p->ring);
    const char *ov = r == 0 ? uipc__uri_get(u, "overflow", &err) : NULL;
    if (r == 0)
        r = err;
    if (r == 0 && ov && strcmp(ov, "drop") != 0 && strcmp(ov, "block") != 0)
        r = -EINVAL;
    if (r == 0)
        r = uipc__uri_long(u, "subs", 1, UIPC__BCAST_MAX_SUBS, UIPC__BCAST_DEFAULT_SUBS, &subs);
    if (r < 0)
        return r;
    p->overflow_given = ov != NULL;
    p->subs_given = uipc__uri_get(u, "subs", &err) != NULL;
    p->g.ring_size = p->ring.ring_size;
    p->g.max_msg = p->ring.max_msg;
    p->g.nslots = (uint32_t)subs;
    p->g.flags = ov && strcmp(ov, "block") == 0 ? UIPC__BCAST_BLOCK : 0;
    return uipc__bcast_geom_check(&p->g);
}

/* A subscriber's keys must agree with what the publisher made. */
static int agrees(const struct bparams *p, const struct uipc__bcast_hdr *g)
{
    if ((p->ring.size_given && p->g.ring_size != g->ring_size) ||
        (p->ring.maxmsg_given && p->g.max_msg != g->max_msg) ||
        (p->overflow_given && p->g.flags != (g->flags & UIPC__BCAST_BLOCK)) ||
        (p->subs_given && p->g.nslots != g->nslots))
        return -EINVAL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */
/* ------------------------------------------------------------------ */

/* Reads and validates the header of an unmapped file (pread: a short or
 * foreign file cannot fault).  -EPROTOTYPE for a two-party ring. */
static int read_hdr(int fd, struct uipc__bcast_hdr *g)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < UIPC__BCAST_HDR_SIZE)
        return -EBADMSG;
    ssize_t n = pread(fd, g, offsetof(struct uipc__bcast_hdr, head), 0);
    if (n < 0)
        return -errno;
    if ((size_t)n < offsetof(struct uipc__bcast_hdr, head))
        return -EBADMSG;
    if (g->magic == UIPC__RING_MAGIC)
        return -EPROTOTYPE;
    if (g->magic != UIPC__BCAST_MAGIC)
        return -EBADMSG;
    if (g->version != UIPC__BCAST_VERSION)
        return -EPROTO;
    struct uipc__bcast_geom geom = {g->ring_size, g->max_msg, g->nslots, g->flags};
    if (g->hdr_size != UIPC__BCAST_HDR_SIZE || uipc__bcast_geom_check(&geom) < 0 ||
        g->ctl_size != uipc__bcast_ctl_size(g->nslots) ||
        g->total_size != UIPC__BCAST_HDR_SIZE + g->ring_size + g->ctl_size ||
        (uint64_t)st.st_size < g->total_size)
        return -EBADMSG;
    return 0;
}

bool uipc__bcast_is_bcast(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint64_t magic = 0;
    bool yes =
        pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic && magic == UIPC__BCAST_MAGIC;
    uipc__close_fd(fd);
    return yes;
}

/*
 * ---- Lifecycle of the name: create, publish atomically, judge stale ----
 * On rendezvous.h, as every named object: a formatted file published
 * atomically, a stale one replaced only by its owner's uid, removal by
 * inode.
 */

static void random_id(uint8_t id[16])
{
    if (getrandom(id, 16, GRND_NONBLOCK) == 16)
        return;
    uint64_t a = (uint64_t)uipc__now_ns(), b = (uint64_t)getpid() << 32 ^ (uintptr_t)id;
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

/* A formatted broadcast file without a name yet (uipc__rdv_tmpfile). */
static int make_file(int dirfd, const struct bparams *p, char tmp[UIPC__RDV_TMP_MAX])
{
    int fd = uipc__rdv_tmpfile(dirfd, p->ring.mode, tmp);
    if (fd < 0)
        return fd;
    uint64_t total = UIPC__BCAST_HDR_SIZE + p->g.ring_size + uipc__bcast_ctl_size(p->g.nslots);
    int r = uipc__fd_allocate(fd, total);
    struct uipc__bcast_hdr *h = MAP_FAILED;
    if (r == 0 && (h = mmap(NULL, UIPC__BCAST_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                            0)) == MAP_FAILED)
        r = -errno;
    if (r < 0) {
        uipc__rdv_discard(dirfd, tmp);
        uipc__close_fd(fd);
        return r;
    }
    uint8_t id[16];
    random_id(id);
    /* The publisher is open before the name exists: a subscriber that
     * attaches the instant it appears must not take a state that changes
     * afterwards for the publisher's end. */
    atomic_store(&h->pub_pid, (uint32_t)getpid());
    atomic_store(&h->pub_state, 1u << 2 | UIPC__BCAST_PUB_OPEN);
    uipc__bcast_format(h, &p->g, id);
    munmap(h, UIPC__BCAST_HDR_SIZE);
    return fd;
}

/*
 * Removes name if it is a broadcast ring whose publisher is gone and our
 * uid owns it (or hands a two-party ring to ring_ep.c's judge).  The lock
 * we take while judging keeps a concurrent creator from judging the same
 * file; removal by inode never takes what replaced it.
 */
static int remove_stale(int dirfd, const char *name, bool force)
{
    int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct uipc__bcast_hdr g;
    struct uipc__rdv_id id;
    struct stat st;
    int r = read_hdr(fd, &g);
    if (r == -EPROTOTYPE) {
        uipc__close_fd(fd);
        return uipc__ring_unlink_at(dirfd, name, false, force);
    }
    if (r == -EPROTO)
        r = 0; /* another layout version: still ours to judge */
    if (r == 0 && !force)
        r = lock_byte(fd, PUB_LOCK);
    if (r == -EBUSY)
        r = -EADDRINUSE;
    if (r == 0)
        r = fstat(fd, &st) < 0 ? -errno : force ? 0 : uipc__rdv_adoptable(st.st_uid);
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

int uipc__bcast_unlink_at(int dirfd, const char *name, bool force)
{
    int r;
    for (int attempt = 0; (r = remove_stale(dirfd, name, force)) == -EAGAIN && attempt < 100;
         attempt++)
        ;
    return r;
}

int uipc__bcast_probe_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                          const struct stat *st0)
{
    (void)st0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    uint64_t magic = 0;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
              magic == UIPC__BCAST_MAGIC;
    bool live = ok && byte_held(fd, PUB_LOCK) > 0;
    uipc__close_fd(fd);
    uipc_rdvinfo info;
    if (!ok || uipc__probe_fill(&info, "shm", live ? UIPC_RDV_LIVE : UIPC_RDV_STALE, &st, true,
                                "shm://%s", name) < 0)
        return 0;
    if (live)
        info.pid = uipc__probe_file_holder(&st);
    return w->emit(&info, w->arg);
}

/*
 * Creates the file and gives it the name; takes over a stale one.  The
 * lock is taken on an open file description of its own (*lock_fd): a
 * mapping made from fd would keep fd's alive, and its lock with it, until
 * munmap.
 */
static int create_named(int dirfd, const char *name, const struct bparams *p, int flags,
                        int *lock_fd)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        char tmp[UIPC__RDV_TMP_MAX];
        int fd = make_file(dirfd, p, tmp);
        if (fd < 0)
            return fd;
        /* Lock before the name exists: nobody can judge it stale. */
        int r = *lock_fd = reopen_fd(fd);
        if (r >= 0)
            r = lock_byte(*lock_fd, PUB_LOCK);
        if (r == 0)
            r = uipc__rdv_publish(dirfd, fd, tmp, name);
        uipc__rdv_discard(dirfd, tmp);
        if (r == 0)
            return fd;
        uipc__close_fd(*lock_fd);
        *lock_fd = -1;
        uipc__close_fd(fd);
        if (r != -EEXIST)
            return r;
        if (flags & UIPC_EXCL)
            return -EEXIST;
        r = remove_stale(dirfd, name, false);
        if (r < 0 && r != -EAGAIN && r != -ENOENT)
            return r == -EBADMSG ? -EADDRINUSE : r;
    }
    return -EADDRINUSE;
}

/* ---- end of the lifecycle block ---- */

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

static int open_pub(struct uipc__bcast_ep *ep, int dirfd, const char *name, const struct bparams *p,
                    int flags)
{
    int lock_fd = -1, fd = create_named(dirfd, name, p, flags, &lock_fd);
    if (fd < 0)
        return fd;
    struct stat st;
    uint64_t total = UIPC__BCAST_HDR_SIZE + p->g.ring_size + uipc__bcast_ctl_size(p->g.nslots);
    unsigned char *map = MAP_FAILED;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 &&
        (map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        r = -errno;
    uipc__close_fd(fd);
    if (r < 0) {
        unlinkat(dirfd, name, 0);
        uipc__close_fd(lock_fd);
        return r;
    }
    ep->publisher = true;
    ep->map = map;
    ep->map_len = total;
    ep->hdr = (struct uipc__bcast_hdr *)map;
    ep->lock_fd = lock_fd;
    ep->dev = st.st_dev;
    ep->ino = st.st_ino;
    uipc__bcast_pub_bind(&ep->pub, map, &p->g);
    return 0;
}

/* Takes the first free slot: its lock is ours while we live. */
static int take_slot(int lock_fd, uint32_t nslots)
{
    for (uint32_t i = 0; i < nslots; i++) {
        int r = lock_byte(lock_fd, SLOT_LOCK(i));
        if (r == 0)
            return (int)i;
        if (r != -EBUSY)
            return r;
    }
    return -EBUSY;
}

static int open_sub(struct uipc__bcast_ep *ep, int dirfd, const char *name, const struct bparams *p)
{
    int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct uipc__bcast_hdr g;
    struct stat st;
    unsigned char *map = MAP_FAILED, *ctl = MAP_FAILED;
    int lock_fd = -1, slot = -1;
    int r = read_hdr(fd, &g);
    if (r == 0)
        r = agrees(p, &g);
    if (r == 0 && byte_held(fd, PUB_LOCK) <= 0)
        r = -ENOENT; /* a name whose publisher is gone: no publisher */
    if (r == 0)
        r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0)
        r = lock_fd = reopen_fd(fd);
    if (r >= 0)
        r = slot = take_slot(lock_fd, g.nslots);
    size_t ro_len = UIPC__BCAST_HDR_SIZE + g.ring_size;
    if (r >= 0 && (map = mmap(NULL, ro_len, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
        r = -errno;
    if (r >= 0 && (ctl = mmap(NULL, g.ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                              (off_t)ro_len)) == MAP_FAILED)
        r = -errno;
    uipc__close_fd(fd);
    if (r < 0) {
        if (map != MAP_FAILED)
            munmap(map, ro_len);
        uipc__close_fd(lock_fd);
        return r;
    }
    ep->map = map;
    ep->map_len = ro_len;
    ep->ctl_map = ctl;
    ep->ctl_len = g.ctl_size;
    ep->hdr = (struct uipc__bcast_hdr *)map;
    ep->lock_fd = lock_fd;
    ep->slot = slot;
    ep->dev = st.st_dev;
    ep->ino = st.st_ino;
    struct uipc__bcast_ctl *c = (struct uipc__bcast_ctl *)(void *)ctl;
    struct uipc__bcast_slot *sl = &c->slot[slot];
    ep->pub_state = atomic_load(&ep->hdr->pub_state);
    atomic_store(&sl->pid, (uint32_t)getpid());
    atomic_store(&sl->parked, 0);
    struct uipc__bcast_geom geom = {g.ring_size, g.max_msg, g.nslots, g.flags};
    uipc__bcast_sub_bind(&ep->sub, map, &geom, c, sl);
    uint32_t gen = (atomic_load(&sl->state) >> 2) + 1;
    ep->my_state = gen << 2 | UIPC__BCAST_SLOT_ACTIVE;
    if (ep->sub.block)
        uipc__bcast_join(&ep->sub, gen);
    else
        atomic_store(&sl->state, ep->my_state);
    return 0;
}

int uipc__bcast_open_at(struct uipc__bcast_ep *ep, int dirfd, const char *name,
                        const struct uipc__uri *u, int flags)
{
    struct bparams p;
    int r = parse(u, &p);
    if (r < 0)
        return r;
    r = (flags & UIPC_PUB) ? open_pub(ep, dirfd, name, &p, flags) : open_sub(ep, dirfd, name, &p);
    if (r < 0)
        return r;
    ep->spin_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? p.ring.spin_ns : 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Doorbells                                                           */
/* ------------------------------------------------------------------ */

/* "\0uipc-bcast-<id in hex>-<slot>": gone with the socket. */
static socklen_t bell_addr(const struct uipc__bcast_hdr *h, int slot, struct sockaddr_un *a)
{
    static const char hex[] = "0123456789abcdef";
    char name[80] = "uipc-bcast-";
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof h->id; i++) {
        name[n++] = hex[h->id[i] >> 4];
        name[n++] = hex[h->id[i] & 15];
    }
    n += (size_t)snprintf(name + n, sizeof name - n, "-%d", slot);
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* Publisher: rings the doorbell of every subscriber that parked (or of
 * every slot, at close).  Never blocks. */
static void ring_bells(struct uipc__bcast_ep *ep, bool all)
{
    static const char one = 1;
    struct uipc__bcast_ctl *c = ep->pub.ctl;
    for (uint32_t i = 0; i < ep->pub.nslots; i++) {
        if (!atomic_exchange(&c->slot[i].parked, 0) && !all)
            continue;
        if (ep->tx_fd < 0)
            ep->tx_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (ep->tx_fd < 0)
            return;
        struct sockaddr_un a;
        socklen_t n = bell_addr(ep->hdr, (int)i, &a);
        (void)sendto(ep->tx_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, n);
    }
}

static void wake_subscribers(struct uipc__bcast_ep *ep, uint32_t bits)
{
    if (bits & UIPC__BCAST_SLEEPING)
        uipc__futex_wake(&ep->pub.ctl->sub_wait, INT_MAX);
    if (bits & UIPC__BCAST_PARKED)
        ring_bells(ep, false);
}

static void wake_publisher(struct uipc__bcast_ep *ep, uint32_t bits)
{
    if (bits & UIPC__BCAST_SLEEPING)
        uipc__futex_wake(&ep->sub.ctl->pub_wait, INT_MAX);
}

/* The waiter bits a skip record's cursor update cleared (bcast.h). */
static void wake_publisher_for_skips(struct uipc__bcast_ep *ep)
{
    uint32_t bits = ep->sub.pub_bits;
    ep->sub.pub_bits = 0;
    if (bits)
        wake_publisher(ep, bits);
}

/* ------------------------------------------------------------------ */
/* Subscriber: waiting for messages                                    */
/* ------------------------------------------------------------------ */

/* True once the publisher closed or died.  full: also test its lock. */
static bool publisher_gone(struct uipc__bcast_ep *ep, bool full)
{
    if (ep->pub_gone)
        return true;
    uint32_t s = atomic_load(&ep->hdr->pub_state);
    if (s != ep->pub_state || (s & 3u) != UIPC__BCAST_PUB_OPEN ||
        (full && byte_held(ep->lock_fd, PUB_LOCK) == 0))
        ep->pub_gone = true;
    return ep->pub_gone;
}

static void drain(int fd)
{
    char buf[256];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

/* Park for poll: drain the bell, announce PARKED, look again (ring.c's
 * poll_rearm, with our slot's flag naming whose bell to ring). */
static bool poll_rearm(struct uipc__bcast_ep *ep)
{
    uipc__pollset_signal(&ep->ps, false);
    drain(ep->bell_fd);
    atomic_store(&ep->sub.slot->parked, 1);
    atomic_fetch_or(&ep->sub.ctl->sub_wait, UIPC__BCAST_PARKED);
    if (uipc__bcast_readable(&ep->sub) || publisher_gone(ep, false)) {
        uipc__pollset_signal(&ep->ps, true);
        return true;
    }
    return false;
}

int uipc__bcast_pollfd(struct uipc__bcast_ep *ep)
{
    if (ep->publisher)
        return -ENOTSUP;
    if (ep->ps.epfd >= 0)
        return ep->ps.epfd;
    int r = uipc__pollset_create(&ep->ps);
    if (r < 0)
        return r;
    struct sockaddr_un a;
    socklen_t n = bell_addr(ep->hdr, ep->slot, &a);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, n) < 0) {
        r = -errno;
        uipc__close_fd(s);
        uipc__pollset_release(&ep->ps);
        return r;
    }
    ep->bell_fd = s;
    r = uipc__pollset_add(&ep->ps, s);
    /* The publisher's death wakes a poller (it rings no bell when killed). */
    uint32_t pid = atomic_load(&ep->hdr->pub_pid);
    if (r == 0 && pid && pid <= INT_MAX)
        uipc__pidwatch_set(&ep->pub_watch, (pid_t)pid, &ep->ps);
    if (r < 0) {
        uipc__close_fd(ep->bell_fd);
        ep->bell_fd = -1;
        uipc__pollset_release(&ep->ps);
        return r;
    }
    ep->polling = true;
    poll_rearm(ep);
    return ep->ps.epfd;
}

int uipc__bcast_poll_ready(struct uipc__bcast_ep *ep, int events, struct uipc__pollwait *w)
{
    int out = events & UIPC_POLLOUT;
    if (ep->publisher)
        return out;
    bool gone = publisher_gone(ep, w != NULL);
    if (gone)
        out |= UIPC_POLLHUP;
    if ((events & UIPC_POLLIN) && (uipc__bcast_readable(&ep->sub) || gone))
        out |= UIPC_POLLIN;
    if (out || !w || !(events & UIPC_POLLIN))
        return out;
    /* About to sleep: park on the doorbell and look once more. */
    int fd = uipc__bcast_pollfd(ep);
    if (fd < 0)
        return fd;
    if (poll_rearm(ep))
        return UIPC_POLLIN | (publisher_gone(ep, false) ? UIPC_POLLHUP : 0);
    uipc__pollwait_add(w, fd, POLLIN);
    return 0;
}

/* Spins up to ?spin= for a message (no adaptive budget: see ring.c for
 * the two-party refinement). */
static bool spin_readable(struct uipc__bcast_ep *ep, const struct uipc__deadline *dl)
{
    int64_t budget = ep->spin_ns, left = uipc__deadline_left_ns(dl);
    if (budget <= 0)
        return false;
    if (left >= 0 && left < budget)
        budget = left;
    int64_t start = uipc__now_ns();
    for (unsigned i = 1;; i++) {
        if (uipc__bcast_readable(&ep->sub))
            return true;
        uipc__cpu_relax();
        if ((i & 63) == 0 && uipc__now_ns() - start >= budget)
            return false;
    }
}

/* Waits until a message may be readable: 0, -EPIPE, or the deadline's error. */
static int wait_data(struct uipc__bcast_ep *ep, const struct uipc__deadline *dl)
{
    if (publisher_gone(ep, false))
        return -EPIPE;
    if (dl->timeout_ms == 0) {
        if (ep->polling && poll_rearm(ep) && uipc__bcast_readable(&ep->sub))
            return 0;
        int64_t now = uipc__now_ns();
        if (ep->polling || now >= ep->next_check_ns) {
            ep->next_check_ns = now + POLL_CHECK_NS;
            if (publisher_gone(ep, true))
                return -EPIPE;
        }
        return -EAGAIN;
    }
    if (spin_readable(ep, dl))
        return 0;
    _Atomic uint32_t *word = &ep->sub.ctl->sub_wait;
    int64_t next_full = uipc__now_ns() + SLICE_NS;
    for (;;) {
        uint32_t v = atomic_fetch_or(word, UIPC__BCAST_SLEEPING) | UIPC__BCAST_SLEEPING;
        if (uipc__bcast_readable(&ep->sub))
            return 0; /* the bit stays: other subscribers may sleep on it */
        int64_t now = uipc__now_ns();
        bool full = now >= next_full;
        if (full)
            next_full = now + SLICE_NS;
        if (publisher_gone(ep, full))
            return -EPIPE;
        int r = uipc__futex_wait(word, v, dl, SLICE_NS);
        if (r < 0)
            return uipc__bcast_readable(&ep->sub) ? 0 : r;
    }
}

ssize_t uipc__bcast_recv_peek(struct uipc__bcast_ep *ep, const void **buf,
                              const struct uipc__deadline *dl)
{
    if (ep->broken)
        return ep->broken;
    for (;;) {
        ssize_t n = uipc__bcast_peek(&ep->sub, buf);
        wake_publisher_for_skips(ep);
        if (n == -EBADMSG)
            return ep->broken = -EBADMSG;
        if (n != -EAGAIN) {
            ep->peeked = n >= 0;
            return n;
        }
        int r = wait_data(ep, dl);
        if (r == -EPIPE) {
            /* What the publisher left comes before its end. */
            n = uipc__bcast_peek(&ep->sub, buf);
            wake_publisher_for_skips(ep);
            ep->peeked = n >= 0;
            return n == -EAGAIN ? -EPIPE : n;
        }
        if (r < 0)
            return r;
    }
}

int uipc__bcast_recv_release(struct uipc__bcast_ep *ep)
{
    if (!ep->peeked)
        return -EINVAL;
    ep->peeked = false;
    uint32_t bits;
    int r = uipc__bcast_release(&ep->sub, &bits);
    if (bits)
        wake_publisher(ep, bits);
    return r;
}

ssize_t uipc__bcast_recv(struct uipc__bcast_ep *ep, void *buf, size_t cap,
                         const struct uipc__deadline *dl)
{
    if (ep->broken)
        return ep->broken;
    for (;;) {
        uint32_t bits;
        ssize_t n = uipc__bcast_read(&ep->sub, buf, cap, &bits);
        if (bits)
            wake_publisher(ep, bits);
        wake_publisher_for_skips(ep);
        if (n == -EBADMSG)
            return ep->broken = -EBADMSG;
        if (n != -EAGAIN)
            return n;
        int r = wait_data(ep, dl);
        if (r == -EPIPE) {
            n = uipc__bcast_read(&ep->sub, buf, cap, &bits);
            if (bits)
                wake_publisher(ep, bits);
            wake_publisher_for_skips(ep);
            return n == -EAGAIN ? -EPIPE : n;
        }
        if (r < 0)
            return r;
    }
}

/* ------------------------------------------------------------------ */
/* Publisher                                                           */
/* ------------------------------------------------------------------ */

/* Block mode: the subscriber in our way; drops it if it died.  True if
 * it was dropped (try again at once). */
static bool drop_if_dead(struct uipc__bcast_ep *ep)
{
    int b = ep->pub.blocker;
    if (b < 0 || byte_held(ep->lock_fd, SLOT_LOCK(b)) != 0)
        return false;
    uipc__bcast_drop_slot(&ep->pub, b);
    return true;
}

/* Block mode: waits until a reserve of len may succeed. */
static int wait_space(struct uipc__bcast_ep *ep, size_t len, const struct uipc__deadline *dl)
{
    _Atomic uint32_t *word = &ep->pub.ctl->pub_wait;
    int64_t now = uipc__now_ns();
    if (now >= ep->next_check_ns) {
        ep->next_check_ns = now + CHECK_NS;
        if (drop_if_dead(ep))
            return 0;
    }
    if (dl->timeout_ms == 0)
        return -EAGAIN;
    for (;;) {
        uint32_t v = atomic_fetch_or(word, UIPC__BCAST_SLEEPING) | UIPC__BCAST_SLEEPING;
        if (uipc__bcast_writable(&ep->pub, len)) {
            atomic_fetch_and(word, ~UIPC__BCAST_SLEEPING); /* the only sleeper is us */
            return 0;
        }
        int64_t left = ep->next_check_ns - uipc__now_ns();
        int r = uipc__futex_wait(word, v, dl, left > 0 ? left : 0);
        if (r < 0) {
            atomic_fetch_and(word, ~UIPC__BCAST_SLEEPING);
            return uipc__bcast_writable(&ep->pub, len) ? 0 : r;
        }
        now = uipc__now_ns();
        if (now >= ep->next_check_ns) {
            ep->next_check_ns = now + CHECK_NS;
            if (drop_if_dead(ep)) {
                atomic_fetch_and(word, ~UIPC__BCAST_SLEEPING);
                return 0;
            }
        }
    }
}

int uipc__bcast_send_reserve(struct uipc__bcast_ep *ep, void **buf, size_t len,
                             const struct uipc__deadline *dl)
{
    if (ep->reserved)
        return -EBUSY;
    for (;;) {
        uint32_t bits;
        int r = uipc__bcast_reserve(&ep->pub, len, buf, &bits);
        if (bits)
            wake_subscribers(ep, bits);
        if (r == 0) {
            ep->reserved = true;
            ep->reserved_len = len;
            return 0;
        }
        if (r != -EAGAIN)
            return r;
        r = wait_space(ep, len, dl);
        if (r < 0)
            return r;
    }
}

int uipc__bcast_send_commit(struct uipc__bcast_ep *ep, size_t len)
{
    if (!ep->reserved || len > ep->reserved_len)
        return -EINVAL;
    ep->reserved = false;
    uint32_t bits = uipc__bcast_commit(&ep->pub, len);
    if (bits)
        wake_subscribers(ep, bits);
    return 0;
}

ssize_t uipc__bcast_send(struct uipc__bcast_ep *ep, const void *msg, size_t len,
                         const struct uipc__deadline *dl)
{
    void *buf;
    int r = uipc__bcast_send_reserve(ep, &buf, len, dl);
    if (r < 0)
        return r;
    memcpy(buf, msg, len);
    uipc__bcast_send_commit(ep, len);
    return (ssize_t)len;
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

/* True when our lock dies with this close: no other process (a fork
 * child that uses the handle) shares our open file description. */
static bool last_holder(struct uipc__bcast_ep *ep, off_t at)
{
    int probe = reopen_fd(ep->lock_fd);
    uipc__close_fd(ep->lock_fd);
    ep->lock_fd = -1;
    if (probe < 0)
        return false;
    bool last = byte_held(probe, at) == 0;
    uipc__close_fd(probe);
    return last;
}

void uipc__bcast_ep_close(struct uipc__bcast_ep *ep)
{
    if (ep->publisher && ep->lock_fd >= 0 && last_holder(ep, PUB_LOCK)) {
        uint32_t s = atomic_load(&ep->hdr->pub_state);
        atomic_store(&ep->hdr->pub_state, (s & ~3u) | UIPC__BCAST_PUB_CLOSED);
        atomic_exchange(&ep->pub.ctl->sub_wait, 0);
        uipc__futex_wake(&ep->pub.ctl->sub_wait, INT_MAX);
        ring_bells(ep, true);
    } else if (!ep->publisher && ep->lock_fd >= 0 && last_holder(ep, SLOT_LOCK(ep->slot))) {
        /* A subscriber that took the slot meanwhile wrote a state of its
         * own, which the exchange in leave leaves alone. */
        uint32_t bits = uipc__bcast_leave(&ep->sub, ep->my_state);
        if (bits)
            wake_publisher(ep, bits);
    }
    uipc__pollset_release(&ep->ps);
    uipc__close_fd(ep->bell_fd);
    uipc__close_fd(ep->tx_fd);
    uipc__pidwatch_stop(&ep->pub_watch, NULL);
    uipc__close_fd(ep->lock_fd);
    if (ep->ctl_map)
        munmap(ep->ctl_map, ep->ctl_len);
    if (ep->map)
        munmap(ep->map, ep->map_len);
    uipc__bcast_ep_init(ep);
}
