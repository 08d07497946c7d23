/* SPDX-License-Identifier: MIT */
/*
 * uipc ls / uipc rm: libuipc's rendezvous on this machine, and removing
 * the stale ones.
 *
 * libuipc keeps no registry: every rendezvous is an ordinary kernel object
 * with the owner's liveness carried by the kernel itself, so `ls` finds them
 * where they live and asks the kernel who holds them:
 *  - fifo:   FIFO pairs X.c2s / X.s2c under the scanned directories; the
 *            owner holds an OFD lock on X.s2c (lib/transport/fifo.c), listed
 *            in /proc/locks; its pid comes from /proc/PID/fd.  No lock: stale.
 *  - unix:   socket files under the scanned directories; live while
 *            /proc/net/unix lists a socket bound to that path (the owner's
 *            listener or its accepted connection), whose inode leads to the
 *            owner's pid through /proc/PID/fd.  A socket file nobody has
 *            bound is stale.
 *  - shm:    objects in /dev/shm; a live channel's sides hold OFD locks
 *            on its ring (lib/ring_ep.c) and a region's creator holds the same
 *            OFD lock (lib/sync/region.c), listed in /proc/locks (the pid
 *            of an OFD lock is not: it comes from /proc/PID/fd).  An object
 *            that nobody locks, maps or holds open is stale; one that is
 *            open but unlocked is shown "open".  uipc-sem-X objects are the
 *            semaphores of uipc_sem_open(X) (rm: uipc_sem_unlink).  Only
 *            objects that are libuipc's are listed: rings by their magic,
 *            regions by the user.uipc mark their creator sets, semaphores
 *            by name and magic; any other /dev/shm object is not shown.  A socket
 *            there is a shm: service (uipc_listen): live while a socket is
 *            bound to it (as unix:), and its SIZE column is the number of
 *            clients connected (the server's accepted connections, which
 *            /proc/net/unix lists under the same path); its clients' rings
 *            are anonymous memfds.
 *  - mq:     queue pairs X.c2s / X.s2c (from /dev/mqueue when it is mounted;
 *            as root, from a private mount of the mqueue file system in a
 *            throw-away mount namespace otherwise).  The owner binds the
 *            abstract socket "@uipc-mq/X.c2s" (lib/transport/mq.c); without it
 *            the queues are stale (a name too long for a socket address is
 *            hashed by the library and not recognised here).
 *  - sysvmq: queues of /proc/sysvipc/msg; the owner binds the abstract
 *            socket "@uipc-sysvmq:KEY".  A keyed queue without it is shown
 *            stale (libuipc cannot tell its own queues from others' here).
 *  - mmap:   files under the scanned directories that some process maps
 *            shared (/proc/PID/maps, matched by inode): rings, and file:
 *            spools (X.c2s / X.s2c, shown as file://X).  Persistent by
 *            nature, so never stale; one that nobody maps is not shown.
 * Scanned directories: /tmp and /var/tmp (3 levels), /run (2 levels),
 * $XDG_RUNTIME_DIR, and each --dir DIR.  tcp: and udp: leave nothing on the
 * machine to list.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <uipc/uipc.h>

#include "tool.h"

#define URI_MAX (PATH_MAX + 32)

struct entry {
    char scheme[8];
    char uri[URI_MAX];
    pid_t pid;          /* owner, 0 when unknown or none */
    const char *state;  /* "live", "stale", "open" (used, no owner lock) */
    long long size;     /* bytes, -1 when it has none */
    int mode;           /* permission bits, -1 when unknown */
};

struct lock_rec {
    unsigned major, minor;
    unsigned long ino;
    pid_t pid;
};

struct unix_rec {
    unsigned long inode;
    unsigned long flags;
    char path[URI_MAX];
};

/* One descriptor or shared mapping of one process: "socket:[N]", "/path". */
struct proc_ref {
    pid_t pid;
    bool mapping;
    unsigned major, minor; /* the file's device and inode (0 for sockets etc.) */
    unsigned long ino;
    char target[PATH_MAX];
};

