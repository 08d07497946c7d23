/* SPDX-License-Identifier: MIT */
/*
 * uipc_poll: one wait over a mix of shm:, unix:, pipe:, tcp:, mq:, sysvmq:
 * channels and a listener; level-triggered readiness that a receive with
 * timeout 0 honours; a peer killed while the caller is parked in it
 * (UIPC_POLLHUP, no hang); room for UIPC_POLLOUT; bad arguments; no
 * descriptor left behind.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

#define T 10000 /* ms: bounds every wait that must succeed */

/* ---- bad arguments and zero items ---- */

static void bad_arguments(void **state)
{
    (void)state;
    uipc_channel *a, *b;
    uipc_listener *l;
    char name[64], u[96];
    assert_int_equal(uipc_pair("pipe:", &a, &b), 0);
    tu_name(name, sizeof name, "uipc-poll-");
    snprintf(u, sizeof u, "unix:@%s", name);
    assert_int_equal(uipc_listen(&l, u, 0), 0);

    assert_int_equal(uipc_poll(NULL, 1, 0), -EINVAL);
    uipc_pollitem neither = {.events = UIPC_POLLIN};
    assert_int_equal(uipc_poll(&neither, 1, 0), -EINVAL);
    uipc_pollitem both = {.ch = a, .l = l, .events = UIPC_POLLIN};
    assert_int_equal(uipc_poll(&both, 1, 0), -EINVAL);
    uipc_pollitem unknown = {.ch = a, .events = 8};
    assert_int_equal(uipc_poll(&unknown, 1, 0), -EINVAL);
    uipc_pollitem fine[2] = {{.ch = a, .events = UIPC_POLLIN}, {.l = l, .events = UIPC_POLLIN}};
    assert_int_equal(uipc_poll(fine, 2, -2), -EINVAL);
    /* One bad item spoils the call, wherever it is. */
    uipc_pollitem mixed[2] = {{.ch = a, .events = UIPC_POLLIN}, {.events = UIPC_POLLIN}};
    assert_int_equal(uipc_poll(mixed, 2, 0), -EINVAL);
    /* Valid but idle. */
    assert_int_equal(uipc_poll(fine, 2, 0), -EAGAIN);
    assert_int_equal(uipc_poll(fine, 2, 30), -ETIMEDOUT);
    /* Events 0 with UIPC_POLLHUP allowed in events: still only the peer's end. */
    uipc_pollitem hup = {.ch = a, .events = UIPC_POLLHUP};
    assert_int_equal(uipc_poll(&hup, 1, 0), -EAGAIN);
    uipc_close(b);
    assert_int_equal(uipc_poll(&hup, 1, T), 1);
    assert_int_equal(hup.revents, UIPC_POLLHUP);
    uipc_close(a);
    uipc_listener_close(l);
}

static void zero_items(void **state)
{
    (void)state;
    uipc_pollitem it;
    assert_int_equal(uipc_poll(NULL, 0, 0), -EAGAIN);
    assert_int_equal(uipc_poll(&it, 0, 0), -EAGAIN);
    int64_t t0 = tu_now_ms();
    assert_int_equal(uipc_poll(NULL, 0, 50), -ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 45); /* it waited: a lower bound, never an upper one */
}

/* ---- a mix of transports ---- */

enum { M_SHM, M_UNIX, M_PIPE, M_TCP, M_MQ, M_SYSV, M_LISTENER, M_N };

struct mix {
    uipc_channel *mine[M_N];  /* polled by the parent */
    uipc_channel *peer[M_N];  /* the other ends, used by the child */
    uipc_listener *l;
    char listen_uri[128];
    char mq_uri[128], sysv_uri[64];
};

static struct mix mx;

/* Child: writes to the channels named by the bits of mask, in order, one
 * message each, with a pause between, then connects to the listener. */
