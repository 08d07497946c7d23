/* SPDX-License-Identifier: MIT */
/*
 * udp: — UDP datagrams, "udp://127.0.0.1:7001", "udp://[::1]:7001",
 * "udp://localhost:7001".
 *
 * Datagram transport, two parties, and unreliable by nature: a datagram
 * may be lost (full receive buffer, nobody bound, the network), duplicated
 * or reordered on a real network, and nothing tells the sender.  What
 * libuipc does guarantee:
 *  - message boundaries, and never a silently truncated datagram: one
 *    larger than the receive buffer is -EMSGSIZE and stays queued (its
 *    size is learnt with MSG_PEEK|MSG_TRUNC before it is taken);
 *  - never a mixed-up peer: the client connect()s, so the kernel drops
 *    datagrams from anyone but the owner; the owner (UIPC_CREATE, which
 *    binds the address) replies to the peer it last received from.  An
 *    owner that sends before it heard from anyone waits, within the send's
 *    timeout, for the first datagram and replies to its sender (the
 *    datagram is left queued for uipc_recv).
 * Messages up to ?maxmsg=, default and at most 65507 bytes on IPv4 and
 * 65527 on IPv6 (the protocol's limits; anything above about 1472 bytes is
 * fragmented on a real Ethernet network).
 *
 * There is no peer to lose: -EPIPE is never reported.  A client whose
 * datagrams found nobody bound on loopback or a host that answers with
 * ICMP port unreachable gets -ECONNREFUSED once, from a later send or
 * receive; that is a hint, not a promise.  Peer credentials are -ENOTSUP
 * (nothing vouches for a datagram's source).  Nothing is created on disk;
 * the port is released at close.  The poll descriptor is the socket.
 * The owner may bind port 0 (the kernel chooses); uipc_uri reports the
 * port it got.  A client cannot connect to port 0 (-EINVAL).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "sock.h"

#define UDP_MAX_V4 65507u
#define UDP_MAX_V6 65527u
#define UDP_MAX_DATAGRAM 65536u  /* a buffer this large can never truncate */

struct udp_channel {
    struct uipc_channel base;
    int fd;
    struct sockaddr_storage peer;  /* owner: whom it last heard from */
    socklen_t peer_len;            /* 0 until the owner heard from anyone */
    bool port0;                    /* owner: bound port 0, uipc_uri resolves it */
};

static const char *const udp_keys[] = {"maxmsg", NULL};

/* Maps a getaddrinfo failure to an errno. */
static int addrinfo_error(int e)
{
    switch (e) {
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SYSTEM: return -errno;
    case EAI_FAMILY:
    case EAI_ADDRFAMILY: return -EAFNOSUPPORT;
    default: return -EADDRNOTAVAIL; /* no such host, or no answer */
    }
}

/* A socket bound (owner) or connected (client) to the first usable address. */
static int udp_socket(const char *host, uint16_t port, bool numeric, bool owner, int *family)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0)};
    struct addrinfo *res;
    int e = getaddrinfo(host, service, &hints, &res);
    if (e != 0)
        return numeric && e == EAI_NONAME ? -EINVAL : addrinfo_error(e);
    int r = -EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        int done = owner ? bind(fd, a->ai_addr, a->ai_addrlen)
                         : connect(fd, a->ai_addr, a->ai_addrlen);
        if (done == 0) {
            *family = a->ai_family;
            freeaddrinfo(res);
            return fd;
        }
        r = -errno;
        uipc__close_fd(fd);
        if (r == -EADDRINUSE)
            break; /* another address of the same name would not help */
    }
    freeaddrinfo(res);
    return r;
}

/*
 * The owner binds the address: a bound port is a live owner (-EADDRINUSE,
 * -EEXIST with UIPC_EXCL); there is no stale state to take over.
 */
static int udp_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct udp_channel *c = (struct udp_channel *)ch;
    char host[256];
    uint16_t port;
    uint64_t maxmsg;
    c->fd = -1;
    int r = uipc__uri_host_port(u, host, sizeof host, &port);
    if (r < 0)
        return r;
    if ((r = uipc__uri_size(u, "maxmsg", 1, UDP_MAX_V6, UDP_MAX_V4, &maxmsg)) < 0)
        return r;
    if (port == 0 && !(flags & UIPC_CREATE))
        return -EINVAL; /* only the side that binds may let the kernel choose */
    c->port0 = port == 0;
    int family = AF_UNSPEC;
    c->fd = udp_socket(host, port, u->authority[0] == '[', flags & UIPC_CREATE, &family);
    if (c->fd == -EADDRINUSE && (flags & UIPC_EXCL))
        return -EEXIST;
    if (c->fd < 0)
        return c->fd;
    if (family == AF_INET && maxmsg > UDP_MAX_V4) {
        uipc__close_fd(c->fd);
        return -EINVAL;
    }
    ch->max_msg = (size_t)maxmsg;
    return 0;
}

