/* SPDX-License-Identifier: MIT */
/*
 * sysvmq: — a System V message queue, "sysvmq://0x1234" (a numeric key,
 * decimal or 0x hex) or "sysvmq:///etc/app?proj=7" (ftok of an existing
 * path and a project id 1..255, default 1).
 *
 * Datagram transport, N parties, both directions on the one kernel queue,
 * told apart by message type:
 *  - owner side to attachers ("s2c") carries the caller's type, 1 ..
 *    LONG_MAX-1 (type 0 on send means 1).  Attachers receive with msgrcv
 *    semantics exactly: filter 0 takes the oldest s2c message of any type,
 *    > 0 the oldest of that type, < 0 the oldest of the lowest type
 *    <= |filter|.  A message not taken stays queued for other receivers.
 *  - attachers to the owner side ("c2s") all use the reserved type
 *    LONG_MAX, so the owner side takes them in FIFO order; a type on a c2s
 *    send or a filter on an owner-side receive is -ENOTSUP (msgrcv cannot
 *    select a range above another direction's types while keeping FIFO).
 * Each message is taken by exactly one receiver: any number of processes
 * may attach, and a handle inherited across fork may be shared (the queue
 * is the only state), which is how several workers share the owner side.
 *
 * Limits: ?maxmsg= (bytes per message) at most kernel.msgmax, default
 * kernel.msgmax; ?size= (msg_qbytes, total bytes queued, both directions
 * together) at most kernel.msgmnb, default the kernel's; a request above
 * either is -EINVAL for every caller, privileged or not.  maxmsg must not
 * exceed the queue's msg_qbytes.  Because both directions share those
 * bytes, a side that fills the queue starves the other: callers bound the
 * requests they have outstanding (examples/job_queue.c keeps a window).
 *
 * Who creates and removes: the owner (UIPC_CREATE) creates the queue with
 * ?mode= (default 0600) and removes it (IPC_RMID) at close, only in the
 * process that opened it.  Its liveness is an abstract UNIX socket name
 * bound for the life of the handle: UIPC_CREATE adopts a queue whose owner
 * is gone (its messages are kept) and refuses one whose owner lives
 * (-EADDRINUSE); uipc_unlink removes a stale queue and refuses a live one.
 * Removing a queue destroys what is still queued and wakes every waiter
 * with -EIDRM (System V has no "remove when the last user is gone").
 *
 * Waiting: msgsnd/msgrcv have no timeout.  UIPC_FOREVER blocks in the
 * kernel (EINTR resumes), a timeout of 0 is one IPC_NOWAIT try, and a
 * bounded timeout blocks in the kernel too, under a per-thread timer that
 * interrupts the call at the deadline (wait_more below, uipc__alarm in
 * wait.h; the library reserves SIGRTMAX-1 for it unless the application
 * has claimed that signal, docs/queues.md).  No poll descriptor exists
 * (-ENOTSUP).
 *
 * A message larger than the caller's buffer is -EMSGSIZE and stays queued:
 * msgrcv without MSG_NOERROR fails with E2BIG and leaves it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "rendezvous.h"

#define C2S_TYPE LONG_MAX               /* every message to the owner side */
#define USER_TYPE_MAX (LONG_MAX - 1)    /* highest type a caller may use */
#define BACKOFF_MIN_NS 20000            /* first sleep of a bounded wait */
#define BACKOFF_MAX_NS 1000000          /* longest sleep of a bounded wait */

struct sysv_msg {
    long mtype;
    char mtext[];
};

struct sysvmq_channel {
    struct uipc_channel base;
    int id;                  /* msqid */
    key_t key;
    int token_fd;            /* owner: abstract socket that says "owner alive" */
    struct sysv_msg *sbuf;   /* max_msg bytes of text */
    struct sysv_msg *rbuf;   /* rcap bytes of text */
    size_t rcap;
};

static const char *const sysvmq_keys[] = {"proj", "size", "maxmsg", "mode", NULL};

/* The owner's liveness token: the abstract name "uipc-sysvmq:<key in
 * hex>", which counts only when a process of the queue owner's uid binds
 * it (rendezvous.h).  Returns the socket, or -EADDRINUSE for a live owner. */
#define TOKEN_PREFIX "uipc-sysvmq:"

static void token_name(key_t key, char hex[16])
{
    snprintf(hex, 16, "%08x", (unsigned)key);
}

static int token_bind(key_t key, uid_t owner)
{
    char hex[16];
    token_name(key, hex);
    return uipc__rdv_token_bind(TOKEN_PREFIX, hex, owner);
}

/* EINVAL from a call on a queue we had: the queue is gone. */
static int queue_error(const struct sysvmq_channel *c, int err)
{
    struct msqid_ds ds;
    if ((err == EINVAL || err == EIDRM) && msgctl(c->id, IPC_STAT, &ds) < 0)
        return -EIDRM;
    return -err;
}

