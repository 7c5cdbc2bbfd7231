"""Which HNSW library should back the store's vector index: faiss, hnswlib or usearch?

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/ann_libraries.py [--n 117659] [--queries 1000]
    .venv/bin/python bench/ann_libraries.py --filtered [--filtered-n 100000] [--queries 1000]

Vectors: WordNet 3.0 glosses (../shared/data/wordnet, read in place) embedded with the
default local model (all-MiniLM-L6-v2, int8, normalised, 384-d), cached under Shoal's
cache folder. Queries: 1,000 glosses held out of the index. Ground truth: exact top-10
by inner product (numpy), which is also the baseline. Every library gets the same graph
parameters (M=16, ef_construction=200) and the same threads (all cores) for building;
queries are timed one at a time (the store's interactive path) and as one batch.
Writes bench/results/ann_libraries.json and prints BENCHMARKS.md rows.

--filtered runs only the filtered-search comparison instead: faiss IndexHNSWFlat with an
IDSelectorBitmap (SearchParametersHNSW) against hnswlib's `filter=` callback and exact
search over the filtered rows, on 100,000 of the same vectors with a random filter that
keeps 10% of them; M=16, ef_construction=64, one thread for building and searching;
recall@10 against the exact filtered top-10. Writes bench/results/ann_libraries_filtered.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import save_report  # noqa: E402
from _texts import wordnet_glosses  # noqa: E402

K = 10
M = 16
EF_CONSTRUCTION = 200
EF_SEARCH = (32, 64, 128)


def wordnet_vectors(n: int) -> np.ndarray:
    """The first n WordNet glosses embedded by the default model, cached as .npy."""
    from shoal.embeddings import embedder
    from shoal.settings import cache_dir

    cached = cache_dir() / "bench" / f"wordnet-minilm-int8-{n}.npy"
    if cached.is_file():
        return np.load(cached)
    texts = wordnet_glosses(n)
    start = time.perf_counter()
    vectors = embedder().embed_documents(texts)
    print(f"embedded {len(texts)} glosses in {time.perf_counter() - start:.0f}s", flush=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def exact_top_k(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact top-K ids by inner product, in blocks."""
    out = np.empty((len(queries), K), dtype=np.int64)
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ base.T
        part = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
        out[start : start + 256] = np.take_along_axis(part, order, axis=1)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-K found."""
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


class Library:
    """One ANN library behind the few calls the benchmark needs."""

    name = ""

    def build(self, base: np.ndarray) -> None: ...
    def add(self, vectors: np.ndarray, start_id: int) -> None: ...
    def set_ef(self, ef: int) -> None: ...
    def search_one(self, query: np.ndarray) -> np.ndarray: ...
    def search_many(self, queries: np.ndarray) -> np.ndarray: ...
    def save(self, path: str) -> None: ...


class Faiss(Library):
    name = "faiss IndexHNSWFlat"

    def build(self, base: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(base)

    def add(self, vectors: np.ndarray, start_id: int) -> None:
        self.index.add(vectors)

    def set_ef(self, ef: int) -> None:
        self.index.hnsw.efSearch = ef

    def search_one(self, query: np.ndarray) -> np.ndarray:
        return self.index.search(query[None, :], K)[1][0]

    def search_many(self, queries: np.ndarray) -> np.ndarray:
        return self.index.search(queries, K)[1]

    def save(self, path: str) -> None:
        import faiss

        faiss.write_index(self.index, path)


class Hnswlib(Library):
    name = "hnswlib"

    def build(self, base: np.ndarray) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=base.shape[1])
        self.index.init_index(max_elements=len(base) + 10_000, ef_construction=EF_CONSTRUCTION, M=M)
        self.index.add_items(base, np.arange(len(base)))

    def add(self, vectors: np.ndarray, start_id: int) -> None:
        self.index.add_items(vectors, np.arange(start_id, start_id + len(vectors)))

    def set_ef(self, ef: int) -> None:
        self.index.set_ef(ef)

    def search_one(self, query: np.ndarray) -> np.ndarray:
        return self.index.knn_query(query, k=K, num_threads=1)[0][0]

    def search_many(self, queries: np.ndarray) -> np.ndarray:
        return self.index.knn_query(queries, k=K)[0]

    def save(self, path: str) -> None:
        self.index.save_index(path)


class Usearch(Library):
    name = "usearch"

    def build(self, base: np.ndarray) -> None:
        from usearch.index import Index

        self.index = Index(
            ndim=base.shape[1], metric="ip", dtype="f32", connectivity=M,
            expansion_add=EF_CONSTRUCTION,
        )  # fmt: skip
        self.index.add(np.arange(len(base)), base)

    def add(self, vectors: np.ndarray, start_id: int) -> None:
        self.index.add(np.arange(start_id, start_id + len(vectors)), vectors)

    def set_ef(self, ef: int) -> None:
        self.index.expansion_search = ef

    def search_one(self, query: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.search(query, K).keys)

    def search_many(self, queries: np.ndarray) -> np.ndarray:
        return np.asarray(self.index.search(queries, K).keys)

    def save(self, path: str) -> None:
        self.index.save(path)


def _latencies(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> tuple[float, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.99 * (len(times) - 1))] * 1e3


FILTER_FRACTION = 0.1
FILTERED_EF_CONSTRUCTION = 64
FILTERED_EF_SEARCH = (64, 128, 256)


def _timed(
    search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, truth: np.ndarray
) -> dict[str, float]:
    """Recall@10 and p50/p95 latency of one-at-a-time queries."""
    search(queries[0])  # warm-up
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(search(q))
        times.append(time.perf_counter() - start)
    return {
        "recall@10": recall(np.stack(found), truth),
        "p50_ms": float(np.percentile(times, 50)) * 1e3,
        "p95_ms": float(np.percentile(times, 95)) * 1e3,
    }


def filtered_comparison(vectors: np.ndarray, n_base: int, n_queries: int) -> None:
    """faiss IDSelectorBitmap vs hnswlib filter callback vs exact search, 10% of rows allowed."""
    import faiss
    import hnswlib

    faiss.omp_set_num_threads(1)
    try:  # exact search's matrix-vector products: one BLAS thread too
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        print("threadpoolctl is not installed: numpy may use several threads", flush=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(vectors))
    queries = np.ascontiguousarray(vectors[order[:n_queries]])
    base = np.ascontiguousarray(vectors[order[n_queries:]][:n_base])
    n, dim = base.shape
    mask = rng.random(n) < FILTER_FRACTION
    allowed = np.flatnonzero(mask)
    subset = np.ascontiguousarray(base[allowed])
    truth = exact_top_k(base, queries)
    truth_filtered = allowed[exact_top_k(subset, queries)]

    start = time.perf_counter()
    flat = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
    flat.hnsw.efConstruction = FILTERED_EF_CONSTRUCTION
    flat.add(base)
    faiss_build_s = time.perf_counter() - start
    start = time.perf_counter()
    graph = hnswlib.Index(space="ip", dim=dim)
    graph.init_index(max_elements=n, ef_construction=FILTERED_EF_CONSTRUCTION, M=M)
    graph.set_num_threads(1)
    graph.add_items(base, np.arange(n))
    hnswlib_build_s = time.perf_counter() - start
    print(f"built: faiss {faiss_build_s:.1f}s, hnswlib {hnswlib_build_s:.1f}s", flush=True)

    bitmap = np.packbits(mask, bitorder="little")  # kept alive: the selector points into it
    selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))

    def allow(label: int) -> bool:
        return bool(mask[label])

    rows: list[dict[str, Any]] = []

    def measure(method: str, ef: int | str, filtered: bool, search: Callable[..., Any]) -> None:
        row = {"method": method, "ef": ef, "filter": "10%" if filtered else "none"}
        row |= _timed(search, queries, truth_filtered if filtered else truth)
        rows.append(row)
        print(json.dumps(row), flush=True)

    for ef in EF_SEARCH[1:]:
        flat.hnsw.efSearch = ef
        graph.set_ef(ef)
        measure("faiss IndexHNSWFlat", ef, False, lambda q: flat.search(q[None], K)[1][0])
        measure("hnswlib", ef, False, lambda q: graph.knn_query(q, K)[0][0])
    for ef in FILTERED_EF_SEARCH:
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
        graph.set_ef(ef)
        measure(
            "faiss IndexHNSWFlat + IDSelectorBitmap", ef, True,
            lambda q, params=params: flat.search(q[None], K, params=params)[1][0],
        )  # fmt: skip
        measure(
            "hnswlib + filter callback", ef, True,
            lambda q: graph.knn_query(q, K, filter=allow)[0][0],
        )  # fmt: skip

    def top(scores: np.ndarray) -> np.ndarray:
        return np.argpartition(-scores, K)[:K]

    measure("exact, pre-gathered subset", "-", True, lambda q: allowed[top(subset @ q)])
    measure("exact, gather + subset", "-", True, lambda q: allowed[top(base[allowed] @ q)])
    measure("exact, all rows", "-", False, lambda q: top(base @ q))

    save_report(
        "ann_libraries_filtered",
        "ann_libraries_filtered",
        n_index=n,
        n_allowed=len(allowed),
        n_queries=len(queries),
        params={"M": M, "ef_construction": FILTERED_EF_CONSTRUCTION, "k": K, "threads": 1},
        build_s={"faiss": faiss_build_s, "hnswlib": hnswlib_build_s},
        rows=rows,
    )
    print(f"\n{n:,} vectors, filter keeps {len(allowed):,}; {len(queries)} queries, 1 thread")
    print("\n| method | ef | filter | recall@10 | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['ef']} | {r['filter']} | {r['recall@10']:.3f} | "
            f"{r['p50_ms']:.3f} | {r['p95_ms']:.3f} |"
        )


def main() -> None:
    """Build each index on the same vectors and compare recall, latency, build time and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=117_659)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--filtered", action="store_true", help="only the filtered comparison")
    parser.add_argument("--filtered-n", type=int, default=100_000, help="vectors indexed")
    args = parser.parse_args()
    vectors = wordnet_vectors(args.n)
    if args.filtered:
        filtered_comparison(vectors, args.filtered_n, args.queries)
        return
    rng = np.random.default_rng(0)
    order = rng.permutation(len(vectors))
    queries = np.ascontiguousarray(vectors[order[: args.queries]])
    base = np.ascontiguousarray(vectors[order[args.queries :]])
    extra, base = base[-1000:], base[:-1000]  # added after the build: the incremental path
    truth = exact_top_k(base, queries)

    def numpy_search(q: np.ndarray) -> np.ndarray:
        scores = base @ q
        return np.argpartition(-scores, K)[:K]

    p50, p99 = _latencies(numpy_search, queries[:200])
    rows: list[dict[str, Any]] = [
        {
            "library": "numpy exact (baseline)",
            "ef": "-",
            "recall@10": 1.0,
            "p50_ms": p50,
            "p99_ms": p99,
        }
    ]
    print(f"numpy exact: p50 {p50:.2f} ms", flush=True)
    for library in (Faiss(), Hnswlib(), Usearch()):
        start = time.perf_counter()
        library.build(base)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        library.add(extra, len(base))
        add_ms = (time.perf_counter() - start) * 1e3
        with tempfile.TemporaryDirectory() as tmp:
            library.save(f"{tmp}/index")
            size_mb = os.path.getsize(f"{tmp}/index") / 2**20
        for ef in EF_SEARCH:
            library.set_ef(ef)
            found = np.stack([library.search_one(q) for q in queries])
            p50, p99 = _latencies(library.search_one, queries)
            start = time.perf_counter()
            batch_found = library.search_many(queries)
            qps = len(queries) / (time.perf_counter() - start)
            row = {
                "library": library.name, "ef": ef, "recall@10": recall(found, truth),
                "recall@10_batch": recall(batch_found, truth), "p50_ms": p50, "p99_ms": p99,
                "batch_qps": qps, "build_s": build_s, "add_1000_ms": add_ms, "size_mb": size_mb,
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    save_report(
        "ann_libraries",
        "ann_libraries",
        n_index=len(base) + len(extra),
        n_queries=len(queries),
        params={"M": M, "ef_construction": EF_CONSTRUCTION, "k": K},
        rows=rows,
    )
    print(
        "\n| library | ef | recall@10 | p50 ms | p99 ms | batch QPS | build s | add 1k ms | size MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['library']} | {r['ef']} | {r['recall@10']:.3f} | {r['p50_ms']:.3f} | "
            f"{r['p99_ms']:.3f} | {r.get('batch_qps', float('nan')):.0f} | "
            f"{r.get('build_s', float('nan')):.1f} | {r.get('add_1000_ms', float('nan')):.0f} | "
            f"{r.get('size_mb', float('nan')):.0f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
