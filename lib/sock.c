/* SPDX-License-Identifier: MIT */
/*
 * Socket machinery shared by unix: and tcp:; the contract is in sock.h.
 *
 * Stale socket files: bind fails with EADDRINUSE when the path exists.  The
 * file is taken over only if it is a socket file that no socket is bound
 * to, as the kernel answers for the file's inode (uipc__rdv_sock_bound), so
 * no other spelling of the path can pass a live socket off as stale;
 * anything else — a live socket, a regular file, a symbolic link — is
 * never removed.  The owner removes only the socket file its bind made
 * (compared by inode), never a successor's.
 */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- addresses ---- */

static int parse_common(const struct uipc__uri *u, struct uipc__sockspec *s, uint64_t dflt_max,
                        uint64_t ceiling)
{
    uint64_t max;
    int r = uipc__uri_size(u, "maxmsg", 1, ceiling, dflt_max, &max);
    if (r < 0)
        return r;
    s->max_msg = (size_t)max;
    return uipc__uri_mode(u, &s->mode);
}

int uipc__sock_parse_allow(const struct uipc__uri *u, struct uipc__sockspec *s)
{
    size_t pos = 0;
    const char *v;
    while ((v = uipc__uri_next(u, "allow_uid", &pos))) {
        long uid;
        struct uipc__uri one = {.nkeys = 1, .kv = {{"allow_uid", v}}};
        if (s->nallow == UIPC__MAX_ALLOW ||
            uipc__uri_long(&one, "allow_uid", 0, (long)UINT_MAX - 1, 0, &uid) < 0)
            return -EINVAL;
        s->allow[s->nallow++] = (uid_t)uid;
    }
    return 0;
}

int uipc__sock_parse_unix(const struct uipc__uri *u, struct uipc__sockspec *s)
{
    memset(s, 0, sizeof *s);
    const char *p = u->path;
    if (u->has_authority && u->authority[0])
        return -EINVAL; /* unix://host/... names no socket */
    if (p[0] != '/' && p[0] != '@')
        return -EINVAL; /* absolute paths and @abstract names only */

    int err;
    const char *type = uipc__uri_get(u, "type", &err);
    if (err)
        return err;
    if (!type || strcmp(type, "stream") == 0)
        s->type = SOCK_STREAM;
    else if (strcmp(type, "seqpacket") == 0)
        s->type = SOCK_SEQPACKET;
    else
        return -EINVAL;

    /* A seqpacket message must fit the socket buffer in one piece. */
    int r = s->type == SOCK_STREAM
                ? parse_common(u, s, UIPC__DEFAULT_MAXMSG, UIPC__MAXMSG_CEILING)
                : parse_common(u, s, 64u << 10, 4u << 20);
    if (r < 0)
        return r;

    r = uipc__sock_parse_allow(u, s);
    if (r < 0)
        return r;

    struct sockaddr_un *un = &s->addr.u.un;
    un->sun_family = AF_UNIX;
    size_t n = strlen(p);
    if (p[0] == '@') {
        if (n < 2)
            return -EINVAL;
        if (n > sizeof un->sun_path)
            return -ENAMETOOLONG;
        if (uipc__uri_get(u, "mode", &err))
            return -EINVAL; /* abstract sockets have no permissions to set */
        memcpy(un->sun_path + 1, p + 1, n - 1); /* sun_path[0] = 0: abstract */
        s->addr.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        if (n >= sizeof un->sun_path)
            return -ENAMETOOLONG;
        memcpy(un->sun_path, p, n + 1);
        s->addr.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        s->addr.path = true;
    }
    return 0;
}

