/* SPDX-License-Identifier: MIT */
/*
 * The URI parser and the bad-input table: malformed and hostile URIs given
 * to uipc_open, uipc_pair and uipc_listen each get their documented error,
 * create nothing and leak no descriptor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"
#include "uri.h"

struct bad_uri {
    const char *uri;
    int flags;
    int expect;
};

static char long_path[300], long_uri[5000], long_sun[200], long_name[400];

/* Expected errors for uipc_open; see uipc(7) for the mapping. */
static const struct bad_uri bad_uris[] = {
    {"", 0, -EINVAL},
    {":", 0, -EINVAL},
    {"nocolon", 0, -EINVAL},
    {"://x", 0, -EINVAL},
    {"1unix:///tmp/x", 0, -EINVAL},
    {"un ix:///tmp/x", 0, -EINVAL},
    {"waldo://x", 0, -EPROTONOSUPPORT},
    {"http://example.org/", 0, -EPROTONOSUPPORT},
    {"unix", 0, -EINVAL},
    {"tcp://127.0.0.1", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:0", 0, -EINVAL}, /* port 0 only for the side that binds */
    {"tcp://127.0.0.1:00", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:65536", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:99999999999999999999", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:-1", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:80x", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:080", UIPC_CREATE, -EINVAL},
    {"tcp://:7000", UIPC_CREATE, -EINVAL},
    {"tcp://[::1:7000", UIPC_CREATE, -EINVAL},
    {"tcp://[::1]7000", UIPC_CREATE, -EINVAL},
    {"tcp://::1:7000", UIPC_CREATE, -EINVAL},
    {"tcp://[]:7000", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000/path", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?mode=0600", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?maxmsg=0", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?maxmsg=2G", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?maxmsg=12Q", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?maxmsg=-5", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?maxmsg=", UIPC_CREATE, -EINVAL},
    {"tcp://127.0.0.1:7000?maxmsg=1K&maxmsg=2K", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?bogus=1", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?&", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?mode", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?=1", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?mode=999", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?mode=01777", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?mode=rw", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?type=dgram", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?allow_uid=abc", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?allow_uid=-1", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/uipc-bad.sock?maxmsg=1K&bogus", UIPC_CREATE, -EINVAL},
    {"unix://host/tmp/x.sock", UIPC_CREATE, -EINVAL},
    {"unix:relative.sock", UIPC_CREATE, -EINVAL},
    {"unix:@", UIPC_CREATE, -EINVAL},
    {"unix:@name?mode=0600", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/bad%zzname", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/bad%0aname", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/bad%00name", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/bad%4", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/bad\x01name", UIPC_CREATE, -EINVAL},
    {"unix:///tmp/bad\nname", UIPC_CREATE, -EINVAL},
    {"fifo://", UIPC_CREATE, -EINVAL},
    {"fifo:///", UIPC_CREATE, -EINVAL},
    {"fifo:///tmp/dir/", UIPC_CREATE, -EINVAL},
    {"fifo://host/tmp/x", UIPC_CREATE, -EINVAL},
    {"fifo:///tmp/x?maxmsg=0", UIPC_CREATE, -EINVAL},
    {"fifo:///tmp/x?type=stream", UIPC_CREATE, -EINVAL},
    {"fifo:///nonexistent-dir-uipc/x", UIPC_CREATE, -ENOENT},
    {"fifo:///tmp/uipc-no-such-fifo", 0, -ENOENT},
    {"unix:///tmp/uipc-no-such.sock", 0, -ENOENT},
    {"pipe:", 0, -ENOTSUP},
    {"pipe:", UIPC_CREATE, -ENOTSUP},
    {"unix:///tmp/x.sock", UIPC_EXCL, -EINVAL},
    {"unix:///tmp/x.sock", 0x100, -EINVAL},
};

static void bad_uris_are_refused(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
        uipc_channel *ch = (uipc_channel *)&ch; /* must be reset to NULL */
        int r = uipc_open(&ch, bad_uris[i].uri, bad_uris[i].flags);
        if (r != bad_uris[i].expect)
            fail_msg("uipc_open(\"%s\", %d) = %d (%s), expected %d", bad_uris[i].uri,
                     bad_uris[i].flags, r, uipc_strerror(r), bad_uris[i].expect);
        assert_null(ch);
    }
    assert_int_equal(tu_count_fds(), fds);
    assert_int_equal(access("/tmp/uipc-bad.sock", F_OK), -1);
}

static void generated_bad_uris(void **state)
{
    (void)state;
    uipc_channel *ch;
    memset(long_uri, 'a', sizeof long_uri - 1);
    memcpy(long_uri, "unix:///tmp/", 12);
    assert_int_equal(uipc_open(&ch, long_uri, UIPC_CREATE), -EINVAL); /* longer than any URI */

    memset(long_sun, 'b', sizeof long_sun - 1);
    snprintf(long_path, sizeof long_path, "unix:///tmp/%s", long_sun);
    assert_int_equal(uipc_open(&ch, long_path, UIPC_CREATE), -ENAMETOOLONG); /* > sun_path */
    snprintf(long_path, sizeof long_path, "unix:@%s", long_sun);
    assert_int_equal(uipc_open(&ch, long_path, UIPC_CREATE), -ENAMETOOLONG);

    memset(long_name, 'c', sizeof long_name - 1);
    snprintf(long_uri, sizeof long_uri, "fifo:///tmp/%s", long_name);
    assert_int_equal(uipc_open(&ch, long_uri, UIPC_CREATE), -ENAMETOOLONG); /* > NAME_MAX */

    char many[2048] = "unix:///tmp/uipc-many.sock?";
    for (int i = 0; i < 40; i++)
        strcat(many, "allow_uid=1&");
    strcat(many, "allow_uid=2");
    assert_int_equal(uipc_open(&ch, many, UIPC_CREATE), -EINVAL); /* more keys than accepted */
}

static void null_arguments(void **state)
{
    (void)state;
    uipc_channel *a, *b;
    uipc_listener *l;
    char buf[4];
    assert_int_equal(uipc_open(NULL, "pipe:", 0), -EINVAL);
    assert_int_equal(uipc_open(&a, NULL, 0), -EINVAL);
    assert_int_equal(uipc_pair(NULL, &a, &b), -EINVAL);
    assert_int_equal(uipc_pair("pipe:", NULL, &b), -EINVAL);
    assert_int_equal(uipc_pair("pipe:", &a, NULL), -EINVAL);
    assert_int_equal(uipc_send(NULL, buf, 1, 0), -EINVAL);
    assert_int_equal(uipc_recv(NULL, buf, 1, 0), -EINVAL);
    assert_int_equal(uipc_close(NULL), -EINVAL);
    assert_int_equal(uipc_unlink(NULL), -EINVAL);
    assert_int_equal(uipc_listen(NULL, "unix:@x", 0), -EINVAL);
    assert_int_equal(uipc_listen(&l, NULL, 0), -EINVAL);
    assert_int_equal(uipc_accept(NULL, &a, 0), -EINVAL);
    assert_int_equal(uipc_listener_close(NULL), -EINVAL);
    assert_int_equal(uipc_listener_pollfd(NULL), -EINVAL);
    assert_int_equal(uipc_pollfd(NULL), -EINVAL);
    assert_int_equal(uipc_peer_cred(NULL, NULL, NULL, NULL), -EINVAL);
    assert_null(uipc_scheme(NULL));
    assert_int_equal(uipc_max_msg(NULL), 0);
    assert_int_equal(uipc_pair("pipe:", &a, &b), 0);
    assert_int_equal(uipc_send(a, NULL, 1, 0), -EINVAL);
    assert_int_equal(uipc_recv(a, NULL, 1, 0), -EINVAL);
    assert_int_equal(uipc_send(a, NULL, 0, 0), 0); /* an empty message needs no buffer */
    assert_int_equal(uipc_recv(b, NULL, 0, 0), 0);
    assert_int_equal(uipc_send_reserve(a, NULL, 1, 0), -EINVAL);
    assert_int_equal(uipc_recv_peek(a, NULL, 0), -EINVAL);
    assert_int_equal(uipc_send_commit(a, 0), -EINVAL); /* nothing reserved */
    assert_int_equal(uipc_recv_release(a), -EINVAL);   /* nothing peeked */
    uipc_close(a);
    uipc_close(b);
}

static void parser_fields(void **state)
{
    (void)state;
    struct uipc__uri u;
    char host[64];
    uint16_t port;
    uint64_t sz;
    long n;
    mode_t m;
    int err;

    assert_int_equal(uipc__uri_parse(&u, "SHM://orders?size=4M&mode=0640"), 0);
    assert_string_equal(u.scheme, "shm");
    assert_string_equal(u.authority, "orders");
    assert_string_equal(u.path, "");
    assert_int_equal(uipc__uri_size(&u, "size", 1, UINT64_MAX, 0, &sz), 0);
    assert_int_equal(sz, 4u << 20);
    assert_int_equal(uipc__uri_mode(&u, &m), 0);
    assert_int_equal(m, 0640);
    assert_null(uipc__uri_get(&u, "maxmsg", &err));
    assert_int_equal(err, 0);

    assert_int_equal(uipc__uri_parse(&u, "tcp://[::1]:7000"), 0);
    assert_int_equal(uipc__uri_host_port(&u, host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 7000);

    assert_int_equal(uipc__uri_parse(&u, "unix:@abstract%20name"), 0);
    assert_false(u.has_authority);
    assert_string_equal(u.path, "@abstract name");

    assert_int_equal(uipc__uri_parse(&u, "sysvmq://0x1234?type=-7"), 0);
    assert_int_equal(uipc__uri_long(&u, "type", -100, 100, 0, &n), 0);
    assert_int_equal(n, -7);
    assert_int_equal(uipc__uri_long(&u, "type", 0, 100, 0, &n), -EINVAL);

    assert_int_equal(uipc__parse_size("1G", &sz), 0);
    assert_int_equal(sz, 1u << 30);
    assert_int_equal(uipc__parse_size("0x10k", &sz), 0);
    assert_int_equal(sz, 16u << 10);
    assert_int_equal(uipc__parse_size("17179869184G", &sz), -EINVAL); /* overflows */
    assert_int_equal(uipc__parse_size(" 1", &sz), -EINVAL);
    assert_int_equal(uipc__parse_size("1KB", &sz), -EINVAL);

    assert_true(uipc__name_ok("orders", 255));
    assert_false(uipc__name_ok("", 255));
    assert_false(uipc__name_ok("..", 255));
    assert_false(uipc__name_ok("a/b", 255));
    assert_false(uipc__name_ok("a\tb", 255));
    assert_false(uipc__name_ok("abcdef", 5));

    size_t pos = 0;
    assert_int_equal(uipc__uri_parse(&u, "unix:///x?allow_uid=1&allow_uid=2"), 0);
    assert_string_equal(uipc__uri_next(&u, "allow_uid", &pos), "1");
    assert_string_equal(uipc__uri_next(&u, "allow_uid", &pos), "2");
    assert_null(uipc__uri_next(&u, "allow_uid", &pos));
    assert_null(uipc__uri_get(&u, "allow_uid", &err));
    assert_int_equal(err, -EINVAL);
}

static void strerror_and_version(void **state)
{
    (void)state;
    assert_string_equal(uipc_version(), UIPC_VERSION_STRING);
    assert_string_equal(uipc_strerror(-EPIPE), uipc_strerror(EPIPE));
    assert_string_not_equal(uipc_strerror(-EPROTONOSUPPORT), "Unknown error");
    assert_string_equal(uipc_strerror(-99999), "Unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parser_fields),
        cmocka_unit_test(bad_uris_are_refused),
        cmocka_unit_test(generated_bad_uris),
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(strerror_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
