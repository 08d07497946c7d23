/* SPDX-License-Identifier: MIT */
/*
 * shm: — two lock-free rings in POSIX shared memory (the ring is lib/ring.c).
 *
 * "shm://name?size=1M&maxmsg=512K&spin=50&mode=0600": a message transport
 * for exactly two parties.  Messages up to ?maxmsg= (default half of
 * ?size=, the capacity of each direction: 4K..1G, rounded up to a power of
 * two, default 1M).  ?spin= is how long (µs, 0..1000000, default 50) a
 * waiting side spins before it sleeps on a futex; 0 never spins.
 *
 * The owner (UIPC_CREATE) makes the object /dev/shm/<name> — the object
 * shm_open("/<name>") opens on Linux with glibc and musl; libuipc works in
 * that directory itself so that it can publish a fully formatted ring
 * atomically (O_TMPFILE + linkat) with ?mode= exactly (default 0600).  It
 * removes the name at close.  The peer attaches once, without UIPC_CREATE;
 * a third party gets -EBUSY.  A name whose owner died is taken over by the
 * next UIPC_CREATE (a new object replaces it; a live owner is -EADDRINUSE).
 * Names: 1..200 bytes, no '/', no "..", not starting with '.'.
 *
 * uipc_pair("shm:") makes both ends over an anonymous, sealed memfd, for
 * related processes (fork, then each closes the end it does not use).
 * Zero-copy is native: reservations and peeks point into the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "ring.h"

#define SHM_NAME_MAX 200

struct shm_channel {
    struct uipc_channel base;
    struct uipc__ring_ep ep;
    char name[SHM_NAME_MAX + 1]; /* "" for a pair */
};

static int shm_name(const struct uipc__uri *u, const char **name)
{
    const char *n = u->path;
    if (u->has_authority) {
        if (u->path[0])
            return -EINVAL;
        n = u->authority;
    }
    if (!uipc__name_ok(n, SHM_NAME_MAX) || strstr(n, "..") || n[0] == '.')
        return -EINVAL;
    *name = n;
    return 0;
}

static int shm_open_ch(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct shm_channel *c = (struct shm_channel *)ch;
    struct uipc__ring_params p;
    const char *name;
    int r = shm_name(u, &name);
    if (r == 0)
        r = uipc__ring_params(u, &p);
    if (r < 0)
        return r;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    r = uipc__ring_open_at(&c->ep, dirfd, name, &p, flags, false);
    uipc__close_fd(dirfd);
    if (r < 0)
        return r;
    strcpy(c->name, name);
    ch->max_msg = c->ep.max_msg;
    return 0;
}

static int shm_pair(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *u)
{
    struct shm_channel *ca = (struct shm_channel *)a, *cb = (struct shm_channel *)b;
    struct uipc__ring_params p;
    int err;
    if (u->has_authority || u->path[0] || uipc__uri_get(u, "mode", &err))
        return -EINVAL; /* nothing to name or protect: the memfd is private */
    int r = uipc__ring_params(u, &p);
    if (r == 0)
        r = uipc__ring_pair(&ca->ep, &cb->ep, &p);
    if (r < 0)
        return r;
    a->max_msg = b->max_msg = ca->ep.max_msg;
    return 0;
}

static ssize_t shm_send(struct uipc_channel *ch, const void *msg, size_t len,
                        const uipc_msginfo *info, struct uipc__deadline *dl)
{
    (void)info; /* no attributes: the core refused any */
    return uipc__ring_send(&((struct shm_channel *)ch)->ep, msg, len, dl);
}

static ssize_t shm_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                        struct uipc__deadline *dl)
{
    (void)info;
    return uipc__ring_recv(&((struct shm_channel *)ch)->ep, buf, cap, dl);
}

/* Removes the name only while it still is our object (checked by inode,
 * while our lock still keeps anyone else from taking the name over). */
static void shm_remove_name(struct shm_channel *c)
{
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return;
    struct uipc__rdv_id id = {c->ep.dev, c->ep.ino};
    uipc__rdv_remove(dirfd, c->name, &id);
    uipc__close_fd(dirfd);
}

static int shm_close(struct uipc_channel *ch, bool remove)
{
    struct shm_channel *c = (struct shm_channel *)ch;
    if (remove && c->name[0])
        shm_remove_name(c);
    uipc__ring_ep_close(&c->ep);
    return 0;
}

static int shm_unlink(const struct uipc__uri *u)
{
    const char *name;
    int r = shm_name(u, &name);
    if (r < 0)
        return r;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    r = uipc__ring_unlink_at(dirfd, name, false);
    uipc__close_fd(dirfd);
    return r;
}

static int shm_pollfd(const struct uipc_channel *ch)
{
    /* Created on first use; the descriptor then stays for the channel's life. */
    return uipc__ring_pollfd(&((struct shm_channel *)(uintptr_t)ch)->ep);
}

static int shm_send_reserve(struct uipc_channel *ch, void **buf, size_t len,
                            struct uipc__deadline *dl)
{
    return uipc__ring_send_reserve(&((struct shm_channel *)ch)->ep, buf, len, dl);
}

static int shm_send_commit(struct uipc_channel *ch, size_t len)
{
    return uipc__ring_send_commit(&((struct shm_channel *)ch)->ep, len);
}

static ssize_t shm_recv_peek(struct uipc_channel *ch, const void **buf, struct uipc__deadline *dl)
{
    return uipc__ring_recv_peek(&((struct shm_channel *)ch)->ep, buf, dl);
}

static int shm_recv_release(struct uipc_channel *ch)
{
    return uipc__ring_recv_release(&((struct shm_channel *)ch)->ep);
}

const struct uipc_transport uipc__transport_shm = {
    .scheme = "shm",
    .size = sizeof(struct shm_channel),
    .keys = uipc__ring_keys,
    .open = shm_open_ch,
    .pair = shm_pair,
    .send = shm_send,
    .recv = shm_recv,
    .close = shm_close,
    .unlink = shm_unlink,
    .pollfd = shm_pollfd,
    .send_reserve = shm_send_reserve,
    .send_commit = shm_send_commit,
    .recv_peek = shm_recv_peek,
    .recv_release = shm_recv_release,
};
