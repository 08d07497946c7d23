/* SPDX-License-Identifier: MIT */
/*
 * Listeners: 8 clients at once on unix: and tcp:, each served on its own
 * channel; allow_uid refusing a client that runs under another uid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define NCLIENTS 8
#define NMSG 200

static char uri[256];

/* A client: sends NMSG numbered requests, expects each echoed with its id. */
static int client(void *arg)
{
    int id = (int)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, uri, 0) < 0)
        return 10;
    for (int i = 0; i < NMSG; i++) {
        int req[2] = {id, i}, rep[2];
        if (uipc_send(ch, req, sizeof req, 10000) != sizeof req)
            return 11;
        if (uipc_recv(ch, rep, sizeof rep, 10000) != sizeof rep || rep[0] != id || rep[1] != i)
            return 12;
    }
    uipc_close(ch);
    return 0;
}

static void serve_many(const char *u)
{
    int fds = tu_count_fds();
    uipc_listener *l;
    snprintf(uri, sizeof uri, "%s", u);
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    pid_t pids[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        pids[i] = tu_fork(client, (void *)(intptr_t)i);

    uipc_channel *chs[NCLIENTS];
    struct pollfd p[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(uipc_accept(l, &chs[i], 10000), 0);
        p[i] = (struct pollfd){.fd = uipc_pollfd(chs[i]), .events = POLLIN};
        assert_true(p[i].fd >= 0);
    }
    /* Serve all clients from one loop: each channel is its own peer. */
    int done = 0, seen[NCLIENTS] = {0};
    while (done < NCLIENTS) {
        assert_true(poll(p, NCLIENTS, 10000) > 0);
        for (int i = 0; i < NCLIENTS; i++) {
            if (!p[i].revents || seen[i] < 0)
                continue;
            int req[2];
            ssize_t n = uipc_recv(chs[i], req, sizeof req, 0);
            if (n == -EAGAIN)
                continue;
            if (n == -EPIPE) {
                assert_int_equal(seen[i], NMSG);
                seen[i] = -1;
                done++;
                p[i].fd = -1;
                continue;
            }
            assert_int_equal(n, sizeof req);
            assert_int_equal(req[1], seen[i]); /* in order, per client */
            seen[i]++;
            assert_int_equal(uipc_send(chs[i], req, sizeof req, 10000), sizeof req);
        }
    }
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(tu_wait(pids[i]), 0);
        uipc_close(chs[i]);
    }
    assert_int_equal(uipc_listener_close(l), 0);
    assert_int_equal(tu_count_fds(), fds);
}

static void unix_eight_clients(void **state)
{
    (void)state;
    char u[128], name[64];
    tu_name(name, sizeof name, "uipc-lst-");
    snprintf(u, sizeof u, "unix:///tmp/%s.sock", name);
    serve_many(u);
    assert_int_equal(access(u + 7, F_OK), -1); /* the listener removed its socket file */
    snprintf(u, sizeof u, "unix:@%s?type=seqpacket", name);
    serve_many(u);
}

static void tcp_eight_clients(void **state)
{
    (void)state;
    char u[128];
    snprintf(u, sizeof u, "tcp://127.0.0.1:%d", tu_free_port(1 /* SOCK_STREAM */));
    serve_many(u);
}

static void listen_unsupported(void **state)
{
    (void)state;
    uipc_listener *l = (uipc_listener *)&l;
    assert_int_equal(uipc_listen(&l, "pipe:", 0), -ENOTSUP);
    assert_null(l);
    assert_int_equal(uipc_listen(&l, "fifo:///tmp/uipc-never", 0), -ENOTSUP);
}

/* Client under another uid: refused, while an allowed one gets through. */
static int nobody_client(void *arg)
{
    (void)arg;
    struct passwd *pw = getpwnam("nobody");
    if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return 20;
    uipc_channel *ch;
    int r = uipc_open(&ch, uri, 0);
    if (r < 0)
        return r == -EACCES ? 0 : 21;
    char buf[8];
    ssize_t n = uipc_send(ch, "hi", 2, 5000);
    if (n == 2)
        n = uipc_recv(ch, buf, sizeof buf, 5000);
    uipc_close(ch);
    return (n == -EPIPE || n == -EACCES) ? 0 : 22;
}

