/* SPDX-License-Identifier: MIT */
/*
 * Security properties of every named rendezvous (issue 7):
 *  - what is created has exactly ?mode= (default 0600), whatever the umask;
 *  - UIPC_EXCL refuses an existing object (-EEXIST), and a live one is never
 *    taken over (-EADDRINUSE);
 *  - a process of another uid is refused by the permission bits (fifo:,
 *    shm:, mq:) or by ?allow_uid= (unix:), and a refused unix: client is
 *    never handed out by the listener;
 *  - names with '/', "..", "." or control characters, literal or
 *    %-escaped, are -EINVAL;
 *  - a symbolic link planted where a rendezvous goes is never followed
 *    into creating, truncating or removing its target.
 * Transports still being written (shm:, mmap:, mq:, file:) are probed in
 * the registry: their tests run as soon as they are registered and skip
 * with a message before that.  Tests that change uid need root and skip
 * otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "testutil.h"
#include "uipc/uipc.h"

#define NOBODY 65534
#define MQUEUE_MAGIC_FS 0x19800202

struct fx {
  char dir[64];
  char name[64]; /* unique kernel-namespace name (shm, mq, sem) */
  int fds;
  mode_t umask_saved;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  tu_tmpdir(f->dir, sizeof f->dir);
  tu_name(f->name, sizeof f->name, "uipc-tsec-");
  /* Others may traverse the directory: a refusal must come from the
   * object's own permissions, not from the directory's. */
  if (!f->dir[0] || chmod(f->dir, 0755) < 0) {
    free(f);
    return -1;
  }
  f->umask_saved = umask(077); /* a narrow umask: modes must not depend on it */
  f->fds = tu_count_fds();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  umask(f->umask_saved);
  tu_rmdir_all(f->dir);
  free(f);
  return 0;
}

static bool have(const char *scheme) {
  return uipc__transport_find(scheme) != NULL;
}

#define SKIP_WITHOUT(scheme)                                                   \
  do {                                                                         \
    if (!have(scheme)) {                                                       \
      print_message("skipped: transport %s: is not registered yet\n", scheme); \
      skip();                                                                  \
    }                                                                          \
  } while (0)

#define SKIP_UNLESS_ROOT()                                                     \
  do {                                                                         \
    if (geteuid() != 0) {                                                      \
      print_message("skipped: needs root to run a process as another uid\n");  \
      skip();                                                                  \
    }                                                                          \
  } while (0)

static void assert_no_leak(const struct fx *f) {
  assert_int_equal(tu_count_fds(), f->fds);
}

static mode_t mode_of(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return (mode_t)-1;
  return st.st_mode & 07777;
}

/* POSIX message queues are visible (with their modes) under /dev/mqueue. */
static bool mqueue_mounted(void) {
  struct statfs s;
  if (statfs("/dev/mqueue", &s) == 0 &&
      (unsigned long)s.f_type == MQUEUE_MAGIC_FS)
    return true;
  if (geteuid() != 0)
    return false;
  mkdir("/dev/mqueue", 0755);
  return mount("none", "/dev/mqueue", "mqueue", 0, NULL) == 0;
}

/* Runs fn(arg) in a child that dropped to uid/gid nobody; its exit status. */
static int as_nobody(int (*fn)(void *), void *arg) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
      _exit(200);
    _exit(fn(arg));
  }
  return tu_wait(pid);
}

/* Child results travel as exit codes: 0 for success, -r for an errno. */
static int exit_code(int r) { return r >= 0 ? 0 : (-r > 199 ? 199 : -r); }

/* ---- modes ---- */

