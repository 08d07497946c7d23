/* SPDX-License-Identifier: MIT */
/*
 * uipc bench: the libraries people would otherwise pick, measured in the
 * same run with the same loops — ZeroMQ PAIR sockets over ipc:// and
 * tcp://, and nng pair1 over ipc://.
 *
 * Neither is a dependency of the tool: each is loaded with dlopen
 * (libzmq.so.5, libnng.so.1) when the benchmark prepares its row, so an
 * installed uipc runs on a machine that has neither, and the row then says
 * "not installed".  The few calls and constants used are declared in
 * bench.h from the libraries' stable ABIs (libzmq 4.x, nng 1.x), so no
 * development package is needed to build either; bench_server.c uses the
 * same loaded calls.  Both libraries start threads, so
 * every socket is made after the fork, in the process that uses it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"

/*
 * Resolves each name of syms into the function pointer at the same index
 * of fns from soname.  0, or -ENOTSUP with note saying what is missing.
 * The handle is never closed: the libraries' threads may outlive any row.
 */
static int load_peer(const char *soname, const char *const *syms, void (**fns)(void), size_t n,
                     char *note, size_t cap)
{
    char unused[96];
    if (!note) {
        note = unused;
        cap = sizeof unused;
    }
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(note, cap, "not installed (%s)", soname);
        return -ENOTSUP;
    }
    for (size_t i = 0; i < n; i++) {
        /* POSIX lets a data pointer from dlsym become a function pointer. */
        void *p = dlsym(h, syms[i]);
        if (!p) {
            snprintf(note, cap, "%s lacks %s", soname, syms[i]);
            return -ENOTSUP;
        }
        memcpy(&fns[i], &p, sizeof p);
    }
    return 0;
}

#define NSYMS(a) (sizeof(a) / sizeof *(a))
#define MAX_SYMS 16

/* Fills calls, a struct of n function pointers, from soname once per
 * process (forked sides inherit it).  calls, or NULL with note set. */
static const void *load_once(void (**calls)(void), const char *soname, const char *const *syms,
                             size_t n, char *note, size_t cap)
{
    if (!calls[0]) {
        void (*api[MAX_SYMS])(void);
        if (n > MAX_SYMS || load_peer(soname, syms, api, n, note, cap) < 0)
            return NULL;
        memcpy(calls, api, n * sizeof *api);
    }
    return calls;
}

/* ---- ZeroMQ ---- */

static const char *const zmq_syms[] = {
    "zmq_ctx_new", "zmq_ctx_term", "zmq_socket", "zmq_setsockopt", "zmq_bind", "zmq_connect",
    "zmq_send",    "zmq_recv",     "zmq_close",  "zmq_errno",      "zmq_strerror"};

const struct bench_zmq *bench_zmq(char *note, size_t cap)
{
    static struct bench_zmq calls;
    _Static_assert(sizeof calls == NSYMS(zmq_syms) * sizeof(void (*)(void)), "one symbol per member");
    return load_once((void (**)(void))&calls, "libzmq.so.5", zmq_syms, NSYMS(zmq_syms), note, cap);
}

static int zmq_load(struct bench_link *l)
{
    l->ptr[2] = (void *)bench_zmq(l->note, sizeof l->note);
    return l->ptr[2] ? 0 : -ENOTSUP;
}

/* ptr[0] the context, ptr[1] the socket; uri: the endpoint. */
static int zmq_prepare_ipc(struct bench_link *l)
{
    snprintf(l->uri, sizeof l->uri, "ipc://%s/zmq.ipc", l->tmpdir);
    return zmq_load(l);
}

static int zmq_prepare_tcp(struct bench_link *l)
{
    int port = bench_free_port(SOCK_STREAM);
    if (port < 0)
        return port;
    snprintf(l->uri, sizeof l->uri, "tcp://127.0.0.1:%d", port);
    return zmq_load(l);
}