static int mix_writer(void *arg)
{
    int mask = (int)(intptr_t)arg;
    for (int i = 0; i < M_LISTENER; i++) {
        if (!(mask & (1 << i)))
            continue;
        usleep(20000);
        if (uipc_send(mx.peer[i], &i, sizeof i, T) != sizeof i)
            return 10 + i;
    }
    if (mask & (1 << M_LISTENER)) {
        uipc_channel *c;
        if (uipc_open(&c, mx.listen_uri, 0) < 0 || uipc_send(c, "x", 1, T) != 1)
            return 30;
        usleep(300000); /* stay until the parent accepted */
        uipc_close(c);
    }
    return 0;
}

static void mix_open(void)
{
    char name[64];
    tu_name(name, sizeof name, "uipc-pollmix-");
    char u[160];
    snprintf(u, sizeof u, "shm://%s?size=64K", name);
    assert_int_equal(uipc_open(&mx.mine[M_SHM], u, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&mx.peer[M_SHM], u, 0), 0);
    assert_int_equal(uipc_pair("unix:", &mx.mine[M_UNIX], &mx.peer[M_UNIX]), 0);
    assert_int_equal(uipc_pair("pipe:", &mx.mine[M_PIPE], &mx.peer[M_PIPE]), 0);
    uipc_listener *tl;
    assert_int_equal(uipc_listen(&tl, "tcp://127.0.0.1:0", 0), 0);
    assert_int_equal(uipc_open(&mx.peer[M_TCP], uipc_listener_uri(tl), 0), 0);
    assert_int_equal(uipc_send(mx.peer[M_TCP], "", 0, T), 0); /* finish the connect */
    assert_int_equal(uipc_accept(tl, &mx.mine[M_TCP], T), 0);
    assert_int_equal(uipc_recv(mx.mine[M_TCP], u, sizeof u, T), 0);
    uipc_listener_close(tl);
    snprintf(mx.mq_uri, sizeof mx.mq_uri, "mq:///%s?depth=4&maxmsg=64", name);
    assert_int_equal(uipc_open(&mx.mine[M_MQ], mx.mq_uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&mx.peer[M_MQ], mx.mq_uri, 0), 0);
    snprintf(mx.sysv_uri, sizeof mx.sysv_uri, "sysvmq://0x%x", 0x75000000u | (unsigned)getpid());
    assert_int_equal(uipc_open(&mx.mine[M_SYSV], mx.sysv_uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&mx.peer[M_SYSV], mx.sysv_uri, 0), 0);
    snprintf(mx.listen_uri, sizeof mx.listen_uri, "unix:@%s-l", name);
    assert_int_equal(uipc_listen(&mx.l, mx.listen_uri, 0), 0);
}

static void mix_close(void)
{
    for (int i = 0; i < M_LISTENER; i++) {
        uipc_close(mx.mine[i]);
        uipc_close(mx.peer[i]);
    }
    uipc_listener_close(mx.l);
}

static void mix_items(uipc_pollitem *it)
{
    for (int i = 0; i < M_LISTENER; i++)
        it[i] = (uipc_pollitem){.ch = mx.mine[i], .events = UIPC_POLLIN};
    it[M_LISTENER] = (uipc_pollitem){.l = mx.l, .events = UIPC_POLLIN};
}

static void mix_of_transports(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    mix_open();
    uipc_pollitem it[M_N];
    mix_items(it);
    assert_int_equal(uipc_poll(it, M_N, 0), -EAGAIN);
    for (int i = 0; i < M_N; i++)
        assert_int_equal(it[i].revents, 0);

    /* Everything becomes ready, one at a time, in a separate process; each
     * is reported, and stays reported until it is taken (level-triggered). */
    pid_t child = tu_fork(mix_writer, (void *)(intptr_t)((1 << M_N) - 1));
    int seen = 0;
    while (seen != (1 << M_N) - 1) {
        mix_items(it);
        int n = uipc_poll(it, M_N, T);
        assert_true(n > 0);
        int count = 0;
        for (int i = 0; i < M_N; i++) {
            if (!it[i].revents)
                continue;
            count++;
            assert_int_equal(it[i].revents, UIPC_POLLIN);
            assert_false(seen & (1 << i));
            /* Level-triggered: asking again reports it again. */
            uipc_pollitem again = it[i];
            assert_int_equal(uipc_poll(&again, 1, 0), 1);
            assert_int_equal(again.revents, UIPC_POLLIN);
            if (i == M_LISTENER) {
                uipc_channel *c;
                char b;
                assert_int_equal(uipc_accept(mx.l, &c, 0), 0);
                assert_int_equal(uipc_recv(c, &b, 1, T), 1);
                uipc_close(c);
            } else {
                int v = -1;
                assert_int_equal(uipc_recv(mx.mine[i], &v, sizeof v, 0), sizeof v);
                assert_int_equal(v, i);
            }
            seen |= 1 << i;
            /* Taken: no longer ready. */
            again.revents = 0;
            assert_int_equal(uipc_poll(&again, 1, 0), -EAGAIN);
        }
        assert_int_equal(count, n);
    }
    assert_int_equal(tu_wait(child), 0);
    mix_close();
    assert_int_equal(tu_count_fds(), fds);
}

