/* SPDX-License-Identifier: MIT */
/*
 * unix: — UNIX domain sockets: "unix:///path" (a socket file) or
 * "unix:@name" (abstract namespace).
 *
 * ?type=stream (default) frames messages over a byte stream, up to ?maxmsg=
 * (default 16 MiB); ?type=seqpacket lets the kernel keep the boundaries,
 * up to ?maxmsg= (default 64 KiB, at most 4 MiB): each socket's send buffer
 * is raised to hold one such record, and a maxmsg beyond what the kernel
 * grants (net.core.wmem_max) is -EMSGSIZE at open.  Two parties, or N with uipc_listen.  The owner creates the
 * socket file with ?mode= (default 0600) and removes it at close; a stale
 * file nobody has bound is taken over.  ?allow_uid=N (repeatable) admits only
 * peers of those uids, checked with SO_PEERCRED; uipc_peer_cred reports the
 * peer's kernel-verified credentials.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "sock.h"

static const char *const unix_keys[] = {"type",     "maxmsg", "mode", "allow_uid",
                                         "overflow", "size",   "subs", NULL};

static int unix_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct uipc__sockspec s;
    int r = uipc__sock_parse_unix(u, &s);
    if (r < 0)
        return r;
    if (flags & (UIPC_PUB | UIPC_SUB))
        return uipc__sockps_open(ch, &s, u, flags);
    return uipc__sockps_keys_given(u) ? -EINVAL : uipc__sock_open(ch, &s, flags);
}

static int unix_listen(struct uipc_listener *l, const struct uipc__uri *u, int flags)
{
    struct uipc__sockspec s;
    int r = uipc__sock_parse_unix(u, &s);
    if (r == 0 && uipc__sockps_keys_given(u))
        r = -EINVAL;
    return r < 0 ? r : uipc__sock_listen(l, &s, flags);
}

static int unix_unlink(const struct uipc__uri *u, bool force)
{
    struct uipc__sockspec s;
    int r = uipc__sock_parse_unix(u, &s);
    return r < 0 ? r : uipc__sock_unlink(&s, force);
}

/*
 * probe: every socket file in the directory is a row (a socket file
 * carries no mark saying who made it: the caller names the directory),
 * live while a socket is bound to it.  Abstract names vanish with their
 * socket and leave nothing stale: they are not listed.
 */
static int unix_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                    const struct stat *st)
{
    (void)dirfd;
    uipc_rdvinfo info;
    if (!S_ISSOCK(st->st_mode) ||
        uipc__probe_fill(&info, "unix", UIPC_RDV_STALE, st, false, "unix://%s/%s",
                         strcmp(w->dir, "/") ? w->dir : "", name) < 0)
        return 0;
    const char *path = info.uri + strlen("unix://");
    if (uipc__rdv_sock_bound(path) != 0) { /* bound, or cannot tell: not stale */
        info.state = UIPC_RDV_LIVE;
        info.pid = uipc__probe_sock_holder(path, NULL);
    }
    return w->emit(&info, w->arg);
}

static int unix_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    struct uipc__probe_walk w = {.dir = dir, .emit = emit, .arg = arg};
    return dir ? uipc__probe_dir(&w, unix_row) : 0;
}

static int unix_pair(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *u)
{
    struct uipc__sock_channel *ca = (struct uipc__sock_channel *)a;
    struct uipc__sock_channel *cb = (struct uipc__sock_channel *)b;
    struct uipc__sockspec s;
    int sv[2];
    /* "unix:" with only query keys: parse them against a placeholder name. */
    if (u->has_authority || u->path[0])
        return -EINVAL;
    struct uipc__uri named = *u;
    named.path = "@pair";
    int r = uipc__sock_parse_unix(&named, &s);
    if (r < 0)
        return r;
    if (s.nallow || uipc__uri_get(u, "mode", &r) || uipc__sockps_keys_given(u))
        return -EINVAL; /* nothing to protect: the pair is private */
    if (socketpair(AF_UNIX, s.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return -errno;
    if ((r = uipc__sock_seq_room(&s, sv[0])) < 0 || (r = uipc__sock_seq_room(&s, sv[1])) < 0) {
        uipc__close_fd(sv[0]);
        uipc__close_fd(sv[1]);
        return r;
    }
    memset(&s.addr, 0, sizeof s.addr);
    ca->spec = cb->spec = s;
    ca->listen_fd = cb->listen_fd = -1;
    uipc__framer_init(&ca->f, sv[0], sv[0], true);
    uipc__framer_init(&cb->f, sv[1], sv[1], true);
    a->max_msg = b->max_msg = ca->f.max_msg = cb->f.max_msg = s.max_msg;
    return 0;
}

const struct uipc_transport uipc__transport_unix = {
    .scheme = "unix",
    .size = sizeof(struct uipc__sock_channel),
    .listener_size = sizeof(struct uipc__sock_listener),
    .keys = unix_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_CRED | UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED |
            UIPC__CAP_PUBSUB,
    .open = unix_open,
    .pair = unix_pair,
    .send = uipc__sock_send,
    .recv = uipc__sock_recv,
    .close = uipc__sock_close,
    .unlink = unix_unlink,
    .probe = unix_probe,
    .pollfd = uipc__sock_pollfd,
    .peer_cred = uipc__sock_peer_cred,
    .listen = unix_listen,
    .accept = uipc__sock_accept,
    .listener_close = uipc__sock_listener_close,
    .listener_pollfd = uipc__sock_listener_pollfd,
    .poll_ready = uipc__sock_poll_ready,
};
