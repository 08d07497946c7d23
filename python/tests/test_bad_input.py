# SPDX-License-Identifier: MIT
"""Bad input raises a clear exception and never crashes the interpreter:
wrong types, closed objects, huge sizes, garbage URIs, bad timeouts."""
import errno
import gc
import os
import subprocess
import sys

import pytest

from conftest import child_env

import uipc

GARBAGE_URIS = [
    ("", errno.EINVAL), ("nope", errno.EINVAL), ("shm:", errno.EINVAL),
    ("bogus://x", errno.EPROTONOSUPPORT), ("shm://x?frobnicate=1", errno.EINVAL),
    ("shm://x?size=lots", errno.EINVAL), ("unix://", errno.EINVAL),
    ("tcp://999.1.1.1:1", None), ("tcp://127.0.0.1:99999", errno.EINVAL),
    ("shm://" + "x" * 5000, None), ("fifo://relative/path", errno.EINVAL),
    ("\udcff", None),
]


@pytest.mark.parametrize("uri,err", GARBAGE_URIS)
def test_garbage_uris(uri, err):
    with pytest.raises((OSError, ValueError, UnicodeError)) as e:
        uipc.open(uri, create=True).close()
    if err is not None:
        assert e.value.errno == err, e.value
        assert e.value.strerror and uri in str(e.value)


@pytest.mark.parametrize("uri", [None, 123, 1.5, ["shm://x"], object()])
def test_uri_of_the_wrong_type(uri):
    with pytest.raises(TypeError):
        uipc.open(uri)
    with pytest.raises(TypeError):
        uipc.unlink(uri)


def test_nul_in_a_uri_is_refused_not_truncated():
    with pytest.raises(ValueError):
        uipc.open("shm://a\0b", create=True)


@pytest.mark.parametrize("timeout,exc", [(-1, ValueError), (float("nan"), ValueError),
                                         ("1", TypeError), (True, TypeError), ([], TypeError)])
def test_bad_timeouts(timeout, exc):
    a, b = uipc.pair()
    with a, b:
        with pytest.raises(exc):
            b.recv(timeout)
        with pytest.raises(exc):
            a.send(b"x", timeout)
        with pytest.raises(exc):
            a.timeout = timeout


def test_huge_timeout_is_clamped_not_overflowed():
    a, b = uipc.pair()
    with a, b:
        a.send(b"x")
        assert b.recv(1e300) == b"x"
        assert b"x" == (a.send(b"x", float("inf")) and b.recv(float("inf")))


@pytest.mark.parametrize("data", ["text", 42, None, 3.0, [1, 2], {"a": 1}])
def test_send_needs_bytes(data):
    a, b = uipc.pair()
    with a, b:
        with pytest.raises(TypeError):
            a.send(data)


def test_recv_into_needs_a_writable_buffer():
    a, b = uipc.pair()
    with a, b:
        a.send(b"x")
        for bad in (b"readonly", "str", 5, memoryview(b"ro")):
            with pytest.raises(TypeError):
                b.recv_into(bad)
        assert b.recv() == b"x"  # nothing was consumed


def test_huge_sizes():
    a, b = uipc.pair("shm:")
    with a, b:
        for n in (a.max_msg + 1, 2**40):
            with pytest.raises(OSError) as e:
                with a.reserve(n):
                    pass
            assert e.value.errno == errno.EMSGSIZE
        with pytest.raises(OSError) as e:
            a.send(bytes(a.max_msg + 1))
        assert e.value.errno == errno.EMSGSIZE
        with pytest.raises(OverflowError):
            with a.reserve(2**64):
                pass
        with pytest.raises(ValueError):
            a.reserve(-1)
        with pytest.raises(TypeError):
            a.reserve(1.5)
    with pytest.raises(OSError) as e:
        uipc.region("shm://uipc-py-huge", 2**70, create=True)
    assert e.value.errno in (errno.EINVAL, errno.ENOMEM, errno.EFBIG)
    with pytest.raises(ValueError):
        uipc.semaphore("s", 2**40, create=True)
    with pytest.raises(OverflowError):
        uipc.notify(os.getpid(), 2**40)


def test_closed_objects_raise_value_error():
    a, b = uipc.pair()
    a.close()
    a.close()  # twice is fine, as for files
    for call in (lambda: a.send(b"x"), lambda: a.recv(0), a.fileno,
                 lambda: a.scheme, lambda: a.max_msg, lambda: a.peek(0),
                 lambda: a.reserve(1), lambda: a.recv_into(bytearray(1)),
                 lambda: a.__enter__()):
        with pytest.raises(ValueError):
            call()
    assert a.closed and "closed" in repr(a)
    b.close()


def test_wrong_flag_combinations():
    with pytest.raises(ValueError):
        uipc.open("shm://x", exclusive=True)
    with pytest.raises(ValueError):
        uipc.region("shm://x", 10, exclusive=True)
    with pytest.raises(ValueError):
        uipc.region("shm://x", 0, create=True)
    with pytest.raises(ValueError):
        uipc.region("shm://x", 10, create=True, mode=0o70000)


def test_pair_where_there_is_none():
    with pytest.raises(OSError) as e:
        uipc.pair("tcp://127.0.0.1:1")
    assert e.value.errno == errno.ENOTSUP


def test_channels_dropped_without_close_release_everything():
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        a, b = uipc.pair("shm:")
        a.send(b"x")
        with b.peek() as mv:
            assert bytes(mv) == b"x"
        del a, b
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= fds + 2


def test_nothing_crashes_the_interpreter():
    """A child interpreter runs hostile sequences; it must exit normally."""
    code = r"""
import gc, uipc
a, b = uipc.pair("shm:")
a.send(b"abc")
with b.peek() as mv:
    kept = mv[:]
try:
    b.close()
except BufferError:
    pass
bytes(kept)             # still readable: the ring is still mapped
r = uipc.region("shm://uipc-py-crash-%d" % __import__("os").getpid(), 4096, create=True)
v = r.buf
del r                    # the view keeps the mapping alive
gc.collect()
v[0] = 1
res = a.reserve(8)
with res as buf:
    buf[:] = b"12345678"
try:
    buf[0] = 0           # released at commit
except ValueError:
    pass
print("survived")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                       env=child_env())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.strip() == b"survived"


def test_a_library_that_cannot_load_is_a_clear_import_error(tmp_path):
    env = child_env()
    for bad in ("/nonexistent/libuipc.so.0", str(tmp_path)):
        env["UIPC_LIBRARY"] = bad
        r = subprocess.run([sys.executable, "-c", "import uipc"], capture_output=True,
                           timeout=60, env=env)
        assert r.returncode != 0
        err = r.stderr.decode()
        assert "ImportError" in err and "UIPC_LIBRARY=" + bad in err, err
