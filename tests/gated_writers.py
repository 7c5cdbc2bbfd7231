"""Writer processes that start together: each touches ``ready-NAME``, then waits for ``go``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_gated"]


def run_gated(
    script: Path,
    target: str,
    names: Sequence[str],
    folder: Path,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run `script TARGET NAME FOLDER` once per name, let them go at once, and return each
    one's JSON report; every process must exit 0 and their runs must overlap."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), target, name, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else dict(env),
        )
        for name in names
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((folder / f"ready-{name}").exists() for name in names):
            assert all(p.poll() is None for p in procs), "a writer died before the start"
            assert time.monotonic() < deadline, "the writers did not get ready"
            time.sleep(0.01)
        (folder / "go").touch()
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    spans = [json.loads(out) for out, _ in outputs]
    assert max(s["start"] for s in spans) < min(s["end"] for s in spans), "they never overlapped"
    return spans