struct scan {
    struct entry *e;
    size_t ne, cap_e;
    struct lock_rec *locks;
    size_t nlocks;
    struct unix_rec *unixes;
    size_t nunix;
    struct proc_ref *refs;
    size_t nrefs, cap_refs;
    dev_t seen_dev[4096];
    ino_t seen_ino[4096];
    size_t nseen;
    bool refs_loaded;
};

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return p;
    size_t bigger = *cap ? *cap * 2 : 64;
    void *q = realloc(p, bigger * elem);
    if (!q) {
        fprintf(stderr, "uipc ls: out of memory\n");
        exit(1);
    }
    *cap = bigger;
    return q;
}

static struct entry *add_entry(struct scan *s, const char *scheme)
{
    s->e = grow(s->e, &s->cap_e, s->ne, sizeof *s->e);
    struct entry *e = &s->e[s->ne++];
    memset(e, 0, sizeof *e);
    snprintf(e->scheme, sizeof e->scheme, "%s", scheme);
    e->size = -1;
    e->mode = -1;
    return e;
}

/* ---- what the kernel says: /proc/locks, /proc/net/unix, /proc/PID ---- */

static void load_locks(struct scan *s)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return;
    char line[512];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "->")) /* a waiter, not a holder */
            continue;
        char type[16], kind[16], rw[16];
        struct lock_rec r;
        int pid;
        if (sscanf(line, "%*d: %15s %15s %15s %d %x:%x:%lu", type, kind, rw, &pid, &r.major,
                   &r.minor, &r.ino) != 7)
            continue;
        r.pid = pid;
        s->locks = grow(s->locks, &cap, s->nlocks, sizeof *s->locks);
        s->locks[s->nlocks++] = r;
    }
    fclose(f);
}

/* The pid holding a lock on the file (dev, ino), 0 if none. */
static pid_t lock_holder(const struct scan *s, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < s->nlocks; i++)
        if (s->locks[i].ino == ino && s->locks[i].major == major(dev) &&
            s->locks[i].minor == minor(dev))
            return s->locks[i].pid > 0 ? s->locks[i].pid : -1;
    return 0;
}

static void load_unix(struct scan *s)
{
    FILE *f = fopen("/proc/net/unix", "re");
    if (!f)
        return;
    char line[URI_MAX + 128];
    size_t cap = 0;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        struct unix_rec r;
        int at = 0;
        /* Num RefCount Protocol Flags Type St Inode Path */
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %n", &r.flags, &r.inode, &at) != 2 || !at)
            continue;
        char *path = line + at;
        path[strcspn(path, "\n")] = '\0';
        if (!*path)
            continue; /* unnamed */
        snprintf(r.path, sizeof r.path, "%s", path);
        s->unixes = grow(s->unixes, &cap, s->nunix, sizeof *s->unixes);
        s->unixes[s->nunix++] = r;
    }
    fclose(f);
}

static void add_ref(struct scan *s, pid_t pid, bool mapping, const char *target, unsigned maj,
                    unsigned min, unsigned long ino)
{
    s->refs = grow(s->refs, &s->cap_refs, s->nrefs, sizeof *s->refs);
    struct proc_ref *r = &s->refs[s->nrefs++];
    r->pid = pid;
    r->mapping = mapping;
    r->major = maj;
    r->minor = min;
    r->ino = ino;
    snprintf(r->target, sizeof r->target, "%s", target);
}

