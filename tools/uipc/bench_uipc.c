/* SPDX-License-Identifier: MIT */
/*
 * uipc bench: the libuipc cases.  A static table gives, per scheme, the URI
 * the benchmark uses and the raw mechanism it is compared with; a scheme
 * the library was built without answers -EPROTONOSUPPORT to uipc_open and
 * is skipped, so the table may list schemes before they land.  Only the
 * public API is used.
 *
 * URI placeholders, filled per unit: {tmp} a private directory, {name} a
 * unique name, {port} a free loopback port, {size} the message size,
 * {ring} a ring size that holds a few messages of that size, {depth} a
 * queue depth that fits RLIMIT_MSGQUEUE, {key} a unique System V key.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uipc/uipc.h>

#include "bench.h"

static const struct scheme_row {
    const char *scheme;
    const char *uri;
    const char *raw;
    bool pair;        /* measured with uipc_pair */
    bool echo_first;  /* the receiving side must create (udp: the owner answers) */
    bool lossy;
} schemes[] = {
    {"pipe", "pipe:", "raw pipe", true, false, false},
    {"fifo", "fifo://{tmp}/fifo", "raw pipe", false, false, false},
    {"unix", "unix://{tmp}/sock", "raw unix", false, false, false},
    {"tcp", "tcp://127.0.0.1:{port}", "raw tcp", false, false, false},
    {"udp", "udp://127.0.0.1:{port}?maxmsg={size}", "raw udp", false, true, true},
    {"shm", "shm://{name}?size={ring}", "ring floor", false, false, false},
    {"mmap", "mmap://{tmp}/ring?size={ring}", "ring floor", false, false, false},
    {"mq", "mq:///{name}?maxmsg={size}&depth={depth}", "raw mq", false, false, false},
    {"sysvmq", "sysvmq://{key}?maxmsg={size}", "raw sysvmq", false, false, false},
    {"file", "file://{tmp}/spool", NULL, false, false, false},
};

int bench_free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int r = -EADDRNOTAVAIL;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        r = ntohs(a.sin_port);
    close(fd);
    return r;
}

static size_t pow2_at_least(size_t v)
{
    size_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

size_t bench_ring_size(size_t size)
{
    return pow2_at_least(4 * (size + 64) > (1u << 20) ? 4 * (size + 64) : (1u << 20));
}

void bench_expand(const struct bench_link *l, const char *fmt, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (const char *s = fmt; *s && o + 1 < cap;) {
        char val[300];
        const char *end = s[0] == '{' ? strchr(s, '}') : NULL;
        if (!end) {
            out[o++] = *s++;
            continue;
        }
        size_t klen = (size_t)(end - s - 1);
        const char *key = s + 1;
        if (klen == 3 && strncmp(key, "tmp", 3) == 0)
            snprintf(val, sizeof val, "%s", l->tmpdir);
        else if (klen == 4 && strncmp(key, "name", 4) == 0)
            snprintf(val, sizeof val, "%s", l->name);
        else if (klen == 4 && strncmp(key, "port", 4) == 0)
            snprintf(val, sizeof val, "%d", l->port);
        else if (klen == 4 && strncmp(key, "size", 4) == 0)
            snprintf(val, sizeof val, "%zu", l->size);
        else if (klen == 4 && strncmp(key, "ring", 4) == 0)
            snprintf(val, sizeof val, "%zu", bench_ring_size(l->size));
        else if (klen == 5 && strncmp(key, "depth", 5) == 0) {
            /* Two queues of depth x size must fit the default 800 KB RLIMIT_MSGQUEUE. */
            size_t depth = (600u * 1024) / (2 * (l->size + 64));
            snprintf(val, sizeof val, "%zu", depth < 1 ? 1 : depth > 10 ? 10 : depth);
        } else if (klen == 3 && strncmp(key, "key", 3) == 0)
            snprintf(val, sizeof val, "0x%08x",
                     0x76000000u ^ (((unsigned)getppid() & 0xfff) << 12) ^ (l->seq & 0xfff));
        else
            snprintf(val, sizeof val, "%.*s", (int)(klen + 2), s);
        o += (size_t)snprintf(out + o, cap - o, "%s", val);
        if (o >= cap)
            o = cap - 1;
        s = end + 1;
    }
    out[o] = '\0';
}

static long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

int bench_kernel_limit(struct bench_link *l, const char *scheme)
{
    static const struct {
        const char *scheme, *sysctl, *what;
    } limits[] = {
        {"mq", "/proc/sys/fs/mqueue/msgsize_max", "fs.mqueue.msgsize_max"},
        {"sysvmq", "/proc/sys/kernel/msgmax", "kernel.msgmax"},
    };
    if (strcmp(scheme, "udp") == 0 && l->size > 65507) {
        snprintf(l->note, sizeof l->note, "larger than a UDP datagram (65507)");
        return -EMSGSIZE;
    }
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (strcmp(scheme, limits[i].scheme) != 0)
            continue;
        long max = read_sysctl(limits[i].sysctl);
        if (max > 0 && l->size > (size_t)max) {
            snprintf(l->note, sizeof l->note, "above %s (%ld)", limits[i].what, max);
            return -EMSGSIZE;
        }
    }
    return 0;
}

