/* SPDX-License-Identifier: MIT */
/*
 * Public entry points: validate the arguments, parse the URI once, look up
 * the transport, check its query keys and dispatch through its operations
 * table.  A NULL operation is -ENOTSUP here so that transports never carry
 * stubs.  Zero-copy calls are emulated with an internal buffer for
 * transports without native support.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"

/* ---- one thread per handle (internal.h) ---- */

#ifdef UIPC__DEBUG_THREADS
_Noreturn void uipc__misuse(const char *call, const char *inside)
{
    fprintf(stderr,
            "libuipc: %s on a handle while another thread is inside %s on it: a handle is "
            "used by one thread at a time (uipc(7), THREADS AND PROCESSES); this debug "
            "build aborts\n",
            call, inside);
    abort();
}

static void busy_enter(_Atomic(const char *) *slot, const char *call)
{
    const char *inside = atomic_exchange(slot, call);
    if (inside)
        uipc__misuse(call, inside);
}

#define BUSY_ENTER(h, call) busy_enter(&(h)->in_call, call)
#else
#define BUSY_ENTER(h, call) atomic_store_explicit(&(h)->in_call, call, memory_order_relaxed)
#endif
/* Release: a close that then sees NULL sees everything the call did. */
#define BUSY_LEAVE(h) atomic_store_explicit(&(h)->in_call, NULL, memory_order_release)
/* A close finds a call blocked inside (its mark was stored long before). */
#define BUSY_INSIDE(h) atomic_load_explicit(&(h)->in_call, memory_order_acquire)

/*
 * The body of a public call on handle h: expr runs marked as inside the
 * call named name, so that a concurrent close sees it (-EBUSY) and a debug
 * build catches a second thread.  A NULL handle runs expr unmarked (its
 * own checks answer -EINVAL and clear the out pointers).
 */
#define GUARDED_CALL(type, h, name, expr)                                                          \
    do {                                                                                           \
        if (!(h))                                                                                  \
            return expr;                                                                           \
        BUSY_ENTER(h, name);                                                                       \
        type guarded_result_ = expr;                                                               \
        BUSY_LEAVE(h);                                                                             \
        return guarded_result_;                                                                    \
    } while (0)

UIPC_API const char *uipc_version(void)
{
    return UIPC_VERSION_STRING;
}

/* Parses uri and finds its transport; checks the query keys. */
static int resolve(const char *text, struct uipc__uri **out, const struct uipc_transport **tp)
{
    struct uipc__uri *u = malloc(sizeof *u);
    if (!u)
        return -ENOMEM;
    int r = uipc__uri_parse(u, text);
    if (r == 0) {
        *tp = uipc__transport_find(u->scheme);
        if (!*tp)
            r = -EPROTONOSUPPORT;
    }
    if (r == 0)
        r = uipc__uri_check_keys(u, (*tp)->keys);
    if (r < 0) {
        free(u);
        return r;
    }
    *out = u;
    return 0;
}

static struct uipc_channel *channel_new(const struct uipc_transport *tp, bool owner)
{
    struct uipc_channel *ch = calloc(1, tp->size);
    if (!ch)
        return NULL;
    ch->tp = tp;
    ch->self = ch;
    ch->opener = getpid();
    ch->owner = owner;
    ch->zc_peeked = -1;
    return ch;
}

/* ---- publish/subscribe: the flags of uipc_open ---- */

/* UIPC_PUB needs UIPC_CREATE (a publisher owns the rendezvous); UIPC_SUB
 * attaches, so it refuses UIPC_CREATE; the two roles exclude each other. */
static int pubsub_flags_ok(int flags)
{
    int role = flags & (UIPC_PUB | UIPC_SUB);
    if (role == (UIPC_PUB | UIPC_SUB))
        return -EINVAL;
    if (role == UIPC_PUB && !(flags & UIPC_CREATE))
        return -EINVAL;
    if (role == UIPC_SUB && (flags & UIPC_CREATE))
        return -EINVAL;
    return 0;
}

