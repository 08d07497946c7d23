/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle of named objects (see rendezvous.h and docs/rendezvous.md).
 */
#include "rendezvous.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "pollset.h"
#include "internal.h"

/* ---- names ---- */

int uipc__rdv_pair_names(const char *base, char *c2s, char *s2c, size_t cap)
{
    if (snprintf(c2s, cap, "%s" UIPC__RDV_C2S, base) >= (int)cap ||
        snprintf(s2c, cap, "%s" UIPC__RDV_S2C, base) >= (int)cap)
        return -ENAMETOOLONG;
    return 0;
}

int uipc__rdv_path_pair(const struct uipc__uri *u, char *c2s, char *s2c)
{
    const char *p = u->path;
    if ((u->has_authority && u->authority[0]) || p[0] != '/' || p[strlen(p) - 1] == '/')
        return -EINVAL;
    return uipc__rdv_pair_names(p, c2s, s2c, PATH_MAX);
}

int uipc__rdv_dir_open(const char *path, int *dirfd, char *name, size_t cap)
{
    char dir[PATH_MAX];
    size_t len = strlen(path);
    if (!len || len >= sizeof dir || path[len - 1] == '/')
        return -EINVAL;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!uipc__name_ok(base, NAME_MAX) || strlen(base) >= cap)
        return -EINVAL;
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    strcpy(name, base);
    *dirfd = fd;
    return 0;
}

int uipc__rdv_shm_dir(void)
{
    int fd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOTSUP : -errno;
    return fd;
}

/* ---- publishing ---- */

int uipc__rdv_tmpfile(int dirfd, mode_t mode, char tmp[UIPC__RDV_TMP_MAX])
{
    tmp[0] = '\0';
    int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        /* 128 random bits: nobody can pre-create the name to block us. */
        for (int i = 0; i < 16 && fd < 0; i++) {
            uint64_t rnd[2];
            if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) {
                rnd[0] = (uint64_t)uipc__now_ns();
                rnd[1] = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)tmp ^ (uint64_t)i;
            }
            snprintf(tmp, UIPC__RDV_TMP_MAX, ".uipc-tmp-%016llx%016llx",
                     (unsigned long long)rnd[0], (unsigned long long)rnd[1]);
            fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0 && errno != EEXIST)
                break;
        }
    }
    if (fd < 0) {
        tmp[0] = '\0';
        return -errno;
    }
    if (fchmod(fd, mode) < 0) {
        int r = -errno;
        uipc__rdv_discard(dirfd, tmp);
        uipc__close_fd(fd);
        return r;
    }
    return fd;
}

void uipc__rdv_discard(int dirfd, char tmp[UIPC__RDV_TMP_MAX])
{
    if (tmp[0])
        unlinkat(dirfd, tmp, 0);
    tmp[0] = '\0';
}

int uipc__rdv_publish(int dirfd, int fd, char tmp[UIPC__RDV_TMP_MAX], const char *name)
{
    int r;
    if (tmp[0]) {
        r = linkat(dirfd, tmp, dirfd, name, 0);
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        r = linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW);
    }
    r = r < 0 ? -errno : 0;
    uipc__rdv_discard(dirfd, tmp);
    return r;
}

/* ---- OFD locks ---- */

static int lock_op(int fd, unsigned slot, short type, int cmd)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = UIPC__RDV_BYTE(slot),
                       .l_len = 1};
    int r;
    while ((r = fcntl(fd, cmd, &fl)) < 0 && errno == EINTR && cmd == F_OFD_SETLKW)
        ;
    if (r == 0)
        return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
    return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

int uipc__rdv_lock(int fd, unsigned slot, bool wait)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    short type = (fl & O_ACCMODE) == O_RDONLY ? F_RDLCK : F_WRLCK;
    return lock_op(fd, slot, type, wait ? F_OFD_SETLKW : F_OFD_SETLK);
}

int uipc__rdv_unlock(int fd, unsigned slot)
{
    return lock_op(fd, slot, F_UNLCK, F_OFD_SETLK);
}

