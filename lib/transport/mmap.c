/* SPDX-License-Identifier: MIT */
/*
 * mmap: — the rings of shm: in a regular file, so messages outlive the
 * processes (the ring is lib/ring.c and lib/ring_ep.c, written once for both).
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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "ring_ep.h"

/* The URI's path as an open directory and the file's name in it. */
static int mmap_path(const struct uipc__uri *u, int *dirfd, char *name, size_t cap)
{
    if ((u->has_authority && u->authority[0]) || !u->path[0])
        return -EINVAL;
    return uipc__rdv_dir_open(u->path, dirfd, name, cap);
}

static int mmap_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct uipc__ring_channel *c = (struct uipc__ring_channel *)ch;
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

static int mmap_unlink(const struct uipc__uri *u, bool force)
{
    char name[NAME_MAX + 1];
    int dirfd;
    int r = mmap_path(u, &dirfd, name, sizeof name);
    if (r < 0)
        return r;
    r = uipc__ring_unlink_at(dirfd, name, true, force);
    uipc__close_fd(dirfd);
    return r;
}

/* Ring files in a directory the caller names (mmap: has no namespace). */
static int mmap_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    char prefix[PATH_MAX + 16];
    if (!dir)
        return 0;
    if (snprintf(prefix, sizeof prefix, "mmap://%s/", strcmp(dir, "/") ? dir : "") >=
        (int)sizeof prefix)
        return -ENAMETOOLONG;
    return uipc__ring_probe_dir(dir, "mmap", prefix, true, emit, arg);
}

const struct uipc_transport uipc__transport_mmap = {
    .scheme = "mmap",
    .size = sizeof(struct uipc__ring_channel),
    .keys = uipc__ring_keys,
    /* No SEND_EPIPE: the file keeps what is sent for the next reader. */
    .caps = UIPC__CAP_RELIABLE | UIPC__CAP_BOUNDED | UIPC__CAP_PEER_EOF | UIPC__CAP_POLL_EOF |
            UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED | UIPC__CAP_PERSISTENT,
    .open = mmap_open,
    .send = uipc__ring_ch_send,
    .recv = uipc__ring_ch_recv,
    .close = uipc__ring_ch_close,
    .unlink = mmap_unlink,
    .probe = mmap_probe,
    .pollfd = uipc__ring_ch_pollfd,
    .send_reserve = uipc__ring_ch_send_reserve,
    .send_commit = uipc__ring_ch_send_commit,
    .recv_peek = uipc__ring_ch_recv_peek,
    .recv_release = uipc__ring_ch_recv_release,
    .poll_ready = uipc__ring_ch_poll_ready,
    .poll_spin_ns = uipc__ring_ch_poll_spin_ns,
};
