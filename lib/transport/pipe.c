/* SPDX-License-Identifier: MIT */
/*
 * pipe: — two anonymous pipes, one per direction; uipc_pair only.
 *
 * Stream transport with libuipc framing (framing.c): reliable, ordered,
 * messages up to ?maxmsg= (default 16 MiB).  Nothing is named, so nothing
 * is created or removed on disk; the pipes go away with their last
 * descriptor.  For related processes: pair, fork, and let each process
 * close the end it does not use.  Peer death is seen as end of stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "framing.h"
#include "internal.h"

struct pipe_channel {
    struct uipc_channel base;
    struct uipc__framer f;
};

static const char *const pipe_keys[] = {"maxmsg", NULL};

static int pipe_pair(struct uipc_channel *a, struct uipc_channel *b, const struct uipc__uri *u)
{
    struct pipe_channel *pa = (struct pipe_channel *)a, *pb = (struct pipe_channel *)b;
    uint64_t max;
    int ab[2], ba[2];
    if (u->has_authority || u->path[0])
        return -EINVAL; /* "pipe:" names nothing */
    int r = uipc__uri_size(u, "maxmsg", 1, UIPC__MAXMSG_CEILING, UIPC__DEFAULT_MAXMSG, &max);
    if (r < 0)
        return r;
    if (pipe2(ab, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    if (pipe2(ba, O_CLOEXEC | O_NONBLOCK) < 0) {
        r = -errno;
        uipc__close_fd(ab[0]);
        uipc__close_fd(ab[1]);
        return r;
    }
    /* Each end also keeps an unread reader of the pipe it writes to: the
     * framer's guard against SIGPIPE (framing.h). */
    int ga = fcntl(ab[0], F_DUPFD_CLOEXEC, 0), gb = fcntl(ba[0], F_DUPFD_CLOEXEC, 0);
    if (ga < 0 || gb < 0) {
        r = -errno;
        int fds[] = {ab[0], ab[1], ba[0], ba[1], ga, gb};
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
            uipc__close_fd(fds[i]);
        return r;
    }
    uipc__framer_init(&pa->f, ba[0], ab[1], false);
    uipc__framer_guard(&pa->f, ga);
    uipc__framer_init(&pb->f, ab[0], ba[1], false);
    uipc__framer_guard(&pb->f, gb);
    a->max_msg = b->max_msg = pa->f.max_msg = pb->f.max_msg = (size_t)max;
    return 0;
}

static ssize_t pipe_send(struct uipc_channel *ch, const void *msg, size_t len,
                         const uipc_msginfo *info, struct uipc__deadline *dl)
{
    (void)info; /* no attributes: the core refused any */
    return uipc__framer_send(&((struct pipe_channel *)ch)->f, msg, len, dl);
}

static ssize_t pipe_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                         struct uipc__deadline *dl)
{
    (void)info;
    return uipc__framer_recv(&((struct pipe_channel *)ch)->f, buf, cap, dl);
}

static int pipe_close(struct uipc_channel *ch, bool remove)
{
    (void)remove; /* anonymous: nothing named */
    uipc__framer_release(&((struct pipe_channel *)ch)->f);
    return 0;
}

static int pipe_pollfd(struct uipc_channel *ch)
{
    return uipc__framer_pollfd(&((struct pipe_channel *)ch)->f);
}

static int pipe_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    return uipc__framer_poll_ready(&((struct pipe_channel *)ch)->f, events, w);
}

const struct uipc_transport uipc__transport_pipe = {
    .scheme = "pipe",
    .size = sizeof(struct pipe_channel),
    .keys = pipe_keys,
    .caps = UIPC__CAPS_LINK,
    .pair = pipe_pair,
    .send = pipe_send,
    .recv = pipe_recv,
    .close = pipe_close,
    .pollfd = pipe_pollfd,
    .poll_ready = pipe_poll_ready,
};
