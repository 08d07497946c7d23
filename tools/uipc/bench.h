/* SPDX-License-Identifier: MIT */
/*
 * uipc bench internals: a "case" is one way of moving messages between two
 * processes (a libuipc URI, a raw kernel mechanism, a peer library), seen
 * through the same five operations so that bench.c measures them all with
 * the same loops.  bench_uipc.c, bench_raw.c and bench_peers.c each add
 * their cases; svg.c draws the results.
 *
 * The life of one measurement unit (one case, one message size, one round):
 * the orchestrator forks a driver (pinned to the first CPU), which calls
 * prepare, forks the echo process (pinned to the second CPU), and both call
 * open for their side: the side that creates the rendezvous first, then the
 * other, told through a control pipe.  The driver then runs ping-pong and
 * streaming loops while the echo answers, and reports one bench_result.
 */
#ifndef UIPC_BENCH_H
#define UIPC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uipc/uipc.h>

#define BENCH_MAX_CASES 40
#define BENCH_MAX_SIZES 8

enum bench_group { GROUP_UIPC, GROUP_RAW, GROUP_PEER };

struct bench_link {
    const struct bench_case *bc;
    size_t size;           /* the message size of this unit */
    int side;              /* 0 driver, 1 echo */
    char tmpdir[256];      /* private directory for path rendezvous */
    char name[64];         /* unique name for kernel namespaces */
    int port;              /* a free loopback port, when the case wants one */
    unsigned seq;          /* the unit's number in this run */
    char uri[1024];
    int timeout_ms;        /* no single send or receive waits longer */
    int fd[4];
    void *ptr[4];
    size_t len[2];
    uipc_channel *ch[2];
    char note[96];         /* why the unit was skipped */
};

struct bench_case {
    char name[64];         /* row label: "uipc unix", "raw pipe", "zmq ipc" */
    enum bench_group group;
    const char *raw;       /* uipc: name of its raw counterpart row, or NULL */
    char uri_fmt[512];     /* uipc: URI with {tmp} {name} {port} {size} {ring} {depth} {key} */
    bool pair;             /* uipc: uipc_pair before fork */
    bool echo_first;       /* the echo side creates the rendezvous */
    bool lossy;            /* may drop messages when streaming (udp) */
    bool lat_only;         /* measures latency only (the cache-line floor) */
    bool unpinned;         /* both processes may run on any CPU */
    /* Driver, before the echo is forked: what both sides inherit.  0 or -errno
     * (-ENOTSUP etc. skip the unit with link->note). */
    int (*prepare)(struct bench_link *l);
    /* Each side after the fork. */
    int (*open)(struct bench_link *l);
    /* One message of len bytes; 0 or -errno. */
    int (*send)(struct bench_link *l, const void *buf, size_t len);
    /* One message of exactly len bytes into buf; 0 or -errno. */
    int (*recv)(struct bench_link *l, void *buf, size_t len);
    void (*close)(struct bench_link *l);
    /* A case measured in one process (memcpy): ns per operation on size bytes. */
    double (*local)(size_t size, double seconds);
};

struct bench_result {
    bool lat_ok, thr_ok;
    double p50, p99, p999, max; /* one-way, ns */
    double msgs, mbps;          /* messages/s and MB/s (10^6 bytes) */
    long iters, count;
    char note[96];
};

/* Adders: each appends its cases to list (at most BENCH_MAX_CASES). */
/*
 * Appends a case to list: zeroed, with its group, row name, what it
 * measures (uri_fmt; may be NULL) and operations.  NULL when list is full.
 */
struct bench_case *bench_case_add(struct bench_case *list, size_t *n, enum bench_group group,
                                  const char *name, const char *what,
                                  int (*prepare)(struct bench_link *),
                                  int (*open)(struct bench_link *),
                                  int (*send)(struct bench_link *, const void *, size_t),
                                  int (*recv)(struct bench_link *, void *, size_t),
                                  void (*close_fn)(struct bench_link *));
void bench_add_uipc_defaults(struct bench_case *list, size_t *n);
int bench_add_uipc_uri(struct bench_case *list, size_t *n, const char *uri);
void bench_add_uipc_shm_variants(struct bench_case *list, size_t *n);
void bench_add_raw(struct bench_case *list, size_t *n);
void bench_add_peers(struct bench_case *list, size_t *n);