/* The direction a role forbids: a publisher never receives, a subscriber
 * never sends. */
static int pubsub_can_send(const struct uipc_channel *ch)
{
    return ch->pubsub_role == UIPC_SUB ? -ENOTSUP : 0;
}

static int pubsub_can_recv(const struct uipc_channel *ch)
{
    return ch->pubsub_role == UIPC_PUB ? -ENOTSUP : 0;
}

/* ---- URIs of endpoints (uipc_uri, uipc_listener_uri) ---- */

/*
 * Keeps in *dst the URI a client opens: what the transport's uri operation
 * resolved (resolved == 1, in buf) or the text as given (resolved == 0).
 */
static int keep_uri(char **dst, const char *given, int resolved, const char *buf)
{
    if (resolved < 0)
        return resolved;
    *dst = strdup(resolved > 0 ? buf : given);
    return *dst ? 0 : -ENOMEM;
}

static int channel_keep_uri(struct uipc_channel *ch, const char *given)
{
    char buf[UIPC__URI_MAX + 1];
    int r = ch->tp->uri ? ch->tp->uri(ch, given, buf, sizeof buf) : 0;
    return keep_uri(&ch->uri, given, r, buf);
}

static int listener_keep_uri(struct uipc_listener *l, const char *given)
{
    char buf[UIPC__URI_MAX + 1];
    int r = l->tp->listener_uri ? l->tp->listener_uri(l, given, buf, sizeof buf) : 0;
    return keep_uri(&l->uri, given, r, buf);
}

UIPC_API const char *uipc_uri(const uipc_channel *ch)
{
    return ch ? ch->uri : NULL;
}

UIPC_API const char *uipc_listener_uri(const uipc_listener *l)
{
    return l ? l->uri : NULL;
}

/* ---- channels ---- */

UIPC_API int uipc_open(uipc_channel **out, const char *uri, int flags)
{
    if (out)
        *out = NULL;
    if (!out || !uri || (flags & ~(UIPC_CREATE | UIPC_EXCL | UIPC_PUB | UIPC_SUB)) ||
        ((flags & UIPC_EXCL) && !(flags & UIPC_CREATE)) || pubsub_flags_ok(flags) < 0)
        return -EINVAL;
    struct uipc__uri *u;
    const struct uipc_transport *tp = NULL;
    int r = resolve(uri, &u, &tp);
    if (r < 0)
        return r;
    struct uipc_channel *ch = NULL;
    if (!tp->open || ((flags & (UIPC_PUB | UIPC_SUB)) && !(tp->caps & UIPC__CAP_PUBSUB)))
        r = -ENOTSUP;
    else if (!(ch = channel_new(tp, flags & UIPC_CREATE)))
        r = -ENOMEM;
    else {
        ch->pubsub_role = flags & (UIPC_PUB | UIPC_SUB);
        r = tp->open(ch, u, flags);
    }
    free(u);
    if (r == 0 && (r = channel_keep_uri(ch, uri)) < 0)
        tp->close(ch, ch->owner);
    if (r < 0) {
        free(ch);
        return r;
    }
    *out = ch;
    return 0;
}

UIPC_API int uipc_pair(const char *uri, uipc_channel **a, uipc_channel **b)
{
    if (a)
        *a = NULL;
    if (b)
        *b = NULL;
    if (!uri || !a || !b)
        return -EINVAL;
    struct uipc__uri *u;
    const struct uipc_transport *tp = NULL;
    int r = resolve(uri, &u, &tp);
    if (r < 0)
        return r;
    struct uipc_channel *ca = NULL, *cb = NULL;
    if (!tp->pair)
        r = -ENOTSUP;
    else if (!(ca = channel_new(tp, false)) || !(cb = channel_new(tp, false)))
        r = -ENOMEM;
    else
        r = tp->pair(ca, cb, u);
    free(u);
    if (r == 0 && ((r = keep_uri(&ca->uri, uri, 0, NULL)) < 0 ||
                   (r = keep_uri(&cb->uri, uri, 0, NULL)) < 0)) {
        tp->close(ca, false);
        tp->close(cb, false);
        free(ca->uri);
    }
    if (r < 0) {
        free(ca);
        free(cb);
        return r;
    }
    *a = ca;
    *b = cb;
    return 0;
}

