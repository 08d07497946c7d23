/* SPDX-License-Identifier: MIT */
/*
 * fifo: — named pipes, one per direction: "fifo:///tmp/job" makes
 * /tmp/job.c2s (client to owner) and /tmp/job.s2c (owner to client).
 *
 * Stream transport with libuipc framing, messages up to ?maxmsg= (default
 * 16 MiB), exactly two parties.  The owner (UIPC_CREATE) creates both FIFOs
 * with ?mode= (default 0600) and removes them at close.
 *
 * Opening never blocks, and liveness is carried by OFD locks on the FIFO
 * inodes (rendezvous.h) rather than by who has which end open:
 *  - The owner opens .c2s for reading and .s2c read-write, and holds the
 *    owner lock (slot 0) on .s2c: a live owner.  It also keeps a writer of
 *    its own on .c2s until its peer has arrived, so that reading before
 *    then waits instead of seeing end of stream.  .s2c read-write lets it
 *    send before the peer arrives (the pipe buffers it) and makes the peer
 *    read end of stream only once the owner is gone.
 *  - The peer opens .c2s for writing (ENXIO: no live owner, -ENOENT), then
 *    .s2c for reading, and takes the peer lock (slot 1) on .c2s through its
 *    writer; if another peer holds it the open is -EBUSY.
 *  - The owner learns that its peer has arrived when that lock is held (or
 *    a message from it arrived); only then does it drop its own writer, so
 *    end of stream on .c2s means the peer closed or died.
 *  - Each side keeps a reader of the FIFO it writes (the owner's .s2c is
 *    read-write): the framer's guard, so that a write never raises SIGPIPE.
 *    A peer's death therefore shows on the FIFO each side reads, and a send
 *    reports it as -EPIPE (framing.h).
 * A stale pair (no owner lock on .s2c) is taken over by UIPC_CREATE; a
 * live one is -EADDRINUSE.  The owner removes at close only the FIFOs it
 * made (compared by inode), never a successor's.  Symbolic links are never
 * followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framing.h"
#include "internal.h"
#include "rendezvous.h"

struct fifo_channel {
    struct uipc_channel base;
    struct uipc__framer f;
    int hold_fd;          /* owner: its own writer on .c2s until the peer arrives */
    bool peer_seen;       /* owner: the peer has taken its lock */
    struct uipc__rdv_id c2s_id, s2c_id; /* owner: the FIFOs it made */
    char c2s[PATH_MAX];
    char s2c[PATH_MAX];
};

static const char *const fifo_keys[] = {"maxmsg", "mode", NULL};

static int open_fifo(const char *path, int how)
{
    int fd = open(path, how | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ELOOP ? -ELOOP : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        uipc__close_fd(fd);
        return -EEXIST; /* something else lives under that name */
    }
    return fd;
}

/* Removes one FIFO of a stale pair if it is one (-EEXIST if it is not). */
static int remove_fifo(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISFIFO(st.st_mode))
        return -EEXIST;
    struct uipc__rdv_id id = {st.st_dev, st.st_ino};
    int r = uipc__rdv_remove(AT_FDCWD, path, &id);
    return r == -ENOENT || r == -ESTALE ? 0 : r;
}

/* Removes a stale pair: 0 done or nothing there, -EADDRINUSE if its owner lives. */
static int take_over(const char *c2s, const char *s2c, bool force)
{
    int fd = force ? -ENOENT : open_fifo(s2c, O_RDONLY);
    if (fd >= 0) {
        int live = uipc__rdv_held(fd, 0);
        uipc__close_fd(fd);
        if (live)
            return live < 0 ? live : -EADDRINUSE;
    } else if (fd != -ENOENT) {
        return fd;
    }
    int r = remove_fifo(c2s);
    return r < 0 ? r : remove_fifo(s2c);
}

/* Makes the FIFO path with exactly mode and records which one we made. */
static int make_fifo(const char *path, mode_t mode, struct uipc__rdv_id *id)
{
    if (mkfifo(path, mode) < 0)
        return -errno;
    int r = uipc__rdv_id_at(AT_FDCWD, path, id);
    if (r == 0 && chmod(path, mode) < 0) /* mkfifo applied the umask */
        r = -errno;
    if (r < 0)
        unlink(path);
    return r;
}

/* Opens one of our FIFOs: -EADDRINUSE if the name is no longer the one we
 * made (someone took the pair over meanwhile). */
static int open_made(const char *path, int how, const struct uipc__rdv_id *made)
{
    int fd = open_fifo(path, how);
    struct uipc__rdv_id id;
    if (fd >= 0 && (uipc__rdv_id_fd(fd, &id) < 0 || id.dev != made->dev || id.ino != made->ino)) {
        uipc__close_fd(fd);
        return -EADDRINUSE;
    }
    return fd;
}

