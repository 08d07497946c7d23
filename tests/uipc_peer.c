/* SPDX-License-Identifier: MIT */
/*
 * uipc_peer — the "separately started program" of the conformance suite.
 * test_conformance fork+execs it so that the two ends of a channel live in
 * unrelated program images that share nothing but the URI.
 *
 *   uipc_peer echo URI attach [--fds=N,N,...] [--hello]
 *   uipc_peer echo URI create [--fds=N,N,...] [--hello]
 *
 * attach opens URI without UIPC_CREATE; create makes the rendezvous and then
 * prints "ready" on standard output, so the test knows when to attach.
 * Either way it echoes every message until the quit message or the end of
 * the link (conformance.h) and exits 0.  --fds lists the descriptors above
 * 2 that the test deliberately let it inherit; any other descriptor open at
 * start-up is a descriptor the library leaked across exec (no O_CLOEXEC),
 * and the program fails with exit status 9.  --hello: the attaching side
 * speaks first (conformance.h), for transports that need it.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

/* true when fd appears in the comma-separated list. */
static bool listed(const char *list, int fd)
{
    while (list && *list) {
        char *end;
        long v = strtol(list, &end, 10);
        if (end == list)
            return false;
        if (v == fd)
            return true;
        list = *end == ',' ? end + 1 : end;
    }
    return false;
}

/* 0 when only 0..2 and the listed descriptors are open. */
static int check_inherited(const char *allowed)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0; /* no /proc: nothing to check with */
    struct dirent *e;
    int bad = 0, self = dirfd(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != self && !listed(allowed, fd)) {
            char path[64], target[256] = "?";
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n > 0)
                target[n] = '\0';
            fprintf(stderr, "uipc_peer: descriptor %d (%s) leaked across exec\n", fd, target);
            bad = 1;
        }
    }
    closedir(d);
    return bad;
}

int main(int argc, char **argv)
{
    const char *allowed = NULL;
    bool hello = false;
    if (argc < 4 || strcmp(argv[1], "echo") != 0)
        goto usage;
    for (int i = 4; i < argc; i++) {
        if (strncmp(argv[i], "--fds=", 6) == 0)
            allowed = argv[i] + 6;
        else if (strcmp(argv[i], "--hello") == 0)
            hello = true;
        else
            goto usage;
    }
    bool create = strcmp(argv[3], "create") == 0;
    if (!create && strcmp(argv[3], "attach") != 0)
        goto usage;
    if (check_inherited(allowed))
        return 9;

    uipc_channel *ch;
    int r = uipc_open(&ch, argv[2], create ? UIPC_CREATE : 0);
    if (r < 0) {
        fprintf(stderr, "uipc_peer: open %s: %s\n", argv[2], uipc_strerror(r));
        return 5;
    }
    if (create) {
        printf("ready\n");
        fflush(stdout);
    }
    int rc = 0;
    if (hello)
        rc = create ? conf_owner_hello(ch) : conf_client_hello(ch);
    if (rc == 0)
        rc = conf_echo_loop(ch, "uipc_peer");
    r = uipc_close(ch);
    if (r < 0 && rc == 0) {
        fprintf(stderr, "uipc_peer: close: %s\n", uipc_strerror(r));
        rc = 6;
    }
    return rc;

usage:
    fprintf(stderr, "usage: uipc_peer echo URI attach|create [--fds=N,...] [--hello]\n");
    return 2;
}
