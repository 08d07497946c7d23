/* SPDX-License-Identifier: MIT */
/*
 * Socket machinery shared by unix: and tcp: — addresses, listening with
 * stale-rendezvous take-over, accepting with an allow_uid filter, and the
 * channel operations for stream sockets (framed by framing.c) and unix
 * seqpacket sockets (the kernel keeps message boundaries).
 *
 * A channel opened with UIPC_CREATE on a socket transport is a listener
 * that accepts exactly one peer: the peer is accepted by the first send or
 * recv within its timeout, the listening socket is then closed, and the
 * owner removes the socket file at close.
 */
#ifndef UIPC_SOCK_H
#define UIPC_SOCK_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "framing.h"
#include "internal.h"
#include "rendezvous.h"

#define UIPC__MAX_ALLOW 16

struct uipc__sockaddr {
    union {
        struct sockaddr sa;
        struct sockaddr_un un;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
    bool path;      /* a unix socket file that the owner removes */
    struct uipc__rdv_id made; /* path: the socket file our bind made */
};

/* What a socket transport parsed from its URI. */
struct uipc__sockspec {
    struct uipc__sockaddr addr;
    int type;                     /* SOCK_STREAM or SOCK_SEQPACKET */
    mode_t mode;                  /* socket file permissions */
    uid_t allow[UIPC__MAX_ALLOW]; /* peers allowed by uid; none = all */
    size_t nallow;
    size_t max_msg;
};

struct uipc__sock_channel {
    struct uipc_channel base;
    struct uipc__framer f;        /* f.rfd == f.wfd: the connected socket */
    struct uipc__sockspec spec;
    int listen_fd;                /* >= 0 while the owner waits for its peer */
    bool connecting;              /* a non-blocking connect not yet finished */
    struct uipc__sockps *ps;      /* publisher or subscriber state, NULL otherwise */
};

struct uipc__sock_listener {
    struct uipc_listener base;
    int fd;
    struct uipc__sockspec spec;
};

/* Parses ?allow_uid=N (repeatable) into s->allow (unix:, shm: listeners). */
int uipc__sock_parse_allow(const struct uipc__uri *u, struct uipc__sockspec *s);
/* Parses the unix: address (path or @abstract) and its keys. */
int uipc__sock_parse_unix(const struct uipc__uri *u, struct uipc__sockspec *s);
/* Parses the tcp: host:port (numeric or a name) and its keys. */
int uipc__sock_parse_inet(const struct uipc__uri *u, int type, struct uipc__sockspec *s);

/* Transport operations shared by unix: and tcp: (see internal.h). */
int uipc__sock_open(struct uipc_channel *ch, const struct uipc__sockspec *s, int flags);
ssize_t uipc__sock_send(struct uipc_channel *ch, const void *msg, size_t len,
                        const uipc_msginfo *info, struct uipc__deadline *dl);
ssize_t uipc__sock_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                        struct uipc__deadline *dl);
int uipc__sock_close(struct uipc_channel *ch, bool remove);
int uipc__sock_pollfd(struct uipc_channel *ch);
int uipc__sock_peer_cred(const struct uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid);
int uipc__sock_listen(struct uipc_listener *l, const struct uipc__sockspec *s, int flags);
int uipc__sock_accept(struct uipc_listener *l, struct uipc_channel *ch, struct uipc__deadline *dl);
/* Accepts the next allowed peer's connected socket (the shm: listener's
 * handshake runs over it): the descriptor, or a negative errno. */
int uipc__sock_accept_fd(struct uipc_listener *l, const struct uipc__deadline *dl);
int uipc__sock_listener_close(struct uipc_listener *l, bool remove);
int uipc__sock_listener_pollfd(const struct uipc_listener *l);
/*
 * URIs (the uri and listener_uri operations): with port 0, the text given
 * rewritten to the address and port the kernel bound, "tcp://127.0.0.1:41234"
 * (IPv6 in brackets), query kept; otherwise 0 (the text as given).
 * uipc__sock_bound_uri does it for any inet socket fd (udp: uses it too).
 */
int uipc__sock_bound_uri(int fd, const char *given, char *buf, size_t cap);
int uipc__sock_uri(const struct uipc_channel *ch, const char *given, char *buf, size_t cap);
int uipc__sock_listener_uri(const struct uipc_listener *l, const char *given, char *buf,
                            size_t cap);
/* uipc_poll readiness (internal.h); accepts the one peer of a UIPC_CREATE
 * channel or finishes its connect on the way, without waiting. */
int uipc__sock_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w);
/* Seqpacket: makes room in fd's send buffer for a max_msg record;
 * -EMSGSIZE when the kernel will not (net.core.wmem_max).  0 for streams. */
int uipc__sock_seq_room(const struct uipc__sockspec *s, int fd);
/* Removes a stale socket file; -EADDRINUSE if someone listens on it
 * (force: removes it anyway). */
int uipc__sock_unlink(const struct uipc__sockspec *s, bool force);

/* ---- publish/subscribe (sock_pubsub.c) ---- */

/* The listening socket of a rendezvous (stale take-over as for a channel);
 * records in s what it made, for the owner's removal. */
int uipc__sock_listen_fd(struct uipc__sockspec *s, int flags, int backlog);
/* Accepts the next allowed peer within dl: its descriptor or a negative errno. */
int uipc__sock_accept_one(int lfd, const struct uipc__sockspec *s, const struct uipc__deadline *dl);

/* True if u gives a key only a publisher or a subscriber takes. */
bool uipc__sockps_keys_given(const struct uipc__uri *u);
/* Publisher (UIPC_CREATE | UIPC_PUB) or subscriber (UIPC_SUB) on s. */
int uipc__sockps_open(struct uipc_channel *ch, const struct uipc__sockspec *s,
                      const struct uipc__uri *u, int flags);
ssize_t uipc__sockps_send(struct uipc_channel *ch, const void *msg, size_t len,
                          const struct uipc__deadline *dl);
ssize_t uipc__sockps_recv(struct uipc_channel *ch, void *buf, size_t cap,
                          const struct uipc__deadline *dl);
int uipc__sockps_pollfd(struct uipc_channel *ch);
/* uipc_poll readiness (poll_ready): a subscriber's messages; a publisher
 * is always writable and accepts and flushes while asked. */
int uipc__sockps_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w);
void uipc__sockps_close(struct uipc_channel *ch);
/* The publisher's listening socket (its bound port), -1 for a subscriber. */
int uipc__sockps_listen_fd(const struct uipc__sockps *ps);

#endif /* UIPC_SOCK_H */
