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
 * uipc_listen("shm://name?mode=&allow_uid=") is a service of many clients,
 * each with rings of its own (the listener block below explains how); a
 * client's uipc_open finds the service's socket at /dev/shm/name.
 * ?allow_uid= belongs to listeners (-EINVAL on a two-party UIPC_CREATE).
 *
 * uipc_pair("shm:") makes both ends over an anonymous, sealed memfd, for
 * related processes (fork, then each closes the end it does not use).
 * Zero-copy is native: reservations and peeks point into the ring.
 *
 * With UIPC_PUB / UIPC_SUB the name holds a broadcast ring instead
 * (lib/bcast.c, lib/bcast_ep.c, docs/pubsub.md): one publisher, up to
 * ?subs= subscribers (default 64) reading every message in place,
 * ?overflow=drop|block.  The kinds refuse each other's names (-EPROTOTYPE)
 * and the publish/subscribe keys are -EINVAL on a channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bcast.h"
#include "internal.h"
#include "rendezvous.h"
#include "ring_ep.h"
#include "sock.h"

#define SHM_NAME_MAX 200
#define SHM_DIR "/dev/shm" /* where uipc__rdv_shm_dir looks: the service socket's path */

static const char *const shm_keys[] = {"size", "maxmsg",   "spin", "mode",
                                       "allow_uid", "overflow", "subs", NULL};

/* A two-party channel or a service's client (rc, ring_ep.c's channel:
 * first, so that its operations take ours), or a publisher or subscriber
 * (base.pubsub_role; docs/pubsub.md). */
struct shm_channel {
    struct uipc__ring_channel rc;
    struct uipc__bcast_ep bc;
};

static bool pubsub_key_given(const struct uipc__uri *u)
{
    int err;
    return uipc__uri_get(u, "overflow", &err) || uipc__uri_get(u, "subs", &err);
}

static struct uipc__bcast_ep *bc_of(struct uipc_channel *ch)
{
    return &((struct shm_channel *)ch)->bc;
}

/* UIPC_PUB / UIPC_SUB: the broadcast ring named name (bcast_ep.c). */
static int shm_open_pubsub(struct uipc_channel *ch, const struct uipc__uri *u, const char *name,
                           int flags)
{
    struct uipc__ring_channel *c = (struct uipc__ring_channel *)ch;
    int err;
    if (uipc__uri_get(u, "allow_uid", &err))
        return -EINVAL; /* ?mode= protects a broadcast ring */
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    struct stat st;
    int r = 0;
    if (!(flags & UIPC_CREATE) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISSOCK(st.st_mode))
        r = -EPROTOTYPE; /* a service's socket: a channel of another kind */
    if (r == 0)
        r = uipc__bcast_open_at(bc_of(ch), dirfd, name, u, flags);
    uipc__close_fd(dirfd);
    if (r < 0)
        return r;
    snprintf(c->path, sizeof c->path, "/dev/shm/%s", name); /* the publisher removes it */
    ch->max_msg = bc_of(ch)->publisher ? bc_of(ch)->pub.max_msg : bc_of(ch)->sub.max_msg;
    return 0;
}

static int shm_client(struct uipc__ring_channel *c, const char *name,
                      const struct uipc__ring_params *p);
struct uipc__sockspec;
static int service_addr(const char *name, struct uipc__sockspec *s);

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
    if (r == 0 && ch->pubsub_role)
        return shm_open_pubsub(ch, u, name, flags);
    if (r == 0 && pubsub_key_given(u))
        r = -EINVAL; /* publish/subscribe keys on a channel */
    if (r == 0)
        r = uipc__ring_params(u, &p);
    if (r < 0)
        return r;
    int err;
    if ((flags & UIPC_CREATE) && uipc__uri_get(u, "allow_uid", &err))
        return -EINVAL; /* a two-party ring has no one to refuse: ?mode= protects it */
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    struct stat st;
    if (!(flags & UIPC_CREATE) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISSOCK(st.st_mode)) {
        uipc__close_fd(dirfd);
        return shm_client(c, name, &p); /* a service: uipc_listen made it */
    }
    r = uipc__ring_open_at(&c->ep, dirfd, name, &p, flags, false);
    /* A broadcast ring under that name: a channel of another kind. */
    if (r == -EBADMSG && uipc__bcast_is_bcast(dirfd, name))
        r = -EPROTOTYPE;
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