static int fifo_create(struct fifo_channel *c, mode_t mode, int flags)
{
    int rfd = -1, wfd = -1;
    int r = make_fifo(c->c2s, mode, &c->c2s_id);
    if (r == -EEXIST && !(flags & UIPC_EXCL)) {
        r = take_over(c->c2s, c->s2c, false);
        if (r == 0)
            r = make_fifo(c->c2s, mode, &c->c2s_id);
    }
    if (r < 0)
        return r;
    r = make_fifo(c->s2c, mode, &c->s2c_id);
    if (r < 0)
        goto fail_c2s;
    rfd = open_made(c->c2s, O_RDONLY, &c->c2s_id);
    wfd = open_made(c->s2c, O_RDWR, &c->s2c_id);
    r = rfd < 0 ? rfd : wfd < 0 ? wfd : uipc__rdv_lock(wfd, 0, false);
    if (r == -EBUSY)
        r = -EADDRINUSE; /* someone raced us to the new names */
    if (r == 0) {
        c->hold_fd = open_fifo(c->c2s, O_WRONLY);
        r = c->hold_fd < 0 ? c->hold_fd : 0;
    }
    if (r < 0) {
        uipc__close_fd(rfd);
        uipc__close_fd(wfd);
        c->hold_fd = -1;
        goto fail_s2c;
    }
    uipc__framer_init(&c->f, rfd, wfd, false);
    c->f.max_msg = c->base.max_msg;
    /* The read-write descriptor is its own guard; a second one makes the
     * framer enlarge the pipes and keeps ownership uniform. */
    int guard = open_fifo(c->s2c, O_RDONLY);
    if (guard < 0) {
        r = guard;
        uipc__framer_release(&c->f);
        uipc__close_fd(c->hold_fd);
        c->hold_fd = -1;
        goto fail_s2c;
    }
    uipc__framer_guard(&c->f, guard);
    return 0;

fail_s2c:
    uipc__rdv_remove(AT_FDCWD, c->s2c, &c->s2c_id);
fail_c2s:
    uipc__rdv_remove(AT_FDCWD, c->c2s, &c->c2s_id);
    return r;
}

static int fifo_attach(struct fifo_channel *c)
{
    int wfd = open_fifo(c->c2s, O_WRONLY);
    if (wfd == -ENXIO)
        return -ENOENT; /* the FIFOs are there but no owner is */
    if (wfd < 0)
        return wfd;
    int rfd = open_fifo(c->s2c, O_RDONLY);
    if (rfd < 0) {
        uipc__close_fd(wfd);
        return rfd;
    }
    int r = uipc__rdv_lock(wfd, 1, false); /* -EBUSY: another peer has it */
    if (r < 0) {
        uipc__close_fd(rfd);
        uipc__close_fd(wfd);
        return r;
    }
    int guard = open_fifo(c->c2s, O_RDONLY); /* against SIGPIPE, see framing.h */
    if (guard < 0) {
        uipc__close_fd(rfd);
        uipc__close_fd(wfd);
        return guard;
    }
    uipc__framer_init(&c->f, rfd, wfd, false);
    c->f.max_msg = c->base.max_msg;
    uipc__framer_guard(&c->f, guard);
    c->peer_seen = true;
    return 0;
}

static int fifo_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct fifo_channel *c = (struct fifo_channel *)ch;
    uint64_t max;
    mode_t mode;
    c->hold_fd = -1;
    int r = uipc__rdv_path_pair(u, c->c2s, c->s2c);
    if (r == 0)
        r = uipc__uri_size(u, "maxmsg", 1, UIPC__MAXMSG_CEILING, UIPC__DEFAULT_MAXMSG, &max);
    if (r == 0)
        r = uipc__uri_mode(u, &mode);
    if (r < 0)
        return r;
    ch->max_msg = (size_t)max;
    return (flags & UIPC_CREATE) ? fifo_create(c, mode, flags) : fifo_attach(c);
}

/*
 * Owner only: once the peer holds its lock (or a message from it arrived,
 * which proves it attached even if it has closed since), drop the owner's
 * own writer so that end of stream on .c2s means the peer is gone.
 * Returns whether the peer has been seen.
 */
static bool owner_sees_peer(struct fifo_channel *c, bool arrived)
{
    if (!c->peer_seen && (arrived || uipc__rdv_held(c->f.rfd, 1) == 1)) {
        c->peer_seen = true;
        uipc__close_fd(c->hold_fd); /* end of stream on .c2s now means the peer left */
        c->hold_fd = -1;
    }
    return c->peer_seen;
}

