/* SPDX-License-Identifier: MIT */
/*
 * sysvshm: regions (lib/sync/region_sysv.c): a libuipc program and a legacy
 * program that calls shmget/shmat itself (tests/sysv_peer.c, exec'd) share
 * one System V segment either way round; ownership, removal at the owner's
 * close with other attachments still alive, stale take-over (only of the
 * caller's own segments), ftok keys, a second uid refused by the mode, and
 * bad input.  Every test uses its own key and removes its segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define NOBODY 65534
#define FROM_UIPC "uipc->legacy"
#define FROM_LEGACY "legacy->uipc"
#define LEGACY_OFFSET 64

struct fx {
    key_t key;
    char uri[128];   /* "sysvshm://0x...": the bare key, queries appended by tests */
    char keyarg[24]; /* the key for sysv_peer's command line */
    char dir[64];
    int fds;
};

static int next_key;

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->key = (key_t)(0x75000000u | ((unsigned)getpid() & 0xffffu) << 8 | (unsigned)++next_key);
    snprintf(f->uri, sizeof f->uri, "sysvshm://%#x", (unsigned)f->key);
    snprintf(f->keyarg, sizeof f->keyarg, "%#x", (unsigned)f->key);
    tu_tmpdir(f->dir, sizeof f->dir);
    f->fds = tu_count_fds();
    *state = f;
    return f->dir[0] ? 0 : -1;
}

static bool key_exists(key_t key)
{
    return shmget(key, 0, 0) >= 0;
}

static void remove_key(key_t key)
{
    int id = shmget(key, 0, 0);
    if (id >= 0)
        shmctl(id, IPC_RMID, NULL);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    remove_key(f->key);
    tu_rmdir_all(f->dir);
    free(f);
    return 0;
}

/* The segment at key, or fails the test. */
static struct shmid_ds stat_key(key_t key)
{
    struct shmid_ds ds;
    int id = shmget(key, 0, 0);
    assert_true(id >= 0);
    assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
    return ds;
}

/* Runs sysv_peer (optionally through setpriv as nobody) with stdin and
 * stdout on pipes; *to / *from are our ends. */
static pid_t spawn_peer(bool as_nobody, const char *action, const char *key, size_t size, int *to,
                        int *from)
{
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char sz[32];
    snprintf(sz, sizeof sz, "%zu", size);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (as_nobody)
            execl("/usr/bin/setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  SYSV_PEER_PATH, action, key, sz, (char *)NULL);
        else
            execl(SYSV_PEER_PATH, "sysv_peer", action, key, sz, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to = in[1];
    *from = out[0];
    return pid;
}

/* sysv_peer attach, to completion: its exit status. */
static int run_attach(bool as_nobody, const char *key, size_t size)
{
    int to, from;
    pid_t pid = spawn_peer(as_nobody, "attach", key, size, &to, &from);
    close(to);
    close(from);
    return tu_wait(pid);
}

static void skip_unless_setpriv(void)
{
    if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
        print_message("skipped: needs root and setpriv to run a process as nobody\n");
        skip();
    }
}

/* Creates f's region of size bytes (more: further query keys, "&k=v"). */
static uipc_region *create_region(const struct fx *f, size_t size, const char *more)
{
    char uri[200];
    snprintf(uri, sizeof uri, "%s?size=%zu%s", f->uri, size, more);
    uipc_region *rg;
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_region_size(rg), size);
    return rg;
}

static void assert_zero_filled(const uipc_region *rg)
{
    const unsigned char *p = uipc_region_ptr(rg);
    for (size_t i = 0; i < uipc_region_size(rg); i++)
        assert_int_equal(p[i], 0);
}

/* libuipc creates, the legacy program attaches with shmget/shmat. */
static void legacy_attaches_to_uipc_region(void **state)
{
    struct fx *f = *state;
    uipc_region *rg = create_region(f, 8192, "");
    assert_zero_filled(rg);
    unsigned char *p = uipc_region_ptr(rg);
    struct shmid_ds ds = stat_key(f->key);
    assert_int_equal(ds.shm_segsz, 8192);
    assert_int_equal(ds.shm_perm.mode & 0777, 0600); /* the default mode */
    assert_int_equal(ds.shm_cpid, getpid());

    memcpy(p, FROM_UIPC, sizeof FROM_UIPC);
    assert_int_equal(run_attach(false, f->keyarg, 8192), 0);
    assert_memory_equal(p + LEGACY_OFFSET, FROM_LEGACY, sizeof FROM_LEGACY);

    assert_int_equal(uipc_region_close(rg), 0);
    assert_false(key_exists(f->key)); /* the owner removed it */
    assert_int_equal(tu_count_fds(), f->fds);
}