static int sysvmq_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct sysvmq_channel *c = (struct sysvmq_channel *)ch;
    c->id = -1;
    c->token_fd = -1;
    uint64_t msgmax = uipc__proc_u64("/proc/sys/kernel/msgmax", 8192);
    uint64_t msgmnb = uipc__proc_u64("/proc/sys/kernel/msgmnb", 16384);
    uint64_t size, maxmsg;
    mode_t mode;
    int err, r;
    bool size_given = uipc__uri_get(u, "size", &err) != NULL;
    bool maxmsg_given = uipc__uri_get(u, "maxmsg", &err) != NULL;
    if ((r = uipc__uri_sysv_key(u, &c->key)) < 0 ||
        (r = uipc__uri_size(u, "size", 1, msgmnb, msgmnb, &size)) < 0 ||
        (r = uipc__uri_size(u, "maxmsg", 1, msgmax, msgmax, &maxmsg)) < 0 ||
        (r = uipc__uri_mode(u, &mode)) < 0)
        return r;

    bool created = false;
    if (flags & UIPC_CREATE) {
        c->token_fd = token_bind(c->key, geteuid());
        if (c->token_fd < 0)
            return c->token_fd == -EADDRINUSE && (flags & UIPC_EXCL) ? -EEXIST : c->token_fd;
        c->id = msgget(c->key, IPC_CREAT | IPC_EXCL | (int)mode);
        created = c->id >= 0;
        if (c->id < 0 && errno == EEXIST && !(flags & UIPC_EXCL))
            c->id = msgget(c->key, 0);
    } else {
        c->id = msgget(c->key, 0);
    }
    if (c->id < 0) {
        r = -errno;
        goto fail;
    }

    struct msqid_ds ds;
    if (msgctl(c->id, IPC_STAT, &ds) < 0) {
        r = -errno;
        goto fail;
    }
    /* A stale queue is adopted only by its owner, and then gets the mode asked. */
    if ((flags & UIPC_CREATE) && !created && (r = uipc__rdv_adoptable(ds.msg_perm.uid)) < 0)
        goto fail;
    if (flags & UIPC_CREATE) {
        /* The owner sets what it asked for, also on a queue it adopted. */
        bool set = (size_given && ds.msg_qbytes != size) ||
                   (created && ds.msg_qbytes != size) ||
                   (!created && (ds.msg_perm.mode & 0777) != mode);
        if (size_given || created)
            ds.msg_qbytes = size;
        ds.msg_perm.mode = mode;
        if (set && msgctl(c->id, IPC_SET, &ds) < 0) {
            r = -errno;
            goto fail;
        }
    } else if (size_given && ds.msg_qbytes != size) {
        r = -EINVAL; /* only the owner sets the size */
        goto fail;
    }
    if (maxmsg > ds.msg_qbytes) {
        if (maxmsg_given) {
            r = -EINVAL; /* a message that could never be queued */
            goto fail;
        }
        maxmsg = ds.msg_qbytes;
    }
    ch->max_msg = (size_t)maxmsg;
    /* Receive room for the largest message the kernel lets anyone send. */
    c->rcap = (size_t)(msgmax > maxmsg ? msgmax : maxmsg);
    c->sbuf = malloc(sizeof(struct sysv_msg) + ch->max_msg);
    c->rbuf = malloc(sizeof(struct sysv_msg) + c->rcap);
    if (!c->sbuf || !c->rbuf) {
        r = -ENOMEM;
        goto fail;
    }
    return 0;

fail:
    if (created)
        msgctl(c->id, IPC_RMID, NULL);
    free(c->sbuf);
    free(c->rbuf);
    uipc__close_fd(c->token_fd);
    return r;
}

/*
 * Waiting in msgsnd/msgrcv, which take no timeout.  A wait forever blocks
 * in the kernel (EINTR resumes).  A bounded wait first tries without
 * waiting (a message already there costs nothing more), then blocks in the
 * kernel under an alarm (wait.h) that interrupts the call at the deadline:
 * the same wake-up as a wait forever, and no CPU used while idle.  Only if
 * no alarm can be had (the application owns its signal, no timers) does it
 * fall back to retrying IPC_NOWAIT with a sleep that doubles from 20 us up
 * to 1 ms.
 */
struct wait_state {
    bool nowait;             /* the next call passes IPC_NOWAIT */
    bool polling;            /* no alarm: back-off sleeps between tries */
    int64_t step_ns;         /* the next back-off sleep */
    struct uipc__alarm alarm;
};