/* A reservation or a peek outstanding blocks the plain calls. */
static int zc_busy(const struct uipc_channel *ch)
{
    return ch->zc_sending || ch->zc_peeked >= 0 ? -EBUSY : 0;
}

static ssize_t sendmsg_call(uipc_channel *ch, const void *msg, size_t len,
                            const uipc_msginfo *info, int timeout_ms)
{
    if (!ch || (!msg && len) || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    int r = pubsub_can_send(ch);
    if (r < 0)
        return r;
    if (len > ch->max_msg)
        return -EMSGSIZE;
    r = zc_busy(ch);
    if (r < 0)
        return r;
    uipc_msginfo dflt = {0, 0};
    if (!info)
        info = &dflt;
    if ((info->priority && !(ch->tp->attrs & UIPC__ATTR_PRIORITY)) ||
        (info->type && !(ch->tp->attrs & UIPC__ATTR_TYPE)))
        return -ENOTSUP;
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    return ch->tp->send(ch, msg ? msg : "", len, info, &dl);
}

static ssize_t recvmsg_call(uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                            int timeout_ms)
{
    if (!ch || (!buf && cap) || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    int r = pubsub_can_recv(ch);
    if (r == 0)
        r = zc_busy(ch);
    if (r < 0)
        return r;
    uipc_msginfo dflt = {0, 0};
    if (!info)
        info = &dflt;
    if (info->type && !(ch->tp->attrs & UIPC__ATTR_TYPE))
        return -ENOTSUP;
    unsigned char dummy;
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    ssize_t n = ch->tp->recv(ch, buf ? buf : &dummy, cap, info, &dl);
    if (n >= 0 && !(ch->tp->attrs & UIPC__ATTR_PRIORITY))
        info->priority = 0;
    if (n >= 0 && !(ch->tp->attrs & UIPC__ATTR_TYPE))
        info->type = 0;
    return n;
}

UIPC_API ssize_t uipc_sendmsg(uipc_channel *ch, const void *msg, size_t len,
                              const uipc_msginfo *info, int timeout_ms)
{
    GUARDED_CALL(ssize_t, ch, "uipc_sendmsg", sendmsg_call(ch, msg, len, info, timeout_ms));
}

UIPC_API ssize_t uipc_recvmsg(uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                              int timeout_ms)
{
    GUARDED_CALL(ssize_t, ch, "uipc_recvmsg", recvmsg_call(ch, buf, cap, info, timeout_ms));
}

UIPC_API ssize_t uipc_send(uipc_channel *ch, const void *msg, size_t len, int timeout_ms)
{
    GUARDED_CALL(ssize_t, ch, "uipc_send", sendmsg_call(ch, msg, len, NULL, timeout_ms));
}

UIPC_API ssize_t uipc_recv(uipc_channel *ch, void *buf, size_t cap, int timeout_ms)
{
    GUARDED_CALL(ssize_t, ch, "uipc_recv", recvmsg_call(ch, buf, cap, NULL, timeout_ms));
}

UIPC_API int uipc_close(uipc_channel *ch)
{
    if (!ch)
        return -EINVAL;
    if (BUSY_INSIDE(ch))
        return -EBUSY; /* another thread is inside a call: wake it first */
    /* The one place that decides whether a close removes the rendezvous:
     * only the owner, in the process that opened it (a fork child closing
     * its inherited copy leaves it alone). */
    int r = ch->tp->close(ch, ch->owner && ch->opener == getpid());
    free(ch->zc_buf);
    free(ch->uri);
    free(ch);
    return r;
}

UIPC_API int uipc_unlink(const char *uri)
{
    return uipc_remove(uri, 0);
}

/* probe: uipc_unlink with UIPC_FORCE, and sem: rows (uipc_list). */
UIPC_API int uipc_remove(const char *uri, int flags)
{
    if (!uri || (flags & ~UIPC_FORCE))
        return -EINVAL;
    bool force = flags & UIPC_FORCE;
    if (strncmp(uri, "sem:", 4) == 0)
        return uipc__sem_remove(uri + 4, force);
    struct uipc__uri *u;
    const struct uipc_transport *tp = NULL;
    int r = resolve(uri, &u, &tp);
    if (r < 0)
        return r;
    r = tp->unlink ? tp->unlink(u, force) : -ENOTSUP;
    free(u);
    return r;
}

UIPC_API const char *uipc_scheme(const uipc_channel *ch)
{
    return ch ? ch->tp->scheme : NULL;
}

UIPC_API size_t uipc_max_msg(const uipc_channel *ch)
{
    return ch ? ch->max_msg : 0;
}

UIPC_API int uipc_pollfd(const uipc_channel *ch)
{
    if (!ch)
        return -EINVAL;
    /* The descriptor is state the handle creates on first use: it is
     * reached through the handle's own pointer, not by casting const away. */
    return ch->tp->pollfd ? ch->tp->pollfd(ch->self) : -ENOTSUP;
}

UIPC_API int uipc_peer_cred(const uipc_channel *ch, pid_t *pid, uid_t *uid, gid_t *gid)
{
    if (!ch)
        return -EINVAL;
    return ch->tp->peer_cred ? ch->tp->peer_cred(ch, pid, uid, gid) : -ENOTSUP;
}

/* ---- listeners ---- */

UIPC_API int uipc_listen(uipc_listener **out, const char *uri, int flags)
{
    if (out)
        *out = NULL;
    if (!out || !uri || (flags & ~(UIPC_CREATE | UIPC_EXCL)))
        return -EINVAL;
    struct uipc__uri *u;
    const struct uipc_transport *tp = NULL;
    int r = resolve(uri, &u, &tp);
    if (r < 0)
        return r;
    struct uipc_listener *l = NULL;
    if (!tp->listen)
        r = -ENOTSUP;
    else if (!(l = calloc(1, tp->listener_size)))
        r = -ENOMEM;
    else {
        l->tp = tp;
        l->opener = getpid();
        r = tp->listen(l, u, flags | UIPC_CREATE);
        if (r == 0 && (r = listener_keep_uri(l, uri)) < 0)
            tp->listener_close(l, true);
    }
    free(u);
    if (r < 0) {
        free(l);
        return r;
    }
    *out = l;
    return 0;
}

static int accept_call(uipc_listener *l, uipc_channel **out, int timeout_ms)
{
    if (out)
        *out = NULL;
    if (!l || !out || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    struct uipc_channel *ch = channel_new(l->tp, false);
    if (!ch)
        return -ENOMEM;
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    int r = l->tp->accept(l, ch, &dl);
    if (r == 0 && (r = keep_uri(&ch->uri, l->uri, 0, NULL)) < 0)
        l->tp->close(ch, false);
    if (r < 0) {
        free(ch);
        return r;
    }
    *out = ch;
    return 0;
}

UIPC_API int uipc_accept(uipc_listener *l, uipc_channel **out, int timeout_ms)
{
    GUARDED_CALL(int, l, "uipc_accept", accept_call(l, out, timeout_ms));
}

UIPC_API int uipc_listener_close(uipc_listener *l)
{
    if (!l)
        return -EINVAL;
    if (BUSY_INSIDE(l))
        return -EBUSY;
    int r = l->tp->listener_close(l, l->opener == getpid());
    free(l->uri);
    free(l);
    return r;
}

UIPC_API int uipc_listener_pollfd(const uipc_listener *l)
{
    if (!l)
        return -EINVAL;
    return l->tp->listener_pollfd(l);
}

/* ---- zero-copy, native or emulated ---- */

/* Grows the emulation buffer to at least n bytes. */
static int zc_reserve_buf(struct uipc_channel *ch, size_t n)
{
    if (ch->zc_cap >= n && ch->zc_buf)
        return 0;
    size_t cap = n ? n : 1;
    unsigned char *b = realloc(ch->zc_buf, cap);
    if (!b)
        return -ENOMEM;
    ch->zc_buf = b;
    ch->zc_cap = cap;
    return 0;
}

static int send_reserve_call(uipc_channel *ch, void **buf, size_t len, int timeout_ms)
{
    if (buf)
        *buf = NULL;
    if (!ch || !buf || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    int r = pubsub_can_send(ch);
    if (r < 0)
        return r;
    if (len > ch->max_msg)
        return -EMSGSIZE;
    if (ch->zc_sending)
        return -EBUSY;
    if (ch->tp->send_reserve) {
        struct uipc__deadline dl;
        uipc__deadline_start(&dl, timeout_ms);
        r = ch->tp->send_reserve(ch, buf, len, &dl);
    } else {
        /* Emulated: the copy is sent at commit, within this call's timeout. */
        r = zc_reserve_buf(ch, len);
        if (r == 0)
            *buf = ch->zc_buf;
        ch->zc_timeout_ms = timeout_ms;
    }
    if (r == 0) {
        ch->zc_sending = true;
        ch->zc_reserved = len;
    }
    return r;
}

static int send_commit_call(uipc_channel *ch, size_t len)
{
    if (!ch)
        return -EINVAL;
    if (!ch->zc_sending)
        return -EINVAL;
    if (len > ch->zc_reserved)
        return -EINVAL;
    ch->zc_sending = false;
    if (ch->tp->send_commit)
        return ch->tp->send_commit(ch, len);
    uipc_msginfo dflt = {0, 0};
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, ch->zc_timeout_ms);
    ssize_t n = ch->tp->send(ch, ch->zc_buf, len, &dflt, &dl);
    return n < 0 ? (int)n : 0;
}

static ssize_t recv_peek_call(uipc_channel *ch, const void **buf, int timeout_ms)
{
    if (buf)
        *buf = NULL;
    if (!ch || !buf || !uipc__timeout_valid(timeout_ms))
        return -EINVAL;
    int r = pubsub_can_recv(ch);
    if (r < 0)
        return r;
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    if (ch->tp->recv_peek) { /* peeking again returns the same message */
        ssize_t n = ch->tp->recv_peek(ch, buf, &dl);
        if (n >= 0)
            ch->zc_peeked = n;
        return n;
    }
    if (ch->zc_peeked >= 0) { /* peeking twice returns the same message */
        *buf = ch->zc_buf;
        return ch->zc_peeked;
    }
    r = zc_reserve_buf(ch, ch->max_msg);
    if (r < 0)
        return r;
    uipc_msginfo dflt = {0, 0};
    ssize_t n = ch->tp->recv(ch, ch->zc_buf, ch->zc_cap, &dflt, &dl);
    if (n >= 0) {
        ch->zc_peeked = n;
        *buf = ch->zc_buf;
    }
    return n;
}

static int recv_release_call(uipc_channel *ch)
{
    if (!ch)
        return -EINVAL;
    if (ch->zc_peeked < 0)
        return -EINVAL;
    ch->zc_peeked = -1;
    return ch->tp->recv_release ? ch->tp->recv_release(ch) : 0;
}

UIPC_API int uipc_send_reserve(uipc_channel *ch, void **buf, size_t len, int timeout_ms)
{
    GUARDED_CALL(int, ch, "uipc_send_reserve", send_reserve_call(ch, buf, len, timeout_ms));
}

UIPC_API int uipc_send_commit(uipc_channel *ch, size_t len)
{
    GUARDED_CALL(int, ch, "uipc_send_commit", send_commit_call(ch, len));
}

UIPC_API ssize_t uipc_recv_peek(uipc_channel *ch, const void **buf, int timeout_ms)
{
    GUARDED_CALL(ssize_t, ch, "uipc_recv_peek", recv_peek_call(ch, buf, timeout_ms));
}

UIPC_API int uipc_recv_release(uipc_channel *ch)
{
    GUARDED_CALL(int, ch, "uipc_recv_release", recv_release_call(ch));
}