static int shm_unlink(const struct uipc__uri *u, bool force)
{
    const char *name;
    int r = shm_name(u, &name);
    if (r < 0)
        return r;
    int dirfd = uipc__rdv_shm_dir();
    if (dirfd < 0)
        return dirfd;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode)) {
        struct uipc__sockspec spec; /* a service's socket: stale when nobody listens */
        uipc__close_fd(dirfd);
        r = service_addr(name, &spec);
        return r < 0 ? r : uipc__sock_unlink(&spec, force);
    }
    r = uipc__bcast_is_bcast(dirfd, name) ? uipc__bcast_unlink_at(dirfd, name, force)
                                           : uipc__ring_unlink_at(dirfd, name, false, force);
    uipc__close_fd(dirfd);
    return r;
}

/* ------------------------------------------------------------------ */
/* The listener: a service of many clients, each with rings of its own */
/* ------------------------------------------------------------------ */

/*
 * uipc_listen("shm://svc?mode=&allow_uid=") binds a UNIX seqpacket socket
 * at /dev/shm/svc (with the socket machinery of unix:: ?mode= on the file,
 * stale take-over, ?allow_uid= checked with SO_PEERCRED at accept).  A
 * client's uipc_open("shm://svc", 0) sees a socket there: it formats a
 * sealed memfd with two rings (?size=, ?maxmsg= of its own), takes side 1,
 * connects, and passes the memfd in one handshake message (SCM_RIGHTS).
 * uipc_accept receives it, checks the seals and the layout (the file is
 * the client's, so untrusted), takes side 0, and the connection stays as
 * the pair's doorbell and liveness link.  Nothing of a client is ever
 * named: a client killed at any point leaves nothing in /dev/shm, and a
 * dead server's socket file is stale at once (the next uipc_listen takes
 * it over).  uipc_peer_cred reports the other side's SO_PEERCRED.
 */
#define SHM_HELLO_MAGIC 0x4c504955u /* "UIPL" */
#define SHM_HELLO_VERSION 1u
/* How long uipc_accept waits for a connected client's handshake, whatever
 * its own timeout: a client sends it right after connecting, so only one
 * stopped in between makes the server wait this long. */
#define SHM_HANDSHAKE_MS 100

struct shm_hello {
    uint32_t magic, version;
};

struct shm_listener {
    struct uipc__sock_listener sock; /* first: the socket machinery casts to it */
    struct uipc__ring_params p;      /* the server side's ?spin= */
    struct uipc__ring_hub *hub;      /* uipc_poll's one sleep for the channels (ring_ep.h) */
};

