/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the recovery code of the persistent transports:
 * what file: (lib/transport/file.c) and mmap: (lib/ring.c,
 * uipc__ring_open_at and uipc__ring_bind) do with whatever a file left on
 * disk holds when a channel is opened over it.  The files outlive the
 * processes that wrote them, so their content is untrusted input: a
 * crashed writer, another program, a disk that mangled them.
 *
 * The input becomes the content of the spool files (<dir>/sp.c2s,
 * <dir>/sp.s2c) or of the ring file (<dir>/ring) in a private directory
 * made once per process; then the harness opens the owner side (the
 * UIPC_CREATE path that adopts existing files), the attacher side, or both
 * in either order, and drives uipc_recv / uipc_send (or the zero-copy
 * calls) a bounded number of times, always with timeout 0.  Every call
 * must return a length within its bounds (a message <= the buffer, and on
 * mmap: <= uipc_max_msg — a spool does not record ?maxmsg=, so file:
 * delivers a record written under a larger one, as stream transports do;
 * a send its length) or one of the negative errnos the transports
 * document; nothing may crash, hang, fault on the mapping
 * (SIGBUS included), read or write out of bounds (ASan + UBSan) or leak a
 * descriptor.  The files are removed after each input.
 *
 * Input layout (missing bytes read as zero):
 *   [0] bit 0     transport: 0 file:, 1 mmap:
 *       bits 1-2  who opens: 0 owner, 1 attacher, 2 owner then attacher,
 *                 3 attacher then owner (a failed open just leaves one)
 *       bit 3     file: the content goes to sp.s2c (else sp.c2s);
 *                 mmap: extend the file (sparse) to the total size its
 *                 header claims, at most 64 MiB, so that short inputs
 *                 reach the rings
 *       bit 4     file: both files come from the input, split at [4..5]
 *                 (else the other file is an empty valid spool)
 *       bit 5     create each channel's poll descriptor and poll it (0 ms)
 *                 after every call
 *       bit 6     zero-copy calls (peek/release, reserve/commit)
 *       bit 7     after the calls, close both channels, open them again
 *                 over what they left and drain again
 *   [1..2]        eight calls, 2 bits each: recv A, send A, recv B, send B
 *                 (A the first channel opened, B the second); then each
 *                 channel receives until it gets no message (at most 8);
 *                 then A closes and B receives again (it finds A gone)
 *   [3]           seeds the receive buffer sizes and send lengths
 *   [4..5]        file: with bit 4, the length of the first file's content
 *                 (little-endian, at most what there is)
 *   [6..]         the file content
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring_ep.h"
#include "uipc/uipc.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_recovery: check failed: %s (line %d)\n", #cond,    \
              __LINE__);                                                       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* -DFUZZ_RECOVERY_TRACE prints every call and its result (to read a
 * reproducer). */
#ifdef FUZZ_RECOVERY_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

#define HDR 6
#define CALLS 8
#define DRAIN 8
#define MAX_EXTEND (64u << 20)
#define SPOOL_HDR 4096u

static char dir[64];
static int dirfd_ = -1;

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

/* Removes every file of the private directory (the harness's own and
 * whatever the library made: temporary files included). */
static void clear_dir(void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  CHECK(d != NULL);
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      CHECK(unlinkat(dirfd_, e->d_name, 0) == 0);
  closedir(d);
}

static void remove_dir(void) {
  if (!dir[0])
    return;
  clear_dir();
  close(dirfd_);
  rmdir(dir);
  dir[0] = '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(dir, sizeof dir, "/tmp/uipc-fuzz-recovery-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(dirfd_ >= 0);
  atexit(remove_dir);
  return 0;
}

static void write_file(const char *name, const uint8_t *p, size_t n) {
  int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    CHECK(w > 0);
    p += w;
    n -= (size_t)w;
  }
  close(fd);
}

/* An empty spool file as file.c writes it: magic, version 1, header size,
 * commit_off = read_off = 4096, no writer yet. */
static void write_empty_spool(const char *name) {
  static uint8_t h[SPOOL_HDR];
  uint32_t version = 1, hdr_size = SPOOL_HDR;
  uint64_t off = SPOOL_HDR;
  memcpy(h, "UIPCSPL1", 8);
  memcpy(h + 8, &version, 4);
  memcpy(h + 12, &hdr_size, 4);
  memcpy(h + 16, &off, 8); /* commit_off */
  memcpy(h + 24, &off, 8); /* read_off */
  write_file(name, h, sizeof h);
}

