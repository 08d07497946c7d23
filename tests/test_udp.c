/* SPDX-License-Identifier: MIT */
/*
 * udp: — datagrams on loopback: round trips over IPv4 and IPv6, the owner
 * replying to the peer it last heard from (and waiting for one before it
 * heard anyone), oversize datagrams staying queued, -ECONNREFUSED as a
 * hint when nobody is bound, attributes and bad input.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

static char uri[128];

static void new_uri(void)
{
    int port = tu_free_port(SOCK_DGRAM);
    assert_true(port > 0);
    snprintf(uri, sizeof uri, "udp://127.0.0.1:%d", port);
}

static void roundtrip(uipc_channel *srv, uipc_channel *cli)
{
    char buf[65536];
    assert_int_equal(uipc_send(cli, "ping", 4, 1000), 4);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 1000), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(uipc_send(srv, "pong!", 5, 1000), 5);
    assert_int_equal(uipc_recv(cli, buf, sizeof buf, 1000), 5);
    assert_memory_equal(buf, "pong!", 5);
    assert_int_equal(uipc_send(cli, NULL, 0, 1000), 0);
    assert_int_equal(uipc_recv(srv, buf, 0, 1000), 0);
    size_t big = uipc_max_msg(cli);
    char *msg = malloc(big);
    tu_fill(msg, big, 5);
    assert_int_equal(uipc_send(cli, msg, big, 1000), (ssize_t)big);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 1000), (ssize_t)big);
    assert_int_equal(tu_check(buf, big, 5), 0);
    assert_int_equal(uipc_send(cli, msg, big + 1, 1000), -EMSGSIZE);
    free(msg);
}

static void test_roundtrip_v4(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    new_uri();
    uipc_channel *srv, *cli;
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&cli, uri, 0), 0);
    assert_string_equal(uipc_scheme(srv), "udp");
    assert_int_equal(uipc_max_msg(srv), 65507);
    assert_int_equal(uipc_peer_cred(srv, NULL, NULL, NULL), -ENOTSUP);
    assert_int_equal(uipc_peer_cred(cli, NULL, NULL, NULL), -ENOTSUP);
    roundtrip(srv, cli);
    /* The poll descriptor is the socket. */
    struct pollfd p = {.fd = uipc_pollfd(srv), .events = POLLIN};
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(uipc_send(cli, "x", 1, 0), 1);
    assert_int_equal(poll(&p, 1, 1000), 1);
    char b[4];
    assert_int_equal(uipc_recv(srv, b, sizeof b, 0), 1);
    assert_int_equal(uipc_recv(srv, b, sizeof b, 0), -EAGAIN);
    assert_int_equal(uipc_recv(srv, b, sizeof b, 30), -ETIMEDOUT);
    assert_int_equal(uipc_close(cli), 0);
    assert_int_equal(uipc_close(srv), 0);
    assert_int_equal(tu_count_fds(), fds);
}

static void test_roundtrip_v6(void **state)
{
    (void)state;
    int port = tu_free_port(SOCK_DGRAM);
    snprintf(uri, sizeof uri, "udp://[::1]:%d?maxmsg=65527", port);
    uipc_channel *srv, *cli;
    int r = uipc_open(&srv, uri, UIPC_CREATE);
    if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
        skip(); /* no IPv6 loopback on this machine */
        return;
    }
    assert_int_equal(r, 0);
    assert_int_equal(uipc_open(&cli, uri, 0), 0);
    assert_int_equal(uipc_max_msg(cli), 65527);
    roundtrip(srv, cli);
    uipc_close(cli);
    uipc_close(srv);
}

/* The owner waits for its first peer, within the send's timeout. */
static void test_owner_waits_for_peer(void **state)
{
    (void)state;
    new_uri();
    uipc_channel *srv, *cli;
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_send(srv, "early", 5, 0), -EAGAIN);
    assert_int_equal(uipc_send(srv, "early", 5, 30), -ETIMEDOUT);
    assert_int_equal(uipc_open(&cli, uri, 0), 0);
    assert_int_equal(uipc_send(cli, "hi", 2, 0), 2);
    assert_int_equal(uipc_send(srv, "hello", 5, 1000), 5); /* replies to "hi"'s sender */
    char buf[16];
    assert_int_equal(uipc_recv(cli, buf, sizeof buf, 1000), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 1000), 2); /* "hi" was left queued */
    uipc_close(cli);
    uipc_close(srv);
}

/* Replies go to the last peer heard from, never to another. */
static void test_last_peer(void **state)
{
    (void)state;
    new_uri();
    uipc_channel *srv, *a, *b;
    char buf[16];
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&a, uri, 0), 0);
    assert_int_equal(uipc_open(&b, uri, 0), 0);
    assert_int_equal(uipc_send(a, "a", 1, 0), 1);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 1000), 1);
    assert_int_equal(uipc_send(b, "b", 1, 0), 1);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 1000), 1);
    assert_int_equal(buf[0], 'b');
    assert_int_equal(uipc_send(srv, "to-b", 4, 0), 4);
    assert_int_equal(uipc_recv(b, buf, sizeof buf, 1000), 4);
    assert_int_equal(uipc_recv(a, buf, sizeof buf, 50), -ETIMEDOUT);
    assert_int_equal(uipc_send(a, "a2", 2, 0), 2);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 1000), 2);
    assert_int_equal(uipc_send(srv, "to-a", 4, 0), 4);
    assert_int_equal(uipc_recv(a, buf, sizeof buf, 1000), 4);
    assert_memory_equal(buf, "to-a", 4);
    assert_int_equal(uipc_recv(b, buf, sizeof buf, 50), -ETIMEDOUT);
    uipc_close(a);
    uipc_close(b);
    uipc_close(srv);
}