static void allow_uid_refuses_others(void **state)
{
    (void)state;
    if (geteuid() != 0 || !getpwnam("nobody"))
        skip(); /* needs root to run a client as nobody */
    char name[64];
    tu_name(name, sizeof name, "uipc-allow-");
    snprintf(uri, sizeof uri, "unix:@%s?allow_uid=%u", name, (unsigned)geteuid());
    uipc_listener *l;
    uipc_channel *ch;
    assert_int_equal(uipc_listen(&l, uri, 0), 0);
    pid_t refused = tu_fork(nobody_client, NULL);
    assert_int_equal(uipc_accept(l, &ch, 1000), -ETIMEDOUT); /* never handed out */
    assert_int_equal(tu_wait(refused), 0);
    pid_t allowed = tu_fork(client, (void *)(intptr_t)7);
    assert_int_equal(uipc_accept(l, &ch, 10000), 0);
    pid_t pid;
    uid_t uid;
    assert_int_equal(uipc_peer_cred(ch, &pid, &uid, NULL), 0);
    assert_int_equal(pid, allowed);
    assert_int_equal(uid, geteuid());
    for (int i = 0; i < NMSG; i++) {
        int req[2];
        assert_int_equal(uipc_recv(ch, req, sizeof req, 10000), sizeof req);
        assert_int_equal(uipc_send(ch, req, sizeof req, 10000), sizeof req);
    }
    assert_int_equal(tu_wait(allowed), 0);
    uipc_close(ch);
    uipc_listener_close(l);
}

/* Makes every later listen() of this process fail with EPERM (seccomp). */
static int refuse_listen(void)
{
#if defined(__x86_64__)
    const uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const uint32_t arch = AUDIT_ARCH_AARCH64;
#else
    const uint32_t arch = 0;
#endif
    if (arch == 0)
        return -1;
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof insns / sizeof insns[0], .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -1 : 0;
}

/*
 * Child: in dir, a file named like the bytes of a sockaddr_in read as a
 * UNIX path (port, then 127 of 127.0.0.1), then a TCP listener whose
 * listen() fails.  0 when the listener fails with -EPERM and the file is
 * still there.
 */
static int tcp_listen_fails(void *arg)
{
    const char *dir = arg;
    if (chdir(dir) < 0)
        return 10;
    for (int attempt = 0; attempt < 100; attempt++) {
        int port = tu_free_port(1 /* SOCK_STREAM */);
        uint16_t be = htons((uint16_t)port);
        const unsigned char *b = (const unsigned char *)&be;
        if (!b[0] || !b[1] || b[0] == '/' || b[1] == '/')
            continue; /* not a plain file name: take another port */
        char victim[4] = {(char)b[0], (char)b[1], 0x7f, 0};
        int fd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
            return 11;
        close(fd);
        if (refuse_listen() < 0)
            return 12;
        char u[64];
        snprintf(u, sizeof u, "tcp://127.0.0.1:%d", port);
        uipc_listener *l = NULL;
        int r = uipc_listen(&l, u, 0);
        if (r != -EPERM || l)
            return 13;
        return access(victim, F_OK) == 0 ? 0 : 14;
    }
    return 15;
}

/*
 * A TCP listener whose listen() fails removes no file: sock.c used to
 * unlink sun_path of the address union on that path for every socket,
 * which for TCP is the port and address bytes taken as a relative path.
 */
static void tcp_listen_failure_removes_no_file(void **state)
{
    (void)state;
    char dir[256];
    tu_tmpdir(dir, sizeof dir);
    pid_t pid = tu_fork(tcp_listen_fails, dir);
    int status = tu_wait(pid);
    tu_rmdir_all(dir);
    if (status == 12)
        skip(); /* no seccomp filters here */
    assert_int_equal(status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unix_eight_clients),
        cmocka_unit_test(tcp_eight_clients),
        cmocka_unit_test(listen_unsupported),
        cmocka_unit_test(allow_uid_refuses_others),
        cmocka_unit_test(tcp_listen_failure_removes_no_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