/* Every process's descriptors and shared file mappings, read once. */
static void load_refs(struct scan *s)
{
    if (s->refs_loaded)
        return;
    s->refs_loaded = true;
    DIR *proc = opendir("/proc");
    if (!proc)
        return;
    struct dirent *d;
    while ((d = readdir(proc))) {
        char *end;
        long pid = strtol(d->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/fd", pid);
        DIR *fds = opendir(path);
        if (fds) {
            struct dirent *fd;
            while ((fd = readdir(fds))) {
                if (fd->d_name[0] == '.')
                    continue;
                char link[PATH_MAX], lpath[320];
                snprintf(lpath, sizeof lpath, "%s/%s", path, fd->d_name);
                ssize_t n = readlink(lpath, link, sizeof link - 1);
                if (n <= 0)
                    continue;
                link[n] = '\0';
                /* A file made with O_TMPFILE and linked later (shm rings) keeps
                 * its first name here: match files by inode, not by name. */
                struct stat st;
                if (link[0] == '/' && stat(lpath, &st) == 0)
                    add_ref(s, (pid_t)pid, false, link, major(st.st_dev), minor(st.st_dev),
                            (unsigned long)st.st_ino);
                else
                    add_ref(s, (pid_t)pid, false, link, 0, 0, 0);
            }
            closedir(fds);
        }
        snprintf(path, sizeof path, "/proc/%ld/maps", pid);
        FILE *maps = fopen(path, "re");
        if (!maps)
            continue;
        char line[PATH_MAX + 128], perms[8];
        while (fgets(line, sizeof line, maps)) {
            int at = 0;
            unsigned maj, min;
            unsigned long ino;
            if (sscanf(line, "%*s %7s %*s %x:%x %lu %n", perms, &maj, &min, &ino, &at) != 4 || !at)
                continue;
            char *target = line + at;
            target[strcspn(target, "\n")] = '\0';
            if (target[0] == '/' && strchr(perms, 's') && ino)
                add_ref(s, (pid_t)pid, true, target, maj, min, ino);
        }
        fclose(maps);
    }
    closedir(proc);
}

/* The first process with a descriptor or mapping on target; 0 if none. */
static pid_t ref_holder(struct scan *s, const char *target)
{
    load_refs(s);
    for (size_t i = 0; i < s->nrefs; i++)
        if (strcmp(s->refs[i].target, target) == 0)
            return s->refs[i].pid;
    return 0;
}

/* The first process with a descriptor or mapping on the file; 0 if none. */
static pid_t file_holder(struct scan *s, const struct stat *st)
{
    load_refs(s);
    for (size_t i = 0; i < s->nrefs; i++)
        if (s->refs[i].ino == st->st_ino && s->refs[i].major == major(st->st_dev) &&
            s->refs[i].minor == minor(st->st_dev))
            return s->refs[i].pid;
    return 0;
}

static pid_t socket_holder(struct scan *s, unsigned long inode)
{
    char target[64];
    snprintf(target, sizeof target, "socket:[%lu]", inode);
    return ref_holder(s, target);
}

/* The bound socket for a path or "@abstract" name: 1 and its owner, or 0. */
static int unix_bound(struct scan *s, const char *path, pid_t *pid)
{
    const struct unix_rec *best = NULL;
    for (size_t i = 0; i < s->nunix; i++) {
        if (strcmp(s->unixes[i].path, path) != 0)
            continue;
        if (!best || (s->unixes[i].flags & 0x10000)) /* __SO_ACCEPTCON: the listener */
            best = &s->unixes[i];
    }
    if (!best)
        return 0;
    *pid = socket_holder(s, best->inode);
    return 1;
}

/* ---- the file system: fifo pairs and socket files ---- */

static bool seen_before(struct scan *s, const struct stat *st)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (s->seen_dev[i] == st->st_dev && s->seen_ino[i] == st->st_ino)
            return true;
    if (s->nseen < sizeof s->seen_dev / sizeof s->seen_dev[0]) {
        s->seen_dev[s->nseen] = st->st_dev;
        s->seen_ino[s->nseen++] = st->st_ino;
    }
    return false;
}

static void found_fifo(struct scan *s, const char *path, const struct stat *st)
{
    size_t len = strlen(path);
    if (len < 5 || strcmp(path + len - 4, ".c2s") != 0)
        return;
    char s2c[PATH_MAX];
    struct stat st2;
    snprintf(s2c, sizeof s2c, "%.*s.s2c", (int)(len - 4), path);
    if (lstat(s2c, &st2) < 0 || !S_ISFIFO(st2.st_mode))
        return;
    struct entry *e = add_entry(s, "fifo");
    snprintf(e->uri, sizeof e->uri, "fifo://%.*s", (int)(len - 4), path);
    /* The owner's OFD lock is on X.s2c: /proc/locks does not name its pid,
     * so it comes from who has the FIFO open. */
    e->state = lock_holder(s, st2.st_dev, st2.st_ino) ? "live" : "stale";
    e->pid = e->state[0] == 'l' ? file_holder(s, &st2) : 0;
    e->mode = (int)(st->st_mode & 07777);
}

static void found_socket(struct scan *s, const char *path, const struct stat *st)
{
    struct entry *e = add_entry(s, "unix");
    snprintf(e->uri, sizeof e->uri, "unix://%s", path);
    e->state = unix_bound(s, path, &e->pid) ? "live" : "stale";
    e->mode = (int)(st->st_mode & 07777);
}

