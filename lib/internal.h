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
#include "uri.h"
#include "wait.h"

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
};

struct uipc_listener {
    const struct uipc_transport *tp;
    pid_t opener;
};

/* Message attributes a transport honours (struct uipc_transport.attrs). */
enum {
    UIPC__ATTR_PRIORITY = 1 << 0, /* uipc_msginfo.priority on send, reported on recv */
    UIPC__ATTR_TYPE = 1 << 1      /* uipc_msginfo.type on send and as a recv filter */
};

/*
 * A transport: one file in lib/transport/, exporting exactly this table.
 * Operations marked optional may be NULL (the core answers -ENOTSUP).
 * Every operation returns 0 or a count on success and a negative errno on
 * failure; none returns -EINTR.
 */
struct uipc_transport {
    const char *scheme;          /* lowercase, without ':' */
    size_t size;                 /* sizeof the transport's channel struct */
    size_t listener_size;        /* sizeof its listener struct, 0 if none */
    const char *const *keys;     /* query keys accepted, NULL-terminated; NULL = none */
    unsigned attrs;              /* UIPC__ATTR_* it honours; the core refuses the rest */

    /* Attach (flags without UIPC_CREATE) or create the rendezvous.  Must set
     * ch->max_msg.  A failure releases everything acquired.  Optional only
     * for pair-only transports. */
    int (*open)(struct uipc_channel *ch, const struct uipc__uri *uri, int flags);
    /* Two connected endpoints in this process.  Optional. */
    int (*pair)(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *uri);
    /* Send len <= max_msg bytes; info is never NULL, and holds only the
     * attributes in attrs (the core refused others).  Returns len,
     * -EAGAIN/-ETIMEDOUT, -EPIPE. */
    ssize_t (*send)(struct uipc_channel *ch, const void *msg, size_t len,
                    const uipc_msginfo *info, struct uipc__deadline *dl);
    /* Receive one message; info is never NULL (filter in, attributes out;
     * the core zeroes what the transport does not honour).  Returns its
     * length, -EMSGSIZE (message stays queued), -EPIPE at end. */
    ssize_t (*recv)(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                    struct uipc__deadline *dl);
    /* Release everything.  remove: the core's verdict on the rendezvous
     * (ch->owner, in the process that opened the handle: rendezvous.h);
     * when true the transport removes what it created, and only that
     * (compared by inode).  Never blocks beyond a bounded flush.  The core
     * frees the struct afterwards. */
    int (*close)(struct uipc_channel *ch, bool remove);
    /* Remove a stale rendezvous named by uri.  Optional. */
    int (*unlink)(const struct uipc__uri *uri);
    /* Stable descriptor that polls readable when a message may wait.
     * Optional: a transport with nothing the kernel can poll leaves it NULL. */
    int (*pollfd)(const struct uipc_channel *ch);
    /* Kernel-verified peer credentials.  Optional. */
    int (*peer_cred)(const struct uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid);

    /* Native zero-copy, optional: when NULL the core emulates with a copy. */
    int (*send_reserve)(struct uipc_channel *ch, void **buf, size_t len, struct uipc__deadline *dl);
    int (*send_commit)(struct uipc_channel *ch, size_t len);
    ssize_t (*recv_peek)(struct uipc_channel *ch, const void **buf, struct uipc__deadline *dl);
    int (*recv_release)(struct uipc_channel *ch);

    /* Listeners, optional. */
    int (*listen)(struct uipc_listener *l, const struct uipc__uri *uri, int flags);
    /* Accept into ch (allocated with size bytes, base filled). */
    int (*accept)(struct uipc_listener *l, struct uipc_channel *ch, struct uipc__deadline *dl);
    /* remove: as for close (the process that made the listener). */
    int (*listener_close)(struct uipc_listener *l, bool remove);
    int (*listener_pollfd)(const struct uipc_listener *l);
};

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

#endif /* UIPC_INTERNAL_H */