/* ---- the link over libuipc ---- */

static int u_prepare(struct bench_link *l)
{
    const struct bench_case *bc = l->bc;
    char scheme[16];
    snprintf(scheme, sizeof scheme, "%.*s", (int)strcspn(bc->uri_fmt, ":"), bc->uri_fmt);
    int r = bench_kernel_limit(l, scheme);
    if (r < 0)
        return r;
    if (strstr(bc->uri_fmt, "{port}")) {
        int port = bench_free_port(strncmp(bc->uri_fmt, "udp", 3) == 0 ? SOCK_DGRAM : SOCK_STREAM);
        if (port < 0)
            return port;
        l->port = port;
    }
    bench_expand(l, bc->uri_fmt, l->uri, sizeof l->uri);
    if (!bc->pair)
        return 0;
    r = uipc_pair(l->uri, &l->ch[0], &l->ch[1]);
    if (r == 0 && uipc_max_msg(l->ch[0]) < l->size) {
        snprintf(l->note, sizeof l->note, "larger than max_msg %zu", uipc_max_msg(l->ch[0]));
        uipc_close(l->ch[0]);
        uipc_close(l->ch[1]);
        return -EMSGSIZE;
    }
    return r;
}

static int u_open(struct bench_link *l)
{
    const struct bench_case *bc = l->bc;
    if (bc->pair) {
        /* After fork each side closes the end it does not use. */
        uipc_close(l->ch[1 - l->side]);
        l->ch[1 - l->side] = NULL;
        return 0;
    }
    bool creator = (l->side == 1) == bc->echo_first;
    int r = uipc_open(&l->ch[l->side], l->uri, creator ? UIPC_CREATE : 0);
    if (r < 0) {
        snprintf(l->note, sizeof l->note, "%s: %s", creator ? "create" : "attach",
                 uipc_strerror(r));
        return r;
    }
    if (uipc_max_msg(l->ch[l->side]) < l->size) {
        snprintf(l->note, sizeof l->note, "larger than max_msg %zu",
                 uipc_max_msg(l->ch[l->side]));
        uipc_close(l->ch[l->side]);
        l->ch[l->side] = NULL;
        return -EMSGSIZE;
    }
    return 0;
}

static int u_send(struct bench_link *l, const void *buf, size_t len)
{
    ssize_t r = uipc_send(l->ch[l->side], buf, len, l->timeout_ms);
    return r < 0 ? (int)r : 0;
}

static int u_recv(struct bench_link *l, void *buf, size_t len)
{
    /* A lossy echo must not wait long for what will never come. */
    int timeout = l->bc->lossy && l->side == 1 ? 500 : l->timeout_ms;
    ssize_t r = uipc_recv(l->ch[l->side], buf, len, timeout);
    if (r < 0)
        return (int)r;
    return (size_t)r == len ? 0 : -EBADMSG;
}

static void u_close(struct bench_link *l)
{
    if (l->ch[l->side])
        uipc_close(l->ch[l->side]);
    l->ch[l->side] = NULL;
}

/*
 * Zero-copy: "zc" stamps a sequence number into the reservation and the
 * receiver reads it in place (what handing a buffer over costs, whatever
 * its size); "zc+fill" writes the whole payload into the reservation and
 * the receiver reads one word of every cache line in place (one copy where
 * the copying calls make two).
 */
static int zc_send_common(struct bench_link *l, const void *buf, size_t len, bool fill)
{
    void *w;
    int r = uipc_send_reserve(l->ch[l->side], &w, len, l->timeout_ms);
    if (r < 0)
        return r;
    if (fill || len < sizeof l->seq) /* small: the acknowledgement, carried as is */
        memcpy(w, buf, len);
    else
        memcpy(w, &l->seq, sizeof l->seq);
    return uipc_send_commit(l->ch[l->side], len);
}

