/* SPDX-License-Identifier: MIT */
/*
 * Crash injection (issue 7): a stream of sequenced, checksummed messages
 * between two processes while one of them is SIGKILLed at a random point.
 *
 * Each round forks a child that is the one killed.  The rounds cycle
 * through the four roles: the killed process sends or receives, and is or
 * is not the owner of the rendezvous.  The child counts in shared memory
 * the messages it sent (send returned) or received and verified.  What
 * must hold:
 *  - every message the survivor receives is whole, in order and intact
 *    (its length and content derive from its sequence number), and every
 *    message the killed sender had fully sent is delivered (at most one
 *    more: the one in flight);
 *  - where the transport reports a lost peer (row flags RECV_EPIPE,
 *    SEND_EPIPE) the survivor's next call after the death fails with -EPIPE
 *    within its timeout (never -ETIMEDOUT, never SIGPIPE), and again after
 *    that; where it does not (persistent mmap:/file: senders, N-party
 *    mq:/sysvmq:), the child is reaped first and the survivor's call then
 *    times out (never -EPIPE): a receiver once the queue is drained, a
 *    sender once the ring or queue is full (file: never fills: it sends a
 *    bounded number more);
 *  - what a survivor sent that the dead receiver did not take stays
 *    queued, whole and in order, for the next receiver: a new peer (or the
 *    new owner after the owner was killed) drains exactly the messages from
 *    the one the dead receiver was taking (or the next) to the last sent;
 *  - when the owner was killed, a new owner's UIPC_CREATE takes over (or,
 *    persistent and N-party, adopts) the stale rendezvous and a new peer
 *    gets through;
 *  - afterwards nothing is left behind (no FIFO or socket file, /dev/shm
 *    entry, POSIX or System V queue; a persistent transport's files and
 *    nothing else, which uipc_unlink then removes) and no descriptor leaked.
 *
 * Scale with the environment: UIPC_CRASH_ROUNDS (rounds per transport,
 * default 20), UIPC_CRASH_MSGS (messages budgeted over the whole run,
 * default 20000; 1000000 for the full run of docs/RELIABILITY.md),
 * UIPC_CRASH_SEED (to replay a run; printed at start).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define SURVIVOR_TIMEOUT_MS 5000
/* Once the killed child is reaped nothing more can come or go: a short
 * wait is enough to show that the call times out instead of failing. */
#define SHORT_TIMEOUT_MS 20
/* A survivor sending to a dead receiver on a transport that never fills
 * (file:) stops after this many more messages; one that should be told of
 * the death fails after SENDS_UNTOLD (rather than fill the disk). */
#define MAX_SENDS_AFTER_KILL 64
#define SENDS_UNTOLD 4096
#define DEFAULT_ROUNDS 20
#define DEFAULT_MSGS 20000

/* What a transport promises when the peer dies, and what a round leaves. */
enum {
  /* A receiver gets -EPIPE once the dead sender's messages are drained
   * (else: it waits, and times out). */
  RECV_EPIPE = 1 << 0,
  /* A sender gets -EPIPE when the receiver died (else: its messages stay
   * queued for the next receiver; it times out once the queue is full). */
  SEND_EPIPE = 1 << 1,
  /* The files in row.kept outlive every process; uipc_unlink removes them. */
  PERSISTENT = 1 << 2,
};

/*
 * The transports under test, one row per URI template: "%s" is a fresh
 * temporary directory (IN_DIR) or a unique name (SHM_NAME, MQ_NAME), "%d"
 * a free loopback port (PORT), "0x%08x" a free System V key (SYSV_KEY);
 * NULL means uipc_pair("pipe:").
 */
struct row {
  const char *name;
  const char *uri_fmt; /* NULL: uipc_pair("pipe:") */
  size_t max_len; /* largest message used: large ones get torn by the kill */
  enum { IN_DIR, PORT, SHM_NAME, MQ_NAME, SYSV_KEY } arg;
  unsigned flags;      /* RECV_EPIPE, SEND_EPIPE, PERSISTENT */
  const char *kept[2]; /* PERSISTENT: the files left in the directory */
  /* What an attacher's recv gets once the owner closed cleanly (with
   * -ETIMEDOUT, the call is made with SHORT_TIMEOUT_MS). */
  int owner_close_err;
};

