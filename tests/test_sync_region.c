/* SPDX-License-Identifier: MIT */
/*
 * Shared regions (uipc_region_*): shm: and mmap: creation, attachment by
 * unrelated processes, sizes, permissions, ownership and takeover of a stale
 * name, persistence of mmap: files, and every kind of bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

/* Per-test fixture: a unique shm name and a temporary directory, removed
 * in teardown whatever the test did. */
struct fx {
    char name[64];
    char shm_path[96]; /* /dev/shm/<name> */
    char dir[64];
    char uri[256];
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    tu_name(f->name, sizeof f->name, "uipc-treg-");
    snprintf(f->shm_path, sizeof f->shm_path, "/dev/shm/%s", f->name);
    tu_tmpdir(f->dir, sizeof f->dir);
    f->fds = tu_count_fds();
    *state = f;
    return f->dir[0] ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char shm[80];
    snprintf(shm, sizeof shm, "/%s", f->name);
    shm_unlink(shm);
    tu_rmdir_all(f->dir);
    free(f);
    return 0;
}

static const char *shm_uri(struct fx *f, const char *query)
{
    snprintf(f->uri, sizeof f->uri, "shm://%s%s", f->name, query);
    return f->uri;
}

static bool shm_exists(const struct fx *f)
{
    struct stat st;
    return stat(f->shm_path, &st) == 0;
}

static mode_t shm_mode(const struct fx *f)
{
    struct stat st;
    if (stat(f->shm_path, &st) < 0)
        return (mode_t)-1;
    return st.st_mode & 07777;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- shm: ---- */

struct attach_arg {
    const char *uri;
    size_t size;
};

/* Child: attaches by name, checks the parent's pattern, answers in byte 1. */
static int child_attach(void *p)
{
    const struct attach_arg *a = p;
    uipc_region *r;
    if (uipc_region_open(&r, a->uri, 0) < 0)
        return 10;
    unsigned char *b = uipc_region_ptr(r);
    int rc = 0;
    if (uipc_region_size(r) != a->size)
        rc = 11;
    else if (b[0] != 0x5a || b[a->size - 1] != 0xa5)
        rc = 12;
    else
        b[1] = 0x77;
    uipc_region_close(r);
    return rc;
}

static void test_shm_create_attach(void **state)
{
    struct fx *f = *state;
    uipc_region *r;
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=8K"), UIPC_CREATE), 0);
    assert_int_equal(uipc_region_size(r), 8192);
    unsigned char *b = uipc_region_ptr(r);
    assert_non_null(b);
    assert_true(((uintptr_t)b % 64) == 0);
    assert_true(all_zero(b, 8192));
    assert_int_equal(shm_mode(f), 0600);
    b[0] = 0x5a;
    b[8191] = 0xa5;

    struct attach_arg a = {shm_uri(f, ""), 8192};
    assert_int_equal(tu_wait(tu_fork(child_attach, &a)), 0);
    assert_int_equal(b[1], 0x77);

    /* Attaching with the right size works, with another size is refused. */
    uipc_region *r2;
    assert_int_equal(uipc_region_open(&r2, shm_uri(f, "?size=8192"), 0), 0);
    assert_ptr_not_equal(uipc_region_ptr(r2), b);
    assert_int_equal(((unsigned char *)uipc_region_ptr(r2))[1], 0x77);
    assert_int_equal(uipc_region_close(r2), 0);
    assert_int_equal(uipc_region_open(&r2, shm_uri(f, "?size=4K"), 0), -EINVAL);
    assert_null(r2);

    /* The creator's close removes the name. */
    assert_int_equal(uipc_region_close(r), 0);
    assert_false(shm_exists(f));
    assert_int_equal(uipc_region_open(&r, shm_uri(f, ""), 0), -ENOENT);
    assert_int_equal(tu_count_fds(), f->fds);
}

static void test_shm_mode(void **state)
{
    struct fx *f = *state;
    uipc_region *r;
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4096&mode=0640"), UIPC_CREATE), 0);
    assert_int_equal(shm_mode(f), 0640);
    assert_int_equal(uipc_region_close(r), 0);
    /* Bits the umask would clear are honoured too. */
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4096&mode=666"), UIPC_CREATE), 0);
    assert_int_equal(shm_mode(f), 0666);
    assert_int_equal(uipc_region_close(r), 0);
    assert_int_equal(tu_count_fds(), f->fds);
}

/* Child: tries to create the name the parent owns. */
static int child_create(void *p)
{
    uipc_region *r;
    int e = uipc_region_open(&r, p, UIPC_CREATE);
    if (e == 0)
        uipc_region_close(r);
    return e == -EADDRINUSE ? 0 : 1;
}

static void test_shm_excl_and_live_owner(void **state)
{
    struct fx *f = *state;
    uipc_region *r, *r2;
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4096"), UIPC_CREATE | UIPC_EXCL), 0);
    assert_int_equal(uipc_region_open(&r2, shm_uri(f, "?size=4096"), UIPC_CREATE | UIPC_EXCL),
                     -EEXIST);
    assert_null(r2);
    /* A live owner is never taken over, from this process or another. */
    assert_int_equal(uipc_region_open(&r2, shm_uri(f, "?size=4096"), UIPC_CREATE), -EADDRINUSE);
    assert_int_equal(tu_wait(tu_fork(child_create, (void *)shm_uri(f, "?size=4096"))), 0);
    assert_true(shm_exists(f));
    assert_int_equal(uipc_region_close(r), 0);
    assert_int_equal(tu_count_fds(), f->fds);
}

/* Child: closes its inherited copy of the creator's handle. */
static int child_close_inherited(void *p)
{
    return uipc_region_close(p) == 0 ? 0 : 1;
}

static void test_shm_fork_child_close_keeps_name(void **state)
{
    struct fx *f = *state;
    uipc_region *r;
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4096"), UIPC_CREATE), 0);
    assert_int_equal(tu_wait(tu_fork(child_close_inherited, r)), 0);
    assert_true(shm_exists(f));
    assert_int_equal(uipc_region_close(r), 0);
    assert_false(shm_exists(f));
}

struct hang_arg {
    int pipefd[2];
    char uri[256];
};

/* Child: creates the region, marks it, tells the parent and waits to die. */
static int child_create_and_hang(void *p)
{
    struct hang_arg *a = p;
    uipc_region *r;
    close(a->pipefd[0]);
    char ok = uipc_region_open(&r, a->uri, UIPC_CREATE) == 0 ? 'y' : 'n';
    if (ok == 'y')
        memset(uipc_region_ptr(r), 0xab, uipc_region_size(r));
    if (write(a->pipefd[1], &ok, 1) != 1)
        return 1;
    for (;;)
        pause();
}

static void test_shm_stale_takeover(void **state)
{
    struct fx *f = *state;
    struct hang_arg arg;
    assert_int_equal(pipe2(arg.pipefd, O_CLOEXEC), 0);
    snprintf(arg.uri, sizeof arg.uri, "%s", shm_uri(f, "?size=4096"));
    pid_t pid = tu_fork(child_create_and_hang, &arg);
    close(arg.pipefd[1]);
    char ok = 0;
    assert_int_equal(read(arg.pipefd[0], &ok, 1), 1);
    close(arg.pipefd[0]);
    assert_int_equal(ok, 'y');

    uipc_region *old, *r;
    assert_int_equal(uipc_region_open(&old, shm_uri(f, ""), 0), 0);
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4096"), UIPC_CREATE), -EADDRINUSE);
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid), 128 + SIGKILL);

    /* The owner died without closing: the name is stale and taken over by a
     * fresh, zero-filled region; the orphan keeps the old contents. */
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=8192"), UIPC_CREATE), 0);
    assert_int_equal(uipc_region_size(r), 8192);
    assert_true(all_zero(uipc_region_ptr(r), 8192));
    assert_int_equal(((unsigned char *)uipc_region_ptr(old))[100], 0xab);
    assert_int_equal(uipc_region_close(old), 0);
    assert_int_equal(uipc_region_close(r), 0);
    assert_false(shm_exists(f));
    assert_int_equal(tu_count_fds(), f->fds);
}

