/* SPDX-License-Identifier: MIT */
/*
 * Resource exhaustion (issue 7): when the process runs out of descriptors,
 * a message queue limit is reached or /dev/shm is full, every call fails
 * with a clear errno (-EMFILE, -EINVAL, -ENOSPC), nothing is left half
 * created (no FIFO, socket file, queue or shm entry), no descriptor leaks,
 * nothing crashes, and everything works again once resources are back.
 *
 * Each case runs in a forked child, because it lowers the child's limits
 * (setrlimit) or changes its mount namespace; the child reports through its
 * exit status and cmocka checks it.  The descriptor limit is walked one
 * free slot at a time, so that every step of every open (FIFO pair, socket,
 * pipe pair, poll set) is the one that fails at least once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "testutil.h"
#include "uipc/uipc.h"

/* Failure codes of the children, so a failing case names its line. */
#define FAIL_AT(line) (10 + (line) % 200)
#define CHILD_CHECK(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child check failed: %s (line %d)\n", #cond, __LINE__);  \
      return FAIL_AT(__LINE__);                                                \
    }                                                                          \
  } while (0)
#define CHILD_SKIP 3

struct fx {
  char dir[64];
  char name[64];
  int fds;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  tu_tmpdir(f->dir, sizeof f->dir);
  tu_name(f->name, sizeof f->name, "uipc-texh-");
  f->fds = tu_count_fds();
  *state = f;
  return f->dir[0] ? 0 : -1;
}

static int teardown(void **state) {
  struct fx *f = *state;
  tu_rmdir_all(f->dir);
  free(f);
  return 0;
}

static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

/* Highest descriptor in use + 1: the limit at which no new one fits. */
static int fd_ceiling(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int top = -1;
  if (!d)
    return -1;
  int self = dirfd(d);
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd != self && fd > top)
      top = fd;
  }
  closedir(d);
  return top + 1;
}

static int set_nofile(rlim_t n) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = n;
  return setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- the descriptor limit ---- */

struct nofile_case {
  const char *what;
  const char *dir;
  int port;
};

/*
 * One kind of open attempted with 0, 1, 2 ... free descriptors: each
 * attempt either succeeds or is -EMFILE, and after closing everything no
 * descriptor and no file is left over.
 */
enum kind {
  K_FIFO_CREATE,
  K_FIFO_ATTACH,
  K_UNIX_CREATE,
  K_UNIX_CONNECT,
  K_PIPE_PAIR,
  K_UNIX_PAIR,
  K_TCP_CONNECT,
  K_POLLFD,
  K_LISTEN_ACCEPT,
  K_COUNT
};
static const char *const kind_name[] = {
    "fifo create", "fifo attach", "unix create", "unix connect", "pipe pair",
    "unix pair",   "tcp connect", "pollfd",      "accept"};

/* Prepared outside the limit: what the attempt needs (an owner to attach to).
 */
struct prepared {
  uipc_channel *owner, *peer;
  uipc_listener *listener;
  char uri[256];
};

static int prepare(enum kind k, const struct nofile_case *c, unsigned i,
                   struct prepared *p) {
  memset(p, 0, sizeof *p);
  switch (k) {
  case K_FIFO_ATTACH:
    snprintf(p->uri, sizeof p->uri, "fifo://%s/att%u", c->dir, i);
    return uipc_open(&p->owner, p->uri, UIPC_CREATE);
  case K_UNIX_CONNECT:
  case K_LISTEN_ACCEPT:
    snprintf(p->uri, sizeof p->uri, "unix://%s/l%u.sock", c->dir, i);
    return uipc_listen(&p->listener, p->uri, 0);
  case K_TCP_CONNECT:
    snprintf(p->uri, sizeof p->uri, "tcp://127.0.0.1:%d", c->port);
    return uipc_listen(&p->listener, p->uri, 0);
  case K_POLLFD:
    return uipc_pair("unix:", &p->owner, &p->peer);
  default:
    return 0;
  }
}

static void unprepare(struct prepared *p) {
  if (p->peer)
    uipc_close(p->peer);
  if (p->owner)
    uipc_close(p->owner);
  if (p->listener)
    uipc_listener_close(p->listener);
}