/* The legacy program creates and holds the segment; libuipc attaches. */
static void uipc_attaches_to_legacy_segment(void **state)
{
    struct fx *f = *state;
    int to, from;
    pid_t pid = spawn_peer(false, "hold", f->keyarg, 12345, &to, &from);
    char line[16] = {0};
    assert_true(read(from, line, sizeof line - 1) > 0);
    assert_string_equal(line, "ready\n");

    uipc_region *rg;
    char uri[160];
    snprintf(uri, sizeof uri, "%s?size=4096", f->uri);
    assert_int_equal(uipc_region_open(&rg, uri, 0), -EINVAL); /* not its size */
    /* Live (attached, creator running): no take-over, with or without EXCL. */
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), -EADDRINUSE);
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    snprintf(uri, sizeof uri, "%s?size=12345", f->uri);
    assert_int_equal(uipc_region_open(&rg, uri, 0), 0);
    assert_int_equal(uipc_region_close(rg), 0);
    assert_int_equal(uipc_region_open(&rg, f->uri, 0), 0); /* the size is learnt */
    assert_int_equal(uipc_region_size(rg), 12345);
    char *p = uipc_region_ptr(rg);
    assert_memory_equal(p + LEGACY_OFFSET, FROM_LEGACY, sizeof FROM_LEGACY);
    memcpy(p, FROM_UIPC, sizeof FROM_UIPC);

    close(to); /* the peer checks our bytes and detaches */
    close(from);
    assert_int_equal(tu_wait(pid), 0);
    assert_int_equal(uipc_region_close(rg), 0);
    assert_true(key_exists(f->key)); /* an attacher never removes it */
    assert_int_equal(tu_count_fds(), f->fds);
}

/* A raw attacher in a child: keeps reading the region after the owner
 * closed it, until told to stop. */
static int raw_attacher(void *arg)
{
    const int *fds = arg; /* [0] read end "go on", [1] write end "attached", [2] the key,
                              [3] [4] the parent's ends, closed here */
    close(fds[3]);
    close(fds[4]); /* so that a parent gone early is EOF, not a hang */
    int id = shmget((key_t)fds[2], 0, 0);
    char *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    if (p == (void *)-1)
        return 10;
    if (write(fds[1], "a", 1) != 1)
        return 11;
    char c;
    if (read(fds[0], &c, 1) != 1)
        return 12;
    p[100] = 'x'; /* still mapped and writable after the owner's removal */
    int ok = memcmp(p, FROM_UIPC, sizeof FROM_UIPC) == 0 && p[100] == 'x';
    shmdt(p);
    return ok ? 0 : 13;
}

/* The owner's close removes the key at once; an attached process keeps the
 * memory, and the kernel destroys it when that last attachment goes. */
static void owner_close_with_attached_peer(void **state)
{
    struct fx *f = *state;
    uipc_region *rg = create_region(f, 4096, "");
    memcpy(uipc_region_ptr(rg), FROM_UIPC, sizeof FROM_UIPC);
    int id = shmget(f->key, 0, 0);
    assert_true(id >= 0);

    int go[2], ready[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    int args[5] = {go[0], ready[1], (int)f->key, go[1], ready[0]};
    pid_t pid = tu_fork(raw_attacher, args);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);

    assert_int_equal(uipc_region_close(rg), 0);
    assert_false(key_exists(f->key)); /* the key is free at once */
    struct shmid_ds ds;
    assert_int_equal(shmctl(id, IPC_STAT, &ds), 0); /* the segment lives on */
    assert_true(ds.shm_nattch >= 1); /* the child: its own shmat (and the copy fork gave it) */
    assert_true(ds.shm_perm.mode & SHM_DEST);

    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(tu_wait(pid), 0);
    assert_int_equal(shmctl(id, IPC_STAT, &ds), -1); /* gone with the last detach */
    close(go[0]);
    close(go[1]);
    close(ready[0]);
    close(ready[1]);
    assert_int_equal(tu_count_fds(), f->fds);
}

/* Child: creates the region, writes to it and dies by SIGKILL. */
static int create_and_crash(void *arg)
{
    uipc_region *rg;
    if (uipc_region_open(&rg, arg, UIPC_CREATE) < 0)
        return 10;
    memset(uipc_region_ptr(rg), 0xab, uipc_region_size(rg));
    raise(SIGKILL);
    return 11;
}

/* Child: holds the region it created until its stdin (a pipe) closes. */
static int create_and_hold(void *arg)
{
    uipc_region *rg;
    if (uipc_region_open(&rg, arg, UIPC_CREATE) < 0)
        return 10;
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return uipc_region_close(rg) == 0 ? 0 : 11;
}

/* A live owner is refused; once it crashed (no attachment, creator gone)
 * its segment is stale and a creator makes a fresh one. */