/* A datagram larger than the buffer is -EMSGSIZE and stays queued. */
static void test_oversize_stays(void **state)
{
    (void)state;
    new_uri();
    uipc_channel *srv, *cli;
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&cli, uri, 0), 0);
    char msg[1000], buf[1000];
    tu_fill(msg, sizeof msg, 11);
    assert_int_equal(uipc_send(cli, msg, sizeof msg, 0), sizeof msg);
    assert_int_equal(uipc_recv(srv, buf, 10, 1000), -EMSGSIZE);
    assert_int_equal(uipc_recv(srv, buf, 999, 0), -EMSGSIZE);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 0), sizeof msg);
    assert_int_equal(tu_check(buf, sizeof msg, 11), 0);
    assert_int_equal(uipc_send(srv, msg, 500, 0), 500);
    assert_int_equal(uipc_recv(cli, buf, 100, 1000), -EMSGSIZE);
    char *large = malloc(70000);
    assert_int_equal(uipc_recv(cli, large, 70000, 0), 500);
    free(large);
    uipc_close(cli);
    uipc_close(srv);
}

/* Nobody bound: a hint comes back as -ECONNREFUSED on loopback. */
static void test_refused(void **state)
{
    (void)state;
    new_uri();
    uipc_channel *cli;
    assert_int_equal(uipc_open(&cli, uri, 0), 0); /* opening never needs the peer */
    assert_int_equal(uipc_send(cli, "lost", 4, 0), 4);
    char buf[8];
    assert_int_equal(uipc_recv(cli, buf, sizeof buf, 1000), -ECONNREFUSED);
    uipc_close(cli);
}

static void test_attributes(void **state)
{
    (void)state;
    new_uri();
    uipc_channel *srv, *cli;
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&cli, uri, 0), 0);
    uipc_msginfo prio = {.priority = 1}, type = {.type = 1}, zero = {0, 0};
    char buf[8];
    assert_int_equal(uipc_sendmsg(cli, "x", 1, &prio, 0), -ENOTSUP);
    assert_int_equal(uipc_sendmsg(cli, "x", 1, &type, 0), -ENOTSUP);
    assert_int_equal(uipc_sendmsg(cli, "x", 1, &zero, 0), 1);
    assert_int_equal(uipc_recvmsg(srv, buf, sizeof buf, &type, 1000), -ENOTSUP);
    uipc_msginfo out = {.priority = 3};
    assert_int_equal(uipc_recvmsg(srv, buf, sizeof buf, &out, 1000), 1);
    assert_int_equal(out.priority, 0);
    uipc_close(cli);
    uipc_close(srv);
}

static void test_bad_input(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    uipc_channel *ch = NULL;
    const char *bad[] = {
        "udp:",
        "udp://",
        "udp://127.0.0.1",
        "udp://127.0.0.1:",
        "udp://127.0.0.1:00",
        "udp://127.0.0.1:65536",
        "udp://127.0.0.1:abc",
        "udp://127.0.0.1:-1",
        "udp://127.0.0.1:7001/path",
        "udp://[::1]",
        "udp://::1:7001",
        "udp://[zz::1]:7001",
        "udp://[127.0.0.1:7001",
        "udp://:7001",
        "udp://127.0.0.1:7001?maxmsg=65508",
        "udp://127.0.0.1:7001?maxmsg=0",
        "udp://127.0.0.1:7001?depth=3",
        "udp://[::1]:7001?maxmsg=65528",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = uipc_open(&ch, bad[i], UIPC_CREATE);
        if (r != -EINVAL)
            fail_msg("%s: %d (%s)", bad[i], r, uipc_strerror(r));
        r = uipc_open(&ch, bad[i], 0);
        if (r != -EINVAL)
            fail_msg("%s (client): %d (%s)", bad[i], r, uipc_strerror(r));
        assert_null(ch);
    }
    /* Port 0: the owner binds one the kernel chooses, a client cannot. */
    assert_int_equal(uipc_open(&ch, "udp://127.0.0.1:0", 0), -EINVAL);
    new_uri();
    uipc_channel *srv;
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE), -EADDRINUSE);
    assert_int_equal(uipc_open(&ch, uri, UIPC_CREATE | UIPC_EXCL), -EEXIST);
    assert_int_equal(uipc_unlink(uri), -ENOTSUP);
    assert_int_equal(uipc_pair("udp:", &ch, &ch), -ENOTSUP);
    uipc_close(srv);
    assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_v4),   cmocka_unit_test(test_roundtrip_v6),
        cmocka_unit_test(test_owner_waits_for_peer), cmocka_unit_test(test_last_peer),
        cmocka_unit_test(test_oversize_stays), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_attributes),     cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
