/* SPDX-License-Identifier: MIT */
/*
 * The ring endpoint: a channel over a whole ring mapping (ring.h describes
 * the layout and the lock-free ring; ring_ep.c implements this).
 */
#ifndef UIPC_RING_EP_H
#define UIPC_RING_EP_H

#include <limits.h>

#include "internal.h"
#include "pollset.h"
#include "probe.h"
#include "rendezvous.h"
#include "ring.h"
#include "uri.h"
#include "wait.h"

/* Query keys of shm: and mmap:, parsed once. */
struct uipc__ring_params {
    uint64_t ring_size; /* ?size=, rounded up to a power of two */
    uint64_t max_msg;   /* ?maxmsg= */
    int64_t spin_ns;    /* ?spin= in microseconds */
    mode_t mode;        /* ?mode= */
    bool size_given, maxmsg_given;
};

extern const char *const uipc__ring_keys[]; /* "size", "maxmsg", "spin", "mode" */

/* Parses and validates the keys: -EINVAL for a bad value or combination. */
int uipc__ring_params(const struct uipc__uri *u, struct uipc__ring_params *p);

struct uipc__ring_ep {
    unsigned char *map;
    size_t map_len;
    struct uipc__ring_hdr *hdr;
    unsigned side;        /* 0 creator, 1 attacher */
    struct uipc__ring tx; /* ring `side`: we produce */
    struct uipc__ring rx; /* ring `1 - side`: we consume */
    uint64_t max_msg;
    int lock_fd; /* our open file description, holding our side's OFD lock */
    dev_t dev;   /* the file, to recognise it by name later */
    ino_t ino;
    uint8_t id[16];      /* hdr->id, copied at open */
    uint32_t my_state;   /* the state word we wrote at open */
    uint32_t dead_state; /* the peer's state word when we found its lock free */
    bool dead_known;
    uint32_t absent_state; /* persistent: the peer's state word at our open if it */
    bool absent_known;     /* had already left: still that word = not come yet */
    int broken;          /* sticky -EBADMSG once the mapping was found corrupt */
    bool persistent;     /* mmap: a send never fails for a receiver that is away */
    bool conn_bell;      /* shm: listener: bell_fd is the connection to the peer */
    bool reserved;       /* a zero-copy reservation is outstanding */
    size_t reserved_len; /* its length */
    bool peeked;         /* a zero-copy peek is outstanding */

    int64_t spin_max_ns; /* ?spin= (0 on a single CPU) */
    int64_t spin_ns;     /* adaptive budget, spin_max_ns / 16 .. spin_max_ns */
    unsigned backoff_pauses; /* pause instructions in ~80 ns, measured at open */
    int64_t next_check_ns; /* rate limit of the liveness check for timeout 0 */
    struct uipc__live_check send_live; /* when a send tests the peer's lock */

    /* Doorbell (uipc_pollfd); see docs/shm.md. */
    bool named;   /* abstract sockets named by hdr->id; else a socketpair */
    int bell_fd;  /* pair: our end of the socketpair; named: bound once polling */
    int tx_fd;    /* named: unbound datagram socket to ring the peer */
    struct uipc__pidwatch peer_pid; /* named: in the poll set (death wakes pollers) */
    bool polling;
    struct uipc__pollset ps;

    /* shm: listener's channel: the listener's poll group (NULL if none). */
    struct uipc__ring_hub *hub;
    struct uipc__ring_hub_member *hub_member;
};

/* A closed endpoint: every descriptor -1, nothing mapped. */
void uipc__ring_ep_init(struct uipc__ring_ep *ep);

/*
 * Opens name in the directory dirfd.  With UIPC_CREATE: publishes a freshly
 * formatted ring atomically (O_TMPFILE + linkat, never following a link at
 * name) and takes side 0; if name exists: -EEXIST with UIPC_EXCL,
 * -EADDRINUSE while its side 0 is held; a stale one is replaced
 * (persistent = false) or reopened as side 0 with its messages (persistent
 * = true).  Without UIPC_CREATE: attaches side 1, -ENOENT if absent,
 * -EBUSY if side 1 is held (or, not persistent, was ever used).
 * Corrupt headers are -EBADMSG, another layout version -EPROTO.
 */
int uipc__ring_open_at(struct uipc__ring_ep *ep, int dirfd, const char *name,
                       const struct uipc__ring_params *p, int flags, bool persistent);

/* Two connected endpoints over an anonymous sealed memfd. */
/*
 * The shm: listener's rings (transport/shm.c): uipc__ring_memfd makes an
 * anonymous ring file, formatted with p and sealed against resizing (the
 * descriptor, or -errno); uipc__ring_attach_fd takes side `side` of such a
 * file, which may come from another process (it must carry the seals and
 * the side must never have been used: -EBADMSG, -EBUSY), with bell, the
 * connected socket to the peer, as its doorbell (the endpoint owns bell
 * from then on, on success only).  A peer side never taken while the
 * connection hangs up counts as gone.
 */