int uipc__rdv_held(int fd, unsigned slot)
{
    /* A write lock conflicts with any lock another description holds. */
    return lock_op(fd, slot, F_WRLCK, F_OFD_GETLK);
}

int uipc__rdv_reopen(int fd, int oflags)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int r = open(path, oflags | O_CLOEXEC);
    return r < 0 ? -errno : r;
}

/* ---- abstract tokens ---- */

static socklen_t token_addr(const char *prefix, const char *name, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t max = sizeof a->sun_path - 1; /* sun_path[0] = 0: abstract */
    int n = snprintf(a->sun_path + 1, max, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= max) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a of the whole name */
        for (const char *p = name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        memset(a->sun_path, 0, sizeof a->sun_path);
        n = snprintf(a->sun_path + 1, max, "%s#%016llx", prefix, (unsigned long long)h);
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/*
 * The uid of the process that bound the abstract address a (sock_diag, as
 * ss(8) does): 0 and *uid, -ENOENT when nobody has bound it, -ENOSYS when
 * the kernel reports no uid (UNIX_DIAG_UID came with Linux 5.3), -errno.
 */
static int abstract_binder(const struct sockaddr_un *a, socklen_t alen, uid_t *uid)
{
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -errno;
    struct {
        struct nlmsghdr nh;
        struct unix_diag_req req;
    } q = {.nh = {.nlmsg_len = sizeof q, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
           .req = {.sdiag_family = AF_UNIX, .udiag_states = ~0u,
                   .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_UID}};
    const char *want = a->sun_path;
    size_t wlen = alen - offsetof(struct sockaddr_un, sun_path);
    int r = send(nl, &q, sizeof q, 0) < 0 ? -errno : -ENOENT;
    long buf[8192 / sizeof(long)];
    bool done = r != -ENOENT;
    while (!done) {
        ssize_t got = recv(nl, buf, sizeof buf, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        int n = (int)got; /* <= sizeof buf */
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                if (h->nlmsg_type == NLMSG_ERROR && r == -ENOENT) {
                    const struct nlmsgerr *e = NLMSG_DATA(h);
                    r = e->error ? e->error : r;
                }
                done = true;
                break;
            }
            struct unix_diag_msg *m = NLMSG_DATA(h);
            int left = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
            const char *name = NULL;
            size_t nlen = 0;
            bool have_uid = false;
            uint32_t u = 0;
            for (struct nlattr *at = (struct nlattr *)(m + 1); left >= (int)sizeof *at &&
                                                               at->nla_len >= sizeof *at &&
                                                               at->nla_len <= left;) {
                const char *data = (const char *)at + NLA_HDRLEN;
                size_t dlen = at->nla_len - NLA_HDRLEN;
                if (at->nla_type == UNIX_DIAG_NAME) {
                    name = data;
                    nlen = dlen;
                } else if (at->nla_type == UNIX_DIAG_UID && dlen >= sizeof u) {
                    memcpy(&u, data, sizeof u);
                    have_uid = true;
                }
                int step = NLA_ALIGN(at->nla_len);
                left -= step;
                at = (struct nlattr *)((char *)at + step);
            }
            if (name && nlen == wlen && memcmp(name, want, wlen) == 0 && r == -ENOENT) {
                if (!have_uid) {
                    r = -ENOSYS; /* bound, but this kernel cannot say by whom */
                } else {
                    *uid = (uid_t)u;
                    r = 0;
                }
            }
        }
    }
    uipc__close_fd(nl);
    return r;
}

int uipc__rdv_token_bind(const char *prefix, const char *name, uid_t owner)
{
    struct sockaddr_un a;
    socklen_t len = token_addr(prefix, name, &a);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, len) == 0)
        return fd;
    int err = -errno;
    uid_t binder;
    if (err == -EADDRINUSE && abstract_binder(&a, len, &binder) == 0 && binder != owner)
        return fd; /* squatted by a stranger: proceed without a token */
    uipc__close_fd(fd);
    return err;
}

