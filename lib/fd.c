/* SPDX-License-Identifier: MIT */
/*
 * Small descriptor and process helpers shared by the transports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
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

int uipc__fd_allocate(int fd, uint64_t size)
{
    int r = posix_fallocate(fd, 0, (off_t)size); /* returns the error, not -1 */
    if (r == EOPNOTSUPP || r == EINVAL)
        r = ftruncate(fd, (off_t)size) < 0 ? errno : 0;
    return -r;
}

int uipc__token_bind(const char *prefix, const char *name)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t max = sizeof a.sun_path - 1; /* sun_path[0] = 0: abstract */
    int n = snprintf(a.sun_path + 1, max, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= max) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a of the whole name */
        for (const char *p = name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        n = snprintf(a.sun_path + 1, max, "%s#%016llx", prefix, (unsigned long long)h);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(fd, (struct sockaddr *)&a, len) < 0) {
        int err = -errno;
        uipc__close_fd(fd);
        return err;
    }
    return fd;
}
