/* SPDX-License-Identifier: MIT */
/*
 * mq: — POSIX message queues, "mq:///jobs?depth=10&maxmsg=8192&mode=0600".
 *
 * Datagram transport, N parties, duplex with one kernel queue per
 * direction: "/jobs.c2s" carries messages from every attacher to the owner
 * side, "/jobs.s2c" from the owner side to every attacher.  Any number of
 * processes may attach; each message is taken by exactly one receiver
 * (the work-queue pattern).  Messages keep their boundaries and carry a
 * priority (uipc_sendmsg, 0 .. MQ_PRIO_MAX-1, higher first, FIFO within a
 * priority); message types are -ENOTSUP.
 *
 * Limits: ?depth= is mq_maxmsg and ?maxmsg= is mq_msgsize; their defaults
 * are /proc/sys/fs/mqueue/msg_default and msgsize_default, and a request
 * above /proc/sys/fs/mqueue/msg_max or msgsize_max is -EINVAL for every
 * caller, privileged or not (never clamped).  RLIMIT_MSGQUEUE caps the
 * memory of all queues of a user; mq_open reports running out as -EMFILE.
 *
 * Who creates and removes: the owner (UIPC_CREATE) creates both queues with
 * ?mode= (default 0600, applied with fchmod so the umask does not narrow
 * it) and removes both names at close, only in the process that opened it.
 * The owner's liveness is an abstract UNIX socket name bound for the life
 * of the handle; UIPC_CREATE on a queue pair whose owner is gone adopts the
 * queues (messages queued meanwhile are kept), on one whose owner lives is
 * -EADDRINUSE.  An attacher never removes anything; uipc_unlink removes a
 * stale pair and refuses a live one (-EADDRINUSE).
 *
 * Waiting uses mq_timedsend/mq_timedreceive with a CLOCK_REALTIME deadline
 * recomputed from the monotonic deadline on every try, so EINTR and clock
 * steps never stretch or cut a timeout.  There is no peer to lose: a
 * receiver waits for the next message and never sees -EPIPE.
 *
 * A message larger than the caller's buffer cannot be left in the kernel
 * queue (mq_receive takes it or nothing, and only a buffer of mq_msgsize
 * bytes takes it), so it is held in the handle and returned by the next
 * receive: "stays queued" holds for this handle.  Because of that held
 * message, uipc_pollfd is an epoll set over the receive queue plus an
 * eventfd kept signalled while a message is held.
 *
 * A handle holds no other state than its queue descriptors, so a handle
 * inherited across fork may be used by several processes at once (a
 * pre-forked pool sharing the owner side), provided no message is held in
 * it at the fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pollset.h"
#include "internal.h"
#include "rendezvous.h"

#ifndef MQ_PRIO_MAX
#define MQ_PRIO_MAX 32768
#endif

/* "/" + name + ".c2s" must fit the kernel's NAME_MAX for the part after '/'. */
#define MQ_NAME_MAX (NAME_MAX - 4)

struct mq_channel {
    struct uipc_channel base;
    mqd_t rq, wq;          /* receive and send queues, (mqd_t)-1 if not open */
    int token_fd;          /* owner: abstract socket that says "owner alive" */
    size_t rsize;          /* mq_msgsize of rq: a receive needs that much room */
    unsigned char *rbuf;   /* rsize bytes, for callers with smaller buffers */
    size_t held_len;       /* a message too large for the caller, in rbuf */
    unsigned held_prio;
    bool held;
    struct uipc__pollset ps;
    struct uipc__rdv_id c2s_id, s2c_id; /* owner: the queues it holds */
    char c2s[NAME_MAX + 2];
    char s2c[NAME_MAX + 2];
};

static const char *const mq_keys[] = {"depth", "maxmsg", "mode", NULL};

/* The system's limits and defaults from /proc/sys/fs/mqueue. */
struct mq_limits {
    uint64_t msg_max, msgsize_max, msg_default, msgsize_default;
};

static void mq_limits_read(struct mq_limits *l)
{
    /* The fallbacks are the kernel's compiled-in defaults, for a box whose
     * /proc is not mounted; the kernel still enforces its own limits. */
    l->msg_max = uipc__proc_u64("/proc/sys/fs/mqueue/msg_max", 10);
    l->msgsize_max = uipc__proc_u64("/proc/sys/fs/mqueue/msgsize_max", 8192);
    l->msg_default = uipc__proc_u64("/proc/sys/fs/mqueue/msg_default", 10);
    l->msgsize_default = uipc__proc_u64("/proc/sys/fs/mqueue/msgsize_default", 8192);
    if (l->msg_default > l->msg_max)
        l->msg_default = l->msg_max;
    if (l->msgsize_default > l->msgsize_max)
        l->msgsize_default = l->msgsize_max;
}

