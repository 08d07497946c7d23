/* SPDX-License-Identifier: MIT */
/*
 * The poll set: what every transport's uipc_pollfd returns when no single
 * kernel descriptor says "a message may wait" (the framer, the ring's
 * doorbell, mq:, file:).
 */
#ifndef UIPC_POLLSET_H
#define UIPC_POLLSET_H

#include <stdbool.h>

/*
 * A stable poll descriptor: an epoll set over the descriptors the channel
 * currently waits on, plus an eventfd for readiness that lives in user
 * space.  Created lazily the first time a user asks for it.
 */
struct uipc__pollset {
    int epfd;       /* -1 until created */
    int evfd;
    bool ev_on;
};

void uipc__pollset_init(struct uipc__pollset *ps);
/* Creates the set if needed; returns epfd or a negative errno. */
int uipc__pollset_create(struct uipc__pollset *ps);
/* Adds or removes fd (EPOLLIN) if the set exists; no-op otherwise. */
int uipc__pollset_add(struct uipc__pollset *ps, int fd);
void uipc__pollset_del(struct uipc__pollset *ps, int fd);
/* Keeps the eventfd readable (on) or drained (off) if the set exists. */
void uipc__pollset_signal(struct uipc__pollset *ps, bool on);
void uipc__pollset_release(struct uipc__pollset *ps);

#endif /* UIPC_POLLSET_H */