static void wait_begin(struct wait_state *w, const struct uipc__deadline *dl)
{
    w->nowait = dl->timeout_ms >= 0;
    w->polling = false;
    w->step_ns = BACKOFF_MIN_NS;
    w->alarm.armed = w->alarm.restore = false;
}

/* After a call that would have blocked or was interrupted: 0 to call again,
 * or the deadline's error. */
static int wait_more(struct wait_state *w, const struct uipc__deadline *dl)
{
    if (dl->timeout_ms < 0)
        return 0; /* EINTR while blocking forever: resume */
    int64_t left = uipc__deadline_left_ns(dl);
    if (left == 0)
        return uipc__deadline_error(dl);
    if (w->alarm.armed)
        return 0; /* another signal interrupted the call: resume, still armed */
    if (!w->polling && uipc__alarm_arm(&w->alarm, dl) == 0) {
        w->nowait = false;
        return 0;
    }
    w->polling = true;
    int64_t ns = left < w->step_ns ? left : w->step_ns;
    uipc__nap_ns(ns); /* EINTR: the caller's loop re-checks the deadline */
    w->step_ns = w->step_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : w->step_ns * 2;
    return 0;
}

static ssize_t sysvmq_send(struct uipc_channel *ch, const void *msg, size_t len,
                           const uipc_msginfo *info, struct uipc__deadline *dl)
{
    struct sysvmq_channel *c = (struct sysvmq_channel *)ch;
    /* A priority never gets here: the core refuses it (no UIPC__ATTR_PRIORITY). */
    if (info->type < 0 || info->type > USER_TYPE_MAX)
        return -EINVAL;
    if (!ch->owner && info->type != 0)
        return -ENOTSUP; /* c2s messages carry the reserved type */
    c->sbuf->mtype = ch->owner ? (info->type ? info->type : 1) : C2S_TYPE;
    memcpy(c->sbuf->mtext, msg, len);
    struct wait_state w;
    wait_begin(&w, dl);
    ssize_t r;
    for (;;) {
        if (msgsnd(c->id, c->sbuf, len, w.nowait ? IPC_NOWAIT : 0) == 0) {
            r = (ssize_t)len;
            break;
        }
        if (errno != EINTR && errno != EAGAIN) {
            r = queue_error(c, errno);
            break;
        }
        if ((r = wait_more(&w, dl)) < 0)
            break;
    }
    uipc__alarm_disarm(&w.alarm);
    return r;
}

static ssize_t sysvmq_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                           struct uipc__deadline *dl)
{
    struct sysvmq_channel *c = (struct sysvmq_channel *)ch;
    long want;
    int how = 0;
    if (ch->owner) {
        if (info->type != 0)
            return -ENOTSUP;
        want = C2S_TYPE;
    } else if (info->type == 0) {
        want = C2S_TYPE;
        how = MSG_EXCEPT;
    } else if (info->type > 0) {
        if (info->type > USER_TYPE_MAX)
            return -EINVAL;
        want = info->type;
    } else {
        /* Lowest type <= |filter|, kept below the c2s type. */
        want = info->type < -USER_TYPE_MAX ? -USER_TYPE_MAX : info->type;
    }
    size_t room = cap < c->rcap ? cap : c->rcap;
    struct wait_state w;
    wait_begin(&w, dl);
    ssize_t r;
    for (;;) {
        ssize_t n = msgrcv(c->id, c->rbuf, room, want, how | (w.nowait ? IPC_NOWAIT : 0));
        if (n >= 0) {
            memcpy(buf, c->rbuf->mtext, (size_t)n);
            info->type = ch->owner ? 0 : c->rbuf->mtype;
            info->priority = 0;
            r = n;
            break;
        }
        if (errno == E2BIG) {
            r = -EMSGSIZE; /* without MSG_NOERROR the message stays queued */
            break;
        }
        if (errno != EINTR && errno != ENOMSG && errno != EAGAIN) {
            r = queue_error(c, errno);
            break;
        }
        if ((r = wait_more(&w, dl)) < 0)
            break;
    }
    uipc__alarm_disarm(&w.alarm);
    return r;
}

static int sysvmq_close(struct uipc_channel *ch, bool remove)
{
    struct sysvmq_channel *c = (struct sysvmq_channel *)ch;
    int r = 0;
    /* Our queue by its id: a successor's queue under the key has another. */
    if (remove && msgctl(c->id, IPC_RMID, NULL) < 0 && errno != EINVAL && errno != EIDRM)
        r = -errno;
    uipc__close_fd(c->token_fd);
    free(c->sbuf);
    free(c->rbuf);
    return r;
}

