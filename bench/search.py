"""Query latency and recall@10: Shoal's Dataset.search vs faiss, LanceDB and Chroma, same run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/search.py [--sizes 100k,1m] [--queries 200]
        [--systems shoal,faiss,lancedb,chroma] [--quick]

Vectors: WordNet 3.0 glosses embedded by the default model (all-MiniLM-L6-v2, int8,
normalised, 384-d; the cache bench/ann_libraries.py makes). Sizes up to 100k are the first
n glosses. Larger sizes are synthetic: row i is normalize(gloss[i % 100k] + e), e ~ N(0,
sigma^2/384) per dimension (--noise sigma=0.5, so two copies of one gloss have cosine ~0.8
and an exact top-10 mixes copies of about three glosses). Queries are glosses held out of
every index: a seeded sample of rows >= 100k (mostly adjectives and adverbs, the corpus
mostly nouns and verbs), with the same noise at synthetic sizes. Ground truth: exact
top-10 by inner product (numpy). Every row carries `bucket` = a seeded random 0..9; the
filtered runs keep bucket == 3 (10% of rows).

One thread everywhere (OMP/MKL/OpenBLAS/Lance set before anything loads, faiss too), for
building and for searching; queries are timed one at a time, after a warm-up, through each
system's ordinary Python API, returning ids only. faiss IndexHNSWFlat (M=16,
efConstruction=64, IDSelectorBitmap when filtered) is the reference: every query of every
system is followed by a query through faiss at efSearch=64 (same filter), and the system's
p50 is divided by that faiss p50, so both sides of a ratio share the same load.
LanceDB: a BITMAP scalar index on `bucket`, brute force (bypass_vector_index; past 100k
rows only --flat-queries of the queries), then IVF_HNSW_SQ (dot, M=16, ef_construction=64,
max(2, n/200k) partitions, all probed), skipped at a size where the previous size's build
time, scaled by rows, exceeds --lance-index-budget. Chroma: PersistentClient, hnsw space
"ip", M=16, ef_construction=64, skipped past --chroma-max-rows (its ingest, hundreds to
a couple of thousand vectors/s, would take much of an hour at 1m).
Shoal: `shoal.open(tmp, embedder="local:all-MiniLM-L6-v2")`, `ds.add` with precomputed
vectors and ids "0".."n-1", `ds.index_field("bucket")`; its build time runs
until the first search returns.
Writes bench/results/search.json (--quick: search_quick.json) and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import os

# Before numpy, faiss, Lance or Chroma start their thread pools.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LANCE_CPU_THREADS"):
    os.environ[_var] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"  # Chroma: no network calls from the benchmark

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402
from _search_systems import (  # noqa: E402
    BUCKET,
    EF_CONSTRUCTION,
    EF_SEARCH,
    WARM_UP,
    Chroma,
    Faiss,
    K,
    LanceDB,
    M,
    Shoal,
    System,
    Workload,
    make_workload,
    size_name,
)


def measure(
    search: Callable[[np.ndarray], list[int]],
    queries: np.ndarray,
    truth: np.ndarray,
    baseline: Callable[[np.ndarray], list[int]] | None = None,
) -> dict[str, float]:
    """p50/p95 latency of one-at-a-time queries, after a warm-up, and recall@10.

    With a baseline, each query is followed by one through the baseline, so that a busy
    neighbour on a shared machine slows both sides of the ratio alike. The baseline runs
    the query half the list away, not the same one: a repeat would find its graph nodes
    still in cache and look faster than it is.
    """
    for q in queries[:WARM_UP]:
        search(q)
        if baseline is not None:
            baseline(q)
    times, base_times, hits = [], [], 0
    for i, (q, true) in enumerate(zip(queries, truth, strict=True)):
        start = time.perf_counter()
        found = search(q)
        times.append(time.perf_counter() - start)
        hits += len(set(found) & set(true.tolist()))
        if baseline is not None:
            other = queries[(i + len(queries) // 2) % len(queries)]
            start = time.perf_counter()
            baseline(other)
            base_times.append(time.perf_counter() - start)
    row = {
        "p50_ms": float(np.percentile(times, 50)) * 1e3,
        "p95_ms": float(np.percentile(times, 95)) * 1e3,
        "recall@10": hits / (K * len(queries)),
    }
    if base_times:
        row["faiss_ef64_p50_ms"] = float(np.percentile(base_times, 50)) * 1e3
        row["p50_vs_faiss"] = row["p50_ms"] / row["faiss_ef64_p50_ms"]
    return row


def _parse_size(text: str) -> int:
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text.rstrip("kKmM")) * scale)


def run_size(
    w: Workload,
    systems: list[str],
    args: argparse.Namespace,
    history: dict[str, dict[int, float]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Build each system on one workload and measure it; returns (rows, builds).

    `history` carries what smaller sizes measured (LanceDB's index build seconds, Chroma's
    ingest rate) so that a larger size can skip what would take too long, and say why.
    """
    import faiss

    faiss.omp_set_num_threads(1)
    rows: list[dict[str, Any]] = []
    builds: list[dict[str, Any]] = []
    reference: Faiss | None = None
    n = len(w.base)

    def run(system: System, tmp: Path) -> None:
        print(f"[{w.name}] building {system.name} ...", flush=True)
        system.build(w, tmp)
        for setting in system.settings():
            system.configure(setting)
            limit = system.query_limit(setting) or len(w.queries)
            for filtered in (False, True):
                truth = (w.truth_filtered if filtered else w.truth)[:limit]
                label = f"{system.name} {setting}".strip()
                if limit < len(w.queries):
                    label += f" ({limit} queries)"
                row = {"system": label, "size": w.name}
                row["filter"] = f"bucket={BUCKET} (10%)" if filtered else "none"
                row["queries"] = limit
                baseline = reference.searcher(EF_SEARCH[0], filtered) if reference else None
                row |= measure(
                    lambda q, f=filtered: system.search(q, f), w.queries[:limit], truth, baseline
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
        builds.append({"system": system.name, "size": w.name, **system.build_stats})
        print(json.dumps(builds[-1]), flush=True)
        if isinstance(system, Chroma):
            history["chroma_vectors_per_s"][n] = system.build_stats["vectors_per_s"]

    with tempfile.TemporaryDirectory(prefix="shoal-bench-", ignore_cleanup_errors=True) as tmp:
        for name in systems:
            system: System
            if name == "faiss":
                system = reference = Faiss()
            elif name == "shoal":
                system = Shoal(args.shoal_batch)
            elif name == "lancedb":
                system = LanceDB(
                    args.lance_index_budget, history["lancedb_ivf_s"], args.flat_queries
                )
            elif name == "chroma":
                if n > args.chroma_max_rows:
                    rates = history["chroma_vectors_per_s"]
                    rows_seen, rate = max(rates.items()) if rates else (0, 660.0)
                    seen = f"measured at {size_name(rows_seen)}" if rows_seen else "typical"
                    reason = (
                        f"over --chroma-max-rows {args.chroma_max_rows:,}: ingest runs at "
                        f"~{rate:.0f} vectors/s ({seen}), ~{n / rate / 60:.0f} min for {n:,} rows"
                    )
                    print(f"chroma: skipped at {w.name}, {reason}", flush=True)
                    builds.append({"system": "chroma", "size": w.name, "skipped": reason})
                    continue
                system = Chroma()
            else:
                raise SystemExit(f"unknown system {name!r}")
            run(system, Path(tmp) / name)
            if system is not reference:
                del system
                gc.collect()
    return rows, builds


def main() -> None:
    """Measure every system at every size and print the BENCHMARKS.md tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m", help="rows per run: 100k, 1m, 20k ...")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--systems", default="shoal,faiss,lancedb,chroma")
    parser.add_argument("--quick", action="store_true", help="smoke test: 20k rows, 50 queries")
    parser.add_argument("--noise", type=float, default=0.5, help="synthetic sizes: noise norm")
    parser.add_argument("--shoal-batch", type=int, default=100_000, help="rows per ds.add")
    parser.add_argument("--chroma-max-rows", type=int, default=200_000)
    parser.add_argument(
        "--flat-queries", type=int, default=50, help="LanceDB brute force past 100k: queries"
    )
    parser.add_argument(
        "--lance-index-budget", type=float, default=240,
        help="skip IVF_HNSW_SQ at a size if the last size's build, scaled, would take longer",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries = "20k", 50
    systems = args.systems.split(",")
    if "faiss" in systems:  # the reference is built first, so every ratio has it
        systems.remove("faiss")
        systems.insert(0, "faiss")
    rows: list[dict[str, Any]] = []
    builds: list[dict[str, Any]] = []
    history: dict[str, dict[int, float]] = {"lancedb_ivf_s": {}, "chroma_vectors_per_s": {}}
    started = time.perf_counter()
    for size in args.sizes.split(","):
        start = time.perf_counter()
        w = make_workload(_parse_size(size), args.queries, args.noise)
        print(f"[{w.name}] workload and exact truth in {time.perf_counter() - start:.1f}s")
        size_rows, size_builds = run_size(w, systems, args, history)
        rows += size_rows
        builds += size_builds
        del w
        gc.collect()
    import faiss
    import lancedb

    name = "search_quick" if args.quick else "search"
    save_report(
        name,
        "search",
        versions={"faiss": faiss.__version__, "lancedb": lancedb.__version__},
        params={
            "k": K,
            "M": M,
            "ef_construction": EF_CONSTRUCTION,
            "threads": 1,
            "queries": args.queries,
            "noise": args.noise,
            "filter": f"bucket == {BUCKET}",
        },
        wall_s=time.perf_counter() - started,
        rows=rows,
        builds=builds,
    )
    print_table(
        ("system", "size", "filter", "p50 ms", "p95 ms", "recall@10", "p50 / faiss ef=64"),
        (
            (r["system"], r["size"], r["filter"], f"{r['p50_ms']:.3f}", f"{r['p95_ms']:.3f}",
             f"{r['recall@10']:.3f}", f"{r['p50_vs_faiss']:.2f}x" if "p50_vs_faiss" in r else "-")
            for r in rows
        ),
    )  # fmt: skip
    print_table(
        ("system", "size", "build / ingest"),
        (
            (b["system"], b["size"], "; ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in b.items() if k not in ("system", "size")
            ))
            for b in builds
        ),
    )  # fmt: skip


if __name__ == "__main__":
    main()
