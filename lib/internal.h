/* SPDX-License-Identifier: MIT */
/*
 * Internal core of libuipc: the channel base, the transport operations table
 * and the declarations shared between the files of lib/.  Nothing here is
 * exported; every shared internal name starts with uipc__.
 *
 * How a call flows: uipc.c validates the arguments, parses the URI once
 * (uri.c), finds the transport in the static registry (registry.c), checks
 * the query keys against the transport's list, allocates the transport's
 * channel struct zero-filled and calls the transport's operation with a
 * deadline (wait.c).  A NULL operation becomes -ENOTSUP in the core, so
 * transports never write stubs.
 */
#ifndef UIPC_INTERNAL_H
#define UIPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uipc/uipc.h"
#include "probe.h"
#include "uri.h"
#include "wait.h"

/*
 * One thread per handle (uipc(7), THREADS AND PROCESSES).  Every call on a
 * channel or listener marks the handle with its name for its duration
 * (in_call: a plain store in and out, nothing on the fast path worth
 * counting), so that a close while another thread is blocked inside a
 * call refuses with -EBUSY instead of freeing memory that call still uses.
 * Debug builds (NDEBUG not defined, as in CMake's Debug and the sanitizer
 * builds) also catch two calls at once: the mark is an atomic exchange, and
 * a call that finds another inside aborts with both names (uipc__misuse)
 * instead of corrupting messages.
 */
#ifndef NDEBUG
#define UIPC__DEBUG_THREADS 1
#endif

/* Default and ceiling for ?maxmsg= on transports without a natural limit. */
#define UIPC__DEFAULT_MAXMSG (16u << 20)
#define UIPC__MAXMSG_CEILING (1u << 30)

/*
 * The part of every channel the core owns.  A transport's channel struct
 * embeds this as its first member; the core allocates tp->size bytes,
 * zero-filled, and fills in the base before calling tp->open or tp->pair.
 */
struct uipc_channel {
    const struct uipc_transport *tp;
    /* The handle itself, writable: state a const call creates on first use
     * (the descriptor of uipc_pollfd) is reached through it. */
    struct uipc_channel *self;
    size_t max_msg;  /* set by the transport in open/pair/accept */
    pid_t opener;    /* process that opened the handle (fork detection) */
    bool owner;      /* opened with UIPC_CREATE: removes the rendezvous */

    /* Zero-copy emulation for transports without native reserve/peek. */
    unsigned char *zc_buf;
    size_t zc_cap;
    size_t zc_reserved; /* bytes handed out by send_reserve, 0 if none */
    bool zc_sending;    /* a reservation is outstanding */
    int zc_timeout_ms;  /* emulated reserve: the timeout its commit sends with */
    ssize_t zc_peeked;  /* length of a peeked message, -1 if none */
    _Atomic(const char *) in_call; /* the public call inside, NULL if none */

    char *uri; /* uipc_uri: what a client opens to reach this endpoint */

    /* Publish/subscribe: UIPC_PUB, UIPC_SUB or 0 (a plain channel).  The
     * core refuses a publisher's receives and a subscriber's sends. */
    int pubsub_role;
};

struct uipc_listener {
    const struct uipc_transport *tp;
    pid_t opener;
    _Atomic(const char *) in_call;
    char *uri; /* uipc_listener_uri: what a client opens (port 0 resolved) */
};

/*
 * What uipc_poll sleeps on for one item when nothing is ready (filled by
 * the poll_ready operation): up to two descriptors with poll(2) events, and
 * nap when some readiness has no descriptor to announce it (room in a ring,
 * a System V queue): then uipc_poll wakes up now and then to look again,
 * with a bounded back-off (lib/poll.c).
 */
struct uipc__pollwait {
    int nfds;
    struct uipc__pollwait_fd {
        int fd;
        short events; /* POLLIN, POLLOUT */
    } fds[2];
    bool nap;
};

/*
 * A poll group: channels that uipc_poll arms together and puts to sleep on
 * one descriptor (the channels a shm: listener accepted: lib/ring_ep.c).
 * One thread at a time sleeps on a group (enter/leave); another thread
 * that finds it taken arms its items one by one as before.  Between arm
 * and armed, uipc_poll runs one uipc__fence_heavy for all the items (the
 * sleeper's side of the rings' handshake, ring.c).
 */
