# SPDX-License-Identifier: MIT
"""Loading libuipc with ctypes, the C prototypes, and errno -> exception.

Nothing here is public: ``uipc/__init__.py`` builds the Python API on it.
The library is looked up once, at import:

1. ``$UIPC_LIBRARY`` (a path to ``libuipc.so.0``), when set;
2. ``libuipc.so.0`` by the dynamic linker's usual search (``ldconfig``
   cache, ``LD_LIBRARY_PATH``, ``/usr/lib/...``);
3. whatever ``ctypes.util.find_library("uipc")`` finds.

Calls that a given build of the library lacks (older releases) are bound
to ``None``; the Python side then raises ``OSError(ENOTSUP)`` naming the
missing symbol instead of failing at import.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from ctypes import (POINTER, Structure, c_char_p, c_int, c_long, c_short,
                    c_size_t, c_ssize_t, c_uint, c_void_p)
from typing import Optional

ENV_VAR = "UIPC_LIBRARY"
SONAME = "libuipc.so.0"

# Flags of uipc_open and friends (include/uipc/uipc.h).
CREATE = 1 << 0
EXCL = 1 << 1
PUB = 1 << 2
SUB = 1 << 3
FOREVER = -1
POLLIN, POLLOUT, POLLHUP = 1, 2, 4
INT_MAX = 2**31 - 1


def _load() -> ctypes.CDLL:
    tried = []
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return ctypes.CDLL(env)
        except OSError as e:
            raise ImportError(f"uipc: {ENV_VAR}={env} cannot be loaded: {e}") from None
    for name in (SONAME, ctypes.util.find_library("uipc")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            tried.append(f"{name}: {e}")
    raise ImportError(
        "uipc: the C library libuipc.so.0 was not found (" + "; ".join(tried) +
        "). Install libuipc (the libuipc0 package, or `cmake --install` then "
        f"`ldconfig`), or point {ENV_VAR} at the file, e.g. "
        f"{ENV_VAR}=/path/to/build/libuipc.so.0")


lib = _load()


def library_path() -> str:
    """The file the dynamic linker actually loaded."""
    info = ctypes.CDLL(None)  # the process itself: dladdr lives in libc
    try:
        dladdr = info.dladdr
    except AttributeError:
        return lib._name

    class DlInfo(Structure):
        _fields_ = [("fname", c_char_p), ("fbase", c_void_p),
                    ("sname", c_char_p), ("saddr", c_void_p)]
    dladdr.argtypes = [c_void_p, POINTER(DlInfo)]
    dladdr.restype = c_int
    d = DlInfo()
    addr = ctypes.cast(lib.uipc_version, c_void_p).value
    name = lib._name
    if dladdr(addr, ctypes.byref(d)) and d.fname:
        name = os.fsdecode(d.fname)
    return os.path.abspath(name) if os.sep in name else name


class PollItem(Structure):
    _fields_ = [("ch", c_void_p), ("l", c_void_p),
                ("events", c_short), ("revents", c_short)]


class MsgInfo(Structure):
    _fields_ = [("priority", c_uint), ("type", c_long)]


class RdvInfo(Structure):
    """struct uipc_rdvinfo (uipc_list(3)); UIPC_RDV_URI_MAX is 4224."""
    _fields_ = [("scheme", ctypes.c_char * 16), ("uri", ctypes.c_char * 4224),
                ("state", c_int), ("pid", c_int), ("uid", c_uint),
                ("mode", c_uint), ("size", ctypes.c_longlong)]


LIST_FN = ctypes.CFUNCTYPE(c_int, POINTER(RdvInfo), c_void_p)
FORCE = 1  # UIPC_FORCE
RDV_STATES = {1: "live", 2: "stale", 3: "corrupt"}

PP = POINTER(c_void_p)
PPID = POINTER(c_int)

# name: (restype, argtypes).  pid_t, uid_t and gid_t are 32-bit on Linux.
_PROTOS = {
    "uipc_open": (c_int, [PP, c_char_p, c_int]),
    "uipc_pair": (c_int, [c_char_p, PP, PP]),
    "uipc_send": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int]),
    "uipc_recv": (c_ssize_t, [c_void_p, c_void_p, c_size_t, c_int]),
    "uipc_sendmsg": (c_ssize_t, [c_void_p, c_void_p, c_size_t, POINTER(MsgInfo), c_int]),
    "uipc_recvmsg": (c_ssize_t, [c_void_p, c_void_p, c_size_t, POINTER(MsgInfo), c_int]),
    "uipc_close": (c_int, [c_void_p]),
    "uipc_unlink": (c_int, [c_char_p]),
    "uipc_list": (c_int, [c_char_p, LIST_FN, c_void_p]),
    "uipc_remove": (c_int, [c_char_p, c_int]),
    "uipc_strerror": (c_char_p, [c_int]),
    "uipc_version": (c_char_p, []),
    "uipc_scheme": (c_char_p, [c_void_p]),
    "uipc_max_msg": (c_size_t, [c_void_p]),
    "uipc_pollfd": (c_int, [c_void_p]),
    "uipc_peer_cred": (c_int, [c_void_p, PPID, PPID, PPID]),
    "uipc_uri": (c_char_p, [c_void_p]),
    "uipc_listen": (c_int, [PP, c_char_p, c_int]),
    "uipc_accept": (c_int, [c_void_p, PP, c_int]),
    "uipc_listener_close": (c_int, [c_void_p]),
    "uipc_listener_pollfd": (c_int, [c_void_p]),
    "uipc_listener_uri": (c_char_p, [c_void_p]),
    "uipc_poll": (c_int, [POINTER(PollItem), c_size_t, c_int]),
    "uipc_send_reserve": (c_int, [c_void_p, PP, c_size_t, c_int]),
    "uipc_send_commit": (c_int, [c_void_p, c_size_t]),
    "uipc_recv_peek": (c_ssize_t, [c_void_p, PP, c_int]),
    "uipc_recv_release": (c_int, [c_void_p]),
    "uipc_region_open": (c_int, [PP, c_char_p, c_int]),
    "uipc_region_ptr": (c_void_p, [c_void_p]),
    "uipc_region_size": (c_size_t, [c_void_p]),
    "uipc_region_close": (c_int, [c_void_p]),
    "uipc_sem_open": (c_int, [PP, c_char_p, c_uint, c_int]),
    "uipc_sem_wait": (c_int, [c_void_p, c_int]),
    "uipc_sem_post": (c_int, [c_void_p]),
    "uipc_sem_close": (c_int, [c_void_p]),
    "uipc_sem_unlink": (c_int, [c_char_p]),
    "uipc_mutex_init": (c_int, [c_void_p]),
    "uipc_mutex_lock": (c_int, [c_void_p, c_int]),
    "uipc_mutex_unlock": (c_int, [c_void_p]),
    "uipc_notify_block": (c_int, []),
    "uipc_notify": (c_int, [c_int, c_int]),
    "uipc_notify_wait": (c_int, [PPID, PPID, c_int]),
}


class _Calls:
    """The C functions as attributes; a missing one is None."""


C = _Calls()
for _name, (_res, _args) in _PROTOS.items():
    _fn = getattr(lib, _name, None)
    if _fn is not None:
        _fn.restype = _res
        _fn.argtypes = _args
    setattr(C, _name[len("uipc_"):], _fn)


def have(name: str) -> bool:
    """True when the loaded library exports uipc_<name>."""
    return getattr(C, name) is not None


def need(name: str):
    """The C function uipc_<name>, or OSError(ENOTSUP) saying it is missing."""
    fn = getattr(C, name)
    if fn is None:
        raise OSError(errno.ENOTSUP,
                      f"uipc_{name} is not in the loaded libuipc ({library_path()}, "
                      f"version {version()}): it needs a newer libuipc")
    return fn


def version() -> str:
    return C.version().decode()


def strerror(err: int) -> str:
    return C.strerror(err).decode(errors="replace")


def error(r: int, what: Optional[str] = None) -> OSError:
    """The OSError for a negative errno result r (Python picks the subclass:
    TimeoutError for ETIMEDOUT, BrokenPipeError for EPIPE, ...)."""
    e = OSError(-r, strerror(r))
    if what is not None:
        e.filename = what
    return e


def check(r: int, what: Optional[str] = None) -> int:
    if r < 0:
        raise error(r, what)
    return r
