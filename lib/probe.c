/* SPDX-License-Identifier: MIT */
/*
 * uipc_list: every kind of rendezvous (the transports with a probe
 * operation, and sem:) asked for its rows; the /proc look-ups that give a
 * row its owner's pid.  uipc_remove lives beside uipc_unlink in uipc.c.
 * docs/man/uipc_list.3 is the user's contract.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"
#include "probe.h"

/* ---- helpers for the probe operations ---- */

int uipc__probe_dir(struct uipc__probe_walk *w,
                    int (*each)(struct uipc__probe_walk *w, int dirfd, const char *name,
                                const struct stat *st))
{
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        uipc__close_fd(dfd);
        return -errno;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        r = each(w, dfd, de->d_name, &st);
    }
    closedir(d);
    return r;
}

int uipc__probe_fill(uipc_rdvinfo *info, const char *scheme, int state, const struct stat *st,
                     bool sized, const char *fmt, ...)
{
    memset(info, 0, sizeof *info);
    snprintf(info->scheme, sizeof info->scheme, "%s", scheme);
    info->state = state;
    info->uid = st->st_uid;
    info->mode = (unsigned)(st->st_mode & 07777);
    info->size = sized ? (long long)st->st_size : -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(info->uri, sizeof info->uri, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof info->uri ? -ENAMETOOLONG : 0;
}

/*
 * The first process with a descriptor whose link reads target (target not
 * NULL), or on the file (dev, ino), or mapping that file shared.
 */
static pid_t proc_holder(const char *target, dev_t dev, ino_t ino)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    pid_t found = 0;
    struct dirent *d;
    while (!found && (d = readdir(proc))) {
        char *end;
        long pid = strtol(d->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/fd", pid);
        DIR *fds = opendir(path);
        struct dirent *fd;
        while (fds && !found && (fd = readdir(fds))) {
            char lpath[384], link[64];
            struct stat st;
            if (fd->d_name[0] == '.')
                continue;
            snprintf(lpath, sizeof lpath, "%s/%s", path, fd->d_name);
            if (target) {
                ssize_t n = readlink(lpath, link, sizeof link - 1);
                if (n > 0 && (link[n] = '\0', strcmp(link, target) == 0))
                    found = (pid_t)pid;
            } else if (stat(lpath, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
                found = (pid_t)pid;
            }
        }
        if (fds)
            closedir(fds);
        if (found || target)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/maps", pid);
        FILE *maps = fopen(path, "re");
        char line[256], perms[8];
        unsigned maj, min;
        unsigned long long mino;
        while (maps && !found && fgets(line, sizeof line, maps)) {
            if (sscanf(line, "%*s %7s %*s %x:%x %llu", perms, &maj, &min, &mino) == 4 &&
                strchr(perms, 's') && mino == (unsigned long long)ino &&
                makedev(maj, min) == dev)
                found = (pid_t)pid;
            if (!strchr(line, '\n')) /* a long path: skip the rest of the line */
                while (fgets(line, sizeof line, maps) && !strchr(line, '\n'))
                    ;
        }
        if (maps)
            fclose(maps);
    }
    closedir(proc);
    return found;
}

pid_t uipc__probe_file_holder(const struct stat *st)
{
    return proc_holder(NULL, st->st_dev, st->st_ino);
}

pid_t uipc__probe_sock_holder(const char *name, long long *conns)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return 0;
    char line[PATH_MAX + 128];
    unsigned long inode = 0, best = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long flags, ino;
        int at = 0;
        /* Num RefCount Protocol Flags Type St Inode Path */
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %n", &flags, &ino, &at) != 2 || !at)
            continue;
        char *path = line + at;
        path[strcspn(path, "\n")] = '\0';
        if (strcmp(path, name) != 0)
            continue;
        if (!inode)
            inode = ino;
        if (flags & 0x10000) /* __SO_ACCEPTCON: the listener */
            best = ino;
        else if (conns)
            ++*conns;
    }
    fclose(f);
    if (best)
        inode = best;
    if (!inode)
        return 0;
    char target[40];
    snprintf(target, sizeof target, "socket:[%lu]", inode);
    return proc_holder(target, 0, 0);
}