int uipc__sock_parse_inet(const struct uipc__uri *u, int type, struct uipc__sockspec *s)
{
    memset(s, 0, sizeof *s);
    char host[256];
    uint16_t port;
    int r = uipc__uri_host_port(u, host, sizeof host, &port);
    if (r == 0)
        r = parse_common(u, s, UIPC__DEFAULT_MAXMSG, UIPC__MAXMSG_CEILING);
    if (r < 0)
        return r;
    s->type = type;
    if (inet_pton(AF_INET, host, &s->addr.u.in.sin_addr) == 1) {
        s->addr.u.in.sin_family = AF_INET;
        s->addr.u.in.sin_port = htons(port);
        s->addr.len = sizeof s->addr.u.in;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s->addr.u.in6.sin6_addr) == 1) {
        s->addr.u.in6.sin6_family = AF_INET6;
        s->addr.u.in6.sin6_port = htons(port);
        s->addr.len = sizeof s->addr.u.in6;
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = type}, *ai;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return -EADDRNOTAVAIL;
    memcpy(&s->addr.u.ss, ai->ai_addr, ai->ai_addrlen);
    s->addr.len = ai->ai_addrlen;
    if (ai->ai_family == AF_INET)
        s->addr.u.in.sin_port = htons(port);
    else
        s->addr.u.in6.sin6_port = htons(port);
    freeaddrinfo(ai);
    return 0;
}

/* ---- stale socket files ---- */

/* 0 when path is a socket file nobody has bound (removed), else an error. */
static int take_over(const char *path, bool force)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST; /* never remove what is not a socket, nor follow a link */
    int bound = force ? 0 : uipc__rdv_sock_bound(path);
    if (bound < 0)
        return bound == -ENOENT ? 0 : bound;
    if (bound)
        return -EADDRINUSE;
    /* Only the file we judged: a socket bound meanwhile has a new inode. */
    struct uipc__rdv_id id = {st.st_dev, st.st_ino};
    int r = uipc__rdv_remove(AT_FDCWD, path, &id);
    return r == -ENOENT ? 0 : r == -ESTALE ? -EADDRINUSE : r;
}

int uipc__sock_unlink(const struct uipc__sockspec *s, bool force)
{
    if (!s->addr.path)
        return -ENOENT; /* abstract names vanish with their socket */
    struct stat st;
    if (lstat(s->addr.u.un.sun_path, &st) < 0)
        return -errno;
    return take_over(s->addr.u.un.sun_path, force);
}

/* ---- seqpacket room ---- */

/*
 * A seqpacket record must fit the sender's socket buffer in one piece (the
 * kernel refuses len > SO_SNDBUF - 32 with EMSGSIZE), and the default
 * buffer (net.core.wmem_default, 208 KiB) is smaller than ?maxmsg= may be.
 * Every seqpacket socket asks for room for a max_msg record (the 1-byte
 * tag included); the kernel grants up to net.core.wmem_max, for any user.
 * A maxmsg it cannot carry is -EMSGSIZE at open rather than at every send.
 */
#define SEQ_SKB_OVERHEAD 32

int uipc__sock_seq_room(const struct uipc__sockspec *s, int fd)
{
    if (s->type != SOCK_SEQPACKET)
        return 0;
    size_t need = s->max_msg + 1 + SEQ_SKB_OVERHEAD;
    int cur = 0;
    socklen_t len = sizeof cur;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) == 0 && (size_t)cur >= need)
        return 0;
    int ask = (int)((need + 1) / 2); /* the kernel doubles what it is given */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ask, sizeof ask) < 0)
        return -errno;
    len = sizeof cur;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) < 0)
        return -errno;
    return (size_t)cur >= need ? 0 : -EMSGSIZE;
}

/* ---- listening, accepting, connecting ---- */

