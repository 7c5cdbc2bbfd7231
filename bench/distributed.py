"""`shoal.distributed.ingest` on a local Ray cluster vs the single-process `shoal.ingest`, same run.

    .venv/bin/pip install -e '.[dev]'        # ray[data]==2.60.0 is in the dev extra
    .venv/bin/python bench/distributed.py [--n 5000] [--workers 1,2]

Data: the first n SciFact documents (../shared/data/scifact/corpus.jsonl, read in place),
each written to a temporary folder as <id>.txt (title, blank line, abstract), as
bench/ingest.py does. Model: all-MiniLM-L6-v2 int8 (Shoal's default), its ONNX graph built
and cached before any clock starts. No embedding cache anywhere (every chunk is embedded).

Measured, one after the other on the same files, each into a new dataset:

- single: `shoal.ingest(folder, into=...)` in this process, with SHOAL_NUM_THREADS set to
  the largest worker count (the same CPUs as the widest Ray run);
- cluster start: `ray.init(num_cpus=max workers)` (a one-time cost per cluster);
- job overhead: `shoal.distributed.ingest` of 2 files with 1 worker (actor start, model
  load, Ray Data's planning, the commit: the fixed cost of every job);
- ray xN: `shoal.distributed.ingest(folder, num_workers=N)` (one CPU and one ONNX thread
  per worker) for each N in --workers.

Reported: seconds, documents/s, chunks/s, each Ray run's ratio to the single-process run
and to 1 worker (the scaling), the overhead, and per-worker documents/s, from which the
README's projection is made. Writes bench/results/distributed.json.
"""

from __future__ import annotations

import argparse
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
from ingest import write_corpus  # noqa: E402

MODEL = "local:all-MiniLM-L6-v2"


def main() -> None:
    """Run every system on the same files and report the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="SciFact documents")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    widest = max(counts)
    os.environ["SHOAL_NUM_THREADS"] = str(widest)

    import ray

    import shoal
    import shoal.distributed as sd

    work = Path(tempfile.mkdtemp(prefix="shoal-distributed-"))
    try:
        folder = work / "docs"
        docs = write_corpus(folder, args.n)
        small = work / "two"
        write_corpus(small, 2)
        shoal.embedder(MODEL).embed_query("warm up")  # builds and caches the ONNX graph

        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        report = shoal.ingest([folder], into=work / "single", embedder=MODEL, cache=False)
        single = time.perf_counter() - started
        rows.append(_row("single process", docs, report.chunks_added, single))
        print(rows[-1], flush=True)

        started = time.perf_counter()
        ray.init(num_cpus=widest, include_dashboard=False, log_to_driver=False)
        cluster_start = time.perf_counter() - started
        print(f"cluster start {cluster_start:.1f} s", flush=True)

        started = time.perf_counter()
        sd.ingest([small], into=work / "tiny", embedder=MODEL, cache=False, num_workers=1)
        overhead = time.perf_counter() - started
        print(f"a 2-file job {overhead:.1f} s", flush=True)

        for count in counts:
            started = time.perf_counter()
            report = sd.ingest(
                [folder], into=work / f"ray{count}", embedder=MODEL, cache=False,
                num_workers=count,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            rows.append(_row(f"ray x{count}", docs, report.chunks_added, seconds))
            print(rows[-1], flush=True)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = rows[0]["seconds"]
    one = next((r["seconds"] for r in rows if r["system"] == "ray x1"), None)
    for row in rows:
        row["vs_single"] = round(base / row["seconds"], 3)
        row["vs_one_worker"] = round(one / row["seconds"], 3) if one else None
    for row, count in zip(rows[1:], counts, strict=True):
        row["docs_per_s_per_worker"] = round(row["docs_per_s"] / count, 2)
    print_table(
        ["system", "docs", "chunks", "seconds", "docs/s", "chunks/s", "vs single", "vs 1 worker"],
        [
            [r["system"], r["docs"], r["chunks"], r["seconds"], r["docs_per_s"],
             r["chunks_per_s"], f"{r['vs_single']}x", r["vs_one_worker"]]
            for r in rows
        ],
    )  # fmt: skip
    print(f"cluster start {cluster_start:.1f} s; a 2-file job {overhead:.1f} s (per-job overhead)")
    save_report(
        "distributed",
        "bench/distributed.py",
        documents=args.n,
        model=MODEL,
        rows=rows,
        cluster_start_seconds=round(cluster_start, 2),
        job_overhead_seconds=round(overhead, 2),
    )


def _row(system: str, docs: int, chunks: int, seconds: float) -> dict[str, Any]:
    return {
        "system": system,
        "docs": docs,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "docs_per_s": round(docs / seconds, 2),
        "chunks_per_s": round(chunks / seconds, 2),
    }


if __name__ == "__main__":
    main()
