/* SPDX-License-Identifier: MIT */
/*
 * The broadcast ring, pure memory (the contract and the reasoning are in
 * bcast.h; the layout in docs/pubsub.md).
 *
 * Fast path of the publisher: reserve (claim the bytes: a walk over the
 * records it overwrites, one store each) + memcpy + commit (one sequentially
 * consistent store, one load of the waiter word).  Of a subscriber: two
 * loads of the record's commit word around the copy, and in block mode one
 * store of its cursor and one load of the publisher's waiter word.
 */
#include "bcast.h"

#include <errno.h>
#include <string.h>

#include "ring.h" /* uipc__ring_rec_size, the record tags */

#if defined(__SANITIZE_THREAD__)
#define BCAST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BCAST_TSAN 1
#endif
#endif

#ifdef BCAST_TSAN
/* A seqlock reader's copy races with the writer by design and is
 * validated afterwards: tell ThreadSanitizer (its runtime has these). */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define RACY_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define RACY_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define RACY_READS_BEGIN() ((void)0)
#define RACY_READS_END() ((void)0)
#endif

#define TAG_MASK ((uint64_t)UIPC__REC_TAG_MASK)
#define REC_HDR ((uint64_t)UIPC__RING_REC_HDR)

uint64_t uipc__bcast_ctl_size(uint32_t nslots)
{
    uint64_t n =
        sizeof(struct uipc__bcast_ctl) + (uint64_t)nslots * sizeof(struct uipc__bcast_slot);
    return (n + 4095) & ~(uint64_t)4095;
}

int uipc__bcast_geom_check(const struct uipc__bcast_geom *g)
{
    uint64_t rs = g->ring_size;
    if (rs < 4096 || rs > (1u << 30) || (rs & (rs - 1)) || g->max_msg == 0 ||
        g->max_msg > rs - 2 * REC_HDR || g->nslots == 0 || g->nslots > UIPC__BCAST_MAX_SUBS ||
        (g->flags & ~UIPC__BCAST_BLOCK))
        return -EINVAL;
    return 0;
}

void uipc__bcast_format(struct uipc__bcast_hdr *h, const struct uipc__bcast_geom *g,
                        const uint8_t id[16])
{
    h->version = UIPC__BCAST_VERSION;
    h->hdr_size = UIPC__BCAST_HDR_SIZE;
    h->ring_size = g->ring_size;
    h->max_msg = g->max_msg;
    h->ctl_size = uipc__bcast_ctl_size(g->nslots);
    h->total_size = UIPC__BCAST_HDR_SIZE + g->ring_size + h->ctl_size;
    h->nslots = g->nslots;
    h->flags = g->flags;
    memcpy(h->id, id, 16);
    __atomic_store_n(&h->magic, UIPC__BCAST_MAGIC, __ATOMIC_RELEASE);
}

static inline _Atomic uint64_t *commit_at(unsigned char *data, uint64_t size, uint64_t pos)
{
    return (_Atomic uint64_t *)(void *)(data + (pos & (size - 1)));
}

