/* SPDX-License-Identifier: MIT */
/*
 * Listeners: 8 clients at once on unix: and tcp:, each served on its own
 * channel; allow_uid refusing a client that runs under another uid.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unix_eight_clients),
        cmocka_unit_test(tcp_eight_clients),
        cmocka_unit_test(listen_unsupported),
        cmocka_unit_test(allow_uid_refuses_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
