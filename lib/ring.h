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
 *  - struct uipc__ring (this header, ring.c): the lock-free ring itself,
 *    non-blocking (-EAGAIN when empty or full), pure memory operations and
 *    C11 atomics.  Every value read from the shared mapping is validated: a
 *    corrupt index or record is -EBADMSG, never an out-of-bounds access.
 *  - struct uipc__ring_ep (ring_ep.h, ring_ep.c): a channel endpoint over a
 *    whole mapping: the header, waiting (bounded adaptive spin, then a
 *    shared futex), peer liveness and publishing through the rendezvous
 *    layer, the poll doorbell, and the channel operations shm.c and mmap.c
 *    share (they only find the file).
 */
#ifndef UIPC_RING_H
#define UIPC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


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
     * name (ring_ep.c, bell_addr).  Within the side's line: no layout change. */
    _Atomic uint64_t bell;
    /* 1 + the CPU the side last went to sleep on, 0 if unknown: only a hint
     * for the other side's spinning (ring_ep.c, woke).  Within the line. */
    _Atomic uint32_t cpu;
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

#endif /* UIPC_RING_H */
