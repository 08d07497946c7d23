/* SPDX-License-Identifier: MIT */
/*
 * web_workers: a pre-forked HTTP/1.0 server.  The master accepts TCP
 * connections and hands each request to a pool of worker processes over a
 * libuipc listener (each worker is a client of it); the workers share a
 * response cache in a shared region guarded by a robust uipc_mutex, and
 * report their statistics back with every reply.
 *
 *   web_workers [--listen tcp://HOST:PORT] [--workers N] [--ipc URI]
 *
 * --listen is the HTTP address (default tcp://127.0.0.1:8080; port 0 lets
 * the kernel choose); the first line on standard output says where it
 * listens: "web_workers: listening on http://127.0.0.1:PORT/".  --ipc is
 * the libuipc URI the workers connect to (default shm://uipc-web-PID: each
 * worker gets rings of its own in shared memory; unix:@name or
 * tcp://127.0.0.1:0 work the same): changing the transport is changing
 * this string.  Pages: /stats (the
 * master's own: requests, restarts, cache, per worker), /crash (the worker
 * dies holding the cache lock, on the first attempt only: it shows the
 * -EOWNERDEAD repair), anything else (a page rendered by a worker and
 * cached).  SIGINT or SIGTERM stops it cleanly.
 *
 * Inside the master, two threads, each with its own handles: the HTTP
 * thread polls the sockets and the receiving end of a pipe: pair from the
 * dispatcher (uipc_pollfd in an ordinary poll set); the dispatcher waits
 * with one uipc_poll on the worker listener, every worker channel and the
 * pipe: pair from the HTTP thread.
 *
 * A worker killed at any moment (SIGKILL included): its channel reports
 * UIPC_POLLHUP, the dispatcher starts a new worker in its place at once and
 * re-dispatches the request that worker held to another (requests are GETs:
 * doing one twice is harmless).  A request that has killed MAX_ATTEMPTS
 * workers is answered 503.  No request waits on a dead worker.  A worker
 * that died holding the cache lock leaves the cache half-written: the next
 * locker gets -EOWNERDEAD and empties the cache (counted as a repair).
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uipc/uipc.h>

#define MAX_WORKERS 64
#define MAX_CONNS 1024
#define MAX_OUTSTANDING 128 /* requests in the dispatcher at once: bounds both pipes */
#define MAX_PENDING 1024
#define MAX_ATTEMPTS 3
#define PATH_LEN 256
#define BODY_MAX 2048
#define REQ_MAX 8192
#define CACHE_SLOTS 256
#define TICK_MS 200 /* how often each loop looks at the stop flag and children */

/* ---- messages ---- */

enum { W_HELLO = 1, W_REQ = 2, W_REP = 3 };

struct wmsg { /* master <-> worker, and dispatcher <-> HTTP thread */
    uint32_t kind;
    uint32_t conn;     /* the HTTP connection the request came from */
    uint32_t attempt;  /* request: how many workers died of it already */
    uint32_t status;   /* reply: HTTP status */
    uint32_t pid;      /* reply, hello: the worker */
    uint32_t cache_hit;
    uint64_t served, hits; /* reply: the worker's totals (its statistics) */
    uint32_t len;      /* bytes in text */
    char text[PATH_LEN + BODY_MAX]; /* request: the path; reply: the body */
};

static size_t wmsg_size(const struct wmsg *m)
{
    return offsetof(struct wmsg, text) + m->len;
}

/* ---- the shared cache ---- */

struct cache_entry {
    uint32_t used;
    uint32_t len;
    char path[PATH_LEN];
    char body[BODY_MAX];
};

struct cache {
    uipc_mutex lock;
    uint64_t repairs; /* times a locker found the owner dead and emptied it */
    struct cache_entry e[CACHE_SLOTS];
};

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* Locks the cache; a dead owner left it half-written: empty it. */
static int cache_lock(struct cache *c)
{
    int r = uipc_mutex_lock(&c->lock, 5000);
    if (r == -EOWNERDEAD) {
        memset(c->e, 0, sizeof c->e);
        c->repairs++;
        r = 0;
    }
    return r;
}