/* The owner learns its peer from the first datagram, leaving it queued. */
static int wait_for_peer(struct udp_channel *c, const struct uipc__deadline *dl)
{
    for (;;) {
        char byte;
        c->peer_len = sizeof c->peer;
        ssize_t n = recvfrom(c->fd, &byte, 0, MSG_PEEK | MSG_DONTWAIT,
                             (struct sockaddr *)&c->peer, &c->peer_len);
        if (n >= 0)
            return 0;
        c->peer_len = 0;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int w = uipc__wait_fd(c->fd, POLLIN, dl);
        if (w < 0)
            return w;
    }
}

static ssize_t udp_send(struct uipc_channel *ch, const void *msg, size_t len,
                        const uipc_msginfo *info, struct uipc__deadline *dl)
{
    struct udp_channel *c = (struct udp_channel *)ch;
    (void)info; /* no attributes: the core refused any */
    if (ch->owner && c->peer_len == 0) {
        int r = wait_for_peer(c, dl);
        if (r < 0)
            return r;
    }
    for (;;) {
        ssize_t n = ch->owner ? sendto(c->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                                       (struct sockaddr *)&c->peer, c->peer_len)
                              : send(c->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0)
            return (ssize_t)len; /* a datagram goes whole or not at all */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != ENOBUFS)
            return -errno;
        int w = uipc__wait_fd(c->fd, POLLOUT, dl);
        if (w < 0)
            return w;
    }
}

static ssize_t udp_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                        struct uipc__deadline *dl)
{
    struct udp_channel *c = (struct udp_channel *)ch;
    (void)info; /* no attributes: the core refused a filter */
    for (;;) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        /* With a buffer smaller than any datagram can be, learn the size
         * first: a datagram too large stays queued. */
        ssize_t n = 0;
        if (cap < UDP_MAX_DATAGRAM)
            n = recv(c->fd, buf, cap, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (n > (ssize_t)cap)
            return -EMSGSIZE;
        if (n >= 0)
            n = recvfrom(c->fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
        if (n >= 0) {
            if (ch->owner) {
                memcpy(&c->peer, &from, from_len);
                c->peer_len = from_len;
            }
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int w = uipc__wait_fd(c->fd, POLLIN, dl);
        if (w < 0)
            return w;
    }
}

static int udp_close(struct uipc_channel *ch, bool remove)
{
    (void)remove; /* a bound port leaves nothing behind */
    uipc__close_fd(((struct udp_channel *)ch)->fd);
    return 0;
}

static int udp_pollfd(struct uipc_channel *ch)
{
    return ((const struct udp_channel *)ch)->fd;
}

/* The socket says it all: a datagram waits, or there is room to send. */
static int udp_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct udp_channel *c = (struct udp_channel *)ch;
    short want = (short)(((events & UIPC_POLLIN) ? POLLIN : 0) | ((events & UIPC_POLLOUT) ? POLLOUT : 0));
    short rev = uipc__poll_fd_now(c->fd, want);
    int bits = ((rev & (POLLIN | POLLERR)) && (events & UIPC_POLLIN) ? UIPC_POLLIN : 0) |
               ((rev & (POLLOUT | POLLERR)) && (events & UIPC_POLLOUT) ? UIPC_POLLOUT : 0);
    if (!bits && w)
        uipc__pollwait_add(w, c->fd, want);
    return bits;
}

static int udp_uri(const struct uipc_channel *ch, const char *given, char *buf, size_t cap)
{
    const struct udp_channel *c = (const struct udp_channel *)ch;
    return c->port0 ? uipc__sock_bound_uri(c->fd, given, buf, cap) : 0;
}

const struct uipc_transport uipc__transport_udp = {
    .scheme = "udp",
    .size = sizeof(struct udp_channel),
    .keys = udp_keys,
    .caps = UIPC__CAP_CLIENT_FIRST | UIPC__CAP_OWNED,
    .open = udp_open,
    .send = udp_send,
    .recv = udp_recv,
    .close = udp_close,
    .pollfd = udp_pollfd,
    .uri = udp_uri,
    .poll_ready = udp_poll_ready,
};