struct uipc__pollgroup {
    const struct uipc__pollgroup_ops *ops;
};
struct uipc__pollgroup_ops {
    bool (*enter)(struct uipc__pollgroup *g); /* false: another thread sleeps on it */
    void (*leave)(struct uipc__pollgroup *g);
    /* A look, then (nothing ready) the announcement that ch's consumer
     * sleeps on the group, without the fence: the readiness bits; sets
     * w->nap when some readiness has no wake-up (room for UIPC_POLLOUT). */
    int (*arm)(struct uipc_channel *ch, int events, struct uipc__pollwait *w);
    /* After the fence: the readiness bits, a look at memory only. */
    int (*armed)(struct uipc_channel *ch, int events);
    int (*fd)(struct uipc__pollgroup *g); /* polls readable when a member rang or hung up */
    /* Sleeps on the group up to timeout_ms (-1: forever; 0: collect what
     * is pending) and notes the hang-ups it learns of: >= 0 or -errno. */
    int (*wait)(struct uipc__pollgroup *g, int timeout_ms);
};

/* Adds fd with poll(2) events to w (at most two descriptors). */
void uipc__pollwait_add(struct uipc__pollwait *w, int fd, short events);
/*
 * poll(2) on one descriptor without waiting: the revents (0 when nothing
 * holds), POLLERR when poll itself fails.  For poll_ready operations.
 */
short uipc__poll_fd_now(int fd, short events);

/* Message attributes a transport honours (struct uipc_transport.attrs). */
enum {
    UIPC__ATTR_PRIORITY = 1 << 0, /* uipc_msginfo.priority on send, reported on recv */
    UIPC__ATTR_TYPE = 1 << 1      /* uipc_msginfo.type on send and as a recv filter */
};

/*
 * What a transport's channels guarantee (struct uipc_transport.caps): the
 * one place that says it.  The conformance suite (tests/test_conformance.c)
 * runs its bodies by these bits, and a test (tests/test_registry.c) checks
 * docs/transports.md against them and against the operations present.
 * UIPC__CAP_NAMED_ONLY bits hold for channels made with uipc_open, not for
 * uipc_pair.  What follows from an operation being present (pair, listen,
 * native zero-copy, pollfd) is not restated here: uipc__transport_caps()
 * adds those bits from the table.
 */
enum {
    UIPC__CAP_RELIABLE = 1 << 0,   /* nothing lost, duplicated or reordered */
    UIPC__CAP_BOUNDED = 1 << 1,    /* a sender waits (or -EAGAIN) when the peer does not read */
    UIPC__CAP_PEER_EOF = 1 << 2,   /* peer closed or died and queue drained: recv -EPIPE */
    UIPC__CAP_POLL_EOF = 1 << 3,   /* ... and uipc_pollfd polls readable for it */
    UIPC__CAP_SEND_EPIPE = 1 << 4, /* ... and a send to that peer is -EPIPE */
    UIPC__CAP_N_PARTY = 1 << 5,    /* any number of attachers; no one peer to lose */
    UIPC__CAP_CRED = 1 << 6,       /* uipc_peer_cred gives kernel-verified credentials */
    UIPC__CAP_LOCAL_NAME = 1 << 7, /* named on this machine: a missing one is -ENOENT */
    UIPC__CAP_OWNED = 1 << 8,      /* one live owner; a dead owner's rendezvous is taken over */
    UIPC__CAP_CLIENT_FIRST = 1 << 9, /* the owner learns its peer from the peer's first message */
    UIPC__CAP_PERSISTENT = 1 << 10,  /* the rendezvous and its messages outlive the owner */
    UIPC__CAP_CLOSE_DESTROYS = 1 << 11, /* the owner's close destroys what is still queued */
    /* open takes UIPC_PUB (with UIPC_CREATE) and UIPC_SUB: publish/subscribe
     * (docs/pubsub.md); without it the core answers -ENOTSUP to both. */
    UIPC__CAP_PUBSUB = 1 << 12,
    /* Derived from the operations by uipc__transport_caps(), never declared: */
    UIPC__CAP_PAIR = 1 << 16,     /* .pair: uipc_pair */
    UIPC__CAP_LISTEN = 1 << 17,   /* .listen: uipc_listen, N peers */
    UIPC__CAP_ZEROCOPY = 1 << 18, /* .send_reserve: zero-copy in place (else emulated) */
    UIPC__CAP_POLLFD = 1 << 19,   /* .pollfd: uipc_pollfd (else -ENOTSUP) */
};
#define UIPC__CAP_NAMED_ONLY (UIPC__CAP_LOCAL_NAME | UIPC__CAP_OWNED)
/* What the reliable, connection-like stream and seqpacket transports offer. */
#define UIPC__CAPS_LINK                                                                   \
    (UIPC__CAP_RELIABLE | UIPC__CAP_BOUNDED | UIPC__CAP_PEER_EOF | UIPC__CAP_POLL_EOF | \
     UIPC__CAP_SEND_EPIPE)