static int listen_socket(struct uipc__sockspec *s, int flags, int backlog)
{
    int fd = socket(s->addr.u.sa.sa_family, s->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1, r = uipc__sock_seq_room(s, fd); /* refused here, before anything is bound */
    if (r < 0)
        goto fail;
    if (s->addr.u.sa.sa_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s->addr.path && fchmod(fd, s->mode) < 0) /* bind applies the umask to this */
        goto fail_errno;
    for (int attempt = 0; bind(fd, &s->addr.u.sa, s->addr.len) < 0; attempt++) {
        if (errno != EADDRINUSE)
            goto fail_errno;
        if (flags & UIPC_EXCL) {
            r = -EEXIST;
            goto fail;
        }
        if (!s->addr.path || attempt > 0) {
            r = -EADDRINUSE;
            goto fail;
        }
        r = take_over(s->addr.u.un.sun_path, false);
        if (r < 0)
            goto fail;
    }
    if (s->addr.path && (uipc__rdv_id_at(AT_FDCWD, s->addr.u.un.sun_path, &s->addr.made) < 0 ||
                         chmod(s->addr.u.un.sun_path, s->mode) < 0))
        goto fail_unlink;
    if (listen(fd, backlog) < 0)
        goto fail_unlink;
    return fd;

fail_unlink:
    r = -errno;
    if (s->addr.path) /* only a path socket left a file; TCP and abstract have none */
        unlink(s->addr.u.un.sun_path);
    goto fail;
fail_errno:
    r = -errno;
fail:
    uipc__close_fd(fd);
    return r;
}

static bool uid_allowed(const struct uipc__sockspec *s, int fd)
{
    if (s->nallow == 0)
        return true;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    for (size_t i = 0; i < s->nallow; i++)
        if (s->allow[i] == cred.uid)
            return true;
    return false;
}

static void tune(const struct uipc__sockspec *s, int fd)
{
    int one = 1;
    if (s->addr.u.sa.sa_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Accepts the next allowed peer within the deadline; refused peers are closed. */
static int accept_one(int lfd, const struct uipc__sockspec *s, const struct uipc__deadline *dl)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            if (uid_allowed(s, fd)) {
                int r = uipc__sock_seq_room(s, fd);
                if (r < 0) {
                    uipc__close_fd(fd);
                    return r;
                }
                tune(s, fd);
                return fd;
            }
            uipc__close_fd(fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int r = uipc__wait_fd(lfd, POLLIN, dl);
        if (r < 0)
            return r;
    }
}

static void attach_fd(struct uipc__sock_channel *c, int fd)
{
    uipc__framer_attach(&c->f, fd, fd);
    uipc__pollset_add(&c->f.ps, fd);
}

/* The port of an inet address, 0 for a unix one. */
static uint16_t inet_port(const struct uipc__sockaddr *a)
{
    switch (a->u.sa.sa_family) {
    case AF_INET:
        return ntohs(a->u.in.sin_port);
    case AF_INET6:
        return ntohs(a->u.in6.sin6_port);
    default:
        return 0;
    }
}

int uipc__sock_open(struct uipc_channel *ch, const struct uipc__sockspec *s, int flags)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    if (!(flags & UIPC_CREATE) && s->addr.u.sa.sa_family != AF_UNIX && inet_port(&s->addr) == 0)
        return -EINVAL; /* port 0 is for the side that binds: nothing to connect to */
    c->spec = *s;
    c->listen_fd = -1;
    uipc__framer_init(&c->f, -1, -1, true);
    ch->max_msg = c->f.max_msg = s->max_msg;
    if (flags & UIPC_CREATE) {
        int fd = listen_socket(&c->spec, flags, 1);
        if (fd < 0)
            return fd;
        c->listen_fd = fd;
        return 0;
    }
    int fd = socket(s->addr.u.sa.sa_family, s->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int r = uipc__sock_seq_room(s, fd);
    if (r < 0) {
        uipc__close_fd(fd);
        return r;
    }
    if (connect(fd, &s->addr.u.sa, s->addr.len) < 0) {
        if (errno != EINPROGRESS) {
            /* An abstract name nobody listens on does not exist: nothing to attach to. */
            r = errno == ECONNREFUSED && s->addr.u.sa.sa_family == AF_UNIX && !s->addr.path
                        ? -ENOENT
                        : -errno;
            uipc__close_fd(fd);
            return r;
        }
        c->connecting = true;
    }
    tune(s, fd);
    attach_fd(c, fd);
    return 0;
}

/* Makes sure the channel has its peer: accepts it or finishes the connect. */
static int ensure_peer(struct uipc__sock_channel *c, const struct uipc__deadline *dl)
{
    if (c->listen_fd >= 0) {
        int fd = accept_one(c->listen_fd, &c->spec, dl);
        if (fd < 0)
            return fd;
        uipc__pollset_del(&c->f.ps, c->listen_fd);
        uipc__close_fd(c->listen_fd);
        c->listen_fd = -1;
        attach_fd(c, fd);
    }
    if (c->connecting) {
        int r = uipc__wait_fd(c->f.wfd, POLLOUT, dl);
        if (r < 0)
            return r;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->f.wfd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            c->f.broken = err == ECONNREFUSED ? -ECONNREFUSED : -err;
            c->connecting = false;
            return c->f.broken;
        }
        c->connecting = false;
    }
    return 0;
}

/*
 * Seqpacket messages carry a one-byte tag before the payload, because the
 * kernel reports a zero-length record and the end of the connection alike
 * (recv returns 0); with the tag, 0 can only mean the end.
 */
static ssize_t seq_send(struct uipc__sock_channel *c, const void *msg, size_t len,
                        const struct uipc__deadline *dl)
{
    unsigned char tag = 1;
    struct iovec v[2] = {{&tag, 1}, {(void *)msg, len}};
    struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
    for (;;) {
        if (sendmsg(c->f.wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return (ssize_t)len;
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET)
            return -EPIPE;
        if (errno != EAGAIN)
            return -errno;
        int r = uipc__wait_fd(c->f.wfd, POLLOUT, dl);
        if (r < 0)
            return r;
    }
}

static ssize_t seq_recv(struct uipc__sock_channel *c, void *buf, size_t cap,
                        const struct uipc__deadline *dl)
{
    /* With room for any message we can receive directly; else peek first. */
    int peek = cap < c->base.max_msg ? MSG_PEEK : 0;
    /* Park in recvmsg rather than poll, as the framer does (framing.c):
     * at once when it may wait forever, else under SO_RCVTIMEO. */
    int wait = dl->timeout_ms < 0 && !c->f.rcvtimeo_ns ? 0 : MSG_DONTWAIT;
    for (;;) {
        if (c->f.eof)
            return -EPIPE;
        unsigned char tag;
        struct iovec v[2] = {{&tag, 1}, {buf, cap}};
        struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
        ssize_t n = recvmsg(c->f.rfd, &m, wait | MSG_TRUNC | peek);
        if (n > 0 && (size_t)n - 1 > c->base.max_msg) {
            if (peek)
                recv(c->f.rfd, &tag, 1, MSG_DONTWAIT); /* drop it */
            return c->f.broken = -EBADMSG; /* larger than a libuipc peer sends */
        }
        if (n > 0 && (size_t)n - 1 > cap)
            return -EMSGSIZE; /* only when peeking: it stays queued */
        if (n > 0 && peek) {
            peek = 0; /* it fits: receive it for real (peeking again would spin) */
            continue;
        }
        if (n > 0)
            return n - 1;
        if (n == 0 || errno == ECONNRESET) {
            c->f.eof = true;
            return -EPIPE;
        }
        if (errno == EINTR) {
            /* Parked under SO_RCVTIMEO, a signal restarts nothing: re-arm
             * from what is left of the deadline, through the DONTWAIT try
             * (re-entering recvmsg as it was would wait the whole
             * SO_RCVTIMEO again after every signal, without bound). */
            if (dl->timeout_ms >= 0)
                wait = MSG_DONTWAIT;
            continue;
        }
        if (errno != EAGAIN)
            return -errno;
        if (wait && dl->timeout_ms != 0 && uipc__framer_arm_rcvtimeo(&c->f, dl) == 0) {
            wait = 0;
            continue;
        }
        /* Not worth parking, or SO_RCVTIMEO ran out early: poll the rest. */
        wait = MSG_DONTWAIT;
        int r = uipc__wait_fd(c->f.rfd, POLLIN, dl);
        if (r < 0)
            return r;
    }
}

ssize_t uipc__sock_send(struct uipc_channel *ch, const void *msg, size_t len,
                        const uipc_msginfo *info, struct uipc__deadline *dl)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    (void)info;
    if (c->ps)
        return uipc__sockps_send(ch, msg, len, dl);
    int r = ensure_peer(c, dl);
    if (r < 0)
        return r;
    if (c->spec.type == SOCK_SEQPACKET)
        return c->f.broken ? c->f.broken : seq_send(c, msg, len, dl);
    return uipc__framer_send(&c->f, msg, len, dl);
}

ssize_t uipc__sock_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                        struct uipc__deadline *dl)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    (void)info;
    if (c->ps)
        return uipc__sockps_recv(ch, buf, cap, dl);
    int r = ensure_peer(c, dl);
    if (r < 0)
        return r;
    if (c->spec.type != SOCK_SEQPACKET)
        return uipc__framer_recv(&c->f, buf, cap, dl);
    if (c->f.broken)
        return c->f.broken;
    ssize_t n = seq_recv(c, buf, cap, dl);
    uipc__pollset_signal(&c->f.ps, c->f.eof);
    return n;
}

