"""Ingest throughput with precomputed vectors: Shoal's ds.add vs LanceDB and Chroma, same run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/store_ingest.py [--n 100000] [--batch 10000] [--chroma-n 10000]
        [--repeat 3] [--quick]

Data: the first n WordNet 3.0 glosses, their vectors (all-MiniLM-L6-v2 int8, 384-d; the
cache bench/ann_libraries.py makes), ids "0".."n-1" and small metadata (`bucket` 0..9,
`pos`, `synset`), read in place from ../shared/data. Every system gets the data in the form
its API takes, prepared before the clock starts: Shoal Python lists and a float32 matrix,
LanceDB Arrow tables, Chroma lists. Each run writes to a new dataset in a temporary folder.

The clock runs from the first add until the first search after the last add returns and
has found the last row added: Shoal promises that a query never misses committed rows, so
time to searchable is the figure, and a search that misses the row is an error. Shoal adds
in calls of --batch rows and in one call of everything, with the ids it derives from each
row (the ordinary call), and in batches with explicit ids (which replace rows they name).
Raw LanceDB `table.add` gets the same batches (no index: its first search is a scan).
Chroma `collection.add` (hnsw space ip, its defaults otherwise) gets --chroma-n rows only,
its ingest being slow, in calls of at most its max batch size; its ratio is to LanceDB's
batched run. Default threads (all cores). Rounds alternate the systems; medians of
--repeat rounds.
Writes bench/results/store_ingest.json (--quick: store_ingest_quick.json) and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import shoal

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402
from _texts import wordnet_synsets  # noqa: E402
from ann_libraries import wordnet_vectors  # noqa: E402

K = 10
WORDNET_ROWS = 117_659


class Corpus:
    """The first n rows: texts, vectors, ids and metadata."""

    def __init__(self, n: int) -> None:
        synsets = wordnet_synsets(n)
        rng = np.random.default_rng(0)
        self.vectors = np.ascontiguousarray(wordnet_vectors(WORDNET_ROWS)[:n])
        self.texts = [s["text"] for s in synsets]
        self.ids = [str(i) for i in range(n)]
        self.metadatas = [
            {"bucket": int(b), "pos": s["pos"], "synset": s["_id"]}
            for b, s in zip(rng.integers(0, 10, n), synsets, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.ids)


def _batches(n: int, size: int) -> list[slice]:
    return [slice(at, min(at + size, n)) for at in range(0, n, size)]


def _clock(
    add: Callable[[slice], list[str]], search: Callable[[], list[str]], parts: list[slice]
) -> dict[str, float]:
    """Add every part, then search; the search must find the last id the adds returned."""
    start = time.perf_counter()
    for part in parts:
        ids = add(part)
    added = time.perf_counter()
    found = search()
    done = time.perf_counter()
    if ids[-1] not in found:
        raise RuntimeError(f"the first search after ingest missed the last row added ({ids[-1]})")
    return {
        "add_s": added - start,
        "first_search_ms": (done - added) * 1e3,
        "total_s": done - start,
        "rows_per_call": parts[0].stop - parts[0].start,
    }


def run_shoal(corpus: Corpus, batch: int, tmp: Path, *, explicit_ids: bool) -> dict[str, Any]:
    """Shoal `ds.add` in calls of `batch` rows, then one search for the last row.

    Without explicit ids (the ordinary call) Shoal derives each id from the row's content.
    """
    ds = shoal.open(str(tmp / "shoal"), embedder="local:all-MiniLM-L6-v2")

    def add(part: slice) -> list[str]:
        return ds.add(
            corpus.texts[part],
            metadatas=corpus.metadatas[part],
            embeddings=corpus.vectors[part],
            ids=corpus.ids[part] if explicit_ids else None,
        )

    def search() -> list[str]:
        return [hit.id for hit in ds.search(corpus.vectors[-1], k=K)]

    result = _clock(add, search, _batches(len(corpus), batch))
    if len(ds) != len(corpus):
        raise RuntimeError(f"shoal holds {len(ds)} rows, not {len(corpus)}")
    return result


def _arrow(corpus: Corpus, part: slice) -> Any:
    import pyarrow as pa

    vectors = corpus.vectors[part]
    metadatas = corpus.metadatas[part]
    return pa.table(
        {
            "id": corpus.ids[part],
            "text": corpus.texts[part],
            **{key: [m[key] for m in metadatas] for key in ("bucket", "pos", "synset")},
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.ravel()), vectors.shape[1]
            ),
        }
    )


def run_lancedb(corpus: Corpus, batch: int, tmp: Path) -> dict[str, Any]:
    """Raw LanceDB `table.add` of the same rows as Arrow tables, then one brute-force search."""
    import lancedb

    parts = _batches(len(corpus), batch)
    tables = {p.start: _arrow(corpus, p) for p in parts}  # made before the clock starts
    table = lancedb.connect(str(tmp / "lancedb")).create_table("bench", schema=tables[0].schema)

    def add(part: slice) -> list[str]:
        table.add(tables[part.start])
        return corpus.ids[part]

    def search() -> list[str]:
        query = table.search(corpus.vectors[-1]).distance_type("dot").limit(K)
        return query.select(["id", "_distance"]).to_arrow()["id"].to_pylist()

    return _clock(add, search, parts)


def run_chroma(corpus: Corpus, batch: int, tmp: Path) -> dict[str, Any]:
    """Chroma `collection.add` (hnsw space ip), then one search for the last row."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(str(tmp / "chroma"), Settings(anonymized_telemetry=False))
    collection = client.create_collection(
        "bench", embedding_function=None, configuration={"hnsw": {"space": "ip"}}
    )

    def add(part: slice) -> list[str]:
        collection.add(
            ids=corpus.ids[part],
            embeddings=corpus.vectors[part],
            metadatas=corpus.metadatas[part],
            documents=corpus.texts[part],
        )
        return corpus.ids[part]

    def search() -> list[str]:
        found = collection.query(query_embeddings=corpus.vectors[-1:], n_results=K, include=[])
        return list(found["ids"][0])

    return _clock(add, search, _batches(len(corpus), min(batch, client.get_max_batch_size())))


