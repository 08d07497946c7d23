/* SPDX-License-Identifier: MIT */
/*
 * libuipc — one message API over every classic Linux IPC mechanism.
 *
 * A channel is one endpoint of a full-duplex, reliable, ordered,
 * message-oriented link, opened by URI ("shm://orders", "unix:///run/x.sock",
 * "tcp://127.0.0.1:7000", ...).  Changing the URI changes the transport and
 * nothing else.  The comments in this header are the normative contract;
 * uipc(7) explains the URI grammar and the transports in prose.
 *
 * Conventions that hold for every call:
 *  - Failure is a negative errno value (-EINVAL, -ETIMEDOUT, ...); errno is
 *    never used to report a result.  Success is 0 or a count.
 *  - No call raises SIGPIPE, leaks a descriptor across exec, or returns
 *    -EINTR: an interrupted wait resumes with the time that remains.
 *  - timeout_ms: UIPC_FOREVER (-1) waits as long as needed, 0 never waits
 *    (-EAGAIN when the call would block), > 0 waits at most that long
 *    (-ETIMEDOUT).  Any other negative value is -EINVAL, before the call
 *    does anything.
 *  - A handle is used by one thread at a time; different handles are
 *    independent.  Two calls on one handle at once are undefined (debug
 *    builds, without NDEBUG, abort naming both); a close while another
 *    thread is blocked in a call on the handle is -EBUSY and closes nothing
 *    (uipc(7), THREADS AND PROCESSES).
 */
#ifndef UIPC_UIPC_H
#define UIPC_UIPC_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of this header; uipc_version() gives the library's.  These
 * three lines are the only place the version is written: CMake reads them,
 * and the other macros are derived from them.  UIPC_VERSION_NUMBER is
 * MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time checks such as
 * "#if UIPC_VERSION_NUMBER >= 200" (0.2.0 or later).
 */
#define UIPC_VERSION_MAJOR 0
#define UIPC_VERSION_MINOR 1
#define UIPC_VERSION_PATCH 0
#define UIPC_VERSION_NUMBER \
    (UIPC_VERSION_MAJOR * 10000 + UIPC_VERSION_MINOR * 100 + UIPC_VERSION_PATCH)
#define UIPC_STRINGIFY_(x) #x
#define UIPC_VERSION_JOIN_(major, minor, patch) \
    UIPC_STRINGIFY_(major) "." UIPC_STRINGIFY_(minor) "." UIPC_STRINGIFY_(patch)
#define UIPC_VERSION_STRING \
    UIPC_VERSION_JOIN_(UIPC_VERSION_MAJOR, UIPC_VERSION_MINOR, UIPC_VERSION_PATCH)

#if defined(UIPC_BUILDING) && defined(__GNUC__)
#define UIPC_API __attribute__((visibility("default")))
#else
#define UIPC_API
#endif

/* ------------------------------------------------------------------ */
/* Channels                                                            */
/* ------------------------------------------------------------------ */

typedef struct uipc_channel uipc_channel;
typedef struct uipc_listener uipc_listener;

enum {
    UIPC_CREATE = 1 << 0, /* create the rendezvous and own it */
    UIPC_EXCL = 1 << 1    /* with UIPC_CREATE: -EEXIST if it already exists */
};

#define UIPC_FOREVER (-1)

/*
 * Opens one endpoint of the channel named by uri.  With UIPC_CREATE it makes
 * the rendezvous (FIFO files, socket, shared memory name, queue) and becomes
 * its owner; a stale rendezvous whose owner is gone is taken over, a live one
 * is -EADDRINUSE (with UIPC_EXCL any existing one is -EEXIST).  Without
 * UIPC_CREATE it attaches to an existing rendezvous, -ENOENT if there is
 * none.  Opening never blocks for the peer: operations that need the peer
 * wait for it within their own timeout.  A malformed URI is -EINVAL, an
 * unknown scheme -EPROTONOSUPPORT, an unknown or ill-typed query key -EINVAL.
 */
UIPC_API int uipc_open(uipc_channel **out, const char *uri, int flags);

/*
 * Makes two connected endpoints in this process, for related processes: fork
 * afterwards and let each process close the end it does not use.  Supported
 * by pipe:, unix: (stream and seqpacket) and shm:; -ENOTSUP on every other
 * transport.
 */
UIPC_API int uipc_pair(const char *uri, uipc_channel **a, uipc_channel **b);

/*
 * Sends one message of len bytes (0 is valid).  Returns len, -EMSGSIZE when
 * len > uipc_max_msg(ch), -EPIPE when the peer has closed or died.  A message
 * is either sent whole or not at all: once any byte of it has left, it will
 * be delivered whole even if the call returns on its timeout.
 */