static inline uint32_t ld32(const unsigned char *p)
{
    return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline void st32(unsigned char *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Publisher                                                           */
/* ------------------------------------------------------------------ */

void uipc__bcast_pub_bind(struct uipc__bcast_pub *p, unsigned char *map,
                          const struct uipc__bcast_geom *g)
{
    memset(p, 0, sizeof *p);
    p->hdr = (struct uipc__bcast_hdr *)map;
    p->data = map + UIPC__BCAST_HDR_SIZE;
    p->ctl = (struct uipc__bcast_ctl *)(void *)(map + UIPC__BCAST_HDR_SIZE + g->ring_size);
    p->size = g->ring_size;
    p->max_msg = g->max_msg;
    p->nslots = g->nslots;
    p->block = g->flags & UIPC__BCAST_BLOCK;
    p->cached_min = UINT64_MAX;
    p->cached_joins = atomic_load(&p->ctl->joins) - 1; /* force the first scan */
    p->blocker = -1;
}

/*
 * Size of our own record at pos, or 0 if its header is not what we wrote
 * (only a process writing where it should not can do that: the publisher
 * is the only writer of the data area).
 */
static uint64_t own_record(const struct uipc__bcast_pub *p, uint64_t pos)
{
    uint64_t off = pos & (p->size - 1), contig = p->size - off;
    uint64_t commit = atomic_load_explicit(commit_at(p->data, p->size, pos), memory_order_relaxed);
    if ((commit & ~TAG_MASK) != pos)
        return 0;
    if ((commit & TAG_MASK) == UIPC__REC_SKIP)
        return off ? contig : 0;
    uint32_t len = ld32(p->data + off + 8);
    uint64_t rec = uipc__ring_rec_size(len);
    return (commit & TAG_MASK) == UIPC__REC_DATA && len <= p->max_msg && rec <= contig ? rec : 0;
}

/*
 * Block mode: 0 when no live subscriber's cursor lies below need, else
 * -EAGAIN with p->blocker set.  The store of want and the load of joins
 * are one side of the handshake of uipc__bcast_join.  Cursors outside
 * [oldest, head] are not honoured: below oldest is a joiner that will see
 * want and move (or a slot scribbled on), above head cannot be.
 */
static int check_cursors(struct uipc__bcast_pub *p, uint64_t need, bool force)
{
    atomic_store(&p->hdr->want, need); /* seq_cst: before the load of joins */
    uint32_t joins = atomic_load(&p->ctl->joins);
    if (!force && joins == p->cached_joins && p->cached_min >= need)
        return 0;
    p->cached_joins = joins;
    uint64_t least = UINT64_MAX;
    int blocker = -1;
    for (uint32_t i = 0; i < p->nslots; i++) {
        struct uipc__bcast_slot *sl = &p->ctl->slot[i];
        if ((atomic_load(&sl->state) & 3u) != UIPC__BCAST_SLOT_ACTIVE)
            continue;
        uint64_t c = atomic_load(&sl->cursor);
        if (c < p->oldest || c > p->head)
            continue;
        if (c < least) {
            least = c;
            blocker = (int)i;
        }
    }
    p->cached_min = least;
    if (least >= need)
        return 0;
    p->blocker = blocker;
    return -EAGAIN;
}

/*
 * The claim a record ending at end needs: *need, the first record boundary
 * at or past end - size (what it overwrites), and *ahead, a boundary up to
 * an eighth of the ring further (at most head): claiming ahead moves the
 * oldest word once per eighth of the ring instead of once per message, so
 * the readers that check it keep their copy of its line.  False when a
 * record header is not ours (someone wrote into the data area).
 */
static bool claim_target(const struct uipc__bcast_pub *p, uint64_t end, uint64_t *need,
                         uint64_t *ahead)
{
    uint64_t limit = end - p->size, target = limit + p->size / 8, to = p->oldest;
    if (target > p->head)
        target = p->head;
    *need = 0;
    while (to < target || to < limit) {
        if (to >= limit && !*need)
            *need = to;
        uint64_t rec = own_record(p, to);
        if (rec == 0)
            return false;
        to += rec;
    }
    if (!*need)
        *need = to;
    *ahead = to;
    return true;
}

/* True when a record ending at end overwrites something still intact. */
static bool overwrites(const struct uipc__bcast_pub *p, uint64_t end)
{
    return end > p->size && p->oldest < end - p->size;
}

/*
 * Makes the bytes before end free: every record that starts before the
 * claim is invalidated and oldest moves past it.  Order matters (see
 * bcast.h): publish oldest, fence, zero the commit words, fence; the
 * caller writes after that.
 */
static int claim(struct uipc__bcast_pub *p, uint64_t end)
{
    if (!overwrites(p, end))
        return 0;
    uint64_t need, to;
    bool sane = claim_target(p, end, &need, &to);
    if (!sane) {
        to = p->head; /* readers resume at head */
    } else if (p->block && check_cursors(p, to, false) < 0) {
        if (check_cursors(p, need, false) < 0)
            return -EAGAIN;
        to = need;
    }
    atomic_store_explicit(&p->hdr->oldest, to, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    if (!sane) {
        /* Every header slot we cannot vouch for goes. */
        for (uint64_t q = p->oldest; q < to && q - p->oldest < p->size; q += REC_HDR)
            atomic_store_explicit(commit_at(p->data, p->size, q), 0, memory_order_relaxed);
    } else {
        for (uint64_t q = p->oldest; q < to;) {
            uint64_t rec = own_record(p, q);
            atomic_store_explicit(commit_at(p->data, p->size, q), 0, memory_order_relaxed);
            q += rec;
        }
    }
    atomic_thread_fence(memory_order_release);
    p->oldest = to;
    return 0;
}

/* Zeroes the header slot after a record so that stale bytes there never
 * read as a commit (the claim made it ours). */
static void clear_slot(struct uipc__bcast_pub *p, uint64_t pos)
{
    atomic_store_explicit(commit_at(p->data, p->size, pos), 0, memory_order_relaxed);
}

/* Commits the record of rec bytes at head, returns the waiter bits. */
static uint32_t publish(struct uipc__bcast_pub *p, uint64_t rec, uint32_t tag)
{
    uint64_t pos = p->head;
    atomic_store(commit_at(p->data, p->size, pos), pos | tag); /* seq_cst: before the load */
    p->head = pos + rec;
    atomic_store_explicit(&p->hdr->head, p->head, memory_order_release);
    if (atomic_load(&p->ctl->sub_wait) == 0)
        return 0;
    return atomic_exchange(&p->ctl->sub_wait, 0);
}

int uipc__bcast_reserve(struct uipc__bcast_pub *p, size_t len, void **buf, uint32_t *sub_bits)
{
    *sub_bits = 0;
    if (len > p->max_msg)
        return -EMSGSIZE;
    uint64_t rec = uipc__ring_rec_size(len);
    uint64_t off = p->head & (p->size - 1), contig = p->size - off;
    if (rec > contig) {
        /* The end of the area is too short: a skip record fills it. */
        int r = claim(p, p->head + contig + REC_HDR);
        if (r < 0)
            return r;
        clear_slot(p, p->head + contig);
        st32(p->data + off + 8, (uint32_t)contig);
        st32(p->data + off + 12, 0);
        *sub_bits |= publish(p, contig, UIPC__REC_SKIP);
        off = 0;
    }
    int r = claim(p, p->head + rec + REC_HDR);
    if (r < 0)
        return r;
    clear_slot(p, p->head + rec);
    p->pending = rec;
    *buf = p->data + off + REC_HDR;
    return 0;
}

uint32_t uipc__bcast_commit(struct uipc__bcast_pub *p, size_t len)
{
    unsigned char *h = p->data + (p->head & (p->size - 1));
    uint64_t rec = uipc__ring_rec_size(len);
    /* Shorter than reserved: the next header slot lies in bytes the caller
     * may have written. */
    if (rec < p->pending)
        clear_slot(p, p->head + rec);
    st32(h + 8, (uint32_t)len);
    st32(h + 12, 0);
    p->pending = 0;
    return publish(p, rec, UIPC__REC_DATA);
}

/* The end of the claim the next reserve of len makes first (a skip
 * record's when the end of the area is too short). */
static uint64_t next_claim_end(const struct uipc__bcast_pub *p, size_t len)
{
    uint64_t rec = uipc__ring_rec_size(len);
    uint64_t contig = p->size - (p->head & (p->size - 1));
    return p->head + (rec > contig ? contig : rec) + REC_HDR;
}

bool uipc__bcast_writable(struct uipc__bcast_pub *p, size_t len)
{
    uint64_t end = next_claim_end(p, len), need, ahead;
    if (!p->block || !overwrites(p, end) || !claim_target(p, end, &need, &ahead))
        return true; /* a corrupt walk: the reserve reports it */
    return check_cursors(p, need, true) == 0;
}

void uipc__bcast_drop_slot(struct uipc__bcast_pub *p, int i)
{
    if (i < 0 || (uint32_t)i >= p->nslots)
        return;
    struct uipc__bcast_slot *sl = &p->ctl->slot[i];
    uint32_t s = atomic_load(&sl->state);
    if ((s & 3u) == UIPC__BCAST_SLOT_ACTIVE)
        atomic_compare_exchange_strong(&sl->state, &s, (s & ~3u) | UIPC__BCAST_SLOT_FREE);
    p->cached_min = 0; /* rescan at the next claim */
}

/* ------------------------------------------------------------------ */
/* Subscriber                                                          */
/* ------------------------------------------------------------------ */

/* Positions are 16-aligned; a publisher that says otherwise is corrupt,
 * and we start from 0-aligned ground. */
static uint64_t load_head(const struct uipc__bcast_hdr *h)
{
    return atomic_load(&((struct uipc__bcast_hdr *)(uintptr_t)h)->head) & ~TAG_MASK;
}

void uipc__bcast_sub_bind(struct uipc__bcast_sub *s, const unsigned char *map,
                          const struct uipc__bcast_geom *g, struct uipc__bcast_ctl *ctl,
                          struct uipc__bcast_slot *slot)
{
    const struct uipc__bcast_hdr *h = (const struct uipc__bcast_hdr *)map;
    memset(s, 0, sizeof *s);
    s->hdr = h;
    s->data = map + UIPC__BCAST_HDR_SIZE;
    s->ctl = ctl;
    s->slot = slot;
    s->size = g->ring_size;
    s->max_msg = g->max_msg;
    s->block = g->flags & UIPC__BCAST_BLOCK;
    s->pos = load_head(h);
}

/* The publisher's shared words are in the read-only header: the casts
 * only let us use the atomic load functions on them. */
static uint64_t hdr_load(const _Atomic uint64_t *w)
{
    return atomic_load((_Atomic uint64_t *)(uintptr_t)w);
}

void uipc__bcast_join(struct uipc__bcast_sub *s, uint32_t generation)
{
    struct uipc__bcast_slot *sl = s->slot;
    atomic_store(&sl->cursor, s->pos);
    atomic_store(&sl->state, generation << 2 | UIPC__BCAST_SLOT_ACTIVE);
    /*
     * Dekker with check_cursors: we store our cursor and bump joins, then
     * load want; the publisher stores want, then loads joins and rescans if
     * it moved.  Either it sees our cursor or we see the want that would
     * overwrite it, and then start again from the current head (which is
     * past any want: want lies a ring behind the head it was made at).
     */
    for (;;) {
        atomic_fetch_add(&s->ctl->joins, 1);
        uint64_t want = hdr_load(&s->hdr->want);
        if (want <= s->pos)
            return;
        s->pos = load_head(s->hdr);
        atomic_store(&sl->cursor, s->pos);
    }
}

uint32_t uipc__bcast_leave(struct uipc__bcast_sub *s, uint32_t my_state)
{
    if (!s->slot)
        return 0;
    uint32_t st = my_state;
    atomic_compare_exchange_strong(&s->slot->state, &st, (my_state & ~3u) | UIPC__BCAST_SLOT_FREE);
    if (!s->block || atomic_load(&s->ctl->pub_wait) == 0)
        return 0;
    return atomic_exchange(&s->ctl->pub_wait, 0);
}

/* The publisher lapped us: resume at the oldest record it still holds. */
static int lapped(struct uipc__bcast_sub *s)
{
    /* We saw the publisher's invalidation (a store after its fence): the
     * oldest it stored before that fence is visible after ours. */
    atomic_thread_fence(memory_order_acquire);
    uint64_t oldest = hdr_load(&s->hdr->oldest);
    if (oldest <= s->pos || (oldest & TAG_MASK))
        return -EBADMSG; /* our record went, yet oldest did not move past it */
    s->pos = oldest;
    s->pending = 0;
    return -EOVERFLOW;
}

/*
 * After reading the record at pos: true if it was not overwritten
 * meanwhile.  The commit word alone is not enough: a later message may
 * hold the very same eight bytes at that offset.  But the publisher moved
 * oldest past pos before writing any of it, so a reader that saw any byte
 * of it sees oldest > pos after its fence.
 */
static bool still_valid(const struct uipc__bcast_sub *s, uint64_t commit)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(commit_at((unsigned char *)(uintptr_t)s->data, s->size, s->pos),
                                memory_order_relaxed) == commit &&
           atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)&s->hdr->oldest,
                                memory_order_relaxed) <= s->pos;
}