int uipc__ring_memfd(const struct uipc__ring_params *p);
int uipc__ring_attach_fd(struct uipc__ring_ep *ep, int fd, unsigned side,
                         const struct uipc__ring_params *p, int bell);

/*
 * The poll group of a shm: listener's channels (uipc__pollgroup, internal.h):
 * one epoll set holding every accepted channel's connection socket (its
 * doorbell and liveness link), edge-triggered, so that uipc_poll over any
 * number of them arms their rings with memory stores and one fence and
 * sleeps in one epoll_wait; a hang-up is noted in the member and reported
 * by the next look at that channel.  Made by uipc_listen (NULL on failure:
 * -errno in *err), joined by each accepted channel, released by the last of
 * the listener and its channels; used by the process that made it only.
 */
struct uipc__ring_hub;
struct uipc__ring_hub *uipc__ring_hub_new(int *err);
void uipc__ring_hub_unref(struct uipc__ring_hub *h);
/* Puts ep (attached with a connection bell) in h: 0 or -errno. */
int uipc__ring_hub_join(struct uipc__ring_hub *h, struct uipc__ring_ep *ep);

int uipc__ring_pair(struct uipc__ring_ep *a, struct uipc__ring_ep *b,
                    const struct uipc__ring_params *p);

/*
 * Removes a stale name: -ENOENT if absent, -EADDRINUSE while its owner
 * (persistent: either side) is alive, -EBADMSG if it is not a ring.
 * force: removes a live one too (still only a ring or a marked region).
 */
int uipc__ring_unlink_at(int dirfd, const char *name, bool persistent, bool force);

/*
 * probe: emits a uipc_list row for each ring (by its magic) or marked
 * region in dir, named uri_prefix + file name, judged as
 * uipc__ring_unlink_at would (persistent: live while either side holds).
 */
int uipc__ring_probe_dir(const char *dir, const char *scheme, const char *uri_prefix,
                         bool persistent, uipc__probe_emit emit, void *arg);
/* The same for one entry of a walk whose w is the first member of this
 * (shm: walks /dev/shm itself, for its services' sockets). */
struct uipc__ring_walk {
    struct uipc__probe_walk w;
    const char *scheme, *prefix;
    bool persistent;
};
int uipc__ring_probe_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                         const struct stat *st);

/*
 * Releases everything.  Returns true when this process held the last
 * reference to the side (the peer was told, at once); false after fork
 * in a process that did not use it (the peer is left alone).
 */
bool uipc__ring_ep_close(struct uipc__ring_ep *ep);

/* The message operations, with the contract of struct uipc_transport. */
ssize_t uipc__ring_send(struct uipc__ring_ep *ep, const void *msg, size_t len,
                        const struct uipc__deadline *dl);
ssize_t uipc__ring_recv(struct uipc__ring_ep *ep, void *buf, size_t cap,
                        const struct uipc__deadline *dl);
int uipc__ring_send_reserve(struct uipc__ring_ep *ep, void **buf, size_t len,
                            const struct uipc__deadline *dl);
int uipc__ring_send_commit(struct uipc__ring_ep *ep, size_t len);
ssize_t uipc__ring_recv_peek(struct uipc__ring_ep *ep, const void **buf,
                             const struct uipc__deadline *dl);
int uipc__ring_recv_release(struct uipc__ring_ep *ep);
/* The stable level-triggered poll descriptor, created on first use. */
int uipc__ring_pollfd(struct uipc__ring_ep *ep);

/*
 * The channel of shm: and mmap: and the operations both put in their
 * transport tables (contract: struct uipc_transport).  path: the file the
 * owner removes at close ("" for a persistent ring or a pair).
 */
struct uipc__ring_channel {
    struct uipc_channel base;
    struct uipc__ring_ep ep;
    char path[PATH_MAX];
};

ssize_t uipc__ring_ch_send(struct uipc_channel *ch, const void *msg, size_t len,
                           const uipc_msginfo *info, struct uipc__deadline *dl);
ssize_t uipc__ring_ch_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                           struct uipc__deadline *dl);
int uipc__ring_ch_close(struct uipc_channel *ch, bool remove);
int uipc__ring_ch_pollfd(struct uipc_channel *ch);
int uipc__ring_ch_send_reserve(struct uipc_channel *ch, void **buf, size_t len,
                               struct uipc__deadline *dl);
int uipc__ring_ch_send_commit(struct uipc_channel *ch, size_t len);
ssize_t uipc__ring_ch_recv_peek(struct uipc_channel *ch, const void **buf,
                                struct uipc__deadline *dl);
int uipc__ring_ch_recv_release(struct uipc_channel *ch);
/* uipc_poll (internal.h: poll_ready, poll_spin_ns); the spin is ?spin=. */
int uipc__ring_poll_ready(struct uipc__ring_ep *ep, int events, struct uipc__pollwait *w);
int uipc__ring_ch_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w);
int64_t uipc__ring_ch_poll_spin_ns(const struct uipc_channel *ch);
struct uipc__pollgroup *uipc__ring_ch_poll_group(const struct uipc_channel *ch);

#endif /* UIPC_RING_EP_H */