/* "mq:///jobs" or "mq://jobs" -> "jobs". */
static int mq_name(const struct uipc__uri *u, const char **name)
{
    const char *n;
    if (u->has_authority && u->authority[0]) {
        if (u->path[0])
            return -EINVAL;
        n = u->authority;
    } else {
        if (u->path[0] != '/')
            return -EINVAL;
        n = u->path + 1;
    }
    if (!uipc__name_ok(n, MQ_NAME_MAX))
        return -EINVAL;
    *name = n;
    return 0;
}

static int mq_names(const struct uipc__uri *u, char *c2s, char *s2c)
{
    const char *name;
    int r = mq_name(u, &name);
    if (r < 0)
        return r;
    char base[NAME_MAX + 2];
    snprintf(base, sizeof base, "/%s", name);
    return uipc__rdv_pair_names(base, c2s, s2c, NAME_MAX + 2);
}

/* The owner's liveness token, "uipc-mq/<name>.c2s": it counts only when a
 * process of the queues' owner uid binds it (rendezvous.h). */
static int token_bind(const char *c2s, uid_t owner)
{
    return uipc__rdv_token_bind("uipc-mq", c2s, owner);
}

/* The uid owning queue name (ours if it cannot be opened). */
static uid_t queue_owner(const char *name)
{
    uid_t uid = geteuid();
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (q != (mqd_t)-1) {
        if (fstat((int)q, &st) == 0)
            uid = st.st_uid;
        mq_close(q);
    }
    return uid;
}

