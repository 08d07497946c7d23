/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ring (lib/ring.c) from the inside: records, wrapping
 * and skip records, a full and an empty ring, waiter bits, validation of
 * every index and record a hostile peer could corrupt, and endpoints
 * driven by threads (spinning and futex-only) for ThreadSanitizer — this
 * binary carries the "ring" label and uses threads, never fork.
 * Transport behaviour across processes is tests/test_shm.c.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring_ep.h"
#include "testutil.h"

/* ---- layer 1 on private memory ---- */

struct mem {
    struct uipc__ring_hdr *hdr;
    unsigned char *data;
    struct uipc__ring prod, cons;
    uint64_t size;
};

static void mem_new(struct mem *m, uint64_t size, uint64_t max_msg)
{
    m->size = size;
    m->hdr = aligned_alloc(4096, UIPC__RING_HDR_SIZE + size);
    assert_non_null(m->hdr);
    memset(m->hdr, 0, UIPC__RING_HDR_SIZE + size);
    m->data = (unsigned char *)m->hdr + UIPC__RING_HDR_SIZE;
    assert_int_equal(uipc__ring_bind(&m->prod, &m->hdr->ctl[0], m->data, size, max_msg, true), 0);
    assert_int_equal(uipc__ring_bind(&m->cons, &m->hdr->ctl[0], m->data, size, max_msg, false), 0);
}

static void mem_free(struct mem *m)
{
    free(m->hdr);
}

static int put(struct mem *m, size_t len, uint64_t seq)
{
    void *buf;
    uint32_t bits;
    int r = uipc__ring_reserve(&m->prod, len, &buf, &bits);
    if (r < 0)
        return r;
    tu_fill(buf, len, seq);
    uipc__ring_commit(&m->prod, len);
    return 0;
}

static ssize_t get(struct mem *m, size_t want_len, uint64_t seq)
{
    const void *buf;
    uint32_t bits;
    ssize_t n = uipc__ring_peek(&m->cons, &buf, &bits);
    if (n < 0)
        return n;
    assert_int_equal((size_t)n, want_len);
    assert_int_equal(tu_check(buf, (size_t)n, seq), 0);
    uipc__ring_release(&m->cons);
    return n;
}

static void test_basic(void **state)
{
    (void)state;
    struct mem m;
    const void *p;
    uint32_t bits;
    mem_new(&m, 4096, 2048);
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), -EAGAIN);
    assert_false(uipc__ring_readable(&m.cons));
    for (size_t len = 0; len < 200; len++) {
        assert_int_equal(put(&m, len, len), 0);
        assert_true(uipc__ring_readable(&m.cons));
        assert_int_equal(get(&m, len, len), (ssize_t)len);
    }
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), -EAGAIN);
    /* Peeking twice gives the same message; payloads are 16-byte aligned. */
    assert_int_equal(put(&m, 5, 77), 0);
    const void *p1, *p2;
    assert_int_equal(uipc__ring_peek(&m.cons, &p1, &bits), 5);
    assert_int_equal(uipc__ring_peek(&m.cons, &p2, &bits), 5);
    assert_ptr_equal(p1, p2);
    assert_int_equal((uintptr_t)p1 % 16, 0);
    uipc__ring_release(&m.cons);
    /* Too large for the ring's max_msg. */
    void *buf;
    assert_int_equal(uipc__ring_reserve(&m.prod, 2049, &buf, &bits), -EMSGSIZE);
    mem_free(&m);
}

