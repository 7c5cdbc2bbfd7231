"""The in-memory view of one dataset version that searches read: vectors, ids, texts, metadata.

Rows get a *position* when they enter the view and keep it until the view is rebuilt; a
deleted or replaced row leaves a dead position behind. The HNSW index numbers its
vectors by the same positions, so it can cover a prefix of the view while the rest (the
tail) is searched exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from shoal.errors import InvalidInput
from shoal.types import Metric

__all__ = ["Snapshot", "prepare_vectors"]


def prepare_vectors(vectors: np.ndarray, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as searched (unit length for cosine; zero vectors refused) and their raw norms."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors)).astype(np.float32)
    if metric != "cosine":
        return vectors, norms
    if (norms == 0).any():
        row = int(np.flatnonzero(norms == 0)[0])
        raise InvalidInput(f"row {row} has a zero vector, which has no cosine similarity; drop it")
    return vectors / norms[:, None], norms


class Snapshot:
    """Rows of one dataset version held for search, addressed by position."""

    def __init__(self, dimensions: int, metric: Metric, version: int) -> None:
        self.dimensions = dimensions
        self.metric = metric
        self.version = version
        self.size = 0
        self.vectors = np.zeros((0, dimensions), dtype=np.float32)
        self.norms = np.zeros(0, dtype=np.float32)
        self.rowids = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metadata: list[str] = []
        self.position_of_id: dict[str, int] = {}
        self._position_of_rowid: dict[int, int] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self.seen_keys: set[str] = set()  # metadata keys known to exist (a cache; never shrinks)
        self.text_edits = 0  # texts changed in place: the keyword index over them starts over

    @property
    def live(self) -> int:
        """Number of live rows."""
        return len(self.position_of_id)

    def append(self, table: pa.Table) -> None:
        """Add rows (columns _rowid, id, text, metadata, embedding); a known rowid is replaced.

        A known row whose vector did not change (a metadata update, a new column) keeps
        its position, so the index over it stays valid.
        """
        if table.num_rows == 0:
            return
        rowids = table.column("_rowid").to_numpy().astype(np.int64)
        if self._position_of_rowid.keys() & set(rowids.tolist()):
            table = self._update_in_place(table, rowids)
            if table.num_rows == 0:
                return
            rowids = table.column("_rowid").to_numpy().astype(np.int64)
        ids = table.column("id").to_pylist()
        known_rowids = self._position_of_rowid.keys() & set(rowids.tolist())
        known_ids = self.position_of_id.keys() & set(ids)
        replaced = [self._position_of_rowid[r] for r in known_rowids]
        self.kill(replaced + [self.position_of_id[i] for i in known_ids])
        start, count = self.size, table.num_rows
        self._grow(start + count)
        # Chunk by chunk straight into place: a 1M-row load makes no full-size temporaries.
        row = start
        for chunk in table.column("embedding").chunks:
            flat = chunk.flatten().to_numpy(zero_copy_only=False)
            vectors, norms = prepare_vectors(flat.reshape(-1, self.dimensions), self.metric)
            self.vectors[row : row + len(chunk)] = vectors
            self.norms[row : row + len(chunk)] = norms
            row += len(chunk)
        self.rowids[start : start + count] = rowids
        self.alive[start : start + count] = True
        self.ids.extend(ids)
        self.texts.extend(table.column("text").to_pylist())
        self.metadata.extend(_json_texts(table.column("metadata")))
        positions = range(start, start + count)
        self._position_of_rowid.update(zip(rowids.tolist(), positions, strict=True))
        self.position_of_id.update(zip(ids, positions, strict=True))
        self.size = start + count
        self._sorted = None

    def _update_in_place(self, table: pa.Table, rowids: np.ndarray) -> pa.Table:
        """Refresh text and metadata of known rows whose vector is unchanged; return the rest."""
        positions = np.array([self._position_of_rowid.get(r, -1) for r in rowids.tolist()])
        vectors, _ = self._vectors(table)
        known = np.flatnonzero(positions >= 0)
        same = known[(self.vectors[positions[known]] == vectors[known]).all(axis=1)]
        ids = table.column("id").to_pylist()
        texts = table.column("text").to_pylist()
        metadata = _json_texts(table.column("metadata"))
        for row in same.tolist():
            position = int(positions[row])
            if ids[row] != self.ids[position]:
                self.position_of_id.pop(self.ids[position], None)
                self.position_of_id[ids[row]] = position
                self.ids[position] = ids[row]
            if texts[row] != self.texts[position]:
                self.texts[position] = texts[row]
                self.text_edits += 1
            self.metadata[position] = metadata[row]
        rest = np.ones(table.num_rows, dtype=bool)
        rest[same] = False
        return table.filter(pa.array(rest))

    def metadata_keys(self) -> set[str]:
        """Every top-level metadata key of the live rows (parses them all: for error messages)."""
        keys: set[str] = set()
        for position in np.flatnonzero(self.alive[: self.size]).tolist():
            keys.update(_keys_of(self.metadata[position]))
        return keys

    def place(self, table: pa.Table, positions: np.ndarray, *, size: int) -> None:
        """Put rows at given positions of an empty snapshot `size` long (the rest stay dead)."""
        assert self.size == 0
        self._grow(size)
        self.size = size
        self.ids = [""] * size
        self.texts = [""] * size
        self.metadata = ["{}"] * size
        metadata = _json_texts(table.column("metadata"))
        vectors, norms = self._vectors(table)
        self.vectors[positions] = vectors
        self.norms[positions] = norms
        self.rowids[positions] = table.column("_rowid").to_numpy().astype(np.int64)
        self.alive[positions] = True
        columns = zip(
            positions.tolist(),
            table.column("_rowid").to_pylist(),
            table.column("id").to_pylist(),
            table.column("text").to_pylist(),
            metadata,
            strict=True,
        )
        for position, rowid, row_id, text, text_of_metadata in columns:
            self.ids[position] = row_id
            self.texts[position] = text
            self.metadata[position] = text_of_metadata
            self._position_of_rowid[rowid] = position
            self.position_of_id[row_id] = position
        self._sorted = None

    def compacted(self) -> Snapshot:
        """A copy holding only the live rows, renumbered from position 0."""
        live = np.flatnonzero(self.alive[: self.size])
        other = Snapshot(self.dimensions, self.metric, self.version)
        other._grow(len(live))
        other.size = len(live)
        other.vectors[: len(live)] = self.vectors[live]
        other.norms[: len(live)] = self.norms[live]
        other.rowids[: len(live)] = self.rowids[live]
        other.alive[: len(live)] = True
        other.ids = [self.ids[p] for p in live.tolist()]
        other.texts = [self.texts[p] for p in live.tolist()]
        other.metadata = [self.metadata[p] for p in live.tolist()]
        other.position_of_id = {row_id: p for p, row_id in enumerate(other.ids)}
        other._position_of_rowid = {
            int(r): p for p, r in enumerate(other.rowids[: len(live)].tolist())
        }
        return other

    def _vectors(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return prepare_vectors(flat.reshape(-1, self.dimensions), self.metric)

    def kill(self, positions: Sequence[int]) -> None:
        """Mark positions dead (deleted or replaced rows)."""
        for position in positions:
            if not self.alive[position]:
                continue
            self.alive[position] = False
            self.position_of_id.pop(self.ids[position], None)
            self._position_of_rowid.pop(int(self.rowids[position]), None)
        if len(positions):
            self._sorted = None

    def kill_missing(self, present_rowids: np.ndarray) -> None:
        """Mark dead every live row whose rowid is not among `present_rowids`."""
        live = np.flatnonzero(self.alive[: self.size])
        gone = live[~np.isin(self.rowids[live], present_rowids)]
        self.kill(gone.tolist())

    def positions_of_rowids(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of the live rows with these rowids (unknown rowids are dropped)."""
        if self._sorted is None:
            live = np.flatnonzero(self.alive[: self.size])
            order = np.argsort(self.rowids[live], kind="stable")
            self._sorted = (self.rowids[live][order], live[order])
        keys, positions = self._sorted
        if len(keys) == 0 or len(rowids) == 0:
            return np.zeros(0, dtype=np.int64)
        slots = np.minimum(np.searchsorted(keys, rowids), len(keys) - 1)
        found = keys[slots] == rowids
        return np.sort(positions[slots[found]])

    def exact(
        self,
        query: np.ndarray,
        k: int,
        positions: np.ndarray | None,
        metric: Metric,
        *,
        matrix: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among live `positions` (all live rows if None): positions and scores.

        `matrix` may hold `vectors[positions]` already gathered.
        """
        if positions is None:
            positions = np.flatnonzero(self.alive[: self.size])
        if len(positions) == 0:
            return positions, np.zeros(0, dtype=np.float32)
        if matrix is None:
            matrix = self._gather(positions)
        scores = self._scores(matrix, positions, query, metric)
        count = min(k, len(positions))
        if count < len(positions):
            best = np.argpartition(-scores if metric != "l2" else scores, count - 1)[:count]
        else:
            best = np.arange(len(positions))
        order = np.argsort(-scores[best] if metric != "l2" else scores[best], kind="stable")
        chosen = best[order]
        if metric == "l2":
            return self._refine_l2(positions[chosen], query)
        return positions[chosen], scores[chosen]

    def _refine_l2(self, positions: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact distances of the chosen rows, re-sorted: sqrt(|x|^2 - 2x.q + |q|^2) ranks
        well but cancels near 0 (a stored copy of the query came out 3e-4 away)."""
        rows = self.vectors[positions]
        if self.metric == "cosine":
            rows = rows * self.norms[positions][:, None]
        difference = rows - query.astype(np.float32, copy=False)
        distances = np.sqrt(np.einsum("ij,ij->i", difference, difference)).astype(np.float32)
        order = np.argsort(distances, kind="stable")
        return positions[order], distances[order]

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        if len(positions) == self.size:
            return self.vectors[: self.size]
        if positions[-1] - positions[0] + 1 == len(positions):
            return self.vectors[positions[0] : positions[-1] + 1]  # a contiguous run: no copy
        gathered: np.ndarray = self.vectors[positions]
        return gathered

    def _grow(self, needed: int) -> None:
        if needed <= len(self.alive):
            return
        capacity = max(needed, 2 * len(self.alive), 1024)
        vectors = np.zeros((capacity, self.dimensions), dtype=np.float32)
        vectors[: self.size] = self.vectors[: self.size]
        norms = np.zeros(capacity, dtype=np.float32)
        norms[: self.size] = self.norms[: self.size]
        rowids = np.full(capacity, -1, dtype=np.int64)
        rowids[: self.size] = self.rowids[: self.size]
        alive = np.zeros(capacity, dtype=bool)
        alive[: self.size] = self.alive[: self.size]
        self.vectors, self.norms, self.rowids, self.alive = vectors, norms, rowids, alive

    def _scores(
        self, matrix: np.ndarray, positions: np.ndarray, query: np.ndarray, metric: Metric
    ) -> np.ndarray:
        """Similarity (cosine, dot) or distance (l2) of the raw query to each stored row.

        Stored rows are unit vectors in cosine datasets; their raw norms recover the rest.
        """
        dots: np.ndarray = matrix @ query
        if metric == self.metric and metric != "l2":
            scale = np.float32(np.linalg.norm(query)) if metric == "cosine" else np.float32(1)
            return np.asarray(dots / scale, dtype=np.float32)
        norms = self.norms[positions]
        if self.metric == "cosine":
            dots = dots * norms  # raw x . q
        if metric == "dot":
            return dots
        if metric == "cosine":
            denominator = np.maximum(norms * np.float32(np.linalg.norm(query)), np.float32(1e-30))
            return np.asarray(dots / denominator, dtype=np.float32)
        squared = norms * norms - 2 * dots + np.float32(query @ query)
        return np.asarray(np.sqrt(np.maximum(squared, 0)), dtype=np.float32)


def _keys_of(text: str) -> list[str]:
    value = json.loads(text) if text else {}
    return list(value) if isinstance(value, dict) else []


def _json_texts(column: pa.ChunkedArray) -> list[str]:
    """JSON column values as text (the extension type's storage), '{}' for nulls."""
    chunks = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in column.chunks]
    return [
        value if value is not None else "{}"
        for value in pa.chunked_array(chunks, pa.string()).to_pylist()
    ]