#define BOTH_EPIPE (RECV_EPIPE | SEND_EPIPE)
/* One row per line reads as a table. */
/* clang-format off */
static const struct row rows[] = {
    {"pipe", NULL, 100000, IN_DIR, BOTH_EPIPE, {NULL}, -EPIPE},
    {"fifo", "fifo://%s/crash", 100000, IN_DIR, BOTH_EPIPE, {NULL}, -EPIPE},
    {"unix-stream", "unix://%s/crash.sock", 100000, IN_DIR, BOTH_EPIPE,
     {NULL}, -EPIPE},
    {"unix-seqpacket", "unix://%s/crash.sock?type=seqpacket", 60000, IN_DIR,
     BOTH_EPIPE, {NULL}, -EPIPE},
    {"tcp", "tcp://127.0.0.1:%d", 100000, PORT, BOTH_EPIPE, {NULL}, -EPIPE},
    {"shm", "shm://%s?size=1M&maxmsg=100000", 100000, SHM_NAME, BOTH_EPIPE,
     {NULL}, -EPIPE},
    /* Persistent: a send to a dead receiver stays in the file. */
    {"mmap", "mmap://%s/crash.ring?size=256K&maxmsg=100000", 100000, IN_DIR,
     RECV_EPIPE | PERSISTENT, {"crash.ring", NULL}, -EPIPE},
    {"file", "file://%s/crash?maxmsg=100000", 100000, IN_DIR,
     RECV_EPIPE | PERSISTENT, {"crash.c2s", "crash.s2c"}, -EPIPE},
    /* N-party: nobody is told of a death; the owner's close removes the
     * queue (System V: at once, -EIDRM; POSIX: the names only). */
    {"mq", "mq:///%s?maxmsg=8192", 8192, MQ_NAME, 0, {NULL}, -ETIMEDOUT},
    {"sysvmq", "sysvmq://0x%08x", 8192, SYSV_KEY, 0, {NULL}, -EIDRM},
};
/* clang-format on */

static unsigned env_uint(const char *name, unsigned dflt) {
  const char *v = getenv(name);
  return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

/* Message seq: its length and content are functions of seq alone. */
static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  return x;
}

static size_t msg_len(uint64_t seq, size_t max_len) {
  uint64_t h = mix(seq + 0x1234);
  /* Mostly small, sometimes large: kills often land inside a big write. */
  return (h & 7) == 0 ? (size_t)(h >> 8) % (max_len + 1)
                      : (size_t)(h >> 8) % 512;
}

struct round {
  const struct row *row;
  char uri[256];
  char dir[64];
  char name[64];
  key_t key;
  bool killed_sends, killed_owns;
  unsigned kill_after; /* messages exchanged before the kill */
};

struct stats {
  unsigned long rounds, messages, leftovers;
};

/* What the survivor saw. */
struct outcome {
  int status;        /* the child's, once reaped (-1 until then) */
  int64_t last_sent; /* survivor sending: its last message sent, else -1 */
  uint64_t received; /* survivor receiving: messages received */
};

/* Messages the child sent (its send returned) or received and verified:
 * shared with the parent, which reads it once the child is dead. */
static uint64_t *progress;

/* A copy of the round under way and its children, for the teardown of a
 * failed test (the round itself lives on the stack the failure unwound). */
static struct round current;
static bool in_round;
static pid_t current_child = -1, current_restarter = -1;

static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

/* Entries of dir whose name is not in kept (NULL-terminated, may be empty). */
static int unexpected_entries(const char *dir, const char *const *kept,
                              size_t nkept) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return 0;
  while ((e = readdir(d))) {
    bool known = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    for (size_t i = 0; i < nkept && kept[i] && !known; i++)
      known = !strcmp(e->d_name, kept[i]);
    if (!known) {
      print_message("left behind: %s/%s\n", dir, e->d_name);
      n++;
    }
  }
  closedir(d);
  return n;
}