/* Extends the ring file to the total size its header claims (sparse). */
static void extend_ring(const uint8_t *p, size_t n) {
  uint64_t total;
  size_t at = offsetof(struct uipc__ring_hdr, total_size);
  if (n < at + sizeof total)
    return;
  memcpy(&total, p + at, sizeof total);
  if (total > n && total <= MAX_EXTEND) {
    int fd = openat(dirfd_, "ring", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)total) == 0);
    close(fd);
  }
}

static int open_ok(int r) {
  return r == 0 || r == -EBADMSG || r == -EPROTO || r == -EINVAL ||
         r == -EBUSY || r == -EADDRINUSE || r == -ENOENT || r == -EEXIST;
}

static int recv_err_ok(ssize_t r) {
  return r == -EAGAIN || r == -EBADMSG || r == -EPIPE || r == -EMSGSIZE ||
         r == -EPROTO;
}

static int send_err_ok(ssize_t r) {
  return r == -EAGAIN || r == -EBADMSG || r == -EPIPE || r == -EMSGSIZE ||
         r == -ENOSPC || r == -EFBIG;
}

struct ctx {
  uipc_channel *ch[2];
  bool ring; /* mmap: max_msg is the ring's own (file: a side's ?maxmsg=) */
  bool pollfd, zerocopy;
  uint8_t sizes;
  unsigned step;
  unsigned char buf[70000];
};

static size_t next_cap(struct ctx *c) {
  static const size_t caps[8] = {0, 1, 15, 16, 100, 4096, 65536, 70000};
  return caps[(c->sizes + c->step++) & 7];
}

static size_t next_len(struct ctx *c) {
  /* 500 and 1500 make a record wrap in a 4 KiB ring (a skip record);
   * 4080 is a 4 KiB ring's largest possible record, 20000 too large. */
  static const size_t lens[8] = {0, 1, 16, 100, 500, 1500, 4080, 20000};
  return lens[(c->sizes * 3 + c->step++) & 7];
}

static void poll_it(struct ctx *c, int i) {
  if (!c->pollfd)
    return;
  int fd = uipc_pollfd(c->ch[i]);
  if (fd < 0)
    return; /* e.g. a doorbell name another fuzzing process holds */
  struct pollfd p = {.fd = fd, .events = POLLIN};
  CHECK(poll(&p, 1, 0) >= 0);
}

/* One receive; returns its result. */
static ssize_t do_recv(struct ctx *c, int i) {
  uipc_channel *ch = c->ch[i];
  size_t max = uipc_max_msg(ch);
  ssize_t r;
  if (c->zerocopy) {
    const void *msg;
    r = uipc_recv_peek(ch, &msg, 0);
    if (r >= 0) {
      CHECK(!c->ring || (size_t)r <= max);
      /* Touch both ends: a message outside the mapping faults here, one
       * outside the emulation buffer trips ASan. */
      const volatile unsigned char *m = msg;
      if (r > 0) {
        (void)m[0];
        (void)m[r - 1];
      }
      CHECK(uipc_recv_release(ch) == 0);
    }
    TRACE("  peek %d -> %zd\n", i, r);
  } else {
    size_t cap = next_cap(c);
    r = uipc_recv(ch, c->buf, cap, 0);
    if (r >= 0)
      CHECK((size_t)r <= cap && (!c->ring || (size_t)r <= max));
    TRACE("  recv %d cap %zu -> %zd\n", i, cap, r);
  }
  if (r < 0 && !recv_err_ok(r)) {
    fprintf(stderr, "fuzz_recovery: recv gave %zd (%s)\n", r,
            uipc_strerror((int)r));
    abort();
  }
  poll_it(c, i);
  return r;
}