static void stale_segment_taken_over(void **state)
{
    struct fx *f = *state;
    char uri[160], uri2[160];
    snprintf(uri, sizeof uri, "%s?size=4096", f->uri);
    snprintf(uri2, sizeof uri2, "%s?size=8192", f->uri);

    int in[2];
    assert_int_equal(pipe(in), 0);
    pid_t holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        dup2(in[0], 0);
        close(in[1]);
        _exit(create_and_hold(uri));
    }
    close(in[0]);
    /* Wait until the holder has made and attached its segment. */
    int64_t until = tu_now_ms() + 10000;
    while (!key_exists(f->key) || stat_key(f->key).shm_nattch == 0) {
        assert_true(tu_now_ms() < until);
        usleep(1000);
    }
    uipc_region *rg;
    assert_int_equal(uipc_region_open(&rg, uri2, UIPC_CREATE), -EADDRINUSE);
    close(in[1]);
    assert_int_equal(tu_wait(holder), 0);
    assert_false(key_exists(f->key)); /* removed at its close */

    pid_t pid = tu_fork(create_and_crash, uri);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);
    struct shmid_ds ds = stat_key(f->key); /* left behind by the crash */
    assert_int_equal(ds.shm_nattch, 0);
    assert_int_equal(ds.shm_cpid, pid);

    rg = create_region(f, 8192, "");
    assert_zero_filled(rg); /* a fresh segment, not the dead one's */
    assert_int_equal(stat_key(f->key).shm_cpid, getpid());
    assert_int_equal(uipc_region_close(rg), 0);
    assert_false(key_exists(f->key));
}

/* Child as nobody: makes a segment with raw calls and exits. */
static int nobody_creates(void *arg)
{
    key_t key = (key_t)(intptr_t)arg;
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
        return 10;
    return shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600) >= 0 ? 0 : 11;
}

/* A stale segment of another user is never taken over, not even by root. */
static void stale_segment_of_other_user_kept(void **state)
{
    struct fx *f = *state;
    skip_unless_setpriv();
    assert_int_equal(tu_wait(tu_fork(nobody_creates, (void *)(intptr_t)f->key)), 0);
    assert_int_equal(stat_key(f->key).shm_perm.uid, NOBODY);
    char uri[160];
    snprintf(uri, sizeof uri, "%s?size=4096", f->uri);
    uipc_region *rg;
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), -EPERM);
    assert_int_equal(stat_key(f->key).shm_perm.uid, NOBODY); /* still there */
}

/* Child as nobody: opens uri without UIPC_CREATE; 0 or the negated error. */
static int nobody_attaches(void *arg)
{
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
        return 100;
    uipc_region *rg;
    int r = uipc_region_open(&rg, arg, 0);
    if (r < 0)
        return -r;
    return uipc_region_close(rg) == 0 ? 0 : 101;
}

/* The mode decides who attaches: 0600 (default) refuses nobody, whether it
 * uses libuipc or raw shmget/shmat; 0666 lets both in. */
static void second_uid_refused_by_mode(void **state)
{
    struct fx *f = *state;
    skip_unless_setpriv();
    uipc_region *rg = create_region(f, 4096, "");
    memcpy(uipc_region_ptr(rg), FROM_UIPC, sizeof FROM_UIPC);
    assert_int_equal(run_attach(true, f->keyarg, 4096), 64 + EACCES);
    assert_int_equal(tu_wait(tu_fork(nobody_attaches, f->uri)), EACCES);
    assert_int_equal(uipc_region_close(rg), 0);

    rg = create_region(f, 4096, "&mode=0666");
    assert_int_equal(stat_key(f->key).shm_perm.mode & 0777, 0666);
    memcpy(uipc_region_ptr(rg), FROM_UIPC, sizeof FROM_UIPC);
    assert_int_equal(run_attach(true, f->keyarg, 4096), 0);
    assert_memory_equal((char *)uipc_region_ptr(rg) + LEGACY_OFFSET, FROM_LEGACY,
                        sizeof FROM_LEGACY);
    assert_int_equal(tu_wait(tu_fork(nobody_attaches, f->uri)), 0);
    assert_int_equal(uipc_region_close(rg), 0);
}

/* "sysvshm:///path?proj=N" is ftok(path, N), as for sysvmq:. */
static void ftok_key(void **state)
{
    struct fx *f = *state;
    char uri[256], key[24];
    snprintf(uri, sizeof uri, "sysvshm://%s?proj=3&size=4096", f->dir);
    key_t k = ftok(f->dir, 3);
    assert_true(k != (key_t)-1);
    snprintf(key, sizeof key, "%#x", (unsigned)k);
    if (key_exists(k)) {
        print_message("skipped: ftok key %s is taken on this machine\n", key);
        skip();
    }
    uipc_region *rg;
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), 0);
    memcpy(uipc_region_ptr(rg), FROM_UIPC, sizeof FROM_UIPC);
    assert_int_equal(run_attach(false, key, 4096), 0);
    assert_memory_equal((char *)uipc_region_ptr(rg) + LEGACY_OFFSET, FROM_LEGACY,
                        sizeof FROM_LEGACY);
    assert_int_equal(uipc_region_close(rg), 0);
    assert_false(key_exists(k));
}

