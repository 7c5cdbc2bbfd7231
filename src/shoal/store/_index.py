"""The derived HNSW index (faiss) over a prefix of a snapshot's positions, and its file.

faiss was chosen over hnswlib and usearch by `bench/ann_libraries.py`: the same speed
and recall unfiltered, and its filter (an `IDSelectorBitmap`) runs in C++, where
hnswlib calls back into Python for every candidate (8x slower at a 10% filter).

The index is a cache: it is never the only copy of a vector. Its file records the
dataset version it covers and the rowid of every position, so a reopened dataset can
check it against Lance and catch up, or drop it and rebuild.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import faiss
import numpy as np

from shoal._atomic import atomic_write
from shoal.types import Metric

__all__ = ["HnswIndex", "IndexFile"]

_log = logging.getLogger("shoal.store")
_FORMAT = 1
M = 16
EF_CONSTRUCTION = 64
EF_SEARCH = 64


class HnswIndex:
    """An HNSW graph over positions 0..count-1 of a snapshot."""

    def __init__(self, dimensions: int, metric: Metric, index: faiss.Index | None = None) -> None:
        self.dimensions = dimensions
        self.metric = metric
        if index is None:
            kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexHNSWFlat(dimensions, M, kind)
            index.hnsw.efConstruction = EF_CONSTRUCTION
        self._index = index

    @property
    def count(self) -> int:
        """How many positions the index covers (a prefix of the snapshot)."""
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors for the next positions."""
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(
        self, query: np.ndarray, k: int, *, ef: int, bitmap: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k positions and scores; `bitmap` (little-endian packed bits) allows positions."""
        labels, scores = self.search_many(query.reshape(1, -1), k, ef=ef, bitmap=bitmap)
        found = labels[0] >= 0
        return labels[0][found], scores[0][found]

    def search_many(
        self, queries: np.ndarray, k: int, *, ef: int, bitmap: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, scores) of each query row, (m, k) each; -1 where fewer were found."""
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(ef, k)
        selector = None
        if bitmap is not None:
            if len(bitmap) * 8 < self.count:
                raise ValueError("the filter bitmap is shorter than the index")
            # params holds a bare pointer: `selector` must stay referenced through the search.
            selector = faiss.IDSelectorBitmap(self.count, faiss.swig_ptr(bitmap))
            params.sel = selector
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        distances, labels = self._index.search(queries, k, params=params)
        del selector
        if self.metric == "l2":
            distances = np.sqrt(np.maximum(distances, 0))
        return labels.astype(np.int64), distances.astype(np.float32)

    def matches(self, vectors: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """For each position, whether the index holds exactly `vectors[position]`."""
        result = np.zeros(len(positions), dtype=bool)
        chunk = 65_536
        for start in range(0, self.count, chunk):
            count = min(chunk, self.count - start)
            inside = (positions >= start) & (positions < start + count)
            if not inside.any():
                continue
            stored = self._index.reconstruct_n(start, count)
            local = positions[inside] - start
            result[inside] = (stored[local] == vectors[positions[inside]]).all(axis=1)
        return result

    def to_array(self) -> np.ndarray:
        """The index serialised by faiss, as a uint8 array (no copy into bytes)."""
        serialized: np.ndarray = faiss.serialize_index(self._index)
        return serialized

    @classmethod
    def from_array(cls, data: np.ndarray, dimensions: int, metric: Metric) -> HnswIndex:
        """Load an index written by `to_array`; ValueError if it does not fit."""
        index = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        if index.d != dimensions:
            raise ValueError(f"index has {index.d} dimensions, dataset {dimensions}")
        return cls(dimensions, metric, index)


class IndexFile:
    """The file beside a dataset that holds its index, covered version and position rowids."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, index: HnswIndex, *, version: int, rowids: np.ndarray) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        meta = {"format": _FORMAT, "version": version, "metric": index.metric, "count": index.count}
        header = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        blob = index.to_array()

        def write(path: str) -> None:
            # Straight to the file: at 1M x 384 the index is 1.6 GB, too big to copy around.
            with open(path, "wb") as handle:
                np.savez(handle, meta=header, rowids=rowids[: index.count], index=blob)

        atomic_write(self.path, write)

    def load(self, dimensions: int, metric: Metric) -> tuple[HnswIndex, int, np.ndarray] | None:
        """The saved index, its version and position rowids; None if missing, damaged or unfit."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                rowids = np.asarray(data["rowids"], dtype=np.int64)
                blob = data["index"]
            if meta.get("format") != _FORMAT or meta.get("metric") != metric:
                raise ValueError(f"index file format/metric {meta} does not match")
            index = HnswIndex.from_array(blob, dimensions, metric)
            if index.count != len(rowids) or index.count != meta.get("count"):
                raise ValueError("index and its rowids disagree")
            return index, int(meta["version"]), rowids
        except Exception as exc:  # any damage means: rebuild from Lance, which holds the data
            _log.warning("ignoring damaged vector index %s (%s); rebuilding it", self.path, exc)
            return None

    def writable(self) -> bool:
        """Whether the file's folder (or the nearest one that exists) can be written to."""
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        return os.access(folder, os.W_OK)

    def remove(self) -> None:
        """Delete the file if present."""
        self.path.unlink(missing_ok=True)
