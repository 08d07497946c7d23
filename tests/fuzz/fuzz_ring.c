/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the shared-memory ring (lib/ring.c, layer 1).  The
 * mapping is shared with a process we do not trust, so whatever it holds
 * and however the peer rewrites it between our calls, every call must
 * answer as ring.h documents (a length <= max_msg, -EAGAIN, -EBADMSG,
 * -EMSGSIZE only for len > max_msg), hand out only pointers that lie with
 * their whole length inside the data area, and never touch a byte outside
 * it.  A second, honest mode checks the ring itself against a model: with
 * no hostile writes, every committed message arrives once, in order,
 * intact, a reopened side resumes where it stopped, and no waiter bit is
 * lost.
 *
 * Input layout (missing bytes read as zero, integers little-endian):
 *   [0]      log2 of the data area size: 5 + b % 12 (32 B .. 64 KiB); the
 *            ring code is the same at every power of two, small ones wrap
 *            more often per step
 *   [1..2]   max_msg: 0 = size - 16, else 1 + (v - 1) % (size - 16)
 *   [3]      bit 0: honest mode (data area starts zeroed, no hostile
 *            writes, model checks); otherwise hostile
 *   [4..11]  the shared tail (honest mode rounds it down to 16)
 *   [12..13] n, then n bytes copied to the data area at offset 0 (hostile
 *            mode only: commit words, lengths, tags as the peer left them)
 *   then ops, one byte each (b % 14) and their arguments, at most MAX_STEPS:
 *     0 peek                        1 release (after a successful peek)
 *     2 readable                    3 writable     len:2
 *     4 reserve  len:2 fill:1       5 commit       len:2 (clamped to the reservation)
 *     6 send (reserve + commit) len:2 fill:1       7 recv (peek + release)
 *     8 bind the consumer again     9 bind the producer again (drops a reservation:
 *                                     a writer killed mid-record)
 *    10 waiter   which:1 val:4      set waiter bits (honest: as a sleeper would)
 *    11 poke     off:2 val:8        hostile: overwrite 8 data bytes anywhere
 *    12 forge    who:1 tag:1 len:4  hostile: write a record header at the
 *                                   consumer's (who bit 0 = 0) or producer's
 *                                   position + (int8)who / 2 slots
 *    13 tail     kind:1 val:8       hostile: tail = val, tx.pos + val or rx.pos + val
 *   A len above max_msg + 1 is folded into 0..max_msg + 1 (max_msg + 1 tests
 *   -EMSGSIZE).  Fill bit 0 writes payload words that look like commit words
 *   (of their own slot, bits 1-2 laps ahead, tag DATA or SKIP by bit 3),
 *   else a byte pattern; bit 7 of reserve's fill cross-checks writable.
 *   As the endpoint does, reserve and writable are called only between
 *   reservations, commit and release only after a successful reserve/peek.
 *
 * The data area sits at the end of a read-write mapping followed by a
 * PROT_NONE page, the bytes before it are poisoned for AddressSanitizer,
 * and the ring control block is placed the same way: any access outside
 * either faults.  Calls made after a -EBADMSG continue (they must stay
 * safe); a side whose bind failed is not used until a bind succeeds.
 */
#include <errno.h>
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_ring: check failed: %s (line %d)\n", #cond,        \
              __LINE__);                                                       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#define MIN_LOG2 5
#define MAX_LOG2 16
#define MAX_SIZE ((size_t)1 << MAX_LOG2)
#define MAX_STEPS 2048
/* Payload bytes written and read per input, see spend(). */
#define BYTE_BUDGET ((size_t)4 << 20)
#define QCAP 4096 /* > MAX_STEPS: at most one message per step */

/* FUZZ_RING_TRACE=1 in the environment prints every call and its result:
 * for reading a reproducer or checking that a seed does what it says. */
static bool tracing;
#define TRACE(...)                                                             \
  do {                                                                         \
    if (tracing)                                                               \
      fprintf(stderr, __VA_ARGS__);                                            \
  } while (0)

