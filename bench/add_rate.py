"""Rows/s of one `ds.add` of precomputed vectors until a search finds the last row, for this
tree and (optionally) another source tree, alternating in fresh processes.

    .venv/bin/python bench/add_rate.py [--rows 100000] [--dims 384] [--rounds 3]
        [--base-src PATH --base-label NAME]

Data: `--rows` random float32 vectors, texts of ~160 characters, explicit ids, metadata of
three flat keys; one `add` of everything into a new local dataset, then one vector search for
the last row (must find it); the background index builder is stopped before the next round.
`--base-src` is another checkout's `src` folder (e.g. a `git worktree` of an older commit):
both trees run in the same session, alternating round by round, each in its own process.
Writes bench/results/add_rate.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = """
import json, sys, tempfile, time
import numpy as np
import shoal
rows, dims = int(sys.argv[1]), int(sys.argv[2])
vectors = np.random.default_rng(0).standard_normal((rows, dims)).astype("float32")
texts = [("text %d " % i) * 20 for i in range(rows)]
metadatas = [{"i": i, "bucket": i % 10, "pos": "n"} for i in range(rows)]
ids = [f"r{i}" for i in range(rows)]
with tempfile.TemporaryDirectory() as folder:
    ds = shoal.open(folder + "/ds", embedder=f"hash:{dims}")
    start = time.perf_counter()
    ds.add(texts, embeddings=vectors, metadatas=metadatas, ids=ids)
    found = ds.search(vectors[-1], k=1)[0].id
    seconds = time.perf_counter() - start
    ds._view.stop_building()
assert found == ids[-1], found
print(json.dumps({"rows_per_s": rows / seconds}))
"""


def _run(src: Path, rows: int, dims: int) -> float:
    from _report import run_snippet

    args = [str(rows), str(dims)]
    rate: float = run_snippet(WORKER, args, src, SHOAL_INDEX_BUILD="background")["rows_per_s"]
    return rate


def main() -> None:
    """Alternate the trees round by round; report medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    sys.path.insert(0, str(HERE))
    from _report import add_tree_options, alternate_trees, print_table, save_report

    add_tree_options(parser)
    args = parser.parse_args()
    rates = alternate_trees(args, lambda src: _run(src, args.rows, args.dims))
    medians = {label: statistics.median(values) for label, values in rates.items()}
    first = next(iter(medians.values()))
    save_report("add_rate", "add_rate", args={k: str(v) for k, v in vars(args).items()},
                rates=rates, medians=medians)  # fmt: skip
    print_table(
        ["tree", "rows/s (median)", "rounds", f"vs {next(iter(medians))}"],
        [
            (label, f"{rate:,.0f}", ", ".join(f"{r:,.0f}" for r in rates[label]),
             f"{rate / first:.2f}x")
            for label, rate in medians.items()
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
