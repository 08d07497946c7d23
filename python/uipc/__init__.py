# SPDX-License-Identifier: MIT
"""libuipc for Python: one message API over every classic Linux IPC mechanism.

Open a channel by URI, send and receive messages; change the URI and the
transport changes, nothing else in your code does::

    import uipc

    with uipc.open("unix:///tmp/app.sock", create=True) as ch:   # the owner
        ch.send(b"hello")
        reply = ch.recv(timeout=5)

    # another process: uipc.open("unix:///tmp/app.sock") attaches to it

Transports: ``pipe:`` (``uipc.pair`` only), ``fifo:``, ``unix:``, ``tcp:``,
``udp:``, ``shm:``, ``mmap:``, ``mq:``, ``sysvmq:``, ``file:``; see uipc(7).

Conventions that hold everywhere:

- Timeouts are in seconds: ``None`` waits as long as needed, ``0`` never
  waits (``BlockingIOError``), ``> 0`` waits at most that long
  (``TimeoutError``).  Long waits are cut in slices, so Ctrl-C works.
- Failures raise ``OSError`` subclasses carrying the C library's errno and
  its ``uipc_strerror`` text: ``FileNotFoundError`` (nothing to attach to),
  ``BrokenPipeError`` (the peer is gone), ``TimeoutError``,
  ``BlockingIOError``, ``PermissionError``, ``FileExistsError``, and plain
  ``OSError`` with ``errno.EMSGSIZE``, ``errno.ENOTSUP``, ...
- Using a closed object raises ``ValueError`` (as files do); a wrong type
  raises ``TypeError``.
- A handle is used by one thread at a time, as in C; the Python objects
  serialise their calls, so a ``close()`` from another thread is safe.

Beside channels: listeners (``uipc.listen``), waiting on many channels
(``uipc.poll``, ``selectors``, ``asyncio``), zero-copy (``Channel.peek``,
``Channel.reserve``), shared regions (``uipc.region``), semaphores
(``uipc.semaphore``), robust mutexes inside regions (``uipc.Mutex``) and
notifications (``uipc.notify``).

The C library is found as ``libuipc.so.0`` by the usual search, or at the
path in the environment variable ``UIPC_LIBRARY``.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import io
import math
import os
import threading
import time
import weakref
from ctypes import byref, c_int, c_void_p
from typing import (Any, AsyncIterator, Callable, Iterable, Iterator, List,
                    NamedTuple, Optional, Tuple, Union)

from . import _lib
from ._lib import C, check

__all__ = [
    "open", "pair", "listen", "poll", "unlink", "version", "library_path",
    "region", "semaphore", "sem_unlink", "Mutex", "notify", "notify_block",
    "notify_wait", "Channel", "Listener", "Region", "Semaphore", "Credentials",
    "Message", "Reservation", "POLLIN", "POLLOUT", "POLLHUP", "has_poll", "has_pubsub",
    "strerror", "list", "remove", "RdvInfo",
]

POLLIN = _lib.POLLIN
POLLOUT = _lib.POLLOUT
POLLHUP = _lib.POLLHUP

Timeout = Optional[float]
BytesLike = Union[bytes, bytearray, memoryview]

#: Longest single wait inside the C library; longer waits loop so that
#: Python can run signal handlers (KeyboardInterrupt) and close() from
#: another thread gets its turn.
_SLICE_MS = 200
_DEFAULT: Any = object()  # "use the object's default timeout"


# ---------------------------------------------------------------- helpers

def _timeout_ms(timeout: Timeout) -> int:
    """Seconds (None = forever, 0 = never wait) -> the C timeout_ms."""
    if timeout is None:
        return _lib.FOREVER
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, "
                        f"not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, not {timeout!r}")
    if math.isinf(timeout):
        return _lib.FOREVER
    if timeout == 0:
        return 0
    return min(_lib.INT_MAX, max(1, math.ceil(timeout * 1000)))


def _uri_bytes(uri: Union[str, bytes, os.PathLike], what: str = "uri") -> bytes:
    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if isinstance(uri, str):
        b = uri.encode()
    elif isinstance(uri, bytes):
        b = uri
    else:
        raise TypeError(f"{what} must be str, not {type(uri).__name__}")
    if b"\0" in b:
        raise ValueError(f"{what} contains a NUL character")
    return b


def _with_query(uri: str, **keys: Optional[str]) -> str:
    """Appends ?key=value for each key that is not None."""
    for k, v in keys.items():
        if v is not None:
            uri += ("&" if "?" in uri else "?") + f"{k}={v}"
    return uri


def _wait(call: Callable[[int], int], ms: int) -> int:
    """Runs call(slice_ms) until it returns something other than -ETIMEDOUT
    or the whole timeout ms has passed.  A wait that times out has done
    nothing (the C contract), so repeating it is safe."""
    if 0 <= ms <= _SLICE_MS:
        return call(ms)
    deadline = None if ms < 0 else time.monotonic() + ms / 1000
    while True:
        step = _SLICE_MS
        if deadline is not None:
            left = math.ceil((deadline - time.monotonic()) * 1000)
            if left <= 0:
                return -errno.ETIMEDOUT
            step = min(step, left)
        r = call(step)
        if r != -errno.ETIMEDOUT:
            return r


@functools.lru_cache(maxsize=128)
def _array_type(n: int) -> type:
    # A subclass, so that instances take attributes and weak references.
    return type(f"_uipc_bytes_{n}", (ctypes.c_ubyte * n,), {"__hash__": object.__hash__})


def _expose(addr: int, n: int, owner: Any, readonly: bool) -> Tuple[memoryview, Any]:
    """A memoryview of n bytes of C memory at addr.  The ctypes array behind
    it refers to owner, so the owner (and the mapping) outlives every view;
    the array is returned so that the owner can see whether views remain."""
    arr = _array_type(n).from_address(addr) if n else _array_type(0)()
    arr._owner = owner
    raw = memoryview(arr)
    mv = raw.cast("B")
    raw.release()
    if readonly:
        ro = mv.toreadonly()
        mv.release()
        mv = ro
    return mv, arr


def _c_buffer(data: Any, writable: bool) -> Tuple[Any, int]:
    """(object ctypes passes as void *, length in bytes) for a bytes-like
    object, without a copy where the buffer allows it."""
    if isinstance(data, bytes) and not writable:
        return data, len(data)
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str' (encode it first)")
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not "
                        f"'{type(data).__name__}'") from None
    if writable:
        if mv.readonly:
            raise TypeError(f"a writable bytes-like object is required, not "
                            f"read-only '{type(data).__name__}'")
        if not mv.c_contiguous:
            raise ValueError("the buffer must be C-contiguous")
        return (ctypes.c_char * mv.nbytes).from_buffer(mv), mv.nbytes
    if mv.readonly or not mv.c_contiguous:
        b = mv.tobytes()
        return b, len(b)
    return (ctypes.c_char * mv.nbytes).from_buffer(mv), mv.nbytes


class _Handle:
    """A C handle, the lock that serialises its calls, and its views.

    Subclasses set _close_fn (the C close).  close() refuses (BufferError)
    while a zero-copy view still points into memory the close would unmap.
    """

    _close_fn: Callable[[int], int]
    _kind = "object"

    def __init__(self, handle: int) -> None:
        self._h: Optional[int] = handle
        self._lock = threading.RLock()
        self._views: "weakref.WeakSet[Any]" = weakref.WeakSet()

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._h is None

    def _handle(self) -> int:
        h = self._h
        if h is None:
            raise ValueError(f"I/O operation on closed {self._kind}")
        return h

    def _call(self, fn: Callable[..., int], *args: Any) -> int:
        with self._lock:
            return fn(self._handle(), *args)

    def _wait_call(self, fn: Callable[..., int], ms: int, *args: Any) -> int:
        """fn(handle, *args, slice_ms) under the lock, repeated by _wait;
        the hot path (a wait of at most one slice) is a single call."""
        def once(step: int) -> int:
            with self._lock:
                h = self._h
                if h is None:
                    raise ValueError(f"I/O operation on closed {self._kind}")
                return fn(h, *args, step)
        return once(ms) if 0 <= ms <= _SLICE_MS else _wait(once, ms)

    def _release_views(self) -> None:
        if len(self._views):
            raise BufferError(f"cannot close the {self._kind}: a memoryview of its memory "
                              f"is still in use (release it, or leave its with-block)")

    def close(self) -> None:
        """Releases the handle (the owner removes the rendezvous).  Calling
        close() again does nothing."""
        with self._lock:
            if self._h is None:
                return
            self._release_views()
            h, self._h = self._h, None
            check(type(self)._close_fn(h))

    def __enter__(self):
        self._handle()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Unreachable: so is every view (each refers back to its owner).
        h = getattr(self, "_h", None)
        if h is not None:
            self._h = None
            try:
                type(self)._close_fn(h)
            except Exception:  # interpreter shutdown
                pass


# ---------------------------------------------------------------- channels

class Credentials(NamedTuple):
    """The peer's identity as the kernel reports it (Channel.peer_cred)."""
    pid: int
    uid: int
    gid: int