/* ---- worker ---- */

/* The page: some work to make it worth caching. */
static uint32_t render(const char *path, char *body)
{
    uint32_t h = hash(path);
    for (int i = 0; i < 20000; i++)
        h = h * 1103515245u + 12345u;
    int n = snprintf(body, BODY_MAX,
                     "<html><body><h1>libuipc web workers</h1>\n"
                     "<p>path %s, digest %08x</p></body></html>\n",
                     path, h);
    return n < 0 ? 0 : (uint32_t)n;
}

static int worker_main(const char *ipc_uri, const char *region_uri)
{
    uipc_channel *ch;
    uipc_region *rg;
    int r = uipc_region_open(&rg, region_uri, 0);
    if (r < 0 || (r = uipc_open(&ch, ipc_uri, 0)) < 0) {
        fprintf(stderr, "web_workers: worker %d: %s\n", (int)getpid(), uipc_strerror(r));
        return 1;
    }
    struct cache *c = uipc_region_ptr(rg);
    static struct wmsg m, rep;
    m = (struct wmsg){.kind = W_HELLO, .pid = (uint32_t)getpid()};
    if (uipc_send(ch, &m, wmsg_size(&m), 5000) < 0)
        return 1;
    uint64_t served = 0, hits = 0;
    for (;;) {
        ssize_t n = uipc_recv(ch, &m, sizeof m, UIPC_FOREVER);
        if (n == -EPIPE)
            break; /* the master is gone or let us go */
        if (n < (ssize_t)offsetof(struct wmsg, text) || m.kind != W_REQ || m.len >= PATH_LEN)
            continue;
        m.text[m.len] = '\0';
        rep = (struct wmsg){.kind = W_REP, .conn = m.conn, .status = 200, .pid = (uint32_t)getpid()};
        struct cache_entry *e = &c->e[hash(m.text) % CACHE_SLOTS];
        if (cache_lock(c) < 0) {
            rep.status = 503;
        } else {
            if (strcmp(m.text, "/crash") == 0 && m.attempt == 0) {
                strcpy(e->path, "/torn"); /* half an update, then death */
                raise(SIGKILL);
            }
            if (e->used && strcmp(e->path, m.text) == 0 && e->len <= BODY_MAX) {
                memcpy(rep.text, e->body, e->len);
                rep.len = e->len;
                rep.cache_hit = 1;
            }
            uipc_mutex_unlock(&c->lock);
        }
        if (rep.status == 200 && !rep.cache_hit) {
            rep.len = render(m.text, rep.text);
            if (cache_lock(c) == 0) {
                e->used = 1;
                memcpy(e->path, m.text, m.len + 1); /* m.len < PATH_LEN */
                memcpy(e->body, rep.text, rep.len);
                e->len = rep.len;
                uipc_mutex_unlock(&c->lock);
            }
        }
        served++;
        hits += rep.cache_hit;
        rep.served = served;
        rep.hits = hits;
        if (uipc_send(ch, &rep, wmsg_size(&rep), 5000) < 0)
            break;
    }
    uipc_close(ch);
    uipc_region_close(rg);
    return 0;
}

/* ---- master: shared state ---- */

static volatile sig_atomic_t stopping;
static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static char self_exe[4096];
static char ipc_uri[256], region_uri[128];

struct worker {
    pid_t pid;          /* 0: slot empty */
    uipc_channel *ch;   /* NULL until its hello arrived */
    bool busy;
    struct wmsg req;    /* the request it holds while busy */
    uint64_t served, hits;
};

struct dispatcher {
    uipc_listener *l;
    uipc_channel *from_http, *to_http;
    struct worker w[MAX_WORKERS];
    int nworkers;
    struct wmsg *pending; /* FIFO of requests waiting for a worker */
    size_t head, count;
    uint64_t requests, restarts, redispatched, refused;
    struct cache *cache;
};