static void test_full_and_wrap(void **state)
{
    (void)state;
    struct mem m;
    mem_new(&m, 4096, 4080);
    /* Fill: records of 16 + 48 bytes, 64 of them fill 4096 exactly. */
    int n = 0;
    while (put(&m, 48, (uint64_t)n) == 0)
        n++;
    assert_int_equal(n, 64);
    assert_false(uipc__ring_writable(&m.prod, 0));
    assert_int_equal(get(&m, 48, 0), 48);
    assert_true(uipc__ring_writable(&m.prod, 48));
    assert_false(uipc__ring_writable(&m.prod, 49));
    for (int i = 1; i < n; i++)
        assert_int_equal(get(&m, 48, (uint64_t)i), 48);

    /* Many laps of odd sizes: every skip record is crossed. */
    uint64_t sent = 0, recvd = 0;
    srand(1);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % 1500);
        if (put(&m, len, sent) == 0) {
            sent++;
            continue;
        }
        /* Full: drain a few, checking each. */
        const void *p;
        uint32_t bits;
        for (int k = 0; k < 3; k++) {
            ssize_t got = uipc__ring_peek(&m.cons, &p, &bits);
            if (got == -EAGAIN)
                break;
            assert_true(got >= 0);
            assert_int_equal(tu_check(p, (size_t)got, recvd), 0);
            uipc__ring_release(&m.cons);
            recvd++;
        }
    }
    const void *p;
    uint32_t bits;
    ssize_t got;
    while ((got = uipc__ring_peek(&m.cons, &p, &bits)) >= 0) {
        assert_int_equal(tu_check(p, (size_t)got, recvd), 0);
        uipc__ring_release(&m.cons);
        recvd++;
    }
    assert_int_equal(got, -EAGAIN);
    assert_int_equal(sent, recvd);
    assert_true(sent > 10000);
    mem_free(&m);
}

/* A message as large as the whole ring goes through once the ring is
 * empty, whatever the offset (the skip record is published on its own). */
static void test_max_record(void **state)
{
    (void)state;
    struct mem m;
    mem_new(&m, 4096, 4080);
    assert_int_equal(put(&m, 100, 1), 0);
    void *buf;
    uint32_t bits;
    assert_int_equal(uipc__ring_reserve(&m.prod, 4080, &buf, &bits), -EAGAIN);
    assert_int_equal(get(&m, 100, 1), 100);
    /* The consumer frees the skip record; then the whole area is free. */
    assert_int_equal(uipc__ring_reserve(&m.prod, 4080, &buf, &bits), -EAGAIN);
    const void *p;
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), -EAGAIN);
    assert_int_equal(put(&m, 4080, 2), 0);
    assert_int_equal(get(&m, 4080, 2), 4080);
    mem_free(&m);
}

static void test_commit_shorter(void **state)
{
    (void)state;
    struct mem m;
    mem_new(&m, 4096, 1024);
    void *buf;
    uint32_t bits;
    assert_int_equal(uipc__ring_reserve(&m.prod, 1000, &buf, &bits), 0);
    tu_fill(buf, 10, 9);
    /* Not visible before its commit. */
    assert_false(uipc__ring_readable(&m.cons));
    uipc__ring_commit(&m.prod, 10);
    assert_int_equal(get(&m, 10, 9), 10);
    assert_int_equal(m.prod.pos, m.cons.pos);
    assert_int_equal(m.prod.pos, uipc__ring_rec_size(10));
    mem_free(&m);
}

static void test_waiter_bits(void **state)
{
    (void)state;
    struct mem m;
    mem_new(&m, 4096, 1024);
    void *buf;
    const void *p;
    uint32_t bits;
    atomic_store(&m.hdr->ctl[0].cons_wait, UIPC__RING_SLEEPING | UIPC__RING_PARKED);
    assert_int_equal(uipc__ring_reserve(&m.prod, 1, &buf, &bits), 0);
    assert_int_equal(uipc__ring_commit(&m.prod, 1), UIPC__RING_SLEEPING | UIPC__RING_PARKED);
    assert_int_equal(atomic_load(&m.hdr->ctl[0].cons_wait), 0);
    assert_int_equal(uipc__ring_reserve(&m.prod, 1, &buf, &bits), 0);
    assert_int_equal(uipc__ring_commit(&m.prod, 1), 0);
    atomic_store(&m.hdr->ctl[0].prod_wait, UIPC__RING_SLEEPING);
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), 1);
    assert_int_equal(bits, 0);
    assert_int_equal(uipc__ring_release(&m.cons), UIPC__RING_SLEEPING);
    assert_int_equal(atomic_load(&m.hdr->ctl[0].prod_wait), 0);
    mem_free(&m);
}