static int zmq_link_open(struct bench_link *l)
{
    const struct bench_zmq *z = l->ptr[2];
    int timeout = l->timeout_ms, linger = 0;
    l->ptr[0] = z->ctx_new();
    if (!l->ptr[0])
        return -errno;
    l->ptr[1] = z->socket(l->ptr[0], ZMQ_PAIR);
    if (!l->ptr[1])
        goto fail;
    z->setsockopt(l->ptr[1], ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    z->setsockopt(l->ptr[1], ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    z->setsockopt(l->ptr[1], ZMQ_LINGER, &linger, sizeof linger);
    if ((l->side == 0 ? z->bind(l->ptr[1], l->uri) : z->connect(l->ptr[1], l->uri)) < 0)
        goto fail;
    return 0;
fail:;
    int r = -z->errno_();
    snprintf(l->note, sizeof l->note, "zmq: %s", z->strerror(-r));
    if (l->ptr[1])
        z->close(l->ptr[1]);
    z->ctx_term(l->ptr[0]);
    l->ptr[0] = l->ptr[1] = NULL;
    return r < 0 ? r : -EIO;
}

static int zmq_link_send(struct bench_link *l, const void *buf, size_t len)
{
    const struct bench_zmq *z = l->ptr[2];
    int n;
    while ((n = z->send(l->ptr[1], buf, len, 0)) < 0 && z->errno_() == EINTR)
        ;
    return n < 0 ? -z->errno_() : 0;
}

static int zmq_link_recv(struct bench_link *l, void *buf, size_t len)
{
    const struct bench_zmq *z = l->ptr[2];
    int n;
    while ((n = z->recv(l->ptr[1], buf, len, 0)) < 0 && z->errno_() == EINTR)
        ;
    if (n < 0)
        return z->errno_() == EAGAIN ? -ETIMEDOUT : -z->errno_();
    return (size_t)n == len ? 0 : -EBADMSG;
}

static void zmq_link_close(struct bench_link *l)
{
    const struct bench_zmq *z = l->ptr[2];
    if (l->ptr[1])
        z->close(l->ptr[1]);
    if (l->ptr[0])
        z->ctx_term(l->ptr[0]);
}

/* ---- nng ---- */

static const char *const nng_syms[] = {"nng_pair1_open", "nng_rep0_open",       "nng_req0_open",
                                       "nng_close",      "nng_socket_set_size", "nng_socket_set_ms",
                                       "nng_listen",     "nng_dial",            "nng_send",
                                       "nng_recv",       "nng_strerror"};

const struct bench_nng *bench_nng(char *note, size_t cap)
{
    static struct bench_nng calls;
    _Static_assert(sizeof calls == NSYMS(nng_syms) * sizeof(void (*)(void)), "one symbol per member");
    return load_once((void (**)(void))&calls, "libnng.so.1", nng_syms, NSYMS(nng_syms), note, cap);
}

/* fd[0] holds the socket id, ptr[2] the calls. */
static int nng_prepare_ipc(struct bench_link *l)
{
    snprintf(l->uri, sizeof l->uri, "ipc://%s/nng.ipc", l->tmpdir);
    l->ptr[2] = (void *)bench_nng(l->note, sizeof l->note);
    return l->ptr[2] ? 0 : -ENOTSUP;
}

static nng_socket nng_sock(const struct bench_link *l)
{
    nng_socket s;
    s.id = (uint32_t)l->fd[0];
    return s;
}

static int nng_link_open(struct bench_link *l)
{
    const struct bench_nng *g = l->ptr[2];
    nng_socket s;
    int e = g->pair1_open(&s);
    if (e == 0) {
        l->fd[0] = (int)s.id;
        g->socket_set_size(s, "recv-size-max", 0); /* no limit: 1 MiB messages too */
        g->socket_set_ms(s, "recv-timeout", l->timeout_ms);
        g->socket_set_ms(s, "send-timeout", l->timeout_ms);
        e = l->side == 0 ? g->listen(s, l->uri, NULL, 0) : g->dial(s, l->uri, NULL, 0);
        if (e)
            g->close(s);
    }
    if (e) {
        snprintf(l->note, sizeof l->note, "nng: %s", g->strerror(e));
        l->fd[0] = -1;
        return -EIO;
    }
    return 0;
}

static int nng_link_send(struct bench_link *l, const void *buf, size_t len)
{
    const struct bench_nng *g = l->ptr[2];
    int e = g->send(nng_sock(l), (void *)buf, len, 0);
    return e == 0 ? 0 : e == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

static int nng_link_recv(struct bench_link *l, void *buf, size_t len)
{
    const struct bench_nng *g = l->ptr[2];
    size_t got = len;
    int e = g->recv(nng_sock(l), buf, &got, 0);
    if (e)
        return e == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO;
    return got == len ? 0 : -EBADMSG;
}

static void nng_link_close(struct bench_link *l)
{
    const struct bench_nng *g = l->ptr[2];
    if (l->fd[0] >= 0)
        g->close(nng_sock(l));
}

void bench_add_peers(struct bench_case *list, size_t *n)
{
    bench_case_add(list, n, GROUP_PEER, "zmq ipc", "ipc:// ZMQ_PAIR", zmq_prepare_ipc,
                   zmq_link_open, zmq_link_send, zmq_link_recv, zmq_link_close);
    bench_case_add(list, n, GROUP_PEER, "zmq tcp", "tcp:// ZMQ_PAIR", zmq_prepare_tcp,
                   zmq_link_open, zmq_link_send, zmq_link_recv, zmq_link_close);
    bench_case_add(list, n, GROUP_PEER, "nng ipc", "ipc:// pair1", nng_prepare_ipc,
                   nng_link_open, nng_link_send, nng_link_recv, nng_link_close);
}
