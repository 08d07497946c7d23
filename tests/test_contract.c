/*
 * The contract under attack (issue 10, findings 7-14): what a careless
 * caller, a hostile peer or a dying peer can do to a channel, and what the
 * library must answer.  Each test names the finding it guards; the list
 * with what each protects against is in docs/RELIABILITY.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "uipc/uipc.h"

/* ---- finding 11: a timeout below -1 is -EINVAL, before anything happens ---- */

static const int bad_timeouts[] = {-2, -1000, INT32_MIN};
#define NBAD (sizeof bad_timeouts / sizeof bad_timeouts[0])

/* Every channel call with a timeout refuses a bad one and consumes nothing. */
static void check_channel_timeouts(const char *pair_uri)
{
    uipc_channel *a, *b;
    assert_int_equal(uipc_pair(pair_uri, &a, &b), 0);
    assert_int_equal(uipc_send(a, "m1", 2, 1000), 2);
    for (size_t i = 0; i < NBAD; i++) {
        int t = bad_timeouts[i];
        char buf[16];
        void *w;
        const void *r;
        uipc_msginfo info = {0, 0};
        assert_int_equal(uipc_send(a, "xx", 2, t), -EINVAL);
        assert_int_equal(uipc_sendmsg(a, "xx", 2, &info, t), -EINVAL);
        assert_int_equal(uipc_send_reserve(a, &w, 2, t), -EINVAL);
        assert_null(w);
        assert_int_equal(uipc_recv(b, buf, sizeof buf, t), -EINVAL);
        assert_int_equal(uipc_recvmsg(b, buf, sizeof buf, &info, t), -EINVAL);
        assert_int_equal(uipc_recv_peek(b, &r, t), -EINVAL);
        assert_null(r);
    }
    /* Nothing was sent or consumed: exactly m1 waits. */
    char buf[16];
    assert_int_equal(uipc_recv(b, buf, sizeof buf, 1000), 2);
    assert_memory_equal(buf, "m1", 2);
    assert_int_equal(uipc_recv(b, buf, sizeof buf, 0), -EAGAIN);
    assert_int_equal(uipc_close(a), 0);
    assert_int_equal(uipc_close(b), 0);
}

static void test_bad_timeout_channels(void **state)
{
    (void)state;
    check_channel_timeouts("pipe:");
    check_channel_timeouts("unix:");
    check_channel_timeouts("unix:?type=seqpacket");
    check_channel_timeouts("shm:");
}

static void test_bad_timeout_accept(void **state)
{
    (void)state;
    char name[64], uri[96];
    tu_name(name, sizeof name, "uipc-ct-acc-");
    snprintf(uri, sizeof uri, "unix:@%s", name);
    uipc_listener *l;
    assert_int_equal(uipc_listen(&l, uri, UIPC_CREATE), 0);
    uipc_channel *c, *s = (uipc_channel *)&s;
    assert_int_equal(uipc_open(&c, uri, 0), 0);
    assert_int_equal(uipc_accept(l, &s, -2), -EINVAL);
    assert_null(s);
    /* The waiting peer was not taken: a valid accept still gets it. */
    assert_int_equal(uipc_accept(l, &s, 1000), 0);
    assert_int_equal(uipc_send(c, "x", 1, 1000), 1);
    char b;
    assert_int_equal(uipc_recv(s, &b, 1, 1000), 1);
    uipc_close(s);
    uipc_close(c);
    uipc_listener_close(l);
}

static void test_bad_timeout_sync(void **state)
{
    (void)state;
    char name[64];
    tu_name(name, sizeof name, "ct-sem-");
    uipc_sem *s;
    assert_int_equal(uipc_sem_open(&s, name, 1, UIPC_CREATE | UIPC_EXCL), 0);
    for (size_t i = 0; i < NBAD; i++)
        assert_int_equal(uipc_sem_wait(s, bad_timeouts[i]), -EINVAL);
    assert_int_equal(uipc_sem_wait(s, 0), 0); /* the one unit is still there */
    assert_int_equal(uipc_sem_wait(s, 0), -EAGAIN);
    uipc_sem_close(s);
    uipc_sem_unlink(name);

    uipc_mutex *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_ptr_not_equal(m, MAP_FAILED);
    assert_int_equal(uipc_mutex_init(m), 0);
    for (size_t i = 0; i < NBAD; i++)
        assert_int_equal(uipc_mutex_lock(m, bad_timeouts[i]), -EINVAL);
    assert_int_equal(uipc_mutex_lock(m, 0), 0); /* it was not taken */
    assert_int_equal(uipc_mutex_unlock(m), 0);
    munmap(m, sizeof *m);

    assert_int_equal(uipc_notify_block(), 0);
    assert_int_equal(uipc_notify(getpid(), 7), 0);
    pid_t from;
    int value;
    for (size_t i = 0; i < NBAD; i++)
        assert_int_equal(uipc_notify_wait(&from, &value, bad_timeouts[i]), -EINVAL);
    assert_int_equal(uipc_notify_wait(&from, &value, 1000), 0); /* not consumed */
    assert_int_equal(value, 7);
}

/* ---- finding 8: tcp: send after the peer's end was seen is -EPIPE ---- */

static void test_tcp_send_after_eof(void **state)
{
    (void)state;
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", tu_free_port(SOCK_STREAM));
    uipc_channel *srv, *cli;
    assert_int_equal(uipc_open(&srv, uri, UIPC_CREATE), 0);
    assert_int_equal(uipc_open(&cli, uri, 0), 0);
    assert_int_equal(uipc_send(cli, "hi", 2, 2000), 2);
    char buf[8];
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 2000), 2);
    assert_int_equal(uipc_close(cli), 0);
    assert_int_equal(uipc_recv(srv, buf, sizeof buf, 2000), -EPIPE);
    /* The kernel would still take these bytes (the RST comes later): the
     * end of stream already said that nobody will read them. */
    assert_int_equal(uipc_send(srv, "x", 1, 1000), -EPIPE);
    assert_int_equal(uipc_send(srv, "x", 1, 1000), -EPIPE);
    assert_int_equal(uipc_close(srv), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE must kill the test, not pass unseen */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_timeout_channels),
        cmocka_unit_test(test_bad_timeout_accept),
        cmocka_unit_test(test_bad_timeout_sync),
        cmocka_unit_test(test_tcp_send_after_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
