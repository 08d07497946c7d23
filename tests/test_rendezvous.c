/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle of named objects (lib/rendezvous.c), attacked the way
 * issue 10 did it (findings 1-6): multi-user cases run their parties as two
 * unprivileged uids (1000 and 65534) through setpriv(1), which re-executes
 * this program with "--as ACTION ARG" (see child_main).
 *
 *  1. a stale rendezvous of another uid is never adopted (-EPERM);
 *  2. a live unix: socket is not taken over by another spelling of its path;
 *  3. a stranger squatting the abstract token or doorbell names denies
 *     neither UIPC_CREATE, uipc_unlink nor uipc_pollfd;
 *  4. file: unlink removes only spools, never plain files or links, and a
 *     stranger cannot block creation by pre-creating temporary names;
 *  5. an old owner's close removes only what it created, never its
 *     successor's rendezvous;
 *  6. a truncated shm: ring whose owner is gone: UIPC_CREATE says
 *     -EBADMSG, uipc_unlink removes it; so is a region whose creator died
 *     (issue 11: uipc rm could not remove it).
 * Tests that change uid need root and setpriv and skip otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring.h"
#include "testutil.h"
#include "uipc/uipc.h"

#define UID_A 1000
#define UID_B 65534

static char self_exe[PATH_MAX];

/* ---- the child side: "--as ACTION ARG" under setpriv ---- */

static int errcode(int r)
{
    return r < 0 ? -r : r;
}

static void ready(void)
{
    if (write(STDOUT_FILENO, "R", 1) != 1)
        _exit(125);
}

static int bind_abstract(const char *name)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(a.sun_path + 1, name, n);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0)
        return -errno;
    return fd;
}

static int child_main(const char *action, const char *arg)
{
    uipc_channel *ch;
    if (strcmp(action, "create-die") == 0) { /* create, then die without closing */
        int r = uipc_open(&ch, arg, UIPC_CREATE);
        if (r == 0)
            kill(getpid(), SIGKILL);
        return errcode(r);
    }
    if (strcmp(action, "create") == 0 || strcmp(action, "create-stop") == 0) {
        if (action[6] == '-') /* stopped until the parent has prepared the ground */
            raise(SIGSTOP);
        int r = uipc_open(&ch, arg, UIPC_CREATE);
        if (r == 0)
            uipc_close(ch); /* what open said is the answer */
        return errcode(r);
    }
    if (strcmp(action, "create-hold") == 0) { /* a live owner until killed */
        int r = uipc_open(&ch, arg, UIPC_CREATE);
        if (r < 0)
            return errcode(r);
        ready();
        for (;;)
            pause();
    }
    if (strcmp(action, "unlink") == 0)
        return errcode(uipc_unlink(arg));
    if (strcmp(action, "squat") == 0) { /* ARG: abstract names, ','-separated */
        char names[1024];
        snprintf(names, sizeof names, "%s", arg);
        for (char *save, *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save))
            if (bind_abstract(n) < 0)
                return 100;
        ready();
        for (;;)
            pause();
    }
    if (strcmp(action, "touch") == 0) { /* ARG: paths, ','-separated */
        char paths[4096];
        snprintf(paths, sizeof paths, "%s", arg);
        for (char *save, *p = strtok_r(paths, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
            if (fd < 0)
                return 101;
            close(fd);
        }
        return 0;
    }
    return 126;
}

/* ---- the parent side ---- */

static bool can_switch_uid(void)
{
    return geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0;
}

