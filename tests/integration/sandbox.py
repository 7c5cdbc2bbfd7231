"""Faulty storage for tests: a child process in its own user and mount namespace.

Inside it the test's script gets a small tmpfs (a disk that fills up) or a read-only bind
mount of a folder; the mounts die with the child, so none outlives a test even if it
crashes. The script prints one JSON line last, which `run_child` returns.

Mounting needs `unshare -Urm` (a user namespace). Where it is not permitted the tests
skip, unless SHOAL_REQUIRE_MOUNT=1 (as `make test` sets), when they fail instead.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["need_mounts", "run_child"]

TESTS = Path(__file__).resolve().parents[1]


@functools.cache
def _mount_problem() -> str | None:
    """Why a child cannot mount a tmpfs, or None if it can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run(
                ["unshare", "-Urm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {folder}"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare failed: {exc}"
    if done.returncode != 0:
        return f"unshare -Urm cannot mount here: {done.stderr.strip()}"
    return None


def need_mounts() -> None:
    """Skip the test if mounts are not permitted (fail instead under SHOAL_REQUIRE_MOUNT=1)."""
    problem = _mount_problem()
    if problem is None:
        return
    if os.environ.get("SHOAL_REQUIRE_MOUNT") == "1":
        pytest.fail(f"SHOAL_REQUIRE_MOUNT=1 but {problem}")
    pytest.skip(problem)


def run_child(
    script: str,
    *args: str,
    tmpfs: Mapping[Path, int] | None = None,
    read_only: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> Any:
    """Run Python `script` with `args` in a namespace with these mounts; its last JSON line.

    `tmpfs` maps folders to sizes in bytes; `read_only` folders are bind-mounted read-only.
    """
    need_mounts()
    steps = ["set -e"]
    for folder, size in (tmpfs or {}).items():
        folder.mkdir(parents=True, exist_ok=True)
        steps.append(f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(folder))}")
    for folder in read_only:
        quoted = shlex.quote(str(folder))
        steps.append(f"mount --bind {quoted} {quoted}")
        steps.append(f"mount -o remount,ro,bind {quoted}")
    command = [sys.executable, "-c", textwrap.dedent(script), *args]
    steps.append("exec " + " ".join(shlex.quote(part) for part in command))
    paths = [str(TESTS), os.environ.get("PYTHONPATH", "")]
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "\n".join(steps)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **(env or {})},
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, (
        f"the child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return json.loads(lines[-1])
