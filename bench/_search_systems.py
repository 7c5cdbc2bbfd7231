"""The systems bench/search.py compares, its workloads and their exact answers."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _texts import wordnet_glosses  # noqa: E402
from ann_libraries import wordnet_vectors  # noqa: E402

K = 10
M = 16
EF_CONSTRUCTION = 64
EF_SEARCH = (64, 128)
BUCKETS = 10
BUCKET = 3  # the filtered runs keep rows with bucket == 3
SOURCES = 100_000  # glosses in the corpus; rows past this are held out as queries
WORDNET_ROWS = 117_659
WARM_UP = 5


@dataclass
class Workload:
    """One size: the corpus, its metadata, the queries and their exact answers."""

    name: str
    base: np.ndarray
    texts: list[str]
    buckets: np.ndarray
    queries: np.ndarray
    truth: np.ndarray = field(init=False)
    truth_filtered: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.truth, self.truth_filtered = exact_top_k(self.base, self.queries, self.allowed)

    @property
    def allowed(self) -> np.ndarray:
        return self.buckets == BUCKET


def size_name(n: int) -> str:
    """100000 -> "100k", 1000000 -> "1m"."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _normalized(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def make_workload(n: int, n_queries: int, noise: float) -> Workload:
    """The first n WordNet vectors, or n synthetic ones past 100k; held-out queries."""
    vectors = wordnet_vectors(WORDNET_ROWS)
    glosses = wordnet_glosses(WORDNET_ROWS)
    rng = np.random.default_rng(0)
    held_out = SOURCES + rng.choice(len(vectors) - SOURCES, n_queries, replace=False)
    queries = np.ascontiguousarray(vectors[held_out])
    if n <= SOURCES:
        base, texts = np.ascontiguousarray(vectors[:n]), glosses[:n]
    else:
        sigma = noise / np.sqrt(vectors.shape[1])
        base = np.empty((n, vectors.shape[1]), dtype=np.float32)
        for start in range(0, n, SOURCES):
            src = vectors[np.arange(start, min(start + SOURCES, n)) % SOURCES]
            base[start : start + len(src)] = _normalized(src + rng.normal(0, sigma, src.shape))
        queries = _normalized(queries + rng.normal(0, sigma, queries.shape))
        texts = [glosses[i % SOURCES] for i in range(n)]
    buckets = rng.integers(0, BUCKETS, n)
    return Workload(size_name(n), base, texts, buckets, queries)