/* True while name is still the queue id (not a successor's). */
static bool queue_is(const char *name, const struct uipc__rdv_id *id)
{
    struct uipc__rdv_id now;
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (q == (mqd_t)-1)
        return false;
    bool same = uipc__rdv_id_fd((int)q, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
    mq_close(q);
    return same;
}

/* mq_open that reports -errno and marks new queues with *created. */
static int open_queue(const char *name, int how, mode_t mode, const struct mq_attr *attr,
                      bool excl, mqd_t *out, bool *created)
{
    *created = false;
    if (attr) {
        mqd_t q = mq_open(name, how | O_CLOEXEC | O_CREAT | O_EXCL, mode, attr);
        if (q != (mqd_t)-1) {
            *created = true;
            /* mq_open applies the umask; the contract is the exact mode. */
            if (fchmod(q, mode) < 0) {
                int err = -errno;
                mq_close(q);
                mq_unlink(name);
                *created = false;
                return err;
            }
            *out = q;
            return 0;
        }
        if (errno != EEXIST || excl)
            return -errno;
    }
    mqd_t q = mq_open(name, how | O_CLOEXEC);
    if (q == (mqd_t)-1)
        return -errno;
    *out = q;
    return 0;
}

/* Refuses a queue whose geometry differs from one the caller asked for. */
static int check_geometry(mqd_t q, const struct mq_attr *want, bool depth_given, bool size_given,
                          int mismatch, size_t *msgsize)
{
    struct mq_attr a;
    if (mq_getattr(q, &a) < 0)
        return -errno;
    if ((depth_given && a.mq_maxmsg != want->mq_maxmsg) ||
        (size_given && a.mq_msgsize != want->mq_msgsize))
        return mismatch;
    *msgsize = (size_t)a.mq_msgsize;
    return 0;
}

static int mq_open_op(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct mq_channel *c = (struct mq_channel *)ch;
    c->rq = c->wq = (mqd_t)-1;
    c->token_fd = -1;
    uipc__pollset_init(&c->ps);

    int r = mq_names(u, c->c2s, c->s2c);
    if (r < 0)
        return r;
    struct mq_limits lim;
    mq_limits_read(&lim);
    uint64_t depth, msgsize;
    mode_t mode;
    int err;
    bool depth_given = uipc__uri_get(u, "depth", &err) != NULL;
    bool size_given = uipc__uri_get(u, "maxmsg", &err) != NULL;
    if ((r = uipc__uri_size(u, "depth", 1, lim.msg_max, lim.msg_default, &depth)) < 0 ||
        (r = uipc__uri_size(u, "maxmsg", 1, lim.msgsize_max, lim.msgsize_default, &msgsize)) < 0 ||
        (r = uipc__uri_mode(u, &mode)) < 0)
        return r;
    struct mq_attr attr = {.mq_maxmsg = (long)depth, .mq_msgsize = (long)msgsize};

    bool owner = flags & UIPC_CREATE, excl = flags & UIPC_EXCL;
    bool made_c2s = false, made_s2c = false;
    size_t wsize = 0;
    if (owner) {
        c->token_fd = token_bind(c->c2s, geteuid());
        if (c->token_fd < 0)
            return c->token_fd == -EADDRINUSE && excl ? -EEXIST : c->token_fd;
        /* Adopting a stale pair keeps its queued messages; a geometry the
         * caller asked for explicitly must match it. */
        r = open_queue(c->c2s, O_RDONLY, mode, &attr, excl, &c->rq, &made_c2s);
        if (r == 0)
            r = open_queue(c->s2c, O_WRONLY, mode, &attr, excl, &c->wq, &made_s2c);
        /* A stale pair is adopted only by its owner and with the mode asked. */
        if (r == 0 && !made_c2s)
            r = uipc__rdv_adopt_fd((int)c->rq, mode);
        if (r == 0 && !made_s2c)
            r = uipc__rdv_adopt_fd((int)c->wq, mode);
        if (r == 0)
            r = uipc__rdv_id_fd((int)c->rq, &c->c2s_id);
        if (r == 0)
            r = uipc__rdv_id_fd((int)c->wq, &c->s2c_id);
        if (r == 0)
            r = check_geometry(c->rq, &attr, depth_given, size_given, -EEXIST, &c->rsize);
        if (r == 0)
            r = check_geometry(c->wq, &attr, depth_given, size_given, -EEXIST, &wsize);
    } else {
        bool unused;
        r = open_queue(c->s2c, O_RDONLY, 0, NULL, false, &c->rq, &unused);
        if (r == 0)
            r = open_queue(c->c2s, O_WRONLY, 0, NULL, false, &c->wq, &unused);
        if (r == 0)
            r = check_geometry(c->rq, &attr, depth_given, size_given, -EINVAL, &c->rsize);
        if (r == 0)
            r = check_geometry(c->wq, &attr, depth_given, size_given, -EINVAL, &wsize);
    }
    if (r < 0)
        goto fail;
    ch->max_msg = wsize;
    return 0;

fail:
    if (c->rq != (mqd_t)-1)
        mq_close(c->rq);
    if (c->wq != (mqd_t)-1)
        mq_close(c->wq);
    if (made_c2s)
        mq_unlink(c->c2s);
    if (made_s2c)
        mq_unlink(c->s2c);
    uipc__close_fd(c->token_fd);
    return r;
}

/* The absolute CLOCK_REALTIME time at which what remains of dl runs out. */
/*
 * Decides what to do after a timed queue call failed with errno: 0 to try
 * again (EINTR, or a realtime deadline that ran out before the monotonic
 * one because the clock was stepped), or the error to return.
 */
static int retry_or_error(const struct uipc__deadline *dl)
{
    if (errno == EINTR)
        return 0;
    if (errno == ETIMEDOUT)
        return uipc__deadline_left_ns(dl) == 0 ? uipc__deadline_error(dl) : 0;
    return -errno;
}

static ssize_t mq_send_op(struct uipc_channel *ch, const void *msg, size_t len,
                          const uipc_msginfo *info, struct uipc__deadline *dl)
{
    struct mq_channel *c = (struct mq_channel *)ch;
    if (info->priority >= MQ_PRIO_MAX) /* the core refused a type */
        return -EINVAL;
    for (;;) {
        int64_t left = uipc__deadline_left_ns(dl);
        int n;
        if (left < 0) {
            n = mq_send(c->wq, msg, len, info->priority);
        } else {
            struct timespec at = uipc__deadline_abs(dl, CLOCK_REALTIME);
            n = mq_timedsend(c->wq, msg, len, info->priority, &at);
        }
        if (n == 0)
            return (ssize_t)len;
        int r = retry_or_error(dl);
        if (r < 0)
            return r;
    }
}

/* One mq_(timed)receive into buf (cap >= rsize), resuming after EINTR. */
static ssize_t receive(struct mq_channel *c, void *buf, size_t cap, unsigned *prio,
                       const struct uipc__deadline *dl)
{
    for (;;) {
        int64_t left = uipc__deadline_left_ns(dl);
        ssize_t n;
        if (left < 0) {
            n = mq_receive(c->rq, buf, cap, prio);
        } else {
            struct timespec at = uipc__deadline_abs(dl, CLOCK_REALTIME);
            n = mq_timedreceive(c->rq, buf, cap, prio, &at);
        }
        if (n >= 0)
            return n;
        int r = retry_or_error(dl);
        if (r < 0)
            return r;
    }
}

/* Hands out the held message if it fits now. */
static ssize_t take_held(struct mq_channel *c, void *buf, size_t cap, uipc_msginfo *info)
{
    if (c->held_len > cap)
        return -EMSGSIZE;
    memcpy(buf, c->rbuf, c->held_len);
    info->priority = c->held_prio;
    c->held = false;
    uipc__pollset_signal(&c->ps, false);
    return (ssize_t)c->held_len;
}

static ssize_t mq_recv_op(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                          struct uipc__deadline *dl)
{
    struct mq_channel *c = (struct mq_channel *)ch;
    /* The priority coming in is not a filter (mq has none) and is ignored,
     * so a caller may reuse the info of the previous receive; the core
     * refused a type filter. */
    info->priority = 0;
    if (c->held)
        return take_held(c, buf, cap, info);
    unsigned prio = 0;
    ssize_t n;
    if (cap >= c->rsize) {
        n = receive(c, buf, cap, &prio, dl);
        if (n >= 0)
            info->priority = prio;
        return n;
    }
    if (!c->rbuf && !(c->rbuf = malloc(c->rsize ? c->rsize : 1)))
        return -ENOMEM;
    n = receive(c, c->rbuf, c->rsize, &prio, dl);
    if (n < 0)
        return n;
    c->held = true;
    c->held_len = (size_t)n;
    c->held_prio = prio;
    uipc__pollset_signal(&c->ps, true);
    return take_held(c, buf, cap, info);
}

static int mq_close_op(struct uipc_channel *ch, bool remove)
{
    struct mq_channel *c = (struct mq_channel *)ch;
    int r = 0;
    mq_close(c->rq);
    mq_close(c->wq);
    /* Only the queues we held, never a successor's. */
    if (remove) {
        if (queue_is(c->c2s, &c->c2s_id) && mq_unlink(c->c2s) < 0 && errno != ENOENT)
            r = -errno;
        if (queue_is(c->s2c, &c->s2c_id) && mq_unlink(c->s2c) < 0 && errno != ENOENT)
            r = -errno;
    }
    uipc__close_fd(c->token_fd);
    uipc__pollset_release(&c->ps);
    free(c->rbuf);
    return r;
}

/* Removes a stale pair; -EADDRINUSE while its owner lives (force: anyway). */
static int mq_unlink_op(const struct uipc__uri *u, bool force)
{
    char c2s[NAME_MAX + 2], s2c[NAME_MAX + 2];
    int r = mq_names(u, c2s, s2c);
    if (r < 0)
        return r;
    /* Holding the owner's token also keeps a creator out meanwhile. */
    int token = force ? -1 : token_bind(c2s, queue_owner(c2s));
    if (token < 0 && !force)
        return token;
    int e1 = mq_unlink(c2s) < 0 ? -errno : 0;
    int e2 = mq_unlink(s2c) < 0 ? -errno : 0;
    uipc__close_fd(token);
    if (e1 == -ENOENT && e2 == -ENOENT)
        return -ENOENT;
    if (e1 < 0 && e1 != -ENOENT)
        return e1;
    return e2 == -ENOENT ? 0 : e2;
}

/* probe: the pairs X.c2s / X.s2c in /dev/mqueue, live while the owner's
 * token is bound by the queues' owner uid. */
static int mq_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                  const struct stat *st)
{
    size_t n = strlen(name);
    char c2s[NAME_MAX + 2], half[NAME_MAX + 1], line[128];
    struct stat st2;
    if (!S_ISREG(st->st_mode) || n <= 4 || strcmp(name + n - 4, UIPC__RDV_C2S) != 0)
        return 0;
    snprintf(half, sizeof half, "%.*s" UIPC__RDV_S2C, (int)(n - 4), name);
    if (fstatat(dirfd, half, &st2, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st2.st_mode))
        return 0;
    snprintf(c2s, sizeof c2s, "/%s", name);
    int live = uipc__rdv_token_live("uipc-mq", c2s, st->st_uid);
    uipc_rdvinfo info;
    if (uipc__probe_fill(&info, "mq", live ? UIPC_RDV_LIVE : UIPC_RDV_STALE, st, false,
                         "mq:///%.*s", (int)(n - 4), name) < 0)
        return 0;
    /* The queued bytes: "QSIZE:N ..." is the first line of each file. */
    for (int i = 0; i < 2; i++) {
        int fd = openat(dirfd, i ? half : name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t got = fd < 0 ? -1 : read(fd, line, sizeof line - 1);
        long long q;
        if (got > 0 && (line[got] = '\0', sscanf(line, "QSIZE:%lld", &q) == 1))
            info.size = (info.size < 0 ? 0 : info.size) + q;
        if (fd >= 0)
            uipc__close_fd(fd);
    }
    if (live) {
        char token[NAME_MAX + 16];
        snprintf(token, sizeof token, "@uipc-mq%s", c2s);
        info.pid = uipc__probe_sock_holder(token, NULL);
    }
    return w->emit(&info, w->arg);
}

/*
 * Where the mqueue file system is not mounted at /dev/mqueue, queues have
 * no directory to list: the live pairs are found from their owners'
 * tokens in /proc/net/unix instead (a stale pair cannot be found by name).
 */
static int mq_probe_tokens(uipc__probe_emit emit, void *arg)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return 0;
    char line[NAME_MAX + 256];
    int r = 0;
    while (r == 0 && fgets(line, sizeof line, f)) {
        int at = 0;
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %n", &at) != 0 || !at)
            continue;
        char *token = line + at, *c2s = token + strlen("@uipc-mq");
        size_t n = strcspn(token, "\n");
        token[n] = '\0';
        if (strncmp(token, "@uipc-mq/", 9) != 0 || n <= 13 ||
            strcmp(token + n - 4, UIPC__RDV_C2S) != 0)
            continue;
        mqd_t q = mq_open(c2s, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        bool ok = q != (mqd_t)-1 && fstat((int)q, &st) == 0;
        if (q != (mqd_t)-1)
            mq_close(q);
        uipc_rdvinfo info;
        if (!ok || uipc__rdv_token_live("uipc-mq", c2s, st.st_uid) != 1 ||
            uipc__probe_fill(&info, "mq", UIPC_RDV_LIVE, &st, false, "mq://%.*s",
                             (int)(strlen(c2s) - 4), c2s) < 0)
            continue;
        info.pid = uipc__probe_sock_holder(token, NULL);
        r = emit(&info, arg);
    }
    fclose(f);
    return r;
}

#define MQUEUE_FS_MAGIC 0x19800202 /* the mqueue file system's statfs f_type */

static int mq_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    struct uipc__probe_walk w = {.dir = "/dev/mqueue", .emit = emit, .arg = arg};
    struct statfs sf;
    if (dir)
        return 0;
    if (statfs(w.dir, &sf) < 0 || sf.f_type != MQUEUE_FS_MAGIC)
        return mq_probe_tokens(emit, arg);
    return uipc__probe_dir(&w, mq_row);
}

