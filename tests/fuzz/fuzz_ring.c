/*
 * libFuzzer harness for the shared-memory ring (lib/ring.c, layer 1): the
 * mapping is shared with a process we do not trust, so arbitrary indices
 * and record contents must give -EBADMSG (or -EAGAIN), never an access
 * outside the data area, a message longer than max_msg, or a loop.
 *
 * Input layout (missing bytes read as zero):
 *   [0]      log2 of the data area size, folded into 6..12 (64 B .. 4 KiB)
 *   [1]      max_msg selector
 *   [2..9]   head, [10..17] tail (little-endian, as the hostile peer left them)
 *   [18..19] n: how many bytes of the data area follow
 *   [20..]   n bytes of data area contents, then "mutations" applied
 *            between calls: 11-byte records (op, 2-byte offset, 8-byte
 *            value) that overwrite head, tail or a data word as a peer
 *            writing concurrently would.
 * The data area is a heap block of exactly its size, so AddressSanitizer
 * reports any byte read or written outside it.  The initial indices obey
 * uipc__ring_bind's precondition (validated at attach); the mutations do
 * not.  The consumer is driven with
 * peek/release, then a producer bound to the same (corrupt) state tries
 * reserve/commit of a few lengths.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_ring: check failed: %s (line %d)\n", #cond,        \
              __LINE__);                                                       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

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

/* Applies the next mutation, if any: what a concurrent hostile peer does. */
static void mutate(struct input *in, struct uipc__ring_ctl *ctl,
                   unsigned char *data, uint64_t size) {
  if (in->off + 11 > in->n)
    return;
  unsigned op = (unsigned)take(in, 1);
  uint64_t at = take(in, 2), v = take(in, 8);
  switch (op % 4) {
  case 0:
    atomic_store(&ctl->head, v);
    break;
  case 1:
    atomic_store(&ctl->tail, v);
    break;
  case 2:
    memcpy(data + ((at * 8) & (size - 1) & ~(uint64_t)7), &v, 8);
    break;
  default:
    break; /* no change this time */
  }
}

static bool inside(const void *p, size_t len, const unsigned char *data,
                   uint64_t size) {
  const unsigned char *b = p;
  return b >= data && b <= data + size && len <= (size_t)(data + size - b);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
  struct input in = {buf, len, 0};
  uint64_t size = 1ull << (6 + take(&in, 1) % 7);
  static const uint64_t max_sel[] = {0, 1, 8, 56, 64, 1000};
  uint64_t max_msg = max_sel[take(&in, 1) % 6];
  if (max_msg == 0 || max_msg > size - UIPC__RING_REC_HDR)
    max_msg = size - UIPC__RING_REC_HDR;
  uint64_t head = take(&in, 8), tail = take(&in, 8);
  size_t ndata = (size_t)take(&in, 2);

  struct uipc__ring_ctl *ctl = aligned_alloc(UIPC__RING_LINE, sizeof *ctl);
  unsigned char *data = malloc(size);
  if (!ctl || !data)
    abort();
  memset(ctl, 0, sizeof *ctl);
  memset(data, 0, size);
  for (size_t i = 0; i < ndata && in.off < in.n; i++)
    data[i % size] = (unsigned char)take(&in, 1);
  atomic_store(&ctl->head, head);
  atomic_store(&ctl->tail, tail);
  /* uipc__ring_bind takes indices already validated at attach (layer 2,
   * check_indices): 8-aligned and at most a ring apart.  Everything a
   * peer writes after that is fair game (the mutations below). */
  if ((head | tail) & 7 || head - tail > size) {
    free(data);
    free(ctl);
    return 0;
  }

  /* Consumer: every message in bounds, then -EAGAIN or -EBADMSG. */
  struct uipc__ring rx;
  uipc__ring_bind(&rx, ctl, data, size, max_msg, false);
  for (unsigned step = 0; step < 2 * size / UIPC__RING_REC_HDR + 8; step++) {
    const void *msg = NULL;
    uint32_t bits = 0;
    (void)uipc__ring_readable(&rx);
    ssize_t n = uipc__ring_peek(&rx, &msg, &bits);
    CHECK(n >= 0 || n == -EAGAIN || n == -EBADMSG);
    if (n < 0)
      break;
    CHECK((uint64_t)n <= max_msg);
    CHECK(inside(msg, (size_t)n, data, size));
    /* Peeking again returns the same message. */
    const void *again = NULL;
    CHECK(uipc__ring_peek(&rx, &again, &bits) == n && again == msg);
    volatile unsigned char sink = 0;
    for (ssize_t i = 0; i < n; i++)
      sink ^= ((const unsigned char *)msg)[i]; /* ASan checks every byte */
    (void)sink;
    (void)uipc__ring_release(&rx);
    mutate(&in, ctl, data, size);
  }

  /* Producer over the same hostile state: reservations stay in bounds. */
  struct uipc__ring tx;
  head = atomic_load(&ctl->head);
  tail = atomic_load(&ctl->tail);
  if ((head | tail) & 7 || head - tail > size)
    goto out; /* attach would refuse these (bind's precondition) */
  uipc__ring_bind(&tx, ctl, data, size, max_msg, true);
  static const size_t lens[] = {0, 1, 7, 8, 9, 63};
  for (unsigned step = 0; step < 8; step++) {
    size_t want = lens[step % 6] <= max_msg ? lens[step % 6] : max_msg;
    void *p = NULL;
    (void)uipc__ring_writable(&tx, want);
    uint32_t cons_bits = 0;
    int r = uipc__ring_reserve(&tx, want, &p, &cons_bits);
    CHECK(r == 0 || r == -EAGAIN || r == -EBADMSG);
    if (r < 0)
      break;
    CHECK(inside(p, want, data, size));
    memset(p, 0xab, want);
    (void)uipc__ring_commit(&tx, want);
    mutate(&in, ctl, data, size);
  }

out:
  free(data);
  free(ctl);
  return 0;
}
