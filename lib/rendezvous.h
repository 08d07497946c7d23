/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle of every named object libuipc makes, written once.
 *
 * A rendezvous is the kernel object (or pair of objects) a URI names: a
 * ring file in /dev/shm or elsewhere, a FIFO pair, a spool file pair, a
 * socket file, a POSIX or System V queue, a region.  Every transport and
 * lib/sync/region.c get from this file, and only from it:
 *
 *  - names: the ".c2s"/".s2c" pair derived from one base name;
 *  - publishing: a file is formatted under no name (O_TMPFILE, or an
 *    unguessable temporary name made with O_EXCL where the file system has
 *    no O_TMPFILE) and then linked into place, so nobody ever opens a
 *    half-made object and a planted name or link is never followed;
 *  - liveness: objects with a file carry it in an open-file-description
 *    (OFD) lock on one byte of the file, at UIPC__RDV_BYTE(slot) beyond any
 *    data.  The lock lives exactly as long as the open file description,
 *    in whatever process holds it: a crash releases it, a fork child
 *    closing its inherited copy does not.  Objects without a file (System V
 *    and POSIX queues) carry it in an abstract UNIX socket name, and a
 *    name bound by another uid than the object's owner proves nothing (the
 *    binder is looked up with sock_diag): a stranger can squat a name but
 *    cannot deny UIPC_CREATE or uipc_unlink with it;
 *  - take-over: a stale rendezvous is adopted or replaced only when the
 *    caller's effective uid owns it (uipc__rdv_adoptable: -EPERM
 *    otherwise, documented in uipc(7)), and an adopted one gets exactly the
 *    mode asked for;
 *  - removal: only the object we created, recognised by device and inode
 *    (uipc__rdv_remove), so an old owner never deletes its successor.  The
 *    rule "only the owner, in the process that opened the handle, removes
 *    it" is applied once, in lib/uipc.c, which passes the verdict to the
 *    transport's close;
 *  - watching a process: a pidfd that polls readable when it exits.
 *
 * docs/rendezvous.md tells the same story for users.  Nothing here is
 * exported; all names start with uipc__rdv_.
 */
#ifndef UIPC_RENDEZVOUS_H
#define UIPC_RENDEZVOUS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "uri.h"

struct uipc__pollset;

/* ---- names ---- */

#define UIPC__RDV_C2S ".c2s" /* client (attacher) to server (owner) */
#define UIPC__RDV_S2C ".s2c" /* server to client */

/*
 * base + ".c2s" and base + ".s2c" into c2s and s2c (cap bytes each):
 * 0, or -ENAMETOOLONG.
 */
int uipc__rdv_pair_names(const char *base, char *c2s, char *s2c, size_t cap);

/*
 * The pair of a path transport (fifo:, file:): the URI's path must be
 * absolute, not end in '/', and have no authority (-EINVAL).  c2s and s2c
 * hold PATH_MAX bytes each.
 */
int uipc__rdv_path_pair(const struct uipc__uri *u, char *c2s, char *s2c);

/*
 * Opens the directory of path (".": relative without a slash) and copies
 * the last component into name (cap bytes): 0 and *dirfd, or -EINVAL for a
 * path ending in '/' or a bad last component.
 */
int uipc__rdv_dir_open(const char *path, int *dirfd, char *name, size_t cap);

/* /dev/shm, where POSIX shared memory objects live: its descriptor, or
 * -ENOTSUP when the system has none. */
int uipc__rdv_shm_dir(void);

/* ---- publishing a formatted file atomically ---- */

#define UIPC__RDV_TMP_MAX 64

/*
 * A new regular file in dirfd with exactly mode (fchmod, whatever the
 * umask) and no name: O_TMPFILE, or where the file system refuses it an
 * unguessable ".uipc-tmp-<random>" created with O_EXCL | O_NOFOLLOW, whose
 * name is left in tmp ("" for O_TMPFILE).  Returns the descriptor (read-
 * write) or -errno.  The caller formats it, then publishes or discards it.
 */
int uipc__rdv_tmpfile(int dirfd, mode_t mode, char tmp[UIPC__RDV_TMP_MAX]);

/*
 * Gives the file fd (from uipc__rdv_tmpfile) the name name in dirfd.  linkat
 * never follows or replaces: -EEXIST if anything, a link included, has the
 * name.  The temporary name is removed either way.
 */
int uipc__rdv_publish(int dirfd, int fd, char tmp[UIPC__RDV_TMP_MAX], const char *name);

/* Drops the temporary name of a file that will not be published. */
void uipc__rdv_discard(int dirfd, char tmp[UIPC__RDV_TMP_MAX]);

/* ---- liveness: OFD locks on a byte of the file ---- */

/* The byte whose lock stands for slot (0: owner or side 0, 1: peer or side 1). */
#define UIPC__RDV_BYTE(slot) ((off_t)1 << 40 | (off_t)(slot))

/*
 * Takes slot's lock on fd: a write lock when fd is open for writing, else a
 * read lock (which only a writable descriptor can exclude).  0, or -EBUSY
 * when another open file description holds a conflicting lock.  wait:
 * blocks until it is free instead (F_OFD_SETLKW, EINTR resumed).
 */