static int mq_pollfd_op(struct uipc_channel *ch)
{
    /* The poll set is created lazily and is part of the handle's state. */
    struct mq_channel *c = (struct mq_channel *)ch;
    int ep = uipc__pollset_create(&c->ps);
    if (ep < 0)
        return ep;
    int r = uipc__pollset_add(&c->ps, (int)c->rq);
    if (r < 0)
        return r;
    uipc__pollset_signal(&c->ps, c->held);
    return ep;
}

/* A message queue descriptor polls like a file: readable when a message
 * waits, writable when the queue has room.  No peer to lose: no POLLHUP. */
static int mq_poll_ready_op(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct mq_channel *c = (struct mq_channel *)ch;
    int rev = 0;
    if ((events & UIPC_POLLIN) &&
        (c->held || (uipc__poll_fd_now((int)c->rq, POLLIN) & (POLLIN | POLLERR))))
        rev |= UIPC_POLLIN;
    if ((events & UIPC_POLLOUT) && (uipc__poll_fd_now((int)c->wq, POLLOUT) & (POLLOUT | POLLERR)))
        rev |= UIPC_POLLOUT;
    if (rev || !w)
        return rev;
    if (events & UIPC_POLLIN)
        uipc__pollwait_add(w, (int)c->rq, POLLIN);
    if (events & UIPC_POLLOUT)
        uipc__pollwait_add(w, (int)c->wq, POLLOUT);
    return 0;
}

const struct uipc_transport uipc__transport_mq = {
    .scheme = "mq",
    .size = sizeof(struct mq_channel),
    .keys = mq_keys,
    .attrs = UIPC__ATTR_PRIORITY,
    .caps = UIPC__CAP_RELIABLE | UIPC__CAP_BOUNDED | UIPC__CAP_N_PARTY | UIPC__CAP_LOCAL_NAME |
            UIPC__CAP_OWNED,
    .open = mq_open_op,
    .send = mq_send_op,
    .recv = mq_recv_op,
    .close = mq_close_op,
    .unlink = mq_unlink_op,
    .probe = mq_probe,
    .pollfd = mq_pollfd_op,
    .poll_ready = mq_poll_ready_op,
};