/* Removes the socket file our bind made, never one that replaced it. */
static void remove_path(const struct uipc__sockspec *s)
{
    if (s->addr.path)
        uipc__rdv_remove(AT_FDCWD, s->addr.u.un.sun_path, &s->addr.made);
}

int uipc__sock_close(struct uipc_channel *ch, bool remove)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    if (c->ps)
        uipc__sockps_close(ch);
    uipc__framer_release(&c->f);
    uipc__close_fd(c->listen_fd);
    if (remove)
        remove_path(&c->spec);
    return 0;
}

int uipc__sock_pollfd(struct uipc_channel *ch)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    if (c->ps)
        return uipc__sockps_pollfd(ch);
    int ep = uipc__framer_pollfd(&c->f);
    if (ep >= 0 && c->listen_fd >= 0) {
        int r = uipc__pollset_add(&c->f.ps, c->listen_fd);
        if (r < 0)
            return r;
    }
    return ep;
}

int uipc__sock_peer_cred(const struct uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid)
{
    const struct uipc__sock_channel *c = (const struct uipc__sock_channel *)ch;
    if (c->f.rfd < 0)
        return -ENOTCONN; /* the owner has not accepted its peer yet */
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c->f.rfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (pid)
        *pid = cred.pid;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    return 0;
}

