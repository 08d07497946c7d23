/* SPDX-License-Identifier: MIT */
/*
 * uipc_list and uipc_remove (issue 11: the probe operation): bad input
 * gets a clear negative errno and leaks nothing; a callback stops the walk;
 * live, stale (owner killed) and foreign objects are told apart; a live
 * rendezvous is removed only with UIPC_FORCE; every path-named kind is
 * found in the directory it is asked about.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define MAXROWS 16

struct seen {
    int calls;
    int stop_after; /* return 7 at this call; 0: never stop */
    uipc_rdvinfo rows[MAXROWS];
};

static int collect(const uipc_rdvinfo *info, void *arg)
{
    struct seen *s = arg;
    if (s->calls < MAXROWS)
        s->rows[s->calls] = *info;
    s->calls++;
    return s->stop_after && s->calls == s->stop_after ? 7 : 0;
}

/* The row of uri in s, or NULL. */
static const uipc_rdvinfo *row(const struct seen *s, const char *uri)
{
    for (int i = 0; i < s->calls && i < MAXROWS; i++)
        if (strcmp(s->rows[i].uri, uri) == 0)
            return &s->rows[i];
    return NULL;
}

static void test_bad_input(void **state)
{
    (void)state;
    struct seen s = {0};
    int fds = tu_count_fds();
    assert_int_equal(uipc_list(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(uipc_list("shm:", NULL, &s), -EINVAL);
    assert_int_equal(uipc_list("", collect, &s), -EINVAL);
    assert_int_equal(uipc_list(":", collect, &s), -EINVAL);
    assert_int_equal(uipc_list("relative/dir", collect, &s), -EINVAL);
    assert_int_equal(uipc_list("sh m:", collect, &s), -EINVAL);
    assert_int_equal(uipc_list("averyveryverylongscheme:", collect, &s), -EINVAL);
    assert_int_equal(uipc_list("nosuch:", collect, &s), -EPROTONOSUPPORT);
    assert_int_equal(uipc_list("nosuch://x", collect, &s), -EPROTONOSUPPORT);
    assert_int_equal(uipc_list("tcp:", collect, &s), -ENOTSUP);
    assert_int_equal(uipc_list("pipe:", collect, &s), -ENOTSUP);
    assert_int_equal(uipc_list("/nonexistent/uipc-probe-dir", collect, &s), -ENOENT);
    assert_int_equal(uipc_list("/proc/self/status", collect, &s), -ENOTDIR);
    assert_int_equal(uipc_list("shm://%zz", collect, &s), -EINVAL);
    assert_int_equal(s.calls, 0);

    assert_int_equal(uipc_remove(NULL, 0), -EINVAL);
    assert_int_equal(uipc_remove("shm://x", 1 << 9), -EINVAL);
    assert_int_equal(uipc_remove("garbage", 0), -EINVAL);
    assert_int_equal(uipc_remove("nosuch://x", UIPC_FORCE), -EPROTONOSUPPORT);
    assert_int_equal(uipc_remove("tcp://127.0.0.1:1", 0), -ENOTSUP);
    assert_int_equal(uipc_remove("sem:", 0), -EINVAL);
    assert_int_equal(uipc_remove("sem:a/b", UIPC_FORCE), -EINVAL);
    assert_int_equal(uipc_remove("shm://uipc-probe-missing-x", 0), -ENOENT);
    assert_int_equal(uipc_remove("shm://uipc-probe-missing-x", UIPC_FORCE), -ENOENT);
    assert_int_equal(uipc_remove("sem:uipc-probe-missing-x", UIPC_FORCE), -ENOENT);
    assert_int_equal(uipc_remove("fifo:///nonexistent/uipc-probe/x", UIPC_FORCE), -ENOENT);
    assert_int_equal(tu_count_fds(), fds);
}

static void test_stop_early(void **state)
{
    (void)state;
    char base[64], uri[3][96];
    uipc_channel *ch[3];
    tu_name(base, sizeof base, "probe-stop");
    for (int i = 0; i < 3; i++) {
        snprintf(uri[i], sizeof uri[i], "shm://%s-%d", base, i);
        assert_int_equal(uipc_open(&ch[i], uri[i], UIPC_CREATE), 0);
    }
    struct seen all = {0}, one = {.stop_after = 1};
    assert_int_equal(uipc_list("shm:", collect, &all), 0);
    assert_true(all.calls >= 3);
    assert_int_equal(uipc_list("shm:", collect, &one), 7);
    assert_int_equal(one.calls, 1);
    struct seen two = {.stop_after = 2};
    assert_int_equal(uipc_list(NULL, collect, &two), 7);
    assert_int_equal(two.calls, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(uipc_close(ch[i]), 0);
}

/* A child that makes uri and is killed holding it. */
static int make_and_hang(void *arg)
{
    uipc_channel *ch;
    if (uipc_open(&ch, arg, UIPC_CREATE) < 0)
        return 1;
    if (write(STDOUT_FILENO, "", 0) < 0)
        return 1;
    raise(SIGKILL);
    return 0;
}

static void test_live_stale_force(void **state)
{
    (void)state;
    char name[64], uri[96];
    tu_name(name, sizeof name, "probe-life");
    snprintf(uri, sizeof uri, "shm://%s", name);
    uipc_channel *ch;
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), 0);

    char query[128];
    snprintf(query, sizeof query, "%s?size=64K", uri); /* the query is ignored */
    struct seen s = {0};
    assert_int_equal(uipc_list(query, collect, &s), 0);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.rows[0].uri, uri);
    assert_string_equal(s.rows[0].scheme, "shm");
    assert_int_equal(s.rows[0].state, UIPC_RDV_LIVE);
    assert_int_equal(s.rows[0].pid, getpid());
    assert_int_equal(s.rows[0].uid, geteuid());
    assert_int_equal(s.rows[0].mode, 0600);
    assert_true(s.rows[0].size > 0);

    assert_int_equal(uipc_remove(uri, 0), -EADDRINUSE);
    assert_int_equal(uipc_unlink(uri), -EADDRINUSE);
    assert_int_equal(uipc_remove(uri, UIPC_FORCE), 0);
    struct seen gone = {0};
    assert_int_equal(uipc_list(uri, collect, &gone), 0);
    assert_int_equal(gone.calls, 0);
    assert_int_equal(uipc_close(ch), 0);

    /* Its owner killed: stale, no pid, removed without force. */
    pid_t pid = tu_fork(make_and_hang, uri);
    assert_true(pid > 0);
    tu_wait(pid);
    struct seen dead = {0};
    assert_int_equal(uipc_list(uri, collect, &dead), 0);
    assert_int_equal(dead.calls, 1);
    assert_int_equal(dead.rows[0].state, UIPC_RDV_STALE);
    assert_int_equal(dead.rows[0].pid, 0);
    assert_int_equal(uipc_remove(dead.rows[0].uri, 0), 0);
    assert_int_equal(uipc_remove(uri, 0), -ENOENT);
}