/* Entries of a directory (/dev/shm, /dev/mqueue) whose name contains name. */
static int entries_named(const char *dir, const char *name) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return 0;
  while ((e = readdir(d)))
    n += strstr(e->d_name, name) != NULL;
  closedir(d);
  return n;
}

/* POSIX queues of the mq: channel name that still exist (with or without
 * the mqueue file system mounted). */
static int mq_left(const char *name) {
  static const char *const dirs[] = {"c2s", "s2c"};
  int n = 0;
  for (int i = 0; i < 2; i++) {
    char q[128];
    snprintf(q, sizeof q, "/%s.%s", name, dirs[i]);
    mqd_t m = mq_open(q, O_RDONLY | O_CLOEXEC);
    if (m != (mqd_t)-1) {
      mq_close(m);
      n++;
    } else if (errno != ENOENT) {
      n++;
    }
  }
  return n + entries_named("/dev/mqueue", name);
}

/* ---- the child: the process that gets killed ---- */

static _Noreturn void child_run(const struct round *rd, uipc_channel *ch,
                                int ready_fd) {
  if (!ch) {
    int r = uipc_open(&ch, rd->uri, rd->killed_owns ? UIPC_CREATE : 0);
    if (r < 0)
      _exit(20);
  }
  if (ready_fd >= 0) {
    if (write(ready_fd, "R", 1) != 1)
      _exit(21);
    close(ready_fd);
  }
  unsigned char *buf = malloc(rd->row->max_len + 1);
  if (!buf)
    _exit(22);
  for (uint64_t seq = 0;; seq++) {
    size_t len = msg_len(seq, rd->row->max_len);
    if (rd->killed_sends) {
      tu_fill(buf, len, seq);
      if (uipc_send(ch, buf, len, UIPC_FOREVER) != (ssize_t)len)
        _exit(23);
    } else {
      ssize_t n = uipc_recv(ch, buf, rd->row->max_len + 1, UIPC_FOREVER);
      if (n != (ssize_t)len || tu_check(buf, len, seq) != 0)
        _exit(24); /* torn, reordered or corrupt: the parent sees 24, not a kill
                    */
    }
    __atomic_store_n(progress, seq + 1, __ATOMIC_RELEASE);
  }
}

/* ---- the survivor ---- */