static void check_fifo_like_modes(struct fx *f, const char *scheme) {
  char uri[256], c2s[128], s2c[128];
  static const struct {
    const char *query;
    mode_t mode;
  } cases[] = {
      {"", 0600}, {"?mode=0640", 0640}, {"?mode=0666", 0666}, {"?mode=0", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(uri, sizeof uri, "%s://%s/m%zu%s", scheme, f->dir, i,
             cases[i].query);
    snprintf(c2s, sizeof c2s, "%s/m%zu.c2s", f->dir, i);
    snprintf(s2c, sizeof s2c, "%s/m%zu.s2c", f->dir, i);
    uipc_channel *ch;
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
    assert_int_equal(mode_of(c2s), cases[i].mode);
    assert_int_equal(mode_of(s2c), cases[i].mode);
    assert_int_equal(uipc_close(ch), 0);
  }
}

static void test_mode_fifo(void **state) {
  struct fx *f = *state;
  check_fifo_like_modes(f, "fifo");
  assert_no_leak(f);
}

static void test_mode_file(void **state) {
  SKIP_WITHOUT("file");
  struct fx *f = *state;
  check_fifo_like_modes(f, "file");
  assert_no_leak(f);
}

static void test_mode_unix(void **state) {
  struct fx *f = *state;
  char uri[256], path[128];
  snprintf(path, sizeof path, "%s/s.sock", f->dir);
  uipc_channel *ch;
  uipc_listener *l;

  snprintf(uri, sizeof uri, "unix://%s", path);
  assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
  assert_int_equal(mode_of(path), 0600);
  assert_int_equal(uipc_close(ch), 0);

  snprintf(uri, sizeof uri, "unix://%s?mode=0660&type=seqpacket", path);
  assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
  assert_int_equal(mode_of(path), 0660);
  assert_int_equal(uipc_close(ch), 0);

  snprintf(uri, sizeof uri, "unix://%s?mode=0606", path);
  assert_int_equal(uipc_listen(&l, uri, 0), 0);
  assert_int_equal(mode_of(path), 0606);
  assert_int_equal(uipc_listener_close(l), 0);
  assert_int_equal(mode_of(path), (mode_t)-1); /* removed */
  assert_no_leak(f);
}

/* Every /dev/shm entry whose name contains name has mode want; returns how
 * many. */
static int check_shm_entries(const char *name, mode_t want) {
  DIR *d = opendir("/dev/shm");
  struct dirent *e;
  int n = 0;
  assert_non_null(d);
  while ((e = readdir(d))) {
    if (!strstr(e->d_name, name))
      continue;
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
    if (mode_of(path) != want)
      print_message("%s has mode %o, want %o\n", path, (unsigned)mode_of(path),
                    (unsigned)want);
    assert_int_equal(mode_of(path), want);
    n++;
  }
  closedir(d);
  return n;
}

static void test_mode_shm(void **state) {
  SKIP_WITHOUT("shm");
  struct fx *f = *state;
  char uri[256];
  uipc_channel *ch;
  snprintf(uri, sizeof uri, "shm://%s?size=64K", f->name);
  assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
  assert_true(check_shm_entries(f->name, 0600) > 0);
  assert_int_equal(uipc_close(ch), 0);
  snprintf(uri, sizeof uri, "shm://%s?size=64K&mode=0640", f->name);
  assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
  assert_true(check_shm_entries(f->name, 0640) > 0);
  assert_int_equal(uipc_close(ch), 0);
  assert_int_equal(check_shm_entries(f->name, 0),
                   0); /* the owner removed them */
  assert_no_leak(f);
}

static void test_mode_mq(void **state) {
  SKIP_WITHOUT("mq");
  struct fx *f = *state;
  if (!mqueue_mounted()) {
    print_message("skipped: /dev/mqueue is not mounted and cannot be\n");
    skip();
  }
  char uri[256], c2s[128], s2c[128];
  snprintf(c2s, sizeof c2s, "/dev/mqueue/%s.c2s", f->name);
  snprintf(s2c, sizeof s2c, "/dev/mqueue/%s.s2c", f->name);
  uipc_channel *ch;
  snprintf(uri, sizeof uri, "mq:///%s?depth=4&maxmsg=128", f->name);
  assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
  assert_int_equal(mode_of(c2s), 0600);
  assert_int_equal(mode_of(s2c), 0600);
  assert_int_equal(uipc_close(ch), 0);
  snprintf(uri, sizeof uri, "mq:///%s?depth=4&maxmsg=128&mode=0620", f->name);
  assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
  assert_int_equal(mode_of(c2s), 0620);
  assert_int_equal(mode_of(s2c), 0620);
  assert_int_equal(uipc_close(ch), 0);
  assert_int_equal(mode_of(c2s), (mode_t)-1);
  assert_no_leak(f);
}

/* ---- UIPC_EXCL and live owners ---- */

static void check_excl(const char *uri) {
  uipc_channel *owner, *again;
  assert_int_equal(uipc_open(&owner, uri, UIPC_CREATE | UIPC_EXCL), 0);
  assert_int_equal(uipc_open(&again, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
  assert_int_equal(uipc_open(&again, uri, UIPC_CREATE),
                   -EADDRINUSE); /* alive: never taken */
  assert_int_equal(uipc_close(owner), 0);
  /* Closed by its owner: nothing left, so EXCL succeeds again. */
  assert_int_equal(uipc_open(&owner, uri, UIPC_CREATE | UIPC_EXCL), 0);
  assert_int_equal(uipc_close(owner), 0);
}

static void test_excl(void **state) {
  struct fx *f = *state;
  char uri[256];
  snprintf(uri, sizeof uri, "fifo://%s/x", f->dir);
  check_excl(uri);
  snprintf(uri, sizeof uri, "unix://%s/x.sock", f->dir);
  check_excl(uri);
  snprintf(uri, sizeof uri, "unix://%s/x.sock?type=seqpacket", f->dir);
  check_excl(uri);
  if (have("shm")) {
    snprintf(uri, sizeof uri, "shm://%s?size=64K", f->name);
    check_excl(uri);
  } else
    print_message("shm: not registered yet: not checked\n");
  if (have("mq")) {
    snprintf(uri, sizeof uri, "mq:///%s?depth=2&maxmsg=64", f->name);
    check_excl(uri);
  } else
    print_message("mq: not registered yet: not checked\n");

  /* A listener too; and a plain file in the way is never replaced. */
  uipc_listener *l, *l2;
  snprintf(uri, sizeof uri, "unix://%s/l.sock", f->dir);
  assert_int_equal(uipc_listen(&l, uri, UIPC_EXCL), 0);
  assert_int_equal(uipc_listen(&l2, uri, UIPC_EXCL), -EEXIST);
  assert_int_equal(uipc_listen(&l2, uri, 0), -EADDRINUSE);
  assert_int_equal(uipc_listener_close(l), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/plain", f->dir);
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "keep", 4), 4);
  close(fd);
  snprintf(uri, sizeof uri, "unix://%s", path);
  uipc_channel *ch;
  assert_true(uipc_open(&ch, uri, UIPC_CREATE) < 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode) && st.st_size == 4);
  assert_no_leak(f);
}

/* ---- another uid ---- */

static int child_attach(void *uri) {
  uipc_channel *ch;
  int r = uipc_open(&ch, uri, 0);
  if (r == 0)
    uipc_close(ch);
  return exit_code(r);
}

static void test_uid_fifo(void **state) {
  SKIP_UNLESS_ROOT();
  struct fx *f = *state;
  char uri[256];
  uipc_channel *owner;
  snprintf(uri, sizeof uri, "fifo://%s/u", f->dir);
  assert_int_equal(uipc_open(&owner, uri, UIPC_CREATE), 0);
  assert_int_equal(as_nobody(child_attach, uri), EACCES);
  assert_int_equal(uipc_close(owner), 0);
  /* The control: with mode 0666 the same process gets in. */
  snprintf(uri, sizeof uri, "fifo://%s/u?mode=0666", f->dir);
  assert_int_equal(uipc_open(&owner, uri, UIPC_CREATE), 0);
  snprintf(uri, sizeof uri, "fifo://%s/u", f->dir);
  assert_int_equal(as_nobody(child_attach, uri), 0);
  assert_int_equal(uipc_close(owner), 0);
  assert_no_leak(f);
}

static void check_uid_named(struct fx *f, const char *open_uri,
                            const char *attach_uri, const char *open_uri_0666) {
  uipc_channel *owner;
  assert_int_equal(uipc_open(&owner, open_uri, UIPC_CREATE), 0);
  assert_int_equal(as_nobody(child_attach, (void *)attach_uri), EACCES);
  assert_int_equal(uipc_close(owner), 0);
  assert_int_equal(uipc_open(&owner, open_uri_0666, UIPC_CREATE), 0);
  assert_int_equal(as_nobody(child_attach, (void *)attach_uri), 0);
  assert_int_equal(uipc_close(owner), 0);
  assert_no_leak(f);
}

static void test_uid_shm(void **state) {
  SKIP_WITHOUT("shm");
  SKIP_UNLESS_ROOT();
  struct fx *f = *state;
  char a[256], b[256], c[256];
  snprintf(a, sizeof a, "shm://%s?size=64K", f->name);
  snprintf(b, sizeof b, "shm://%s", f->name);
  snprintf(c, sizeof c, "shm://%s?size=64K&mode=0666", f->name);
  check_uid_named(f, a, b, c);
}

static void test_uid_mq(void **state) {
  SKIP_WITHOUT("mq");
  SKIP_UNLESS_ROOT();
  struct fx *f = *state;
  char a[256], b[256], c[256];
  snprintf(a, sizeof a, "mq:///%s?depth=2&maxmsg=64", f->name);
  snprintf(b, sizeof b, "mq:///%s", f->name);
  snprintf(c, sizeof c, "mq:///%s?depth=2&maxmsg=64&mode=0666", f->name);
  check_uid_named(f, a, b, c);
}

/*
 * A refused unix: client: connects (the socket file lets it), tells the
 * parent through the pipe, then every call must fail with -EPIPE or -EACCES
 * once the listener has dropped it.
 */
struct refused {
  const char *uri;
  int ready[2];
};

static int child_refused(void *arg) {
  struct refused *rf = arg;
  uipc_channel *ch;
  close(rf->ready[0]);
  int r = uipc_open(&ch, rf->uri, 0);
  if (write(rf->ready[1], "x", 1) != 1 || r < 0)
    return r < 0 ? 100 + exit_code(r) % 100 : 99;
  char buf[16];
  ssize_t n = uipc_recv(ch, buf, sizeof buf, 5000);
  uipc_close(ch);
  if (n == -EPIPE || n == -EACCES)
    return 0;
  return n == -ETIMEDOUT ? 98 : 97;
}

static void test_uid_unix_allow(void **state) {
  SKIP_UNLESS_ROOT();
  struct fx *f = *state;
  char uri[256], curi[256];
  snprintf(uri, sizeof uri, "unix://%s/a.sock?mode=0666&allow_uid=0", f->dir);
  snprintf(curi, sizeof curi, "unix://%s/a.sock", f->dir);
  uipc_listener *l;
  uipc_channel *got, *me;
  assert_int_equal(uipc_listen(&l, uri, 0), 0);

  struct refused rf = {.uri = curi};
  assert_int_equal(pipe2(rf.ready, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
      _exit(200);
    _exit(child_refused(&rf));
  }
  close(rf.ready[1]);
  char c;
  assert_int_equal(read(rf.ready[0], &c, 1), 1);
  close(rf.ready[0]);
  /* The refused client is connected and waiting: never handed out. */
  assert_int_equal(uipc_accept(l, &got, 300), -ETIMEDOUT);
  assert_int_equal(tu_wait(pid), 0);

  /* An allowed client (uid 0, this process) is accepted. */
  assert_int_equal(uipc_open(&me, curi, 0), 0);
  assert_int_equal(uipc_accept(l, &got, 2000), 0);
  uid_t uid = 1;
  assert_int_equal(uipc_peer_cred(got, NULL, &uid, NULL), 0);
  assert_int_equal(uid, 0);
  assert_int_equal(uipc_send(me, "hi", 2, 1000), 2);
  char buf[4];
  assert_int_equal(uipc_recv(got, buf, sizeof buf, 1000), 2);
  uipc_close(got);
  uipc_close(me);
  assert_int_equal(uipc_listener_close(l), 0);

  /* The one-peer form: the owner never sees the refused client. */
  snprintf(uri, sizeof uri,
           "unix://%s/b.sock?mode=0666&allow_uid=0&type=seqpacket", f->dir);
  snprintf(curi, sizeof curi, "unix://%s/b.sock?type=seqpacket", f->dir);
  uipc_channel *owner;
  assert_int_equal(uipc_open(&owner, uri, UIPC_CREATE), 0);
  rf.uri = curi;
  assert_int_equal(pipe2(rf.ready, O_CLOEXEC), 0);
  pid = fork();
  if (pid == 0) {
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
      _exit(200);
    _exit(child_refused(&rf));
  }
  close(rf.ready[1]);
  assert_int_equal(read(rf.ready[0], &c, 1), 1);
  close(rf.ready[0]);
  assert_int_equal(uipc_recv(owner, buf, sizeof buf, 300), -ETIMEDOUT);
  assert_int_equal(tu_wait(pid), 0);
  assert_int_equal(uipc_close(owner), 0);

  /* Without mode 0666 the socket file itself keeps the other uid out. */
  snprintf(uri, sizeof uri, "unix://%s/c.sock", f->dir);
  assert_int_equal(uipc_open(&owner, uri, UIPC_CREATE), 0);
  assert_int_equal(as_nobody(child_attach, uri), EACCES);
  assert_int_equal(uipc_close(owner), 0);
  assert_no_leak(f);
}

/* ---- bad names ---- */

static void test_bad_names(void **state) {
  struct fx *f = *state;
  char uri[512];
  /* Control characters anywhere, literal or escaped: every scheme. */
  static const char *const ctl_fmt[] = {
      "fifo://%s/a%%0Ab", "fifo://%s/a\x01z",          "fifo://%s/a%%7F",
      "fifo://%s/a%%00b", "unix://%s/a%%0Ds",          "unix://%s/a\tb",
      "file://%s/a%%1Bb", "mmap://%s/a%%0Ab?size=64K",
  };
  for (size_t i = 0; i < sizeof ctl_fmt / sizeof *ctl_fmt; i++) {
    snprintf(uri, sizeof uri, ctl_fmt[i], f->dir);
    uipc_channel *ch = (uipc_channel *)1;
    int r = uipc_open(&ch, uri, UIPC_CREATE);
    if (r == -EPROTONOSUPPORT)
      continue; /* scheme not registered yet */
    if (r != -EINVAL)
      print_message("%s: %d\n", uri, r);
    assert_int_equal(r, -EINVAL);
    assert_null(ch);
  }
  static const char *const abstract[] = {"unix:@a%0Ab", "unix:@a%00b",
                                         "unix:@\x7f", "tcp://127.0.0.1:1%0A",
                                         "tcp://127.0.%091:7000"};
  for (size_t i = 0; i < sizeof abstract / sizeof *abstract; i++) {
    uipc_channel *ch;
    assert_int_equal(uipc_open(&ch, abstract[i], UIPC_CREATE), -EINVAL);
  }

  /* Kernel-namespace names: one component, not "." or "..". */
  static const char *const bad_names[] = {
      "a/b", "a%2Fb", "..", "%2E%2E", ".", "%2e", "a%0Ab", "a%01b", "%7F"};
  for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
    uipc_channel *ch;
    if (have("shm")) {
      snprintf(uri, sizeof uri, "shm://%s?size=64K", bad_names[i]);
      assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EINVAL);
      assert_int_equal(uipc_open(&ch, uri, 0), -EINVAL);
    }
    if (have("mq")) {
      snprintf(uri, sizeof uri, "mq:///%s", bad_names[i]);
      int r = uipc_open(&ch, uri, UIPC_CREATE);
      if (r != -EINVAL)
        print_message("%s: %d\n", uri, r);
      assert_int_equal(r, -EINVAL);
    }
    uipc_region *reg;
    snprintf(uri, sizeof uri, "shm://%s?size=4K", bad_names[i]);
    assert_int_equal(uipc_region_open(&reg, uri, UIPC_CREATE), -EINVAL);
  }
  static const char *const bad_sem[] = {"a/b",  "..", ".",   "a\nb",
                                        "\x7f", "",   "/x/y"};
  for (size_t i = 0; i < sizeof bad_sem / sizeof *bad_sem; i++) {
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, bad_sem[i], 0, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_sem_unlink(bad_sem[i]), -EINVAL);
  }
  if (!have("shm"))
    print_message("shm: not registered yet: channel names not checked\n");
  if (!have("mq"))
    print_message("mq: not registered yet: names not checked\n");
  assert_no_leak(f);
}

