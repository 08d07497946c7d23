/* SPDX-License-Identifier: MIT */
/*
 * The poll set behind uipc_pollfd (see pollset.h).
 */
#include "pollset.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

void uipc__pollset_init(struct uipc__pollset *ps)
{
    ps->epfd = -1;
    ps->evfd = -1;
    ps->ev_on = false;
}

int uipc__pollset_create(struct uipc__pollset *ps)
{
    if (ps->epfd >= 0)
        return ps->epfd;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = ev};
    if (ev < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) < 0) {
        int err = -errno;
        uipc__close_fd(ev);
        uipc__close_fd(ep);
        return err;
    }
    ps->epfd = ep;
    ps->evfd = ev;
    ps->ev_on = false;
    return ep;
}

int uipc__pollset_add(struct uipc__pollset *ps, int fd)
{
    if (ps->epfd < 0 || fd < 0)
        return 0;
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ps->epfd, EPOLL_CTL_ADD, fd, &e) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

void uipc__pollset_del(struct uipc__pollset *ps, int fd)
{
    if (ps->epfd >= 0 && fd >= 0)
        epoll_ctl(ps->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void uipc__pollset_signal(struct uipc__pollset *ps, bool on)
{
    if (ps->epfd < 0 || ps->ev_on == on)
        return;
    uint64_t v = 1;
    ssize_t n = on ? write(ps->evfd, &v, sizeof v) : read(ps->evfd, &v, sizeof v);
    (void)n; /* an eventfd write of 1 or a read of a set counter cannot fail */
    ps->ev_on = on;
}

void uipc__pollset_release(struct uipc__pollset *ps)
{
    uipc__close_fd(ps->evfd);
    uipc__close_fd(ps->epfd);
    uipc__pollset_init(ps);
}