static void test_foreign_never_listed(void **state)
{
    (void)state;
    char name[64], path[128], uri[128], dir[PATH_MAX], c2s[PATH_MAX + 8], s2c[PATH_MAX + 8];
    tu_name(name, sizeof name, "probe-foreign");
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    snprintf(uri, sizeof uri, "shm://%s", name);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not ours, not a ring", 20), 20);
    close(fd);
    /* Plain files named like a spool pair are not a file: rendezvous. */
    tu_tmpdir(dir, sizeof dir);
    snprintf(c2s, sizeof c2s, "%s/x.c2s", dir);
    snprintf(s2c, sizeof s2c, "%s/x.s2c", dir);
    for (int i = 0; i < 2; i++) {
        fd = open(i ? s2c : c2s, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "plain text", 10), 10);
        close(fd);
    }

    struct seen s = {0};
    assert_int_equal(uipc_list(uri, collect, &s), 0);
    assert_int_equal(uipc_list(dir, collect, &s), 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(uipc_remove(uri, 0), -EBADMSG);
    assert_int_equal(uipc_remove(uri, UIPC_FORCE), -EBADMSG);
    char furi[PATH_MAX + 16];
    snprintf(furi, sizeof furi, "file://%s/x", dir);
    assert_int_equal(uipc_remove(furi, UIPC_FORCE), -EBADMSG);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(access(c2s, F_OK), 0);
    unlink(path);
    tu_rmdir_all(dir);
}