def main() -> None:
    """Time each system's ingest to searchable and report vectors/s and ratios to LanceDB."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"  # Chroma: no network calls from the benchmark
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per add call")
    parser.add_argument("--chroma-n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians kept")
    parser.add_argument("--systems", default="shoal,lancedb,chroma")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10k rows, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.n, args.batch, args.chroma_n, args.repeat = 10_000, 2_000, 2_000, 1
    systems = args.systems.split(",")
    corpus = Corpus(args.n)
    chroma_corpus = Corpus(min(args.chroma_n, args.n))
    # label, data, rows per add call, runner
    configs: list[tuple[str, Corpus, int, Callable[..., dict[str, Any]]]] = []
    for per_call in (args.batch, args.n):
        if "shoal" in systems:
            configs.append(("shoal", corpus, per_call, partial(run_shoal, explicit_ids=False)))
        if "shoal" in systems and per_call == args.batch:
            label = "shoal, explicit ids"
            configs.append((label, corpus, per_call, partial(run_shoal, explicit_ids=True)))
        if "lancedb" in systems:
            configs.append(("lancedb raw", corpus, per_call, run_lancedb))
    if "chroma" in systems:
        configs.append(("chroma", chroma_corpus, args.batch, run_chroma))
    runs: list[list[dict[str, Any]]] = [[] for _ in configs]
    for _round in range(args.repeat):
        for (label, data, per_call, runner), per_round in zip(configs, runs, strict=True):
            with tempfile.TemporaryDirectory(prefix="shoal-ingest-") as tmp:
                per_round.append(runner(data, per_call, Path(tmp)))
            rate = len(data) / per_round[-1]["total_s"]
            print(f"{label:20} {len(data):>7} rows, {per_call:>7} per call: {rate:8.0f} vectors/s")
    results = []
    for (label, data, per_call, _runner), per_round in zip(configs, runs, strict=True):
        stats = {key: statistics.median(r[key] for r in per_round) for key in per_round[0]}
        stats["vectors_per_s"] = len(data) / stats["total_s"]
        results.append({"system": label, "rows": len(data), "batch": per_call, **stats})
    # Chroma's ratio is to LanceDB's batched run (Chroma caps its rows per call lower).
    lance = {r["batch"]: r["vectors_per_s"] for r in results if r["system"] == "lancedb raw"}
    for r in results:
        if r["batch"] in lance:
            r["vs_lancedb"] = r["vectors_per_s"] / lance[r["batch"]]
    name = "store_ingest_quick" if args.quick else "store_ingest"
    save_report(name, "store_ingest", rounds=args.repeat, results=results)
    header = (
        "system",
        "rows",
        "rows per call",
        "add s",
        "first search ms",
        "vectors/s",
        "vs LanceDB",
    )
    print_table(
        header,
        (
            (r["system"], f"{r['rows']:,}", f"{r['rows_per_call']:,.0f}", f"{r['add_s']:.2f}",
             f"{r['first_search_ms']:.1f}", f"{r['vectors_per_s']:,.0f}",
             f"{r['vs_lancedb']:.2f}x" if "vs_lancedb" in r else "-")
            for r in results
        ),
    )  # fmt: skip


if __name__ == "__main__":
    main()
