"""What a long `$in` list costs: filtered search with 10 .. 1,000,000 values in the list.

    .venv/bin/python bench/filter_lists.py [--rows 100000] [--sizes 10,1000,100000,1000000]

A dataset of `--rows` rows (16-d hash vectors, metadata `{"key": "k<i>", "tags": [...],
"n": i}`, `key` also declared with `index_field`) is built once. Each measurement is a
fresh process that opens it and runs one `ds.search(..., where=...)` with an `$in` list of
N values (10 of them stored, the rest absent), on three fields: a metadata string (the
arrays holding one are found by one scan), a metadata number, and the declared string
column. It reports the wall time of the search (compile + plan + run) and the process's
peak RSS above what it held after opening; the 10-value list of the same field in the
same run is the baseline. SHOAL_FILTER_MAX_VALUES is raised to allow 1M.
Writes bench/results/filter_lists.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

FIELDS = {"metadata string": "key", "metadata number": "n", "declared column": "col"}


def _values(field: str, size: int) -> list[Any]:
    present = list(range(0, 1000, 100))[: min(10, size)]
    if field == "n":
        return present + [10**9 + i for i in range(size - len(present))]
    prefix = "k" if field == "key" else "c"
    return [f"{prefix}{i}" for i in present] + [f"absent-{i}" for i in range(size - len(present))]


def worker(uri: str, field: str, size: int) -> None:
    """One measurement, in this (fresh) process: print a JSON line."""
    import shoal

    ds = shoal.open(uri)
    ds.search("row 1", k=1)  # opened and warm, so only the filter is measured
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    values = _values(field, size)
    start = time.perf_counter()
    hits = ds.search("row 1", k=20, where={field: {"$in": values}})
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"s": wall, "rss_mb": (peak - before) / 1024, "hits": len(hits)}))


def build(uri: str, rows: int) -> None:
    import shoal

    ds = shoal.open(uri, embedder="hash:16")
    step = 20_000
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        ds.add(
            [f"row {i}" for i in range(start, stop)],
            metadatas=[
                {"key": f"k{i}", "tags": [f"t{i % 97}", "all"], "n": i, "col": f"c{i}"}
                for i in range(start, stop)
            ],
            ids=[f"r{i}" for i in range(start, stop)],
        )
    ds.index_field("col")
    ds.wait_for_index()


def main() -> None:
    """Build the dataset, then measure each field and list size in a fresh process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sizes", default="10,1000,100000,1000000")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    from _report import print_table, save_report, spawn_worker

    os.environ["SHOAL_FILTER_MAX_VALUES"] = "2000000"
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        uri = str(Path(folder) / "ds")
        build(uri, args.rows)
        results: list[dict[str, Any]] = []
        for label, field in FIELDS.items():
            for size in sizes:
                got = spawn_worker(__file__, ["--worker", uri, field, str(size)])
                results.append({"field": label, "values": size, **got})
                print(results[-1], flush=True)
    base = {r["field"]: r for r in results if r["values"] == sizes[0]}
    rows = [
        (
            r["field"],
            f"{r['values']:,}",
            f"{r['s']:.3f}",
            f"{r['s'] / base[r['field']]['s']:.0f}x",
            f"{r['rss_mb']:.0f}",
            r["hits"],
        )
        for r in results
    ]
    save_report("filter_lists", "filter_lists", rows=args.rows, results=results)
    print_table(["field", "$in values", "search s", "vs 10 values", "peak RSS +MB", "hits"], rows)


if __name__ == "__main__":
    main()