class Message(NamedTuple):
    """A message with its attributes (Channel.recv_msg)."""
    data: bytes
    priority: int
    type: int


class _Peek:
    """Context manager of Channel.peek(): the next message in place."""

    def __init__(self, ch: "Channel", timeout: Any) -> None:
        self._ch, self._timeout, self._mv = ch, timeout, None

    def __enter__(self) -> memoryview:
        ch = self._ch
        ptr = c_void_p()
        n = ch._wait_call(C.recv_peek, ch._ms(self._timeout), byref(ptr))
        check(n)
        self._mv, arr = _expose(ptr.value or 0, n, ch, readonly=True)
        ch._views.add(arr)
        return self._mv

    def __exit__(self, *exc: Any) -> None:
        mv, self._mv = self._mv, None
        if mv is None:
            return
        try:
            mv.release()
        except BufferError:
            pass  # exported further: those views keep the channel open
        self._ch._call(C.recv_release)


class Reservation:
    """Writable space for one outgoing message (Channel.reserve()).

    Used as a context manager it hands out a writable memoryview and sends
    all of it at the end of the with-block; call commit(n) inside the block
    to send only the first n bytes.  If the block raises, nothing is sent
    and the space stays reserved: the channel's next send() or reserve() of
    at most that many bytes uses it.
    """

    def __init__(self, ch: "Channel", size: int, timeout: Any) -> None:
        self._ch, self.size, self._timeout = ch, size, timeout
        self.buf: Optional[memoryview] = None
        self._done = False

    def __enter__(self) -> memoryview:
        ch = self._ch
        pend = ch._pending
        if pend is not None and self.size <= pend.size:
            ch._pending = None
            self.buf = pend.buf[:self.size]
            self._arr = pend._arr
            return self.buf
        ptr = c_void_p()
        check(ch._wait_call(C.send_reserve, ch._ms(self._timeout), byref(ptr), self.size))
        full, self._arr = _expose(ptr.value or 0, self.size, ch, readonly=False)
        ch._views.add(self._arr)
        self.buf = full
        return self.buf

    def commit(self, length: Optional[int] = None) -> None:
        """Sends the first length bytes (all of them by default)."""
        if self._done:
            raise ValueError("this reservation was already committed")
        n = self.size if length is None else _index(length, "length")
        if not 0 <= n <= self.size:
            raise ValueError(f"length must be between 0 and {self.size}")
        self._done = True
        if self.buf is not None:
            try:
                self.buf.release()
            except BufferError:
                pass
        self._ch._views.discard(self._arr)
        check(self._ch._call(C.send_commit, n))

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self._ch._pending = self


