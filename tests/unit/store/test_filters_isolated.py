"""The filter limits in a child process: a filter that crashes native code (Lance's planner
once overflowed its stack on a long chain) fails this test instead of ending the run.
test_filter_limits.py (long lists, deep nesting, random filters) runs only here; the plain
filter tests (test_filters.py) run in the suite itself, where a crash ends only the xdist
worker that ran them and is reported as a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_the_filter_suites_pass_in_a_child_process(tmp_path: Path) -> None:
    env = {**os.environ, "SHOAL_FILTER_CHILD": "1"}
    files = [str(HERE / "test_filter_limits.py")]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
    )
    tail = (done.stdout + done.stderr)[-6000:]
    assert done.returncode >= 0, (
        f"a filter test crashed the process (signal {-done.returncode}):\n{tail}"
    )
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], tail
