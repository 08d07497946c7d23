/* SPDX-License-Identifier: MIT */
/*
 * What the conformance suite (test_conformance.c) and its separately
 * started peer program (uipc_peer.c) agree on: the largest message the
 * suite moves, the message that ends an echo, the deterministic message
 * lengths both sides derive from a sequence number, and the echo loop
 * itself.  Only the public API is used here, so the peer program is an
 * ordinary client of the library.
 */
#ifndef UIPC_CONFORMANCE_H
#define UIPC_CONFORMANCE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uipc/uipc.h"

/*
 * The "max" message size is uipc_max_msg(ch), capped here: stream
 * transports default to 16 MiB (and allow up to 1 GiB), and moving that
 * many bytes per case would dominate the run without testing anything a
 * 4 MiB message does not (framing is the same code at any length).
 */
#define CONF_MAX_TEST ((size_t)4 << 20)

/* An echo peer stops (without echoing) when it receives exactly this. */
#define CONF_QUIT "uipc-conformance-quit"
#define CONF_QUIT_LEN (sizeof CONF_QUIT - 1)

/*
 * On transports where the owner learns of its peer only from the peer's
 * first message (udp:), the attaching side sends this first and the owner
 * receives it before the test proper (CAP_CLIENT_FIRST in the case table).
 */
#define CONF_HELLO "uipc-conformance-hello"
#define CONF_HELLO_LEN (sizeof CONF_HELLO - 1)

/* Every wait in the suite is bounded: nothing may hang. */
#define CONF_WAIT_MS 20000

static inline size_t conf_test_max(const uipc_channel *ch)
{
    size_t m = uipc_max_msg(ch);
    return m > CONF_MAX_TEST ? CONF_MAX_TEST : m;
}

static inline uint64_t conf_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The length of message seq in a stream of messages of 0..maxlen bytes. */
static inline size_t conf_len(uint64_t seq, size_t maxlen)
{
    return (size_t)(conf_mix(seq) % ((uint64_t)maxlen + 1));
}

static inline int conf_is_quit(const void *buf, ssize_t n)
{
    return n == (ssize_t)CONF_QUIT_LEN && memcmp(buf, CONF_QUIT, CONF_QUIT_LEN) == 0;
}

/* The attaching side's hello; 0 or non-zero after printing the error. */
static inline int conf_client_hello(uipc_channel *ch)
{
    ssize_t r = uipc_send(ch, CONF_HELLO, CONF_HELLO_LEN, CONF_WAIT_MS);
    if (r == (ssize_t)CONF_HELLO_LEN)
        return 0;
    fprintf(stderr, "hello: send: %zd (%s)\n", r, r < 0 ? uipc_strerror((int)r) : "short");
    return 7;
}

/* The owner's side of the hello. */
static inline int conf_owner_hello(uipc_channel *ch)
{
    char buf[CONF_HELLO_LEN + 1];
    ssize_t r = uipc_recv(ch, buf, sizeof buf, CONF_WAIT_MS);
    if (r == (ssize_t)CONF_HELLO_LEN && memcmp(buf, CONF_HELLO, CONF_HELLO_LEN) == 0)
        return 0;
    fprintf(stderr, "hello: recv: %zd (%s)\n", r, r < 0 ? uipc_strerror((int)r) : "not hello");
    return 8;
}

/*
 * Echoes every message back until the quit message or the end of the link.
 * Returns 0, or a non-zero code after printing what went wrong.
 */
static inline int conf_echo_loop(uipc_channel *ch, const char *who)
{
    size_t cap = conf_test_max(ch);
    unsigned char *buf = malloc(cap ? cap : 1);
    int rc = 0;
    if (!buf)
        return 2;
    for (;;) {
        ssize_t n = uipc_recv(ch, buf, cap, CONF_WAIT_MS);
        if (n == -EPIPE || conf_is_quit(buf, n))
            break;
        if (n < 0) {
            fprintf(stderr, "%s: echo recv: %s\n", who, uipc_strerror((int)n));
            rc = 3;
            break;
        }
        ssize_t w = uipc_send(ch, buf, (size_t)n, CONF_WAIT_MS);
        if (w != n) {
            fprintf(stderr, "%s: echo send of %zd bytes: %zd (%s)\n", who, n, w,
                    w < 0 ? uipc_strerror((int)w) : "short");
            rc = 4;
            break;
        }
    }
    free(buf);
    return rc;
}

#endif /* UIPC_CONFORMANCE_H */