/* The attempt itself; returns 0 or -errno, and closes what it opened. */
static int attempt(enum kind k, const struct nofile_case *c, unsigned i,
                   struct prepared *p, uipc_channel **keep,
                   uipc_channel **keep2) {
  char uri[256];
  switch (k) {
  case K_FIFO_CREATE:
    snprintf(uri, sizeof uri, "fifo://%s/c%u", c->dir, i);
    return uipc_open(keep, uri, UIPC_CREATE);
  case K_UNIX_CREATE:
    snprintf(uri, sizeof uri, "unix://%s/c%u.sock", c->dir, i);
    return uipc_open(keep, uri, UIPC_CREATE);
  case K_FIFO_ATTACH:
  case K_UNIX_CONNECT:
  case K_TCP_CONNECT:
    return uipc_open(keep, p->uri, 0);
  case K_PIPE_PAIR:
    return uipc_pair("pipe:", keep, keep2);
  case K_UNIX_PAIR:
    return uipc_pair("unix:?type=seqpacket", keep, keep2);
  case K_POLLFD: {
    int r = uipc_pollfd(p->owner);
    return r < 0 ? r : 0;
  }
  case K_LISTEN_ACCEPT: {
    /* The client is made with room to spare; the accept is squeezed. */
    return uipc_accept(p->listener, keep, 1000);
  }
  default:
    return -EINVAL;
  }
}

/* Descriptors inherited from whoever started the test would leave holes
 * below the ceiling: the children start from 0, 1, 2 only. */
static void only_stdio(void) { close_range(3, ~0u, 0); }

static int nofile_child(void *arg) {
  const struct nofile_case *c = arg;
  only_stdio();
  for (int k = 0; k < K_COUNT; k++) {
    int failures = 0;
    for (unsigned slots = 0; slots < 8; slots++) {
      struct prepared p;
      uipc_channel *client = NULL;
      unsigned i = (unsigned)k * 100 + slots;
      CHILD_CHECK(prepare((enum kind)k, c, i, &p) == 0);
      if (k == K_LISTEN_ACCEPT)
        CHILD_CHECK(uipc_open(&client, p.uri, 0) == 0);
      int before = tu_count_fds();
      CHILD_CHECK(set_nofile((rlim_t)fd_ceiling() + slots) == 0);
      uipc_channel *a = NULL, *b = NULL;
      int r = attempt((enum kind)k, c, i, &p, &a, &b);
      CHILD_CHECK(set_nofile(4096) == 0);
      if (r != 0 && r != -EMFILE)
        fprintf(stderr, "%s with %u free descriptors: %d (%s)\n", kind_name[k],
                slots, r, uipc_strerror(r));
      CHILD_CHECK(r == 0 || r == -EMFILE);
      if (r < 0) {
        failures++;
        CHILD_CHECK(a == NULL && b == NULL);
        if (tu_count_fds() != before)
          fprintf(stderr,
                  "%s with %u free descriptors: %d fds before, %d after\n",
                  kind_name[k], slots, before, tu_count_fds());
        CHILD_CHECK(tu_count_fds() == before); /* a failed open keeps nothing */
      } else {
        /* It works, with the descriptors it got. */
        if (k == K_PIPE_PAIR || k == K_UNIX_PAIR) {
          char buf[8];
          CHILD_CHECK(uipc_send(a, "ok", 2, 1000) == 2);
          CHILD_CHECK(uipc_recv(b, buf, sizeof buf, 1000) == 2);
        }
        if (a)
          uipc_close(a);
        if (b)
          uipc_close(b);
      }
      if (client)
        uipc_close(client);
      unprepare(&p);
    }
    if (failures == 0)
      fprintf(stderr, "%s: never ran out of descriptors\n", kind_name[k]);
    CHILD_CHECK(failures > 0); /* the limit was really reached */
    /* Everything is gone: no FIFO, no socket file. */
    if (dir_entries(c->dir) != 0)
      fprintf(stderr, "%s: %d entries left in %s\n", kind_name[k],
              dir_entries(c->dir), c->dir);
    CHILD_CHECK(dir_entries(c->dir) == 0);
  }
  return 0;
}

static void test_nofile_steps(void **state) {
  struct fx *f = *state;
  struct nofile_case c = {.dir = f->dir, .port = tu_free_port(SOCK_STREAM)};
  assert_true(c.port > 0);
  pid_t pid = tu_fork(nofile_child, &c);
  assert_int_equal(tu_wait(pid), 0);
  assert_int_equal(dir_entries(f->dir), 0);
  assert_int_equal(tu_count_fds(), f->fds);
}

