# SPDX-License-Identifier: MIT
"""Listeners, uipc.poll and publish/subscribe.  poll and pub/sub wrap
calls that newer libuipc releases add: with an older library the tests
check the clear ENOTSUP and skip the rest, saying so."""
import errno
import os

import pytest

import uipc
from conftest import free_port


@pytest.mark.parametrize("scheme", ["unix", "tcp", "shm"])
def test_listener_serves_several_clients(scheme, tmp_path, tag):
    if scheme == "unix":
        uri = f"unix://{tmp_path}/srv.sock"
    elif scheme == "shm":
        uri = f"shm://{tag}"
        try:
            uipc.listen(uri).close()
        except OSError as e:
            if e.errno != errno.ENOTSUP:
                raise
            pytest.skip("this libuipc has no shm: listener")
    elif uipc._lib.have("listener_uri"):
        uri = "tcp://127.0.0.1:0"  # the kernel picks; Listener.uri tells
    else:
        uri = f"tcp://127.0.0.1:{free_port()}"
    with uipc.listen(uri) as lst:
        assert lst.fileno() >= 0
        target = lst.uri
        assert not target.endswith(":0")
        clients = [uipc.open(target, timeout=10) for _ in range(3)]
        for i, c in enumerate(clients):
            c.send(b"client %d" % i)
        servers = [lst.accept(10) for _ in clients]
        got = sorted(s.recv(10) for s in servers)
        assert got == [b"client 0", b"client 1", b"client 2"]
        for s in servers:
            s.close()
        for c in clients:
            c.close()
        with pytest.raises(BlockingIOError):
            lst.accept(0)
    assert lst.closed
    with pytest.raises(ValueError):
        lst.accept(0)


def test_listen_is_enotsup_on_a_queue(uri_for):
    with pytest.raises(OSError) as e:
        uipc.listen(uri_for("mq"))
    assert e.value.errno == errno.ENOTSUP


def test_poll_mixes_transports_or_says_it_is_missing(tmp_path):
    a, b = uipc.pair("pipe:")
    c, d = uipc.pair("shm:")
    lst = uipc.listen(f"unix://{tmp_path}/p.sock")
    with a, b, c, d, lst:
        if not uipc.has_poll():
            with pytest.raises(OSError) as e:
                uipc.poll([b, d], 0)
            assert e.value.errno == errno.ENOTSUP and "uipc_poll" in e.value.strerror
            pytest.skip("uipc_poll is not in this libuipc")
        assert uipc.poll([b, d, lst], 0) == []
        c.send(b"x")
        ready = uipc.poll([b, (d, uipc.POLLIN), lst], 5)
        assert [(o, r & uipc.POLLIN) for o, r in ready] == [(d, uipc.POLLIN)]
        assert d.recv(0) == b"x"
        client = uipc.open(lst.uri)
        ready = uipc.poll([b, d, lst], 5)
        assert [o for o, _ in ready] == [lst]
        lst.accept(0).close()
        client.close()
        a.close()
        ready = uipc.poll([b], 5)
        assert ready and ready[0][1] & (uipc.POLLHUP | uipc.POLLIN)


def test_poll_rejects_what_it_cannot_poll():
    if not uipc.has_poll():
        pytest.skip("uipc_poll is not in this libuipc")
    with pytest.raises(TypeError):
        uipc.poll([object()], 0)
    a, b = uipc.pair()
    with a, b:
        with pytest.raises(ValueError):
            uipc.poll([(a, 64)], 0)


@pytest.mark.parametrize("scheme", ["shm", "unix", "tcp"])
def test_publish_to_several_subscribers(scheme, uri_for):
    uri = uri_for(scheme)
    if not uipc.has_pubsub():
        with pytest.raises(OSError) as e:
            uipc.open(uri, pub=True)
        assert e.value.errno == errno.ENOTSUP
        pytest.skip("publish/subscribe is not in this libuipc")
    with uipc.open(uri, pub=True, timeout=10) as pub:
        assert pub.role == "pub"
        subs = [uipc.open(uri, sub=True, timeout=10) for _ in range(3)]
        for i in range(10):
            pub.send(b"m%d" % i)
        for s in subs:
            assert [s.recv() for _ in range(10)] == [b"m%d" % i for i in range(10)]
        with pytest.raises(OSError) as e:
            subs[0].send(b"no")
        assert e.value.errno == errno.ENOTSUP
        for s in subs:
            s.close()


def test_pubsub_flags_are_checked_in_python():
    with pytest.raises(ValueError):
        uipc.open("shm://x", pub=True, sub=True)
    with pytest.raises(ValueError):
        uipc.open("shm://x", sub=True, create=True)


def test_a_subscriber_that_dies_disturbs_no_one(uri_for):
    if not uipc.has_pubsub():
        pytest.skip("publish/subscribe is not in this libuipc")
    uri = uri_for("shm")
    with uipc.open(uri, pub=True, timeout=10) as pub:
        pid = os.fork()
        if pid == 0:
            sub = uipc.open(uri, sub=True)  # noqa: F841 - held when it dies
            os.kill(os.getpid(), 9)
        os.waitpid(pid, 0)
        for i in range(1000):
            pub.send(b"%d" % i, 1)