UIPC_API ssize_t uipc_send(uipc_channel *ch, const void *msg, size_t len, int timeout_ms);

/*
 * Receives one message into buf and returns its length.  A message larger
 * than cap gives -EMSGSIZE and stays queued.  After the peer has closed or
 * died and every queued message was read, returns -EPIPE.
 */
UIPC_API ssize_t uipc_recv(uipc_channel *ch, void *buf, size_t cap, int timeout_ms);

/*
 * Releases everything the handle holds; the owner of a named rendezvous
 * removes it unless the transport is persistent (mmap:, file:).  Always
 * frees the handle, even when it reports an error.  Closing a handle in a
 * process that did not open or use it (after fork) never signals the peer.
 */
UIPC_API int uipc_close(uipc_channel *ch);

/* Removes a stale rendezvous by URI (uipc_remove(uri, 0), so "sem:NAME"
 * too).  -ENOENT if there is none, -EADDRINUSE while its owner lives. */
UIPC_API int uipc_unlink(const char *uri);

/* ---- rendezvous on this machine: listing and removing (0.2) ---- */

/* uipc_remove flags. */
enum {
    UIPC_FORCE = 1 << 0 /* remove even while its owner lives */
};

/* uipc_rdvinfo.state */
enum {
    UIPC_RDV_LIVE = 1,   /* its owner holds it (or, sem:, a process has it open) */
    UIPC_RDV_STALE = 2,  /* the owner is gone: uipc_remove(uri, 0) removes it */
    UIPC_RDV_CORRUPT = 3 /* libuipc's, damaged, nobody holds it: removable */
};

#define UIPC_RDV_URI_MAX 4224 /* room for any URI uipc_list reports, NUL included */

/* One rendezvous found by uipc_list. */
typedef struct uipc_rdvinfo {
    char scheme[16];            /* "shm", "fifo", ..., or "sem" */
    char uri[UIPC_RDV_URI_MAX]; /* canonical, no query: uipc_remove(uri, ...) takes it */
    int state;                  /* UIPC_RDV_* */
    pid_t pid;                  /* a process holding it live; 0 unknown or none */
    uid_t uid;                  /* the object's owner uid */
    unsigned mode;              /* permission bits */
    long long size;             /* bytes (queues: bytes queued); -1 when it has none */
} uipc_rdvinfo;

/*
 * Calls fn(info, arg) for each rendezvous that validates as libuipc's
 * (magic, mark or naming; foreign objects are never reported), in no
 * particular order.  where selects:
 *   NULL        every kind's system-wide namespace: shm: rings and regions,
 *               sem: semaphores, mq: queue pairs, sysvmq: keyed queues;
 *   "SCHEME:"   one kind's namespace ("sem:" included);
 *   "/DIR"      the path-named kinds in that directory, one level (fifo:
 *               pairs, unix: socket files, file: spool pairs, mmap: rings);
 *   a URI       that one rendezvous, if it exists (query ignored).
 * fn returning non-zero stops the walk, and uipc_list returns that value.
 * Otherwise 0, or -EINVAL (fn NULL, bad where), -EPROTONOSUPPORT (unknown
 * scheme), -ENOTSUP (a scheme that names nothing: tcp:, udp:, pipe:),
 * -ENOENT/-ENOTDIR/-EACCES (DIR).  Never blocks; reads /proc to find pids.
 */
UIPC_API int uipc_list(const char *where, int (*fn)(const uipc_rdvinfo *info, void *arg),
                       void *arg);

/*
 * uipc_unlink with flags: 0 removes a stale (or corrupt) rendezvous and
 * refuses a live one with -EADDRINUSE; UIPC_FORCE removes its names even
 * while the owner lives (the owner keeps what it has open, new peers no
 * longer find it).  Takes every URI uipc_list reports, "sem:NAME" too.
 * Never removes what is not libuipc's (-EBADMSG).  -ENOENT if none.
 */
UIPC_API int uipc_remove(const char *uri, int flags);

/* A static English text for a negative (or positive) errno value. */
UIPC_API const char *uipc_strerror(int err);
/* The library's version, "MAJOR.MINOR.PATCH"; compare with UIPC_VERSION_STRING. */
UIPC_API const char *uipc_version(void);
/* The channel's scheme without the colon: "shm", "unix", ... */
UIPC_API const char *uipc_scheme(const uipc_channel *ch);
/* The largest message this channel carries, in bytes. */
UIPC_API size_t uipc_max_msg(const uipc_channel *ch);

/*
 * A descriptor for poll/epoll that polls readable whenever a message may be
 * waiting; after it does, uipc_recv(ch, ..., 0) returns a message or -EAGAIN.
 * Spurious wake-ups are allowed, missed ones are not.  The descriptor stays
 * the same for the life of the channel and belongs to it: do not close it.
 */