def exact_top_k(
    base: np.ndarray, queries: np.ndarray, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-K row numbers by inner product, over all rows and over the allowed rows."""
    best = [np.full((len(queries), K), -np.inf, np.float32) for _ in range(2)]
    ids = [np.zeros((len(queries), K), np.int64) for _ in range(2)]
    for start in range(0, len(base), 50_000):
        scores = queries @ base[start : start + 50_000].T
        masked = np.where(allowed[start : start + 50_000], scores, -np.inf)
        for j, s in enumerate((scores, masked)):
            part = np.argpartition(-s, K, axis=1)[:, :K]
            both_scores = np.hstack([best[j], np.take_along_axis(s, part, axis=1)])
            both_ids = np.hstack([ids[j], part + start])
            keep = np.argsort(-both_scores, axis=1, kind="stable")[:, :K]
            best[j] = np.take_along_axis(both_scores, keep, axis=1)
            ids[j] = np.take_along_axis(both_ids, keep, axis=1)
    return ids[0], ids[1]


class System:
    """One system behind the few calls the benchmark needs."""

    name = ""

    def __init__(self) -> None:
        self.build_stats: dict[str, Any] = {}

    def build(self, w: Workload, tmp: Path) -> None: ...
    def settings(self) -> list[str]:
        return [""]

    def configure(self, setting: str) -> None: ...
    def search(self, query: np.ndarray, filtered: bool) -> list[int]: ...
    def query_limit(self, setting: str) -> int | None:
        """At most this many queries for a setting (a slow exact scan), else all."""
        return None


class Faiss(System):
    name = "faiss IndexHNSWFlat"

    def build(self, w: Workload, tmp: Path) -> None:
        import faiss

        start = time.perf_counter()
        self.index = faiss.IndexHNSWFlat(w.base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(w.base)
        self.build_stats["build_s"] = time.perf_counter() - start
        self.bitmap = np.packbits(w.allowed, bitorder="little")  # the selector points into it
        self.selector = faiss.IDSelectorBitmap(len(w.base), faiss.swig_ptr(self.bitmap))

    def settings(self) -> list[str]:
        return [f"ef={ef}" for ef in EF_SEARCH]

    def configure(self, setting: str) -> None:
        ef = int(setting.removeprefix("ef="))
        self.searchers = {f: self.searcher(ef, f) for f in (False, True)}

    def search(self, query: np.ndarray, filtered: bool) -> list[int]:
        return self.searchers[filtered](query)

    def searcher(self, ef: int, filtered: bool) -> Callable[[np.ndarray], list[int]]:
        """A search at a given efSearch, leaving the configured one alone."""
        import faiss

        params = faiss.SearchParametersHNSW(sel=self.selector if filtered else None, efSearch=ef)
        return lambda q: self.index.search(q[None], K, params=params)[1][0].tolist()


class Shoal(System):
    name = "shoal Dataset.search"

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch

    def build(self, w: Workload, tmp: Path) -> None:
        import shoal

        start = time.perf_counter()
        self.ds = shoal.open(str(tmp / "shoal"), embedder="local:all-MiniLM-L6-v2")
        for at in range(0, len(w.base), self.batch):
            end = min(at + self.batch, len(w.base))
            self.ds.add(
                w.texts[at:end],
                metadatas=[{"bucket": int(b)} for b in w.buckets[at:end]],
                embeddings=w.base[at:end],
                ids=[str(i) for i in range(at, end)],
            )
        self.build_stats["add_s"] = time.perf_counter() - start
        mark = time.perf_counter()
        self.ds.index_field("bucket")
        self.build_stats["index_field_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self.ds.search(w.queries[0], k=K)
        self.build_stats["first_search_s"] = time.perf_counter() - mark
        self.build_stats["build_s"] = time.perf_counter() - start
        if len(self.ds) != len(w.base):
            raise RuntimeError(f"shoal holds {len(self.ds)} rows, not {len(w.base)}")

    def search(self, query: np.ndarray, filtered: bool) -> list[int]:
        where = {"bucket": BUCKET} if filtered else None
        return [int(hit.id) for hit in self.ds.search(query, k=K, where=where)]


class LanceDB(System):
    name = "lancedb"

    def __init__(self, index_budget_s: float, previous: dict[int, float], flat_queries: int):
        super().__init__()
        self.budget = index_budget_s
        self.previous = previous  # rows -> IVF_HNSW_SQ build seconds, from smaller sizes
        self.flat_queries = flat_queries

    def build(self, w: Workload, tmp: Path) -> None:
        import lancedb
        import pyarrow as pa
        from lancedb.index import Bitmap

        n, dim = w.base.shape
        start = time.perf_counter()
        db = lancedb.connect(str(tmp / "lancedb"))
        self.table = None
        for at in range(0, n, SOURCES):
            end = min(at + SOURCES, n)
            flat = pa.array(w.base[at:end].ravel(), type=pa.float32())
            data = pa.table({
                "id": pa.array(np.arange(at, end)),
                "text": pa.array(w.texts[at:end]),
                "bucket": pa.array(w.buckets[at:end]),
                "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
            })  # fmt: skip
            if self.table is None:
                self.table = db.create_table("bench", data)
            else:
                self.table.add(data)
        self.build_stats["ingest_s"] = time.perf_counter() - start
        mark = time.perf_counter()
        self.table.create_index("bucket", config=Bitmap())
        self.build_stats["bitmap_index_s"] = time.perf_counter() - mark
        self.partitions = max(2, n // 200_000)
        self.n = n
        self.indexed = False

    def settings(self) -> list[str]:
        names = ["flat (brute force)"]
        if self.previous:
            rows, seconds = max(self.previous.items())
            estimate = seconds * self.n / rows * 1.2
            if estimate > self.budget:
                self.build_stats["ivf_hnsw_sq_skipped"] = (
                    f"build estimated at {estimate:.0f}s from {seconds:.0f}s at "
                    f"{size_name(rows)} rows (over --lance-index-budget {self.budget:.0f}s)"
                )
                return names
        return names + [f"IVF_HNSW_SQ ef={ef}" for ef in EF_SEARCH]

    def configure(self, setting: str) -> None:
        self.setting = setting
        if setting.startswith("IVF") and not self.indexed:
            from lancedb.index import IvfHnswSq

            start = time.perf_counter()
            config = IvfHnswSq(
                distance_type="dot", num_partitions=self.partitions, m=M,
                ef_construction=EF_CONSTRUCTION,
            )  # fmt: skip
            self.table.create_index("vector", config=config)
            seconds = time.perf_counter() - start
            self.build_stats["ivf_hnsw_sq_s"] = seconds
            self.build_stats["ivf_partitions"] = self.partitions
            self.previous[self.n] = seconds
            self.indexed = True

    def query_limit(self, setting: str) -> int | None:
        return self.flat_queries if setting.startswith("flat") and self.n > SOURCES else None

    def search(self, query: np.ndarray, filtered: bool) -> list[int]:
        q = self.table.search(query).distance_type("dot").limit(K).select(["id", "_distance"])
        if self.setting.startswith("IVF"):
            q = q.nprobes(self.partitions).ef(int(self.setting.split("ef=")[1]))
        else:
            q = q.bypass_vector_index()
        if filtered:
            q = q.where(f"bucket = {BUCKET}", prefilter=True)
        return q.to_arrow()["id"].to_pylist()


class Chroma(System):
    name = "chroma HNSW"

    def build(self, w: Workload, tmp: Path) -> None:
        import chromadb
        from chromadb.config import Settings

        start = time.perf_counter()
        self.path = str(tmp / "chroma")
        self.client = chromadb.PersistentClient(self.path, Settings(anonymized_telemetry=False))
        hnsw = {"space": "ip", "max_neighbors": M, "ef_construction": EF_CONSTRUCTION}
        hnsw |= {"ef_search": EF_SEARCH[0], "num_threads": 1}
        self.collection = self.client.create_collection(
            "bench", embedding_function=None, configuration={"hnsw": hnsw}
        )
        batch = self.client.get_max_batch_size()
        for at in range(0, len(w.base), batch):
            end = min(at + batch, len(w.base))
            self.collection.add(
                ids=[str(i) for i in range(at, end)],
                embeddings=w.base[at:end],
                metadatas=[{"bucket": int(b)} for b in w.buckets[at:end]],
                documents=w.texts[at:end],
            )
        self.build_stats["ingest_s"] = time.perf_counter() - start
        self.build_stats["vectors_per_s"] = len(w.base) / self.build_stats["ingest_s"]

    def settings(self) -> list[str]:
        return [f"ef={ef}" for ef in EF_SEARCH]

    def configure(self, setting: str) -> None:
        import chromadb
        from chromadb.config import Settings

        ef = int(setting.removeprefix("ef="))
        if ef == self.collection.configuration_json["hnsw"]["ef_search"]:
            return
        # A loaded index keeps its ef_search; only a new client reads the modified one.
        self.collection.modify(configuration={"hnsw": {"ef_search": ef}})
        self.client.clear_system_cache()
        self.client = chromadb.PersistentClient(self.path, Settings(anonymized_telemetry=False))
        self.collection = self.client.get_collection("bench")

    def search(self, query: np.ndarray, filtered: bool) -> list[int]:
        where = {"bucket": BUCKET} if filtered else None
        found = self.collection.query(
            query_embeddings=query[None], n_results=K, where=where, include=[]
        )
        return [int(i) for i in found["ids"][0]]