static void survive(const struct round *rd, uipc_channel *ch, pid_t child,
                    struct stats *st, struct outcome *out) {
  size_t cap = rd->row->max_len + 1;
  unsigned char *buf = malloc(cap);
  assert_non_null(buf);
  /* Whether this side's call is told of the death, or waits. */
  bool told = rd->killed_sends ? rd->row->flags & RECV_EPIPE
                               : rd->row->flags & SEND_EPIPE;
  int timeout = SURVIVOR_TIMEOUT_MS;
  unsigned after_kill = 0;
  uint64_t seq = 0;
  ssize_t r;
  bool killed = false;
  out->status = -1;
  out->last_sent = -1;
  for (;; seq++) {
    if (!killed && seq == rd->kill_after) {
      assert_int_equal(kill(child, SIGKILL), 0);
      killed = true;
      if (!told) {
        /* Nothing will tell us: make the death final first, so that all
         * the child sent is queued and nothing more comes or goes. */
        out->status = tu_wait(child);
        timeout = SHORT_TIMEOUT_MS;
      }
    }
    size_t len = msg_len(seq, rd->row->max_len);
    if (rd->killed_sends) {
      r = uipc_recv(ch, buf, cap, timeout);
      if (r < 0)
        break;
      if (r != (ssize_t)len || tu_check(buf, len, seq) != 0)
        fail_msg("%s: message %llu torn or corrupt (%zd bytes, want %zu)",
                 rd->row->name, (unsigned long long)seq, r, len);
    } else {
      unsigned most = told ? SENDS_UNTOLD : MAX_SENDS_AFTER_KILL;
      if (killed && ++after_kill > most) {
        if (told)
          fail_msg("%s: survivor still sending %u messages after the kill",
                   rd->row->name, SENDS_UNTOLD);
        r = 0; /* it never fills (file:) */
        break;
      }
      tu_fill(buf, len, seq);
      r = uipc_send(ch, buf, len, timeout);
      if (r < 0)
        break;
      assert_int_equal(r, (ssize_t)len);
      out->last_sent = (int64_t)seq;
    }
    st->messages++;
  }
  out->received = rd->killed_sends ? seq : 0;
  const char *role = rd->killed_sends ? "receiving" : "sending";
  const char *owns = rd->killed_owns ? "attached" : "owner";
  if (!killed)
    fail_msg("%s: %s failed before the kill: %zd (%s)", rd->row->name, role, r,
             uipc_strerror((int)r));
  if (told && r != -EPIPE)
    fail_msg("%s: survivor (%s, %s) got %zd (%s) instead of -EPIPE after "
             "message %llu",
             rd->row->name, role, owns, r, uipc_strerror((int)r),
             (unsigned long long)seq);
  if (!told && r != -ETIMEDOUT && r != 0)
    fail_msg("%s: survivor (%s, %s) got %zd (%s) instead of -ETIMEDOUT after "
             "message %llu",
             rd->row->name, role, owns, r, uipc_strerror((int)r),
             (unsigned long long)seq);
  /* And it stays so: -EPIPE again, or still nothing to take / no room. */
  if (rd->killed_sends)
    assert_int_equal(uipc_recv(ch, buf, cap, 0), told ? -EPIPE : -EAGAIN);
  else if (told)
    assert_int_equal(uipc_send(ch, buf, 1, 0), -EPIPE);
  else if (r == -ETIMEDOUT)
    assert_int_equal(uipc_send(ch, buf, rd->row->max_len, 0), -EAGAIN);
  free(buf);
}

/*
 * A new receiver takes what the survivor sent and the dead receiver did
 * not: exactly seqs first .. last_sent, whole and in order, where first is
 * the message the dead one was taking (consumed, redelivered or lost with
 * it) or the next.  Nothing at all when the survivor sent nothing.
 */
static void drain_leftovers(const struct round *rd, uipc_channel *ch,
                            int64_t last_sent, uint64_t consumed,
                            struct stats *st) {
  size_t cap = rd->row->max_len + 1;
  unsigned char *buf = malloc(cap);
  assert_non_null(buf);
  ssize_t r = uipc_recv(ch, buf, cap, 0);
  uint64_t seq = consumed, end = (uint64_t)(last_sent + 1);
  if (r >= 0 && last_sent >= 0) {
    if (r != (ssize_t)msg_len(seq, rd->row->max_len) ||
        tu_check(buf, (size_t)r, seq) != 0)
      seq++; /* not the one in flight: must be the next */
    for (; r >= 0; seq++) {
      size_t len = msg_len(seq, rd->row->max_len);
      if (seq >= end || r != (ssize_t)len || tu_check(buf, len, seq) != 0)
        fail_msg("%s: left in the queue: message %llu torn, reordered or "
                 "unexpected (%zd bytes; receiver took %llu of %llu)",
                 rd->row->name, (unsigned long long)seq, r,
                 (unsigned long long)consumed, (unsigned long long)end);
      st->leftovers++;
      r = uipc_recv(ch, buf, cap, 0);
    }
  } else if (r >= 0) {
    fail_msg("%s: %zd-byte message left where none was sent", rd->row->name, r);
  } else if (last_sent >= 0 && consumed + 1 < end) {
    fail_msg("%s: nothing left, but the dead receiver took only %llu of %llu",
             rd->row->name, (unsigned long long)consumed,
             (unsigned long long)end);
  } else {
    seq = end; /* nothing left, and nothing was to be */
  }
  if (r != -EAGAIN)
    fail_msg("%s: draining what was left ended with %zd (%s)", rd->row->name, r,
             uipc_strerror((int)r));
  if (last_sent >= 0 && seq != end)
    fail_msg("%s: lost messages: the dead receiver took %llu, the queue held "
             "them up to %llu, %llu were sent",
             rd->row->name, (unsigned long long)consumed,
             (unsigned long long)seq, (unsigned long long)end);
  free(buf);
}

