"""How every benchmark records itself: a JSON file in bench/results and a markdown table."""

from __future__ import annotations

import json
import os
import platform
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