static pid_t spawn_worker(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* Every libuipc descriptor is close-on-exec: the worker starts clean. */
        execl(self_exe, "web_workers", "--worker", ipc_uri, region_uri, (char *)NULL);
        _exit(127);
    }
    return pid < 0 ? 0 : pid;
}

static void reply(struct dispatcher *d, uint32_t conn, uint32_t status, const char *body)
{
    static struct wmsg m;
    m = (struct wmsg){.kind = W_REP, .conn = conn, .status = status};
    int n = snprintf(m.text, BODY_MAX, "%s", body);
    m.len = n < 0 ? 0 : n >= BODY_MAX ? BODY_MAX - 1 : (uint32_t)n;
    uipc_send(d->to_http, &m, wmsg_size(&m), UIPC_FOREVER);
}

static void stats_page(struct dispatcher *d, uint32_t conn)
{
    char body[BODY_MAX];
    uint64_t repairs = 0;
    if (cache_lock(d->cache) == 0) {
        repairs = d->cache->repairs;
        uipc_mutex_unlock(&d->cache->lock);
    }
    int n = snprintf(body, sizeof body,
                     "requests %llu\nrestarts %llu\nredispatched %llu\nrefused %llu\n"
                     "cache_repairs %llu\nworkers %d\n",
                     (unsigned long long)d->requests, (unsigned long long)d->restarts,
                     (unsigned long long)d->redispatched, (unsigned long long)d->refused,
                     (unsigned long long)repairs, d->nworkers);
    for (int i = 0; i < d->nworkers && n > 0 && (size_t)n < sizeof body; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, "worker %d pid %d served %llu hits %llu\n",
                      i, (int)d->w[i].pid, (unsigned long long)d->w[i].served,
                      (unsigned long long)d->w[i].hits);
    reply(d, conn, 200, body);
}

static void enqueue(struct dispatcher *d, const struct wmsg *m, bool front)
{
    if (d->count == MAX_PENDING) {
        reply(d, m->conn, 503, "busy\n");
        return;
    }
    size_t at = front ? (d->head + MAX_PENDING - 1) % MAX_PENDING : (d->head + d->count) % MAX_PENDING;
    if (front)
        d->head = at;
    d->pending[at] = *m;
    d->count++;
}

/* A worker's channel hung up (or it died before saying hello): start a
 * new one in its place and hand its request to someone else. */
static void replace_worker(struct dispatcher *d, struct worker *w)
{
    if (w->ch)
        uipc_close(w->ch);
    if (w->busy) {
        w->req.attempt++;
        if (w->req.attempt >= MAX_ATTEMPTS) {
            d->refused++;
            reply(d, w->req.conn, 503, "the workers died of this request\n");
        } else {
            d->redispatched++;
            enqueue(d, &w->req, true);
        }
    }
    *w = (struct worker){.pid = spawn_worker()};
    d->restarts++;
}

static void dispatch(struct dispatcher *d)
{
    for (int i = 0; i < d->nworkers && d->count; i++) {
        struct worker *w = &d->w[i];
        if (!w->ch || w->busy)
            continue;
        w->req = d->pending[d->head];
        w->req.kind = W_REQ;
        if (uipc_send(w->ch, &w->req, wmsg_size(&w->req), 0) < 0)
            continue; /* its hang-up comes through uipc_poll */
        d->head = (d->head + 1) % MAX_PENDING;
        d->count--;
        w->busy = true;
    }
}

static void from_worker(struct dispatcher *d, struct worker *w)
{
    static struct wmsg m;
    ssize_t n = uipc_recv(w->ch, &m, sizeof m, 0);
    if (n == -EAGAIN)
        return;
    if (n < (ssize_t)offsetof(struct wmsg, text) || m.kind != W_REP) {
        replace_worker(d, w); /* -EPIPE: it died; anything else: it is broken */
        return;
    }
    w->busy = false;
    w->served = m.served;
    w->hits = m.hits;
    uipc_send(d->to_http, &m, wmsg_size(&m), UIPC_FOREVER);
}