/* After the owner died: a new owner takes the stale rendezvous over (and,
 * where messages outlive it, first gets those the dead owner left). */
static void restart(const struct round *rd, const struct outcome *out,
                    uint64_t consumed, struct stats *st) {
  uipc_channel *owner, *peer;
  assert_int_equal(uipc_open(&owner, rd->uri, UIPC_CREATE), 0);
  if (!(rd->row->flags & SEND_EPIPE))
    drain_leftovers(rd, owner, out->last_sent, consumed, st);
  pid_t pid = fork();
  if (pid == 0) {
    uipc_close(owner); /* inherited, not ours: releases without signalling */
    if (uipc_open(&peer, rd->uri, 0) < 0 ||
        uipc_send(peer, "again", 5, 5000) != 5)
      _exit(1);
    char b[8];
    int err = rd->row->owner_close_err;
    int timeout = err == -ETIMEDOUT ? SHORT_TIMEOUT_MS : 5000;
    _exit(uipc_recv(peer, b, sizeof b, timeout) == err ? 0 : 2);
  }
  current_restarter = pid;
  char buf[8];
  assert_int_equal(uipc_recv(owner, buf, sizeof buf, 5000), 5);
  assert_memory_equal(buf, "again", 5);
  assert_int_equal(uipc_close(owner), 0);
  current_restarter = -1;
  assert_int_equal(tu_wait(pid), 0);
}

/* Nothing of the round is left: no name, no queue, no file but those a
 * persistent transport keeps, and uipc_unlink removes those. */
static void check_left_behind(const struct round *rd) {
  const struct row *row = rd->row;
  if (!row->uri_fmt)
    return;
  switch (row->arg) {
  case IN_DIR:
    if (unexpected_entries(rd->dir, row->kept, 2) != 0)
      fail_msg("%s: %d files left behind", row->name, dir_entries(rd->dir));
    if (row->flags & PERSISTENT) {
      int kept = 0;
      while (kept < 2 && row->kept[kept])
        kept++;
      assert_int_equal(dir_entries(rd->dir), kept);
      assert_int_equal(uipc_unlink(rd->uri), 0);
      assert_int_equal(dir_entries(rd->dir), 0);
      assert_int_equal(uipc_unlink(rd->uri), -ENOENT);
    }
    break;
  case SHM_NAME:
    if (entries_named("/dev/shm", rd->name) != 0)
      fail_msg("%s: %d /dev/shm entries left behind", row->name,
               entries_named("/dev/shm", rd->name));
    break;
  case MQ_NAME:
    if (mq_left(rd->name) != 0)
      fail_msg("%s: POSIX queues of %s left behind", row->name, rd->name);
    assert_int_equal(uipc_unlink(rd->uri), -ENOENT);
    break;
  case SYSV_KEY:
    if (msgget(rd->key, 0) >= 0 || errno != ENOENT)
      fail_msg("%s: System V queue 0x%08x left behind", row->name,
               (unsigned)rd->key);
    assert_int_equal(uipc_unlink(rd->uri), -ENOENT);
    break;
  case PORT:
    break;
  }
}