static void test_missing(void **state)
{
    struct fx *f = *state;
    uipc_region *r = (uipc_region *)1;
    assert_int_equal(uipc_region_open(&r, shm_uri(f, ""), 0), -ENOENT);
    assert_null(r);
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4K"), 0), -ENOENT);
    snprintf(f->uri, sizeof f->uri, "mmap://%s/missing", f->dir);
    assert_int_equal(uipc_region_open(&r, f->uri, 0), -ENOENT);
    assert_false(shm_exists(f));
    assert_int_equal(tu_count_fds(), f->fds);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    char longuri[400];
    snprintf(longuri, sizeof longuri, "shm://%s?size=4K", longname);
    static const char *const bad_queries[] = {
        "",                   /* UIPC_CREATE needs a size */
        "?size=0",     "?size=abc",  "?size=-1",   "?size=1T",   "?size=4K&size=8K",
        "?size=4X",    "?size=",     "?size=0x",   "?size= 4",   "?size=4K&bogus=1",
        "?mode=0640",  "?size=4K&mode=999", "?size=4K&mode=abc", "?size=4K&mode=07777",
        "?size=4K&mode=", "?size=4K&type=stream",
    };
    uipc_region *r;
    for (size_t i = 0; i < sizeof bad_queries / sizeof bad_queries[0]; i++) {
        r = (uipc_region *)1;
        int e = uipc_region_open(&r, shm_uri(f, bad_queries[i]), UIPC_CREATE);
        if (e != -EINVAL)
            fail_msg("query \"%s\": got %d (%s)", bad_queries[i], e, uipc_strerror(e));
        assert_null(r);
    }
    static const char *const bad_uris[] = {
        "shm://",       "shm://..?size=4K",     "shm://.?size=4K",  "shm://a%2Fb?size=4K",
        "shm://a/b?size=4K", "shm://a/?size=4K", "shm:name?size=4K", "shm:?size=4K",
        "shm://a%01b?size=4K", "mmap://host/x?size=4K", "mmap:relative?size=4K",
        "mmap:///?size=4K", "mmap:///tmp/dir/?size=4K", "mmap:?size=4K", "", "shm",
        "://x", "shm://x?", "shm://x?size", "shm://x?size=4K&",
    };
    for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
        int e = uipc_region_open(&r, bad_uris[i], UIPC_CREATE);
        if (e != -EINVAL)
            fail_msg("uri \"%s\": got %d (%s)", bad_uris[i], e, uipc_strerror(e));
    }
    assert_int_equal(uipc_region_open(&r, longuri, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_region_open(&r, "tcp://127.0.0.1:9?size=4K", UIPC_CREATE),
                     -EPROTONOSUPPORT);
    assert_int_equal(uipc_region_open(&r, "nosuch://x?size=4K", UIPC_CREATE), -EPROTONOSUPPORT);
    assert_int_equal(uipc_region_open(NULL, shm_uri(f, "?size=4K"), UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_region_open(&r, NULL, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4K"), 1 << 7), -EINVAL);
    assert_int_equal(uipc_region_open(&r, shm_uri(f, "?size=4K"), UIPC_EXCL), -EINVAL);
    assert_null(uipc_region_ptr(NULL));
    assert_int_equal(uipc_region_size(NULL), 0);
    assert_int_equal(uipc_region_close(NULL), -EINVAL);
    assert_false(shm_exists(f));
    assert_int_equal(tu_count_fds(), f->fds);
}

/* ---- mmap: ---- */

static void test_mmap_persistent(void **state)
{
    struct fx *f = *state;
    char path[128], uri[256];
    snprintf(path, sizeof path, "%s/region", f->dir);
    snprintf(uri, sizeof uri, "mmap://%s?size=12K", path);
    uipc_region *r, *r2;
    assert_int_equal(uipc_region_open(&r, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_region_size(r), 12288);
    assert_true(all_zero(uipc_region_ptr(r), 12288));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 12288);
    memcpy(uipc_region_ptr(r), "persist", 8);
    assert_int_equal(uipc_region_open(&r2, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_region_close(r), 0);

    /* Still there after its creator closed it, contents and all. */
    assert_int_equal(stat(path, &st), 0);
    snprintf(uri, sizeof uri, "mmap://%s", path);
    assert_int_equal(uipc_region_open(&r, uri, 0), 0);
    assert_int_equal(uipc_region_size(r), 12288);
    assert_string_equal(uipc_region_ptr(r), "persist");
    assert_int_equal(uipc_region_close(r), 0);

    /* UIPC_CREATE opens an existing file as it is, at its own size. */
    snprintf(uri, sizeof uri, "mmap://%s?size=12K", path);
    assert_int_equal(uipc_region_open(&r, uri, UIPC_CREATE), 0);
    assert_string_equal(uipc_region_ptr(r), "persist");
    assert_int_equal(uipc_region_close(r), 0);
    snprintf(uri, sizeof uri, "mmap://%s?size=16K", path);
    assert_int_equal(uipc_region_open(&r, uri, UIPC_CREATE), -EINVAL);
    assert_int_equal(uipc_region_open(&r, uri, 0), -EINVAL);
    assert_int_equal(tu_count_fds(), f->fds);
}

static void test_mmap_mode_and_links(void **state)
{
    struct fx *f = *state;
    char path[128], link[128], uri[256];
    snprintf(path, sizeof path, "%s/r640", f->dir);
    snprintf(uri, sizeof uri, "mmap://%s?size=4K&mode=0640", path);
    uipc_region *r;
    assert_int_equal(uipc_region_open(&r, uri, UIPC_CREATE), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(uipc_region_close(r), 0);

    /* Symbolic links are never followed, whether attaching or creating. */
    snprintf(link, sizeof link, "%s/link", f->dir);
    assert_int_equal(symlink(path, link), 0);
    snprintf(uri, sizeof uri, "mmap://%s", link);
    assert_int_equal(uipc_region_open(&r, uri, 0), -ELOOP);
    snprintf(uri, sizeof uri, "mmap://%s?size=4K", link);
    assert_int_equal(uipc_region_open(&r, uri, UIPC_CREATE), -ELOOP);

    /* A directory is not a region; an empty file has nothing to attach to. */
    snprintf(uri, sizeof uri, "mmap://%s", f->dir);
    assert_int_equal(uipc_region_open(&r, uri, 0), -EISDIR);
    snprintf(path, sizeof path, "%s/empty", f->dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(uri, sizeof uri, "mmap://%s", path);
    assert_int_equal(uipc_region_open(&r, uri, 0), -ENOENT);
    /* ...but UIPC_CREATE sizes it. */
    snprintf(uri, sizeof uri, "mmap://%s?size=4K", path);
    assert_int_equal(uipc_region_open(&r, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_region_size(r), 4096);
    assert_int_equal(uipc_region_close(r), 0);
    assert_int_equal(tu_count_fds(), f->fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shm_create_attach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_excl_and_live_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_fork_child_close_keeps_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_stale_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmap_persistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmap_mode_and_links, setup, teardown),
    };
    return cmocka_run_group_tests_name("sync_region", tests, NULL, NULL);
}