/* A new connection on the listener: the worker says who it is. */
static void accept_worker(struct dispatcher *d)
{
    uipc_channel *ch;
    static struct wmsg m;
    if (uipc_accept(d->l, &ch, 0) < 0)
        return;
    if (uipc_recv(ch, &m, sizeof m, 2000) >= (ssize_t)offsetof(struct wmsg, text) &&
        m.kind == W_HELLO)
        for (int i = 0; i < d->nworkers; i++)
            if (d->w[i].pid == (pid_t)m.pid && !d->w[i].ch) {
                d->w[i].ch = ch;
                return;
            }
    uipc_close(ch); /* not one of ours */
}

/* Children that ended without a channel never said hello: start again. */
static void reap(struct dispatcher *d)
{
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        for (int i = 0; i < d->nworkers; i++)
            if (d->w[i].pid == pid && !d->w[i].ch)
                replace_worker(d, &d->w[i]);
}

static void *dispatcher_main(void *arg)
{
    struct dispatcher *d = arg;
    uipc_pollitem items[2 + MAX_WORKERS];
    struct worker *of[2 + MAX_WORKERS];
    static struct wmsg m;
    while (!stopping) {
        size_t n = 0;
        items[n++] = (uipc_pollitem){.ch = d->from_http, .events = UIPC_POLLIN};
        items[n++] = (uipc_pollitem){.l = d->l, .events = UIPC_POLLIN};
        for (int i = 0; i < d->nworkers; i++)
            if (d->w[i].ch) {
                of[n] = &d->w[i];
                items[n++] = (uipc_pollitem){.ch = d->w[i].ch, .events = UIPC_POLLIN};
            }
        int r = uipc_poll(items, n, TICK_MS);
        if (r > 0) {
            for (size_t i = 2; i < n; i++)
                if (items[i].revents)
                    from_worker(d, of[i]); /* UIPC_POLLHUP: the receive says -EPIPE */
            if (items[1].revents)
                accept_worker(d);
            if (items[0].revents) {
                ssize_t got = uipc_recv(d->from_http, &m, sizeof m, 0);
                if (got == -EPIPE)
                    break;
                if (got >= (ssize_t)offsetof(struct wmsg, text)) {
                    d->requests++;
                    m.text[m.len < PATH_LEN ? m.len : PATH_LEN - 1] = '\0';
                    if (strcmp(m.text, "/stats") == 0)
                        stats_page(d, m.conn);
                    else
                        enqueue(d, &m, false);
                }
            }
        }
        reap(d);
        dispatch(d);
    }
    return NULL;
}

/* ---- master: the HTTP thread ---- */

enum { C_FREE, C_READING, C_WAITING, C_WRITING };

struct conn {
    int fd;
    int state;
    uint32_t gen; /* the connection id is index | gen << 10: late replies are dropped */
    size_t inlen, outlen, outoff;
    char in[REQ_MAX];
    char *out;
};

struct http {
    int lfd;
    uipc_channel *to_disp, *from_disp;
    struct conn *c; /* MAX_CONNS */
    int outstanding;
};

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->out);
    c->out = NULL;
    c->state = C_FREE;
    c->gen++;
}

static void conn_respond(struct conn *c, unsigned status, const char *body, size_t len,
                         const struct wmsg *from)
{
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request"
                       : status == 405 ? "Method Not Allowed" : "Service Unavailable";
    c->out = malloc(512 + len);
    if (!c->out) {
        conn_close(c);
        return;
    }
    int n = snprintf(c->out, 512,
                     "HTTP/1.0 %u %s\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nX-Worker: %u\r\nX-Cache: %s\r\n\r\n",
                     status, reason, len, from ? from->pid : 0,
                     from && from->cache_hit ? "hit" : "miss");
    memcpy(c->out + n, body, len);
    c->outlen = (size_t)n + len;
    c->outoff = 0;
    c->state = C_WRITING;
}

