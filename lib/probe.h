/* SPDX-License-Identifier: MIT */
/*
 * Listing and removing rendezvous (uipc_list, uipc_remove): the helpers a
 * transport's probe operation (struct uipc_transport.probe) fills its rows
 * with, and the one kind that is not a transport (sem:).  A transport
 * knows its own names and magic; this file knows how to walk a directory
 * and which process holds a file or a socket (from /proc).  Nothing here
 * is exported; all names start with uipc__probe_.
 */
#ifndef UIPC_PROBE_H
#define UIPC_PROBE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "uipc/uipc.h"

typedef int (*uipc__probe_emit)(const uipc_rdvinfo *info, void *arg);

/* One walk of a directory for a probe operation. */
struct uipc__probe_walk {
    const char *dir;       /* the directory walked, absolute */
    uipc__probe_emit emit; /* the caller's callback and its argument */
    void *arg;
};

/*
 * Calls each(w, dirfd, name, st) for every entry of w->dir except names
 * starting with '.' (st from fstatat without following links), stopping
 * at the first non-zero return, which it returns.  A directory that does
 * not exist is empty (0); one that cannot be read is -errno.
 */
int uipc__probe_dir(struct uipc__probe_walk *w,
                    int (*each)(struct uipc__probe_walk *w, int dirfd, const char *name,
                                const struct stat *st));

/*
 * Fills info for one row: scheme, state, the owner uid and permission bits
 * of st, size (st_size, or -1 when sized is false), pid 0, and the URI
 * printed from fmt.  -ENAMETOOLONG when the URI does not fit (the row is
 * then not reported).
 */
int uipc__probe_fill(uipc_rdvinfo *info, const char *scheme, int state, const struct stat *st,
                     bool sized, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * A process that has the file st open or mapped shared: its pid, 0 when
 * none is found (or /proc shows us nothing: other users' processes need
 * privilege).  OFD locks record no pid (F_OFD_GETLK and /proc/locks say
 * -1), so the holder of a lock is found this way.
 */
pid_t uipc__probe_file_holder(const struct stat *st);

/*
 * A process holding the UNIX socket bound to name (a path, or "@name" for
 * an abstract one; the listener preferred): its pid, 0 when none is found.
 * conns (when not NULL) gets the number of connections a listener there
 * accepted (sockets listed under the name that are not listening).
 */
pid_t uipc__probe_sock_holder(const char *name, long long *conns);

/* lib/sync/sem.c: sem: rows ("sem:NAME") in /dev/shm, and removing one:
 * stale (no process has it open or mapped) unless force.  A sem has no
 * directory: dir != NULL lists nothing. */
int uipc__sem_probe(const char *dir, uipc__probe_emit emit, void *arg);
int uipc__sem_remove(const char *name, bool force);

#endif /* UIPC_PROBE_H */