def _index(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    return v


class Channel(_Handle):
    """One endpoint of a full-duplex, reliable, ordered, message-oriented
    link.  Made by uipc.open(), uipc.pair() or Listener.accept(); a context
    manager that closes it.

    Every blocking method takes ``timeout`` in seconds; left out, it is the
    channel's ``timeout`` attribute (set by uipc.open, None = forever).
    """

    _close_fn = staticmethod(lambda h: C.close(h))
    _kind = "channel"

    def __init__(self, handle: int, uri: str, timeout: Timeout = None,
                 role: Optional[str] = None) -> None:
        super().__init__(handle)
        self._uri = uri
        self.timeout = timeout
        self._role = role
        self._scratch: Optional[bytearray] = None
        self._scratch_c: Any = None
        self._scratch_mv: Optional[memoryview] = None
        self._pending: Optional[Reservation] = None

    # -- attributes
    @property
    def timeout(self) -> Timeout:
        """Default timeout of this channel's waits, in seconds (None = forever)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Timeout) -> None:
        _timeout_ms(value)
        self._timeout = value

    def _ms(self, timeout: Any) -> int:
        return _timeout_ms(self._timeout if timeout is _DEFAULT else timeout)

    @property
    def scheme(self) -> str:
        """The transport: "shm", "unix", "tcp", ..."""
        return self._call(C.scheme).decode()

    @property
    def max_msg(self) -> int:
        """The largest message this channel carries, in bytes."""
        return self._call(C.max_msg)

    @property
    def uri(self) -> str:
        """The URI a peer opens (with tcp port 0 resolved when the library
        offers uipc_uri), else the URI this channel was opened with."""
        if _lib.have("uri"):
            s = self._call(C.uri)
            if s:
                return s.decode()
        return self._uri

    @property
    def role(self) -> Optional[str]:
        """"pub" for a publisher, "sub" for a subscriber, None otherwise."""
        return self._role

    @property
    def peer_cred(self) -> Credentials:
        """The peer's (pid, uid, gid) where the kernel vouches for them
        (unix:); OSError(ENOTSUP) elsewhere."""
        pid, uid, gid = c_int(), c_int(), c_int()
        check(self._call(C.peer_cred, byref(pid), byref(uid), byref(gid)))
        return Credentials(pid.value, uid.value & 0xFFFFFFFF, gid.value & 0xFFFFFFFF)

    def fileno(self) -> int:
        """A descriptor that polls readable whenever a message may be
        waiting (for select, selectors, asyncio's add_reader).  It belongs
        to the channel: do not close it.  io.UnsupportedOperation where the
        transport has none (sysvmq:)."""
        r = self._call(C.pollfd)
        if r == -errno.ENOTSUP:
            raise io.UnsupportedOperation(errno.ENOTSUP,
                                          f"{self.scheme}: channels have no pollable descriptor")
        return check(r)

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.scheme
        return f"<uipc.Channel {self._uri!r} {state}>"

    # -- sending
    def send(self, data: BytesLike, timeout: Timeout = _DEFAULT, *,
             priority: int = 0, type: int = 0) -> int:
        """Sends data (any bytes-like object) as one message and returns its
        length.  priority (mq:) and type (sysvmq:, > 0) are message
        attributes; a transport that cannot honour them raises ENOTSUP.
        OSError(EMSGSIZE) when len(data) > max_msg, BrokenPipeError when
        the peer is gone."""
        ms = _timeout_ms(self._timeout if timeout is _DEFAULT else timeout)
        if data.__class__ is bytes:
            buf, n = data, len(data)
        else:
            buf, n = _c_buffer(data, writable=False)
        if priority or type:
            priority, type = _index(priority, "priority"), _index(type, "type")
            if not 0 <= priority <= 0xFFFFFFFF:
                raise ValueError("priority must be between 0 and 2**32-1")
            info = _lib.MsgInfo(priority, type)
            return check(self._wait_call(C.sendmsg, ms, buf, n, byref(info)))
        pend = self._pending
        if pend is not None and n <= pend.size:
            self._pending = None
            ctypes.memmove(ctypes.addressof(pend._arr), buf, n)
            pend.commit(n)
            return n
        r = self._wait_call(C.send, ms, buf, n)
        if r < 0:
            raise _lib.error(r)
        return r

    def reserve(self, size: int, timeout: Timeout = _DEFAULT) -> Reservation:
        """Zero-copy send: ``with ch.reserve(n) as buf: buf[:] = ...`` writes
        the message in place (in the ring itself on shm: and mmap:) and
        sends it when the block ends; ``commit(k)`` on the Reservation sends
        only k bytes."""
        size = _index(size, "size")
        if size < 0:
            raise ValueError("size must be >= 0")
        self._handle()
        return Reservation(self, size, timeout)

    # -- receiving
    def _scratch_buffer(self, at_least: int = 0) -> Tuple[bytearray, Any]:
        if self._scratch is not None and len(self._scratch) >= at_least:
            return self._scratch, self._scratch_c
        n = max(at_least, min(self.max_msg, 65536), 1)
        self._scratch_c = None
        self._scratch_mv = None
        self._scratch = bytearray(n)
        self._scratch_c = (ctypes.c_char * n).from_buffer(self._scratch)
        self._scratch_mv = memoryview(self._scratch)
        return self._scratch, self._scratch_c

    def _recv_once(self, h: int, info: Optional[_lib.MsgInfo], got: List[bytes],
                   step: int) -> int:
        # Called under the lock: the scratch buffer is shared, so the
        # message is copied out before anyone else may receive into it.
        while True:
            buf, cbuf = self._scratch_buffer()
            if info is None:
                n = C.recv(h, cbuf, len(buf), step)
            else:
                n = C.recvmsg(h, cbuf, len(buf), byref(info), step)
            if n >= 0:
                got.append(bytes(self._scratch_mv[:n]))
                return n
            if n != -errno.EMSGSIZE or len(buf) >= C.max_msg(h):
                return n
            # The message stays queued: grow and ask again.
            self._scratch_buffer(min(C.max_msg(h), len(buf) * 4))

    def _recv(self, timeout: Any, info: Optional[_lib.MsgInfo]) -> bytes:
        got: List[bytes] = []
        r = self._wait_call(self._recv_once, _timeout_ms(self._timeout if timeout is _DEFAULT
                                                         else timeout), info, got)
        if r < 0:
            raise _lib.error(r)
        return got[0]

    def recv(self, timeout: Timeout = _DEFAULT) -> bytes:
        """Receives the next message.  BrokenPipeError once the peer is gone
        and every queued message was read; TimeoutError, or BlockingIOError
        with timeout=0, when nothing came."""
        return self._recv(timeout, None)

    def recv_msg(self, timeout: Timeout = _DEFAULT, *, type: int = 0) -> Message:
        """Receives the next message with its attributes.  type filters on
        sysvmq: (0 any, > 0 that type, < 0 the lowest type <= -type)."""
        info = _lib.MsgInfo(0, _index(type, "type"))
        data = self._recv(timeout, info)
        return Message(data, info.priority, info.type)

    def recv_into(self, buffer: Any, timeout: Timeout = _DEFAULT) -> int:
        """Receives the next message into a writable buffer and returns its
        length.  OSError(EMSGSIZE) when it does not fit: the message stays
        queued for a larger buffer."""
        ms = self._ms(timeout)
        cbuf, n = _c_buffer(buffer, writable=True)
        try:
            return check(self._wait_call(C.recv, ms, cbuf, n))
        finally:
            del cbuf

    def peek(self, timeout: Timeout = _DEFAULT) -> _Peek:
        """Zero-copy receive: ``with ch.peek() as mv:`` gives the next
        message as a read-only memoryview (in the ring itself on shm: and
        mmap:), consumed when the block ends.  Do not keep the view."""
        self._handle()
        return _Peek(self, timeout)

    def __iter__(self) -> Iterator[bytes]:
        """Yields messages until the peer is gone."""
        while True:
            try:
                yield self.recv()
            except BrokenPipeError:
                return

    # -- asyncio
    async def _readable(self, deadline: Optional[float]) -> None:
        loop = asyncio.get_running_loop()
        try:
            fd = self.fileno()
        except io.UnsupportedOperation:
            await asyncio.sleep(0.005)
            return
        fut = loop.create_future()
        loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
        try:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.wait_for(fut, left)
        finally:
            loop.remove_reader(fd)

    async def arecv(self, timeout: Timeout = _DEFAULT) -> bytes:
        """await ch.arecv(): recv() that waits in the event loop (on
        fileno()) instead of blocking it.  TimeoutError after timeout."""
        loop = asyncio.get_running_loop()
        t = self._timeout if timeout is _DEFAULT else timeout
        _timeout_ms(t)
        deadline = None if t is None else loop.time() + t
        while True:
            try:
                return self.recv(0)
            except BlockingIOError:
                if deadline is not None and loop.time() >= deadline:
                    raise TimeoutError(errno.ETIMEDOUT, _lib.strerror(-errno.ETIMEDOUT)) from None
            try:
                await self._readable(deadline)
            except asyncio.TimeoutError:
                pass  # one more non-blocking try, then the deadline check

    async def asend(self, data: BytesLike, timeout: Timeout = _DEFAULT) -> int:
        """await ch.asend(data): send() that never blocks the event loop.
        While the channel is full it retries with a growing pause (channels
        have no descriptor that polls writable)."""
        loop = asyncio.get_running_loop()
        t = self._timeout if timeout is _DEFAULT else timeout
        _timeout_ms(t)
        deadline = None if t is None else loop.time() + t
        pause = 0.0005
        while True:
            try:
                return self.send(data, 0)
            except BlockingIOError:
                if deadline is not None and loop.time() >= deadline:
                    raise TimeoutError(errno.ETIMEDOUT, _lib.strerror(-errno.ETIMEDOUT)) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[bytes]:
        while True:
            try:
                yield await self.arecv()
            except BrokenPipeError:
                return


def _open_handle(opener: Callable[..., int], uri: Any, *args: Any) -> Tuple[int, str]:
    b = _uri_bytes(uri)
    h = c_void_p()
    check(opener(byref(h), b, *args), b.decode(errors="replace"))
    return h.value, b.decode(errors="replace")


@functools.lru_cache(maxsize=None)
def has_pubsub() -> bool:
    """True when the loaded libuipc knows UIPC_PUB/UIPC_SUB (an older one
    refuses the flags with EINVAL before looking at the URI)."""
    h = c_void_p()
    r = C.open(byref(h), b"pipe:", _lib.CREATE | _lib.PUB)
    if r >= 0:
        C.close(h)
    return r != -errno.EINVAL


def has_poll() -> bool:
    """True when the loaded libuipc has uipc_poll (else uipc.poll raises
    OSError(ENOTSUP))."""
    return _lib.have("poll")


def open(uri: Union[str, bytes], create: bool = False, exclusive: bool = False,
         timeout: Timeout = None, *, pub: bool = False, sub: bool = False) -> Channel:
    """Opens one endpoint of the channel named by uri.

    create=True makes the rendezvous (socket, FIFOs, shared memory, queue)
    and owns it: close() removes it; a stale one whose owner died is taken
    over, a live one raises OSError(EADDRINUSE).  exclusive=True with
    create: FileExistsError if it exists at all.  Without create it attaches
    to an existing rendezvous: FileNotFoundError if there is none.  Opening
    never waits for the peer.

    timeout (seconds, None = forever) becomes the channel's default for
    send/recv/peek/reserve.  pub=True makes a publisher (implies create),
    sub=True a subscriber of one (shm:, unix:, tcp:); OSError(ENOTSUP) if
    the loaded libuipc has no publish/subscribe.

    A malformed URI or unknown key raises OSError(EINVAL), an unknown
    scheme OSError(EPROTONOSUPPORT).
    """
    if pub and sub:
        raise ValueError("a channel is a publisher or a subscriber, not both")
    if sub and create:
        raise ValueError("a subscriber attaches to a publisher: create=True makes no sense")
    if exclusive and not (create or pub):
        raise ValueError("exclusive=True needs create=True")
    _timeout_ms(timeout)
    flags = (_lib.CREATE if create or pub else 0) | (_lib.EXCL if exclusive else 0)
    if pub or sub:
        if not has_pubsub():
            raise OSError(errno.ENOTSUP, f"publish/subscribe is not in the loaded libuipc "
                          f"({_lib.library_path()}, version {version()})")
        flags |= _lib.PUB if pub else _lib.SUB
    h, u = _open_handle(C.open, uri, flags)
    return Channel(h, u, timeout, "pub" if pub else "sub" if sub else None)


def pair(uri: Union[str, bytes] = "pipe:", timeout: Timeout = None) -> Tuple[Channel, Channel]:
    """Two connected endpoints in this process, for related processes:
    fork afterwards and let each side close the end it does not use.
    pipe:, unix: and shm: offer it; OSError(ENOTSUP) elsewhere."""
    b = _uri_bytes(uri)
    _timeout_ms(timeout)
    a, c = c_void_p(), c_void_p()
    u = b.decode(errors="replace")
    check(C.pair(b, byref(a), byref(c)), u)
    return Channel(a.value, u, timeout), Channel(c.value, u, timeout)


def unlink(uri: Union[str, bytes]) -> None:
    """Removes a stale rendezvous (socket file, shm name, FIFOs, queue)."""
    b = _uri_bytes(uri)
    check(C.unlink(b), b.decode(errors="replace"))


class RdvInfo(NamedTuple):
    """One rendezvous found by :func:`list` (uipc_list(3))."""
    scheme: str  #: "shm", "fifo", ..., or "sem"
    uri: str     #: canonical, no query: what :func:`remove` takes
    state: str   #: "live", "stale" or "corrupt"
    pid: int     #: a process holding it live; 0 when unknown or none
    uid: int     #: the owner's uid
    mode: int    #: permission bits
    size: int    #: bytes (queues: bytes queued); -1 when it has none


def list(where: Optional[Union[str, bytes, os.PathLike]] = None) -> "List[RdvInfo]":
    """The rendezvous libuipc made that exist now (what ``uipc ls`` shows).

    ``where`` is None (the system-wide namespaces: shm:, sem:, mq:,
    sysvmq:), ``"SCHEME:"`` (one kind), a directory path (the path-named
    kinds in it: fifo:, unix:, file:, mmap:) or one URI.  Objects that are
    not libuipc's are never listed.
    """
    fn = _lib.need("list")
    w = None if where is None else _uri_bytes(where, "where")
    rows: "List[RdvInfo]" = []

    def collect(info: Any, _arg: Any) -> int:
        i = info.contents
        rows.append(RdvInfo(i.scheme.decode(errors="replace"), i.uri.decode(errors="replace"),
                            _lib.RDV_STATES.get(i.state, str(i.state)), i.pid, i.uid,
                            i.mode, i.size))
        return 0

    cb = _lib.LIST_FN(collect)  # kept alive for the call
    check(fn(w, cb, None), "" if w is None else w.decode(errors="replace"))
    return rows


def remove(uri: Union[str, bytes], force: bool = False) -> None:
    """Removes a rendezvous :func:`list` reported: a stale or corrupt one,
    or with ``force=True`` a live one too (its owner keeps what it has open;
    new peers no longer find it).  Never removes what is not libuipc's."""
    fn = _lib.need("remove")
    b = _uri_bytes(uri)
    check(fn(b, _lib.FORCE if force else 0), b.decode(errors="replace"))


def version() -> str:
    """The loaded C library's version string ("0.1.0")."""
    return _lib.version()


def library_path() -> str:
    """The path of the libuipc the package loaded."""
    return _lib.library_path()


def strerror(err: int) -> str:
    """uipc_strerror: the text for an errno value (either sign)."""
    err = _index(err, "err")
    return _lib.strerror(-abs(err))


# ---------------------------------------------------------------- listeners

class Listener(_Handle):
    """A server that accepts many peers, each on a channel of its own
    (unix:, tcp:, and shm: where the library offers it).  Clients are
    plain uipc.open(uri) calls.  A context manager that closes it."""

    _close_fn = staticmethod(lambda h: C.listener_close(h))
    _kind = "listener"

    def __init__(self, handle: int, uri: str) -> None:
        super().__init__(handle)
        self._uri = uri

    @property
    def uri(self) -> str:
        """What a client opens (tcp port 0 resolved, when the library
        offers uipc_listener_uri)."""
        if _lib.have("listener_uri"):
            s = self._call(C.listener_uri)
            if s:
                return s.decode()
        return self._uri

    def fileno(self) -> int:
        """A descriptor that polls readable when accept() may not block."""
        return check(self._call(C.listener_pollfd))

    def accept(self, timeout: Timeout = None) -> Channel:
        """Waits for the next client and returns its channel."""
        h = c_void_p()
        check(self._wait_call(C.accept, _timeout_ms(timeout), byref(h)))
        return Channel(h.value, self._uri)

    async def aaccept(self, timeout: Timeout = None) -> Channel:
        """await l.aaccept(): accept() that waits in the event loop."""
        loop = asyncio.get_running_loop()
        _timeout_ms(timeout)
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                return self.accept(0)
            except BlockingIOError:
                if deadline is not None and loop.time() >= deadline:
                    raise TimeoutError(errno.ETIMEDOUT, _lib.strerror(-errno.ETIMEDOUT)) from None
            fut = loop.create_future()
            fd = self.fileno()
            loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
            try:
                left = None if deadline is None else max(0.0, deadline - loop.time())
                await asyncio.wait_for(fut, left)
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_reader(fd)

    def __repr__(self) -> str:
        return f"<uipc.Listener {self._uri!r}{' closed' if self.closed else ''}>"


def listen(uri: Union[str, bytes], exclusive: bool = False) -> Listener:
    """Listens on uri (unix:, tcp:, shm: where offered; OSError(ENOTSUP)
    elsewhere).  tcp://host:0 binds a port the kernel picks: Listener.uri
    tells clients the real one."""
    h, u = _open_handle(C.listen, uri, _lib.CREATE | (_lib.EXCL if exclusive else 0))
    return Listener(h, u)


PollTarget = Union[Channel, Listener]


def poll(items: Iterable[Union[PollTarget, Tuple[PollTarget, int]]],
         timeout: Timeout = None) -> List[Tuple[PollTarget, int]]:
    """Waits until one of the channels or listeners is ready.

    items: channels/listeners (waiting for POLLIN) or (object, events)
    pairs with events a mask of POLLIN and POLLOUT.  Returns the ready ones
    as (object, revents) pairs, revents a mask of POLLIN, POLLOUT and
    POLLHUP (the peer is gone); an empty list when the timeout passed.
    Mixes transports.  OSError(ENOTSUP) when the loaded library has no
    uipc_poll.
    """
    fn = _lib.need("poll")
    objs: List[PollTarget] = []
    entries = []
    for it in items:
        obj, ev = (it if isinstance(it, tuple) else (it, POLLIN))
        if not isinstance(obj, (Channel, Listener)):
            raise TypeError(f"uipc.poll takes channels and listeners, not {type(obj).__name__}")
        ev = _index(ev, "events")
        if ev & ~(POLLIN | POLLOUT):
            raise ValueError("events is a mask of uipc.POLLIN and uipc.POLLOUT")
        objs.append(obj)
        entries.append(ev)
    arr = (_lib.PollItem * max(1, len(objs)))()
    ms = _timeout_ms(timeout)
    locks = sorted({id(o): o for o in objs}.values(), key=id)

    def once(t: int) -> int:
        for o in locks:
            o._lock.acquire()
        try:
            for i, (o, ev) in enumerate(zip(objs, entries)):
                h = o._handle()
                arr[i] = _lib.PollItem(h if isinstance(o, Channel) else None,
                                       h if isinstance(o, Listener) else None, ev, 0)
            return fn(arr, len(objs), t)
        finally:
            for o in locks:
                o._lock.release()

    r = _wait(once, ms)
    if r in (-errno.ETIMEDOUT, -errno.EAGAIN):
        return []
    check(r)
    return [(o, arr[i].revents) for i, o in enumerate(objs) if arr[i].revents]


# ---------------------------------------------------------------- regions

class Region(_Handle):
    """Raw shared memory (shm://name, mmap:///path, sysvshm://key) as a
    writable buffer: ``region.buf`` is a memoryview of all of it; indexing
    and slicing the region work on it too.  The creator of a shm: region
    removes the name when it closes; mmap: files persist.

    close() raises BufferError while a view of the memory is still in use
    (as mmap.close() does): release the views first."""

    _close_fn = staticmethod(lambda h: C.region_close(h))
    _kind = "region"

    def __init__(self, handle: int, uri: str) -> None:
        super().__init__(handle)
        self._uri = uri
        self._size = C.region_size(handle)
        self._buf: Optional[memoryview] = None

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def size(self) -> int:
        """Its size in bytes."""
        self._handle()
        return self._size

    def __len__(self) -> int:
        return self.size

    @property
    def address(self) -> int:
        """Its address in this process (for ctypes or numpy)."""
        return self._call(C.region_ptr) or 0

    @property
    def buf(self) -> memoryview:
        """A writable memoryview of the whole region."""
        with self._lock:
            if self._buf is None:
                self._buf, arr = _expose(self.address, self.size, self, readonly=False)
                self._views.add(arr)
            return self._buf

    def __getitem__(self, key: Any) -> Any:
        return self.buf[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.buf[key] = value

    def _release_views(self) -> None:
        if self._buf is not None:
            try:
                self._buf.release()
            except BufferError:
                pass
            self._buf = None
        super()._release_views()

    def mutex(self, offset: int = 0) -> "Mutex":
        """The Mutex at offset (a multiple of 64) in this region."""
        return Mutex(self, offset)

    def __repr__(self) -> str:
        return f"<uipc.Region {self._uri!r} size={self._size}{' closed' if self.closed else ''}>"


def region(uri: Union[str, bytes], size: Optional[int] = None, *, create: bool = False,
           exclusive: bool = False, mode: Optional[int] = None) -> Region:
    """Opens a shared region.  create=True needs size (bytes) and makes it
    zero-filled with permissions mode (default 0o600); without create it
    attaches and learns the size.  size and mode may also be given in the
    URI (?size=1M&mode=0640)."""
    if isinstance(uri, bytes):
        uri = uri.decode()
    if not isinstance(uri, str):
        raise TypeError(f"uri must be str, not {type(uri).__name__}")
    if size is not None and _index(size, "size") <= 0:
        raise ValueError("size must be > 0")
    if mode is not None and not 0 <= _index(mode, "mode") <= 0o7777:
        raise ValueError("mode must be between 0 and 0o7777")
    if exclusive and not create:
        raise ValueError("exclusive=True needs create=True")
    uri = _with_query(uri, size=None if size is None else str(size),
                      mode=None if mode is None else f"0{mode:o}")
    h, u = _open_handle(C.region_open, uri,
                        (_lib.CREATE if create else 0) | (_lib.EXCL if exclusive else 0))
    return Region(h, u)


class Mutex:
    """A process-shared robust mutex that lives in a region, at an offset
    that is a multiple of 64 (it takes 64 bytes).  One process calls init()
    once; every process then uses lock()/unlock() or ``with``.

    lock() returns True when the previous owner died holding the lock: the
    caller owns it now and must repair the data it protects (the mutex
    itself keeps working).  ``with m as owner_died:`` gives the same flag.
    """

    SIZE = 64

    def __init__(self, region: Region, offset: int = 0) -> None:
        if not isinstance(region, Region):
            raise TypeError(f"Mutex needs a uipc.Region, not {type(region).__name__}")
        offset = _index(offset, "offset")
        if offset < 0 or offset % 64:
            raise ValueError("offset must be a non-negative multiple of 64")
        if offset + self.SIZE > region.size:
            raise ValueError(f"offset {offset} + 64 bytes does not fit in the region "
                             f"({region.size} bytes)")
        self.region = region
        self.offset = offset

    def _addr(self) -> int:
        return self.region.address + self.offset

    def init(self) -> None:
        """Initialises the mutex (once, by one process, before use)."""
        check(self.region._call(lambda h: C.mutex_init(self._addr())))

    def lock(self, timeout: Timeout = None) -> bool:
        """Locks it; returns True if the previous owner died holding it
        (you own it now: repair the data), False otherwise.  TimeoutError,
        BlockingIOError with timeout=0, OSError(EDEADLK) if you hold it."""
        ms = _timeout_ms(timeout)
        r = _wait(lambda t: self.region._call(lambda h: C.mutex_lock(self._addr(), t)), ms)
        if r == -errno.EOWNERDEAD:
            return True
        check(r)
        return False

    def unlock(self) -> None:
        """Unlocks it; PermissionError if you do not hold it."""
        check(self.region._call(lambda h: C.mutex_unlock(self._addr())))

    def __enter__(self) -> bool:
        return self.lock()

    def __exit__(self, *exc: Any) -> None:
        self.unlock()


# ---------------------------------------------------------------- semaphores

class Semaphore(_Handle):
    """A named counting semaphore shared by unrelated processes."""

    _close_fn = staticmethod(lambda h: C.sem_close(h))
    _kind = "semaphore"

    def __init__(self, handle: int, name: str) -> None:
        super().__init__(handle)
        self.name = name

    def wait(self, timeout: Timeout = None) -> None:
        """Takes one unit; TimeoutError (BlockingIOError with timeout=0)
        when none came in time."""
        check(self._wait_call(C.sem_wait, _timeout_ms(timeout)))

    def acquire(self, blocking: bool = True, timeout: Timeout = None) -> bool:
        """threading.Semaphore-style: True when a unit was taken."""
        try:
            self.wait(timeout if blocking else 0)
            return True
        except (TimeoutError, BlockingIOError):
            return False

    def post(self) -> None:
        """Adds one unit, waking a waiter."""
        check(self._call(C.sem_post))

    release = post

    def __enter__(self) -> "Semaphore":
        self.wait()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.post()

    def __repr__(self) -> str:
        return f"<uipc.Semaphore {self.name!r}{' closed' if self.closed else ''}>"


def semaphore(name: str, initial: int = 0, *, create: bool = False,
              exclusive: bool = False) -> Semaphore:
    """Opens (create=True: makes, with initial units) a named semaphore.
    Used as a context manager it is a lock: wait on entry, post on exit;
    close it with close()."""
    if exclusive and not create:
        raise ValueError("exclusive=True needs create=True")
    initial = _index(initial, "initial")
    if not 0 <= initial <= 0xFFFFFFFF:
        raise ValueError("initial must be between 0 and 2**32-1")
    b = _uri_bytes(name, "name")
    h = c_void_p()
    check(C.sem_open(byref(h), b, initial,
                     (_lib.CREATE if create else 0) | (_lib.EXCL if exclusive else 0)), name)
    s = Semaphore(h.value, b.decode(errors="replace"))
    return s


def sem_unlink(name: str) -> None:
    """Removes a named semaphore."""
    check(C.sem_unlink(_uri_bytes(name, "name")), name)


# ---------------------------------------------------------------- notifications

def notify_block() -> None:
    """Blocks the notification signal in the calling thread (call it
    before starting threads, and before notify_wait)."""
    check(C.notify_block())


def notify(pid: int, value: int) -> None:
    """Sends an int to process pid (a real-time signal, sigqueue)."""
    pid, value = _index(pid, "pid"), _index(value, "value")
    if not -2**31 <= value < 2**31:
        raise OverflowError("value must fit in a C int")
    check(C.notify(pid, value))


def notify_wait(timeout: Timeout = None) -> Tuple[int, int]:
    """Waits for a notification; returns (sender pid, value)."""
    pid, value = c_int(), c_int()
    check(_wait(lambda t: C.notify_wait(byref(pid), byref(value), t), _timeout_ms(timeout)))
    return pid.value, value.value