/* A whole request head arrived: answer it here or hand it on. */
static void conn_request(struct http *h, struct conn *c, uint32_t id)
{
    static struct wmsg m;
    char method[8], path[PATH_LEN];
    c->in[c->inlen] = '\0';
    if (sscanf(c->in, "%7s %255s HTTP/", method, path) != 2 || path[0] != '/') {
        conn_respond(c, 400, "bad request\n", 12, NULL);
        return;
    }
    if (strcmp(method, "GET") != 0) {
        conn_respond(c, 405, "GET only\n", 9, NULL);
        return;
    }
    m = (struct wmsg){.kind = W_REQ, .conn = id, .len = (uint32_t)strlen(path)};
    memcpy(m.text, path, m.len);
    if (uipc_send(h->to_disp, &m, wmsg_size(&m), UIPC_FOREVER) < 0) {
        conn_respond(c, 503, "no dispatcher\n", 14, NULL);
        return;
    }
    c->state = C_WAITING;
    h->outstanding++;
}

static void conn_io(struct http *h, struct conn *c, uint32_t id, short revents)
{
    if (c->state == C_READING && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(c->fd, c->in + c->inlen, REQ_MAX - 1 - c->inlen, MSG_DONTWAIT);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR))
                conn_close(c);
            return;
        }
        c->inlen += (size_t)n;
        c->in[c->inlen] = '\0';
        if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
            conn_request(h, c, id);
        else if (c->inlen >= REQ_MAX - 1)
            conn_respond(c, 400, "request too long\n", 17, NULL);
    }
    if (c->state == C_WRITING && (revents & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            conn_close(c);
        else if (n > 0 && (c->outoff += (size_t)n) == c->outlen) {
            shutdown(c->fd, SHUT_WR);
            conn_close(c);
        }
    }
}

static void from_dispatcher(struct http *h)
{
    static struct wmsg m;
    ssize_t n;
    while ((n = uipc_recv(h->from_disp, &m, sizeof m, 0)) >= (ssize_t)offsetof(struct wmsg, text)) {
        struct conn *c = &h->c[m.conn % MAX_CONNS];
        h->outstanding--;
        if (c->state != C_WAITING || (c->gen & 0x3fffff) != m.conn / MAX_CONNS)
            continue; /* the client left meanwhile */
        conn_respond(c, m.status, m.text, m.len, &m);
    }
}