static void one_round(struct round *rd, struct stats *st) {
  uipc_channel *mine = NULL, *theirs = NULL;
  int ready[2] = {-1, -1};
  __atomic_store_n(progress, 0, __ATOMIC_RELEASE);
  if (!rd->row->uri_fmt) {
    assert_int_equal(uipc_pair("pipe:", &mine, &theirs), 0);
  } else {
    /* The child reports once it has opened: a peer killed before it ever
     * attached is not a peer that died, it is one that never came (a
     * buffering owner would rightly keep waiting for it). */
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    if (!rd->killed_owns)
      assert_int_equal(uipc_open(&mine, rd->uri, UIPC_CREATE), 0);
  }

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (mine)
      uipc_close(mine); /* the parent's end: releases without signalling */
    if (ready[0] >= 0)
      close(ready[0]);
    child_run(rd, theirs, ready[1]);
  }
  current_child = pid;
  if (theirs)
    uipc_close(theirs);
  if (ready[0] >= 0) {
    char c;
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    if (!mine)
      assert_int_equal(uipc_open(&mine, rd->uri, 0), 0);
  }

  struct outcome out;
  survive(rd, mine, pid, st, &out);
  if (out.status < 0)
    out.status = tu_wait(pid);
  current_child = -1;
  if (out.status != 128 + SIGKILL)
    fail_msg("%s: the child ended with %d before it was killed", rd->row->name,
             out.status);
  uint64_t done = __atomic_load_n(progress, __ATOMIC_ACQUIRE);
  /* Every message the child had sent is delivered, plus at most the one it
   * was sending (committed before the count). */
  if (rd->killed_sends && (out.received < done || out.received > done + 1))
    fail_msg("%s: the killed sender had sent %llu messages, the survivor got "
             "%llu",
             rd->row->name, (unsigned long long)done,
             (unsigned long long)out.received);
  /* What the dead receiver left is there for a new receiver (a new peer
   * here; a new owner in restart). */
  if (!(rd->row->flags & SEND_EPIPE) && !rd->killed_sends && !rd->killed_owns) {
    uipc_channel *next;
    assert_int_equal(uipc_open(&next, rd->uri, 0), 0);
    drain_leftovers(rd, next, out.last_sent, done, st);
    assert_int_equal(uipc_close(next), 0);
  }
  assert_int_equal(uipc_close(mine), 0);
  if (rd->row->uri_fmt && rd->killed_owns)
    restart(rd, &out, rd->killed_sends ? 0 : done, st);
  check_left_behind(rd);
  st->rounds++;
}

/* A System V key no queue uses yet, built from the pid. */
static key_t free_key(void) {
  static unsigned counter;
  key_t key;
  do
    key = (key_t)(0x76000000u | (((unsigned)getpid() & 0xfffu) << 12) |
                  (counter++ & 0xfffu));
  while (msgget(key, 0) >= 0);
  return key;
}

static void run_row(const struct row *row) {
  unsigned rounds = env_uint("UIPC_CRASH_ROUNDS", DEFAULT_ROUNDS);
  unsigned total = env_uint("UIPC_CRASH_MSGS", DEFAULT_MSGS);
  unsigned nrows = sizeof rows / sizeof rows[0];
  unsigned per_round = total / (nrows * (rounds ? rounds : 1));
  if (per_round < 2)
    per_round = 2;
  unsigned seed =
      env_uint("UIPC_CRASH_SEED", (unsigned)time(NULL) ^ (unsigned)getpid());
  srand(seed);
  int fds = tu_count_fds();
  struct stats st = {0, 0, 0};
  int port = row->arg == PORT ? tu_free_port(SOCK_STREAM) : 0;
  if (row->arg == PORT)
    assert_true(port > 0);

  for (unsigned i = 0; i < rounds; i++) {
    struct round rd = {.row = row};
    rd.killed_sends = i & 1;
    rd.killed_owns = (i >> 1) & 1;
    /* At least one message each way of the kill, up to twice the budget. */
    rd.kill_after = 1 + (unsigned)rand() % (2 * per_round - 1);
    if (row->arg == PORT) {
      snprintf(rd.uri, sizeof rd.uri, row->uri_fmt, port);
    } else if (row->arg == SHM_NAME || row->arg == MQ_NAME) {
      tu_name(rd.name, sizeof rd.name, "uipc-crash-");
      snprintf(rd.uri, sizeof rd.uri, row->uri_fmt, rd.name);
    } else if (row->arg == SYSV_KEY) {
      rd.key = free_key();
      snprintf(rd.uri, sizeof rd.uri, row->uri_fmt, (unsigned)rd.key);
    } else if (row->uri_fmt) {
      tu_tmpdir(rd.dir, sizeof rd.dir);
      assert_true(rd.dir[0] != '\0');
      snprintf(rd.uri, sizeof rd.uri, row->uri_fmt, rd.dir);
    }
    current = rd;
    in_round = true;
    one_round(&rd, &st);
    in_round = false;
    if (rd.dir[0])
      tu_rmdir_all(rd.dir);
  }
  assert_int_equal(tu_count_fds(), fds);
  print_message("%s: %lu rounds survived, %lu messages checked, %lu left "
                "queued by a dead receiver and recovered (seed %u)\n",
                row->name, st.rounds, st.messages, st.leftovers, seed);
}