enum {
  OP_PEEK,
  OP_RELEASE,
  OP_READABLE,
  OP_WRITABLE,
  OP_RESERVE,
  OP_COMMIT,
  OP_SEND,
  OP_RECV,
  OP_BIND_CONS,
  OP_BIND_PROD,
  OP_WAITER,
  OP_POKE,
  OP_FORGE,
  OP_TAIL,
  OP_COUNT
};

struct input {
  const uint8_t *p;
  size_t n, off;
};

static uint64_t take(struct input *in, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; i++, in->off++)
    if (in->off < in->n)
      v |= (uint64_t)in->p[in->off] << (8 * i);
  return v;
}

/* A committed message as the model remembers it. */
struct msg {
  uint64_t seq, pos;
  uint32_t len;
  uint8_t fill;
};

struct fuzz {
  bool honest;
  uint64_t size, mask, max_msg;
  unsigned char *data;
  struct uipc__ring_ctl *ctl;
  struct uipc__ring rx, tx;
  bool rx_bound, tx_bound;
  /* consumer */
  bool peeked, touched; /* touched: something may have rewritten the record since */
  ssize_t peek_len;
  const void *peek_buf;
  /* producer */
  bool reserved;
  size_t reserved_len;
  uint8_t fill;
  uint64_t seq;
  size_t budget;
  /* model (honest mode): committed, not yet released */
  struct msg q[QCAP];
  size_t qhead, qcount;
};

static unsigned char scratch[MAX_SIZE];

/*
 * A read-write region of len bytes (rounded up to pages) between two
 * PROT_NONE pages; returns its end.  Made once, reused by every input.
 */
static unsigned char *guarded_end(size_t len) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  size_t rw = (len + pg - 1) & ~(pg - 1);
  unsigned char *m = mmap(NULL, rw + 2 * pg, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m + pg, rw, PROT_READ | PROT_WRITE) < 0)
    abort();
  return m + pg + rw;
}

/* The payload byte i of message seq at position pos. */
static unsigned char gen(const struct fuzz *f, uint64_t seq, uint64_t pos,
                         uint8_t fill, size_t i) {
  if (fill & 1) {
    /* The word holding byte i, as the commit word of its own position
     * (some laps ahead): what a stale slot must never be taken for. */
    uint64_t at = pos + UIPC__RING_REC_HDR + (i & ~(size_t)7);
    uint64_t word = (at + ((fill >> 1) & 3) * f->size) |
                    ((fill & 8) ? UIPC__REC_SKIP : UIPC__REC_DATA);
    return (unsigned char)(word >> (8 * (i & 7)));
  }
  return (unsigned char)(seq * 131 + i * 7 + (seq >> 8));
}

/* Counts payload bytes against the budget; the run stops when it is spent
 * (after at most one more message), so big rings stay fast. */
static void spend(struct fuzz *f, size_t n) {
  f->budget = n < f->budget ? f->budget - n : 0;
}

static size_t fold_len(const struct fuzz *f, uint64_t v) {
  return (size_t)(v <= f->max_msg + 1 ? v : v % (f->max_msg + 2));
}

/* p .. p + len lies inside the data area, at a payload offset. */
static void check_span(const struct fuzz *f, const void *p, size_t len) {
  uintptr_t b = (uintptr_t)p, lo = (uintptr_t)f->data;
  CHECK(b >= lo + UIPC__RING_REC_HDR && b <= lo + f->size);
  CHECK(len <= lo + f->size - b);
  CHECK((b - lo) % UIPC__RING_REC_HDR == 0);
}

static uint64_t commit_at(const struct fuzz *f, uint64_t pos) {
  uint64_t w;
  memcpy(&w, f->data + (pos & f->mask), 8);
  return w;
}

static bool names(uint64_t commit, uint64_t pos) {
  return (commit & ~(uint64_t)UIPC__REC_TAG_MASK) == pos &&
         (commit & UIPC__REC_TAG_MASK);
}

