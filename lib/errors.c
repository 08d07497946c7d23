/* SPDX-License-Identifier: MIT */
/*
 * The one list of error texts.  libuipc reports kernel and library
 * conditions as negative errno values; this table gives each one a message
 * that says what it means for a channel, thread-safely and without the
 * locale (strerror is neither guaranteed).  The mapping of library
 * conditions to errno values is documented in uipc(7).  A text must be true
 * wherever its code is returned (by the library or passed on from the
 * kernel): neutral, or listing every cause.
 */
#include <errno.h>

#include "internal.h"

struct err_text {
    int err;
    const char *text;
};

static const struct err_text err_texts[] = {
    {0, "Success"},
    {EPERM, "Operation not permitted"},
    {ENOENT, "No such rendezvous, object or file"},
    {ESRCH, "No such process"},
    {EINTR, "Interrupted system call"},
    {EIO, "Input/output error"},
    {E2BIG, "Argument list too long"},
    {EBADF, "Bad file descriptor"},
    {EAGAIN, "Would block (resource temporarily unavailable)"},
    {ENOMEM, "Out of memory"},
    {EACCES, "Permission denied"},
    {EFAULT, "Bad address"},
    {EBUSY, "Busy (the rendezvous has its peer, a zero-copy reservation or peek is outstanding, or another thread is inside a call on the handle)"},
    {EEXIST, "Already exists"},
    {ENOTDIR, "Not a directory"},
    {EISDIR, "Is a directory"},
    {EINVAL, "Invalid argument"},
    {ENFILE, "Too many open files in system"},
    {EMFILE, "Too many open files (descriptor limit reached)"},
    {EFBIG, "File too large"},
    {ENOSPC, "No space left on device"},
    {EROFS, "Read-only file system"},
    {EPIPE, "Peer closed or died"},
    {ERANGE, "Result out of range"},
    {ENAMETOOLONG, "Name too long"},
    {ENOSYS, "Function not implemented by the kernel"},
    {ELOOP, "Refusing to follow a symbolic link"},
    {ENOMSG, "No message of the requested type"},
    {EIDRM, "Identifier removed (the object was deleted)"},
    {EPROTO, "Protocol error (incompatible or corrupt shared data)"},
    {EBADMSG, "Corrupt message or shared data"},
    {EOVERFLOW, "Overflow: a subscriber fell behind and lost messages, or a counter is at its maximum"},
    {EMSGSIZE, "Message too long (for the channel, the buffer or a system limit)"},
    {EPROTONOSUPPORT, "Unknown URI scheme"},
    {EPROTOTYPE, "The name is a channel of another kind"},
    {ENOTSUP, "Not supported (by this transport or system)"},
    {EAFNOSUPPORT, "Address family not supported"},
    {EADDRINUSE, "Address or rendezvous in use"},
    {EADDRNOTAVAIL, "Address not available"},
    {ENETUNREACH, "Network unreachable"},
    {ECONNABORTED, "Connection aborted"},
    {ECONNRESET, "Connection reset by peer"},
    {ENOBUFS, "No buffer space available"},
    {EISCONN, "Already connected"},
    {ENOTCONN, "Not connected"},
    {ETIMEDOUT, "Timed out"},
    {ECONNREFUSED, "Connection refused (nobody listens)"},
    {EHOSTUNREACH, "Host unreachable"},
    {EOWNERDEAD, "Previous owner died holding the lock"},
    {ENOTRECOVERABLE, "State not recoverable"},
    {EDEADLK, "Deadlock: the caller already holds the lock"},
};

UIPC_API const char *uipc_strerror(int err)
{
    long code = err < 0 ? -(long)err : err; /* -INT_MIN does not fit an int */
    for (size_t i = 0; i < sizeof err_texts / sizeof err_texts[0]; i++)
        if (err_texts[i].err == code)
            return err_texts[i].text;
    return "Unknown error";
}