/* Runs the row named name, or skips when its transport is missing. */
static void run_named(const char *name) {
  const struct row *row = NULL;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (!strcmp(rows[i].name, name))
      row = &rows[i];
  assert_non_null(row);
  if (row->uri_fmt) {
    char scheme[16];
    size_t n = strcspn(row->uri_fmt, ":");
    snprintf(scheme, sizeof scheme, "%.*s:", (int)n, row->uri_fmt);
    uipc_channel *probe;
    if (uipc_open(&probe, scheme, 0) == -EPROTONOSUPPORT) {
      print_message("skipped: transport %s is not registered\n", scheme);
      skip();
    }
  }
  run_row(row);
}

/*
 * After a failed round: kill its children, remove what it created (its
 * handles are lost, so names go directly, not through uipc_unlink, which
 * would refuse while our own leaked owner handle holds the lock).
 */
static int teardown(void **state) {
  (void)state;
  pid_t *kids[] = {&current_child, &current_restarter};
  for (int i = 0; i < 2; i++)
    if (*kids[i] > 0) {
      kill(*kids[i], SIGKILL);
      tu_wait(*kids[i]);
      *kids[i] = -1;
    }
  if (!in_round)
    return 0;
  in_round = false;
  if (current.dir[0])
    tu_rmdir_all(current.dir);
  if (current.row->arg == SHM_NAME) {
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", current.name);
    unlink(path);
  } else if (current.row->arg == MQ_NAME) {
    char q[128];
    snprintf(q, sizeof q, "/%s.c2s", current.name);
    mq_unlink(q);
    snprintf(q, sizeof q, "/%s.s2c", current.name);
    mq_unlink(q);
  } else if (current.row->arg == SYSV_KEY) {
    int id = msgget(current.key, 0);
    if (id >= 0)
      msgctl(id, IPC_RMID, NULL);
  }
  return 0;
}

static void test_crash_pipe(void **state) {
  (void)state;
  run_named("pipe");
}

static void test_crash_fifo(void **state) {
  (void)state;
  run_named("fifo");
}

static void test_crash_unix_stream(void **state) {
  (void)state;
  run_named("unix-stream");
}

static void test_crash_unix_seqpacket(void **state) {
  (void)state;
  run_named("unix-seqpacket");
}

static void test_crash_tcp(void **state) {
  (void)state;
  run_named("tcp");
}

static void test_crash_shm(void **state) {
  (void)state;
  run_named("shm");
}

static void test_crash_mmap(void **state) {
  (void)state;
  run_named("mmap");
}

static void test_crash_file(void **state) {
  (void)state;
  run_named("file");
}

static void test_crash_mq(void **state) {
  (void)state;
  run_named("mq");
}

static void test_crash_sysvmq(void **state) {
  (void)state;
  run_named("sysvmq");
}

int main(void) {
  /* A survivor that raised SIGPIPE would die here: the library must not. */
  progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (progress == MAP_FAILED)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_crash_pipe, teardown),
      cmocka_unit_test_teardown(test_crash_fifo, teardown),
      cmocka_unit_test_teardown(test_crash_unix_stream, teardown),
      cmocka_unit_test_teardown(test_crash_unix_seqpacket, teardown),
      cmocka_unit_test_teardown(test_crash_tcp, teardown),
      cmocka_unit_test_teardown(test_crash_shm, teardown),
      cmocka_unit_test_teardown(test_crash_mmap, teardown),
      cmocka_unit_test_teardown(test_crash_file, teardown),
      cmocka_unit_test_teardown(test_crash_mq, teardown),
      cmocka_unit_test_teardown(test_crash_sysvmq, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