/*
 * A regular file that some process maps shared: an mmap: ring, or one of the
 * two spool files of a file: channel (X.c2s and X.s2c, listed once as X).
 * Rings are made under a temporary name and linked into place, so the
 * mapping is matched by inode, not by the name /proc/PID/maps shows.
 */
static void found_regular(struct scan *s, const char *path, const struct stat *st)
{
    load_refs(s);
    pid_t pid = 0;
    for (size_t i = 0; i < s->nrefs && !pid; i++)
        if (s->refs[i].mapping && s->refs[i].ino == st->st_ino &&
            s->refs[i].major == major(st->st_dev) && s->refs[i].minor == minor(st->st_dev))
            pid = s->refs[i].pid;
    if (!pid)
        return;
    size_t len = strlen(path);
    bool spool = len > 4 && (strcmp(path + len - 4, ".c2s") == 0 ||
                             strcmp(path + len - 4, ".s2c") == 0);
    struct entry *e = add_entry(s, spool ? "file" : "mmap");
    if (spool)
        snprintf(e->uri, sizeof e->uri, "file://%.*s", (int)(len - 4), path);
    else
        snprintf(e->uri, sizeof e->uri, "mmap://%s", path);
    for (size_t k = 0; k + 1 < s->ne; k++)
        if (strcmp(s->e[k].uri, e->uri) == 0) { /* the other spool file */
            s->ne--;
            return;
        }
    pid_t locker = lock_holder(s, st->st_dev, st->st_ino);
    e->pid = locker > 0 ? locker : pid;
    e->state = "live";
    e->size = (long long)st->st_size;
    e->mode = (int)(st->st_mode & 07777);
}

static void walk(struct scan *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name) >=
            (int)sizeof path)
            continue;
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if ((S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && seen_before(s, &st))
            continue;
        if (S_ISFIFO(st.st_mode))
            found_fifo(s, path, &st);
        else if (S_ISSOCK(st.st_mode))
            found_socket(s, path, &st);
        else if (S_ISREG(st.st_mode))
            found_regular(s, path, &st);
        else if (S_ISDIR(st.st_mode) && depth > 1)
            walk(s, path, depth - 1);
    }
    closedir(d);
}

/* ---- shared memory and mapped ring files ---- */

/* A shm: service: its socket's state, and its clients in the SIZE column. */
static void found_shm_service(struct scan *s, const char *path, const char *name,
                              const struct stat *st)
{
    struct entry *e = add_entry(s, "shm");
    snprintf(e->uri, sizeof e->uri, "shm://%s", name);
    e->state = unix_bound(s, path, &e->pid) ? "live" : "stale";
    e->mode = (int)(st->st_mode & 07777);
    e->size = 0;
    for (size_t i = 0; i < s->nunix; i++)
        if (strcmp(s->unixes[i].path, path) == 0 && !(s->unixes[i].flags & 0x10000))
            e->size++; /* an accepted connection: one client */
}

/*
 * What a /dev/shm object is, if it is libuipc's: "shm" for a channel ring
 * (it starts with the ring's magic) or a region (its creator marked it with
 * the user.uipc attribute), "sem" for a semaphore (its name and magic);
 * NULL for anything else, which is not listed.
 */
static const char *shm_kind(const char *path, const char *name)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    unsigned char head[8];
    char mark[16];
    ssize_t n = pread(fd, head, sizeof head, 0);
    ssize_t m = fgetxattr(fd, "user.uipc", mark, sizeof mark);
    close(fd);
    bool sem = strncmp(name, "uipc-sem-", 9) == 0;
    if (sem && n >= 4 && memcmp(head, "1MSU", 4) == 0) /* 0x55534d31, little-endian */
        return "sem";
    if (!sem && n == 8 && memcmp(head, "UIPCRING", 8) == 0)
        return "shm";
    if (!sem && m == 6 && memcmp(mark, "region", 6) == 0)
        return "shm";
    return NULL;
}

