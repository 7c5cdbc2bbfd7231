"""What `Dataset.search` adds to the HNSW walk: warm p50 of one query, this tree and another.

    .venv/bin/python bench/warm_overhead.py [--dataset PATH] [--rows 100000] [--rounds 3]
        [--base-src PATH --base-label NAME]

A dataset of `--rows` random 384-d vectors with ~160-character texts and small metadata is
built (index saved) unless `--dataset` names one (e.g. bench/scale.py's). Each round opens it
in a fresh process per tree, warms up with 50 searches, then times 1,000 random-vector
`ds.search(vector, k=10)` calls and the same queries on the dataset's own `HnswIndex.search`
(the faiss walk Shoal runs, ef 64): p50 of each and their ratio. Trees alternate round by round.
Writes bench/results/warm_overhead.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = """
import json, statistics, sys, time
import numpy as np
import shoal
ds = shoal.open(sys.argv[1])
queries = np.random.default_rng(1).standard_normal((1050, 384)).astype("float32")
for query in queries[:50]:
    ds.search(query, k=10)
index = ds._view.index
shoal_ms, index_ms = [], []
for query in queries[50:]:
    start = time.perf_counter()
    ds.search(query, k=10)
    shoal_ms.append((time.perf_counter() - start) * 1000)
    unit = query / np.linalg.norm(query)
    start = time.perf_counter()
    index.search(unit, 10, ef=64, bitmap=None)
    index_ms.append((time.perf_counter() - start) * 1000)
print(json.dumps({"shoal": statistics.median(shoal_ms), "index": statistics.median(index_ms)}))
"""


def _build(path: Path, rows: int) -> None:
    import numpy as np

    import shoal

    vectors = np.random.default_rng(0).standard_normal((rows, 384)).astype(np.float32)
    ds = shoal.open(path, embedder="hash:384")
    ds.add(
        [f"text {i} " * 20 for i in range(rows)],
        embeddings=vectors,
        metadatas=[{"i": i, "bucket": i % 10} for i in range(rows)],
        ids=[f"r{i}" for i in range(rows)],
    )
    ds.wait_for_index()


def _run(src: Path, dataset: Path) -> dict[str, float]:
    from _report import run_snippet

    return run_snippet(WORKER, [str(dataset)], src, OMP_NUM_THREADS="1")


def main() -> None:
    """Build or take the dataset, alternate the trees, report medians of rounds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    sys.path.insert(0, str(HERE))
    from _report import add_tree_options, alternate_trees, print_table, save_report

    add_tree_options(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        dataset = args.dataset or Path(folder) / "ds"
        if args.dataset is None:
            _build(dataset, args.rows)
        runs = alternate_trees(args, lambda src: _run(src, dataset))
    rows = []
    for label, results in runs.items():
        shoal_ms = statistics.median(r["shoal"] for r in results)
        index_ms = statistics.median(r["index"] for r in results)
        rows.append((label, f"{shoal_ms:.3f}", f"{index_ms:.3f}", f"{shoal_ms / index_ms:.2f}x"))
    save_report("warm_overhead", "warm_overhead", args={k: str(v) for k, v in vars(args).items()},
                runs=runs)  # fmt: skip
    print_table(["tree", "ds.search p50 ms", "HnswIndex.search p50 ms", "ratio"], rows)


if __name__ == "__main__":
    main()
