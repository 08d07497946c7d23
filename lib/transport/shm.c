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
 *
 * With UIPC_PUB / UIPC_SUB the same name holds a broadcast ring instead
 * (lib/bcast.c, lib/bcast_ep.c, docs/pubsub.md): one publisher, up to
 * ?subs= subscribers (default 64) reading every message in place,
 * ?overflow=drop|block.  The two kinds refuse each other's names
 * (-EPROTOTYPE) and the publish/subscribe keys are -EINVAL on a channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcast.h"
#include "internal.h"
#include "rendezvous.h"
#include "ring_ep.h"

#define SHM_NAME_MAX 200

/* A two-party channel (rc, the ring_ep.c channel: first, so that its
 * operations take our channel as theirs) or a publisher or subscriber. */
struct shm_channel {
    struct uipc__ring_channel rc;
    struct uipc__bcast_ep bc; /* base.pubsub_role != 0 */
    char name[SHM_NAME_MAX + 1];
};

/* The keys of both kinds; a two-party channel refuses the pub/sub ones. */
static const char *const shm_keys[] = {"size", "maxmsg", "spin", "mode", "overflow", "subs", NULL};

static bool pubsub_key_given(const struct uipc__uri *u)
{
    int err;
    return uipc__uri_get(u, "overflow", &err) || uipc__uri_get(u, "subs", &err);
}

static struct uipc__bcast_ep *bc_of(const struct uipc_channel *ch)
{
    return &((struct shm_channel *)(uintptr_t)ch)->bc;
}

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
    struct uipc__ring_channel *c = (struct uipc__ring_channel *)ch;
    struct uipc__ring_params p;
    const char *name;
    uipc__bcast_ep_init(bc_of(ch));
    int r = shm_name(u, &name);
    if (r == 0 && !ch->pubsub_role && pubsub_key_given(u))
        r = -EINVAL;
    if (r == 0 && !ch->pubsub_role)
        r = uipc__ring_params(u, &p);
    if (r < 0)
        return r;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    if (ch->pubsub_role) {
        r = uipc__bcast_open_at(bc_of(ch), dirfd, name, u, flags);
    } else {
        r = uipc__ring_open_at(&c->ep, dirfd, name, &p, flags, false);
        /* A broadcast ring under that name: a channel of another kind. */
        if (r == -EBADMSG && uipc__bcast_is_bcast(dirfd, name))
            r = -EPROTOTYPE;
    }
    uipc__close_fd(dirfd);
    if (r < 0)
        return r;
    snprintf(c->path, sizeof c->path, "/dev/shm/%s", name); /* the owner removes it */
    strcpy(((struct shm_channel *)ch)->name, name);
    ch->max_msg = !ch->pubsub_role       ? c->ep.max_msg
                  : bc_of(ch)->publisher ? bc_of(ch)->pub.max_msg
                                         : bc_of(ch)->sub.max_msg;
    return 0;
}

static int shm_pair(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *u)
{
    struct uipc__ring_channel *ca = (struct uipc__ring_channel *)a;
    struct uipc__ring_channel *cb = (struct uipc__ring_channel *)b;
    struct uipc__ring_params p;
    int err;
    if (u->has_authority || u->path[0] || uipc__uri_get(u, "mode", &err) || pubsub_key_given(u))
        return -EINVAL; /* nothing to name or protect: the memfd is private */
    int r = uipc__ring_params(u, &p);
    if (r == 0)
        r = uipc__ring_pair(&ca->ep, &cb->ep, &p);
    if (r < 0)
        return r;
    a->max_msg = b->max_msg = ca->ep.max_msg;
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
    r = uipc__bcast_is_bcast(dirfd, name) ? uipc__bcast_unlink_at(dirfd, name)
                                           : uipc__ring_unlink_at(dirfd, name, false);
    uipc__close_fd(dirfd);
    return r;
}

/* ---- dispatch: a two-party channel (ring_ep.c) or publish/subscribe ---- */

static ssize_t shm_send(struct uipc_channel *ch, const void *msg, size_t len,
                        const uipc_msginfo *info, struct uipc__deadline *dl)
{
    if (ch->pubsub_role)
        return uipc__bcast_send(bc_of(ch), msg, len, dl);
    return uipc__ring_ch_send(ch, msg, len, info, dl);
}

static ssize_t shm_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                        struct uipc__deadline *dl)
{
    if (ch->pubsub_role)
        return uipc__bcast_recv(bc_of(ch), buf, cap, dl);
    return uipc__ring_ch_recv(ch, buf, cap, info, dl);
}

static int shm_close(struct uipc_channel *ch, bool remove)
{
    if (!ch->pubsub_role)
        return uipc__ring_ch_close(ch, remove);
    struct uipc__bcast_ep *bc = bc_of(ch);
    if (remove && bc->publisher) {
        /* Our file only, while our lock still keeps a successor out. */
        struct uipc__rdv_id id = {bc->dev, bc->ino};
        uipc__rdv_remove(AT_FDCWD, ((struct uipc__ring_channel *)ch)->path, &id);
    }
    uipc__bcast_ep_close(bc);
    return 0;
}

static int shm_pollfd(const struct uipc_channel *ch)
{
    if (ch->pubsub_role)
        return uipc__bcast_pollfd(bc_of(ch));
    return uipc__ring_ch_pollfd(ch);
}

static int shm_send_reserve(struct uipc_channel *ch, void **buf, size_t len,
                            struct uipc__deadline *dl)
{
    if (ch->pubsub_role)
        return uipc__bcast_send_reserve(bc_of(ch), buf, len, dl);
    return uipc__ring_ch_send_reserve(ch, buf, len, dl);
}

static int shm_send_commit(struct uipc_channel *ch, size_t len)
{
    if (ch->pubsub_role)
        return uipc__bcast_send_commit(bc_of(ch), len);
    return uipc__ring_ch_send_commit(ch, len);
}

static ssize_t shm_recv_peek(struct uipc_channel *ch, const void **buf, struct uipc__deadline *dl)
{
    if (ch->pubsub_role)
        return uipc__bcast_recv_peek(bc_of(ch), buf, dl);
    return uipc__ring_ch_recv_peek(ch, buf, dl);
}

static int shm_recv_release(struct uipc_channel *ch)
{
    if (ch->pubsub_role)
        return uipc__bcast_recv_release(bc_of(ch));
    return uipc__ring_ch_recv_release(ch);
}

const struct uipc_transport uipc__transport_shm = {
    .scheme = "shm",
    .size = sizeof(struct shm_channel),
    .keys = shm_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED | UIPC__CAP_PUBSUB,
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