/* Stale bytes from an earlier lap never pass for a commit: a payload full
 * of words that look like future commit words is harmless, because the
 * producer zeroes the next header slot before each commit. */
static void test_stale_lookalikes(void **state)
{
    (void)state;
    struct mem m;
    mem_new(&m, 4096, 4080);
    /* Lap 0: one big message whose payload is every commit word that the
     * next lap could use. */
    void *buf;
    uint32_t bits;
    const void *p;
    assert_int_equal(uipc__ring_reserve(&m.prod, 4080, &buf, &bits), 0);
    uint64_t *w = buf;
    for (size_t i = 0; i < 4080 / 8; i++)
        w[i] = (4096 + (i + 2) * 8 - 16) | (i % 2 ? UIPC__REC_DATA : UIPC__REC_SKIP);
    for (size_t i = 0; i < 4080 / 8; i += 2)
        w[i] = (4096 + (i + 2) * 8) | UIPC__REC_DATA;
    uipc__ring_commit(&m.prod, 4080);
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), 4080);
    uipc__ring_release(&m.cons);
    /* Lap 1: nothing sent, so nothing is there, whatever the bytes say. */
    assert_false(uipc__ring_readable(&m.cons));
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), -EAGAIN);
    for (uint64_t i = 0; i < 50; i++) {
        assert_int_equal(put(&m, (size_t)(i * 13 % 200), i), 0);
        assert_int_equal(get(&m, (size_t)(i * 13 % 200), i), (ssize_t)(i * 13 % 200));
        assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), -EAGAIN);
    }
    mem_free(&m);
}

/* A producer that comes back finds where it stopped from the commits. */
static size_t resume_len(uint64_t i)
{
    return (size_t)(i * 37 % 500);
}

static void test_resume(void **state)
{
    (void)state;
    struct mem m;
    struct uipc__ring again;
    void *buf;
    uint32_t bits;
    uint64_t got = 0;
    mem_new(&m, 4096, 2000);
    for (uint64_t i = 0; i < 40; i++) {
        while (put(&m, resume_len(i), i) == -EAGAIN) {
            assert_int_equal(get(&m, resume_len(got), got), (ssize_t)resume_len(got));
            got++;
        }
        if (i % 3 == 0) {
            assert_int_equal(get(&m, resume_len(got), got), (ssize_t)resume_len(got));
            got++;
        }
    }
    /* Written in place but never committed: not part of the stream. */
    if (uipc__ring_reserve(&m.prod, 300, &buf, &bits) == 0)
        memset(buf, 0xff, 300);
    assert_int_equal(uipc__ring_bind(&again, &m.hdr->ctl[0], m.data, 4096, 2000, true), 0);
    assert_int_equal(again.pos, m.prod.pos);
    /* And it carries on where it stopped. */
    m.prod = again;
    assert_int_equal(put(&m, 10, 1000), 0);
    while (got < 40) {
        assert_int_equal(get(&m, resume_len(got), got), (ssize_t)resume_len(got));
        got++;
    }
    assert_int_equal(get(&m, 10, 1000), 10);
    mem_free(&m);
}

/* ---- hostile input: each corruption is -EBADMSG, nothing else ---- */

static ssize_t peek_after(void (*corrupt)(struct mem *))
{
    struct mem m;
    const void *p;
    uint32_t bits;
    mem_new(&m, 4096, 1024);
    assert_int_equal(put(&m, 16, 1), 0);
    corrupt(&m);
    ssize_t n = uipc__ring_peek(&m.cons, &p, &bits);
    mem_free(&m);
    return n;
}

static void c_tag(struct mem *m) { m->data[0] |= 7; }
static void c_tag0(struct mem *m) { m->data[0] &= 0xf0; }
static void c_len_max(struct mem *m) { memcpy(m->data + 8, &(uint32_t){1025}, 4); }
static void c_len_area(struct mem *m) { (void)m; }
static void c_skip_at_0(struct mem *m) { m->data[0] = UIPC__REC_SKIP; }
static void c_uncommit(struct mem *m) { m->data[1] ^= 1; }