/* The producer's invariants that keep its next accesses in bounds. */
static void check_tx(const struct fuzz *f) {
  CHECK((f->tx.pos & UIPC__REC_TAG_MASK) == 0);
  CHECK(f->tx.pos - f->tx.tail <= f->size);
  /* Honest: the slot where the next record goes never reads as committed
   * (the producer cleared it, or it is the oldest unread record's). */
  if (f->honest)
    CHECK(!names(commit_at(f, f->tx.pos), f->tx.pos));
}

/* Honest: the shared tail is where the consumer is. */
static void check_rx(const struct fuzz *f) {
  CHECK((f->rx.pos & UIPC__REC_TAG_MASK) == 0);
  if (f->honest)
    CHECK(atomic_load(&f->ctl->tail) == f->rx.pos);
}

static void op_peek(struct fuzz *f) {
  if (!f->rx_bound)
    return;
  uint64_t pos0 = f->rx.pos;
  uint32_t prod_before = atomic_load(&f->ctl->prod_wait);
  const void *buf = NULL;
  uint32_t bits = 0xdeadbeef;
  ssize_t n = uipc__ring_peek(&f->rx, &buf, &bits);
  TRACE("peek @%#llx -> %zd (pos %#llx, bits %u)\n", (unsigned long long)pos0, n,
        (unsigned long long)f->rx.pos, bits);
  CHECK(n == -EAGAIN || n == -EBADMSG || (n >= 0 && (uint64_t)n <= f->max_msg));
  check_rx(f);
  /* Peeking again returns the same message (unless the peer rewrote it). */
  if (f->peeked && (f->honest || !f->touched))
    CHECK(n == f->peek_len && buf == f->peek_buf && f->rx.pos == pos0);
  if (n >= 0) {
    check_span(f, buf, (size_t)n);
    spend(f, (size_t)n);
    memcpy(scratch, buf, (size_t)n); /* AddressSanitizer checks every byte */
  }
  if (f->honest) {
    CHECK(n != -EBADMSG);
    if (f->rx.pos != pos0) /* consumed a skip: published the tail */
      CHECK(bits == prod_before && atomic_load(&f->ctl->prod_wait) == 0);
    else
      CHECK(bits == 0 && atomic_load(&f->ctl->prod_wait) == prod_before);
    if (f->qcount == 0) {
      CHECK(n == -EAGAIN);
    } else {
      const struct msg *m = &f->q[f->qhead];
      CHECK(n == (ssize_t)m->len);
      CHECK(buf == f->data + (m->pos & f->mask) + UIPC__RING_REC_HDR);
      for (size_t i = 0; i < m->len; i++)
        CHECK(((const unsigned char *)buf)[i] ==
              gen(f, m->seq, m->pos, m->fill, i));
    }
  }
  f->peeked = n >= 0;
  f->touched = false;
  f->peek_len = n;
  f->peek_buf = buf;
}

static void op_release(struct fuzz *f) {
  if (!f->rx_bound || !f->peeked)
    return;
  uint64_t expect = f->rx.pos + uipc__ring_rec_size((uint64_t)f->peek_len);
  uint32_t prod_before = atomic_load(&f->ctl->prod_wait);
  uint32_t bits = uipc__ring_release(&f->rx);
  TRACE("release -> pos %#llx, bits %u\n", (unsigned long long)f->rx.pos, bits);
  CHECK(f->rx.pos == expect);
  check_rx(f);
  if (f->honest) {
    CHECK(bits == prod_before && atomic_load(&f->ctl->prod_wait) == 0);
    CHECK(f->qcount > 0);
    f->qhead = (f->qhead + 1) % QCAP;
    f->qcount--;
  }
  f->peeked = false;
}

static void op_readable(struct fuzz *f) {
  if (!f->rx_bound)
    return;
  bool r = uipc__ring_readable(&f->rx);
  TRACE("readable @%#llx -> %d\n", (unsigned long long)f->rx.pos, r);
  if (f->honest) {
    if (f->qcount)
      CHECK(r);
    else if (r) /* only a skip can be there */
      CHECK(commit_at(f, f->rx.pos) == (f->rx.pos | UIPC__REC_SKIP));
  }
}

