# SPDX-License-Identifier: MIT
"""python3 -m uipc.bench: its rows exist and measured something (not how
fast: the machine is shared)."""
import json
import subprocess
import sys

from conftest import child_env


def test_bench_rows_for_shm_unix_and_pyzmq():
    r = subprocess.run([sys.executable, "-m", "uipc.bench", "--quick", "--json", "--sizes", "64"],
                       capture_output=True, timeout=120, env=child_env())
    assert r.returncode == 0, r.stderr.decode()
    rows = {row["name"]: row for row in json.loads(r.stdout)["rows"]}
    for name in ("python shm", "python unix"):
        assert rows[name]["p50_us"] > 0 and rows[name]["msgs_per_s"] > 0, rows[name]
    try:
        import zmq  # noqa: F401
        assert rows["pyzmq ipc"]["p50_us"] > 0, rows["pyzmq ipc"]
    except ImportError:
        assert rows["pyzmq ipc"]["note"].startswith("not installed")
