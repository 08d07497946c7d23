# SPDX-License-Identifier: MIT
"""Channels made with uipc.pair: sending, receiving, timeouts, zero-copy,
attributes, fork, and closing from another thread."""
import errno
import os
import selectors
import signal
import sys
import threading
import time

import pytest

import uipc

PAIRS = ["pipe:", "unix:", "shm:"]


@pytest.fixture(params=PAIRS)
def chans(request):
    a, b = uipc.pair(request.param)
    yield a, b
    a.close()
    b.close()


def test_version_and_library():
    assert uipc.version().count(".") == 2
    assert "libuipc" in uipc.library_path()


def test_round_trip_both_ways(chans):
    a, b = chans
    assert a.send(b"ping") == 4
    assert b.recv(5) == b"ping"
    b.send(bytearray(b"pong"))
    assert a.recv(5) == b"pong"


def test_message_boundaries_and_empty_messages(chans):
    a, b = chans
    for m in (b"one", b"", b"three", b"x" * 1000):
        a.send(m)
    assert [b.recv(5) for _ in range(4)] == [b"one", b"", b"three", b"x" * 1000]


def test_every_bytes_like_type(chans):
    import array
    a, b = chans
    a.send(memoryview(b"abcdef")[2:4])               # read-only slice
    a.send(array.array("i", [1, 2]))                  # writable, not bytes
    a.send(memoryview(bytearray(b"0123456789"))[::2])  # not contiguous
    assert b.recv(5) == b"cd"
    assert b.recv(5) == array.array("i", [1, 2]).tobytes()
    assert b.recv(5) == b"02468"


def test_recv_grows_past_its_first_buffer(chans):
    a, b = chans
    big = os.urandom(min(a.max_msg, 300_000))
    # Sent from a thread: a message larger than a pipe's buffer needs the
    # receiver to drain while the sender writes.
    t = threading.Thread(target=a.send, args=(big, 10))
    t.start()
    assert b.recv(10) == big
    t.join()


def test_recv_into_and_emsgsize_leaves_the_message_queued(chans):
    a, b = chans
    a.send(b"0123456789")
    small = bytearray(4)
    with pytest.raises(OSError) as e:
        b.recv_into(small, 5)
    assert e.value.errno == errno.EMSGSIZE
    buf = bytearray(16)
    n = b.recv_into(buf, 5)
    assert buf[:n] == b"0123456789"
    a.send(b"xy")
    mv = memoryview(bytearray(8))
    assert b.recv_into(mv[2:], 5) == 2 and mv[2:4] == b"xy"


def test_timeouts(chans):
    a, b = chans
    with pytest.raises(BlockingIOError):
        b.recv(0)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError) as e:
        b.recv(0.05)
    assert time.monotonic() - t0 >= 0.04
    assert e.value.errno == errno.ETIMEDOUT and e.value.strerror


def test_default_timeout_of_the_channel(chans):
    a, b = chans
    b.timeout = 0
    with pytest.raises(BlockingIOError):
        b.recv()
    b.timeout = None
    a.send(b"z")
    assert b.recv() == b"z"


def test_peer_gone_is_broken_pipe_after_the_queue(chans):
    a, b = chans
    a.send(b"last")
    a.close()
    assert b.recv(5) == b"last"
    with pytest.raises(BrokenPipeError) as e:
        b.recv(5)
    assert e.value.errno == errno.EPIPE
    with pytest.raises(BrokenPipeError):
        b.send(b"x", 5)


def test_iteration_stops_when_the_peer_goes(chans):
    a, b = chans
    for m in (b"a", b"b", b"c"):
        a.send(m)
    a.close()
    assert list(b) == [b"a", b"b", b"c"]


