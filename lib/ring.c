/* SPDX-License-Identifier: MIT */
/*
 * The lock-free ring behind shm: and mmap: (see ring.h and docs/shm.md):
 * one direction, pure memory and C11 atomics, never blocks (the endpoint
 * that waits, rings doorbells and watches the peer is ring_ep.c).
 *
 * Fast path: a send is reserve + memcpy + commit, a receive is peek +
 * memcpy + release, with no system call.  The consumer finds messages by
 * their commit words, in the lines it reads anyway; the producer reads the
 * consumer's tail only when its cached copy says the ring is full.  Each
 * message ends with a store (commit word, tail) and a load of the peer's
 * waiter word, the Dekker handshake that makes a sleeping peer impossible
 * to miss:
 *
 *   waiter:  waitword |= SLEEPING;  heavy fence;  if (condition) don't sleep;  futex_wait
 *   peer:    publish commit/tail;   (compiler barrier)  if (waitword) { waitword = 0; futex_wake }
 *
 * Either the waiter sees the new word or the peer sees SLEEPING; a wake
 * that comes between the check and FUTEX_WAIT changes the word, so
 * FUTEX_WAIT returns at once.  The full fence this needs between the
 * peer's store and load is paid by the waiter, which is about to sleep
 * anyway: uipc__fence_heavy (membarrier) runs it on the peer's CPU, so the
 * per-message path has none (uipc__store_then_load, wait.h; where the
 * kernel lacks membarrier both accesses are sequentially consistent, as
 * before).  The doorbell of uipc_pollfd uses the same word with the PARKED
 * bit.  Here the ring only reports the waiter bits it cleared; ring_ep.c
 * does the waking.
 */
#include "ring.h"

#include <errno.h>

#include "wait.h" /* uipc__store_then_load: the fast side of the handshake */

/* ------------------------------------------------------------------ */
/* Layer 1: one direction                                              */
/* ------------------------------------------------------------------ */

/* Record headers may be rewritten by a hostile peer at any time: read each
 * field once, atomically, into a local. */