static void test_hostile_records(void **state)
{
    (void)state;
    assert_int_equal(peek_after(c_len_area), 16); /* control: untouched */
    assert_int_equal(peek_after(c_tag), -EBADMSG);
    assert_int_equal(peek_after(c_tag0), -EAGAIN); /* tag 0: a zeroed slot */
    assert_int_equal(peek_after(c_len_max), -EBADMSG);
    assert_int_equal(peek_after(c_skip_at_0), -EBADMSG);
    /* A commit word that names another position is "not yet": the same
     * as a peer that sent nothing. */
    assert_int_equal(peek_after(c_uncommit), -EAGAIN);
}

static void test_hostile_skip_and_tail(void **state)
{
    (void)state;
    struct mem m;
    const void *p;
    uint32_t bits;
    void *buf;
    mem_new(&m, 4096, 4080);
    /* A length that runs past the end of the area. */
    while (m.prod.pos < 4096 - 64)
        assert_int_equal(put(&m, 0, 0), 0);
    assert_int_equal(put(&m, 16, 1), 0);
    while (m.cons.pos < 4096 - 64)
        assert_int_equal(get(&m, 0, 0), 0);
    memcpy(m.data + 4096 - 64 + 8, &(uint32_t){64}, 4);
    assert_int_equal(uipc__ring_peek(&m.cons, &p, &bits), -EBADMSG);
    mem_free(&m);

    /* A consumer's tail ahead of the producer, or unaligned. */
    mem_new(&m, 4096, 1024);
    while (put(&m, 100, 0) == 0)
        ;
    atomic_store(&m.hdr->ctl[0].tail, m.prod.pos + 16);
    assert_int_equal(uipc__ring_reserve(&m.prod, 100, &buf, &bits), -EBADMSG);
    atomic_store(&m.hdr->ctl[0].tail, 8);
    assert_int_equal(uipc__ring_reserve(&m.prod, 100, &buf, &bits), -EBADMSG);
    struct uipc__ring again;
    assert_int_equal(uipc__ring_bind(&again, &m.hdr->ctl[0], m.data, 4096, 1024, false), -EBADMSG);
    mem_free(&m);
}

/* Random bytes over the control block and data: every peek and reserve
 * returns a length in bounds or an error, and never reads outside. */
static void test_hostile_random(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 3000; round++) {
        struct mem m;
        mem_new(&m, 4096, 1024);
        for (int i = 0; i < 30; i++)
            put(&m, (size_t)(rand() % 300), (uint64_t)i);
        unsigned char *ctl = (unsigned char *)&m.hdr->ctl[0];
        int hits = 1 + rand() % 8;
        for (int i = 0; i < hits; i++) {
            if (rand() % 3 == 0)
                ctl[(size_t)rand() % sizeof m.hdr->ctl[0]] = (unsigned char)rand();
            else
                m.data[rand() % 4096] = (unsigned char)rand();
        }
        if (rand() % 4 == 0) { /* a plausible commit word at the read position */
            uint64_t pos = m.cons.pos + (uint64_t)(rand() % 3) * 16;
            uint64_t commit = pos | (uint64_t)(rand() % 4);
            memcpy(m.data + (pos & 4095), &commit, 8);
        }
        if (rand() % 4 == 0) /* and a plausible tail */
            atomic_store(&m.hdr->ctl[0].tail, (uint64_t)(rand() % 8192) & ~(uint64_t)15);
        for (int i = 0; i < 60; i++) {
            const void *p;
            uint32_t bits;
            ssize_t n = uipc__ring_peek(&m.cons, &p, &bits);
            if (n < 0) {
                assert_true(n == -EAGAIN || n == -EBADMSG);
                break;
            }
            assert_true((size_t)n <= 1024);
            const unsigned char *b = p;
            assert_true(b >= m.data && b + n <= m.data + 4096);
            uipc__ring_release(&m.cons);
        }
        void *buf;
        uint32_t bits;
        int r = uipc__ring_reserve(&m.prod, (size_t)(rand() % 1024), &buf, &bits);
        assert_true(r == 0 || r == -EAGAIN || r == -EBADMSG);
        mem_free(&m);
    }
}