static void http_loop(struct http *h)
{
    static struct pollfd p[2 + MAX_CONNS];
    static int idx[2 + MAX_CONNS];
    int dfd = uipc_pollfd(h->from_disp);
    while (!stopping) {
        int n = 0;
        p[n++] = (struct pollfd){.fd = dfd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = h->outstanding < MAX_OUTSTANDING ? h->lfd : -1,
                                 .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &h->c[i];
            if (c->state == C_READING && h->outstanding < MAX_OUTSTANDING)
                p[n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            else if (c->state == C_WRITING)
                p[n] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
            else
                continue;
            idx[n++] = i;
        }
        if (poll(p, (nfds_t)n, TICK_MS) <= 0)
            continue;
        if (p[0].revents)
            from_dispatcher(h);
        for (int k = 2; k < n; k++)
            if (p[k].revents) {
                struct conn *c = &h->c[idx[k]];
                conn_io(h, c, (uint32_t)idx[k] + (c->gen & 0x3fffff) * MAX_CONNS, p[k].revents);
            }
        if (p[1].revents & POLLIN) {
            int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            int i = 0;
            while (fd >= 0 && i < MAX_CONNS && h->c[i].state != C_FREE)
                i++;
            if (fd >= 0 && i == MAX_CONNS)
                close(fd); /* full: the client retries */
            else if (fd >= 0)
                h->c[i] = (struct conn){.fd = fd, .state = C_READING, .gen = h->c[i].gen};
        }
    }
}

/* "tcp://HOST:PORT" as an IPv4 socket address. */
static int http_listen(const char *uri, char *shown, size_t cap)
{
    char host[64];
    unsigned port;
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (sscanf(uri, "tcp://%63[^:]:%u", host, &port) != 2 || port > 65535 ||
        inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -EINVAL;
    a.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    socklen_t len = sizeof a;
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    snprintf(shown, cap, "http://%s:%u/", host, (unsigned)ntohs(a.sin_port));
    return fd;
}

static int usage(void)
{
    fprintf(stderr, "usage: web_workers [--listen tcp://HOST:PORT] [--workers N] [--ipc URI]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argv[2], argv[3]);
    const char *listen_uri = "tcp://127.0.0.1:8080";
    int nworkers = 4;
    snprintf(ipc_uri, sizeof ipc_uri, "shm://uipc-web-%d", (int)getpid());
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--listen") == 0)
            listen_uri = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--workers") == 0)
            nworkers = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--ipc") == 0)
            snprintf(ipc_uri, sizeof ipc_uri, "%s", argv[++i]);
        else
            return usage();
    }
    if (nworkers < 1 || nworkers > MAX_WORKERS)
        return usage();
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';

    static struct dispatcher d;
    static struct http h;
    uipc_region *rg;
    char shown[128];
    snprintf(region_uri, sizeof region_uri, "shm://uipc-web-%d-cache?size=1M", (int)getpid());
    int r = uipc_region_open(&rg, region_uri, UIPC_CREATE);
    if (r == 0)
        r = uipc_mutex_init(&((struct cache *)uipc_region_ptr(rg))->lock);
    if (r == 0)
        r = uipc_listen(&d.l, ipc_uri, 0);
    if (r == 0) /* the listener's own URI: port 0 resolved for the workers */
        snprintf(ipc_uri, sizeof ipc_uri, "%s", uipc_listener_uri(d.l));
    if (r == 0)
        r = uipc_pair("pipe:", &h.to_disp, &d.from_http);
    if (r == 0)
        r = uipc_pair("pipe:", &d.to_http, &h.from_disp);
    if (r == 0 && (h.lfd = http_listen(listen_uri, shown, sizeof shown)) < 0)
        r = h.lfd;
    d.pending = calloc(MAX_PENDING, sizeof *d.pending);
    h.c = calloc(MAX_CONNS, sizeof *h.c);
    if (r == 0 && (!d.pending || !h.c))
        r = -ENOMEM;
    if (r < 0) {
        fprintf(stderr, "web_workers: %s\n", uipc_strerror(r));
        return 1;
    }
    d.cache = uipc_region_ptr(rg);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    d.nworkers = nworkers;
    for (int i = 0; i < nworkers; i++)
        d.w[i].pid = spawn_worker();
    printf("web_workers: listening on %s (workers over %s)\n", shown, ipc_uri);
    fflush(stdout);

    pthread_t disp;
    if (pthread_create(&disp, NULL, dispatcher_main, &d) != 0)
        return 1;
    http_loop(&h);
    uipc_close(h.to_disp); /* the dispatcher sees -EPIPE, if the flag did not stop it */
    pthread_join(disp, NULL);

    for (int i = 0; i < nworkers; i++) {
        if (d.w[i].ch)
            uipc_close(d.w[i].ch); /* the worker reads -EPIPE and leaves */
        else if (d.w[i].pid > 0)
            kill(d.w[i].pid, SIGTERM);
    }
    for (int i = 0; i < nworkers; i++)
        if (d.w[i].pid > 0)
            waitpid(d.w[i].pid, NULL, 0);
    for (int i = 0; i < MAX_CONNS; i++)
        if (h.c[i].state != C_FREE)
            conn_close(&h.c[i]);
    close(h.lfd);
    uipc_close(h.from_disp);
    uipc_close(d.to_http);
    uipc_close(d.from_http);
    uipc_listener_close(d.l);
    uipc_region_close(rg);
    free(d.pending);
    free(h.c);
    printf("web_workers: %llu requests, %llu worker restarts\n", (unsigned long long)d.requests,
           (unsigned long long)d.restarts);
    return 0;
}
