/*
 * Small descriptor and process helpers shared by the transports.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "internal.h"

int uipc__set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

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

int uipc__pid_alive(pid_t pid)
{
    if (pid <= 0)
        return 0;
    return kill(pid, 0) == 0 || errno == EPERM;
}
