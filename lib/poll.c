/* SPDX-License-Identifier: MIT */
/*
 * uipc_poll: one wait over many channels and listeners, any mix of
 * transports, level-triggered.
 *
 * A pass asks each item's transport how ready it is (the poll_ready
 * operation, internal.h): on rings that is a look at shared memory, so a
 * message already waiting is found without a system call; on stream
 * transports it is a non-blocking read into the framer's buffer, so that
 * UIPC_POLLIN is exact (a whole message, or the end).  When nothing is
 * ready and the caller may wait, a second pass arms the wake-ups (a ring
 * announces that its consumer parks on the doorbell) and collects the
 * descriptors to sleep on; one ppoll then waits for all of them.  Any
 * wake-up starts a new pass, so a spurious one costs a look and nothing
 * else.
 *
 * Channels that belong to a poll group (those of one shm: listener:
 * struct uipc__pollgroup, internal.h) are armed together instead: memory
 * stores per ring, one uipc__fence_heavy for all, one look more, and one
 * descriptor for the group -- alone, one epoll_wait -- so a wait over 256
 * idle clients costs two system calls, not two per client.
 *
 * Readiness that no descriptor announces -- room in a ring for UIPC_POLLOUT,
 * anything on a System V queue -- is looked for again after a nap that
 * grows from POLL_NAP_MIN_NS to POLL_NAP_MAX_NS while nothing happens:
 * such an item is noticed at most POLL_NAP_MAX_NS late.
 *
 * Before it arms and sleeps, uipc_poll spins -- looks again and again --
 * for as long as every item allows (poll_spin_ns: rings, whose look is a
 * memory read; the budget is the smallest ?spin= among them, 50 us by
 * default, none on a single CPU).  A request/reply server then answers a
 * client that sends again within that time without either side entering
 * the kernel, the same policy as a ring's own receive; an idle server
 * spins once and sleeps.  Items whose look costs a system call (sockets,
 * pipes, queues, listeners) switch spinning off for the whole call.
 *
 * Listeners are polled through uipc_listener_pollfd; a transport without
 * poll_ready through uipc_pollfd (UIPC_POLLIN; UIPC_POLLOUT always holds).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#define POLL_NAP_MIN_NS 50000   /* first nap when an item has no descriptor */
#define POLL_NAP_MAX_NS 5000000 /* longest nap */
#define POLL_STACK_FDS 64       /* descriptors gathered without malloc */
#define POLL_EVENTS (UIPC_POLLIN | UIPC_POLLOUT | UIPC_POLLHUP)

void uipc__pollwait_add(struct uipc__pollwait *w, int fd, short events)
{
    if (fd >= 0 && w->nfds < 2)
        w->fds[w->nfds++] = (struct uipc__pollwait_fd){fd, events};
}

short uipc__poll_fd_now(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    do
        r = poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    return r < 0 ? POLLERR : p.revents;
}

/* UIPC_POLLIN when fd polls readable (or hung up: a call returns at once). */
static int fd_readable(int fd)
{
    return (uipc__poll_fd_now(fd, POLLIN) & (POLLIN | POLLHUP | POLLERR)) ? UIPC_POLLIN : 0;
}

/* One item's readiness; with w, arms it and says what to sleep on. */
static int item_ready(uipc_pollitem *it, struct uipc__pollwait *w)
{
    int events = it->events & (UIPC_POLLIN | UIPC_POLLOUT);
    if (it->l) {
        /* uipc_accept(l, ..., 0) gives a client when the socket is readable
         * (except for a client that allow_uid then refuses). */
        int fd = it->l->tp->listener_pollfd(it->l);
        if (fd < 0)
            return fd;
        int rev = (events & UIPC_POLLIN) ? fd_readable(fd) : 0;
        if (!rev && w && (events & UIPC_POLLIN))
            uipc__pollwait_add(w, fd, POLLIN);
        return rev;
    }
    struct uipc_channel *ch = it->ch;
    if (ch->tp->poll_ready)
        return ch->tp->poll_ready(ch, events, w);
    int rev = events & UIPC_POLLOUT;
    if (events & UIPC_POLLIN) {
        int fd = ch->tp->pollfd ? ch->tp->pollfd(ch) : -ENOTSUP;
        if (fd < 0)
            return fd;
        rev |= fd_readable(fd);
        if (!rev && w)
            uipc__pollwait_add(w, fd, POLLIN);
    }
    return rev;
}

/*
 * The poll groups a call sleeps on (internal.h: struct uipc__pollgroup):
 * the items of one group are armed with memory stores and one fence for
 * all, and sleep on the group's one descriptor.  Up to POLL_GROUPS groups
 * per call; the items of any further group, or of a group another thread
 * sleeps on, are armed one by one like any other item.
 */
#define POLL_GROUPS 4
struct groups {
    struct uipc__pollgroup *g[POLL_GROUPS];
    int n;
};

