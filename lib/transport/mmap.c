/* SPDX-License-Identifier: MIT */
/*
 * mmap: — the rings of shm: in a regular file, so messages outlive the
 * processes (the ring is lib/ring.c, written once for both).
 *
 * "mmap:///var/tmp/q.ring?size=1M&maxmsg=512K&spin=50&mode=0600": two
 * parties, the same keys and limits as shm:.  UIPC_CREATE takes side 0: it
 * creates the file (published fully formatted with O_TMPFILE + linkat, so
 * a symbolic link planted at the path is never followed and nobody sees a
 * half-made ring) or, when it exists, reopens it with its messages
 * (-EEXIST with UIPC_EXCL, -EADDRINUSE while a live process holds side 0).
 * Without UIPC_CREATE the caller takes side 1 (-ENOENT if there is no
 * file, -EBUSY while side 1 is held).  Either side may be closed and
 * reopened any number of times: a receiver continues after the last
 * message it released, a sender after the last one it committed, and a
 * sender killed in the middle of a message never exposes any of it.
 *
 * A send never fails because the receiver is away (the file keeps the
 * message for the next one): on a full ring it waits for room within its
 * timeout.  A peer that had already left when a side opened has simply not
 * come yet: receiving waits for the next one.  A peer that leaves during
 * the session (closes or dies) ends it for the receiver: -EPIPE once what
 * it sent is drained; a sender that opens the file again revives it.
 *
 * Persistent by nature: close never removes the file; uipc_unlink does
 * (-EADDRINUSE while either side is open).  The file survives the death of
 * the processes, not a crash of the machine: nothing is msync'ed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "ring.h"

struct mmap_channel {
    struct uipc_channel base;
    struct uipc__ring_ep ep;
};

/* The URI's path as an open directory and the file's name in it. */
static int mmap_path(const struct uipc__uri *u, int *dirfd, char *name, size_t cap)
{
    if ((u->has_authority && u->authority[0]) || !u->path[0])
        return -EINVAL;
    return uipc__rdv_dir_open(u->path, dirfd, name, cap);
}

static int mmap_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct mmap_channel *c = (struct mmap_channel *)ch;
    struct uipc__ring_params p;
    char name[NAME_MAX + 1];
    int dirfd;
    int r = uipc__ring_params(u, &p);
    if (r == 0)
        r = mmap_path(u, &dirfd, name, sizeof name);
    if (r < 0)
        return r;
    r = uipc__ring_open_at(&c->ep, dirfd, name, &p, flags, true);
    uipc__close_fd(dirfd);
    if (r < 0)
        return r;
    ch->max_msg = c->ep.max_msg;
    return 0;
}

static ssize_t mmap_send(struct uipc_channel *ch, const void *msg, size_t len,
                         const uipc_msginfo *info, struct uipc__deadline *dl)
{
    (void)info; /* no attributes: the core refused any */
    return uipc__ring_send(&((struct mmap_channel *)ch)->ep, msg, len, dl);
}

static ssize_t mmap_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                         struct uipc__deadline *dl)
{
    (void)info;
    return uipc__ring_recv(&((struct mmap_channel *)ch)->ep, buf, cap, dl);
}

static int mmap_close(struct uipc_channel *ch, bool remove)
{
    (void)remove; /* persistent: the file stays */
    uipc__ring_ep_close(&((struct mmap_channel *)ch)->ep); /* the file stays */
    return 0;
}

static int mmap_unlink(const struct uipc__uri *u)
{
    char name[NAME_MAX + 1];
    int dirfd;
    int r = mmap_path(u, &dirfd, name, sizeof name);
    if (r < 0)
        return r;
    r = uipc__ring_unlink_at(dirfd, name, true);
    uipc__close_fd(dirfd);
    return r;
}

static int mmap_pollfd(const struct uipc_channel *ch)
{
    /* Created on first use; the descriptor then stays for the channel's life. */
    return uipc__ring_pollfd(&((struct mmap_channel *)(uintptr_t)ch)->ep);
}

static int mmap_send_reserve(struct uipc_channel *ch, void **buf, size_t len,
                             struct uipc__deadline *dl)
{
    return uipc__ring_send_reserve(&((struct mmap_channel *)ch)->ep, buf, len, dl);
}

static int mmap_send_commit(struct uipc_channel *ch, size_t len)
{
    return uipc__ring_send_commit(&((struct mmap_channel *)ch)->ep, len);
}

static ssize_t mmap_recv_peek(struct uipc_channel *ch, const void **buf,
                              struct uipc__deadline *dl)
{
    return uipc__ring_recv_peek(&((struct mmap_channel *)ch)->ep, buf, dl);
}

static int mmap_recv_release(struct uipc_channel *ch)
{
    return uipc__ring_recv_release(&((struct mmap_channel *)ch)->ep);
}

const struct uipc_transport uipc__transport_mmap = {
    .scheme = "mmap",
    .size = sizeof(struct mmap_channel),
    .keys = uipc__ring_keys,
    .open = mmap_open,
    .send = mmap_send,
    .recv = mmap_recv,
    .close = mmap_close,
    .unlink = mmap_unlink,
    .pollfd = mmap_pollfd,
    .send_reserve = mmap_send_reserve,
    .send_commit = mmap_send_commit,
    .recv_peek = mmap_recv_peek,
    .recv_release = mmap_recv_release,
};