static void do_send(struct ctx *c, int i) {
  uipc_channel *ch = c->ch[i];
  size_t len = next_len(c);
  ssize_t r;
  if (c->zerocopy) {
    void *buf;
    int z = uipc_send_reserve(ch, &buf, len, 0);
    r = z;
    if (z == 0) {
      memset(buf, 0xa5, len); /* every reserved byte is ours to write */
      CHECK(uipc_send_commit(ch, len) == 0);
      r = (ssize_t)len;
    }
  } else {
    memset(c->buf, 0x5a, len);
    r = uipc_send(ch, c->buf, len, 0);
  }
  TRACE("  send %d len %zu -> %zd\n", i, len, r);
  if (r >= 0)
    CHECK((size_t)r == len);
  else if (!send_err_ok(r)) {
    fprintf(stderr, "fuzz_recovery: send of %zu gave %zd (%s)\n", len, r,
            uipc_strerror((int)r));
    abort();
  }
  poll_it(c, i);
}

/* Opens the channels the selector asks for: ch[0] first, ch[1] second. */
static void open_all(struct ctx *c, const char *uri, unsigned who) {
  static const int order[4][2] = {
      {UIPC_CREATE, -1}, {0, -1}, {UIPC_CREATE, 0}, {0, UIPC_CREATE}};
  for (int i = 0; i < 2; i++) {
    c->ch[i] = NULL;
    if (order[who][i] < 0)
      continue;
    int r = uipc_open(&c->ch[i], uri, order[who][i]);
    TRACE("open %d %s -> %d\n", i, order[who][i] ? "owner" : "attacher", r);
    if (!open_ok(r)) {
      fprintf(stderr, "fuzz_recovery: open gave %d (%s)\n", r,
              uipc_strerror(r));
      abort();
    }
    if (r < 0)
      c->ch[i] = NULL;
  }
}

static void close_all(struct ctx *c) {
  for (int i = 0; i < 2; i++)
    if (c->ch[i]) {
      CHECK(uipc_close(c->ch[i]) <= 0);
      c->ch[i] = NULL;
    }
}

static void drain(struct ctx *c) {
  for (int i = 0; i < 2; i++)
    for (int k = 0; c->ch[i] && k < DRAIN; k++) {
      /* After -EMSGSIZE the next buffer size may take the message. */
      ssize_t r = do_recv(c, i);
      if (r < 0 && r != -EMSGSIZE)
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct ctx c;
  uint8_t h[HDR] = {0};
  memcpy(h, data, size < HDR ? size : HDR);
  const uint8_t *content = size > HDR ? data + HDR : data;
  size_t n = size > HDR ? size - HDR : 0;
  bool mmap_ring = h[0] & 1;
  unsigned who = (h[0] >> 1) & 3;
  char uri[128];

  /* Counted per input: libFuzzer itself opens files between inputs. */
  int fds = count_fds();
  if (mmap_ring) {
    write_file("ring", content, n);
    if (h[0] & 8)
      extend_ring(content, n);
    snprintf(uri, sizeof uri, "mmap://%s/ring?spin=0", dir);
  } else {
    const char *mine = h[0] & 8 ? "sp.s2c" : "sp.c2s";
    const char *other = h[0] & 8 ? "sp.c2s" : "sp.s2c";
    if (h[0] & 16) {
      size_t split = (size_t)(h[4] | h[5] << 8);
      if (split > n)
        split = n;
      write_file(mine, content, split);
      write_file(other, content + split, n - split);
    } else {
      write_file(mine, content, n);
      write_empty_spool(other);
    }
    snprintf(uri, sizeof uri, "file://%s/sp?maxmsg=64K", dir);
  }

  c.ring = mmap_ring;
  c.pollfd = h[0] & 32;
  c.zerocopy = h[0] & 64;
  c.sizes = h[3];
  c.step = 0;
  open_all(&c, uri, who);
  for (int k = 0; k < 2; k++)
    if (c.ch[k])
      poll_it(&c, k);
  uint16_t script = (uint16_t)(h[1] | h[2] << 8);
  for (int k = 0; k < CALLS; k++, script >>= 2) {
    int i = (script & 2) ? 1 : 0;
    if (!c.ch[i])
      continue;
    if (script & 1)
      do_send(&c, i);
    else
      do_recv(&c, i);
  }
  drain(&c);
  /* One side leaves: the other takes what is left, then finds it gone. */
  if (c.ch[0] && c.ch[1]) {
    CHECK(uipc_close(c.ch[0]) <= 0);
    c.ch[0] = NULL;
    drain(&c);
  }
  if (h[0] & 128) {
    close_all(&c);
    open_all(&c, uri, who);
    drain(&c);
  }
  close_all(&c);
  clear_dir();
  CHECK(count_fds() == fds);
  return 0;
}