int uipc__sock_listen(struct uipc_listener *l, const struct uipc__sockspec *s, int flags)
{
    struct uipc__sock_listener *sl = (struct uipc__sock_listener *)l;
    sl->spec = *s;
    sl->fd = listen_socket(&sl->spec, flags, SOMAXCONN);
    return sl->fd < 0 ? sl->fd : 0;
}

int uipc__sock_accept_fd(struct uipc_listener *l, const struct uipc__deadline *dl)
{
    struct uipc__sock_listener *sl = (struct uipc__sock_listener *)l;
    return accept_one(sl->fd, &sl->spec, dl);
}

int uipc__sock_accept(struct uipc_listener *l, struct uipc_channel *ch, struct uipc__deadline *dl)
{
    struct uipc__sock_listener *sl = (struct uipc__sock_listener *)l;
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    int fd = accept_one(sl->fd, &sl->spec, dl);
    if (fd < 0)
        return fd;
    c->spec = sl->spec;
    c->listen_fd = -1;
    uipc__framer_init(&c->f, fd, fd, true);
    ch->max_msg = c->f.max_msg = sl->spec.max_msg;
    return 0;
}

int uipc__sock_listener_close(struct uipc_listener *l, bool remove)
{
    struct uipc__sock_listener *sl = (struct uipc__sock_listener *)l;
    uipc__close_fd(sl->fd);
    if (remove)
        remove_path(&sl->spec);
    return 0;
}

int uipc__sock_listener_pollfd(const struct uipc_listener *l)
{
    return ((const struct uipc__sock_listener *)l)->fd;
}

/* ---- publish/subscribe: the helpers sock_pubsub.c shares ---- */

int uipc__sock_listen_fd(struct uipc__sockspec *s, int flags, int backlog)
{
    return listen_socket(s, flags, backlog);
}

int uipc__sock_accept_one(int lfd, const struct uipc__sockspec *s, const struct uipc__deadline *dl)
{
    return accept_one(lfd, s, dl);
}

/* ---- readiness for uipc_poll ---- */