/* ---- uipc_list ---- */

struct one {
    const char *uri; /* the URI asked for, without its query */
    size_t len;
    uipc__probe_emit fn;
    void *arg;
};

/* Passes on only the row of the URI asked for. */
static int only_one(const uipc_rdvinfo *info, void *arg)
{
    const struct one *o = arg;
    if (strlen(info->uri) != o->len || strncmp(info->uri, o->uri, o->len) != 0)
        return 0;
    return o->fn(info, o->arg);
}

/*
 * Asks every kind (scheme NULL) or the kind scheme for its rows in dir
 * (NULL: the namespaces).  -EPROTONOSUPPORT for an unknown scheme,
 * -ENOTSUP for one that names nothing.
 */
static int each_kind(const char *scheme, const char *dir, uipc__probe_emit fn, void *arg)
{
    bool sem = !scheme || strcmp(scheme, "sem") == 0;
    const struct uipc_transport *one = NULL;
    if (scheme && !sem) {
        one = uipc__transport_find(scheme);
        if (!one)
            return -EPROTONOSUPPORT;
        if (!one->probe)
            return -ENOTSUP;
    }
    for (size_t i = 0; i < uipc__ntransports && (!scheme || one); i++) {
        const struct uipc_transport *tp = uipc__transports[i];
        if (!tp->probe || (one && tp != one))
            continue;
        int r = tp->probe(dir, fn, arg);
        if (r != 0)
            return r;
    }
    return sem ? uipc__sem_probe(dir, fn, arg) : 0;
}

UIPC_API int uipc_list(const char *where, int (*fn)(const uipc_rdvinfo *info, void *arg),
                       void *arg)
{
    if (!fn)
        return -EINVAL;
    if (!where)
        return each_kind(NULL, NULL, fn, arg);
    if (where[0] == '/') {
        /* Without trailing slashes, so that the URIs reported are canonical. */
        char dir[PATH_MAX];
        size_t len = strlen(where);
        while (len > 1 && where[len - 1] == '/')
            len--;
        if (len >= sizeof dir)
            return -ENAMETOOLONG;
        memcpy(dir, where, len);
        dir[len] = '\0';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return -errno;
        uipc__close_fd(dfd);
        return each_kind(NULL, dir, fn, arg);
    }
    char scheme[UIPC__SCHEME_MAX];
    size_t n = strcspn(where, ":");
    if (n == 0 || n >= sizeof scheme || !where[n])
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)where[i]) && !strchr("+-.", where[i]))
            return -EINVAL;
        scheme[i] = (char)tolower((unsigned char)where[i]);
    }
    scheme[n] = '\0';
    if (!where[n + 1])
        return each_kind(scheme, NULL, fn, arg);

    /* One rendezvous: its kind's namespace, or the directory of its path. */
    struct one o = {.uri = where, .len = strcspn(where, "?"), .fn = fn, .arg = arg};
    char dir[PATH_MAX] = "";
    if (strcmp(scheme, "sem") != 0) {
        struct uipc__uri *u = malloc(sizeof *u);
        if (!u)
            return -ENOMEM;
        int r = uipc__uri_parse(u, where);
        const char *slash = r == 0 ? strrchr(u->path, '/') : NULL;
        if (slash && u->path[0] == '/' && !u->authority[0] &&
            (size_t)(slash - u->path) < sizeof dir)
            snprintf(dir, sizeof dir, "%.*s", slash == u->path ? 1 : (int)(slash - u->path),
                     u->path);
        free(u);
        if (r < 0)
            return r;
    }
    int r = each_kind(scheme, NULL, only_one, &o);
    if (r == 0 && dir[0])
        r = each_kind(scheme, dir, only_one, &o);
    return r;
}
