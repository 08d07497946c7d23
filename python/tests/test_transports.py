# SPDX-License-Identifier: MIT
"""Every named transport from Python: the owner and an attached peer in
two processes (the peer is a forked child), both directions, fileno."""
import io
import os
import selectors
import traceback

import pytest

import uipc
from conftest import NAMED_SCHEMES, attach

# Transports whose channel carries both directions between exactly two ends;
# mq: and sysvmq: are N-party queues (one queue, whoever reads takes it).
TWO_WAY = ["fifo", "unix", "tcp", "udp", "shm", "mmap", "file"]


def run_child(fn):
    """Forks; the child runs fn() and exits 0 on success, 1 otherwise."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def reap(pid):
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("scheme", TWO_WAY)
def test_owner_and_peer_in_two_processes(scheme, uri_for):
    uri = uri_for(scheme)
    with uipc.open(uri, create=True, timeout=10) as own:
        def peer():
            own.close()  # the inherited handle: releases only ours
            with attach(uri, timeout=10) as ch:
                ch.timeout = 10
                if scheme == "udp":
                    ch.send(b"hello")  # udp: the owner learns the peer
                for m in ch:
                    ch.send(m[::-1])
                    if m == b"bye":
                        return
        pid = run_child(peer)
        if scheme == "udp":
            assert own.recv() == b"hello"
        assert own.scheme == scheme
        for m in (b"abc", b"", bytes(range(256)), b"bye"):
            own.send(m)
            assert own.recv() == m[::-1]
        reap(pid)


def test_mq_priorities_across_processes(uri_for):
    uri = uri_for("mq")
    with uipc.open(uri, create=True, timeout=10) as own:
        def producer():
            own.close()
            with attach(uri) as ch:
                for i in range(5):
                    ch.send(b"m%d" % i, 10, priority=i)
        reap(run_child(producer))
        m = own.recv_msg()
        assert (m.data, m.priority) == (b"m4", 4)  # higher priority first
        assert [own.recv() for _ in range(4)] == [b"m3", b"m2", b"m1", b"m0"]


def test_sysvmq_types_from_the_owner_to_attachers(uri_for):
    uri = uri_for("sysvmq")
    with uipc.open(uri, create=True, timeout=10) as own, uipc.open(uri, timeout=10) as att:
        for i in range(5):
            own.send(b"m%d" % i, type=i + 1)
        m = att.recv_msg(type=3)
        assert (m.data, m.type) == (b"m2", 3)
        assert [att.recv() for _ in range(4)] == [b"m0", b"m1", b"m3", b"m4"]
        att.send(b"to the owner")
        assert own.recv() == b"to the owner"


@pytest.mark.parametrize("scheme", NAMED_SCHEMES)
def test_fileno_polls_readable_when_a_message_waits(scheme, uri_for):
    uri = uri_for(scheme)
    with uipc.open(uri, create=True, timeout=10) as own:
        try:
            own.fileno()
        except io.UnsupportedOperation:
            assert scheme == "sysvmq"
            return
        with attach(uri) as peer:
            sel = selectors.DefaultSelector()
            sel.register(own, selectors.EVENT_READ)
            peer.send(b"wake", 10)
            assert sel.select(10)
            assert own.recv(0) == b"wake"
            sel.close()


@pytest.mark.parametrize("scheme", ["unix", "shm", "mq"])
def test_exclusive_create_and_live_owner(scheme, uri_for):
    uri = uri_for(scheme)
    with uipc.open(uri, create=True):
        with pytest.raises(FileExistsError):
            uipc.open(uri, create=True, exclusive=True)


def test_unlink_removes_a_stale_rendezvous(uri_for):
    uri = uri_for("shm")
    pid = os.fork()
    if pid == 0:
        ch = uipc.open(uri, create=True)  # noqa: F841 - kept until the exit
        os._exit(0)  # dies owning it: the name stays behind
    os.waitpid(pid, 0)
    uipc.unlink(uri)
    with pytest.raises(FileNotFoundError):
        uipc.open(uri)
