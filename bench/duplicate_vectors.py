"""Identical vectors in the HNSW index: self-lookup errors, and what finding copies costs.

    .venv/bin/python bench/duplicate_vectors.py [--rows 20000] [--dims 64] [--block 500]
        [--build-rows 100000] [--build-dims 384]

Self-lookups: `--rows` random Gaussian vectors, a block of `--block` rows set to one
vector, 1,000 random rows and every block row searched with their own vector through
`Dataset.search_batch` (k=1, the built index, inline build); a lookup is wrong when the
hit's vector differs from the query. The same data through a bare `faiss.IndexHNSWFlat`
(same M, efConstruction, efSearch), which links copies into the graph, is the baseline.

Build: `--build-rows` x `--build-dims` random unit vectors (no copies), added in chunks of
1,024 as the store's builder does, to `HnswIndex` (which hashes each chunk to find copies)
and to a bare `faiss.IndexHNSWFlat`, alternating, 2 rounds each, one thread; rows/s.
Writes bench/results/duplicate_vectors.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["SHOAL_INDEX_BUILD"] = "inline"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shoal  # noqa: E402
from _report import print_table, save_report  # noqa: E402
from shoal.store._index import EF_CONSTRUCTION, EF_SEARCH, HnswIndex, M  # noqa: E402

CHUNK = 1024


def _data(rows: int, dims: int, block: int) -> np.ndarray:
    vectors = np.random.default_rng(2).standard_normal((rows, dims)).astype(np.float32)
    if block:
        start = rows // 3
        vectors[start : start + block] = vectors[start]
    return vectors


def _queries(rows: int, block: int) -> np.ndarray:
    picked = np.random.default_rng(3).choice(rows, 1_000, replace=False)
    start = rows // 3
    return np.r_[picked, start : start + block] if block else picked


def _wrong(vectors: np.ndarray, queries: np.ndarray, found: np.ndarray) -> int:
    return int(
        sum(not np.array_equal(vectors[f], vectors[q]) for f, q in zip(found, queries, strict=True))
    )


def self_lookups(rows: int, dims: int, block: int) -> dict[str, int]:
    """Wrong self-lookups through the store and through a bare faiss graph."""
    vectors, queries = _data(rows, dims, block), _queries(rows, block)
    with tempfile.TemporaryDirectory() as folder:
        ds = shoal.open(Path(folder) / "ds", embedder=f"hash:{dims}")
        ids = [f"r{i}" for i in range(rows)]
        ds.add([f"t{i}" for i in range(rows)], embeddings=vectors, ids=ids)
        ds.wait_for_index()
        hits = ds.search_batch(vectors[queries], k=1)
        shoal_found = np.array([int(h[0].id[1:]) for h in hits])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    bare = faiss.IndexHNSWFlat(dims, M, faiss.METRIC_INNER_PRODUCT)
    bare.hnsw.efConstruction = EF_CONSTRUCTION
    bare.add(unit)
    bare.hnsw.efSearch = EF_SEARCH
    _, labels = bare.search(unit[queries], 1)
    return {
        "queries": len(queries),
        "shoal_wrong": _wrong(vectors, queries, shoal_found),
        "faiss_wrong": _wrong(vectors, queries, labels[:, 0]),
    }


def build_rates(rows: int, dims: int, rounds: int = 2) -> dict[str, list[float]]:
    """Rows/s of adding chunks to HnswIndex (finds copies) and to bare faiss."""
    vectors = np.random.default_rng(4).standard_normal((rows, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rates: dict[str, list[float]] = {"HnswIndex": [], "faiss": []}
    for _ in range(rounds):
        for name in rates:
            if name == "HnswIndex":
                index = HnswIndex(dims, "cosine")
                add = index.add
            else:
                bare = faiss.IndexHNSWFlat(dims, M, faiss.METRIC_INNER_PRODUCT)
                bare.hnsw.efConstruction = EF_CONSTRUCTION
                add = bare.add
            start = time.perf_counter()
            for offset in range(0, rows, CHUNK):
                add(vectors[offset : offset + CHUNK])
            rates[name].append(rows / (time.perf_counter() - start))
            print(name, f"{rates[name][-1]:,.0f} rows/s", flush=True)
    return rates


def main() -> None:
    """Run both measurements and report them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--build-rows", type=int, default=100_000)
    parser.add_argument("--build-dims", type=int, default=384)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    lookups = {
        "with block": self_lookups(args.rows, args.dims, args.block),
        "no block": self_lookups(args.rows, args.dims, 0),
    }
    rates = build_rates(args.build_rows, args.build_dims)
    save_report("duplicate_vectors", "duplicate_vectors", args=vars(args), lookups=lookups,
                build_rows_per_s=rates)  # fmt: skip
    print_table(
        ["data", "self-lookups", "wrong (Shoal)", "wrong (bare faiss HNSW)"],
        [(k, v["queries"], v["shoal_wrong"], v["faiss_wrong"]) for k, v in lookups.items()],
    )
    best = {name: max(values) for name, values in rates.items()}
    print_table(
        ["index build", "rows/s (best of 2)", "vs bare faiss"],
        [(name, f"{rate:,.0f}", f"{rate / best['faiss']:.2f}x") for name, rate in best.items()],
    )


if __name__ == "__main__":
    main()
