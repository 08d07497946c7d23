/* SPDX-License-Identifier: MIT */
/*
 * uipc bench: the libraries people would otherwise pick, measured in the
 * same run with the same loops — ZeroMQ PAIR sockets over ipc:// and
 * tcp://, and nng pair1 over ipc://.  Each is compiled in only when the
 * build found it (UIPC_HAVE_ZMQ, UIPC_HAVE_NNG: optional dependencies found
 * through pkg-config or CMake).  Both libraries start threads, so every
 * socket is made after the fork, in the process that uses it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"

#ifdef UIPC_HAVE_ZMQ
#include <zmq.h>

/* ptr[0] the context, ptr[1] the socket; uri: the endpoint. */
static int zmq_prepare_ipc(struct bench_link *l)
{
    snprintf(l->uri, sizeof l->uri, "ipc://%s/zmq.ipc", l->tmpdir);
    return 0;
}

static int zmq_prepare_tcp(struct bench_link *l)
{
    int port = bench_free_port(SOCK_STREAM);
    if (port < 0)
        return port;
    snprintf(l->uri, sizeof l->uri, "tcp://127.0.0.1:%d", port);
    return 0;
}

static int zmq_link_open(struct bench_link *l)
{
    int timeout = l->timeout_ms, linger = 0;
    l->ptr[0] = zmq_ctx_new();
    if (!l->ptr[0])
        return -errno;
    l->ptr[1] = zmq_socket(l->ptr[0], ZMQ_PAIR);
    if (!l->ptr[1])
        goto fail;
    zmq_setsockopt(l->ptr[1], ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(l->ptr[1], ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(l->ptr[1], ZMQ_LINGER, &linger, sizeof linger);
    if ((l->side == 0 ? zmq_bind(l->ptr[1], l->uri) : zmq_connect(l->ptr[1], l->uri)) < 0)
        goto fail;
    return 0;
fail:;
    int r = -zmq_errno();
    snprintf(l->note, sizeof l->note, "zmq: %s", zmq_strerror(-r));
    if (l->ptr[1])
        zmq_close(l->ptr[1]);
    zmq_ctx_term(l->ptr[0]);
    l->ptr[0] = l->ptr[1] = NULL;
    return r < 0 ? r : -EIO;
}

static int zmq_link_send(struct bench_link *l, const void *buf, size_t len)
{
    int n;
    while ((n = zmq_send(l->ptr[1], buf, len, 0)) < 0 && zmq_errno() == EINTR)
        ;
    return n < 0 ? -zmq_errno() : 0;
}

static int zmq_link_recv(struct bench_link *l, void *buf, size_t len)
{
    int n;
    while ((n = zmq_recv(l->ptr[1], buf, len, 0)) < 0 && zmq_errno() == EINTR)
        ;
    if (n < 0)
        return zmq_errno() == EAGAIN ? -ETIMEDOUT : -zmq_errno();
    return (size_t)n == len ? 0 : -EBADMSG;
}

static void zmq_link_close(struct bench_link *l)
{
    if (l->ptr[1])
        zmq_close(l->ptr[1]);
    if (l->ptr[0])
        zmq_ctx_term(l->ptr[0]);
}
#endif

#ifdef UIPC_HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

/* fd[0] holds the socket id. */
static int nng_prepare_ipc(struct bench_link *l)
{
    snprintf(l->uri, sizeof l->uri, "ipc://%s/nng.ipc", l->tmpdir);
    return 0;
}

static nng_socket nng_sock(const struct bench_link *l)
{
    nng_socket s;
    s.id = (uint32_t)l->fd[0];
    return s;
}

static int nng_link_open(struct bench_link *l)
{
    nng_socket s;
    int e = nng_pair1_open(&s);
    if (e == 0) {
        l->fd[0] = (int)s.id;
        nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0); /* no limit: 1 MiB messages too */
        nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, l->timeout_ms);
        nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, l->timeout_ms);
        e = l->side == 0 ? nng_listen(s, l->uri, NULL, 0) : nng_dial(s, l->uri, NULL, 0);
        if (e)
            nng_close(s);
    }
    if (e) {
        snprintf(l->note, sizeof l->note, "nng: %s", nng_strerror(e));
        l->fd[0] = -1;
        return -EIO;
    }
    return 0;
}

static int nng_link_send(struct bench_link *l, const void *buf, size_t len)
{
    int e = nng_send(nng_sock(l), (void *)buf, len, 0);
    return e == 0 ? 0 : e == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

static int nng_link_recv(struct bench_link *l, void *buf, size_t len)
{
    size_t got = len;
    int e = nng_recv(nng_sock(l), buf, &got, 0);
    if (e)
        return e == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO;
    return got == len ? 0 : -EBADMSG;
}

static void nng_link_close(struct bench_link *l)
{
    if (l->fd[0] >= 0)
        nng_close(nng_sock(l));
}
#endif

void bench_add_peers(struct bench_case *list, size_t *n)
{
    (void)list;
    (void)n;
#ifdef UIPC_HAVE_ZMQ
    bench_case_add(list, n, GROUP_PEER, "zmq ipc", "ipc:// ZMQ_PAIR", zmq_prepare_ipc,
                   zmq_link_open, zmq_link_send, zmq_link_recv, zmq_link_close);
    bench_case_add(list, n, GROUP_PEER, "zmq tcp", "tcp:// ZMQ_PAIR", zmq_prepare_tcp,
                   zmq_link_open, zmq_link_send, zmq_link_recv, zmq_link_close);
#endif
#ifdef UIPC_HAVE_NNG
    bench_case_add(list, n, GROUP_PEER, "nng ipc", "ipc:// pair1", nng_prepare_ipc,
                   nng_link_open, nng_link_send, nng_link_recv, nng_link_close);
#endif
}
