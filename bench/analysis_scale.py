"""shoal.analysis at 100k rows: time and peak memory of each function, against the exact graph.

    .venv/bin/python bench/analysis_scale.py [--rows 100000] [--skip-exact] [--skip-hdbscan]

Data: the first --rows WordNet 3.0 glosses (../shared/data/wordnet, read in place) with
their part of speech as metadata `pos`, embedded once by the default model (MiniLM int8,
384-d) and cached as .npy under Shoal's cache folder (bench/wordnet-minilm-int8-N.npy,
the file bench/ann_libraries.py uses; about 150 s to make on 2 cores). The dataset is
written once with those vectors (`ds.add(texts, embeddings=...)`) and its HNSW index
built and saved; the build is reported too.

Each step then runs in a fresh process that opens the dataset (loading the saved index)
and times only the step; "before" is its RSS once the dataset is open, and the peak is
the highest RSS during the step (VmHWM, reset after opening), so the difference is what
the step itself holds. Steps that write
(cluster) run on their own copy of the dataset. Steps:

- neighbors: `ds.neighbors(k=10)`, the kNN graph (HNSW, blocks of 2,048 rows),
- near_duplicates (threshold 0.9, k=10), recommend (50 calls, 3 liked and 1 disliked row
  each: mean ms), outliers knn and lof (k=10, 1%), cluster kmeans (default 200 clusters,
  labels written and committed), cluster hdbscan umap / pca (min size 100, after UMAP to
  5 dims or PCA to 8),
- classify: every 10th row has no `pos` label (its part of speech kept apart); 1,000 of
  those, spread over the file, by their stored vectors, are classified from their 10 nearest labelled
  rows; accuracy reported beside the majority class's share.

Baselines in the same run: the exact kNN graph (blocked numpy, what datasets under the
index threshold use) on all rows, with the HNSW graph's recall@10 against it; and the
all-pairs similarity matrix an n x n approach holds, built for real on a 20,000-row sample
(its size at --rows is n^2 x 4 bytes). Writes bench/results/analysis_scale.json and
prints the BENCHMARKS.md table.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, save_report, spawn_worker
from _texts import wordnet_synsets

HELD_OUT = 1_000
SAMPLE = 20_000


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start the peak (VmHWM) again from the current RSS (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def cached_vectors(rows: int) -> np.ndarray:
    """The first `rows` glosses embedded by the default model, cached as .npy."""
    from shoal.embeddings import embedder
    from shoal.settings import cache_dir

    path = cache_dir() / "bench" / f"wordnet-minilm-int8-{rows}.npy"
    if path.is_file():
        return np.load(path)
    vectors = embedder().embed_documents([r["text"] for r in wordnet_synsets(rows)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def build(folder: str, rows: int) -> dict[str, Any]:
    """Write the dataset with cached vectors and build its index."""
    import shoal

    synsets = wordnet_synsets(rows)
    vectors = cached_vectors(rows)
    start = time.perf_counter()
    ds = shoal.open(folder)
    ds.add(
        [s["text"] for s in synsets],
        ids=[s["_id"] for s in synsets],
        # Every 10th row keeps its part of speech apart, unlabelled: classify's test rows.
        metadatas=[
            {"truth": s["pos"]} if i % 10 == 0 else {"pos": s["pos"], "truth": s["pos"]}
            for i, s in enumerate(synsets)
        ],
        embeddings=vectors,
    )
    added = time.perf_counter() - start
    ds.refresh_index()
    return {"add_s": added, "index_s": time.perf_counter() - start - added}


def step(name: str, folder: str, rows: int) -> dict[str, Any]:
    """Open the dataset, run one step, and measure it."""
    import shoal
    import shoal.analysis as sa

    ds = shoal.open(folder)
    ds.search(np.ones(ds.spec.dimensions, dtype=np.float32), k=1)  # load snapshot and index
    before = status_mb("VmRSS")
    reset_peak()  # the step's peak, not the opening's
    extra: dict[str, Any] = {}
    start = time.perf_counter()
    if name == "neighbors":
        graph = ds.neighbors(k=10)
        np.save(Path(folder).parent / "hnsw_graph.npy", graph.indices)
    elif name == "exact graph":
        from shoal.store._neighbors import _exact_graph

        with ds._view.lock:
            snap = ds._view.snapshot
            assert snap is not None
            indices, _ = _exact_graph(snap, np.flatnonzero(snap.alive[: snap.size]), 10)
        hnsw = np.load(Path(folder).parent / "hnsw_graph.npy")
        found = [
            len(set(a) & set(b)) for a, b in zip(hnsw.tolist(), indices.tolist(), strict=False)
        ]
        extra["recall_at_10"] = round(float(np.mean(found)) / 10, 4)
    elif name == "near_duplicates":
        groups = sa.near_duplicates(ds)
        extra["groups"], extra["rows_in_groups"] = len(groups), sum(len(g) for g in groups)
    elif name == "recommend":
        ids, _ = ds.vectors()
        rng = np.random.default_rng(0)
        for _ in range(50):
            chosen = [ids[i] for i in rng.choice(len(ids), 4, replace=False)]
            sa.recommend(ds, positive_ids=chosen[:3], negative_ids=chosen[3:], k=10)
        extra["per_call_ms"] = round((time.perf_counter() - start) / 50 * 1000, 1)
    elif name in ("outliers knn", "outliers lof"):
        found = sa.outliers(ds, k=10, contamination=0.01, method=name.split()[1])  # type: ignore[arg-type]
        extra["reported"] = len(found.ids)
    elif name.startswith("cluster"):
        method, *reduce = name.split()[1:]
        size = {"min_cluster_size": 100, "reduce": reduce[0]} if method == "hdbscan" else {}
        result = sa.cluster(ds, method=method, **size)  # type: ignore[arg-type]
        extra["clusters"] = sum(1 for c in result.clusters if c.label != -1)
        extra["noise"] = sum(c.size for c in result.clusters if c.label == -1)
        extra["example_terms"] = [c.terms for c in result.clusters[:3]]
    elif name == "classify":
        unlabelled = {"pos": {"$exists": False}}
        ids, vectors = ds.vectors(where=unlabelled)
        truth = {r["id"]: r["truth"] for r in ds.select(["id", "truth"], where=unlabelled)}
        # Spread over the file: WordNet lists nouns first, so the first rows are all nouns.
        picked = np.linspace(0, len(ids) - 1, HELD_OUT).astype(int)
        chosen = [ids[i] for i in picked]
        start = time.perf_counter()
        results = sa.classify(ds, vectors[picked], label_field="pos", k=10)
        right = sum(r.label == truth[i] for r, i in zip(results, chosen, strict=True))
        extra["accuracy"] = round(right / HELD_OUT, 3)
        extra["majority_class"] = round(
            max(Counter(truth[i] for i in chosen).values()) / HELD_OUT, 3
        )
    elif name == "n x n sample":
        _, vectors = ds.vectors()
        sample = vectors[:SAMPLE]
        matrix = sample @ sample.T
        extra["matrix_mb"] = round(matrix.nbytes / 2**20)
    seconds = time.perf_counter() - start
    return {"step": name, "seconds": round(seconds, 2), "before_mb": round(before),
            "peak_mb": round(status_mb("VmHWM")), **extra}  # fmt: skip


STEPS = (
    "neighbors",
    "near_duplicates",
    "recommend",
    "outliers knn",
    "outliers lof",
    "classify",
    "cluster kmeans",
    "cluster hdbscan umap",
    "cluster hdbscan pca",
    "exact graph",
    "n x n sample",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-exact", action="store_true")
    parser.add_argument("--skip-hdbscan", action="store_true")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset")
    parser.add_argument("--worker", nargs=2, metavar=("STEP", "FOLDER"))
    args = parser.parse_args()
    if args.worker:
        name, folder = args.worker
        result = build(folder, args.rows) if name == "build" else step(name, folder, args.rows)
        print(json.dumps(result))
        return
    cached_vectors(args.rows)  # once, outside every measurement
    skipped = {"exact graph"} if args.skip_exact else set()
    skipped |= {"cluster hdbscan umap", "cluster hdbscan pca"} if args.skip_hdbscan else set()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="shoal-bench-analysis-") as tmp:
        folder = str(Path(tmp) / "wordnet")
        built = spawn_worker(__file__, ["--rows", str(args.rows), "--worker", "build", folder])
        print(f"built: {built}", flush=True)
        for name in STEPS:
            if name in skipped or name not in args.steps.split(","):
                continue
            target = folder
            if name.startswith("cluster"):
                target = str(Path(tmp) / name.replace(" ", "-"))
                shutil.copytree(folder, target)
            result = spawn_worker(__file__, ["--rows", str(args.rows), "--worker", name, target])
            print(result, flush=True)
            results.append(result)
    all_pairs_gb = args.rows**2 * 4 / 2**30
    steps = "_".join(re.sub(r"\W+", "-", r["step"]) for r in results)
    name = "analysis_scale" if len(results) == len(STEPS) else f"analysis_scale_{steps}"
    save_report(name, "analysis_scale", rows=args.rows, build=built,
                all_pairs_matrix_gb=round(all_pairs_gb, 1), steps=results)  # fmt: skip
    print(f"\nan all-pairs float32 matrix at {args.rows:,} rows: {all_pairs_gb:.1f} GB")
    print_table(
        ["step", "seconds", "RSS before (MB)", "peak RSS (MB)", "notes"],
        [
            (
                r["step"],
                r["seconds"],
                r["before_mb"],
                r["peak_mb"],
                ", ".join(
                    f"{k}={v}"
                    for k, v in r.items()
                    if k not in ("step", "seconds", "before_mb", "peak_mb")
                ),
            )
            for r in results
        ],
    )


if __name__ == "__main__":
    main()
