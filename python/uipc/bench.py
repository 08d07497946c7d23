# SPDX-License-Identifier: MIT
"""python3 -m uipc.bench: what a Python program gets from libuipc.

The Python rows beside ``uipc bench``: a Python sender and a Python
receiver in two processes pinned to two CPUs, over ``shm:`` and ``unix:``
through this package, and over ZeroMQ PAIR sockets (``ipc://``) through
pyzmq (python3-zmq) when it is installed.  The method is the one of
``uipc bench`` (docs/PERFORMANCE.md): one-way latency is half of a
ping-pong round trip (p50, p99), throughput is a burst of messages
answered by one acknowledgement.

    python3 -m uipc.bench [--quick] [--json] [--sizes 64,64K]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import uipc

Link = Tuple[Callable[[bytes], None], Callable[[], bytes], Callable[[], None]]


def _size(text: str) -> int:
    mult = {"K": 1024, "M": 1024 * 1024}.get(text[-1:].upper(), 1)
    return int(text[:-1] if mult > 1 else text) * mult


def _pin(cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def _uipc_link(uri: str) -> Callable[[int], Link]:
    pair = uipc.pair(uri)

    def side(n: int) -> Link:
        mine, other = pair[n], pair[1 - n]
        other.close()
        mine.timeout = 30
        return mine.send, mine.recv, mine.close
    return side


def _zmq_link(tmpdir: str) -> Callable[[int], Link]:
    import zmq  # noqa: F401 - fails early when pyzmq is missing
    addr = f"ipc://{tmpdir}/pyzmq.ipc"

    def side(n: int) -> Link:
        # pyzmq starts threads: the context is made after the fork.
        ctx = zmq.Context()
        s = ctx.socket(zmq.PAIR)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 30000)
        s.setsockopt(zmq.SNDTIMEO, 30000)
        (s.bind if n == 0 else s.connect)(addr)

        def close() -> None:
            s.close()
            ctx.term()
        return s.send, s.recv, close
    return side


def _echo(link: Link, iters: int, burst: int) -> None:
    send, recv, close = link
    for _ in range(iters):
        send(recv())
    for _ in range(burst):
        recv()
    send(b"ack")
    close()


def _drive(link: Link, size: int, iters: int, burst: int) -> Dict[str, float]:
    send, recv, close = link
    msg = b"x" * size
    rtt: List[int] = []
    clock = time.perf_counter_ns
    for _ in range(iters):
        t0 = clock()
        send(msg)
        recv()
        rtt.append(clock() - t0)
    t0 = clock()
    for _ in range(burst):
        send(msg)
    recv()
    secs = (clock() - t0) / 1e9
    close()
    rtt.sort()
    return {"p50_us": rtt[len(rtt) // 2] / 2e3, "p99_us": rtt[len(rtt) * 99 // 100] / 2e3,
            "msgs_per_s": burst / secs, "mb_per_s": burst * size / secs / 1e6}


def measure(make: Callable[[int], Link], size: int, iters: int, burst: int) -> Dict[str, float]:
    """One row: forks the echo side, drives from this process."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _pin(1)
            _echo(make(1), iters, burst)
            code = 0
        finally:
            os._exit(code)
    _pin(0)
    try:
        return _drive(make(0), size, iters, burst)
    finally:
        os.waitpid(pid, 0)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def rows(sizes: List[int], quick: bool) -> List[Dict[str, object]]:
    out: List[Dict[str, object]] = []
    tmpdir = tempfile.mkdtemp(prefix="uipc-pybench-")
    try:
        cases: List[Tuple[str, Optional[Callable[[], Callable[[int], Link]]], str]] = [
            ("python shm", lambda: _uipc_link("shm:"), ""),
            ("python unix", lambda: _uipc_link("unix:"), ""),
        ]
        try:
            import zmq  # noqa: F401
            cases.append(("pyzmq ipc", lambda: _zmq_link(tmpdir), ""))
        except ImportError:
            cases.append(("pyzmq ipc", None, "not installed (python3-zmq)"))
        for size in sizes:
            iters = 2000 if quick else 20000
            burst = max(200, min(iters * 5, (64 << 20) // max(size, 1)))
            for name, make, note in cases:
                row: Dict[str, object] = {"name": name, "size": size, "note": note}
                if make is not None:
                    try:
                        row.update(measure(make(), size, iters, burst))
                    except Exception as e:  # noqa: BLE001 - reported in the row
                        row["note"] = f"{type(e).__name__}: {e}"
                out.append(row)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m uipc.bench", description=__doc__.split("\n\n")[1])
    ap.add_argument("--quick", action="store_true", help="short measurements")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--sizes", default="64,64K", help="message sizes (K, M suffixes)")
    args = ap.parse_args(argv)
    sizes = [_size(s) for s in args.sizes.split(",")]
    result = rows(sizes, args.quick)
    if args.json:
        json.dump({"libuipc": uipc.version(), "python": sys.version.split()[0], "rows": result},
                  sys.stdout, indent=1)
        print()
        return 0
    print(f"{'row':<14}{'size':>8}{'p50 us':>10}{'p99 us':>10}{'msg/s':>12}{'MB/s':>10}  note")
    for r in result:
        if "p50_us" in r:
            print(f"{r['name']:<14}{r['size']:>8}{r['p50_us']:>10.2f}{r['p99_us']:>10.2f}"
                  f"{r['msgs_per_s']:>12.0f}{r['mb_per_s']:>10.1f}  {r['note']}")
        else:
            print(f"{r['name']:<14}{r['size']:>8}{'-':>10}{'-':>10}{'-':>12}{'-':>10}  {r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
