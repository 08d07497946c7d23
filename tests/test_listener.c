/* SPDX-License-Identifier: MIT */
/*
 * Listeners: 8 clients at once on unix: and tcp:, each served on its own
 * channel; allow_uid refusing a client that runs under another uid; port 0
 * and the URIs that uipc_listener_uri and uipc_uri hand to clients.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- port 0 and URIs ---- */

/* One echoed request from a fresh client of uri (a string in the parent). */
static int echo_client(void *arg)
{
    uipc_channel *ch;
    char buf[16];
    if (uipc_open(&ch, (const char *)arg, 0) < 0)
        return 30;
    if (uipc_send(ch, "ping", 4, 10000) != 4 || uipc_recv(ch, buf, sizeof buf, 10000) != 4)
        return 31;
    uipc_close(ch);
    return memcmp(buf, "ping", 4) == 0 ? 0 : 32;
}

/* A client reaches the listener through uipc_listener_uri; the accepted
 * channel reports the same URI. */
static void serve_one_by_uri(uipc_listener *l)
{
    const char *lu = uipc_listener_uri(l);
    assert_non_null(lu);
    pid_t pid = tu_fork(echo_client, (void *)lu);
    uipc_channel *ch;
    char buf[16];
    assert_int_equal(uipc_accept(l, &ch, 10000), 0);
    assert_string_equal(uipc_uri(ch), lu);
    assert_int_equal(uipc_recv(ch, buf, sizeof buf, 10000), 4);
    assert_int_equal(uipc_send(ch, buf, 4, 10000), 4);
    assert_int_equal(tu_wait(pid), 0);
    uipc_close(ch);
}

static unsigned uri_port(const char *u)
{
    const char *c = strrchr(u, ':');
    return c ? (unsigned)strtoul(c + 1, NULL, 10) : 0;
}

static void tcp_port_zero_listener(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, "tcp://127.0.0.1:0?maxmsg=4K", 0), 0);
    const char *lu = uipc_listener_uri(l);
    assert_non_null(lu);
    assert_int_equal(strncmp(lu, "tcp://127.0.0.1:", 16), 0);
    assert_true(uri_port(lu) > 0);
    assert_non_null(strstr(lu, "?maxmsg=4K")); /* the client needs the same keys */
    serve_one_by_uri(l);
    /* A second listener on port 0 gets another port: nothing collides. */
    uipc_listener *l2;
    assert_int_equal(uipc_listen(&l2, "tcp://127.0.0.1:0", 0), 0);
    assert_int_not_equal(uri_port(uipc_listener_uri(l2)), uri_port(lu));
    assert_int_equal(uipc_listener_close(l2), 0);
    assert_int_equal(uipc_listener_close(l), 0);

    /* IPv6 loopback, where the machine has it: the address in brackets. */
    if (uipc_listen(&l, "tcp://[::1]:0", 0) == 0) {
        assert_int_equal(strncmp(uipc_listener_uri(l), "tcp://[::1]:", 12), 0);
        serve_one_by_uri(l);
        uipc_listener_close(l);
    }
    assert_int_equal(tu_count_fds(), fds);
}

static void unix_listener_uri_is_the_name(void **state)
{
    (void)state;
    char name[64], u[128];
    uipc_listener *l;
    tu_name(name, sizeof name, "uipc-uri-");
    snprintf(u, sizeof u, "unix:@%s?type=seqpacket", name);
    assert_int_equal(uipc_listen(&l, u, 0), 0);
    assert_string_equal(uipc_listener_uri(l), u);
    serve_one_by_uri(l);
    uipc_listener_close(l);
    snprintf(u, sizeof u, "unix:///tmp/%s.sock", name);
    assert_int_equal(uipc_listen(&l, u, 0), 0);
    assert_string_equal(uipc_listener_uri(l), u);
    serve_one_by_uri(l);
    uipc_listener_close(l);
}

/* uipc_open(UIPC_CREATE) on port 0: a one-peer listener that says its port. */
static void tcp_port_zero_channel(void **state)
{
    (void)state;
    uipc_channel *srv, *ch;
    char buf[16];
    assert_int_equal(uipc_open(&srv, "tcp://127.0.0.1:0", UIPC_CREATE), 0);
    const char *su = uipc_uri(srv);
    assert_true(uri_port(su) > 0);
    pid_t pid = tu_fork(echo_client, (void *)su);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 10000), 4);
    assert_int_equal(uipc_send(srv, buf, 4, 10000), 4);
    assert_int_equal(tu_wait(pid), 0);
    assert_string_equal(uipc_uri(srv), su); /* stable once the peer came */
    uipc_close(srv);
    /* Clients cannot open port 0. */
    assert_int_equal(uipc_open(&ch, "tcp://127.0.0.1:0", 0), -EINVAL);
    assert_null(ch);
}

static void udp_port_zero_owner(void **state)
{
    (void)state;
    uipc_channel *srv, *cli;
    char buf[16];
    assert_int_equal(uipc_open(&srv, "udp://127.0.0.1:0", UIPC_CREATE), 0);
    const char *su = uipc_uri(srv);
    assert_int_equal(strncmp(su, "udp://127.0.0.1:", 16), 0);
    assert_true(uri_port(su) > 0);
    assert_int_equal(uipc_open(&cli, su, 0), 0);
    assert_string_equal(uipc_uri(cli), su);
    assert_int_equal(uipc_send(cli, "ping", 4, 5000), 4);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 5000), 4);
    uipc_close(cli);
    uipc_close(srv);
}

/* Everything else reports the text it was opened with. */
static void uri_of_other_endpoints(void **state)
{
    (void)state;
    uipc_channel *a, *b;
    char name[64], u[128];
    assert_null(uipc_uri(NULL));
    assert_null(uipc_listener_uri(NULL));
    assert_int_equal(uipc_pair("pipe:?maxmsg=1K", &a, &b), 0);
    assert_string_equal(uipc_uri(a), "pipe:?maxmsg=1K");
    assert_string_equal(uipc_uri(b), "pipe:?maxmsg=1K");
    uipc_close(a);
    uipc_close(b);
    tu_name(name, sizeof name, "uipc-uri-");
    snprintf(u, sizeof u, "shm://%s?size=64K", name);
    assert_int_equal(uipc_open(&a, u, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&b, u, 0), 0);
    assert_string_equal(uipc_uri(a), u);
    assert_string_equal(uipc_uri(b), u);
    uipc_close(b);
    uipc_close(a);
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
        cmocka_unit_test(tcp_port_zero_listener),
        cmocka_unit_test(unix_listener_uri_is_the_name),
        cmocka_unit_test(tcp_port_zero_channel),
        cmocka_unit_test(udp_port_zero_owner),
        cmocka_unit_test(uri_of_other_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