/* /dev/shm/name as a UNIX socket address (-ENAMETOOLONG beyond sun_path). */
static int service_addr(const char *name, struct uipc__sockspec *s)
{
    memset(s, 0, sizeof *s);
    struct sockaddr_un *un = &s->addr.u.un;
    un->sun_family = AF_UNIX;
    int n = snprintf(un->sun_path, sizeof un->sun_path, SHM_DIR "/%s", name);
    if (n < 0 || (size_t)n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    s->addr.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    s->addr.path = true;
    s->type = SOCK_SEQPACKET;
    return 0;
}

static int shm_listen(struct uipc_listener *l, const struct uipc__uri *u, int flags)
{
    struct shm_listener *sl = (struct shm_listener *)l;
    struct uipc__sockspec s;
    const char *name;
    int r = shm_name(u, &name);
    if (r == 0)
        r = uipc__ring_params(u, &sl->p);
    if (r == 0)
        r = service_addr(name, &s);
    if (r == 0)
        r = uipc__sock_parse_allow(u, &s);
    if (r < 0)
        return r;
    s.mode = sl->p.mode;
    if (!(sl->hub = uipc__ring_hub_new(&r)))
        return r;
    r = uipc__sock_listen(l, &s, flags);
    if (r < 0) {
        uipc__ring_hub_unref(sl->hub);
        sl->hub = NULL;
    }
    return r;
}

/* Receives the handshake on fd: the memfd, or a negative errno. */
static int recv_hello(int fd, const struct uipc__deadline *dl)
{
    struct uipc__deadline hs;
    int64_t left = uipc__deadline_left_ns(dl);
    int hs_ms = SHM_HANDSHAKE_MS;
    if (dl->timeout_ms > 0 && left < (int64_t)SHM_HANDSHAKE_MS * 1000000)
        hs_ms = (int)((left + 999999) / 1000000); /* the caller's, if shorter */
    uipc__deadline_start(&hs, hs_ms);
    for (;;) {
        struct shm_hello h;
        struct iovec v = {&h, sizeof h};
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } cm;
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cm.buf,
                           .msg_controllen = sizeof cm.buf};
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int w = uipc__wait_fd(fd, POLLIN, &hs);
            if (w < 0)
                return w;
            continue;
        }
        int mfd = -1;
        struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&mfd, CMSG_DATA(c), sizeof mfd);
        if (n == (ssize_t)sizeof h && mfd >= 0 && h.magic == SHM_HELLO_MAGIC &&
            h.version == SHM_HELLO_VERSION && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
            return mfd;
        uipc__close_fd(mfd);
        return n == 0 ? -EPIPE : -EPROTO; /* gone before it said hello, or not a client */
    }
}

static int shm_accept(struct uipc_listener *l, struct uipc_channel *ch, struct uipc__deadline *dl)
{
    struct shm_listener *sl = (struct shm_listener *)l;
    struct uipc__ring_channel *c = (struct uipc__ring_channel *)ch;
    for (;;) {
        uipc__ring_ep_init(&c->ep); /* closing it after a failure closes nothing */
        int fd = uipc__sock_accept_fd(l, dl);
        if (fd < 0)
            return fd;
        int mfd = recv_hello(fd, dl);
        int r = mfd < 0 ? mfd : uipc__ring_attach_fd(&c->ep, mfd, 0, &sl->p, fd);
        uipc__close_fd(mfd);
        if (r == 0 && (r = uipc__ring_hub_join(sl->hub, &c->ep)) < 0) {
            uipc__ring_ep_close(&c->ep); /* it owned fd: the client sees the hang-up */
            return r;
        }
        if (r == 0) {
            ch->max_msg = c->ep.max_msg;
            return 0;
        }
        /* A client that died or lied is dropped; the others are served. */
        uipc__ring_ep_close(&c->ep);
        uipc__close_fd(fd);
        if (uipc__deadline_left_ns(dl) == 0)
            return uipc__deadline_error(dl);
    }
}

static int shm_listener_close(struct uipc_listener *l, bool remove)
{
    /* The channels keep the hub as long as they need it. */
    uipc__ring_hub_unref(((struct shm_listener *)l)->hub);
    return uipc__sock_listener_close(l, remove);
}