static void scan_shm(struct scan *s)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/dev/shm/%s", de->d_name);
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            found_shm_service(s, path, de->d_name, &st);
            continue;
        }
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        const char *kind = shm_kind(path, de->d_name);
        if (!kind)
            continue; /* not libuipc's */
        bool sem = kind[1] == 'e';
        struct entry *e = add_entry(s, kind);
        if (sem)
            snprintf(e->uri, sizeof e->uri, "sem:%s", de->d_name + 9);
        else
            snprintf(e->uri, sizeof e->uri, "shm://%s", de->d_name);
        e->size = (long long)st.st_size;
        e->mode = (int)(st.st_mode & 07777);
        /* OFD locks (rings and regions) do not name their holder in
         * /proc/locks, so the pid comes from who has the object open. */
        e->pid = lock_holder(s, st.st_dev, st.st_ino);
        e->state = e->pid ? "live" : "stale";
        if (e->pid <= 0) {
            e->pid = file_holder(s, &st);
            if (e->pid && strcmp(e->state, "stale") == 0)
                e->state = "open";
        }
    }
    closedir(d);
}

/* ---- message queues ---- */

/* One queue pair base name found in the mqueue file system. */
static void found_mq(struct scan *s, const char *name, const struct stat *st, long long qsize)
{
    char token[URI_MAX];
    snprintf(token, sizeof token, "@uipc-mq/%.255s.c2s", name); /* a file name: NAME_MAX */
    struct entry *e = add_entry(s, "mq");
    snprintf(e->uri, sizeof e->uri, "mq:///%.255s", name);
    e->state = unix_bound(s, token, &e->pid) ? "live" : "stale";
    e->mode = st ? (int)(st->st_mode & 07777) : -1;
    e->size = qsize;
}

/* Lists the mqueue file system at dir: one "name mode qsize" line per queue pair. */
static void list_mqueue_dir(const char *dir, FILE *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".c2s") != 0)
            continue;
        char path[PATH_MAX], line[256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%.*s.s2c", dir, (int)(n - 4), de->d_name);
        if (stat(path, &st) < 0)
            continue;
        long long qsize = 0, q;
        for (int half = 0; half < 2; half++) {
            snprintf(path, sizeof path, "%s/%.*s.%s", dir, (int)(n - 4), de->d_name,
                     half ? "s2c" : "c2s");
            FILE *f = fopen(path, "re");
            if (f && fgets(line, sizeof line, f) && sscanf(line, "QSIZE:%lld", &q) == 1)
                qsize += q;
            if (f)
                fclose(f);
        }
        fprintf(out, "%o %lld %.*s\n", (unsigned)(st.st_mode & 07777), qsize, (int)(n - 4),
                de->d_name);
    }
    closedir(d);
}

/* Reads list_mqueue_dir's lines back into entries. */
static void read_mq_list(struct scan *s, FILE *in)
{
    char line[PATH_MAX];
    unsigned mode;
    long long qsize;
    struct stat st;
    memset(&st, 0, sizeof st);
    while (fgets(line, sizeof line, in)) {
        int at = 0;
        if (sscanf(line, "%o %lld %n", &mode, &qsize, &at) != 2 || !at)
            continue;
        line[strcspn(line, "\n")] = '\0';
        st.st_mode = mode;
        found_mq(s, line + at, &st, qsize);
    }
    fclose(in);
}

