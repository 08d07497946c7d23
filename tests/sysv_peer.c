/* SPDX-License-Identifier: MIT */
/*
 * A legacy System V program for test_sysvshm: it knows nothing of libuipc
 * (no uipc header, not linked with it) and shares memory the classic way,
 * shmget(KEY, SIZE, ...) and shmat().
 *
 *   sysv_peer attach KEY SIZE   attach to an existing segment, check that
 *                               it starts with "uipc->legacy", write
 *                               "legacy->uipc" at offset 64, detach.
 *   sysv_peer hold KEY SIZE     create the segment (IPC_CREAT | IPC_EXCL,
 *                               0600), write "legacy->uipc" at offset 64,
 *                               print "ready", wait for EOF on stdin, then
 *                               check for "uipc->legacy" and detach,
 *                               leaving the segment (as legacy code does).
 *
 * KEY is decimal or 0x hex.  Exit status: 0 on success, 64 + errno when a
 * System V call fails, 2 when the bytes are not the expected ones, 1 on
 * bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define FROM_UIPC "uipc->legacy"
#define FROM_LEGACY "legacy->uipc"
#define LEGACY_OFFSET 64

static int fail(const char *call)
{
    int e = errno;
    fprintf(stderr, "sysv_peer: %s: %s\n", call, strerror(e));
    return 64 + (e > 63 ? 63 : e);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 1;
    key_t key = (key_t)strtoul(argv[2], NULL, 0);
    size_t size = (size_t)strtoul(argv[3], NULL, 0);
    int hold = strcmp(argv[1], "hold") == 0;
    if (!hold && strcmp(argv[1], "attach") != 0)
        return 1;

    int id = shmget(key, size, hold ? IPC_CREAT | IPC_EXCL | 0600 : 0600);
    if (id < 0)
        return fail("shmget");
    char *p = shmat(id, NULL, 0);
    if (p == (void *)-1)
        return fail("shmat");
    if (hold) {
        memcpy(p + LEGACY_OFFSET, FROM_LEGACY, sizeof FROM_LEGACY);
        printf("ready\n");
        fflush(stdout);
        char buf[64];
        while (read(0, buf, sizeof buf) > 0)
            ;
    }
    int ok = memcmp(p, FROM_UIPC, sizeof FROM_UIPC) == 0;
    if (!hold)
        memcpy(p + LEGACY_OFFSET, FROM_LEGACY, sizeof FROM_LEGACY);
    if (shmdt(p) < 0)
        return fail("shmdt");
    return ok ? 0 : 2;
}
