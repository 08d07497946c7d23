/* SPDX-License-Identifier: MIT */
/*
 * tcp: — TCP over IPv4 or IPv6: "tcp://127.0.0.1:7000", "tcp://[::1]:7000",
 * "tcp://localhost:7000".
 *
 * Stream transport with libuipc framing, TCP_NODELAY on every connection,
 * messages up to ?maxmsg= (default 16 MiB).  Two parties, or N with
 * uipc_listen.  Nothing is created on disk.  The connect is started by
 * uipc_open and finished by the first send or recv within its timeout, so
 * opening never waits for the peer.  Port 0 (uipc_listen or UIPC_CREATE)
 * binds a port the kernel chooses; uipc_listener_uri / uipc_uri report it.  The kernel does not vouch for a TCP
 * peer's identity: uipc_peer_cred is -ENOTSUP.
 */
#include <errno.h>

#include "sock.h"

static const char *const tcp_keys[] = {"maxmsg", "overflow", "size", "subs", NULL};

static int tcp_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct uipc__sockspec s;
    int r = uipc__sock_parse_inet(u, SOCK_STREAM, &s);
    if (r < 0)
        return r;
    if (flags & (UIPC_PUB | UIPC_SUB))
        return uipc__sockps_open(ch, &s, u, flags);
    return uipc__sockps_keys_given(u) ? -EINVAL : uipc__sock_open(ch, &s, flags);
}

static int tcp_listen(struct uipc_listener *l, const struct uipc__uri *u, int flags)
{
    struct uipc__sockspec s;
    int r = uipc__sock_parse_inet(u, SOCK_STREAM, &s);
    if (r == 0 && uipc__sockps_keys_given(u))
        r = -EINVAL;
    return r < 0 ? r : uipc__sock_listen(l, &s, flags);
}

const struct uipc_transport uipc__transport_tcp = {
    .scheme = "tcp",
    .size = sizeof(struct uipc__sock_channel),
    .listener_size = sizeof(struct uipc__sock_listener),
    .keys = tcp_keys,
    .caps = UIPC__CAPS_LINK | UIPC__CAP_OWNED | UIPC__CAP_PUBSUB,
    .open = tcp_open,
    .send = uipc__sock_send,
    .recv = uipc__sock_recv,
    .close = uipc__sock_close,
    .pollfd = uipc__sock_pollfd,
    .listen = tcp_listen,
    .accept = uipc__sock_accept,
    .listener_close = uipc__sock_listener_close,
    .listener_pollfd = uipc__sock_listener_pollfd,
    .poll_ready = uipc__sock_poll_ready,
    .uri = uipc__sock_uri,
    .listener_uri = uipc__sock_listener_uri,
};