/* Removes a stale queue; -EADDRINUSE while its owner lives (force: anyway). */
static int sysvmq_unlink(const struct uipc__uri *u, bool force)
{
    key_t key;
    int r = uipc__uri_sysv_key(u, &key);
    if (r < 0)
        return r;
    int id = msgget(key, 0);
    struct msqid_ds ds;
    if (id < 0 || msgctl(id, IPC_STAT, &ds) < 0)
        return -errno;
    /* The token also keeps a creator out meanwhile. */
    int token = force ? -1 : token_bind(key, ds.msg_perm.uid);
    if (token < 0 && !force)
        return token;
    r = msgctl(id, IPC_RMID, NULL) < 0 ? -errno : 0;
    uipc__close_fd(token);
    return r;
}

/*
 * Readiness for uipc_poll.  Both directions share the queue, so a message
 * count says nothing: the queue is read by position with MSG_COPY (a copy
 * of one byte, the message stays) until one this side would receive turns
 * up (an attacher: any s2c type, the filter of a plain uipc_recv).  A
 * kernel without MSG_COPY (CONFIG_CHECKPOINT_RESTORE) falls back to "the
 * queue is not empty", which may report a message of the other direction.
 * Room is msg_qbytes against msg_cbytes.  Nothing can be slept on: uipc_poll
 * naps between looks.
 */
static int sysvmq_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct sysvmq_channel *c = (struct sysvmq_channel *)ch;
    int rev = 0;
    struct msqid_ds st;
    if (msgctl(c->id, IPC_STAT, &st) < 0)
        return events; /* removed or forbidden: every call says so at once */
    if ((events & UIPC_POLLOUT) && st.msg_cbytes + 1 <= st.msg_qbytes)
        rev |= UIPC_POLLOUT;
    for (long i = 0; (events & UIPC_POLLIN) && i < (long)st.msg_qnum; i++) {
        struct {
            long mtype;
            char mtext[1];
        } m;
        if (msgrcv(c->id, &m, sizeof m.mtext, i, IPC_NOWAIT | MSG_COPY | MSG_NOERROR) < 0) {
            if (errno == ENOMSG)
                break; /* taken meanwhile */
            rev |= UIPC_POLLIN; /* no MSG_COPY: the queue is not empty */
            break;
        }
        if ((m.mtype == C2S_TYPE) == ch->owner) {
            rev |= UIPC_POLLIN;
            break;
        }
    }
    if (!rev && w)
        w->nap = true;
    return rev;
}

/*
 * probe: the keyed queues of /proc/sysvipc/msg.  A System V queue carries
 * no mark of its maker: one whose owner's token is bound is libuipc's and
 * live; a keyed queue without it is listed stale, whoever made it (the
 * same judgement uipc_unlink makes).  Private (key 0) queues are never
 * listed.
 */
static int sysvmq_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    if (dir)
        return 0;
    FILE *f = fopen("/proc/sysvipc/msg", "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char line[512];
    int r = 0;
    bool header = true;
    while (r == 0 && fgets(line, sizeof line, f)) {
        long key;
        int id;
        unsigned perms, uid;
        long long cbytes;
        /* key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid ... */
        if (header || sscanf(line, "%ld %d %o %lld %*s %*s %*s %u", &key, &id, &perms, &cbytes,
                             &uid) != 5 || key == 0) {
            header = false;
            continue;
        }
        char hex[16];
        token_name((key_t)key, hex);
        int live = uipc__rdv_token_live(TOKEN_PREFIX, hex, (uid_t)uid);
        struct stat st = {.st_uid = (uid_t)uid, .st_mode = perms & 0777};
        uipc_rdvinfo info;
        if (uipc__probe_fill(&info, "sysvmq", live ? UIPC_RDV_LIVE : UIPC_RDV_STALE, &st, false,
                             "sysvmq://0x%08x", (unsigned)key) < 0)
            continue;
        info.size = cbytes;
        if (live) {
            char token[64];
            snprintf(token, sizeof token, "@" TOKEN_PREFIX "%s", hex);
            info.pid = uipc__probe_sock_holder(token, NULL);
        }
        r = emit(&info, arg);
    }
    fclose(f);
    return r;
}

const struct uipc_transport uipc__transport_sysvmq = {
    .scheme = "sysvmq",
    .size = sizeof(struct sysvmq_channel),
    .keys = sysvmq_keys,
    .attrs = UIPC__ATTR_TYPE,
    .caps = UIPC__CAP_RELIABLE | UIPC__CAP_BOUNDED | UIPC__CAP_N_PARTY | UIPC__CAP_LOCAL_NAME |
            UIPC__CAP_OWNED | UIPC__CAP_CLOSE_DESTROYS,
    .open = sysvmq_open,
    .send = sysvmq_send,
    .recv = sysvmq_recv,
    .close = sysvmq_close,
    .unlink = sysvmq_unlink,
    .probe = sysvmq_probe,
    .poll_ready = sysvmq_poll_ready,
};