/* The group item it sleeps with (entering it on first sight when enter),
 * or NULL: on its own. */
static struct uipc__pollgroup *group_of(const uipc_pollitem *it, struct groups *gs, bool enter)
{
    const struct uipc_channel *ch = it->ch;
    struct uipc__pollgroup *g = ch && ch->tp->poll_group ? ch->tp->poll_group(ch) : NULL;
    if (!g)
        return NULL;
    for (int k = 0; k < gs->n; k++)
        if (gs->g[k] == g)
            return g;
    if (!enter || gs->n == POLL_GROUPS || !g->ops->enter(g))
        return NULL;
    gs->g[gs->n++] = g;
    return g;
}

static void leave_groups(struct groups *gs)
{
    for (int k = 0; k < gs->n; k++)
        gs->g[k]->ops->leave(gs->g[k]);
    gs->n = 0;
}

/*
 * One pass over the items: fills in revents and returns how many are
 * ready, or a negative errno.  With fds, arms the items (entering the
 * groups in gs) and appends what to sleep on to fds (*nfds entries so
 * far), setting *nap where an item has no descriptor.
 */
static int scan(uipc_pollitem *items, size_t n, struct pollfd *fds, size_t *nfds, bool *nap,
                struct groups *gs)
{
    int ready = 0;
    for (size_t i = 0; i < n; i++) {
        struct uipc__pollwait w = {.nfds = 0};
        struct uipc__pollgroup *g = fds ? group_of(&items[i], gs, true) : NULL;
        int events = items[i].events & (UIPC_POLLIN | UIPC_POLLOUT);
        int rev = g ? g->ops->arm(items[i].ch, events, &w) : item_ready(&items[i], fds ? &w : NULL);
        if (rev < 0)
            return rev;
        items[i].revents = (short)(rev & ((items[i].events & POLL_EVENTS) | UIPC_POLLHUP));
        if (items[i].revents)
            ready++;
        if (!fds)
            continue;
        for (int k = 0; k < w.nfds; k++)
            fds[(*nfds)++] = (struct pollfd){.fd = w.fds[k].fd, .events = w.fds[k].events};
        *nap |= w.nap;
    }
    return ready;
}

static int check_items(const uipc_pollitem *items, size_t n)
{
    if (n && !items)
        return -EINVAL;
    if (n > (size_t)INT_MAX / 2)
        return -EINVAL; /* more than ppoll could ever take */
    for (size_t i = 0; i < n; i++)
        if (!items[i].ch == !items[i].l || (items[i].events & ~POLL_EVENTS))
            return -EINVAL;
    return 0;
}

/* The spin budget of a call: the smallest the items allow, 0 if any has none
 * (a listener kept in the set with no events asks for no look). */
static int64_t spin_budget(const uipc_pollitem *items, size_t n)
{
    int64_t budget = -1;
    for (size_t i = 0; i < n && budget != 0; i++) {
        const struct uipc_channel *ch = items[i].ch;
        if (!ch && !items[i].events)
            continue; /* a listener asked for nothing: nothing to look at */
        int64_t b = ch && ch->tp->poll_spin_ns ? ch->tp->poll_spin_ns(ch) : 0;
        if (budget < 0 || b < budget)
            budget = b;
    }
    return budget < 0 ? 0 : budget;
}

/* Looks again and again until an item is ready or budget_ns have passed:
 * the count, 0, or a negative errno. */
static int spin(uipc_pollitem *items, size_t n, int64_t budget_ns, const struct uipc__deadline *dl)
{
    int64_t left = uipc__deadline_left_ns(dl);
    if (left >= 0 && left < budget_ns)
        budget_ns = left;
    int64_t end = uipc__now_ns() + budget_ns;
    do {
        for (int i = 0; i < 16; i++)
            uipc__cpu_relax();
        int r = scan(items, n, NULL, NULL, NULL, NULL);
        if (r != 0)
            return r;
    } while (uipc__now_ns() < end);
    return 0;
}

/* Sleeps on fds until one is ready, the deadline passes, or (nap_ns >= 0)
 * a nap of nap_ns ends.  0 to look again, or the deadline's error. */
static int sleep_on(struct pollfd *fds, size_t nfds, const struct uipc__deadline *dl,
                    int64_t nap_ns)
{
    int64_t left = uipc__deadline_left_ns(dl);
    if (nap_ns >= 0 && (left < 0 || nap_ns < left)) {
        struct uipc__deadline nap; /* bounded, at now + nap_ns (wait.h) */
        nap.timeout_ms = 1;
        nap.at_store = uipc__now_ns() + nap_ns;
        nap.at_ns = &nap.at_store;
        int r = uipc__wait_fds(fds, (int)nfds, &nap);
        return r == -ETIMEDOUT ? 0 : r < 0 ? r : 0;
    }
    int r = uipc__wait_fds(fds, (int)nfds, dl);
    return r > 0 ? 0 : r;
}