/* Like reserve, only between reservations: the endpoint asks writable
 * only while it waits to reserve. */
static void op_writable(struct fuzz *f, size_t len) {
  if (!f->tx_bound || f->reserved || len > f->max_msg)
    return;
  bool w = uipc__ring_writable(&f->tx, len);
  TRACE("writable %zu -> %d\n", len, w);
  check_tx(f);
}

/* Returns whether a reservation was made. */
static bool op_reserve(struct fuzz *f, size_t len, uint8_t fill) {
  if (!f->tx_bound || f->reserved)
    return false;
  f->touched = true;
  bool cross = f->honest && (fill & 0x80) && len <= f->max_msg;
  bool w = cross && uipc__ring_writable(&f->tx, len);
  /* Honest and nothing in flight: the ring is empty. */
  bool empty = f->honest && f->qcount == 0 && f->rx.pos == f->tx.pos;
  uint64_t pos0 = f->tx.pos;
  uint32_t cons_before = atomic_load(&f->ctl->cons_wait);
  void *buf = NULL;
  uint32_t bits = 0xdeadbeef;
  int r = uipc__ring_reserve(&f->tx, len, &buf, &bits);
  TRACE("reserve %zu @%#llx -> %d (pos %#llx, tail %#llx, bits %u)\n", len,
        (unsigned long long)pos0, r, (unsigned long long)f->tx.pos,
        (unsigned long long)f->tx.tail, bits);
  if (len > f->max_msg)
    CHECK(r == -EMSGSIZE && bits == 0 && f->tx.pos == pos0);
  else
    CHECK(r == 0 || r == -EAGAIN || r == -EBADMSG);
  check_tx(f);
  if (f->honest) {
    CHECK(r != -EBADMSG);
    if (f->tx.pos != pos0) { /* published a skip to the end of the area */
      CHECK(f->tx.pos - pos0 == f->size - (pos0 & f->mask));
      CHECK(bits == cons_before && atomic_load(&f->ctl->cons_wait) == 0);
    } else {
      CHECK(bits == 0 && atomic_load(&f->ctl->cons_wait) == cons_before);
    }
    /* writable is the wait condition: false means reserve fails as is,
     * true means reserve succeeds or at least makes progress (a skip). */
    if (cross)
      CHECK(w ? (r == 0 || f->tx.pos != pos0)
              : (r == -EAGAIN && f->tx.pos == pos0));
    /* An empty ring never refuses a message without making progress. */
    if (empty && len <= f->max_msg)
      CHECK(r == 0 || f->tx.pos != pos0);
  }
  if (r != 0)
    return false;
  check_span(f, buf, len);
  /* The reservation lies in space the (validated) tail says is free. */
  CHECK(f->tx.pos + uipc__ring_rec_size(len) - f->tx.tail <= f->size);
  spend(f, len);
  for (size_t i = 0; i < len; i++)
    scratch[i] = gen(f, f->seq, f->tx.pos, fill, i);
  memcpy(buf, scratch, len); /* AddressSanitizer checks every byte */
  f->reserved = true;
  f->reserved_len = len;
  f->fill = fill;
  return true;
}

static void op_commit(struct fuzz *f, size_t want) {
  if (!f->tx_bound || !f->reserved)
    return;
  f->touched = true;
  size_t len = want < f->reserved_len ? want : f->reserved_len;
  uint64_t pos0 = f->tx.pos;
  uint32_t cons_before = atomic_load(&f->ctl->cons_wait);
  uint32_t bits = uipc__ring_commit(&f->tx, len);
  TRACE("commit %zu @%#llx -> bits %u\n", len, (unsigned long long)pos0, bits);
  f->reserved = false;
  CHECK(f->tx.pos == pos0 + uipc__ring_rec_size(len));
  check_tx(f);
  if (f->honest) {
    CHECK(bits == cons_before && atomic_load(&f->ctl->cons_wait) == 0);
    CHECK(f->qcount < QCAP);
    f->q[(f->qhead + f->qcount) % QCAP] =
        (struct msg){f->seq, pos0, (uint32_t)len, f->fill};
    f->qcount++;
  }
  f->seq++;
}

