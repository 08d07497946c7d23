# SPDX-License-Identifier: MIT
"""uipc.list and uipc.remove: what `uipc ls` and `uipc rm` are made of."""
import errno
import os
import signal

import pytest

import uipc


def _rows(where, uri):
    return [r for r in uipc.list(where) if r.uri == uri]


def test_live_then_stale_then_removed(tag):
    uri = f"shm://{tag}"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the owner: makes the ring, says so, waits to be killed
        os.close(r)
        ch = uipc.open(uri, create=True)
        os.write(w, b"R")
        signal.pause()
        ch.close()
        os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 1) == b"R"
        (row,) = _rows("shm:", uri)
        assert row.scheme == "shm" and row.state == "live"
        assert row.uid == os.getuid() and row.size > 0
        assert row in uipc.list()              # the system-wide namespaces
        with pytest.raises(OSError) as e:      # live: only with force
            uipc.remove(uri)
        assert e.value.errno == errno.EADDRINUSE
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
    (row,) = _rows(uri, uri)                   # one URI: just that one
    assert row.state == "stale"
    uipc.remove(uri)
    assert _rows("shm:", uri) == []
    with pytest.raises(FileNotFoundError):
        uipc.remove(uri)


def test_force_removes_a_live_one(tag):
    uri = f"shm://{tag}"
    with uipc.open(uri, create=True):
        uipc.remove(uri, force=True)
        assert _rows("shm:", uri) == []


def test_a_directory_lists_path_kinds(tmp_path):
    uri = f"fifo://{tmp_path}/job"
    with uipc.open(uri, create=True):
        rows = uipc.list(str(tmp_path))
        assert [(r.scheme, r.state) for r in rows] == [("fifo", "live")]


def test_bad_input():
    with pytest.raises(OSError) as e:
        uipc.list("nosuch:")
    assert e.value.errno == errno.EPROTONOSUPPORT
    with pytest.raises(OSError) as e:
        uipc.list("tcp:")
    assert e.value.errno == errno.ENOTSUP
    with pytest.raises(OSError) as e:
        uipc.remove("shm://a\x01b")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        uipc.list(42)
