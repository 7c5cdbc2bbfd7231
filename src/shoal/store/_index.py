"""The derived HNSW index (faiss) over a prefix of a snapshot's positions, and its file.

faiss was chosen over hnswlib and usearch by `bench/ann_libraries.py`: the same speed
and recall unfiltered, and its filter (an `IDSelectorBitmap`) runs in C++, where
hnswlib calls back into Python for every candidate (8x slower at a 10% filter).

The index is a cache: it is never the only copy of a vector. It is saved as two files:
faiss's own file (``main.<token>.faiss``), which a new process memory-maps, so opening a
dataset reads none of its vectors until a search walks to them, and a small pointer file
(``main.npz``: the format, the dataset version covered, the token, and each position's
rowid and vector norm), replaced last, so a reader finds the old pair or the new one. A
reopened dataset checks the pair against Lance and catches up, or drops it and rebuilds.

A memory-mapped index is read-only (faiss aborts the process on an add to it): `add`
copies it into memory first.

Identical vectors are one graph node: HNSW links each new node to its nearest ones, and a
block of exact duplicates (boilerplate chunks, bring-your-own vectors) links only to
itself, a clique that graph walks enter and cannot leave (34 of 200 self-lookups wrong at
20k rows with a 500-row block). So a vector equal to one already indexed is stored at its
own position but left out of the graph (an unlinked node no walk reaches), and a search
that finds the first copy returns every copy the filter allows, with the same score.

Two storages (`IndexStorage`): "flat" keeps each vector as float32 in the graph's file, the
snapshot's vectors for the indexed positions; "compressed" keeps 8-bit codes (faiss's
per-dimension scalar quantiser, a quarter of the bytes) and no float vectors at all: a
search walks the codes for a few times k candidates, which the caller rescores exactly
with vectors read from Lance, and no rows file is written. Compressed is for datasets whose
vectors would not stay in memory beside everything else (see `View`'s choice), and for disks
that should hold the vectors once. Vectors whose codes are equal are one graph node there.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import pyarrow as pa

from shoal._atomic import atomic_write, writable
from shoal.store._copies import Hashes, add_unlinked, row_hashes
from shoal.types import Metric

__all__ = ["ROW_COLUMNS", "STORAGES", "HnswIndex", "IndexFile", "IndexStorage", "Saved"]

_log = logging.getLogger("shoal.store")
_FORMAT = 2
M = 16
EF_CONSTRUCTION = 64
EF_SEARCH = 64
RANGE_MARGIN = 0.1
"""A compressed index's range per dimension: the training sample's, widened by this share
each side, so later rows a little outside it are not clipped."""
IndexStorage = Literal["flat", "compressed"]
STORAGES: tuple[IndexStorage, ...] = ("flat", "compressed")
ROW_COLUMNS = ("id", "text", "metadata")
"""The columns of the rows file saved beside the index: what a search returns of each hit."""


class HnswIndex:
    """An HNSW graph over positions 0..count-1 of a snapshot."""

    def __init__(
        self,
        dimensions: int,
        metric: Metric,
        index: faiss.Index | None = None,
        *,
        mapped: bool = False,
        canon: np.ndarray | None = None,
        storage: IndexStorage = "flat",
    ) -> None:
        self.dimensions = dimensions
        self.metric = metric
        if index is None:
            kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
            if storage == "compressed":
                quantiser: Any = faiss.ScalarQuantizer.QT_8bit  # an enum the stubs type oddly
                index = faiss.IndexHNSWSQ(dimensions, quantiser, M, kind)
                _storage(index).sq.rangestat_arg = RANGE_MARGIN
            else:
                index = faiss.IndexHNSWFlat(dimensions, M, kind)
            index.hnsw.efConstruction = EF_CONSTRUCTION
        self._index = index
        self.storage: IndexStorage = (
            "compressed" if isinstance(index, faiss.IndexHNSWSQ) else "flat"
        )
        self.mapped = mapped  # vectors read from the memory-mapped file: read-only
        # Position -> the first position holding the same vector (the graph node); None
        # while no vector repeats. See the module's notes.
        self.canon: np.ndarray | None = None if canon is None or len(canon) == 0 else canon
        self._groups: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._hashes: Hashes | None = None
        self._allowed: tuple[bytes, np.ndarray] | None = None

    def copy(self) -> HnswIndex:
        """An in-memory copy that can grow (the vectors are read from the file once)."""
        # clone_index would keep the vectors a view of the file (faiss then aborts on add):
        # a round trip through faiss's serialisation makes them owned.
        owned = faiss.deserialize_index(faiss.serialize_index(self._index))
        canon = None if self.canon is None else self.canon.copy()
        return HnswIndex(self.dimensions, self.metric, owned, canon=canon)

    def vectors(self) -> np.ndarray:
        """The indexed vectors, position by position (flat storage only): a read-only view,
        valid until `add` (which may move them: take a new view after it)."""
        if self.storage != "flat":
            raise ValueError("a compressed index holds codes, not vectors: read them from Lance")
        if self.count == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        storage = _storage(self._index)
        flat = faiss.rev_swig_ptr(storage.get_xb(), self.count * self.dimensions)
        view: np.ndarray = np.asarray(flat).reshape(self.count, self.dimensions)
        view.flags.writeable = False
        return view

    def codes(self) -> np.ndarray:
        """What the graph stores per position: the vectors (flat), or their 8-bit codes
        (compressed), as a read-only view valid until `add`."""
        if self.storage == "flat":
            return self.vectors()
        storage = _storage(self._index)
        size = int(storage.code_size)
        if self.count == 0:
            return np.zeros((0, size), dtype=np.uint8)
        raw = faiss.rev_swig_ptr(storage.codes.data(), self.count * size)
        view: np.ndarray = np.asarray(raw).reshape(self.count, size)
        view.flags.writeable = False
        return view

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors (as searched) in the form `codes` stores them."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.storage == "flat":
            return vectors
        encoded: np.ndarray = _storage(self._index).sa_encode(vectors)
        return encoded

    def decode(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at `positions` as the graph holds them (a compressed index's are
        within `step` of the real ones in each dimension)."""
        if self.storage == "flat":
            return np.asarray(self.vectors()[positions])
        codes = np.ascontiguousarray(self.codes()[np.asarray(positions, dtype=np.int64)])
        if len(codes) == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        decoded: np.ndarray = _storage(self._index).sa_decode(codes)
        return decoded

    def step(self) -> np.ndarray:
        """Per dimension, the largest error `decode` makes inside the trained range (0: flat)."""
        if self.storage == "flat" or not self._index.is_trained:
            return np.zeros(self.dimensions, dtype=np.float32)
        trained = faiss.vector_to_array(_storage(self._index).sq.trained)
        widths: np.ndarray = np.abs(trained[self.dimensions :]).astype(np.float32) / 255
        return widths

    def train(self, sample: np.ndarray) -> None:
        """Fit a compressed index's range per dimension to `sample` (before the first add)."""
        if self.storage == "compressed" and not self._index.is_trained and len(sample):
            self._index.train(np.ascontiguousarray(sample, dtype=np.float32))

    @property
    def count(self) -> int:
        """How many positions the index covers (a prefix of the snapshot)."""
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors for the next positions (never on a mapped index: see `copy`);
        a vector equal to an indexed one is stored but left out of the graph."""
        if self.mapped or not _storage(self._index).codes.is_owned:
            raise RuntimeError("a memory-mapped index is read-only: add to its copy()")
        if not len(vectors):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.train(vectors)  # a compressed index not trained by the caller: on the first rows
        start = self.count
        if self._hashes is None:
            known = self.codes()
            linked = (
                np.arange(start)
                if self.canon is None
                else np.flatnonzero(self.canon == np.arange(start))
            )
            self._hashes = Hashes(row_hashes(known[linked]) if len(linked) else None, linked)
        canon = self._hashes.place(self.encode(vectors), start, self.codes())
        new = canon == np.arange(start, start + len(vectors))
        if new.all():
            self._index.add(vectors)
        else:  # runs of new vectors join the graph, runs of copies are stored unlinked
            cuts = np.flatnonzero(np.diff(new.astype(np.int8))) + 1
            for run in np.split(np.arange(len(vectors)), cuts):
                if new[run[0]]:
                    self._index.add(vectors[run])
                else:
                    add_unlinked(self._index, vectors[run])
        if self.canon is not None or not new.all():
            before = self.canon if self.canon is not None else np.arange(start)
            self.canon = np.concatenate([before, canon])
            self._groups = None
            self._allowed = None

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
            nodes = bitmap if self.canon is None else self._node_bitmap(bitmap)
            selector = faiss.IDSelectorBitmap(self.count, faiss.swig_ptr(nodes))
            params.sel = selector
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        distances, labels = self._index.search(queries, k, params=params)
        del selector
        if self.metric == "l2":
            distances = np.sqrt(np.maximum(distances, 0))
        labels, distances = labels.astype(np.int64), distances.astype(np.float32)
        if self.canon is not None:
            labels, distances = self._copies(labels, distances, k, bitmap)
        return labels, distances

    def _node_bitmap(self, bitmap: np.ndarray) -> np.ndarray:
        """The graph nodes to allow: each node whose group holds an allowed position."""
        key = hashlib.blake2b(bitmap.tobytes(), digest_size=16).digest()
        if self._allowed is not None and self._allowed[0] == key:
            return self._allowed[1]
        assert self.canon is not None
        allowed = np.unpackbits(bitmap, count=self.count, bitorder="little").astype(bool)
        nodes = np.zeros(self.count, dtype=bool)
        nodes[self.canon[allowed]] = True
        packed = np.packbits(nodes, bitorder="little")
        self._allowed = (key, packed)
        return packed

    def _copies(
        self, labels: np.ndarray, scores: np.ndarray, k: int, bitmap: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each found node with the other positions holding its vector (those `bitmap`
        allows), the same score each, k per query."""
        order, starts, sizes = self._group_table()
        allowed = (
            None
            if bitmap is None
            else np.unpackbits(bitmap, count=self.count, bitorder="little").astype(bool)
        )
        grouped = (sizes[np.maximum(labels, 0)] > 1) & (labels >= 0)
        if not grouped.any():  # each found node is its only position: allowed, as found
            return labels, scores
        out_labels = np.full_like(labels, -1)
        out_scores = np.zeros_like(scores)
        for row in range(len(labels)):
            found: list[int] = []
            kept: list[float] = []
            for label, score in zip(labels[row].tolist(), scores[row].tolist(), strict=True):
                if label < 0 or len(found) >= k:
                    break
                start = int(starts[label])
                members = order[start : start + int(sizes[label])] if sizes[label] > 1 else [label]
                for member in members:
                    if allowed is None or allowed[member]:
                        found.append(int(member))
                        kept.append(score)
            out_labels[row, : min(k, len(found))] = found[:k]
            out_scores[row, : min(k, len(kept))] = kept[:k]
        return out_labels, out_scores

    def _group_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions sorted by their node, and per node where its group starts and its size."""
        if self._groups is None:
            assert self.canon is not None
            order = np.argsort(self.canon, kind="stable")
            sizes = np.bincount(self.canon, minlength=self.count)
            starts = np.zeros(self.count, dtype=np.int64)
            starts[1:] = np.cumsum(sizes)[:-1]
            self._groups = (order, starts, sizes)
        return self._groups

    def write(self, path: str) -> None:
        """Write faiss's own file (which `IndexFile.load` memory-maps).

        Raises:
            OSError: the file cannot be written (ENOSPC when the disk is full: faiss
                itself only says "write error").
        """
        try:
            faiss.write_index(self._index, path)
        except RuntimeError as exc:
            if "write error" not in str(exc) and "could not open" not in str(exc):
                raise
            code = int(_storage(self._index).code_size)
            needed = self.count * (code + 2 * M * 4) + 2**20
            full = shutil.disk_usage(os.path.dirname(path) or ".").free < needed
            code = errno.ENOSPC if full else errno.EIO
            raise OSError(code, os.strerror(code), path) from exc

    @classmethod
    def map(cls, path: Path, dimensions: int, metric: Metric) -> HnswIndex:
        """Open a file written by `write`, its vectors memory-mapped; ValueError if it does not fit."""
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        if index.d != dimensions:
            raise ValueError(f"index has {index.d} dimensions, dataset {dimensions}")
        if not isinstance(index, faiss.IndexHNSWFlat | faiss.IndexHNSWSQ):
            raise ValueError(f"index is a {type(index).__name__}, not an HNSW index")
        return cls(dimensions, metric, index, mapped=True)


class Saved:
    """An index with what its pointer file says of it: as loaded, or to be saved."""

    def __init__(
        self,
        index: HnswIndex,
        version: int,
        rowids: np.ndarray,
        norms: np.ndarray,
        rows: pa.Table | None = None,
    ) -> None:
        self.index = index
        self.version = version
        self.rowids = rowids  # per position; -1 for a position that was dead when saved
        self.norms = norms  # per position: the raw vector's length (cosine stores unit vectors)
        self.rows = rows  # per position: id, text, metadata (JSON text) at `version`, mapped


class IndexFile:
    """The files beside a dataset that hold its index: faiss's file and a pointer file."""

    def __init__(self, path: Path) -> None:
        self.path = path  # the pointer file, e.g. _shoal/index/main.npz

    def _data_path(self, token: str) -> Path:
        return self.path.with_name(f"{self.path.stem}.{token}.faiss")

    def _rows_path(self, token: str) -> Path:
        return self.path.with_name(f"{self.path.stem}.{token}.rows.arrow")

    def save(self, saved: Saved) -> pa.Table | None:
        """Write atomically: the index (and rows) files under a new name, then the pointer
        file naming them.

        A reader sees the old set or the new one, never half of one; a process that has
        the old files mapped keeps reading them after they are deleted. `saved.rows` (id,
        text, metadata per position) lets searches answer without a Lance take; the
        written rows come back memory-mapped.
        """
        index, rows, rowids, norms = saved.index, saved.rows, saved.rowids, saved.norms
        token = secrets.token_hex(6)
        meta = {
            "format": _FORMAT,
            "version": saved.version,
            "metric": index.metric,
            "count": index.count,
            "token": token,
        }
        data = self._data_path(token)
        written = [data]
        try:
            atomic_write(data, index.write)
            meta["bytes"] = data.stat().st_size
            if rows is not None and rows.num_rows == index.count:
                rows_path = self._rows_path(token)
                written.append(rows_path)
                atomic_write(rows_path, _arrow_writer(rows))
                meta["rows_bytes"] = rows_path.stat().st_size
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        header = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)

        count = index.count

        def write(path: str) -> None:
            with open(path, "wb") as handle:
                arrays: dict[str, Any] = {
                    "meta": header,
                    "rowids": rowids[:count],
                    "norms": norms[:count],
                }
                if index.canon is not None:
                    arrays["canon"] = index.canon
                np.savez(handle, **arrays)

        try:
            atomic_write(self.path, write)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._remove_others(keep=token)
        return self._rows(token, meta)

    def _remove_others(self, *, keep: str | None) -> None:
        """Delete index files no pointer names (left by older saves or killed writers)."""
        for pattern in ("*.faiss", "*.rows.arrow"):
            for other in self.path.parent.glob(f"{self.path.stem}.{pattern}"):
                token = other.name[len(self.path.stem) + 1 :].split(".")[0]
                if token != keep:
                    other.unlink(missing_ok=True)

    def header(self) -> dict[str, Any] | None:
        """The saved index's pointer record (version, count, ...) without loading the index;
        None if there is none or it cannot be read."""
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
        except Exception:  # missing or damaged: the next search rebuilds it
            return None
        return meta if isinstance(meta, dict) else None

    def load(self, dimensions: int, metric: Metric) -> Saved | None:
        """The saved index (mapped), its version, rowids and norms; None if missing, damaged or unfit."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta.get("format") != _FORMAT or meta.get("metric") != metric:
                    raise ValueError(f"index file format/metric {meta} does not match")
                rowids = np.asarray(data["rowids"], dtype=np.int64)
                norms = np.asarray(data["norms"], dtype=np.float32)
                canon = np.asarray(data["canon"], dtype=np.int64) if "canon" in data else None
            token = str(meta["token"])
            if not token.isalnum():
                raise ValueError(f"index file names a bad token {token!r}")
            path = self._data_path(token)
            # A truncated file would be mapped all the same, and reading past its end kills
            # the process (SIGBUS): check its size first.
            if path.stat().st_size != meta.get("bytes"):
                raise ValueError(
                    f"{path.name} is {path.stat().st_size} bytes, not {meta.get('bytes')}"
                )
            index = HnswIndex.map(path, dimensions, metric)
            if not index.count == len(rowids) == len(norms) == meta.get("count"):
                raise ValueError("index, rowids and norms disagree")
            if canon is not None:
                if len(canon) != index.count or (canon > np.arange(len(canon))).any():
                    raise ValueError("the index's copies table does not fit it")
                index.canon = canon
            return Saved(index, int(meta["version"]), rowids, norms, self._rows(token, meta))
        except Exception as exc:  # any damage means: rebuild from Lance, which holds the data
            _log.warning("ignoring damaged vector index %s (%s); rebuilding it", self.path, exc)
            return None

    def _rows(self, token: str, meta: Mapping[str, Any]) -> pa.Table | None:
        """The saved rows file, memory-mapped; None if there is none or it does not fit
        (searches then fetch every hit from Lance)."""
        if "rows_bytes" not in meta:
            return None
        path = self._rows_path(token)
        try:
            if path.stat().st_size != meta["rows_bytes"]:
                raise ValueError(f"{path.name} is not the size its pointer file says")
            rows = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
            if rows.num_rows != meta["count"] or rows.column_names != list(ROW_COLUMNS):
                raise ValueError(f"{path.name} does not hold the index's rows")
            return rows
        except Exception as exc:
            _log.warning("ignoring damaged rows file %s (%s); hits are read from Lance", path, exc)
            return None

    def writable(self) -> bool:
        """Whether the file's folder (or the nearest one that exists) can be written to."""
        return writable(self.path.parent)

    def remove(self) -> None:
        """Delete the files if present."""
        self.path.unlink(missing_ok=True)
        self._remove_others(keep=None)


def _storage(index: Any) -> Any:
    """The storage under an HNSW index: its vectors (faiss.IndexFlat) or codes
    (faiss.IndexScalarQuantizer)."""
    return faiss.downcast_index(index.storage)


def _arrow_writer(rows: pa.Table) -> Callable[[str], None]:
    def write(path: str) -> None:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
            writer.write_table(rows, max_chunksize=65_536)

    return write