/* ---- layer 2: endpoints over a memfd, driven by threads ---- */

static uint64_t stress_msgs(void)
{
    const char *e = getenv("UIPC_STRESS_MSGS");
    uint64_t n = e ? strtoull(e, NULL, 10) : 200000;
    return n ? n : 200000;
}

struct stress {
    struct uipc__ring_ep *ep;
    uint64_t n;
    int err;
};

static size_t stress_len(uint64_t i)
{
    return (size_t)((i * 2654435761u) % 300);
}

static void *stress_sender(void *arg)
{
    struct stress *s = arg;
    unsigned char buf[512];
    struct uipc__deadline dl;
    for (uint64_t i = 0; i < s->n && !s->err; i++) {
        size_t len = stress_len(i);
        tu_fill(buf, len, i);
        uipc__deadline_start(&dl, 10000);
        ssize_t r = uipc__ring_send(s->ep, buf, len, &dl);
        if (r != (ssize_t)len)
            s->err = r < 0 ? (int)r : -EIO;
    }
    return NULL;
}

static void *stress_receiver(void *arg)
{
    struct stress *s = arg;
    unsigned char buf[512];
    struct uipc__deadline dl;
    for (uint64_t i = 0; i < s->n && !s->err; i++) {
        uipc__deadline_start(&dl, 10000);
        ssize_t r = uipc__ring_recv(s->ep, buf, sizeof buf, &dl);
        if (r != (ssize_t)stress_len(i) || tu_check(buf, (size_t)r, i) != 0)
            s->err = r < 0 ? (int)r : -EBADMSG;
    }
    return NULL;
}

static void make_pair(struct uipc__ring_ep *a, struct uipc__ring_ep *b, const char *query)
{
    struct uipc__uri u;
    struct uipc__ring_params p;
    char uri[128];
    snprintf(uri, sizeof uri, "shm:%s", query);
    assert_int_equal(uipc__uri_parse(&u, uri), 0);
    assert_int_equal(uipc__ring_params(&u, &p), 0);
    assert_int_equal(uipc__ring_pair(a, b, &p), 0);
}

static void run_stress(const char *query)
{
    struct uipc__ring_ep a, b;
    make_pair(&a, &b, query);
    for (int dir = 0; dir < 2; dir++) {
        struct stress tx = {dir ? &b : &a, stress_msgs(), 0};
        struct stress rx = {dir ? &a : &b, stress_msgs(), 0};
        pthread_t t1, t2;
        assert_int_equal(pthread_create(&t1, NULL, stress_sender, &tx), 0);
        assert_int_equal(pthread_create(&t2, NULL, stress_receiver, &rx), 0);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        assert_int_equal(tx.err, 0);
        assert_int_equal(rx.err, 0);
    }
    assert_true(uipc__ring_ep_close(&a));
    assert_true(uipc__ring_ep_close(&b));
}

/* A small ring keeps both sides waiting for each other all the time. */
static void test_threads_spin(void **state)
{
    (void)state;
    run_stress("?size=4K&maxmsg=512");
}

static void test_threads_futex_only(void **state)
{
    (void)state;
    run_stress("?size=4K&maxmsg=512&spin=0");
}