#define SKIP_UNLESS_UIDS()                                                                 \
    do {                                                                                   \
        if (!can_switch_uid()) {                                                           \
            print_message("skipped: needs root and setpriv to run as two other uids\n"); \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

/* Long-lived children: killed by teardown if a failed assertion skipped stop(). */
static pid_t live[8];

/* Starts this program as uid running ACTION ARG; *out: its stdout (or NULL). */
static pid_t spawn_as(uid_t uid, const char *action, const char *arg, int *out)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char u[32], g[32];
        snprintf(u, sizeof u, "--reuid=%u", (unsigned)uid);
        snprintf(g, sizeof g, "--regid=%u", (unsigned)uid);
        dup2(p[1], STDOUT_FILENO);
        execl("/usr/bin/setpriv", "setpriv", u, g, "--clear-groups", self_exe, "--as", action,
              arg, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (out)
        *out = p[0];
    else
        close(p[0]);
    return pid;
}

/* Runs ACTION ARG as uid to its end: the errno it reported (0: success). */
static int run_as(uid_t uid, const char *action, const char *arg)
{
    pid_t pid = spawn_as(uid, action, arg, NULL);
    assert_true(pid > 0);
    int st = tu_wait(pid);
    return st == 128 + SIGKILL ? 0 : st; /* create-die kills itself after success */
}

/* Starts a long-lived ACTION as uid and waits until it says it is ready. */
static pid_t start_as(uid_t uid, const char *action, const char *arg)
{
    int out = -1;
    pid_t pid = spawn_as(uid, action, arg, &out);
    assert_true(pid > 0);
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (!live[i]) {
            live[i] = pid;
            break;
        }
    char c;
    ssize_t n = read(out, &c, 1);
    close(out);
    if (n != 1) {
        fail_msg("%s %s as uid %u did not come up: status %d", action, arg, (unsigned)uid,
                 tu_wait(pid));
    }
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    tu_wait(pid);
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (live[i] == pid)
            live[i] = 0;
}

struct fx {
    char dir[64];  /* world-writable (and sticky unless a test says not) */
    char name[64]; /* unique kernel-namespace name */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    tu_tmpdir(f->dir, sizeof f->dir);
    tu_name(f->name, sizeof f->name, "uipc-trdv-");
    if (!f->dir[0] || chmod(f->dir, 01777) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (live[i])
            stop(live[i]);
    tu_rmdir_all(f->dir);
    free(f);
    return 0;
}

/* ---- finding 1: another uid's stale rendezvous is not adopted ---- */

static void check_no_foreign_adoption(const char *uri)
{
    char with_mode[512];
    snprintf(with_mode, sizeof with_mode, "%s%smode=0666", uri, strchr(uri, '?') ? "&" : "?");
    /* uid A creates a world-writable rendezvous and dies without closing. */
    assert_int_equal(run_as(UID_A, "create-die", with_mode), 0);
    /* uid B's UIPC_CREATE must not adopt it, whatever mode it asks for. */
    assert_int_equal(run_as(UID_B, "create", with_mode), EPERM);
    assert_int_equal(run_as(UID_B, "create", uri), EPERM);
    /* Its owner takes it over (and root can remove it). */
    assert_int_equal(run_as(UID_A, "create", with_mode), 0);
    uipc_unlink(uri);
}

static void test_foreign_stale_mq(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char uri[256];
    snprintf(uri, sizeof uri, "mq:///%s?depth=2&maxmsg=64", f->name);
    check_no_foreign_adoption(uri);
}

static void test_foreign_stale_sysvmq(void **state)
{
    SKIP_UNLESS_UIDS();
    (void)state;
    char uri[256];
    snprintf(uri, sizeof uri, "sysvmq://0x%08x", 0x72000000u | ((unsigned)getpid() & 0xffffff));
    check_no_foreign_adoption(uri);
}

static void test_foreign_stale_file(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char uri[256];
    snprintf(uri, sizeof uri, "file://%s/spool", f->dir);
    check_no_foreign_adoption(uri);
}

static void test_foreign_stale_mmap(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char uri[256];
    snprintf(uri, sizeof uri, "mmap://%s/ring?size=64K", f->dir);
    check_no_foreign_adoption(uri);
}

/* ---- finding 2: a live unix: socket under another spelling ---- */

static void test_unix_other_spelling(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char sub[128], link[128], uri[256], alias[256];
    /* A directory where anybody may replace anybody's files (no sticky
     * bit): only the staleness test stands between B and A's socket. */
    snprintf(sub, sizeof sub, "%s/d", f->dir);
    snprintf(link, sizeof link, "%s/l", f->dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    assert_int_equal(symlink(sub, link), 0);
    snprintf(uri, sizeof uri, "unix://%s/svc?mode=0666", sub);
    pid_t owner = start_as(UID_A, "create-hold", uri);
    char path[160];
    snprintf(path, sizeof path, "%s/svc", sub);
    struct stat before, after;
    assert_int_equal(lstat(path, &before), 0);
    const char *spellings[] = {"%s//svc", "%s/./svc", "%s/../d/svc"};
    for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
        char p[200];
        snprintf(p, sizeof p, spellings[i], sub);
        snprintf(alias, sizeof alias, "unix://%s", p);
        assert_int_equal(run_as(UID_B, "create", alias), EADDRINUSE);
        assert_int_equal(run_as(UID_B, "unlink", alias), EADDRINUSE);
    }
    snprintf(alias, sizeof alias, "unix://%s/svc", link);
    assert_int_equal(run_as(UID_B, "create", alias), EADDRINUSE);
    assert_int_equal(lstat(path, &after), 0);
    assert_true(before.st_ino == after.st_ino); /* A's socket, untouched */
    /* And it still answers: a client reaches A. */
    uipc_channel *c;
    snprintf(alias, sizeof alias, "unix://%s//svc", sub);
    assert_int_equal(uipc_open(&c, alias, 0), 0);
    uipc_close(c);
    stop(owner);
    /* Dead now: stale under any spelling, and taken over. */
    assert_int_equal(run_as(UID_A, "create", alias), 0);
}

/* ---- finding 3: squatted abstract names ---- */

static void test_squatted_mq_token(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char uri[256], token[256];
    snprintf(uri, sizeof uri, "mq:///%s?depth=2&maxmsg=64", f->name);
    snprintf(token, sizeof token, "uipc-mq/%s.c2s", f->name);
    pid_t squatter = start_as(UID_B, "squat", token);
    assert_int_equal(run_as(UID_A, "create", uri), 0);
    assert_int_equal(run_as(UID_A, "create-die", uri), 0); /* leaves a stale pair */
    assert_int_equal(run_as(UID_A, "unlink", uri), 0);
    stop(squatter);
}

static void test_squatted_sysvmq_token(void **state)
{
    SKIP_UNLESS_UIDS();
    (void)state;
    unsigned key = 0x73000000u | ((unsigned)getpid() & 0xffffff);
    char uri[256], token[256];
    snprintf(uri, sizeof uri, "sysvmq://0x%08x", key);
    snprintf(token, sizeof token, "uipc-sysvmq:%08x", key);
    pid_t squatter = start_as(UID_B, "squat", token);
    assert_int_equal(run_as(UID_A, "create", uri), 0);
    assert_int_equal(run_as(UID_A, "create-die", uri), 0);
    assert_int_equal(run_as(UID_A, "unlink", uri), 0);
    stop(squatter);
}

static void hex(char *out, const uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

static void test_squatted_doorbell(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char uri[256], path[256], id[40], names[256];
    snprintf(uri, sizeof uri, "shm://%s?size=64K", f->name);
    snprintf(path, sizeof path, "/dev/shm/%s", f->name);
    uipc_channel *own, *peer;
    assert_int_equal(uipc_open(&own, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&peer, uri, 0), 0);
    /* The ring's id is public (the first poller's doorbell shows it in
     * /proc/net/unix): a stranger binds every name derivable from it. */
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct uipc__ring_hdr h;
    assert_int_equal(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
    close(fd);
    hex(id, h.id, sizeof h.id);
    snprintf(names, sizeof names, "uipc-bell-%s-0,uipc-bell-%s-1", id, id);
    pid_t squatter = start_as(UID_B, "squat", names);
    assert_true(uipc_pollfd(own) >= 0);
    assert_true(uipc_pollfd(peer) >= 0);
    /* The doorbell still rings: a message makes the owner's descriptor readable. */
    char buf[8];
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), -EAGAIN);
    assert_int_equal(uipc_send(peer, "x", 1, 0), 1);
    struct pollfd p = {.fd = uipc_pollfd(own), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_int_equal(uipc_recv(own, buf, sizeof buf, 0), 1);
    stop(squatter);
    uipc_close(peer);
    uipc_close(own);
}

/* ---- finding 4: file: removes only spools; temp names are unguessable ---- */

static void test_file_unlink_only_spools(void **state)
{
    struct fx *f = *state;
    char uri[256], c2s[160], s2c[160], victim[160];
    snprintf(uri, sizeof uri, "file://%s/data", f->dir);
    snprintf(c2s, sizeof c2s, "%s/data.c2s", f->dir);
    snprintf(s2c, sizeof s2c, "%s/data.s2c", f->dir);
    snprintf(victim, sizeof victim, "%s/victim", f->dir);
    /* Two ordinary files that happen to carry the names. */
    for (int i = 0; i < 2; i++) {
        int fd = open(i ? s2c : c2s, O_CREAT | O_WRONLY, 0600);
        assert_int_equal(write(fd, "precious data", 13), 13);
        close(fd);
    }
    assert_int_equal(uipc_unlink(uri), -EBADMSG);
    assert_int_equal(access(c2s, F_OK), 0);
    assert_int_equal(access(s2c, F_OK), 0);
    /* Planted symbolic links: neither they nor their targets go. */
    unlink(c2s);
    unlink(s2c);
    int fd = open(victim, O_CREAT | O_WRONLY, 0600);
    close(fd);
    assert_int_equal(symlink(victim, c2s), 0);
    assert_int_equal(symlink(victim, s2c), 0);
    assert_int_equal(uipc_unlink(uri), -EBADMSG);
    struct stat st;
    assert_int_equal(lstat(c2s, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(s2c, &st), 0);
    assert_int_equal(access(victim, F_OK), 0);
    unlink(c2s);
    unlink(s2c);
    /* A real spool pair still goes. */
    uipc_channel *ch;
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
    uipc_close(ch);
    assert_int_equal(uipc_unlink(uri), 0);
    assert_int_equal(access(c2s, F_OK), -1);
    assert_int_equal(access(s2c, F_OK), -1);
}

static void test_file_tmp_names_unguessable(void **state)
{
    SKIP_UNLESS_UIDS();
    struct fx *f = *state;
    char uri[256], paths[1024];
    snprintf(uri, sizeof uri, "file://%s/spool", f->dir);
    /* The creator (uid A, so the sticky directory protects the stranger's
     * files from it) stops before it creates; meanwhile a stranger
     * pre-creates every temporary name it could pick from its pid, as the
     * old "<path>.<pid>.tmp" scheme made possible. */
    pid_t creator = spawn_as(UID_A, "create-stop", uri, NULL);
    int st;
    assert_int_equal(waitpid(creator, &st, WUNTRACED), creator);
    assert_true(WIFSTOPPED(st));
    snprintf(paths, sizeof paths, "%s/spool.c2s.%d.tmp,%s/spool.s2c.%d.tmp", f->dir, (int)creator,
             f->dir, (int)creator);
    assert_int_equal(run_as(UID_B, "touch", paths), 0);
    kill(creator, SIGCONT);
    assert_int_equal(tu_wait(creator), 0);
    uipc_unlink(uri);
}

/* ---- finding 5: an old owner's close leaves its successor alone ---- */

static void check_successor_survives(const char *uri, const char *file)
{
    uipc_channel *old, *successor;
    struct stat st;
    assert_int_equal(uipc_open(&old, uri, UIPC_CREATE), 0);
    /* uipc rm --force: the names go while the old owner lives. */
    char c2s[200], s2c[200];
    if (strncmp(uri, "fifo:", 5) == 0) {
        snprintf(c2s, sizeof c2s, "%s.c2s", file);
        snprintf(s2c, sizeof s2c, "%s.s2c", file);
        assert_int_equal(unlink(c2s), 0);
        assert_int_equal(unlink(s2c), 0);
    } else {
        assert_int_equal(unlink(file), 0);
    }
    assert_int_equal(uipc_open(&successor, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_close(old), 0);
    if (strncmp(uri, "fifo:", 5) == 0) {
        assert_int_equal(lstat(c2s, &st), 0);
        assert_int_equal(lstat(s2c, &st), 0);
    } else {
        assert_int_equal(lstat(file, &st), 0);
    }
    /* The successor still works: a peer reaches it. */
    uipc_channel *peer;
    char buf[8];
    assert_int_equal(uipc_open(&peer, uri, 0), 0);
    assert_int_equal(uipc_send(peer, "hi", 2, 1000), 2);
    assert_int_equal(uipc_recv(successor, buf, sizeof buf, 1000), 2);
    uipc_close(peer);
    assert_int_equal(uipc_close(successor), 0);
}

static void test_old_owner_spares_successor(void **state)
{
    struct fx *f = *state;
    char uri[256], file[200];
    snprintf(file, sizeof file, "%s/sock", f->dir);
    snprintf(uri, sizeof uri, "unix://%s", file);
    check_successor_survives(uri, file);
    snprintf(file, sizeof file, "%s/fifo", f->dir);
    snprintf(uri, sizeof uri, "fifo://%s", file);
    check_successor_survives(uri, file);
    snprintf(file, sizeof file, "/dev/shm/%s", f->name);
    snprintf(uri, sizeof uri, "shm://%s?size=64K", f->name);
    check_successor_survives(uri, file);
}

/* ---- finding 6: a truncated ring whose owner is gone ---- */

static int create_and_die(void *uri)
{
    uipc_channel *ch;
    if (uipc_open(&ch, uri, UIPC_CREATE) == 0)
        kill(getpid(), SIGKILL);
    return 1;
}

struct hold {
    const char *uri;
    int ready;
};

static int create_and_hold(void *arg)
{
    struct hold *h = arg;
    uipc_channel *ch;
    if (uipc_open(&ch, h->uri, UIPC_CREATE) < 0 || write(h->ready, "R", 1) != 1)
        return 1;
    for (;;)
        pause();
}

static void test_truncated_ring(void **state)
{
    struct fx *f = *state;
    char uri[256], path[256];
    snprintf(uri, sizeof uri, "shm://%s?size=64K", f->name);
    snprintf(path, sizeof path, "/dev/shm/%s", f->name);
    const off_t sizes[] = {0, 100, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        assert_int_equal(tu_wait(tu_fork(create_and_die, uri)), 128 + SIGKILL);
        assert_int_equal(truncate(path, sizes[i]), 0);
        uipc_channel *ch;
        assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EBADMSG); /* says what is wrong */
        assert_int_equal(uipc_open(&ch, uri, 0), -EBADMSG);
        assert_int_equal(uipc_unlink(uri), 0); /* and can be reclaimed */
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);
        uipc_close(ch);
    }
    /* While its owner lives, a corrupt ring is still the owner's (the
     * owner is a process of its own: touching a truncated mapping would be
     * SIGBUS). */
    int go[2];
    assert_int_equal(pipe(go), 0);
    struct hold h = {uri, go[1]};
    pid_t owner = tu_fork(create_and_hold, &h);
    char c;
    assert_int_equal(read(go[0], &c, 1), 1);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    uipc_channel *ch;
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EADDRINUSE);
    stop(owner);
    close(go[0]);
    close(go[1]);
    assert_int_equal(uipc_unlink(uri), 0);
}

/* ---- a region whose creator died is libuipc's to remove ---- */

static int region_and_die(void *uri)
{
    uipc_region *rg;
    if (uipc_region_open(&rg, uri, UIPC_CREATE) == 0)
        kill(getpid(), SIGKILL);
    return 1;
}

static void test_dead_region_removable(void **state)
{
    struct fx *f = *state;
    char uri[256], name[256], path[256];
    snprintf(uri, sizeof uri, "shm://%s?size=4096", f->name);
    snprintf(name, sizeof name, "shm://%s", f->name);
    snprintf(path, sizeof path, "/dev/shm/%s", f->name);
    /* Live: its creator holds the owner lock. */
    uipc_region *rg;
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_unlink(name), -EADDRINUSE);
    assert_int_equal(uipc_region_close(rg), 0);
    assert_int_equal(access(path, F_OK), -1);
    /* Its creator killed: the bytes are the caller's, but the region is
     * still known for libuipc's and removed. */
    assert_int_equal(tu_wait(tu_fork(region_and_die, uri)), 128 + SIGKILL);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(uipc_unlink(name), 0);
    assert_int_equal(access(path, F_OK), -1);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--as") == 0)
        return child_main(argv[2], argv[3]);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';
    signal(SIGPIPE, SIG_DFL); /* the library must never raise it */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_foreign_stale_mq),
        T(test_foreign_stale_sysvmq),
        T(test_foreign_stale_file),
        T(test_foreign_stale_mmap),
        T(test_unix_other_spelling),
        T(test_squatted_mq_token),
        T(test_squatted_sysvmq_token),
        T(test_squatted_doorbell),
        T(test_file_unlink_only_spools),
        T(test_file_tmp_names_unguessable),
        T(test_old_owner_spares_successor),
        T(test_truncated_ring),
        T(test_dead_region_removable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