/*
 * A transport: one file in lib/transport/, exporting exactly this table,
 * listed in lib/registry.c.  The contract of every member follows; what it
 * does not allow, no transport does.  In general:
 *  - Every operation returns 0 or a count on success and a negative errno
 *    on failure; none returns -EINTR (waits resume with what remains of the
 *    deadline, wait.h) and none raises a signal.
 *  - Mandatory: scheme, size, send, recv, close, a way to make a channel
 *    (open or pair) and pollfd unless the mechanism has nothing to poll
 *    (tests/test_registry.c enforces it).  Every other operation may be
 *    NULL: the core then answers -ENOTSUP (or emulates zero-copy).
 *  - "May block" means: only until the deadline dl passes, then the
 *    deadline's error (-EAGAIN for timeout 0, -ETIMEDOUT otherwise).
 *    Operations without dl never block beyond a bounded, documented time.
 *  - The core validated the arguments (non-NULL pointers, len <= max_msg,
 *    flags) and serialises the calls on one handle.
 * New members go at the end of their group, documented the same way; a
 * NULL member must keep meaning "not offered" so old tables stay valid.
 */
struct uipc_transport {
    const char *scheme;          /* lowercase, without ':'; unique */
    size_t size;                 /* sizeof the transport's channel struct (>= base) */
    size_t listener_size;        /* sizeof its listener struct; 0 if no listen */
    const char *const *keys;     /* query keys accepted, NULL-terminated; NULL = none */
    unsigned attrs;              /* UIPC__ATTR_* it honours; the core refuses the rest */
    unsigned caps;               /* UIPC__CAP_* it guarantees (not the derived ones) */

    /* Attach (flags without UIPC_CREATE) or create the rendezvous
     * (UIPC_CREATE, maybe UIPC_EXCL).  Never blocks (a peer that is not
     * there yet is met by the first send or recv).  Must set ch->max_msg.
     * A failure releases everything acquired and leaves nothing named.
     * NULL only for pair-only transports. */
    int (*open)(struct uipc_channel *ch, const struct uipc__uri *uri, int flags);
    /* Two connected endpoints in this process, for related processes.
     * Never blocks.  May be NULL. */
    int (*pair)(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *uri);
    /* Send len <= max_msg bytes; info is never NULL, and holds only the
     * attributes in attrs (the core refused others).  May block (room,
     * peer).  Returns len, -EAGAIN/-ETIMEDOUT, -EPIPE.  Mandatory. */
    ssize_t (*send)(struct uipc_channel *ch, const void *msg, size_t len,
                    const uipc_msginfo *info, struct uipc__deadline *dl);
    /* Receive one message; info is never NULL (filter in, attributes out;
     * the core zeroes what the transport does not honour).  May block.
     * Returns its length, -EMSGSIZE (message stays queued), -EPIPE at end.
     * Mandatory. */
    ssize_t (*recv)(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                    struct uipc__deadline *dl);
    /* Release everything.  remove: the core's verdict on the rendezvous
     * (ch->owner, in the process that opened the handle: rendezvous.h);
     * when true the transport removes what it created, and only that
     * (compared by inode).  Never blocks beyond a bounded flush
     * (UIPC__CLOSE_FLUSH_MS).  The core frees the struct afterwards; the
     * return value is informational (everything is released either way).
     * Mandatory. */
    int (*close)(struct uipc_channel *ch, bool remove);
    /* Remove a stale rendezvous named by uri: 0, -ENOENT, -EADDRINUSE while
     * its owner lives, -EBADMSG for what is not libuipc's.  force
     * (uipc_remove with UIPC_FORCE): remove it even while its owner lives,
     * still only what validates as libuipc's.  Never blocks.  May be NULL
     * (nothing named: -ENOTSUP). */
    int (*unlink)(const struct uipc__uri *uri, bool force);
    /* Stable descriptor that polls readable when a message (or the end)
     * may wait; the same one for the handle's life, owned by the handle,
     * which may create it on the first call (the core passes ch->self, so
     * the public const handle is never cast).  Never blocks.  May be NULL only when the mechanism has nothing the
     * kernel can poll (sysvmq:). */
    int (*pollfd)(struct uipc_channel *ch);
    /* Kernel-verified peer credentials; -ENOTCONN before the peer came.
     * Never blocks.  May be NULL. */
    int (*peer_cred)(const struct uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid);

    /* Native zero-copy: both members of a pair or neither (the core
     * emulates with a copy when NULL).  reserve may block like send and
     * returns 0; commit and release never block and return 0 or -EINVAL;
     * peek may block like recv and returns the length. */
    int (*send_reserve)(struct uipc_channel *ch, void **buf, size_t len, struct uipc__deadline *dl);
    int (*send_commit)(struct uipc_channel *ch, size_t len);
    ssize_t (*recv_peek)(struct uipc_channel *ch, const void **buf, struct uipc__deadline *dl);
    int (*recv_release)(struct uipc_channel *ch);