/* The owner of a System V queue is not woken by its own replies. */
static void sysvmq_direction(void **state)
{
    (void)state;
    uipc_channel *own, *att;
    char u[64];
    snprintf(u, sizeof u, "sysvmq://0x%x", 0x76000000u | (unsigned)getpid());
    assert_int_equal(uipc_open(&own, u, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&att, u, 0), 0);
    uipc_pollitem it[2] = {{.ch = own, .events = UIPC_POLLIN}, {.ch = att, .events = UIPC_POLLIN}};
    assert_int_equal(uipc_send(own, "r", 1, T), 1); /* owner -> attachers */
    assert_int_equal(uipc_poll(it, 2, 0), 1);
    assert_int_equal(it[0].revents, 0);
    assert_int_equal(it[1].revents, UIPC_POLLIN);
    char b[4];
    assert_int_equal(uipc_recv(att, b, sizeof b, 0), 1);
    assert_int_equal(uipc_send(att, "q", 1, T), 1); /* attacher -> owner */
    assert_int_equal(uipc_poll(it, 2, T), 1);
    assert_int_equal(it[0].revents, UIPC_POLLIN);
    assert_int_equal(it[1].revents, 0);
    assert_int_equal(uipc_recv(own, b, sizeof b, 0), 1);
    uipc_close(att);
    uipc_close(own);
}

/* ---- a large message: UIPC_POLLIN only once all of it is there ---- */

static uipc_channel *big_peer;

static int big_writer(void *arg)
{
    size_t len = (size_t)(intptr_t)arg;
    unsigned char *m = malloc(len);
    tu_fill(m, len, 7);
    /* Slowly, in pieces the receiver could see half of, were it careless. */
    usleep(20000);
    int r = uipc_send(big_peer, m, len, T) == (ssize_t)len ? 0 : 1;
    free(m);
    usleep(100000);
    return r;
}

static void large_message_is_whole(const char *pair_uri)
{
    uipc_channel *a;
    size_t len = 3u << 20;
    assert_int_equal(uipc_pair(pair_uri, &a, &big_peer), 0);
    pid_t child = tu_fork(big_writer, (void *)(intptr_t)len);
    uipc_close(big_peer);
    uipc_pollitem it = {.ch = a, .events = UIPC_POLLIN};
    unsigned char *buf = malloc(len);
    assert_int_equal(uipc_poll(&it, 1, T), 1);
    assert_true(it.revents & UIPC_POLLIN);
    assert_int_equal(uipc_recv(a, buf, len, 0), (ssize_t)len); /* never -EAGAIN */
    assert_int_equal(tu_check(buf, len, 7), 0);
    free(buf);
    assert_int_equal(tu_wait(child), 0);
    /* The writer is gone: UIPC_POLLHUP, and the receive says -EPIPE. */
    assert_int_equal(uipc_poll(&it, 1, T), 1);
    assert_int_equal(it.revents, UIPC_POLLIN | UIPC_POLLHUP);
    assert_int_equal(uipc_recv(a, NULL, 0, 0), -EPIPE);
    uipc_close(a);
}

static void large_messages(void **state)
{
    (void)state;
    large_message_is_whole("unix:");
    large_message_is_whole("pipe:?maxmsg=4M");
    large_message_is_whole("shm:?size=8M");
}

/* ---- a peer killed while the caller is parked ---- */