int uipc__rdv_lock(int fd, unsigned slot, bool wait);
/* Releases slot's lock held through fd. */
int uipc__rdv_unlock(int fd, unsigned slot);
/* 1 when another open file description holds slot's lock, 0 when nobody, -errno. */
int uipc__rdv_held(int fd, unsigned slot);
/*
 * A new open file description of fd's file (its own locks), through
 * /proc/self/fd: oflags | O_CLOEXEC.  Used to test whether a lock we hold
 * is still held through another process's copy of our description.
 */
int uipc__rdv_reopen(int fd, int oflags);

/* ---- liveness: abstract socket tokens, for objects without a file ---- */

/*
 * Binds the abstract UNIX name "\0" prefix name (prefix#<hash> when too
 * long) for the life of the returned descriptor: the holder is alive while
 * it exists.  If the name is taken by a process of uid owner: -EADDRINUSE.
 * If a process of another uid squatted it, the caller gets an unbound
 * socket instead (it proceeds without a token: the squatter's name proves
 * nothing, see uipc__rdv_token_live).
 */
int uipc__rdv_token_bind(const char *prefix, const char *name, uid_t owner);
/* 1 when a process of uid owner holds the token, 0 when nobody (or only a
 * process of another uid) does, -errno when it cannot be told. */
int uipc__rdv_token_live(const char *prefix, const char *name, uid_t owner);

/* ---- marking objects that carry no magic of their own ---- */

/*
 * A region is the caller's bytes from the first to the last: nothing in it
 * says it is libuipc's.  Its creator marks it with the extended attribute
 * UIPC__RDV_XATTR = kind (best effort: where the file system keeps no user
 * attributes nothing is marked), so that a stale one can be told from a
 * foreign object and removed (uipc_unlink, uipc rm).
 */
#define UIPC__RDV_XATTR "user.uipc"
void uipc__rdv_mark(int fd, const char *kind);
/* True when fd's file is marked kind. */
bool uipc__rdv_marked(int fd, const char *kind);

/* ---- ownership: what may be taken over, what may be removed ---- */

/*
 * May the caller adopt or replace a stale object owned by uid?  Only if its
 * effective uid owns it: 0, else -EPERM.  Never adopting another uid's
 * object keeps a stranger from reading what the dead owner left or feeding
 * its next incarnation (root is no exception: it refuses too).
 */
int uipc__rdv_adoptable(uid_t uid);
/*
 * Adopts the open file fd: uipc__rdv_adoptable on its owner, then gives it
 * exactly the mode asked for (fchmod), so an adopted object never keeps a
 * mode other than the one its new owner asked for.
 */
int uipc__rdv_adopt_fd(int fd, mode_t want);

/* Which object a name refers to. */
struct uipc__rdv_id {
    dev_t dev;
    ino_t ino;
};

/* The identity of fd's file, or of name in dirfd (not following a link). */
int uipc__rdv_id_fd(int fd, struct uipc__rdv_id *id);
int uipc__rdv_id_at(int dirfd, const char *name, struct uipc__rdv_id *id);
/* True when name in dirfd is still the object id. */
bool uipc__rdv_is(int dirfd, const char *name, const struct uipc__rdv_id *id);
/*
 * Removes name in dirfd (AT_FDCWD with a path) only while it still is the
 * object id, never what replaced it: 0, -ENOENT, or -ESTALE when the name
 * now refers to another object.
 */
int uipc__rdv_remove(int dirfd, const char *name, const struct uipc__rdv_id *id);

/*
 * 1 when a socket is bound to the socket file at path — asked of the
 * kernel by inode, with a datagram connect that never reaches a stream
 * listener's accept queue, so no spelling of the path can fool it — and
 * 0 when none is (ECONNREFUSED: stale).  -errno when it cannot be told
 * (-EACCES: no write permission on the file).
 */
int uipc__rdv_sock_bound(const char *path);

/* ---- watching a process ---- */

/*
 * A pidfd of the process a rendezvous says is its peer or writer: it polls
 * readable once that process has exited and released its files.
 */
struct uipc__pidwatch {
    int fd;    /* -1 when none (no pidfd_open, or no process to watch) */
    pid_t pid; /* the pid watched (or tried), 0 for none */
};

void uipc__pidwatch_init(struct uipc__pidwatch *w);
/*
 * Watches pid from now on, replacing the previous one; a no-op for the pid
 * already watched.  The pidfd joins ps when ps is not NULL.  Returns true
 * when a new pidfd was opened.
 */
bool uipc__pidwatch_set(struct uipc__pidwatch *w, pid_t pid, struct uipc__pollset *ps);
/* True when the watched process has exited. */
bool uipc__pidwatch_exited(const struct uipc__pidwatch *w);
/* Stops watching (closes the pidfd, leaves ps).  The pid is kept, so that
 * setting it again is a no-op; set w->pid = 0 to watch it afresh. */
void uipc__pidwatch_stop(struct uipc__pidwatch *w, struct uipc__pollset *ps);

#endif /* UIPC_RENDEZVOUS_H */
