/* SPDX-License-Identifier: MIT */
/*
 * Small descriptor and process helpers shared by the transports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

void uipc__close_fd(int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    close(fd); /* on Linux the descriptor is released even on EINTR */
    errno = saved;
}

uint64_t uipc__proc_u64(const char *path, uint64_t fallback)
{
    FILE *f = fopen(path, "re");
    unsigned long long v;
    if (!f)
        return fallback;
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    return ok ? (uint64_t)v : fallback;
}

int uipc__fd_allocate(int fd, uint64_t size)
{
    int r = posix_fallocate(fd, 0, (off_t)size); /* returns the error, not -1 */
    if (r == EOPNOTSUPP || r == EINVAL)
        r = ftruncate(fd, (off_t)size) < 0 ? errno : 0;
    return -r;
}
