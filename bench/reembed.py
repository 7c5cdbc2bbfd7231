"""`Dataset.reembed` and `shoal.distributed.reembed` vs embedding the same texts into a new
dataset, same run.

    .venv/bin/python bench/reembed.py [--n 2000] [--workers 2]

Data: the first n SciFact documents (../shared/data/scifact/corpus.jsonl, read in place),
title and abstract as one text each. Model: all-MiniLM-L6-v2 int8 (Shoal's default), its
ONNX graph built and cached before any clock starts; no embedding cache anywhere.

Measured, one after the other:

- baseline: `shoal.open(new, embedder=MiniLM).add(texts)`: embedding the texts and
  writing them once, the least any re-embedding can cost;
- reembed: a copy of the texts stored with `hash:384` vectors, then
  `ds.reembed("local:all-MiniLM-L6-v2", cache=False)`: read every row, embed, write the
  new data files, commit one version;
- ray xN: the same on a local Ray cluster of N CPUs (`sd.reembed`, N workers; the cluster
  start is reported apart, not counted).

Reported: seconds, rows/s, and each run's ratio to the baseline (what reading and
rewriting the rows costs beyond the embedding). Writes bench/results/reembed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402

MODEL = "local:all-MiniLM-L6-v2"
CORPUS = HERE.parent.parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def _texts(n: int) -> list[str]:
    texts = []
    with CORPUS.open(encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            texts.append(f"{doc['title']}\n\n{doc['text']}")
            if len(texts) == n:
                break
    return texts


def main() -> None:
    """Run the baseline and the re-embeddings on the same texts; print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="SciFact documents")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (0: no Ray run)")
    args = parser.parse_args()
    threads = max(1, args.workers)
    os.environ["SHOAL_NUM_THREADS"] = str(threads)

    import shoal

    texts = _texts(args.n)
    shoal.embedder(MODEL).embed_query("warm up")  # builds and caches the ONNX graph
    work = Path(tempfile.mkdtemp(prefix="shoal-reembed-"))
    rows: list[dict[str, Any]] = []
    cluster_start = None
    try:
        started = time.perf_counter()
        shoal.open(work / "baseline", embedder=MODEL).add(texts)
        rows.append(_row("baseline: add with MiniLM", len(texts), time.perf_counter() - started))
        print(rows[-1], flush=True)

        ds = shoal.open(work / "single", embedder="hash:384")
        ds.add(texts)
        started = time.perf_counter()
        report = ds.reembed(MODEL, cache=False)
        rows.append(_row("reembed, one process", report.rows, time.perf_counter() - started))
        print(rows[-1], flush=True)

        if args.workers:
            import ray

            import shoal.distributed as sd

            shoal.open(work / "ray", embedder="hash:384").add(texts)
            started = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            cluster_start = time.perf_counter() - started
            started = time.perf_counter()
            report = sd.reembed(work / "ray", embedder=MODEL, num_workers=args.workers, cache=False)
            label = f"reembed on Ray, {args.workers} workers"
            rows.append(_row(label, report.rows, time.perf_counter() - started))
            print(rows[-1], flush=True)
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = rows[0]["seconds"]
    for row in rows:
        row["vs_baseline"] = round(base / row["seconds"], 3)
    print_table(
        ["system", "rows", "seconds", "rows/s", "vs baseline"],
        [[r["system"], r["rows"], r["seconds"], r["rows_per_s"], f"{r['vs_baseline']}x"]
         for r in rows],
    )  # fmt: skip
    if cluster_start is not None:
        print(f"Ray cluster start {cluster_start:.1f} s (not counted)")
    save_report(
        "reembed",
        "bench/reembed.py",
        documents=args.n,
        model=MODEL,
        threads=threads,
        rows=rows,
        cluster_start_seconds=None if cluster_start is None else round(cluster_start, 2),
    )


def _row(system: str, count: int, seconds: float) -> dict[str, Any]:
    return {
        "system": system,
        "rows": count,
        "seconds": round(seconds, 2),
        "rows_per_s": round(count / seconds, 2),
    }


if __name__ == "__main__":
    main()