/* Open channels until the limit: -EMFILE, then close them all, nothing left. */
static int fill_child(void *arg) {
  const char *dir = arg;
  enum { MAX = 400 };
  static uipc_channel *ch[MAX];
  only_stdio();
  int base = tu_count_fds();
  CHILD_CHECK(set_nofile((rlim_t)fd_ceiling() + 64) == 0);
  int n = 0, r = 0;
  for (; n < MAX; n++) {
    char uri[256];
    snprintf(uri, sizeof uri, n % 2 ? "fifo://%s/f%d" : "unix://%s/s%d.sock",
             dir, n);
    r = uipc_open(&ch[n], uri, UIPC_CREATE);
    if (r < 0)
      break;
  }
  if (r != -EMFILE || n <= 10 || n >= 64)
    fprintf(stderr, "opened %d channels, then %d (%s)\n", n, r,
            uipc_strerror(r));
  CHILD_CHECK(r == -EMFILE);
  CHILD_CHECK(n > 10 && n < 64);
  for (int i = 0; i < n; i++)
    CHILD_CHECK(uipc_close(ch[i]) == 0);
  CHILD_CHECK(tu_count_fds() == base);
  CHILD_CHECK(dir_entries(dir) == 0);
  /* And the process can open again. */
  char uri[256];
  snprintf(uri, sizeof uri, "fifo://%s/again", dir);
  CHILD_CHECK(uipc_open(&ch[0], uri, UIPC_CREATE) == 0);
  uipc_close(ch[0]);
  return 0;
}

static void test_nofile_fill(void **state) {
  struct fx *f = *state;
  assert_int_equal(tu_wait(tu_fork(fill_child, f->dir)), 0);
  assert_int_equal(dir_entries(f->dir), 0);
}

/* ---- POSIX message queues ---- */

static bool mq_exists(const char *name) {
  char path[128];
  struct stat st;
  snprintf(path, sizeof path, "/dev/mqueue/%s.c2s", name);
  bool a = stat(path, &st) == 0;
  snprintf(path, sizeof path, "/dev/mqueue/%s.s2c", name);
  return a || stat(path, &st) == 0;
}