UIPC_API int uipc_pollfd(const uipc_channel *ch);

/*
 * The peer's pid, uid and gid where the kernel vouches for them
 * (SO_PEERCRED on unix:); -ENOTSUP where it cannot.  Any of the out
 * pointers may be NULL.
 */
UIPC_API int uipc_peer_cred(const uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid);

/* ------------------------------------------------------------------ */
/* Listeners                                                           */
/* ------------------------------------------------------------------ */

/*
 * A server that accepts many peers, each on its own channel (unix:, tcp:,
 * and shm:, where each client gets rings of its own).  Flags as for
 * uipc_open with UIPC_CREATE implied.  -ENOTSUP on transports
 * that are not connection-oriented.  "tcp://host:0" binds a port the
 * kernel chooses: uipc_listener_uri tells it.
 */
UIPC_API int uipc_listen(uipc_listener **out, const char *uri, int flags);
/* Waits for the next peer and returns its channel in *out. */
UIPC_API int uipc_accept(uipc_listener *l, uipc_channel **out, int timeout_ms);
/* Stops listening and removes the rendezvous; channels already accepted live on. */
UIPC_API int uipc_listener_close(uipc_listener *l);
/* A descriptor that polls readable when uipc_accept may not block. */
UIPC_API int uipc_listener_pollfd(const uipc_listener *l);

/*
 * The URI a client opens to reach this listener or channel: the text it was
 * opened with, except that port 0 (tcp:, udp:) is replaced by the address
 * and port the kernel bound ("tcp://127.0.0.1:41234"); for unix:@name and
 * shm: it is the name.  A channel from uipc_accept reports its listener's
 * URI (the service it belongs to), one from uipc_pair the URI given to
 * uipc_pair.  The string belongs to the handle and lives as long as it;
 * NULL for a NULL handle.
 */
UIPC_API const char *uipc_listener_uri(const uipc_listener *l);
UIPC_API const char *uipc_uri(const uipc_channel *ch);

/* ------------------------------------------------------------------ */
/* Waiting on many channels                                            */
/* ------------------------------------------------------------------ */

enum { UIPC_POLLIN = 1, UIPC_POLLOUT = 2, UIPC_POLLHUP = 4 };

typedef struct uipc_pollitem {
    uipc_channel *ch;  /* a channel ...                               */
    uipc_listener *l;  /* ... or a listener (exactly one is non-NULL) */
    short events;      /* UIPC_POLLIN and/or UIPC_POLLOUT             */
    short revents;     /* out; UIPC_POLLHUP: the peer is gone         */
} uipc_pollitem;

/*
 * Waits until at least one of the n items is ready, or timeout_ms passes,
 * over any mix of transports, and returns how many items have revents set
 * (-EAGAIN for a timeout of 0, -ETIMEDOUT otherwise).  Level-triggered:
 * after UIPC_POLLIN, uipc_recv(ch, ..., 0) returns a message or -EPIPE
 * (uipc_accept(l, ..., 0) a client), except on queues shared with other
 * readers (mq:, sysvmq:), where another reader may have taken it.
 * UIPC_POLLOUT: a send of a short message would not wait now (a long one
 * may still).  UIPC_POLLHUP is reported whether asked for or not, once the
 * peer has closed or died (a receive then drains what it sent, then
 * -EPIPE).  On shm: a message already waiting is found without a system
 * call.  -EINVAL for items NULL with n > 0, an item with both or neither
 * of ch and l, or an event bit other than these three.  With n == 0 it
 * just waits out the timeout.
 */
UIPC_API int uipc_poll(uipc_pollitem *items, size_t n, int timeout_ms);

/* ------------------------------------------------------------------ */
/* Publish / subscribe                                                 */
/* ------------------------------------------------------------------ */

/*
 * Flags of uipc_open.  uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB) is a
 * publisher (it owns the rendezvous); uipc_open(&s, uri, UIPC_SUB) is a
 * subscriber (-ENOENT while there is no publisher).  UIPC_PUB without
 * UIPC_CREATE, UIPC_SUB with UIPC_CREATE, or both, is -EINVAL; a transport
 * without publish/subscribe is -ENOTSUP (shm:, unix: and tcp: have it).
 *
 *  - uipc_send on the publisher publishes one message to every subscriber
 *    attached at that moment; a subscriber receives, in order, every message
 *    published after its uipc_open returned.  A publisher's uipc_recv and a
 *    subscriber's uipc_send are -ENOTSUP.
 *  - ?overflow=drop (the default): the publisher never waits for a
 *    subscriber.  A subscriber that falls further behind than the channel
 *    holds loses the oldest messages; its next receive returns -EOVERFLOW
 *    once, and the following ones continue, in order, with the oldest
 *    message still held.  ?overflow=block: the publisher waits, within its
 *    timeout, until every live subscriber has room; a dead subscriber never
 *    blocks it.
 *  - The publisher's close or death: subscribers receive what is left, then
 *    -EPIPE.  A subscriber's close or death disturbs no one and leaves
 *    nothing behind.
 *  - Zero-copy works on both sides (uipc_send_reserve on the publisher,
 *    uipc_recv_peek on a subscriber); uipc_pollfd works for subscribers.
 */