static void scan_mq(struct scan *s)
{
    struct stat st;
    FILE *in;
    if (stat("/dev/mqueue", &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((in = tmpfile()) != NULL) {
            list_mqueue_dir("/dev/mqueue", in);
            rewind(in);
            read_mq_list(s, in);
        }
    } else if (geteuid() == 0) {
        /* Not mounted: mount it privately in a child's own mount namespace
         * (needs root), which leaves nothing behind when the child exits. */
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            goto live_only;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            FILE *out = fdopen(fds[1], "w");
            if (out && unshare(CLONE_NEWNS) == 0 &&
                mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                mount("mqueue", "/tmp", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
                list_mqueue_dir("/tmp", out);
            if (out)
                fflush(out);
            _exit(0);
        }
        close(fds[1]);
        if (pid < 0 || !(in = fdopen(fds[0], "r"))) {
            close(fds[0]);
            goto live_only;
        }
        read_mq_list(s, in); /* reading to the end of the pipe waits for the child */
        waitpid(pid, NULL, 0);
    }
live_only:
    /* Live owners whose queues we could not list are still worth showing. */
    for (size_t i = 0; i < s->nunix; i++) {
        const char *p = s->unixes[i].path;
        size_t n = strlen(p);
        if (strncmp(p, "@uipc-mq/", 9) != 0 || n < 14 || strcmp(p + n - 4, ".c2s") != 0)
            continue;
        char uri[URI_MAX + 16], name[URI_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(n - 13), p + 9);
        snprintf(uri, sizeof uri, "mq:///%s", name);
        bool known = false;
        for (size_t k = 0; k < s->ne && !known; k++)
            known = strcmp(s->e[k].uri, uri) == 0;
        if (!known)
            found_mq(s, name, NULL, -1);
    }
}

static void scan_sysvmq(struct scan *s)
{
    FILE *f = fopen("/proc/sysvipc/msg", "re");
    if (!f)
        return;
    char line[512];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        long key;
        int id;
        unsigned perms;
        long long cbytes;
        if (sscanf(line, "%ld %d %o %lld", &key, &id, &perms, &cbytes) != 4 || key == 0)
            continue;
        char token[64];
        snprintf(token, sizeof token, "@uipc-sysvmq:%08x", (unsigned)key);
        struct entry *e = add_entry(s, "sysvmq");
        snprintf(e->uri, sizeof e->uri, "sysvmq://0x%08x", (unsigned)key);
        e->state = unix_bound(s, token, &e->pid) ? "live" : "stale";
        e->mode = (int)(perms & 0777);
        e->size = cbytes;
    }
    fclose(f);
}

/* ---- the whole scan ---- */

struct ls_opts {
    char *dirs[32];
    size_t ndirs;
};

static void scan_all(struct scan *s, const struct ls_opts *o)
{
    memset(s, 0, sizeof *s);
    load_locks(s);
    load_unix(s);
    char *roots[40];
    int depths[40];
    size_t n = 0;
    roots[n] = "/tmp", depths[n++] = 3;
    roots[n] = "/var/tmp", depths[n++] = 3;
    roots[n] = "/run", depths[n++] = 2;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/')
        roots[n] = (char *)xdg, depths[n++] = 2;
    for (size_t i = 0; i < o->ndirs; i++)
        roots[n] = o->dirs[i], depths[n++] = 3;
    for (size_t i = 0; i < n; i++)
        walk(s, roots[i], depths[i]);
    scan_shm(s);
    scan_mq(s);
    scan_sysvmq(s);
}

static void scan_free(struct scan *s)
{
    free(s->e);
    free(s->locks);
    free(s->unixes);
    free(s->refs);
}

static int by_uri(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->scheme, y->scheme);
    return c ? c : strcmp(x->uri, y->uri);
}