/* ---- planted symbolic links ---- */

static void plant_target(const char *dir, char *target, size_t cap) {
  snprintf(target, cap, "%s/target", dir);
  int fd = open(target, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(fchmod(fd, 0644), 0); /* the fixture's umask narrowed it */
  assert_int_equal(write(fd, "precious", 8), 8);
  close(fd);
}

static void assert_target_intact(const char *target) {
  char buf[16] = {0};
  struct stat st;
  assert_int_equal(lstat(target, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0644);
  int fd = open(target, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(read(fd, buf, sizeof buf), 8);
  close(fd);
  assert_memory_equal(buf, "precious", 8);
}

/*
 * A link planted at link_path (pointing at a file with known content, then
 * dangling): opening uri with UIPC_CREATE must fail, leave the target as it
 * was and create nothing at the dangling link's destination; uipc_unlink
 * must not remove the target either.
 */
static void check_symlink(struct fx *f, const char *uri,
                          const char *link_path) {
  char target[128], dangling[128];
  plant_target(f->dir, target, sizeof target);
  assert_int_equal(symlink(target, link_path), 0);
  uipc_channel *ch;
  int r = uipc_open(&ch, uri, UIPC_CREATE);
  if (r >= 0) {
    print_message("%s: created over a symlink at %s\n", uri, link_path);
    uipc_close(ch);
  }
  assert_true(r < 0);
  assert_target_intact(target);
  assert_true(uipc_open(&ch, uri, 0) <
              0); /* attaching does not follow it either */
  assert_target_intact(target);
  (void)uipc_unlink(uri);
  assert_target_intact(target);
  unlink(link_path);

  snprintf(dangling, sizeof dangling, "%s/not-there", f->dir);
  assert_int_equal(symlink(dangling, link_path), 0);
  r = uipc_open(&ch, uri, UIPC_CREATE);
  if (r >= 0)
    uipc_close(ch);
  struct stat st;
  assert_int_equal(lstat(dangling, &st),
                   -1); /* nothing created through the link */
  assert_true(r < 0);
  unlink(link_path);
  unlink(target);
}

static void test_symlink_fifo(void **state) {
  struct fx *f = *state;
  char uri[256], link[128];
  snprintf(uri, sizeof uri, "fifo://%s/p", f->dir);
  snprintf(link, sizeof link, "%s/p.c2s", f->dir);
  check_symlink(f, uri, link);
  snprintf(link, sizeof link, "%s/p.s2c", f->dir);
  check_symlink(f, uri, link);
  /* A link to a live FIFO of someone else is refused too. */
  char other[256], other_c2s[128], link_c2s[128];
  snprintf(other, sizeof other, "fifo://%s/o", f->dir);
  snprintf(other_c2s, sizeof other_c2s, "%s/o.c2s", f->dir);
  snprintf(link_c2s, sizeof link_c2s, "%s/p.c2s", f->dir);
  uipc_channel *owner, *ch;
  assert_int_equal(uipc_open(&owner, other, UIPC_CREATE), 0);
  assert_int_equal(symlink(other_c2s, link_c2s), 0);
  assert_true(uipc_open(&ch, uri, 0) < 0);
  unlink(link_c2s);
  assert_int_equal(uipc_close(owner), 0);
  assert_no_leak(f);
}

static void test_symlink_unix(void **state) {
  struct fx *f = *state;
  char uri[256], link[128];
  snprintf(link, sizeof link, "%s/s.sock", f->dir);
  snprintf(uri, sizeof uri, "unix://%s", link);
  check_symlink(f, uri, link);
  snprintf(uri, sizeof uri, "unix://%s?type=seqpacket", link);
  check_symlink(f, uri, link);
  uipc_listener *l;
  char target[128];
  plant_target(f->dir, target, sizeof target);
  assert_int_equal(symlink(target, link), 0);
  snprintf(uri, sizeof uri, "unix://%s", link);
  assert_true(uipc_listen(&l, uri, 0) < 0);
  assert_target_intact(target);
  unlink(link);
  assert_no_leak(f);
}

static void test_symlink_file(void **state) {
  SKIP_WITHOUT("file");
  struct fx *f = *state;
  char uri[256], link[128];
  snprintf(uri, sizeof uri, "file://%s/sp", f->dir);
  snprintf(link, sizeof link, "%s/sp.c2s", f->dir);
  check_symlink(f, uri, link);
  snprintf(link, sizeof link, "%s/sp.s2c", f->dir);
  check_symlink(f, uri, link);
  assert_no_leak(f);
}

static void test_symlink_mmap(void **state) {
  SKIP_WITHOUT("mmap");
  struct fx *f = *state;
  char uri[256], link[128];
  snprintf(link, sizeof link, "%s/q.ring", f->dir);
  snprintf(uri, sizeof uri, "mmap://%s?size=64K", link);
  check_symlink(f, uri, link);
  assert_no_leak(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_mode_fifo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mode_unix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mode_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mode_shm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mode_mq, setup, teardown),
      cmocka_unit_test_setup_teardown(test_excl, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uid_fifo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uid_unix_allow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uid_shm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uid_mq, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_fifo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_unix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_mmap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