enum {
    UIPC_PUB = 1 << 2, /* with UIPC_CREATE: a publisher */
    UIPC_SUB = 1 << 3  /* a subscriber */
};

/* ------------------------------------------------------------------ */
/* Message attributes                                                  */
/* ------------------------------------------------------------------ */

typedef struct uipc_msginfo {
    unsigned priority; /* mq: higher first */
    long type;         /* sysvmq: > 0; on recv, 0 = any, > 0 = that type,
                          < 0 = lowest type <= |type| */
} uipc_msginfo;

/*
 * As uipc_send/uipc_recv with attributes.  info may be NULL (defaults).  On
 * receive, info is the filter going in and the message's attributes coming
 * out.  A transport that cannot honour a non-default attribute returns
 * -ENOTSUP.
 */
UIPC_API ssize_t uipc_sendmsg(uipc_channel *ch, const void *msg, size_t len,
                              const uipc_msginfo *info, int timeout_ms);
UIPC_API ssize_t uipc_recvmsg(uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                              int timeout_ms);

/* ------------------------------------------------------------------ */
/* Zero-copy                                                           */
/* ------------------------------------------------------------------ */

/*
 * uipc_send_reserve hands out len bytes of writable space (inside the ring on
 * shm: and mmap:, an internal buffer elsewhere); uipc_send_commit sends the
 * first len bytes of it (len <= reserved).  The peer never sees a message
 * before its commit.  uipc_recv_peek returns the next message in place and
 * its length; it stays valid until uipc_recv_release, which consumes it.
 */
UIPC_API int uipc_send_reserve(uipc_channel *ch, void **buf, size_t len, int timeout_ms);
UIPC_API int uipc_send_commit(uipc_channel *ch, size_t len);
UIPC_API ssize_t uipc_recv_peek(uipc_channel *ch, const void **buf, int timeout_ms);
UIPC_API int uipc_recv_release(uipc_channel *ch);

/* ------------------------------------------------------------------ */
/* Synchronisation and shared regions                                  */
/* ------------------------------------------------------------------ */

/* Raw shared memory: "shm://name?size=" or "mmap:///path?size=". */
typedef struct uipc_region uipc_region;
UIPC_API int uipc_region_open(uipc_region **out, const char *uri, int flags);
UIPC_API void *uipc_region_ptr(const uipc_region *r);
UIPC_API size_t uipc_region_size(const uipc_region *r);
UIPC_API int uipc_region_close(uipc_region *r);

/* A named counting semaphore shared by unrelated processes. */
typedef struct uipc_sem uipc_sem;
UIPC_API int uipc_sem_open(uipc_sem **out, const char *name, unsigned initial, int flags);
UIPC_API int uipc_sem_wait(uipc_sem *s, int timeout_ms);
UIPC_API int uipc_sem_post(uipc_sem *s);
UIPC_API int uipc_sem_close(uipc_sem *s);
UIPC_API int uipc_sem_unlink(const char *name);

/*
 * A process-shared robust mutex that lives inside a region.  -EOWNERDEAD from
 * uipc_mutex_lock: the previous owner died holding it; the caller owns it now.
 */
typedef struct uipc_mutex {
#if defined(__cplusplus)
    alignas(64) unsigned char opaque[64];
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
    _Alignas(64) unsigned char opaque[64];
#else
    unsigned char opaque[64] __attribute__((aligned(64)));
#endif
} uipc_mutex;
UIPC_API int uipc_mutex_init(uipc_mutex *m);
UIPC_API int uipc_mutex_lock(uipc_mutex *m, int timeout_ms);
UIPC_API int uipc_mutex_unlock(uipc_mutex *m);

/*
 * A real-time signal carrying an int.  uipc_notify_block blocks the signal in
 * the calling thread: call it before creating threads so that every thread
 * inherits the mask.
 */
UIPC_API int uipc_notify_block(void);
UIPC_API int uipc_notify(pid_t pid, int value);
UIPC_API int uipc_notify_wait(pid_t *from, int *value, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* UIPC_UIPC_H */
