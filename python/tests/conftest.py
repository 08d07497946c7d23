# SPDX-License-Identifier: MIT
"""Shared fixtures: unique names, free ports, the uipc tool, and waiting for
a rendezvous that another process makes.

Environment:
  UIPC_LIBRARY  the libuipc.so.0 under test (else the installed one)
  UIPC_TOOL     the uipc(1) program for the cross-language tests (else
                build/tools/uipc next to this checkout, else uipc on PATH)
"""
import itertools
import os
import shutil
import socket
import time

import pytest

import uipc

HERE = os.path.dirname(os.path.abspath(__file__))
_counter = itertools.count()

# Every transport that uipc_open can make a named rendezvous for.
NAMED_SCHEMES = ["fifo", "unix", "tcp", "udp", "shm", "mmap", "mq", "sysvmq", "file"]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tag():
    """A name no other test (or test run) uses."""
    return f"uipc-py-{os.getpid()}-{next(_counter)}"


@pytest.fixture
def uri_for(tmp_path, tag):
    """uri_for(scheme) -> a fresh URI of that transport."""
    def make(scheme, suffix=""):
        name = tag + suffix
        if scheme == "fifo":
            return f"fifo://{tmp_path}/{name}"
        if scheme == "unix":
            return f"unix://{tmp_path}/{name}.sock"
        if scheme == "tcp":
            return f"tcp://127.0.0.1:{free_port()}"
        if scheme == "udp":
            return f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
        if scheme == "shm":
            return f"shm://{name}"
        if scheme == "mmap":
            return f"mmap://{tmp_path}/{name}.ring?size=64K"
        if scheme == "mq":
            return f"mq:///{name}"
        if scheme == "sysvmq":
            return "sysvmq://0x%08x" % (0x70000000 | (os.getpid() & 0xffff) << 8
                                        | next(_counter) & 0xff)
        if scheme == "file":
            return f"file://{tmp_path}/{name}.spool"
        raise ValueError(scheme)
    return make


@pytest.fixture(scope="session")
def uipc_tool():
    """The uipc(1) program."""
    cand = [os.environ.get("UIPC_TOOL"),
            os.path.join(HERE, "..", "..", "build", "tools", "uipc"),
            shutil.which("uipc")]
    for c in cand:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    pytest.skip("the uipc tool was not found: set UIPC_TOOL or build the project")


def attach(uri, timeout=10.0, **kw):
    """uipc.open(uri) once another process has made the rendezvous."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return uipc.open(uri, **kw)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def wait_bound(uri, timeout=10.0):
    """For tcp: and udp: URIs, returns once another process has bound the
    port (without connecting to it, which would use up a one-peer owner):
    an attaching side has no file to wait for."""
    scheme = uri.split(":", 1)[0]
    if scheme not in ("tcp", "udp"):
        return
    port = int(uri.rsplit(":", 1)[1].split("?")[0])
    kind = socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.01)
    raise TimeoutError(f"nothing bound {scheme} port {port}")


def child_env():
    """The environment for a child interpreter that must import this same
    uipc package (whatever the current directory)."""
    env = os.environ.copy()
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(uipc.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    if env.get("UIPC_LIBRARY"):
        env["UIPC_LIBRARY"] = uipc.library_path()  # absolute: the cwd may change
    return env
