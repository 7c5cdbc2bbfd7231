"""Shoal's persistent BM25 index against Lance's INVERTED index: build, catch-up after an
append, and cold and warm queries.

    .venv/bin/python bench/keyword_index.py [--rows 100000] [--append 1000] [--queries 100]

Texts: the WordNet glosses `bench/scale.py` caches (~/.cache/shoal-bench/scale-<rows>-200/
texts.json: run it once at that size first). Shoal: a dataset of those texts (their cached
vectors, so nothing is embedded); its keyword index built and saved
(`View.refresh_keywords(save=True)`), then `--append` more rows added and the index caught
up and saved again. Lance: a table of (id, text), `create_scalar_index("text", "INVERTED")`,
the same rows appended, then `optimize.optimize_indices()` (incremental) and, for
comparison, a full rebuild (`replace=True`). Queries: `--queries` glosses' first four words;
warm = median over them in one process after a first pass; cold = a new process that opens
the dataset and runs one query (median of 3, from the import of `shoal` or `lance` on: each
imports pyarrow and its storage layer lazily or eagerly, so imports are part of the cost). Each
query's top 10 is compared with the other system's (overlap@10: the two rank differently,
Shoal with Elasticsearch's English analyser and Lucene's BM25).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402

CACHE = Path.home() / ".cache" / "shoal-bench"

COLD_SHOAL = """
import json, sys, time
t1 = time.perf_counter()
import shoal
hits = shoal.open(sys.argv[1]).search(sys.argv[2], mode="keyword", k=10)
assert hits
print(json.dumps({"seconds": time.perf_counter() - t1}))
"""

COLD_LANCE = """
import json, sys, time
t1 = time.perf_counter()
import lance
found = lance.dataset(sys.argv[1]).to_table(full_text_query=sys.argv[2], limit=10, columns=["id"])
assert found.num_rows
print(json.dumps({"seconds": time.perf_counter() - t1}))
"""


def _cold(code: str, path: Path, query: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", code, str(path), query], capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        times.append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    return statistics.median(times)


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _warm(search: Any, queries: list[str]) -> tuple[float, list[list[str]]]:
    for query in queries:
        search(query)
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        found.append(search(query))
        times.append(time.perf_counter() - start)
    return statistics.median(times), found


def _shoal(folder: Path, texts: list[str], vectors: np.ndarray, extra: int, queries: list[str]):
    import shoal

    path = folder / "shoal"
    n = len(texts) - extra
    ds = shoal.open(path, embedder=f"hash:{vectors.shape[1]}")
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        ds.add(texts[start:stop], ids=[f"r{i}" for i in range(start, stop)],
               embeddings=vectors[start:stop])  # fmt: skip
    view = ds._view

    def refresh() -> None:
        lance = ds._current()
        with view.lock:
            view.sync(lance)
            view.refresh_keywords(lance, save=True)

    build = _timed(refresh)
    ds.add(texts[n:], ids=[f"r{i}" for i in range(n, len(texts))], embeddings=vectors[n:])
    catch_up = _timed(refresh)
    warm, found = _warm(lambda q: [h.id for h in ds.search(q, mode="keyword", k=10)], queries)
    files = sum(f.stat().st_size for f in (path / "_shoal" / "keyword").rglob("*") if f.is_file())
    cold = _cold(COLD_SHOAL, path, queries[0])
    return {"build": build, "catch_up": catch_up, "warm_p50": warm, "cold": cold,
            "bytes": files}, found  # fmt: skip


ENGLISH = {"base_tokenizer": "simple", "language": "English", "stem": True,
           "remove_stop_words": True, "lower_case": True}  # fmt: skip


def _lance(folder: Path, texts: list[str], extra: int, queries: list[str], options: dict[str, Any]):
    import lance
    import pyarrow as pa

    path = folder / f"lance-{len(options)}"
    n = len(texts) - extra

    def table(start: int, stop: int) -> pa.Table:
        ids = [f"r{i}" for i in range(start, stop)]
        return pa.table({"id": ids, "text": texts[start:stop]})

    ds = lance.write_dataset(table(0, n), path)
    build = _timed(lambda: ds.create_scalar_index("text", index_type="INVERTED", **options))
    ds = lance.write_dataset(table(n, len(texts)), path, mode="append")

    def search(query: str) -> list[str]:
        found = ds.to_table(full_text_query=query, limit=10, columns=["id"])
        return list(found.column("id").to_pylist())

    unindexed, _ = _warm(search, queries)  # the appended rows searched without an index
    optimize = _timed(lambda: ds.optimize.optimize_indices())
    ds = lance.dataset(path)
    warm, found = _warm(search, queries)
    rebuild = _timed(
        lambda: ds.create_scalar_index("text", index_type="INVERTED", replace=True, **options)
    )
    index_bytes = sum(f.stat().st_size for f in (path / "_indices").rglob("*") if f.is_file())
    cold = _cold(COLD_LANCE, path, queries[0])
    return {"build": build, "catch_up": optimize, "rebuild": rebuild, "warm_p50": warm,
            "warm_p50_unindexed_tail": unindexed, "cold": cold, "bytes": index_bytes}, found  # fmt: skip


def main() -> None:
    """Measure both indexes on the same texts and print the BENCHMARKS.md table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--append", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    source = CACHE / f"scale-{args.rows}-200"
    texts = json.loads((source / "texts.json").read_text())[: args.rows]
    vectors = np.load(source / "vectors.npy", mmap_mode="r")[: args.rows]
    picks = np.random.default_rng(0).choice(len(texts), args.queries, replace=False)
    queries = [" ".join(texts[i].split()[:4]) for i in picks.tolist()]
    folder = Path(tempfile.mkdtemp(prefix="keyword-index-"))
    try:
        shoal, shoal_found = _shoal(folder, texts, np.asarray(vectors), args.append, queries)
        lance, lance_found = _lance(folder, texts, args.append, queries, {})
        english, english_found = _lance(folder, texts, args.append, queries, ENGLISH)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def overlap(other: list[list[str]]) -> float:
        return statistics.mean(
            len(set(a) & set(b)) / max(1, min(len(a), len(b)))
            for a, b in zip(shoal_found, other, strict=True)
        )

    lance["overlap_at_10"], english["overlap_at_10"] = overlap(lance_found), overlap(english_found)
    save_report("keyword_index", "persistent BM25 vs Lance INVERTED", rows=args.rows,
                append=args.append, queries=args.queries, shoal=shoal, lance=lance,
                lance_english=english)  # fmt: skip

    def row(name: str, shown: Any) -> tuple[str, str, str, str]:
        return (name, shown(shoal), shown(lance), shown(english))

    rows = [
        row("build, s", lambda r: f"{r['build']:.2f}"),
        row(f"catch up after +{args.append:,} rows (and save), s",
            lambda r: f"{r['catch_up']:.3f}" + (f" (rebuild {r['rebuild']:.2f})" if "rebuild" in r else "")),
        row("warm query p50, ms", lambda r: f"{r['warm_p50'] * 1e3:.2f}" + (
            f" ({r['warm_p50_unindexed_tail'] * 1e3:.2f} new rows unindexed)" if "rebuild" in r else "")),
        row("cold import + open + query, s", lambda r: f"{r['cold']:.3f}"),
        row("index on disk, MiB", lambda r: f"{r['bytes'] / 2**20:.1f}"),
        row("top-10 overlap with Shoal's", lambda r: f"{r.get('overlap_at_10', 1.0):.2f}"),
    ]  # fmt: skip
    print(f"\n{args.rows:,} rows:")
    print_table(["figure", "Shoal BM25", "Lance INVERTED", "Lance INVERTED, English"], rows)


if __name__ == "__main__":
    main()