static ssize_t fifo_send(struct uipc_channel *ch, const void *msg, size_t len,
                         const uipc_msginfo *info, struct uipc__deadline *dl)
{
    struct fifo_channel *c = (struct fifo_channel *)ch;
    (void)info;
    /* Once the peer is seen, its death shows on .c2s (framing.h): no
     * system call is spent on it here. */
    if (ch->owner)
        owner_sees_peer(c, false);
    return uipc__framer_send(&c->f, msg, len, dl);
}

static ssize_t fifo_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                         struct uipc__deadline *dl)
{
    struct fifo_channel *c = (struct fifo_channel *)ch;
    (void)info;
    if (ch->owner)
        owner_sees_peer(c, false);
    ssize_t n = uipc__framer_recv(&c->f, buf, cap, dl);
    if (n >= 0 && ch->owner)
        owner_sees_peer(c, true); /* only the peer writes .c2s: it came */
    return n;
}

static int fifo_close(struct uipc_channel *ch, bool remove)
{
    struct fifo_channel *c = (struct fifo_channel *)ch;
    /* Removed while our lock still keeps a successor from taking over, and
     * only the FIFOs we made. */
    if (remove) {
        uipc__rdv_remove(AT_FDCWD, c->c2s, &c->c2s_id);
        uipc__rdv_remove(AT_FDCWD, c->s2c, &c->s2c_id);
    }
    uipc__close_fd(c->hold_fd);
    uipc__framer_release(&c->f);
    return 0;
}

static int fifo_pollfd(struct uipc_channel *ch)
{
    return uipc__framer_pollfd(&((struct fifo_channel *)ch)->f);
}

/* Until the owner has seen its peer, its own writer hides the peer's end
 * of stream: uipc_poll looks again now and then to notice the arrival. */
static int fifo_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct fifo_channel *c = (struct fifo_channel *)ch;
    bool seen = !ch->owner || owner_sees_peer(c, false);
    int rev = uipc__framer_poll_ready(&c->f, events, w);
    if (rev == 0 && w && !seen)
        w->nap = true;
    return rev;
}

static int fifo_unlink(const struct uipc__uri *u, bool force)
{
    char c2s[PATH_MAX], s2c[PATH_MAX];
    int r = uipc__rdv_path_pair(u, c2s, s2c);
    if (r < 0)
        return r;
    struct stat st;
    if (lstat(c2s, &st) < 0 && lstat(s2c, &st) < 0)
        return -ENOENT;
    return take_over(c2s, s2c, force);
}

/* probe: a pair X.c2s / X.s2c of FIFOs in the directory is a row, live
 * while the owner's lock on X.s2c is held. */
static int fifo_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                    const struct stat *st)
{
    size_t n = strlen(name);
    char s2c[NAME_MAX + 1];
    struct stat st2;
    if (!S_ISFIFO(st->st_mode) || n <= 4 || strcmp(name + n - 4, UIPC__RDV_C2S) != 0)
        return 0;
    snprintf(s2c, sizeof s2c, "%.*s" UIPC__RDV_S2C, (int)(n - 4), name);
    if (fstatat(dirfd, s2c, &st2, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISFIFO(st2.st_mode))
        return 0;
    int fd = openat(dirfd, s2c, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    int held = fd < 0 ? 0 : uipc__rdv_held(fd, 0);
    if (fd >= 0)
        uipc__close_fd(fd);
    uipc_rdvinfo info;
    if (uipc__probe_fill(&info, "fifo", held > 0 ? UIPC_RDV_LIVE : UIPC_RDV_STALE, st, false,
                         "fifo://%s/%.*s", strcmp(w->dir, "/") ? w->dir : "", (int)(n - 4),
                         name) < 0)
        return 0;
    if (held > 0)
        info.pid = uipc__probe_file_holder(&st2);
    return w->emit(&info, w->arg);
}

static int fifo_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    struct uipc__probe_walk w = {.dir = dir, .emit = emit, .arg = arg};
    return dir ? uipc__probe_dir(&w, fifo_row) : 0;
}

const struct uipc_transport uipc__transport_fifo = {
    .scheme = "fifo",
    .size = sizeof(struct fifo_channel),
    .keys = fifo_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED,
    .open = fifo_open,
    .send = fifo_send,
    .recv = fifo_recv,
    .close = fifo_close,
    .unlink = fifo_unlink,
    .probe = fifo_probe,
    .pollfd = fifo_pollfd,
    .poll_ready = fifo_poll_ready,
};