static int shm_client(struct uipc__ring_channel *c, const char *name, const struct uipc__ring_params *p)
{
    struct uipc__sockspec s;
    int r = service_addr(name, &s);
    if (r < 0)
        return r;
    int mfd = uipc__ring_memfd(p);
    if (mfd < 0)
        return mfd;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    while ((r = connect(fd, &s.addr.u.sa, s.addr.len)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        r = errno == ECONNREFUSED || errno == ENOENT ? -ENOENT : -errno; /* stale: no service */
        goto out;
    }
    r = uipc__ring_attach_fd(&c->ep, mfd, 1, p, fd);
    if (r < 0)
        goto out;
    fd = -1; /* the endpoint's bell now */
    struct shm_hello h = {SHM_HELLO_MAGIC, SHM_HELLO_VERSION};
    struct iovec v = {&h, sizeof h};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cm.buf,
                       .msg_controllen = sizeof cm.buf};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&m);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &mfd, sizeof mfd);
    ssize_t n;
    while ((n = sendmsg(c->ep.bell_fd, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof h) {
        r = errno == EPIPE || errno == ECONNRESET ? -EACCES : -errno; /* refused at once */
        uipc__ring_ep_close(&c->ep);
        goto out;
    }
    c->base.max_msg = c->ep.max_msg;
    r = 0;
out:
    uipc__close_fd(fd);
    uipc__close_fd(mfd);
    return r;
}

static int shm_peer_cred(const struct uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid)
{
    const struct uipc__ring_channel *c = (const struct uipc__ring_channel *)ch;
    if (!c->ep.conn_bell)
        return -ENOTSUP; /* a two-party ring: nothing the kernel vouches for */
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c->ep.bell_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (pid)
        *pid = cred.pid;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    return 0;
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

static int shm_pollfd(struct uipc_channel *ch)
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

static int shm_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    if (ch->pubsub_role)
        return uipc__bcast_poll_ready(bc_of(ch), events, w);
    return uipc__ring_ch_poll_ready(ch, events, w);
}

static struct uipc__pollgroup *shm_poll_group(const struct uipc_channel *ch)
{
    return ch->pubsub_role ? NULL : uipc__ring_ch_poll_group(ch);
}

static int64_t shm_poll_spin_ns(const struct uipc_channel *ch)
{
    return ch->pubsub_role ? 0 : uipc__ring_ch_poll_spin_ns(ch);
}

/*
 * probe: rings, broadcast rings (pub/sub) and regions in /dev/shm (a path
 * names nothing of shm:'s), and services: a socket there is a uipc_listen
 * service, live while a socket is bound to it, its size the number of
 * clients connected (the accepted connections /proc/net/unix lists under
 * its path).
 */
static int shm_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                   const struct stat *st)
{
    if (S_ISREG(st->st_mode) && uipc__bcast_is_bcast(dirfd, name))
        return uipc__bcast_probe_row(w, dirfd, name, st);
    if (!S_ISSOCK(st->st_mode))
        return uipc__ring_probe_row(w, dirfd, name, st);
    uipc_rdvinfo info;
    if (uipc__probe_fill(&info, "shm", UIPC_RDV_STALE, st, false, "shm://%s", name) < 0)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    if (uipc__rdv_sock_bound(path) != 0) { /* bound, or cannot tell: not stale */
        info.state = UIPC_RDV_LIVE;
        info.size = 0;
        info.pid = uipc__probe_sock_holder(path, &info.size);
    }
    return w->emit(&info, w->arg);
}

static int shm_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    struct uipc__ring_walk rw = {.w = {.dir = "/dev/shm", .emit = emit, .arg = arg},
                                 .scheme = "shm",
                                 .prefix = "shm://",
                                 .persistent = false};
    return dir ? 0 : uipc__probe_dir(&rw.w, shm_row);
}

const struct uipc_transport uipc__transport_shm = {
    .scheme = "shm",
    .size = sizeof(struct shm_channel),
    .listener_size = sizeof(struct shm_listener),
    .keys = shm_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED | UIPC__CAP_PUBSUB,
    .open = shm_open_ch,
    .pair = shm_pair,
    .send = shm_send,
    .recv = shm_recv,
    .close = shm_close,
    .unlink = shm_unlink,
    .probe = shm_probe,
    .pollfd = shm_pollfd,
    .send_reserve = shm_send_reserve,
    .send_commit = shm_send_commit,
    .recv_peek = shm_recv_peek,
    .recv_release = shm_recv_release,
    .poll_ready = shm_poll_ready,
    .poll_spin_ns = shm_poll_spin_ns,
    .poll_group = shm_poll_group,
    .peer_cred = shm_peer_cred,
    .listen = shm_listen,
    .accept = shm_accept,
    .listener_close = shm_listener_close,
    .listener_pollfd = uipc__sock_listener_pollfd,
};
