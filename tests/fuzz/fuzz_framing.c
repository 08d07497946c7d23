/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for stream framing (lib/framing.c): a hostile peer
 * sends arbitrary bytes on a stream and the receiver must never crash,
 * hang, read out of bounds or hand out a torn or invented message.
 *
 * Input layout: byte 0 selects the variant (bit 7: a pipe instead of a
 * UNIX stream socketpair; bit 6: create the poll descriptor and check its
 * readiness; the rest seeds the choice of receive buffer sizes), byte 1 is
 * the size of the pieces the peer writes (0 = everything at once), the
 * rest is the byte stream.  The peer writes piece by piece without
 * blocking, the receiver calls uipc__framer_recv with timeout 0 and a mix
 * of buffer sizes (tiny ones give -EMSGSIZE, after which it retries with a
 * large one), and at the end the peer closes its end.
 *
 * Every answer is checked against a reference model of the wire format
 * (4-byte little-endian length, then the body): a message must be exactly
 * the next frame of the stream, -EMSGSIZE only when that frame is larger
 * than the buffer, -EAGAIN only while the peer may still send the rest,
 * -EBADMSG only for a length no sender could have written, and -EPIPE only
 * once the stream has ended (cleanly or inside a frame).  With the poll
 * descriptor, whenever the model says a message or the end is there the
 * descriptor must poll readable (no missed wake-ups).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framing.h"
#include "internal.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_framing: check failed: %s (line %d)\n", #cond,     \
              __LINE__);                                                       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* What the reference model expects from the next receive. */
struct expect {
  ssize_t result; /* message length or negative errno */
  size_t body;    /* offset of the body in the stream, for a message */
};

struct model {
  const uint8_t *s;
  size_t n;       /* stream length */
  size_t pos;     /* offset of the next frame header */
  size_t written; /* bytes the peer has written so far */
  int closed;     /* the peer closed its end */
};

static struct expect model_next(const struct model *m, size_t cap) {
  size_t avail = m->written - m->pos;
  struct expect e = {0, 0};
  if (avail < UIPC__FRAME_HDR) {
    e.result = m->closed ? -EPIPE : -EAGAIN;
    return e;
  }
  const uint8_t *h = m->s + m->pos;
  uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                 (uint32_t)h[3] << 24;
  if (len > UIPC__MAXMSG_CEILING)
    e.result = -EBADMSG;
  else if (len > cap)
    e.result = -EMSGSIZE;
  else if (avail - UIPC__FRAME_HDR >= len) {
    e.result = (ssize_t)len;
    e.body = m->pos + UIPC__FRAME_HDR;
  } else
    e.result = m->closed ? -EPIPE : -EAGAIN;
  return e;
}

static uint32_t rng_next(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

static const size_t small_caps[] = {0,  1,  2,  3,  4,   5,   7,    8,
                                    15, 16, 31, 64, 255, 256, 1000, 4096};

static int poll_ready(int epfd) {
  struct epoll_event ev[4];
  int n;
  while ((n = epoll_wait(epfd, ev, 4, 0)) < 0 && errno == EINTR)
    ;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > (1u << 20))
    return 0;
  const bool use_pipe = data[0] & 0x80, use_poll = data[0] & 0x40;
  const size_t piece = data[1] ? data[1] : size;
  struct model m = {.s = data + 2, .n = size - 2};
  uint32_t rng = 0x9e3779b9u ^ data[0] ^ (uint32_t)size << 8;

  int fds[2];
  if (use_pipe ? pipe2(fds, O_CLOEXEC | O_NONBLOCK)
               : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                            0, fds))
    abort();
  int peer = fds[1];
  struct uipc__framer f;
  uipc__framer_init(&f, fds[0], use_pipe ? -1 : fds[0], !use_pipe);
  int epfd = -1;
  if (use_poll) {
    epfd = uipc__framer_pollfd(&f);
    CHECK(epfd >= 0);
  }

  const size_t big = m.n + 16;
  unsigned char *buf = malloc(big);
  if (!buf)
    abort();
  struct uipc__deadline now;
  uipc__deadline_start(&now, 0);

  bool done = false, retry_big = false;
  unsigned stalls = 0;
  while (!done) {
    /* The peer: one more piece, or the end of the stream. */
    if (m.written < m.n) {
      size_t want = m.n - m.written < piece ? m.n - m.written : piece;
      ssize_t w = write(peer, m.s + m.written, want);
      if (w > 0)
        m.written += (size_t)w;
      else
        CHECK(w < 0 && errno == EAGAIN); /* full: the receiver must drain */
    } else if (!m.closed) {
      close(peer);
      peer = -1;
      m.closed = 1;
    }

    /* The receiver: everything that is there now. */
    for (;;) {
      size_t cap = retry_big || (rng_next(&rng) & 3) == 0
                       ? big
                       : small_caps[rng_next(&rng) %
                                    (sizeof small_caps / sizeof *small_caps)];
      retry_big = false;
      struct expect e = model_next(&m, cap);
      ssize_t r = uipc__framer_recv(&f, buf, cap, &now);
      if (r != e.result)
        fprintf(
            stderr,
            "fuzz_framing: got %zd, model says %zd (pos %zu/%zu, cap %zu)\n", r,
            e.result, m.pos, m.written, cap);
      CHECK(r == e.result);
      if (r >= 0) {
        CHECK(memcmp(buf, m.s + e.body, (size_t)r) == 0);
        m.pos = e.body + (size_t)r;
        stalls = 0;
      } else if (r == -EMSGSIZE) {
        if (cap == big) {
          done = true; /* larger than any buffer we have: it stays queued */
          break;
        }
        retry_big = true;
        continue;
      } else if (r == -EAGAIN) {
        break;
      } else {
        /* -EPIPE or -EBADMSG: terminal, and it must stay so. */
        CHECK(uipc__framer_recv(&f, buf, big, &now) == r);
        done = true;
        break;
      }
      if (use_poll) {
        struct expect after = model_next(&m, big);
        if (after.result != -EAGAIN && after.result != -EMSGSIZE)
          CHECK(poll_ready(epfd) > 0);
      }
    }
    if (!done && m.closed)
      CHECK(++stalls < 4); /* after the end every call must make progress */
  }

  free(buf);
  if (peer >= 0)
    close(peer);
  uipc__framer_release(&f);
  return 0;
}