static int close_inherited(void *arg)
{
    return uipc_region_close(arg) == 0 ? 0 : 10;
}

/* A forked child closing its inherited handle leaves the segment alone. */
static void forked_child_close_keeps_segment(void **state)
{
    struct fx *f = *state;
    uipc_region *rg = create_region(f, 4096, "");
    assert_int_equal(tu_wait(tu_fork(close_inherited, rg)), 0);
    assert_true(key_exists(f->key));
    assert_int_equal(stat_key(f->key).shm_nattch, 1); /* the child detached */
    assert_int_equal(uipc_region_close(rg), 0);
    assert_false(key_exists(f->key));
}

static void bad_input(void **state)
{
    struct fx *f = *state;
    char uri[300];
    uipc_region *rg = (uipc_region *)&rg;
    static const struct {
        const char *fmt; /* %s: the bare key URI, or the temp dir for "%d" forms */
        int flags, err;
    } cases[] = {
        {"%s", UIPC_CREATE, -EINVAL}, /* no ?size= */
        {"%s?size=0", UIPC_CREATE, -EINVAL},
        {"%s?size=0", 0, -EINVAL},
        {"%s?size=-1", UIPC_CREATE, -EINVAL},
        {"%s?size=4096&depth=2", UIPC_CREATE, -EINVAL}, /* not a region key */
        {"%s?size=4096&mode=0999", UIPC_CREATE, -EINVAL},
        {"%s?size=4096&mode=01777", UIPC_CREATE, -EINVAL},
        {"%s?size=4096&proj=2", UIPC_CREATE, -EINVAL}, /* proj with a number */
        {"%s/extra?size=4096", UIPC_CREATE, -EINVAL},  /* key and path */
        {"%s?size=1T", UIPC_CREATE, -EINVAL},          /* above any region */
        {"%s", UIPC_EXCL, -EINVAL},                    /* EXCL without CREATE */
        {"%s", 0, -ENOENT},                            /* nobody made it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(uri, sizeof uri, cases[i].fmt, f->uri);
        int r = uipc_region_open(&rg, uri, cases[i].flags);
        if (r != cases[i].err)
            fail_msg("%s (flags %d): %d, expected %d", uri, cases[i].flags, r, cases[i].err);
        assert_null(rg);
        rg = (uipc_region *)&rg;
        assert_false(key_exists(f->key));
    }
    static const char *const bad_keys[] = {
        "sysvshm://0?size=4096",  "sysvshm://0x0?size=4096", /* IPC_PRIVATE */
        "sysvshm://0x?size=4096", "sysvshm://12ab?size=4096", "sysvshm://0x1ffffffff?size=4096",
        "sysvshm://-5?size=4096", "sysvshm://key?size=4096",  "sysvshm:relative?size=4096",
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        int r = uipc_region_open(&rg, bad_keys[i], UIPC_CREATE);
        if (r != -EINVAL)
            fail_msg("%s: %d, expected -EINVAL", bad_keys[i], r);
    }
    snprintf(uri, sizeof uri, "sysvshm://%s/none?size=4096", f->dir);
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), -ENOENT); /* ftok of nothing */
    snprintf(uri, sizeof uri, "sysvshm://%s?proj=0&size=4096", f->dir);
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), -EINVAL);
    snprintf(uri, sizeof uri, "sysvshm://%s?proj=256&size=4096", f->dir);
    assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), -EINVAL);

    /* Above kernel.shmmax, when that is below the region limit. */
    unsigned long shmmax = tu_proc_value("/proc/sys/kernel/shmmax");
    if (shmmax > 0 && shmmax < (1ul << 36)) {
        snprintf(uri, sizeof uri, "%s?size=%lu", f->uri, shmmax + 1);
        assert_int_equal(uipc_region_open(&rg, uri, UIPC_CREATE), -EINVAL);
    }
    assert_false(key_exists(f->key));
    assert_int_equal(tu_count_fds(), f->fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(legacy_attaches_to_uipc_region, setup, teardown),
        cmocka_unit_test_setup_teardown(uipc_attaches_to_legacy_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(owner_close_with_attached_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_segment_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_segment_of_other_user_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(second_uid_refused_by_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(ftok_key, setup, teardown),
        cmocka_unit_test_setup_teardown(forked_child_close_keeps_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