def test_zero_copy_peek_and_reserve(chans):
    a, b = chans
    with a.reserve(5) as buf:
        assert isinstance(buf, memoryview) and not buf.readonly and len(buf) == 5
        buf[:] = b"hello"
    r = a.reserve(10)
    with r as buf:
        buf[:3] = b"abc"
        r.commit(3)
    with b.peek(5) as mv:
        assert mv.readonly and bytes(mv) == b"hello"
    with b.peek(5) as mv:
        assert bytes(mv) == b"abc"
    with pytest.raises(BlockingIOError):
        with b.peek(0):
            pass


def test_a_failed_reserve_block_sends_nothing_and_the_space_is_reused(chans):
    a, b = chans
    with pytest.raises(KeyError):
        with a.reserve(16) as buf:
            buf[:4] = b"junk"
            raise KeyError("abandon")
    with pytest.raises(BlockingIOError):
        b.recv(0)
    a.send(b"real")                     # fits the pending reservation
    assert b.recv(5) == b"real"
    a.send(b"after")                    # and the channel works as before
    assert b.recv(5) == b"after"


def test_a_kept_view_blocks_close_instead_of_crashing(chans):
    a, b = chans
    a.send(b"keep")
    with b.peek(5) as mv:
        kept = mv[1:3]                  # outlives the block
    with pytest.raises(BufferError):
        b.close()
    assert bytes(kept) == b"ee"         # memory still mapped: no crash
    del kept
    b.close()
    assert b.closed


def test_attributes(chans):
    a, b = chans
    assert a.scheme in ("pipe", "unix", "shm")
    assert a.max_msg > 0
    assert a.role is None
    assert "Channel" in repr(a)


def test_fileno_works_with_selectors(chans):
    a, b = chans
    sel = selectors.DefaultSelector()
    sel.register(b, selectors.EVENT_READ)
    a.send(b"wake")
    ready = sel.select(5)
    assert ready and ready[0][0].fileobj is b
    assert b.recv(0) == b"wake"
    sel.close()


def test_peer_cred_on_unix():
    a, b = uipc.pair("unix:")
    with a, b:
        cred = a.peer_cred
        assert cred == (os.getpid(), os.getuid(), os.getgid())


def test_fork_each_side_closes_the_end_it_does_not_use(chans):
    a, b = chans
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            a.close()
            msg = b.recv(10)
            b.send(msg.upper(), 10)
            b.close()
            code = 0
        finally:
            os._exit(code)
    b.close()
    a.send(b"from parent", 10)
    assert a.recv(10) == b"FROM PARENT"
    assert os.waitpid(pid, 0)[1] == 0


def test_close_from_another_thread_ends_a_blocked_recv(chans):
    a, b = chans
    got = []

    def reader():
        try:
            b.recv()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            got.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    b.close()
    t.join(5)
    assert not t.is_alive()
    assert isinstance(got[0], ValueError)


def test_a_signal_handler_runs_during_a_forever_wait(chans):
    a, b = chans

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Interrupted):
            b.recv()                    # forever: only the signal ends it
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    a.send(b"still works")
    assert b.recv(5) == b"still works"


def test_message_attributes_default_and_unsupported(chans):
    a, b = chans
    a.send(b"plain", priority=0, type=0)
    m = b.recv_msg(5)
    assert m.data == b"plain"
    with pytest.raises(OSError) as e:
        a.send(b"x", priority=3)
    assert e.value.errno == errno.ENOTSUP


def test_two_threads_sharing_a_channel_get_whole_distinct_messages(chans):
    a, b = chans
    n, size = 400, 20000
    got, errors = [], []
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible

    def reader():
        try:
            while True:
                m = b.recv(5)
                if m == b"stop":
                    return
                got.append(m)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(n):
        a.send(bytes([i % 256]) * size, 5)
    a.send(b"stop", 5)
    a.send(b"stop", 5)
    for t in threads:
        t.join(30)
    sys.setswitchinterval(old_interval)
    assert not errors
    assert sorted(m[0] for m in got) == sorted(i % 256 for i in range(n))
    assert all(len(set(m)) == 1 and len(m) == size for m in got)
