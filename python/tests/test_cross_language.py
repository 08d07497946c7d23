# SPDX-License-Identifier: MIT
"""A C program (the uipc(1) tool, built on the C API) and Python talking
over every transport, each side as owner and as peer, text and binary.
pipe: has no name: it is made by uipc.pair and shared with a forked child
that execs nothing, so the C side of it is the library under both ends."""
import os
import subprocess
import sys
import textwrap

import pytest

import uipc
from conftest import child_env, NAMED_SCHEMES, attach, wait_bound

BINARY = bytes(range(256)) * 4


def tool(uipc_tool, *args, **kw):
    return subprocess.Popen([uipc_tool, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def finish(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err.decode()
    return out


@pytest.mark.parametrize("scheme", NAMED_SCHEMES)
def test_c_sends_to_a_python_owner(scheme, uri_for, uipc_tool):
    uri = uri_for(scheme)
    with uipc.open(uri, create=True, timeout=20) as ch:
        p = tool(uipc_tool, "send", "--wait", "--timeout", "10000", uri,
                 "one", "two words", "")
        got = [ch.recv() for _ in range(3)]
        finish(p)
    assert got == [b"one", b"two words", b""]


@pytest.mark.parametrize("scheme", NAMED_SCHEMES)
def test_python_sends_to_a_c_owner(scheme, uri_for, uipc_tool):
    uri = uri_for(scheme)
    p = tool(uipc_tool, "recv", "--create", "--raw", "--timeout", "10000", "-n", "1", uri)
    try:
        wait_bound(uri)
        with attach(uri, timeout=10) as ch:
            assert ch.send(BINARY, 10) == len(BINARY)
            out = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == BINARY


@pytest.mark.parametrize("scheme", ["unix", "tcp", "shm"])
def test_python_one_liner_reaches_c_recv(scheme, uri_for, uipc_tool):
    """The issue's "done when": python3 -c "import uipc; ..." sends a
    message that a C `uipc recv` prints."""
    uri = uri_for(scheme)
    p = tool(uipc_tool, "recv", "--create", "--timeout", "10000", "-n", "1", uri)
    code = textwrap.dedent(f"""
        import time, uipc
        for _ in range(1000):  # until the C side has made the rendezvous
            try:
                with uipc.open({uri!r}) as ch:
                    ch.send(b"hello from python", timeout=10)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.01)
    """)
    r = subprocess.run([sys.executable, "-c", code], timeout=30, env=child_env())
    assert r.returncode == 0
    assert finish(p) == b"hello from python\n"


def test_pipe_pair_across_fork():
    a, b = uipc.pair("pipe:")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            a.close()
            for m in b:
                b.send(m + b"!", 10)
            code = 0
        finally:
            os._exit(code)
    b.close()
    for m in (b"x", BINARY, b""):
        a.send(m, 10)
        assert a.recv(10) == m + b"!"
    a.close()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("scheme", ["shm", "unix", "tcp"])
def test_python_subscribers_of_a_c_publisher(scheme, uri_for):
    """tests/py_pub_peer.c publishes; two Python subscribers get every
    message in order, then the end of the stream when it closes."""
    if not uipc.has_pubsub():
        pytest.skip("publish/subscribe is not in this libuipc")
    peer = os.environ.get("UIPC_PUB_PEER")
    if not peer:
        pytest.skip("UIPC_PUB_PEER (tests/py_pub_peer, built by ctest) is not set")
    uri = uri_for(scheme)
    p = subprocess.Popen([peer, uri, "50"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n", p.stderr.read().decode()
        subs = [attach(uri, sub=True, timeout=10) for _ in range(2)]
        p.stdin.write(b"go\n")
        p.stdin.flush()
        for s in subs:
            s.timeout = 10
            assert list(s) == [b"m%d" % i for i in range(50)]  # then BrokenPipeError
            s.close()
        assert p.wait(30) == 0, p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