static void test_timeouts(void **state)
{
    (void)state;
    struct uipc__ring_ep a, b;
    struct uipc__deadline dl;
    char buf[64];
    make_pair(&a, &b, "?size=4K&maxmsg=1000&spin=0");
    uipc__deadline_start(&dl, 0);
    assert_int_equal(uipc__ring_recv(&b, buf, sizeof buf, &dl), -EAGAIN);
    uipc__deadline_start(&dl, 20);
    int64_t t0 = uipc__now_ns();
    assert_int_equal(uipc__ring_recv(&b, buf, sizeof buf, &dl), -ETIMEDOUT);
    assert_true(uipc__now_ns() - t0 >= 19 * 1000000LL);
    /* Fill, then a send waits for space. */
    static char big[1000];
    int n = 0;
    for (;; n++) {
        uipc__deadline_start(&dl, 0);
        ssize_t r = uipc__ring_send(&a, big, sizeof big, &dl);
        if (r == -EAGAIN)
            break;
        assert_int_equal(r, sizeof big);
    }
    assert_int_equal(n, 4);
    uipc__deadline_start(&dl, 20);
    assert_int_equal(uipc__ring_send(&a, big, sizeof big, &dl), -ETIMEDOUT);
    /* A message larger than the buffer stays queued. */
    uipc__deadline_start(&dl, 0);
    assert_int_equal(uipc__ring_recv(&b, buf, sizeof buf, &dl), -EMSGSIZE);
    assert_int_equal(uipc__ring_recv(&b, big, sizeof big, &dl), sizeof big);
    uipc__ring_ep_close(&a);
    uipc__ring_ep_close(&b);
}

struct blocked {
    struct uipc__ring_ep *ep;
    bool send;
    ssize_t result;
    int64_t returned_ns;
};

static void *block_forever(void *arg)
{
    struct blocked *bl = arg;
    struct uipc__deadline dl;
    static char buf[1000];
    uipc__deadline_start(&dl, -1);
    bl->result = bl->send ? uipc__ring_send(bl->ep, buf, sizeof buf, &dl)
                          : uipc__ring_recv(bl->ep, buf, sizeof buf, &dl);
    bl->returned_ns = uipc__now_ns();
    return NULL;
}

/* A clean close wakes a side blocked forever at once — receiving, or
 * sending into a full ring — whether it spins or not. */
static void close_wakes(const char *query, bool send)
{
    struct uipc__ring_ep a, b;
    struct uipc__deadline dl;
    static char big[1000];
    make_pair(&a, &b, query);
    if (send)
        for (;;) {
            uipc__deadline_start(&dl, 0);
            if (uipc__ring_send(&b, big, sizeof big, &dl) < 0)
                break;
        }
    struct blocked bl = {&b, send, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, block_forever, &bl), 0);
    usleep(100 * 1000);
    int64_t closed = uipc__now_ns();
    assert_true(uipc__ring_ep_close(&a));
    pthread_join(t, NULL);
    assert_int_equal(bl.result, -EPIPE);
    /* "At once": well under the 50 ms liveness slice. */
    assert_true(bl.returned_ns - closed < 40 * 1000000LL);
    uipc__ring_ep_close(&b);
}

static void test_close_wakes(void **state)
{
    (void)state;
    close_wakes("?size=4K&maxmsg=1000&spin=0", false);
    close_wakes("?size=4K&maxmsg=1000", false);
    close_wakes("?size=4K&maxmsg=1000&spin=0", true);
    close_wakes("?size=4K&maxmsg=1000&spin=1000", true);
}