/*
 * ZeroMQ and nng, never linked: bench_peers.c loads libzmq.so.5 and
 * libnng.so.1 with dlopen when they are installed.  The calls and
 * constants used are declared here from the libraries' stable ABIs
 * (libzmq 4.x, nng 1.x), so building needs neither development package.
 * bench_zmq()/bench_nng() return the loaded calls, or NULL with note (may
 * be NULL) saying why: "not installed (libzmq.so.5)".
 */
enum { ZMQ_PAIR = 0, ZMQ_REQ = 3, ZMQ_ROUTER = 6, ZMQ_SNDMORE = 2, ZMQ_LINGER = 17,
       ZMQ_RCVTIMEO = 27, ZMQ_SNDTIMEO = 28 };
struct bench_zmq {
    void *(*ctx_new)(void);
    int (*ctx_term)(void *ctx);
    void *(*socket)(void *ctx, int type);
    int (*setsockopt)(void *s, int opt, const void *val, size_t len);
    int (*bind)(void *s, const char *addr);
    int (*connect)(void *s, const char *addr);
    int (*send)(void *s, const void *buf, size_t len, int flags);
    int (*recv)(void *s, void *buf, size_t len, int flags);
    int (*close)(void *s);
    int (*errno_)(void);
    const char *(*strerror)(int err);
};
const struct bench_zmq *bench_zmq(char *note, size_t cap);

typedef struct nng_socket_s {
    uint32_t id;
} nng_socket;
enum { NNG_ETIMEDOUT = 5 };
struct bench_nng {
    int (*pair1_open)(nng_socket *s);
    int (*rep0_open)(nng_socket *s);
    int (*req0_open)(nng_socket *s);
    int (*close)(nng_socket s);
    int (*socket_set_size)(nng_socket s, const char *opt, size_t v);
    int (*socket_set_ms)(nng_socket s, const char *opt, int32_t ms);
    int (*listen)(nng_socket s, const char *url, void *listener, int flags);
    int (*dial)(nng_socket s, const char *url, void *dialer, int flags);
    int (*send)(nng_socket s, void *buf, size_t len, int flags);
    int (*recv)(nng_socket s, void *buf, size_t *len, int flags);
    const char *(*strerror)(int err);
};
const struct bench_nng *bench_nng(char *note, size_t cap);

/*
 * bench --servers (bench_server.c): one server thread against 1, 8 and 64
 * client processes, request/reply, libuipc listeners with uipc_poll beside
 * ZeroMQ ROUTER/REQ and nng rep0/req0.  Prints a table (or JSON); returns
 * 0 or 1.
 */
int bench_servers(bool quick, int rounds, bool json);

/* 0, or -EMSGSIZE with l->note set when size exceeds a kernel limit of the
 * mechanism (fs.mqueue.msgsize_max, kernel.msgmax, a UDP datagram). */
int bench_kernel_limit(struct bench_link *l, const char *scheme);
/* The ring size the shm: cases and the ring floor use for size-byte messages. */
size_t bench_ring_size(size_t size);
/* Substitutes {tmp} {name} ... in fmt for this link into out. */
void bench_expand(const struct bench_link *l, const char *fmt, char *out, size_t cap);
/* A free TCP or UDP port on 127.0.0.1, or -errno. */
int bench_free_port(int type);
/* Monotonic time in ns. */
double bench_now_ns(void);

/* One row of output: a case at one size, medians over the rounds. */
struct bench_row {
    const struct bench_case *bc;
    size_t size;
    struct bench_result r;
    double ratio_best;        /* p50 / the fastest p50 at this size */
    double ratio_raw_lat;     /* p50 / raw counterpart's p50; 0 if none */
    double ratio_raw_thr;     /* msgs / raw counterpart's msgs; 0 if none */
};

/* uipc bench --pubsub (bench_pubsub.c): the publish/subscribe table. */
int bench_pubsub(bool quick, bool tiny, bool peers);

int bench_write_svg(const char *path, const struct bench_row *rows, size_t nrows,
                    const size_t *sizes, size_t nsizes, const char *subtitle);

#endif /* UIPC_BENCH_H */