static int add_dir(const char *cmd, struct ls_opts *o, const char *dir)
{
    if (dir[0] != '/')
        return fail_usage(cmd, "--dir: '%s' is not an absolute path", dir);
    if (o->ndirs == sizeof o->dirs / sizeof o->dirs[0])
        return fail_usage(cmd, "too many --dir");
    o->dirs[o->ndirs++] = (char *)dir;
    return 0;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"stale", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    struct ls_opts o = {.ndirs = 0};
    bool stale_only = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (add_dir("ls", &o, optarg))
                return EXIT_USAGE;
            break;
        case 's': stale_only = true; break;
        case 'h':
            printf("usage: uipc ls [--stale] [--dir DIR]...\n"
                   "Lists libuipc rendezvous on this machine: scheme, owner pid, state\n"
                   "(live: its owner holds it; stale: the owner is gone, 'uipc rm' removes it;\n"
                   "open: in use without an owner lock), size, mode and URI.\n"
                   "  -s, --stale    list stale ones only\n"
                   "  -d, --dir DIR  also scan DIR (3 levels) for FIFOs and socket files\n");
            return 0;
        default:
            if (optopt)
                return fail_usage("ls", "unknown or incomplete option '-%c'", optopt);
            return fail_usage("ls", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail_usage("ls", "unexpected argument '%s'", argv[optind]);
    struct scan s;
    scan_all(&s, &o);
    qsort(s.e, s.ne, sizeof *s.e, by_uri);
    printf("%-7s %8s %-6s %10s %5s  %s\n", "SCHEME", "PID", "STATE", "SIZE", "MODE", "URI");
    for (size_t i = 0; i < s.ne; i++) {
        const struct entry *e = &s.e[i];
        if (stale_only && strcmp(e->state, "stale") != 0)
            continue;
        char pid[16] = "-", size[24] = "-", mode[16] = "-";
        if (e->pid > 0)
            snprintf(pid, sizeof pid, "%d", (int)e->pid);
        if (e->size >= 0)
            snprintf(size, sizeof size, "%lld", e->size);
        if (e->mode >= 0)
            snprintf(mode, sizeof mode, "%04o", (unsigned)e->mode);
        printf("%-7s %8s %-6s %10s %5s  %s\n", e->scheme, pid, e->state, size, mode, e->uri);
    }
    scan_free(&s);
    return 0;
}

/* ---- uipc rm ---- */

/* "scheme://x?query" without the query, for matching against the scan. */
static void strip_query(const char *uri, char *out, size_t cap)
{
    snprintf(out, cap, "%s", uri);
    out[strcspn(out, "?")] = '\0';
}

/*
 * --force on a live rendezvous: uipc_unlink refuses it, so remove the names
 * with the system calls the transports use.  The owner keeps working on what
 * it has open; only new peers can no longer find it.
 */
static int force_remove(const char *uri)
{
    char path[PATH_MAX + 8];
    int r = 0;
    if (sscanf(uri, "fifo://%4095[^?]", path) == 1) {
        char p2[PATH_MAX + 16];
        for (int half = 0; half < 2; half++) {
            snprintf(p2, sizeof p2, "%s.%s", path, half ? "s2c" : "c2s");
            if (unlink(p2) < 0 && errno != ENOENT)
                r = -errno;
        }
    } else if (sscanf(uri, "unix://%4095[^?]", path) == 1) {
        if (unlink(path) < 0)
            r = -errno;
    } else if (sscanf(uri, "shm://%4095[^?]", path) == 1) {
        if (shm_unlink(path) < 0)
            r = -errno;
    } else if (sscanf(uri, "mq://%4095[^?]", path) == 1) {
        char p2[PATH_MAX + 16];
        for (int half = 0; half < 2; half++) {
            snprintf(p2, sizeof p2, "%s.%s", path, half ? "s2c" : "c2s");
            if (mq_unlink(p2) < 0 && errno != ENOENT)
                r = -errno;
        }
    } else if (sscanf(uri, "sysvmq://%4095[^?]", path) == 1) {
        char *end;
        key_t key = (key_t)strtol(path, &end, 0);
        int id = *end ? -1 : msgget(key, 0);
        if (id < 0 || msgctl(id, IPC_RMID, NULL) < 0)
            r = *end ? -EINVAL : -errno;
    } else {
        r = -ENOTSUP;
    }
    return r;
}

int cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'}, {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0},
    };
    struct ls_opts o = {.ndirs = 0};
    bool force = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fd:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': force = true; break;
        case 'd':
            if (add_dir("rm", &o, optarg))
                return EXIT_USAGE;
            break;
        case 'h':
            printf("usage: uipc rm [--force] URI...\n"
                   "Removes stale rendezvous (uipc_unlink).  One whose owner is alive is\n"
                   "refused unless --force, which removes its name anyway: the owner keeps\n"
                   "what it has open, new peers no longer find it.\n");
            return 0;
        default:
            if (optopt)
                return fail_usage("rm", "unknown or incomplete option '-%c'", optopt);
            return fail_usage("rm", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return fail_usage("rm", "missing URI");
    struct scan s;
    scan_all(&s, &o);
    int status = 0;
    for (int i = optind; i < argc; i++) {
        const char *uri = argv[i];
        char bare[URI_MAX];
        strip_query(uri, bare, sizeof bare);
        const struct entry *live = NULL;
        for (size_t k = 0; k < s.ne && !live; k++)
            if (strcmp(s.e[k].uri, bare) == 0 && strcmp(s.e[k].state, "stale") != 0)
                live = &s.e[k];
        if (live && !force) {
            if (live->pid > 0)
                fprintf(stderr, "uipc rm: %s: in use by pid %d (use --force)\n", uri,
                        (int)live->pid);
            else
                fprintf(stderr, "uipc rm: %s: in use (use --force)\n", uri);
            status = 1;
            continue;
        }
        /* sem: names are semaphores, not channels: their own call. */
        int r = strncmp(uri, "sem:", 4) == 0 ? uipc_sem_unlink(uri + 4) : uipc_unlink(uri);
        if (r == -EADDRINUSE && force)
            r = force_remove(uri);
        if (r < 0)
            status = fail_uri("rm", uri, r);
    }
    scan_free(&s);
    return status;
}