    /* Listeners: all four or none.  listen never blocks (flags as open,
     * always with UIPC_CREATE); accept may block and fills ch (allocated
     * with size bytes, base filled), returning 0; listener_close never
     * blocks, remove as for close (the process that made the listener);
     * listener_pollfd never blocks and polls readable when accept would
     * not block. */
    int (*listen)(struct uipc_listener *l, const struct uipc__uri *uri, int flags);
    int (*accept)(struct uipc_listener *l, struct uipc_channel *ch, struct uipc__deadline *dl);
    int (*listener_close)(struct uipc_listener *l, bool remove);
    int (*listener_pollfd)(const struct uipc_listener *l);

    /* URIs, optional (uipc_uri, uipc_listener_uri).  Given the text the
     * endpoint was opened with, write the URI a client should open into buf
     * (cap bytes) and return 1, or return 0 to keep the text as given (the
     * default when NULL); a negative errno on failure.  tcp: and udp:
     * resolve port 0 here. */
    int (*uri)(const struct uipc_channel *ch, const char *given, char *buf, size_t cap);
    int (*listener_uri)(const struct uipc_listener *l, const char *given, char *buf, size_t cap);

    /* uipc_poll (lib/poll.c), optional.  Returns the UIPC_POLL* bits that
     * hold now, never blocking: those of events (UIPC_POLLIN, UIPC_POLLOUT)
     * on which a call with timeout 0 would not block -- after UIPC_POLLIN a
     * receive returns a message or an error at once, never -EAGAIN -- plus
     * UIPC_POLLHUP once the peer is known to be gone.  Without a system
     * call where the transport can (rings).  With w non-NULL the caller is
     * about to sleep: arm the wake-ups that need arming (ring doorbells),
     * look once more, and when still nothing holds say in *w what to sleep
     * on.  A negative errno only when it cannot tell at all.  Without this
     * operation uipc_poll polls uipc_pollfd for UIPC_POLLIN and reports
     * UIPC_POLLOUT always. */
    int (*poll_ready)(struct uipc_channel *ch, int events, struct uipc__pollwait *w);
    /* How long (ns) uipc_poll may spin on poll_ready without arming, when
     * a look costs no system call (rings: their ?spin=); optional, NULL or
     * 0 means never.  uipc_poll spins only when every item allows it. */
    int64_t (*poll_spin_ns)(const struct uipc_channel *ch);
    /* The poll group ch belongs to (struct uipc__pollgroup), NULL if none;
     * optional. */
    struct uipc__pollgroup *(*poll_group)(const struct uipc_channel *ch);

    /* Rendezvous on the machine (uipc_list; lib/probe.h has the helpers).
     * dir NULL: the transport's system-wide namespace, if it has one;
     * else an absolute directory the caller checked, for transports whose
     * names are paths (one level; the others return 0 at once).  Calls
     * emit once per object that validates as this transport's (magic,
     * mark, naming), filled by uipc__probe_fill, and stops when emit
     * returns non-zero, returning that value; 0 at the end, -errno when
     * the namespace cannot be read (one that does not exist is empty).
     * Every URI it emits is one that unlink accepts.  Never blocks.  May
     * be NULL (nothing named). */
    int (*probe)(const char *dir, int (*emit)(const uipc_rdvinfo *info, void *arg), void *arg);
};

/* uipc.c, debug builds: reports two threads on one handle and aborts. */
_Noreturn void uipc__misuse(const char *call, const char *inside);

/* tp->caps plus the bits that follow from the operations present. */
unsigned uipc__transport_caps(const struct uipc_transport *tp);

/* registry.c */
const struct uipc_transport *uipc__transport_find(const char *scheme);
extern const struct uipc_transport *const uipc__transports[];
extern const size_t uipc__ntransports;

/* fd.c: small descriptor helpers shared by the transports. */
/* close() that keeps errno and ignores EINTR (Linux always releases). */
void uipc__close_fd(int fd);
/*
 * Sizes a new shared file to size bytes and reserves the memory or disk
 * behind it now (posix_fallocate), so that running out is -ENOSPC here
 * instead of SIGBUS at the first touch of the mapping.  Falls back to
 * ftruncate where the file system cannot reserve.
 */
int uipc__fd_allocate(int fd, uint64_t size);
/* The unsigned number in a /proc file (a kernel limit), or fallback. */
uint64_t uipc__proc_u64(const char *path, uint64_t fallback);

#endif /* UIPC_INTERNAL_H */
