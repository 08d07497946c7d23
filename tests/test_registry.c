/* SPDX-License-Identifier: MIT */
/*
 * The transport registry (lib/registry.c): every row is a usable ops table.
 * Checked against the internal table itself, so a transport added with a
 * missing mandatory operation fails here before it fails a user.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

/*
 * Transports whose mechanism has no descriptor to poll, so that
 * uipc_pollfd is -ENOTSUP there (which the contract allows).  Every other
 * transport must have one: an event loop cannot use a channel without it.
 * Adding a name here is a decision, not a convenience.
 */
static int no_pollfd_ok(const char *scheme)
{
    return strcmp(scheme, "sysvmq") == 0; /* msgrcv has no descriptor */
}

/* Mandatory operations: scheme, size, send, recv, close, pollfd, and a way
 * to make a channel (open or pair). */
static void t_mandatory_ops(void **state)
{
    (void)state;
    assert_true(uipc__ntransports > 0);
    for (size_t i = 0; i < uipc__ntransports; i++) {
        const struct uipc_transport *tp = uipc__transports[i];
        assert_non_null(tp);
        assert_non_null(tp->scheme);
        print_message("      %s\n", tp->scheme);
        assert_true(tp->size >= sizeof(struct uipc_channel));
        assert_non_null(tp->send);
        assert_non_null(tp->recv);
        assert_non_null(tp->close);
        if (!tp->pollfd && !no_pollfd_ok(tp->scheme))
            fail_msg("%s: no pollfd operation", tp->scheme);
        assert_true(tp->open || tp->pair);
        /* Zero-copy is native in pairs or emulated by the core: never half. */
        assert_true(!tp->send_reserve == !tp->send_commit);
        assert_true(!tp->recv_peek == !tp->recv_release);
        /* Only the attributes the core knows. */
        assert_int_equal(tp->attrs & ~(unsigned)(UIPC__ATTR_PRIORITY | UIPC__ATTR_TYPE), 0);
    }
}

/* Schemes: non-empty, lowercase, URI scheme characters, unique, and short
 * enough for the parser's buffer; uipc__transport_find finds each. */
static void t_schemes(void **state)
{
    (void)state;
    for (size_t i = 0; i < uipc__ntransports; i++) {
        const char *s = uipc__transports[i]->scheme;
        size_t n = strlen(s);
        assert_true(n > 0 && n < UIPC__SCHEME_MAX);
        assert_true(islower((unsigned char)s[0]));
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)s[k];
            if (!(islower(c) || isdigit(c) || c == '+' || c == '-' || c == '.'))
                fail_msg("scheme \"%s\" has '%c': lowercase letters, digits, + - . only", s, c);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, uipc__transports[j]->scheme) == 0)
                fail_msg("scheme \"%s\" registered twice", s);
        assert_ptr_equal(uipc__transport_find(s), uipc__transports[i]);
    }
    assert_null(uipc__transport_find("no-such-scheme"));
    assert_null(uipc__transport_find(""));
}

/* Listener operations come all together (with a listener size) or not at
 * all; the same for the query-key list's termination. */
static void t_listener_ops(void **state)
{
    (void)state;
    for (size_t i = 0; i < uipc__ntransports; i++) {
        const struct uipc_transport *tp = uipc__transports[i];
        int n = !!tp->listen + !!tp->accept + !!tp->listener_close + !!tp->listener_pollfd;
        if (n != 0 && n != 4)
            fail_msg("%s: %d of the 4 listener operations", tp->scheme, n);
        if (n == 4)
            assert_true(tp->listener_size >= sizeof(struct uipc_listener));
        else
            assert_int_equal(tp->listener_size, 0);
        if (tp->keys) {
            size_t k = 0;
            while (tp->keys[k]) {
                assert_true(tp->keys[k][0] != '\0');
                assert_true(++k < 64); /* a terminated list */
            }
        }
    }
}

/* The contract names the transports that must exist; later ones may join. */
static void t_required_schemes(void **state)
{
    (void)state;
    const char *required[] = {"pipe", "fifo", "unix", "tcp"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!uipc__transport_find(required[i]))
            fail_msg("transport %s is not registered", required[i]);
    /* uipc_pair is offered by pipe: and unix: at least. */
    assert_non_null(uipc__transport_find("pipe")->pair);
    assert_non_null(uipc__transport_find("unix")->pair);
    assert_null(uipc__transport_find("pipe")->open); /* pair only */
}

