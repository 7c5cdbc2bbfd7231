"""Setting a metadata key on every row (what `shoal cluster` writes): the metadata column
rewritten alone against the rows rewritten whole (the path before it), in the same run.

    nice -n 5 .venv/bin/python bench/metadata_column.py [--rows 20000] [--dims 384]

Each path gets its own dataset of `--rows` rows (a short text, a random `--dims`-d float32
vector, a small metadata object) in a temporary folder; `set_metadata` then sets one key on
every row. Reported: seconds, and how much the folder grew (the old version stays on disk
until `shoal cleanup`). The rows path is what `set_metadata` did before (one merge of every
row's id, text, metadata and vector); it is reached by turning the column path off.
Writes bench/results/metadata_column.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import shoal
from _report import print_table, save_report
from shoal.store._writes import RowWriter


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _run(folder: Path, rows: int, dims: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    ds = shoal.open(folder, embedder=f"hash:{dims}")
    ids = [f"r{i}" for i in range(rows)]
    ds.add(
        [f"row {i} of the benchmark" for i in range(rows)],
        ids=ids,
        embeddings=rng.standard_normal((rows, dims)).astype(np.float32),
        metadatas=[{"topic": i % 17, "year": 1990 + i % 30} for i in range(rows)],
    )
    ds.wait_for_index()
    before = _size_mb(folder)
    start = time.perf_counter()
    ds.set_metadata({row_id: {"cluster": i % 12} for i, row_id in enumerate(ids)})
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "before_mb": before, "grown_mb": _size_mb(folder) - before}


def main() -> None:
    """Measure both paths and print the table for BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dims", type=int, default=384)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    column_path = RowWriter._set_metadata_column
    with tempfile.TemporaryDirectory() as tmp:
        results["column"] = _run(Path(tmp) / "column", args.rows, args.dims)
        RowWriter._set_metadata_column = lambda self, *a: None  # type: ignore[method-assign]
        try:
            results["rows"] = _run(Path(tmp) / "rows", args.rows, args.dims)
        finally:
            RowWriter._set_metadata_column = column_path  # type: ignore[method-assign]
    save_report("metadata_column", "metadata_column", n_rows=args.rows, dims=args.dims, **results)
    print_table(
        ["path", "seconds", "dataset MB before", "grown by MB"],
        [
            [name, f"{r['seconds']:.2f}", f"{r['before_mb']:.1f}", f"{r['grown_mb']:.1f}"]
            for name, r in results.items()
        ],
    )


if __name__ == "__main__":
    main()
