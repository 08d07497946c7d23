/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring used by shm: and mmap:, written once.
 *
 * One mapping holds a header page and two single-producer/single-consumer
 * rings, one per direction (docs/shm.md draws the layout).  Side 0 is the
 * creator, side 1 the attacher; ring s carries side s's messages to its
 * peer.  Positions are 64-bit byte counts that only grow.  A record is a
 * 16-byte header and the payload padded to 16 bytes; a record never wraps:
 * when it does not fit before the end of the data area, the producer
 * writes a skip record there and starts again at offset 0.  The header's
 * first word is the commit word, position | tag, written last: the
 * consumer polls the record itself (the line it must read anyway) instead
 * of a shared head index, so it never sees a message before its commit and
 * a writer killed mid-record never exposes any of it.  Stale bytes cannot
 * pass for a commit: a position appears in a commit word only once, and
 * before each commit the producer zeroes the next header slot while it is
 * free space.  The consumer publishes tail, the producer reads it only when
 * its cached copy says the ring is full.
 *
 * Two layers:
 *  - struct uipc__ring: the lock-free ring itself, non-blocking (-EAGAIN
 *    when empty or full), pure memory operations and C11 atomics.  Every
 *    value read from the shared mapping is validated: a corrupt index or
 *    record is -EBADMSG, never an out-of-bounds access.
 *  - struct uipc__ring_ep: a channel endpoint over a whole mapping: the
 *    header, waiting (bounded adaptive spin, then a shared futex), peer
 *    liveness (OFD locks), the poll doorbell, and creating or attaching the
 *    file.  shm.c and mmap.c only find the file.
 */
#ifndef UIPC_RING_H
#define UIPC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "framing.h"
#include "rendezvous.h"
#include "uri.h"
#include "wait.h"

#define UIPC__RING_MAGIC 0x474e495243504955ull /* "UIPCRING" in little-endian memory */
#define UIPC__RING_VERSION 1u
#define UIPC__RING_LINE 128u      /* two 64-byte lines: the adjacent-line prefetcher pairs them */
#define UIPC__RING_HDR_SIZE 4096u /* header page; data areas follow */
#define UIPC__RING_REC_HDR 16u    /* record header; payloads start 16-byte aligned */
#define UIPC__RING_MIN_SIZE 4096u
#define UIPC__RING_MAX_SIZE (1u << 30)
#define UIPC__RING_DEFAULT_SIZE (1u << 20)
#define UIPC__RING_DEFAULT_SPIN_US 50
#define UIPC__RING_MAX_SPIN_US 1000000

/*
 * A record header: commit word (position | tag), payload length, zero.
 * Tags live in the low 4 bits (positions are 16-aligned).  Tag 0 is an
 * empty (zeroed) slot; a commit word whose position matches with a tag
 * other than these is corruption.
 */
#define UIPC__REC_DATA 1u
#define UIPC__REC_SKIP 2u /* the rest of the data area is unused */
#define UIPC__REC_TAG_MASK 15u

/* Bits of a waiter word (cons_wait, prod_wait). */
#define UIPC__RING_SLEEPING 1u /* blocked in FUTEX_WAIT on this word: FUTEX_WAKE it */
#define UIPC__RING_PARKED 2u   /* consumer polls its doorbell: ring it */

/* A side's state word: generation << 2 | one of these. */
#define UIPC__SIDE_FREE 0u   /* never opened */
#define UIPC__SIDE_OPEN 1u   /* open; alive while its OFD lock is held */
#define UIPC__SIDE_CLOSED 2u /* closed cleanly */

/* Control of one direction: each word on a line of its own. */
struct uipc__ring_ctl {
    _Alignas(UIPC__RING_LINE) _Atomic uint64_t tail; /* consumer's line: bytes released */
    /* Written only when a side goes to sleep, so in the common case both
     * caches hold these lines shared and reading them costs nothing. */
    _Alignas(UIPC__RING_LINE) _Atomic uint32_t cons_wait;
    _Alignas(UIPC__RING_LINE) _Atomic uint32_t prod_wait;
};

struct uipc__ring_side {
    _Alignas(UIPC__RING_LINE) _Atomic uint32_t state;
    _Atomic uint32_t pid; /* who opened it: a poller watches its pidfd */
    /* Non-zero while the side polls: the random part of its doorbell's
     * name (ring.c, bell_addr).  Within the side's line: no layout change. */
    _Atomic uint64_t bell;
};

/*
 * The header page.  The geometry fields are written once by the creator
 * before the file is published and read once (and validated) by each side
 * at attach; nothing trusts them afterwards.
 */