/* Capabilities: only the declared bits in .caps, and consistent ones. */
static void t_caps(void **state)
{
    (void)state;
    const unsigned declared = (1u << 16) - 1;
    for (size_t i = 0; i < uipc__ntransports; i++) {
        const struct uipc_transport *tp = uipc__transports[i];
        if (tp->caps & ~declared)
            fail_msg("%s: derived capability bits declared in .caps", tp->scheme);
        unsigned c = uipc__transport_caps(tp);
        if ((c & UIPC__CAP_N_PARTY) && (c & (UIPC__CAP_PEER_EOF | UIPC__CAP_SEND_EPIPE)))
            fail_msg("%s: an N-party transport has no one peer to lose", tp->scheme);
        if ((c & (UIPC__CAP_POLL_EOF | UIPC__CAP_SEND_EPIPE)) && !(c & UIPC__CAP_PEER_EOF))
            fail_msg("%s: POLL_EOF or SEND_EPIPE without PEER_EOF", tp->scheme);
        if ((c & UIPC__CAP_PERSISTENT) && !(c & UIPC__CAP_LOCAL_NAME))
            fail_msg("%s: persistent but not named", tp->scheme);
    }
}

/* A cell of a markdown table row: the n-th between '|' (0 = first). */
static bool cell(const char *row, int n, char *out, size_t cap)
{
    const char *p = row;
    for (int i = 0; i <= n; i++) {
        p = strchr(p, '|');
        if (!p)
            return false;
        p++;
    }
    const char *end = strchr(p, '|');
    if (!end)
        return false;
    snprintf(out, cap, "%.*s", (int)(end - p), p);
    return true;
}

/*
 * docs/transports.md's table is checked against the transport tables: a
 * row per transport, and what each column claims is what the table says
 * (reliability, N parties, pair, pollfd, native zero-copy, persistence).
 */
static void t_docs_table(void **state)
{
    (void)state;
    FILE *f = fopen(UIPC_SOURCE_DIR "/docs/transports.md", "r");
    if (!f)
        fail_msg("cannot read %s/docs/transports.md", UIPC_SOURCE_DIR);
    char line[4096];
    bool in_table = false, seen[64] = {false};
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "| scheme | reliability |", 24) == 0) {
            in_table = true;
            continue;
        }
        if (!in_table || strncmp(line, "|---", 4) == 0)
            continue;
        if (line[0] != '|')
            break;
        char c0[512], rel[512], parties[512], poll[512], zc[512], pers[512];
        if (!cell(line, 0, c0, sizeof c0) || !cell(line, 1, rel, sizeof rel) ||
            !cell(line, 2, parties, sizeof parties) || !cell(line, 4, poll, sizeof poll) ||
            !cell(line, 5, zc, sizeof zc) || !cell(line, 6, pers, sizeof pers))
            fail_msg("malformed row: %s", line);
        char scheme[32];
        const char *b = strchr(c0, '`');
        assert_non_null(b);
        snprintf(scheme, sizeof scheme, "%.*s", (int)strcspn(b + 1, ":"), b + 1);
        const struct uipc_transport *tp = uipc__transport_find(scheme);
        if (!tp)
            fail_msg("docs/transports.md lists %s, which is not registered", scheme);
        for (size_t i = 0; i < uipc__ntransports; i++)
            if (uipc__transports[i] == tp)
                seen[i] = true;
        unsigned c = uipc__transport_caps(tp);
        print_message("      %s\n", scheme);
#define CLAIM(what, text, cond)                                                             \
    if ((strstr(text, what) != NULL) != (bool)(cond))                                        \
        fail_msg("docs/transports.md, %s: \"%s\" %s but the table says %s", scheme, what,   \
                 strstr(text, what) ? "is there" : "is missing", (cond) ? "yes" : "no");
        CLAIM("unreliable", rel, !(c & UIPC__CAP_RELIABLE));
        CLAIM(" N", parties, c & (UIPC__CAP_N_PARTY | UIPC__CAP_LISTEN));
        CLAIM("uipc_pair", line, c & UIPC__CAP_PAIR);
        CLAIM("**no**", poll, !(c & UIPC__CAP_POLLFD));
        CLAIM("native", zc, c & UIPC__CAP_ZEROCOPY);
        CLAIM("persistent", pers, c & UIPC__CAP_PERSISTENT);
#undef CLAIM
    }
    fclose(f);
    for (size_t i = 0; i < uipc__ntransports; i++)
        if (!seen[i])
            fail_msg("docs/transports.md has no row for %s", uipc__transports[i]->scheme);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_mandatory_ops),
        cmocka_unit_test(t_schemes),
        cmocka_unit_test(t_listener_ops),
        cmocka_unit_test(t_required_schemes),
        cmocka_unit_test(t_caps),
        cmocka_unit_test(t_docs_table),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