int uipc__rdv_token_live(const char *prefix, const char *name, uid_t owner)
{
    struct sockaddr_un a;
    socklen_t len = token_addr(prefix, name, &a);
    uid_t binder;
    int r = abstract_binder(&a, len, &binder);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    return binder == owner;
}

/* ---- marks ---- */

void uipc__rdv_mark(int fd, const char *kind)
{
    (void)fsetxattr(fd, UIPC__RDV_XATTR, kind, strlen(kind), 0);
}

bool uipc__rdv_marked(int fd, const char *kind)
{
    char v[32];
    ssize_t n = fgetxattr(fd, UIPC__RDV_XATTR, v, sizeof v);
    return n == (ssize_t)strlen(kind) && memcmp(v, kind, (size_t)n) == 0;
}

/* ---- ownership ---- */

int uipc__rdv_adoptable(uid_t uid)
{
    return uid == geteuid() ? 0 : -EPERM;
}

int uipc__rdv_adopt_fd(int fd, mode_t want)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int r = uipc__rdv_adoptable(st.st_uid);
    if (r == 0 && (st.st_mode & 07777) != (want & 07777) && fchmod(fd, want) < 0)
        r = -errno;
    return r;
}

int uipc__rdv_id_fd(int fd, struct uipc__rdv_id *id)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return 0;
}

int uipc__rdv_id_at(int dirfd, const char *name, struct uipc__rdv_id *id)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return 0;
}

bool uipc__rdv_is(int dirfd, const char *name, const struct uipc__rdv_id *id)
{
    struct uipc__rdv_id now;
    return uipc__rdv_id_at(dirfd, name, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
}

int uipc__rdv_remove(int dirfd, const char *name, const struct uipc__rdv_id *id)
{
    struct uipc__rdv_id now;
    int r = uipc__rdv_id_at(dirfd, name, &now);
    if (r < 0)
        return r;
    if (now.dev != id->dev || now.ino != id->ino)
        return -ESTALE;
    return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

int uipc__rdv_sock_bound(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof a.sun_path)
        return -ENAMETOOLONG;
    memcpy(a.sun_path, path, n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A datagram connect finds the socket bound to the file's inode; to a
     * stream or seqpacket one it answers EPROTOTYPE without connecting. */
    int r = connect(fd, (struct sockaddr *)&a,
                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1));
    int err = r < 0 ? errno : 0;
    uipc__close_fd(fd);
    if (r == 0 || err == EPROTOTYPE)
        return 1;
    return err == ECONNREFUSED ? 0 : -err;
}

/* ---- pidfds ---- */

void uipc__pidwatch_init(struct uipc__pidwatch *w)
{
    w->fd = -1;
    w->pid = 0;
}

bool uipc__pidwatch_set(struct uipc__pidwatch *w, pid_t pid, struct uipc__pollset *ps)
{
    if (pid == w->pid)
        return false;
    uipc__pidwatch_stop(w, ps);
    w->pid = pid;
    if (pid <= 0)
        return false;
#ifdef SYS_pidfd_open
    w->fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec from birth */
#endif
    if (w->fd < 0)
        return false; /* old kernel, other pid namespace: callers degrade */
    if (ps && uipc__pollset_add(ps, w->fd) < 0) {
        uipc__close_fd(w->fd);
        w->fd = -1;
        return false;
    }
    return true;
}

bool uipc__pidwatch_exited(const struct uipc__pidwatch *w)
{
    struct uipc__deadline now;
    uipc__deadline_start(&now, 0); /* a look, no wait */
    return w->fd >= 0 && uipc__wait_fd(w->fd, POLLIN, &now) > 0;
}

void uipc__pidwatch_stop(struct uipc__pidwatch *w, struct uipc__pollset *ps)
{
    if (w->fd >= 0) {
        if (ps)
            uipc__pollset_del(ps, w->fd);
        uipc__close_fd(w->fd);
    }
    w->fd = -1;
}