static int zc_recv_common(struct bench_link *l, void *buf, size_t len, bool fill)
{
    const void *p;
    ssize_t n = uipc_recv_peek(l->ch[l->side], &p, l->timeout_ms);
    if (n < 0)
        return (int)n;
    if ((size_t)n < sizeof l->seq) { /* the acknowledgement */
        if ((size_t)n <= len)
            memcpy(buf, p, (size_t)n);
    } else if (fill) {
        volatile uint64_t sum = 0;
        for (size_t off = 0; off + 8 <= (size_t)n; off += 64)
            sum += *(const volatile uint64_t *)(const void *)((const char *)p + off);
    } else {
        volatile unsigned seq;
        memcpy((void *)&seq, p, sizeof seq);
    }
    int r = uipc_recv_release(l->ch[l->side]);
    return r < 0 ? r : (size_t)n == len ? 0 : -EBADMSG;
}

static int zc_send(struct bench_link *l, const void *buf, size_t len)
{
    return zc_send_common(l, buf, len, false);
}

static int zc_recv(struct bench_link *l, void *buf, size_t len)
{
    return zc_recv_common(l, buf, len, false);
}

static int zcf_send(struct bench_link *l, const void *buf, size_t len)
{
    return zc_send_common(l, buf, len, true);
}

static int zcf_recv(struct bench_link *l, void *buf, size_t len)
{
    return zc_recv_common(l, buf, len, true);
}

static void add_case(struct bench_case *list, size_t *n, const char *name, const char *uri,
                     const struct scheme_row *row, bool pair)
{
    struct bench_case *bc =
        bench_case_add(list, n, GROUP_UIPC, name, uri, u_prepare, u_open, u_send, u_recv, u_close);
    if (!bc)
        return;
    bc->raw = row ? row->raw : NULL;
    bc->pair = pair;
    bc->echo_first = row && row->echo_first;
    bc->lossy = row && row->lossy;
}

/* 1 if the library was built with the scheme: anything but -EPROTONOSUPPORT. */
static bool built_in(const char *scheme)
{
    char uri[40];
    uipc_channel *ch = NULL;
    snprintf(uri, sizeof uri, "%s:", scheme);
    int r = uipc_open(&ch, uri, 0); /* attaches to nothing: never creates */
    if (r == 0)
        uipc_close(ch);
    return r != -EPROTONOSUPPORT;
}

void bench_add_uipc_defaults(struct bench_case *list, size_t *n)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && *n < BENCH_MAX_CASES; i++) {
        if (!built_in(schemes[i].scheme))
            continue;
        char name[64];
        snprintf(name, sizeof name, "uipc %s", schemes[i].scheme);
        add_case(list, n, name, schemes[i].uri, &schemes[i], schemes[i].pair);
    }
}

/*
 * shm: seen from every side: futex only (spin=0, against the raw pipe:
 * both pay a cross-CPU wake-up per message), zero-copy, and unpinned.
 */
void bench_add_uipc_shm_variants(struct bench_case *list, size_t *n)
{
    const struct scheme_row *shm = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strcmp(schemes[i].scheme, "shm") == 0)
            shm = &schemes[i];
    if (!shm || !built_in("shm"))
        return;
    struct bench_case *bc;
    if ((bc = bench_case_add(list, n, GROUP_UIPC, "uipc shm spin=0", "shm://{name}?size={ring}&spin=0",
                             u_prepare, u_open, u_send, u_recv, u_close)))
        bc->raw = "raw pipe";
    if ((bc = bench_case_add(list, n, GROUP_UIPC, "uipc shm zc", shm->uri, u_prepare, u_open,
                             zc_send, zc_recv, u_close)))
        bc->raw = shm->raw;
    if ((bc = bench_case_add(list, n, GROUP_UIPC, "uipc shm zc+fill", shm->uri, u_prepare, u_open,
                             zcf_send, zcf_recv, u_close)))
        bc->raw = shm->raw;
    if ((bc = bench_case_add(list, n, GROUP_UIPC, "uipc shm unpin", shm->uri, u_prepare, u_open,
                             u_send, u_recv, u_close))) {
        bc->raw = shm->raw;
        bc->unpinned = true;
    }
}

int bench_add_uipc_uri(struct bench_case *list, size_t *n, const char *uri)
{
    if (*n >= BENCH_MAX_CASES)
        return -E2BIG;
    const char *colon = strchr(uri, ':');
    if (!colon || colon == uri || strlen(uri) >= sizeof list[0].uri_fmt)
        return -EINVAL;
    char scheme[32];
    snprintf(scheme, sizeof scheme, "%.*s", (int)(colon - uri), uri);
    if (!built_in(scheme))
        return -EPROTONOSUPPORT;
    const struct scheme_row *row = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strcmp(schemes[i].scheme, scheme) == 0)
            row = &schemes[i];
    /* "unix:" or "shm:?size=1M": nothing named, so a pair. */
    bool pair = colon[1] == '\0' || colon[1] == '?';
    add_case(list, n, uri, uri, row, pair);
    return 0;
}