static uint32_t advance(struct uipc__bcast_sub *s, uint64_t rec);

ssize_t uipc__bcast_peek(struct uipc__bcast_sub *s, const void **buf)
{
    for (int round = 0; round < 2; round++) {
        uint64_t off = s->pos & (s->size - 1), contig = s->size - off;
        unsigned char *data = (unsigned char *)(uintptr_t)s->data;
        uint64_t commit =
            atomic_load_explicit(commit_at(data, s->size, s->pos), memory_order_acquire);
        if ((commit & ~TAG_MASK) != s->pos || !(commit & TAG_MASK)) {
            /* Not written yet, or overwritten: oldest tells which. */
            atomic_thread_fence(memory_order_acquire);
            if (hdr_load(&s->hdr->oldest) > s->pos)
                return lapped(s);
            return -EAGAIN;
        }
        if ((commit & TAG_MASK) == UIPC__REC_SKIP) {
            if (off == 0)
                return still_valid(s, commit) ? -EBADMSG : lapped(s);
            /* Published at once: a publisher that waits for our cursor to
             * leave the end of the area would otherwise wait for a message
             * that it cannot write. */
            s->pub_bits |= advance(s, contig);
            continue;
        }
        uint32_t len = ld32(s->data + off + 8);
        if ((commit & TAG_MASK) != UIPC__REC_DATA || len > s->max_msg ||
            uipc__ring_rec_size(len) > contig)
            return still_valid(s, commit) ? -EBADMSG : lapped(s);
        s->pending = uipc__ring_rec_size(len);
        *buf = s->data + off + REC_HDR;
        return (ssize_t)len;
    }
    return -EBADMSG; /* two skips in a row */
}

