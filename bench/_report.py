"""How every benchmark records itself: a JSON file in bench/results and a markdown table."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_report(name: str, benchmark: str, **fields: Any) -> Path:
    """Write results/<name>.json: the benchmark's name, today's date, the machine, then `fields`."""
    report = {
        "benchmark": benchmark,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {len(os.sched_getaffinity(0))} cores",
        **fields,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a markdown table, ready for BENCHMARKS.md."""
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def spawn_worker(script: str, args: list[str]) -> dict[str, Any]:
    """Run `script ARGS` in a fresh Python process; its last stdout line is a JSON result."""
    done = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
