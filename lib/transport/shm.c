/* SPDX-License-Identifier: MIT */
/*
 * shm: — two lock-free rings in POSIX shared memory (lib/ring.c, its endpoint
 * and the channel operations shared with mmap: in lib/ring_ep.c).
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
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"
#include "ring_ep.h"

#define SHM_NAME_MAX 200

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
    snprintf(c->path, sizeof c->path, "/dev/shm/%s", name); /* the owner removes it */
    ch->max_msg = c->ep.max_msg;
    return 0;
}

static int shm_pair(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *u)
{
    struct uipc__ring_channel *ca = (struct uipc__ring_channel *)a;
    struct uipc__ring_channel *cb = (struct uipc__ring_channel *)b;
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

static int shm_unlink(const struct uipc__uri *u, bool force)
{
    const char *name;
    int r = shm_name(u, &name);
    if (r < 0)
        return r;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    r = uipc__ring_unlink_at(dirfd, name, false, force);
    uipc__close_fd(dirfd);
    return r;
}

/* Rings and regions in /dev/shm (a path names nothing of shm:'s). */
static int shm_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    return dir ? 0 : uipc__ring_probe_dir("/dev/shm", "shm", "shm://", false, emit, arg);
}

const struct uipc_transport uipc__transport_shm = {
    .scheme = "shm",
    .size = sizeof(struct uipc__ring_channel),
    .keys = uipc__ring_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED,
    .open = shm_open_ch,
    .pair = shm_pair,
    .send = uipc__ring_ch_send,
    .recv = uipc__ring_ch_recv,
    .close = uipc__ring_ch_close,
    .unlink = shm_unlink,
    .probe = shm_probe,
    .pollfd = uipc__ring_ch_pollfd,
    .send_reserve = uipc__ring_ch_send_reserve,
    .send_commit = uipc__ring_ch_send_commit,
    .recv_peek = uipc__ring_ch_recv_peek,
    .recv_release = uipc__ring_ch_recv_release,
};