/*
 * The second half of arming the grouped items, after the one fence: true
 * when one of them may have become ready meanwhile (look again, do not
 * sleep).
 */
static bool groups_armed(uipc_pollitem *items, size_t n, struct groups *gs)
{
    if (!gs->n)
        return false;
    uipc__fence_heavy(); /* a commit before this is seen below, one after sees PARKED */
    for (size_t i = 0; i < n; i++) {
        struct uipc__pollgroup *g = group_of(&items[i], gs, false);
        if (g && g->ops->armed(items[i].ch, items[i].events & (UIPC_POLLIN | UIPC_POLLOUT)))
            return true;
    }
    return false;
}

/*
 * Sleeps on what the arming pass gathered: a lone group in its own wait
 * (one epoll_wait), anything else in one ppoll with each group's
 * descriptor, whose events are then collected without waiting.
 */
static int sleep_armed(struct pollfd *fds, size_t nfds, struct groups *gs,
                       const struct uipc__deadline *dl, int64_t nap_ns)
{
    if (gs->n == 1 && nfds == 0 && nap_ns < 0) {
        int64_t left = uipc__deadline_left_ns(dl);
        int ms = left < 0 ? -1 : left / 1000000 >= INT_MAX ? INT_MAX : (int)((left + 999999) / 1000000);
        int r = gs->g[0]->ops->wait(gs->g[0], ms);
        return r < 0 ? r : 0;
    }
    size_t first = nfds;
    for (int k = 0; k < gs->n; k++)
        fds[nfds++] = (struct pollfd){.fd = gs->g[k]->ops->fd(gs->g[k]), .events = POLLIN};
    int r = sleep_on(fds, nfds, dl, nap_ns);
    for (int k = 0; k < gs->n && r == 0; k++)
        if (fds[first + (size_t)k].revents) {
            int w = gs->g[k]->ops->wait(gs->g[k], 0);
            r = w < 0 ? w : 0;
        }
    return r;
}

/*
 * Marks the items' handles as inside uipc_poll (call) or no longer (NULL),
 * as every call on a handle does (internal.h, in_call): a close from
 * another thread meanwhile is -EBUSY instead of freeing what the wait
 * uses.  A plain store, also in debug builds: one handle may be listed
 * twice in one call, which is no misuse (another call on a marked handle
 * still aborts a debug build).
 */
static void mark(uipc_pollitem *items, size_t n, const char *call)
{
    for (size_t i = 0; i < n; i++) {
        _Atomic(const char *) *slot = items[i].ch ? &items[i].ch->in_call : &items[i].l->in_call;
        atomic_store_explicit(slot, call, call ? memory_order_relaxed : memory_order_release);
    }
}

static int poll_marked(uipc_pollitem *items, size_t n, int timeout_ms);

UIPC_API int uipc_poll(uipc_pollitem *items, size_t n, int timeout_ms)
{
    int r = check_items(items, n);
    if (r < 0 || !uipc__timeout_valid(timeout_ms))
        return r < 0 ? r : -EINVAL;
    mark(items, n, "uipc_poll");
    r = poll_marked(items, n, timeout_ms);
    mark(items, n, NULL);
    return r;
}

static int poll_marked(uipc_pollitem *items, size_t n, int timeout_ms)
{
    int r;
    struct uipc__deadline dl;
    uipc__deadline_start(&dl, timeout_ms);
    struct pollfd stack_fds[POLL_STACK_FDS], *fds = stack_fds;
    size_t max_fds = 2 * n + POLL_GROUPS;
    if (max_fds > POLL_STACK_FDS && !(fds = malloc(max_fds * sizeof *fds)))
        return -ENOMEM;
    int64_t nap_ns = POLL_NAP_MIN_NS, budget = -1;
    for (;;) {
        r = scan(items, n, NULL, NULL, NULL, NULL);
        if (r != 0)
            break;
        if (uipc__deadline_left_ns(&dl) == 0) {
            r = uipc__deadline_error(&dl);
            break;
        }
        if (budget < 0) { /* once per call: after a wake-up, arm at once */
            budget = spin_budget(items, n);
            if (budget > 0 && (r = spin(items, n, budget, &dl)) != 0)
                break;
        }
        size_t nfds = 0;
        bool nap = false;
        struct groups gs = {.n = 0};
        r = scan(items, n, fds, &nfds, &nap, &gs);
        if (r == 0 && !groups_armed(items, n, &gs))
            r = sleep_armed(fds, nfds, &gs, &dl, nap ? nap_ns : -1);
        leave_groups(&gs);
        if (r != 0)
            break;
        if (nap && nap_ns < POLL_NAP_MAX_NS)
            nap_ns = nap_ns * 2 > POLL_NAP_MAX_NS ? POLL_NAP_MAX_NS : nap_ns * 2;
    }
    if (fds != stack_fds)
        free(fds);
    return r;
}
