/* SPDX-License-Identifier: MIT */
/*
 * fifo: — named pipes, one per direction: "fifo:///tmp/job" makes
 * /tmp/job.c2s (client to owner) and /tmp/job.s2c (owner to client).
 *
 * Stream transport with libuipc framing, messages up to ?maxmsg= (default
 * 16 MiB), exactly two parties.  The owner (UIPC_CREATE) creates both FIFOs
 * with ?mode= (default 0600) and removes them at close.
 *
 * Opening never blocks, and liveness is carried by flock(2) on the FIFO
 * inodes rather than by who has which end open:
 *  - The owner opens .c2s for reading and holds LOCK_EX on it: a live owner.
 *    It also keeps a writer of its own on .c2s until its peer has arrived,
 *    so that reading before then waits instead of seeing end of stream.
 *    It opens .s2c read-write, so it can send before the peer arrives (the
 *    pipe buffers it) and so the peer reads end of stream only once the
 *    owner is gone.
 *  - The peer opens .c2s for writing (ENXIO: no live owner, -ENOENT), then
 *    .s2c for reading, and takes LOCK_EX on .s2c; if another peer holds it
 *    the open is -EBUSY.
 *  - The owner learns that its peer has arrived when .s2c is locked (or a
 *    message from it arrived); only then does it drop its own writer, so
 *    end of stream on .c2s means the peer closed or died.
 *  - Each side keeps a reader of the FIFO it writes (the owner's .s2c is
 *    read-write): the framer's guard, so that a write never raises SIGPIPE.
 *    A peer's death therefore shows on the FIFO each side reads, and a send
 *    reports it as -EPIPE (framing.h).
 * A stale pair (no lock on .c2s) is taken over by UIPC_CREATE; a live one is
 * -EADDRINUSE.  Symbolic links are never followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framing.h"
#include "internal.h"

struct fifo_channel {
    struct uipc_channel base;
    struct uipc__framer f;
    int hold_fd;          /* owner: its own writer on .c2s until the peer arrives */
    bool peer_seen;       /* owner: the peer has locked .s2c */
    char c2s[PATH_MAX];
    char s2c[PATH_MAX];
};

static const char *const fifo_keys[] = {"maxmsg", "mode", NULL};

static int fifo_paths(const struct uipc__uri *u, char *c2s, char *s2c)
{
    const char *p = u->path;
    if ((u->has_authority && u->authority[0]) || p[0] != '/' || p[strlen(p) - 1] == '/')
        return -EINVAL;
    if (snprintf(c2s, PATH_MAX, "%s.c2s", p) >= PATH_MAX ||
        snprintf(s2c, PATH_MAX, "%s.s2c", p) >= PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

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

/* 1 if another open file holds a lock on fd's inode, 0 if not. */
static int locked_elsewhere(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        return 0;
    }
    return errno == EWOULDBLOCK ? 1 : -errno;
}

/* Removes a stale pair: 0 done or nothing there, -EADDRINUSE if its owner lives. */
static int take_over(const char *c2s, const char *s2c)
{
    int fd = open_fifo(c2s, O_RDONLY);
    if (fd == -ENOENT)
        goto unlink_s2c;
    if (fd < 0)
        return fd;
    int live = locked_elsewhere(fd);
    uipc__close_fd(fd);
    if (live)
        return live < 0 ? live : -EADDRINUSE;
    if (unlink(c2s) < 0 && errno != ENOENT)
        return -errno;
unlink_s2c:;
    struct stat st;
    if (lstat(s2c, &st) == 0 && !S_ISFIFO(st.st_mode))
        return -EEXIST;
    if (unlink(s2c) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int make_fifo(const char *path, mode_t mode)
{
    if (mkfifo(path, mode) < 0)
        return -errno;
    if (chmod(path, mode) < 0) { /* mkfifo applied the umask */
        int r = -errno;
        unlink(path);
        return r;
    }
    return 0;
}

static int fifo_create(struct fifo_channel *c, mode_t mode, int flags)
{
    int r = make_fifo(c->c2s, mode);
    if (r == -EEXIST && !(flags & UIPC_EXCL)) {
        r = take_over(c->c2s, c->s2c);
        if (r == 0)
            r = make_fifo(c->c2s, mode);
    }
    if (r < 0)
        return r;
    r = make_fifo(c->s2c, mode);
    if (r < 0)
        goto fail_c2s;
    int rfd = open_fifo(c->c2s, O_RDONLY);
    if (rfd < 0) {
        r = rfd;
        goto fail_s2c;
    }
    if (flock(rfd, LOCK_EX | LOCK_NB) < 0) { /* someone raced us to the new name */
        r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
        uipc__close_fd(rfd);
        goto fail_s2c;
    }
    c->hold_fd = open_fifo(c->c2s, O_WRONLY);
    int wfd = open_fifo(c->s2c, O_RDWR);
    if (c->hold_fd < 0 || wfd < 0) {
        r = c->hold_fd < 0 ? c->hold_fd : wfd;
        uipc__close_fd(c->hold_fd);
        uipc__close_fd(wfd);
        uipc__close_fd(rfd);
        goto fail_s2c;
    }
    uipc__framer_init(&c->f, rfd, wfd, false);
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
    unlink(c->s2c);
fail_c2s:
    unlink(c->c2s);
    return r;
}

/*
 * The peer's lock on .s2c.  The owner probes that lock for an instant while
 * it waits for its peer (owner_sees_peer), so a failure is retried briefly
 * before it is taken to mean that another peer holds the channel.
 */
static int lock_peer_end(int fd)
{
    for (int attempt = 0;; attempt++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK || attempt == 4)
            return -1;
        uipc__nap_ns(2000000);
    }
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
    if (lock_peer_end(rfd) < 0) {
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
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
    int r = fifo_paths(u, c->c2s, c->s2c);
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
    if (!c->peer_seen && (arrived || locked_elsewhere(c->f.wfd) == 1)) {
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

static int fifo_close(struct uipc_channel *ch)
{
    struct fifo_channel *c = (struct fifo_channel *)ch;
    uipc__close_fd(c->hold_fd);
    uipc__framer_release(&c->f);
    if (ch->owner && ch->opener == getpid()) {
        unlink(c->c2s);
        unlink(c->s2c);
    }
    return 0;
}

static int fifo_pollfd(const struct uipc_channel *ch)
{
    return uipc__framer_pollfd(&((struct fifo_channel *)ch)->f);
}

static int fifo_unlink(const struct uipc__uri *u)
{
    char c2s[PATH_MAX], s2c[PATH_MAX];
    int r = fifo_paths(u, c2s, s2c);
    if (r < 0)
        return r;
    struct stat st;
    if (lstat(c2s, &st) < 0 && lstat(s2c, &st) < 0)
        return -ENOENT;
    return take_over(c2s, s2c);
}

const struct uipc_transport uipc__transport_fifo = {
    .scheme = "fifo",
    .size = sizeof(struct fifo_channel),
    .keys = fifo_keys,
    .open = fifo_open,
    .send = fifo_send,
    .recv = fifo_recv,
    .close = fifo_close,
    .unlink = fifo_unlink,
    .pollfd = fifo_pollfd,
};