static uipc_channel *victim;
static const char *victim_uri;

static int die_later(void *arg)
{
    (void)arg;
    if (!victim)
        uipc_open(&victim, victim_uri, 0); /* an end of its own */
    usleep(100000);
    raise(SIGKILL);
    return 0;
}

static void parked_peer_dies(const char *what, uipc_channel *mine, uipc_channel *theirs,
                             short events)
{
    int fds = tu_count_fds();
    victim = theirs;
    pid_t child = tu_fork(die_later, NULL);
    if (theirs)
        uipc_close(theirs); /* the child holds it now */
    uipc_pollitem it = {.ch = mine, .events = events};
    int n = uipc_poll(&it, 1, T); /* returns at the death, long before T */
    if (n != 1 || !(it.revents & UIPC_POLLHUP))
        fail_msg("%s: uipc_poll %d, revents %d", what, n, it.revents);
    if (events & UIPC_POLLIN)
        assert_int_equal(uipc_recv(mine, NULL, 0, 0), -EPIPE);
    assert_int_equal(tu_wait(child), 128 + SIGKILL);
    uipc_close(mine);
    (void)fds;
}

static void peer_killed_while_parked(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    uipc_channel *a, *b;
    const char *pairs[] = {"shm:", "unix:", "unix:?type=seqpacket", "pipe:"};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        assert_int_equal(uipc_pair(pairs[i], &a, &b), 0);
        parked_peer_dies(pairs[i], a, b, UIPC_POLLIN);
        /* Parked without UIPC_POLLIN: the end is reported all the same. */
        assert_int_equal(uipc_pair(pairs[i], &a, &b), 0);
        parked_peer_dies(pairs[i], a, b, 0);
    }
    /* A named shm: ring whose peer opens its end itself (its death comes
     * through its pidfd) and dies, and a tcp: connection. */
    char name[64], u[96];
    tu_name(name, sizeof name, "uipc-polldie-");
    snprintf(u, sizeof u, "shm://%s", name);
    assert_int_equal(uipc_open(&a, u, UIPC_CREATE), 0);
    victim_uri = u;
    parked_peer_dies("shm://", a, NULL, UIPC_POLLIN);
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, "tcp://127.0.0.1:0", 0), 0);
    assert_int_equal(uipc_open(&b, uipc_listener_uri(l), 0), 0);
    assert_int_equal(uipc_send(b, "", 0, T), 0);
    assert_int_equal(uipc_accept(l, &a, T), 0);
    uipc_listener_close(l);
    char c;
    assert_int_equal(uipc_recv(a, &c, 1, T), 0);
    parked_peer_dies("tcp:", a, b, UIPC_POLLIN);
    assert_int_equal(tu_count_fds(), fds);
}

/* ---- room to send ---- */

static void pollout_follows_room(const char *pair_uri)
{
    uipc_channel *a, *b;
    char msg[1024] = {0}, buf[1024];
    assert_int_equal(uipc_pair(pair_uri, &a, &b), 0);
    uipc_pollitem it = {.ch = a, .events = UIPC_POLLOUT};
    assert_int_equal(uipc_poll(&it, 1, 0), 1);
    assert_int_equal(it.revents, UIPC_POLLOUT);
    int sent = 0;
    while (uipc_send(a, msg, sizeof msg, 0) == sizeof msg)
        sent++;
    assert_true(sent > 0);
    /* Full: not writable now ... (a stream may still take a few bytes: then
     * a short message fits, which is what UIPC_POLLOUT promises) */
    int r = uipc_poll(&it, 1, 0);
    if (r == 1)
        assert_int_equal(uipc_send(a, "", 0, 0), 0);
    /* ... and writable again once the peer takes them (the kernel may wait
     * for more than one to go: a unix socket polls writable below a
     * quarter of its send buffer). */
    for (int i = 0; i < sent; i++)
        assert_int_equal(uipc_recv(b, buf, sizeof buf, T), sizeof buf);
    r = uipc_poll(&it, 1, T);
    if (r != 1 || it.revents != UIPC_POLLOUT)
        fail_msg("%s: %d %d after %d sent", pair_uri, r, it.revents, sent);
    uipc_close(a);
    uipc_close(b);
}