static void test_path_kinds_in_dir(void **state)
{
    (void)state;
    static const char *const kinds[] = {"fifo", "unix", "mmap", "file"};
    char dir[PATH_MAX], uri[4][PATH_MAX + 32];
    uipc_channel *ch[4];
    tu_tmpdir(dir, sizeof dir);
    for (int i = 0; i < 4; i++) {
        snprintf(uri[i], sizeof uri[i], "%s://%s/k%d", kinds[i], dir, i);
        assert_int_equal(uipc_open(&ch[i], uri[i], UIPC_CREATE), 0);
    }
    struct seen s = {0};
    assert_int_equal(uipc_list(dir, collect, &s), 0);
    assert_int_equal(s.calls, 4);
    for (int i = 0; i < 4; i++) {
        const uipc_rdvinfo *r = row(&s, uri[i]);
        assert_non_null(r);
        assert_string_equal(r->scheme, kinds[i]);
        assert_int_equal(r->state, UIPC_RDV_LIVE);
        assert_int_equal(r->pid, getpid());
        struct seen one = {0};
        assert_int_equal(uipc_list(uri[i], collect, &one), 0);
        assert_int_equal(one.calls, 1);
        assert_int_equal(uipc_remove(uri[i], 0), -EADDRINUSE);
    }
    /* A trailing slash names the same directory and the same URIs. */
    char slashed[PATH_MAX + 2];
    snprintf(slashed, sizeof slashed, "%s//", dir);
    struct seen again = {0};
    assert_int_equal(uipc_list(slashed, collect, &again), 0);
    assert_int_equal(again.calls, 4);
    for (int i = 0; i < 4; i++)
        assert_non_null(row(&again, uri[i]));
    /* The namespaces are not a directory's: nothing of dir is in them. */
    struct seen ns = {0};
    assert_int_equal(uipc_list("fifo:", collect, &ns), 0);
    assert_int_equal(ns.calls, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(uipc_remove(uri[i], UIPC_FORCE), 0);
        assert_int_equal(uipc_close(ch[i]), 0);
    }
    struct seen after = {0};
    assert_int_equal(uipc_list(dir, collect, &after), 0);
    assert_int_equal(after.calls, 0);
    tu_rmdir_all(dir);
}

/* A shm: publisher's broadcast ring (pub/sub): listed live, removed only
 * with UIPC_FORCE; stale once its publisher is killed. */
static int publish_and_hang(void *arg)
{
    uipc_channel *ch;
    if (uipc_open(&ch, arg, UIPC_CREATE | UIPC_PUB) < 0)
        return 1;
    raise(SIGKILL);
    return 0;
}

static void test_broadcast_ring(void **state)
{
    (void)state;
    char name[64], uri[96];
    tu_name(name, sizeof name, "probe-pub");
    snprintf(uri, sizeof uri, "shm://%s", name);
    uipc_channel *pub;
    assert_int_equal(uipc_open(&pub, uri, UIPC_CREATE | UIPC_PUB), 0);
    struct seen s = {0};
    assert_int_equal(uipc_list(uri, collect, &s), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.rows[0].state, UIPC_RDV_LIVE);
    assert_int_equal(s.rows[0].pid, getpid());
    assert_int_equal(uipc_remove(uri, 0), -EADDRINUSE);
    assert_int_equal(uipc_remove(uri, UIPC_FORCE), 0);
    assert_int_equal(uipc_close(pub), 0);

    assert_int_equal(tu_wait(tu_fork(publish_and_hang, uri)), 128 + SIGKILL);
    struct seen dead = {0};
    assert_int_equal(uipc_list(uri, collect, &dead), 0);
    assert_int_equal(dead.calls, 1);
    assert_int_equal(dead.rows[0].state, UIPC_RDV_STALE);
    assert_int_equal(uipc_remove(uri, 0), 0);
    assert_int_equal(uipc_remove(uri, 0), -ENOENT);
}

/* In a mount namespace without /dev/mqueue: the live pair of uri is still
 * listed (from its owner's token).  0 found, 1 not found, 77 cannot test. */
static int list_mq_unmounted(void *arg)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 77;
    if (umount2("/dev/mqueue", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return 77;
    struct seen s = {0};
    if (uipc_list(arg, collect, &s) != 0 || s.calls != 1)
        return 1;
    return s.rows[0].state == UIPC_RDV_LIVE && s.rows[0].pid == getppid() ? 0 : 2;
}

static void test_mq_without_mqueue_mount(void **state)
{
    (void)state;
    char name[64], uri[96];
    tu_name(name, sizeof name, "probe-mq");
    snprintf(uri, sizeof uri, "mq:///%s", name);
    uipc_channel *ch;
    int r = uipc_open(&ch, uri, UIPC_CREATE);
    if (r == -ENOSYS || r == -ENOTSUP)
        skip();
    assert_int_equal(r, 0);
    int rc = tu_wait(tu_fork(list_mq_unmounted, uri));
    assert_int_equal(uipc_close(ch), 0);
    if (rc == 77)
        skip(); /* not root, or no mount namespaces here */
    assert_int_equal(rc, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must never raise it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_stop_early),
        cmocka_unit_test(test_live_stale_force),
        cmocka_unit_test(test_foreign_never_listed),
        cmocka_unit_test(test_path_kinds_in_dir),
        cmocka_unit_test(test_mq_without_mqueue_mount),
        cmocka_unit_test(test_broadcast_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