static void op_bind_cons(struct fuzz *f) {
  uint64_t old = f->rx.pos, tail = atomic_load(&f->ctl->tail);
  bool was = f->rx_bound;
  int r = uipc__ring_bind(&f->rx, f->ctl, f->data, f->size, f->max_msg, false);
  TRACE("bind consumer, tail %#llx -> %d\n", (unsigned long long)tail, r);
  CHECK(r == 0 || r == -EBADMSG);
  f->rx_bound = r == 0;
  f->peeked = false;
  if (r == 0) {
    CHECK(f->rx.pos == tail);
    check_rx(f);
  }
  /* Honest: a consumer that reopens resumes after what it released. */
  if (f->honest)
    CHECK(r == 0 && (!was || f->rx.pos == old));
}

static void op_bind_prod(struct fuzz *f) {
  uint64_t old = f->tx.pos;
  bool was = f->tx_bound;
  f->touched = true;
  int r = uipc__ring_bind(&f->tx, f->ctl, f->data, f->size, f->max_msg, true);
  TRACE("bind producer -> %d (pos %#llx, tail %#llx)\n", r,
        (unsigned long long)f->tx.pos, (unsigned long long)f->tx.tail);
  CHECK(r == 0 || r == -EBADMSG);
  f->tx_bound = r == 0;
  f->reserved = false;
  if (r == 0)
    check_tx(f);
  /* Honest: a producer that reopens (even killed mid-record) resumes
   * after the last record it committed. */
  if (f->honest)
    CHECK(r == 0 && (!was || f->tx.pos == old));
}

static void op_waiter(struct fuzz *f, unsigned which, uint32_t val) {
  _Atomic uint32_t *word = which & 1 ? &f->ctl->prod_wait : &f->ctl->cons_wait;
  if (!f->honest)
    atomic_store(word, val);
  else if (which & 1)
    atomic_fetch_or(word, UIPC__RING_SLEEPING);
  else
    atomic_fetch_or(word, 1 + val % 3); /* SLEEPING, PARKED or both */
}

static void op_poke(struct fuzz *f, uint64_t off, uint64_t val) {
  memcpy(f->data + off % (f->size - 7), &val, 8);
  f->touched = true;
}

static void op_forge(struct fuzz *f, unsigned who, unsigned tag, uint32_t len) {
  uint64_t base = who & 1 ? f->tx.pos : f->rx.pos;
  uint64_t pos = base + (uint64_t)(int64_t)((int8_t)who / 2) * UIPC__RING_REC_HDR;
  unsigned char *p = f->data + (pos & f->mask & ~(uint64_t)15);
  uint64_t commit = (pos & ~(uint64_t)UIPC__REC_TAG_MASK) | (tag & 15);
  uint32_t zero = 0;
  memcpy(p, &commit, 8);
  memcpy(p + 8, &len, 4);
  memcpy(p + 12, &zero, 4);
  f->touched = true;
}

static void op_tail(struct fuzz *f, unsigned kind, uint64_t val) {
  uint64_t base = kind % 3 == 0 ? 0 : kind % 3 == 1 ? f->tx.pos : f->rx.pos;
  atomic_store(&f->ctl->tail, base + val);
}

