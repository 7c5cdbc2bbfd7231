"""Filtered search in Shoal: the first use of a filter (cold) and the graph walk's beam width.

    .venv/bin/python bench/filter_beam.py [--n 100000] [--beams 1.0,1.25,1.5] [--rounds 2]

The search.py 100k workload (WordNet glosses, held-out queries, `bucket` 0..9, filter
`bucket == 3` = 10% of rows), one thread. Cold: the first filtered search after the index
is built, on the metadata JSON field and again after `index_field("bucket")` (a BTREE
column), each on a fresh dataset handle, with a second (warm) search for reference. Beam:
`shoal.store._view.FILTER_BEAM` (the walk's beam is FILTER_BEAM * 64 / sqrt(share)) set in
turn, rounds alternating; p50 and recall@10 against the exact filtered top-10.
Writes bench/results/filter_beam.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LANCE_CPU_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shoal  # noqa: E402
from _report import print_table, save_report  # noqa: E402
from _search_systems import BUCKET, K, make_workload  # noqa: E402
from shoal.store import _view  # noqa: E402

WHERE = {"bucket": BUCKET}


def _filtered_ms(ds: shoal.Dataset, query: np.ndarray) -> float:
    start = time.perf_counter()
    ds.search(query, k=K, where=WHERE)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    """Measure cold filters and beam widths; write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--beams", default="1.0,1.25,1.5")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    w = make_workload(args.n, args.queries, 0.5)
    path = tempfile.mkdtemp(prefix="shoal-beam-") + "/ds"
    ds = shoal.open(path, embedder="local:all-MiniLM-L6-v2")
    ds.add(
        w.texts,
        ids=[str(i) for i in range(len(w.base))],
        embeddings=w.base,
        metadatas=[{"bucket": int(b)} for b in w.buckets],
    )
    ds.refresh_index()
    cold: dict[str, float] = {}
    for label in ("metadata JSON field", "declared field (index_field, BTREE)"):
        if label.startswith("declared"):
            ds.index_field("bucket")
            ds.refresh_index()
        fresh = shoal.open(path)
        fresh.search(w.queries[0], k=K)  # loads the snapshot and the saved index
        cold[f"first filtered search, {label}"] = _filtered_ms(fresh, w.queries[1])
        cold[f"second filtered search, {label}"] = _filtered_ms(fresh, w.queries[2])
    beams = [float(b) for b in args.beams.split(",")]
    samples: dict[float, list[tuple[float, float]]] = {b: [] for b in beams}
    for _ in range(args.rounds):
        for beam in beams:
            _view.FILTER_BEAM = beam
            for query, truth in zip(w.queries, w.truth_filtered, strict=True):
                start = time.perf_counter()
                hits = ds.search(query, k=K, where=WHERE)
                elapsed = (time.perf_counter() - start) * 1e3
                found = {int(h.id) for h in hits}
                samples[beam].append((elapsed, len(found & set(truth.tolist())) / K))
    rows = [
        {
            "beam": beam,
            "ef": min(1024, int(beam * 64 / 0.1**0.5)),
            "p50_ms": float(np.median([s[0] for s in samples[beam]])),
            "recall@10": float(np.mean([s[1] for s in samples[beam]])),
        }
        for beam in beams
    ]
    save_report(
        "filter_beam", "filter_beam", n=args.n, queries=args.queries, cold_ms=cold, beams=rows
    )
    print_table(("what", "ms"), ((name, f"{ms:.1f}") for name, ms in cold.items()))
    print_table(
        ("beam factor", "ef at 10%", "p50 ms", "recall@10"),
        ((r["beam"], r["ef"], f"{r['p50_ms']:.3f}", f"{r['recall@10']:.3f}") for r in rows),
    )


if __name__ == "__main__":
    main()