static void test_drain_then_epipe(void **state)
{
    (void)state;
    struct uipc__ring_ep a, b;
    struct uipc__deadline dl;
    char buf[16];
    make_pair(&a, &b, "");
    uipc__deadline_start(&dl, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(uipc__ring_send(&a, "abc", 3, &dl), 3);
    assert_true(uipc__ring_ep_close(&a));
    for (int i = 0; i < 3; i++) {
        uipc__deadline_start(&dl, -1);
        assert_int_equal(uipc__ring_recv(&b, buf, sizeof buf, &dl), 3);
    }
    uipc__deadline_start(&dl, -1);
    assert_int_equal(uipc__ring_recv(&b, buf, sizeof buf, &dl), -EPIPE);
    assert_int_equal(uipc__ring_send(&b, "x", 1, &dl), -EPIPE);
    uipc__ring_ep_close(&b);
}

static void test_zero_copy(void **state)
{
    (void)state;
    struct uipc__ring_ep a, b;
    struct uipc__deadline dl;
    void *w;
    const void *r;
    make_pair(&a, &b, "?size=4K");
    uipc__deadline_start(&dl, 0);
    assert_int_equal(uipc__ring_send_reserve(&a, &w, 100, &dl), 0);
    /* Inside the mapping, and invisible until committed. */
    assert_true((unsigned char *)w > a.map && (unsigned char *)w < a.map + a.map_len);
    assert_int_equal(uipc__ring_send_reserve(&a, &w, 100, &dl), -EBUSY);
    tu_fill(w, 60, 5);
    assert_int_equal(uipc__ring_recv_peek(&b, &r, &dl), -EAGAIN);
    assert_int_equal(uipc__ring_send_commit(&a, 101), -EINVAL);
    assert_int_equal(uipc__ring_send_commit(&a, 60), 0);
    assert_int_equal(uipc__ring_send_commit(&a, 60), -EINVAL);
    assert_int_equal(uipc__ring_recv_peek(&b, &r, &dl), 60);
    assert_int_equal(tu_check(r, 60, 5), 0);
    assert_true((const unsigned char *)r > b.map && (const unsigned char *)r < b.map + b.map_len);
    assert_int_equal(uipc__ring_recv_release(&b), 0);
    assert_int_equal(uipc__ring_recv_release(&b), -EINVAL);
    assert_int_equal(uipc__ring_recv_peek(&b, &r, &dl), -EAGAIN);
    uipc__ring_ep_close(&a);
    uipc__ring_ep_close(&b);
}

static void test_params(void **state)
{
    (void)state;
    static const struct {
        const char *uri;
        int r;
        uint64_t size, max_msg;
    } cases[] = {
        {"shm:", 0, 1 << 20, 1 << 19},
        {"shm:?size=4K", 0, 4096, 2048},
        {"shm:?size=5000", 0, 8192, 4096},
        {"shm:?size=1G", 0, 1u << 30, 1u << 29},
        {"shm:?size=4K&maxmsg=4080", 0, 4096, 4080},
        {"shm:?maxmsg=4M", 0, 16u << 20, 4u << 20},
        {"shm:?maxmsg=100", 0, 1 << 20, 100},
        {"shm:?size=4K&maxmsg=4081", -EINVAL, 0, 0},
        {"shm:?size=4095", -EINVAL, 0, 0},
        {"shm:?size=0", -EINVAL, 0, 0},
        {"shm:?size=2G", -EINVAL, 0, 0},
        {"shm:?size=-1", -EINVAL, 0, 0},
        {"shm:?size=1X", -EINVAL, 0, 0},
        {"shm:?maxmsg=0", -EINVAL, 0, 0},
        {"shm:?spin=-1", -EINVAL, 0, 0},
        {"shm:?spin=1000001", -EINVAL, 0, 0},
        {"shm:?mode=0800", -EINVAL, 0, 0},
        {"shm:?size=4K&size=8K", -EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct uipc__uri u;
        struct uipc__ring_params p;
        assert_int_equal(uipc__uri_parse(&u, cases[i].uri), 0);
        int r = uipc__ring_params(&u, &p);
        if (r != cases[i].r)
            fail_msg("%s: %d, expected %d", cases[i].uri, r, cases[i].r);
        if (r == 0) {
            assert_int_equal(p.ring_size, cases[i].size);
            assert_int_equal(p.max_msg, cases[i].max_msg);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_full_and_wrap),
        cmocka_unit_test(test_max_record),
        cmocka_unit_test(test_commit_shorter),
        cmocka_unit_test(test_waiter_bits),
        cmocka_unit_test(test_stale_lookalikes),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_hostile_records),
        cmocka_unit_test(test_hostile_skip_and_tail),
        cmocka_unit_test(test_hostile_random),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_drain_then_epipe),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_close_wakes),
        cmocka_unit_test(test_threads_spin),
        cmocka_unit_test(test_threads_futex_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