static int mq_child(void *arg) {
  const char *name = arg;
  char uri[256];
  uipc_channel *ch;
  struct stat st;
  only_stdio();
  bool visible = stat("/dev/mqueue", &st) == 0;
  long msg_max = (long)tu_proc_value("/proc/sys/fs/mqueue/msg_max");
  long size_max = (long)tu_proc_value("/proc/sys/fs/mqueue/msgsize_max");
  CHILD_CHECK(msg_max > 0 && size_max > 0);

  /* Above the system limits: -EINVAL, for root too, nothing created. */
  snprintf(uri, sizeof uri, "mq:///%s?depth=%ld&maxmsg=64", name, msg_max + 1);
  CHILD_CHECK(uipc_open(&ch, uri, UIPC_CREATE) == -EINVAL);
  snprintf(uri, sizeof uri, "mq:///%s?depth=2&maxmsg=%ld", name, size_max + 1);
  CHILD_CHECK(uipc_open(&ch, uri, UIPC_CREATE) == -EINVAL);
  CHILD_CHECK(!visible || !mq_exists(name));

  /* RLIMIT_MSGQUEUE too small for the pair: -EMFILE, and neither queue left. */
  /* Soft limits only: raising the hard one again needs CAP_SYS_RESOURCE. */
  struct rlimit rl, saved;
  getrlimit(RLIMIT_MSGQUEUE, &saved);
  rl = saved;
  rl.rlim_cur = 4096;
  CHILD_CHECK(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
  snprintf(uri, sizeof uri, "mq:///%s?depth=%ld&maxmsg=%ld", name, msg_max,
           size_max);
  int r = uipc_open(&ch, uri, UIPC_CREATE);
  if (r != -EMFILE)
    fprintf(stderr, "mq over RLIMIT_MSGQUEUE: %d (%s)\n", r, uipc_strerror(r));
  CHILD_CHECK(r == -EMFILE);
  CHILD_CHECK(!visible || !mq_exists(name));
  /* Room for exactly one of the two queues: the first one is removed again. */
  rl.rlim_cur = (rlim_t)(msg_max * (size_max + 64) + 1024);
  if (rl.rlim_cur > saved.rlim_max)
    rl.rlim_cur = saved.rlim_max;
  CHILD_CHECK(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
  r = uipc_open(&ch, uri, UIPC_CREATE);
  if (r == 0) {
    uipc_close(ch); /* the estimate of the kernel's accounting was generous */
  } else {
    CHILD_CHECK(r == -EMFILE);
    CHILD_CHECK(!visible || !mq_exists(name));
  }
  CHILD_CHECK(setrlimit(RLIMIT_MSGQUEUE, &saved) == 0);
  CHILD_CHECK(uipc_open(&ch, uri, UIPC_CREATE) == 0);
  uipc_close(ch);
  CHILD_CHECK(!visible || !mq_exists(name));

  /* Out of descriptors for the second queue: -EMFILE, nothing left. */
  int before = tu_count_fds();
  for (unsigned slots = 0; slots < 6; slots++) {
    CHILD_CHECK(set_nofile((rlim_t)fd_ceiling() + slots) == 0);
    r = uipc_open(&ch, uri, UIPC_CREATE);
    CHILD_CHECK(set_nofile(4096) == 0);
    CHILD_CHECK(r == 0 || r == -EMFILE);
    if (r == 0)
      uipc_close(ch);
    CHILD_CHECK(tu_count_fds() == before);
    CHILD_CHECK(!visible || !mq_exists(name));
  }
  return 0;
}

static void test_mq_limits(void **state) {
  struct fx *f = *state;
  if (!uipc__transport_find("mq")) {
    print_message("skipped: transport mq: is not registered yet\n");
    skip();
  }
  assert_int_equal(tu_wait(tu_fork(mq_child, f->name)), 0);
}

/* ---- /dev/shm full ---- */

/*
 * In a private mount namespace, a 256 KiB tmpfs over /dev/shm, filled up
 * with a file: every shared-memory object must fail cleanly (-ENOSPC), not
 * crash with SIGBUS when it first touches its pages, and leave no entry.
 */
static int fill_tmpfs(const char *dir) {
  char path[128];
  snprintf(path, sizeof path, "%s/filler", dir);
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  static const char block[4096];
  while (write(fd, block, sizeof block) > 0)
    ;
  close(fd);
  return 0;
}

static int shm_full_child(void *arg) {
  const char *name = arg;
  signal(SIGBUS,
         SIG_DFL); /* cmocka's handler would resume its runner in this child */
  signal(SIGSEGV, SIG_DFL);
  if (unshare(CLONE_NEWNS) < 0 ||
      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
      mount("uipc-full", "/dev/shm", "tmpfs", 0, "size=256k,mode=1777") < 0) {
    fprintf(stderr, "cannot mount a private tmpfs on /dev/shm: %s\n",
            strerror(errno));
    return CHILD_SKIP;
  }
  CHILD_CHECK(fill_tmpfs("/dev/shm") == 0);
  int entries = dir_entries("/dev/shm");
  char uri[256];
  int r, bad = 0;

  /* Each case reports and goes on, so one run shows every offender; the
   * semaphore comes last because its failure mode is SIGBUS. */
  if (uipc__transport_find("shm")) {
    uipc_channel *ch;
    snprintf(uri, sizeof uri, "shm://%s?size=1M", name);
    r = uipc_open(&ch, uri, UIPC_CREATE);
    if (r == 0)
      uipc_close(ch);
    if (r != -ENOSPC || dir_entries("/dev/shm") != entries) {
      fprintf(stderr, "shm: channel on a full /dev/shm: %d (%s)\n", r,
              uipc_strerror(r));
      bad++;
    }
  } else {
    fprintf(stderr, "shm: not registered yet: channel not checked\n");
  }

  uipc_region *reg;
  snprintf(uri, sizeof uri, "shm://%s?size=1M", name);
  r = uipc_region_open(&reg, uri, UIPC_CREATE);
  if (r == 0)
    uipc_region_close(reg); /* its pages would SIGBUS the caller */
  if (r != -ENOSPC || dir_entries("/dev/shm") != entries) {
    fprintf(stderr, "region on a full /dev/shm: %d (%s)\n", r,
            uipc_strerror(r));
    bad++;
  }

  uipc_sem *sem;
  r = uipc_sem_open(&sem, name, 1, UIPC_CREATE);
  if (r == 0) {
    uipc_sem_close(sem);
    uipc_sem_unlink(name);
  }
  if (r != -ENOSPC || dir_entries("/dev/shm") != entries) {
    fprintf(stderr, "semaphore on a full /dev/shm: %d (%s)\n", r,
            uipc_strerror(r));
    bad++;
  }
  return bad ? FAIL_AT(__LINE__) : 0;
}

static void test_shm_full(void **state) {
  struct fx *f = *state;
  if (geteuid() != 0) {
    print_message("skipped: needs root to mount a private tmpfs on /dev/shm\n");
    skip();
  }
  int st = tu_wait(tu_fork(shm_full_child, f->name));
  if (st == CHILD_SKIP) {
    print_message("skipped: no private mount namespace here\n");
    skip();
  }
  if (st >= 128)
    print_message(
        "the child died of signal %d%s\n", st - 128,
        st - 128 == SIGBUS
            ? " (SIGBUS: an object sized with ftruncate on a full tmpfs)"
            : "");
  assert_int_equal(st, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_nofile_fill, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nofile_steps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mq_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shm_full, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