/* Moves past the peeked record (or a skip record of rec bytes); block
 * mode publishes the cursor. */
static uint32_t advance(struct uipc__bcast_sub *s, uint64_t rec)
{
    s->pos += rec;
    s->pending = 0;
    if (!s->block || !s->slot)
        return 0;
    atomic_store(&s->slot->cursor, s->pos); /* seq_cst: before the load */
    if (atomic_load(&s->ctl->pub_wait) == 0)
        return 0;
    return atomic_exchange(&s->ctl->pub_wait, 0);
}

int uipc__bcast_release(struct uipc__bcast_sub *s, uint32_t *pub_bits)
{
    *pub_bits = 0;
    if (!still_valid(s, s->pos | UIPC__REC_DATA))
        return lapped(s);
    *pub_bits = advance(s, s->pending) | s->pub_bits;
    s->pub_bits = 0;
    return 0;
}

ssize_t uipc__bcast_read(struct uipc__bcast_sub *s, void *buf, size_t cap, uint32_t *pub_bits)
{
    *pub_bits = 0;
    const void *msg;
    ssize_t n = uipc__bcast_peek(s, &msg);
    if (n < 0)
        return n;
    if ((size_t)n > cap) {
        s->pending = 0;
        return still_valid(s, s->pos | UIPC__REC_DATA) ? -EMSGSIZE : lapped(s);
    }
    RACY_READS_BEGIN();
    memcpy(buf, msg, (size_t)n);
    RACY_READS_END();
    int r = uipc__bcast_release(s, pub_bits);
    return r < 0 ? r : n;
}

bool uipc__bcast_readable(const struct uipc__bcast_sub *s)
{
    uint64_t commit = atomic_load(commit_at((unsigned char *)(uintptr_t)s->data, s->size, s->pos));
    if ((commit & ~TAG_MASK) == s->pos && (commit & TAG_MASK))
        return true;
    return hdr_load(&s->hdr->oldest) > s->pos;
}