static inline uint32_t ld32(const unsigned char *p)
{
    return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline void st32(unsigned char *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static inline _Atomic uint64_t *commit_word(const struct uipc__ring *r, uint64_t pos)
{
    return (_Atomic uint64_t *)(void *)(r->data + (pos & (r->size - 1)));
}

/* A commit word names the record at pos: its position matches and its tag
 * is not 0 (0 is a zeroed slot, even at position 0). */
static inline bool committed(uint64_t commit, uint64_t pos)
{
    return (commit & ~(uint64_t)UIPC__REC_TAG_MASK) == pos && (commit & UIPC__REC_TAG_MASK);
}

int uipc__ring_bind(struct uipc__ring *r, struct uipc__ring_ctl *ctl, unsigned char *data,
                    uint64_t size, uint64_t max_msg, bool producer)
{
    uint64_t tail = atomic_load(&ctl->tail);
    r->ctl = ctl;
    r->data = data;
    r->size = size;
    r->max_msg = max_msg;
    r->pos = r->tail = tail;
    r->pending = 0;
    if (tail & UIPC__REC_TAG_MASK)
        return -EBADMSG;
    /* The producer resumes after the last record it committed. */
    while (producer) {
        uint64_t off = r->pos & (size - 1), commit = atomic_load(commit_word(r, r->pos));
        if (!committed(commit, r->pos))
            break;
        if ((commit & UIPC__REC_TAG_MASK) == UIPC__REC_SKIP && off != 0) {
            r->pos += size - off;
        } else {
            uint32_t len = ld32(data + off + 8);
            if ((commit & UIPC__REC_TAG_MASK) != UIPC__REC_DATA || len > max_msg ||
                uipc__ring_rec_size(len) > size - off)
                return -EBADMSG;
            r->pos += uipc__ring_rec_size(len);
        }
        if (r->pos - tail > size)
            return -EBADMSG;
    }
    return 0;
}

/*
 * 1 when need bytes are free at pos, 0 when not, -EBADMSG for a tail that
 * cannot be (ahead of us, more than a ring behind, unaligned).  The shared
 * tail is read only when the cached one is not enough.
 */
static int space(struct uipc__ring *r, uint64_t need)
{
    if (r->size - (r->pos - r->tail) >= need)
        return 1;
    uint64_t tail = atomic_load(&r->ctl->tail);
    /* A consumer only moves its tail forward, and never past what was
     * committed: a tail outside [cached tail, pos] is a hostile peer's (one
     * that moved back would let a later commit overwrite unread records). */
    if (tail - r->tail > r->pos - r->tail || (tail & UIPC__REC_TAG_MASK))
        return -EBADMSG;
    r->tail = tail;
    return r->size - (r->pos - tail) >= need;
}

/*
 * Zeroes the header slot at next if it is free space, so that whatever
 * bytes an earlier lap left there can never read as a commit once the
 * record before it is committed.  A slot that is not free is the header of
 * the oldest unread record, whose commit word is a lap old.  Done when the
 * record is reserved: the store then completes while the payload is
 * written, instead of stalling the commit's full barrier on a cache miss.
 */
static void clear_next(struct uipc__ring *r, uint64_t next)
{
    if (next - r->tail < r->size)
        atomic_store_explicit(commit_word(r, next), 0, memory_order_relaxed);
}

/* Commits the record of rec bytes at pos, whose successor's slot is clear,
 * and returns the consumer's waiter bits it cleared. */
static uint32_t publish_record(struct uipc__ring *r, uint64_t rec, uint32_t tag)
{
    uint64_t pos = r->pos;
    /* Ordered before the load for a consumer that sleeps (wait.h). */
    uint32_t waiting = uipc__store_then_load(commit_word(r, pos), pos | tag, &r->ctl->cons_wait);
    r->pos = pos + rec;
    if (waiting == 0)
        return 0;
    return atomic_exchange(&r->ctl->cons_wait, 0);
}

int uipc__ring_reserve(struct uipc__ring *r, size_t len, void **buf, uint32_t *cons_bits)
{
    *cons_bits = 0;
    if (len > r->max_msg)
        return -EMSGSIZE;
    uint64_t rec = uipc__ring_rec_size(len);
    /* At most two rounds: after a skip record we are at offset 0, where
     * every record fits (rec <= size since max_msg <= size - 16). */
    for (int round = 0; round < 2; round++) {
        uint64_t off = r->pos & (r->size - 1), contig = r->size - off;
        int s = space(r, rec <= contig ? rec : contig);
        if (s <= 0)
            return s < 0 ? s : -EAGAIN;
        if (rec <= contig) {
            clear_next(r, r->pos + rec);
            r->pending = rec;
            *buf = r->data + off + UIPC__RING_REC_HDR;
            return 0;
        }
        /* The record would wrap: give up the end of the area with a skip
         * record, published on its own so that the consumer frees it (and
         * woken for it: it may be all that stands between us and space). */
        st32(r->data + off + 8, (uint32_t)contig);
        clear_next(r, r->pos + contig);
        *cons_bits |= publish_record(r, contig, UIPC__REC_SKIP);
    }
    return -EAGAIN;
}

uint32_t uipc__ring_commit(struct uipc__ring *r, size_t len)
{
    unsigned char *p = r->data + (r->pos & (r->size - 1));
    uint64_t rec = uipc__ring_rec_size(len);
    /* Shorter than reserved: the successor's slot lies in bytes the writer
     * may have filled; clear it now that they are written. */
    if (rec < r->pending)
        clear_next(r, r->pos + rec);
    st32(p + 8, (uint32_t)len);
    st32(p + 12, 0);
    r->pending = 0;
    return publish_record(r, rec, UIPC__REC_DATA);
}

bool uipc__ring_writable(struct uipc__ring *r, size_t len)
{
    uint64_t rec = uipc__ring_rec_size(len);
    uint64_t contig = r->size - (r->pos & (r->size - 1));
    /* A corrupt tail counts as "go ahead": the reserve reports it. */
    return space(r, rec <= contig ? rec : contig) != 0;
}

static uint32_t publish_tail(struct uipc__ring *r)
{
    /* Ordered before the load for a producer that sleeps (wait.h). */
    if (uipc__store_then_load(&r->ctl->tail, r->pos, &r->ctl->prod_wait) == 0)
        return 0;
    return atomic_exchange(&r->ctl->prod_wait, 0);
}

ssize_t uipc__ring_peek(struct uipc__ring *r, const void **buf, uint32_t *prod_bits)
{
    *prod_bits = 0;
    for (int round = 0; round < 2; round++) {
        uint64_t off = r->pos & (r->size - 1), contig = r->size - off;
        uint64_t commit = atomic_load(commit_word(r, r->pos));
        if (!committed(commit, r->pos))
            return -EAGAIN; /* nothing committed here yet */
        const unsigned char *p = r->data + off;
        if ((commit & UIPC__REC_TAG_MASK) == UIPC__REC_SKIP) {
            /* Legitimate only where a record could not fit: never at 0. */
            if (off == 0)
                return -EBADMSG;
            r->pos += contig;
            *prod_bits |= publish_tail(r);
            continue;
        }
        uint32_t len = ld32(p + 8);
        if ((commit & UIPC__REC_TAG_MASK) != UIPC__REC_DATA || len > r->max_msg ||
            uipc__ring_rec_size(len) > contig)
            return -EBADMSG;
        r->pending = uipc__ring_rec_size(len);
        *buf = p + UIPC__RING_REC_HDR;
        return (ssize_t)len;
    }
    return -EBADMSG; /* two skips in a row */
}

uint32_t uipc__ring_release(struct uipc__ring *r)
{
    r->pos += r->pending;
    r->pending = 0;
    return publish_tail(r);
}

bool uipc__ring_readable(struct uipc__ring *r)
{
    return committed(atomic_load(commit_word(r, r->pos)), r->pos);
}
