# SPDX-License-Identifier: MIT
"""Every ```python block of python/README.md is a whole program: run each
in a fresh interpreter, so that the documented examples stay true."""
import os
import re
import subprocess
import sys

import pytest

from conftest import child_env

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def blocks():
    text = open(README, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```", text, re.M | re.S):
        if m.group(1):
            title = m.group(1).lstrip("# ").strip()
        else:
            out.append(pytest.param(m.group(2), id=f"{len(out)}-{title[:30]}"))
    return out


@pytest.mark.parametrize("code", blocks())
def test_readme_example_runs(code, tmp_path):
    if "/tmp/app.sock" in code:
        pytest.skip("the opening snippet needs a peer that is not part of it")
    # The examples make their directories with tempfile.mkdtemp and leave
    # persistent files (file:, mmap:) in them on purpose: keep those inside
    # pytest's tmp_path instead of /tmp.
    env = dict(child_env(), TMPDIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                       cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr.decode()