struct uipc__ring_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;   /* UIPC__RING_HDR_SIZE */
    uint64_t ring_size;  /* data bytes per direction, a power of two */
    uint64_t max_msg;    /* largest payload, <= ring_size - UIPC__RING_REC_HDR */
    uint64_t total_size; /* hdr_size + 2 * ring_size */
    uint32_t flags;      /* none defined yet: must be 0 */
    uint32_t reserved;
    uint8_t id[16]; /* random per ring: names the doorbells */
    struct uipc__ring_side side[2];
    struct uipc__ring_ctl ctl[2]; /* ctl[s]: side s produces, side 1-s consumes */
};

/* ---- layer 1: one direction, non-blocking ---- */

struct uipc__ring {
    struct uipc__ring_ctl *ctl;
    unsigned char *data;
    uint64_t size;    /* power of two */
    uint64_t max_msg;
    uint64_t pos;     /* private: where the producer writes / the consumer reads next */
    uint64_t tail;    /* producer: the consumer's tail as last read */
    uint64_t pending; /* producer: bytes reserved at pos; consumer: size of the record peeked */
};

/*
 * Binds r to a direction.  Both sides start from the shared tail; the
 * producer then follows the committed records to find where it stopped
 * (it keeps no shared head).  -EBADMSG for a corrupt tail or record.
 */
int uipc__ring_bind(struct uipc__ring *r, struct uipc__ring_ctl *ctl, unsigned char *data,
                    uint64_t size, uint64_t max_msg, bool producer);

/* Record size for a payload of len bytes. */
static inline uint64_t uipc__ring_rec_size(uint64_t len)
{
    return UIPC__RING_REC_HDR + ((len + 15) & ~(uint64_t)15);
}

/*
 * Producer.  reserve finds len contiguous bytes (writing a skip record when
 * the end of the area is too short) and points *buf at them: 0, -EAGAIN
 * when the ring is full now, -EBADMSG for a corrupt tail.  A skip record is
 * published at once (the consumer must free it for the record to fit), so
 * *cons_bits receives the consumer's waiter bits, as from commit.  commit publishes
 * the first len (<= reserved) bytes as one message and returns the
 * consumer's waiter bits it cleared (0 in the common case): the caller
 * wakes the futex (SLEEPING) and rings the doorbell (PARKED).
 */
int uipc__ring_reserve(struct uipc__ring *r, size_t len, void **buf, uint32_t *cons_bits);
uint32_t uipc__ring_commit(struct uipc__ring *r, size_t len);
/* True when a reserve of len would succeed now or make progress (publish a
 * skip record first); reloads the tail if needed.  A wait condition. */
bool uipc__ring_writable(struct uipc__ring *r, size_t len);

/*
 * Consumer.  peek points *buf at the next message in place and returns its
 * length: -EAGAIN when empty, -EBADMSG for a corrupt index or record.
 * Peeking again returns the same message.  Skip records are consumed on
 * the way; *prod_bits receives the producer's waiter bits that doing so
 * cleared.  release consumes the peeked message and returns the bits.
 */
ssize_t uipc__ring_peek(struct uipc__ring *r, const void **buf, uint32_t *prod_bits);
uint32_t uipc__ring_release(struct uipc__ring *r);
/* True when a record (a message or a skip) is committed at the read position. */
bool uipc__ring_readable(struct uipc__ring *r);

/* ---- layer 2: a channel endpoint over a whole mapping ---- */

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
    bool reserved;       /* a zero-copy reservation is outstanding */
    size_t reserved_len; /* its length */
    bool peeked;         /* a zero-copy peek is outstanding */

    int64_t spin_max_ns; /* ?spin= (0 on a single CPU) */
    int64_t spin_ns;     /* adaptive budget, spin_max_ns / 16 .. spin_max_ns */
    unsigned backoff_pauses; /* pause instructions in ~80 ns, measured at open */
    int64_t next_check_ns; /* rate limit of the liveness check for timeout 0 */

    /* Doorbell (uipc_pollfd); see docs/shm.md. */
    bool named;   /* abstract sockets named by hdr->id; else a socketpair */
    int bell_fd;  /* pair: our end of the socketpair; named: bound once polling */
    int tx_fd;    /* named: unbound datagram socket to ring the peer */
    struct uipc__pidwatch peer_pid; /* named: in the poll set (death wakes pollers) */
    bool polling;
    struct uipc__pollset ps;
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
int uipc__ring_pair(struct uipc__ring_ep *a, struct uipc__ring_ep *b,
                    const struct uipc__ring_params *p);

/*
 * Removes a stale name: -ENOENT if absent, -EADDRINUSE while its owner
 * (persistent: either side) is alive, -EBADMSG if it is not a ring.
 */
int uipc__ring_unlink_at(int dirfd, const char *name, bool persistent);

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

#endif /* UIPC_RING_H */