static void pollout(void **state)
{
    (void)state;
    pollout_follows_room("shm:?size=16K");
    pollout_follows_room("pipe:");
    pollout_follows_room("unix:?type=seqpacket");
}

/* ---- a ring that wraps while the poller is parked ---- */

/*
 * A skip record at the end of the ring is a committed record but no
 * message.  A poller that, while arming, finds only a skip (the producer
 * published it at reserve and commits the message later) must look again
 * and park again, not sleep on nothing.  The producer here reserves (every
 * message of 2 KiB in a 4 KiB ring wraps, so the skip is published at the
 * reserve) a varying few microseconds after its previous commit, when the
 * poller is arming, and commits a little later.
 */
#define WRAP_ROUNDS 3000

static int wrap_producer(void *arg)
{
    const char *u = arg;
    uipc_channel *ch;
    if (uipc_open(&ch, u, 0) < 0)
        return 1;
    for (int i = 0; i < WRAP_ROUNDS; i++) {
        void *p;
        for (volatile int spin = 0; spin < (i * 37) % 4000; spin++)
            ;
        if (uipc_send_reserve(ch, &p, 2048, T) < 0)
            return 2;
        memset(p, i & 0xff, 2048);
        usleep(50);
        if (uipc_send_commit(ch, 2048) < 0)
            return 3;
    }
    char ack;
    if (uipc_recv(ch, &ack, 1, T) != 1)
        return 4;
    uipc_close(ch);
    return 0;
}

static void ring_wraps_while_parked(void **state)
{
    (void)state;
    char name[64], u[96];
    static char buf[2048];
    tu_name(name, sizeof name, "uipc-pollwrap-");
    snprintf(u, sizeof u, "shm://%s?size=4K&spin=0", name);
    uipc_channel *ch;
    assert_int_equal(uipc_open(&ch, u, UIPC_CREATE), 0);
    pid_t child = tu_fork(wrap_producer, u);
    uipc_pollitem it = {.ch = ch, .events = UIPC_POLLIN};
    for (int i = 0; i < WRAP_ROUNDS; i++) {
        int r = uipc_poll(&it, 1, 2000);
        if (r != 1)
            fail_msg("message %d: uipc_poll %d (a wake-up was lost)", i, r);
        assert_int_equal(uipc_recv(ch, buf, sizeof buf, 0), sizeof buf);
        assert_int_equal((unsigned char)buf[0], i & 0xff);
    }
    assert_int_equal(uipc_send(ch, "k", 1, T), 1);
    assert_int_equal(tu_wait(child), 0);
    uipc_close(ch);
}

/* ---- many items, beyond the stack array ---- */

static void many_items(void **state)
{
    (void)state;
    int fds = tu_count_fds();
    enum { N = 100 };
    uipc_channel *a[N], *b[N];
    uipc_pollitem it[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(uipc_pair(i % 2 ? "pipe:" : "shm:?size=4K", &a[i], &b[i]), 0);
        it[i] = (uipc_pollitem){.ch = a[i], .events = UIPC_POLLIN};
    }
    assert_int_equal(uipc_poll(it, N, 0), -EAGAIN);
    assert_int_equal(uipc_send(b[37], "x", 1, T), 1);
    assert_int_equal(uipc_send(b[88], "y", 1, T), 1);
    assert_int_equal(uipc_poll(it, N, T), 2);
    for (int i = 0; i < N; i++)
        assert_int_equal(it[i].revents, (i == 37 || i == 88) ? UIPC_POLLIN : 0);
    for (int i = 0; i < N; i++) {
        uipc_close(a[i]);
        uipc_close(b[i]);
    }
    assert_int_equal(tu_count_fds(), fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(zero_items),
        cmocka_unit_test(mix_of_transports),
        cmocka_unit_test(sysvmq_direction),
        cmocka_unit_test(large_messages),
        cmocka_unit_test(peer_killed_while_parked),
        cmocka_unit_test(pollout),
        cmocka_unit_test(ring_wraps_while_parked),
        cmocka_unit_test(many_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
