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

#include "internal.h"
#include "rendezvous.h"
#include "ring_ep.h"
#include "sock.h"

#define SHM_NAME_MAX 200
#define SHM_DIR "/dev/shm" /* where uipc__rdv_shm_dir looks: the service socket's path */

static const char *const shm_keys[] = {"size", "maxmsg", "spin", "mode", "allow_uid", NULL};

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
    int r = shm_name(u, &name);
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

static int shm_unlink(const struct uipc__uri *u)
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
        return r < 0 ? r : uipc__sock_unlink(&spec);
    }
    r = uipc__ring_unlink_at(dirfd, name, false);
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

const struct uipc_transport uipc__transport_shm = {
    .scheme = "shm",
    .size = sizeof(struct uipc__ring_channel),
    .listener_size = sizeof(struct shm_listener),
    .keys = shm_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED,
    .open = shm_open_ch,
    .pair = shm_pair,
    .send = uipc__ring_ch_send,
    .recv = uipc__ring_ch_recv,
    .close = uipc__ring_ch_close,
    .unlink = shm_unlink,
    .pollfd = uipc__ring_ch_pollfd,
    .send_reserve = uipc__ring_ch_send_reserve,
    .send_commit = uipc__ring_ch_send_commit,
    .recv_peek = uipc__ring_ch_recv_peek,
    .recv_release = uipc__ring_ch_recv_release,
    .poll_ready = uipc__ring_ch_poll_ready,
    .poll_spin_ns = uipc__ring_ch_poll_spin_ns,
    .poll_group = uipc__ring_ch_poll_group,
    .peer_cred = shm_peer_cred,
    .listen = shm_listen,
    .accept = shm_accept,
    .listener_close = shm_listener_close,
    .listener_pollfd = uipc__sock_listener_pollfd,
};