/* unix: seqpacket: the kernel keeps whole records, so its readiness is exact. */
static int seq_poll_ready(struct uipc__sock_channel *c, int events, struct uipc__pollwait *w)
{
    if (c->f.broken || c->f.eof)
        return UIPC_POLLHUP | events;
    short want = (short)(POLLRDHUP | ((events & UIPC_POLLIN) ? POLLIN : 0) |
                         ((events & UIPC_POLLOUT) ? POLLOUT : 0));
    short rev = uipc__poll_fd_now(c->f.rfd, want);
    int bits = (rev & (POLLHUP | POLLRDHUP | POLLERR)) ? UIPC_POLLHUP : 0;
    if ((events & UIPC_POLLIN) && (rev & (POLLIN | POLLHUP | POLLERR)))
        bits |= UIPC_POLLIN;
    if ((events & UIPC_POLLOUT) && (rev & (POLLOUT | POLLHUP | POLLERR)))
        bits |= UIPC_POLLOUT;
    if (!bits && w)
        uipc__pollwait_add(w, c->f.rfd, want & (POLLIN | POLLOUT));
    return bits;
}

int uipc__sock_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct uipc__sock_channel *c = (struct uipc__sock_channel *)ch;
    if (c->ps)
        return uipc__sockps_poll_ready(ch, events, w);
    if (c->listen_fd >= 0 || c->connecting) {
        /* The peer first: accept it or finish the connect, without waiting. */
        struct uipc__deadline now;
        uipc__deadline_start(&now, 0);
        int r = ensure_peer(c, &now);
        if (r == -EAGAIN) {
            if (w && c->listen_fd >= 0)
                uipc__pollwait_add(w, c->listen_fd, POLLIN);
            else if (w)
                uipc__pollwait_add(w, c->f.wfd, POLLOUT);
            return 0;
        }
        if (r < 0)
            return events; /* the connect failed: every call says so at once */
    }
    if (c->spec.type == SOCK_SEQPACKET)
        return seq_poll_ready(c, events, w);
    return uipc__framer_poll_ready(&c->f, events, w);
}

/* ---- URIs: port 0 resolved ---- */

int uipc__sock_bound_uri(int fd, const char *given, char *buf, size_t cap)
{
    struct uipc__sockaddr a;
    a.len = sizeof a.u;
    if (fd < 0 || getsockname(fd, &a.u.sa, &a.len) < 0)
        return 0; /* nothing bound (yet): the text as given */
    if (a.u.sa.sa_family != AF_INET && a.u.sa.sa_family != AF_INET6)
        return 0;
    char host[INET6_ADDRSTRLEN];
    const void *addr = a.u.sa.sa_family == AF_INET ? (const void *)&a.u.in.sin_addr
                                                   : (const void *)&a.u.in6.sin6_addr;
    if (!inet_ntop(a.u.sa.sa_family, addr, host, sizeof host))
        return -errno;
    const char *colon = strchr(given, ':');
    const char *query = strchr(given, '?');
    if (!colon)
        return -EINVAL;
    int n = snprintf(buf, cap, "%.*s://%s%s%s:%u%s", (int)(colon - given), given,
                     a.u.sa.sa_family == AF_INET6 ? "[" : "", host,
                     a.u.sa.sa_family == AF_INET6 ? "]" : "", (unsigned)inet_port(&a),
                     query ? query : "");
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 1;
}

int uipc__sock_uri(const struct uipc_channel *ch, const char *given, char *buf, size_t cap)
{
    const struct uipc__sock_channel *c = (const struct uipc__sock_channel *)ch;
    /* A publisher listens on its own socket, a one-peer owner on listen_fd. */
    int fd = c->ps ? uipc__sockps_listen_fd(c->ps) : c->listen_fd;
    if (fd < 0 || inet_port(&c->spec.addr) != 0)
        return 0; /* a client, or a fixed port: as given */
    return uipc__sock_bound_uri(fd, given, buf, cap);
}

int uipc__sock_listener_uri(const struct uipc_listener *l, const char *given, char *buf,
                            size_t cap)
{
    const struct uipc__sock_listener *sl = (const struct uipc__sock_listener *)l;
    if (inet_port(&sl->spec.addr) != 0)
        return 0;
    return uipc__sock_bound_uri(sl->fd, given, buf, cap);
}
