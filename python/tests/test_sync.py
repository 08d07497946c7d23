# SPDX-License-Identifier: MIT
"""Regions as buffers, robust mutexes inside them (a holder killed with
SIGKILL), semaphores across processes, notifications."""
import errno
import mmap
import os
import signal
import struct
import time

import pytest

import uipc


def test_region_is_a_shared_writable_buffer(tag):
    uri = f"shm://{tag}"
    with uipc.region(uri, 8192, create=True) as own:
        assert len(own) == own.size == 8192
        assert bytes(own[:4]) == b"\0\0\0\0"   # zero-filled
        own[0:5] = b"hello"
        pid = os.fork()
        if pid == 0:
            with uipc.region(uri) as r:      # attaches, learns the size
                ok = r.size == 8192 and bytes(r.buf[:5]) == b"hello"
                r.buf[8191] = 42
            os._exit(0 if ok else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert own[8191] == 42
        struct.pack_into("<Q", own.buf, 64, 2**63)
        assert struct.unpack_from("<Q", own.buf, 64)[0] == 2**63
    with pytest.raises(FileNotFoundError):
        uipc.region(uri)                     # the creator removed it


def test_mmap_region_persists_with_mode(tmp_path):
    path = tmp_path / "r.bin"
    with uipc.region(f"mmap://{path}", 4096, create=True, mode=0o640) as r:
        r[:3] = b"abc"
    assert path.read_bytes()[:3] == b"abc"
    assert (path.stat().st_mode & 0o777) in (0o640, 0o600)  # existing files keep theirs
    with uipc.region(f"mmap://{path}") as r:
        assert bytes(r[:3]) == b"abc"


def test_region_close_refuses_while_a_view_lives(tag):
    r = uipc.region(f"shm://{tag}", mmap.PAGESIZE, create=True)
    view = r.buf[10:20]
    with pytest.raises(BufferError):
        r.close()
    view[0] = 1                              # still mapped: no crash
    view.release()
    r.close()
    with pytest.raises(ValueError):
        r.buf


def test_mutex_reports_a_holder_killed_with_sigkill(tag):
    with uipc.region(f"shm://{tag}", 4096, create=True) as r:
        m = uipc.Mutex(r, 128)
        m.init()
        assert m.lock() is False
        m.unlock()
        pid = os.fork()
        if pid == 0:
            m.lock()
            os.kill(os.getpid(), signal.SIGKILL)  # dies holding it
        os.waitpid(pid, 0)
        assert m.lock(5) is True             # owner died: we own it now
        m.unlock()
        with m as owner_died:                # and it keeps working
            assert owner_died is False
        with pytest.raises(PermissionError):
            m.unlock()                       # not held


def test_mutex_excludes_another_process(tag):
    with uipc.region(f"shm://{tag}", 4096, create=True) as r:
        m = r.mutex(0)
        m.init()
        m.lock()
        pid = os.fork()
        if pid == 0:
            try:
                m.lock(0)
                code = 1
            except BlockingIOError:
                code = 0
            os._exit(code)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        with pytest.raises(OSError) as e:
            m.lock(0)                        # error-checking: we hold it
        assert e.value.errno == errno.EDEADLK
        m.unlock()


def test_mutex_placement_is_checked(tag):
    with uipc.region(f"shm://{tag}", 4096, create=True) as r:
        with pytest.raises(ValueError):
            uipc.Mutex(r, 32)                # not a multiple of 64
        with pytest.raises(ValueError):
            uipc.Mutex(r, 4096)              # past the end
        with pytest.raises(TypeError):
            uipc.Mutex(bytearray(64))
        m = r.mutex(0)
    with pytest.raises(ValueError):
        m.lock()                             # its region is closed


def test_semaphore_across_processes(tag):
    name = tag
    s = uipc.semaphore(name, 0, create=True)
    try:
        pid = os.fork()
        if pid == 0:
            with uipc.semaphore(name) as t:  # noqa: F841 - wait/post as a lock
                pass
            c = uipc.semaphore(name)
            c.post()
            c.close()
            os._exit(0)
        assert s.acquire(timeout=0.05) is False
        s.post()                             # lets the child's with-block in
        os.waitpid(pid, 0)
        s.wait(5)                            # our post, handed back by the with-block
        s.wait(5)                            # the child's own post
        with pytest.raises(BlockingIOError):
            s.wait(0)
    finally:
        s.close()
        uipc.sem_unlink(name)
    with pytest.raises(FileNotFoundError):
        uipc.semaphore(name)


def test_notify_carries_an_int_from_another_process():
    parent = os.getpid()
    uipc.notify_block()
    pid = os.fork()
    if pid == 0:
        time.sleep(0.05)
        uipc.notify(parent, 1234)
        os._exit(0)
    sender, value = uipc.notify_wait(10)
    os.waitpid(pid, 0)
    assert (sender, value) == (pid, 1234)


def test_sysvshm_region_is_shared_with_shmat_users():
    key = 0x71000000 | (os.getpid() & 0xffffff)
    uri = f"sysvshm://0x{key:x}"
    try:
        r = uipc.region(uri, 4096, create=True)
    except OSError as e:
        if e.errno == errno.EPROTONOSUPPORT:
            pytest.skip("this libuipc has no sysvshm: regions")
        raise
    with r:
        r[:4] = b"sysv"
        with uipc.region(uri) as other:
            assert other.size == 4096 and bytes(other[:4]) == b"sysv"