static struct fuzz state;

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
  static unsigned char *data_end, *ctl_end;
  if (!data_end) {
    tracing = getenv("FUZZ_RING_TRACE") != NULL;
    data_end = guarded_end(MAX_SIZE);
    ctl_end = guarded_end(sizeof(struct uipc__ring_ctl));
  }
  struct input in = {buf, len, 0};
  struct fuzz *f = &state;
  memset(f, 0, offsetof(struct fuzz, q));
  f->size = (uint64_t)1 << (MIN_LOG2 + take(&in, 1) % (MAX_LOG2 - MIN_LOG2 + 1));
  f->mask = f->size - 1;
  uint64_t mm = take(&in, 2);
  f->max_msg = mm == 0 ? f->size - UIPC__RING_REC_HDR
                       : 1 + (mm - 1) % (f->size - UIPC__RING_REC_HDR);
  f->honest = take(&in, 1) & 1;
  uint64_t tail = take(&in, 8);
  if (f->honest)
    tail &= ~(uint64_t)UIPC__REC_TAG_MASK;
  f->budget = BYTE_BUDGET;
  TRACE("size %llu, max_msg %llu, %s, tail %#llx\n", (unsigned long long)f->size,
        (unsigned long long)f->max_msg, f->honest ? "honest" : "hostile",
        (unsigned long long)tail);

  /* The data area ends at the guard page; the slack before it is poisoned. */
  ASAN_UNPOISON_MEMORY_REGION(data_end - MAX_SIZE, MAX_SIZE);
  f->data = data_end - f->size;
  memset(f->data, 0, f->size);
  ASAN_POISON_MEMORY_REGION(data_end - MAX_SIZE, MAX_SIZE - f->size);
  f->ctl = (struct uipc__ring_ctl *)(void *)(ctl_end - sizeof(struct uipc__ring_ctl));
  memset(f->ctl, 0, sizeof *f->ctl);
  atomic_store(&f->ctl->tail, tail);

  size_t image = (size_t)take(&in, 2);
  for (size_t i = 0; i < image && in.off < in.n; i++) {
    unsigned char b = (unsigned char)take(&in, 1);
    if (!f->honest && i < f->size)
      f->data[i] = b;
  }

  /* Attach: the consumer, then the producer (which walks the records). */
  op_bind_cons(f);
  op_bind_prod(f);

  for (unsigned step = 0; step < MAX_STEPS && in.off < in.n && f->budget; step++) {
    unsigned op = (unsigned)(take(&in, 1) % OP_COUNT);
    switch (op) {
    case OP_PEEK:
      op_peek(f);
      break;
    case OP_RELEASE:
      op_release(f);
      break;
    case OP_READABLE:
      op_readable(f);
      break;
    case OP_WRITABLE:
      op_writable(f, fold_len(f, take(&in, 2)));
      break;
    case OP_RESERVE: {
      size_t l = fold_len(f, take(&in, 2));
      op_reserve(f, l, (uint8_t)take(&in, 1));
      break;
    }
    case OP_COMMIT:
      op_commit(f, (size_t)take(&in, 2));
      break;
    case OP_SEND: {
      size_t l = fold_len(f, take(&in, 2));
      if (op_reserve(f, l, (uint8_t)take(&in, 1)))
        op_commit(f, l);
      break;
    }
    case OP_RECV:
      op_peek(f);
      op_release(f);
      break;
    case OP_BIND_CONS:
      op_bind_cons(f);
      break;
    case OP_BIND_PROD:
      op_bind_prod(f);
      break;
    case OP_WAITER: {
      unsigned which = (unsigned)take(&in, 1);
      op_waiter(f, which, (uint32_t)take(&in, 4));
      break;
    }
    case OP_POKE: {
      uint64_t off = take(&in, 2);
      uint64_t val = take(&in, 8);
      if (!f->honest)
        op_poke(f, off, val);
      break;
    }
    case OP_FORGE: {
      unsigned who = (unsigned)take(&in, 1), tag = (unsigned)take(&in, 1);
      uint32_t l = (uint32_t)take(&in, 4);
      if (!f->honest)
        op_forge(f, who, tag, l);
      break;
    }
    case OP_TAIL: {
      unsigned kind = (unsigned)take(&in, 1);
      uint64_t val = take(&in, 8);
      if (!f->honest)
        op_tail(f, kind, val);
      break;
    }
    }
  }

  /* Honest: everything committed is still there to be received, in order. */
  if (f->honest) {
    f->budget = BYTE_BUDGET; /* the drain verifies every byte */
    for (size_t i = 0, n = f->qcount; i <= n; i++) {
      op_peek(f);
      if (!f->peeked)
        break;
      op_release(f);
    }
    CHECK(f->qcount == 0);
  }
  return 0;
}
