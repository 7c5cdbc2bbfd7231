"""Every row's nearest other rows (the kNN graph), and all vectors at once: what analysis reads.

The graph is built with the dataset's HNSW index when it has one (large datasets), a
block of rows at a time, so memory grows with n x k, never n x n; small datasets and
narrow filters are searched exactly, also in blocks. Rows newer than the index (its
tail) are compared exactly with every query and merged in, as `Dataset.search` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal.errors import InvalidInput
from shoal.progress import step
from shoal.store import _lance, _view
from shoal.store._index import EF_SEARCH, HnswIndex
from shoal.store._location import Location
from shoal.store._snapshot import Snapshot
from shoal.store._storage_errors import guarded
from shoal.store.filters import Filter
from shoal.types import Metric

__all__ = ["NeighborGraph", "Neighbors", "worst_score"]

QUERY_BLOCK = 2_048
"""Rows whose neighbours are searched together (faiss spreads one block over the cores)."""
SCORE_ELEMENTS = 1 << 23
"""At most this many exact scores (32 MB of float32) are held at once."""
MAX_K = 1_000
"""The largest k of a graph: the beam of an HNSW walk is at least k wide."""


@dataclass(frozen=True)
class Neighbors:
    """Each row's k nearest other rows: `indices[i]` are positions in `ids` (-1 where fewer
    rows exist), best first, and `scores[i]` their similarity (cosine, dot) or distance (l2).

    A missing neighbour's score is -inf (cosine, dot) or +inf (l2), so it never passes a
    threshold. A row is never its own neighbour; a row with the same vector can be.
    """

    ids: list[str]
    indices: np.ndarray
    scores: np.ndarray
    metric: Metric

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.indices.shape[1])


def worst_score(metric: Metric) -> float:
    """The score of a missing neighbour: -inf for similarities, +inf for l2 distances."""
    return math.inf if metric == "l2" else -math.inf


class NeighborGraph:
    """The part of `Dataset` that reads every row's vector or neighbours at once."""

    _view: _view.View
    _location: Location
    _lance: Any

    def _current(self) -> Any:
        raise NotImplementedError

    def _compile(self, where: Filter) -> str:
        raise NotImplementedError

    @guarded("read the vectors of")
    def vectors(self, *, where: Filter | None = None) -> tuple[list[str], np.ndarray]:
        """Ids and float32 vectors of the live rows matching `where`, in stored order, as
        searched (unit length in a cosine dataset)."""
        with self._view.lock:
            lance, snap, positions = self._live_rows(where, indexed=False)
            # A copy: the index's storage (which holds the vectors) may move on its next add.
            vectors = np.array(snap.exact_vectors(positions), dtype=np.float32, copy=True)
            return _ids(lance, snap, positions), vectors

    @guarded("find neighbours in")
    def neighbors(self, *, k: int = 10, where: Filter | None = None) -> Neighbors:
        """Each matching row's `k` nearest other matching rows by the dataset's metric."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be an int from 1 to {MAX_K}, got {k!r}")
        with self._view.lock:
            lance, snap, positions = self._live_rows(where, indexed=True)
            ids = _ids(lance, snap, positions)
            index = self._view.index
            share = len(positions) / max(snap.live, 1)
            narrow = where is not None and (
                len(positions) <= _view.EXACT_FILTERED_MAX or share < _view.EXACT_FILTERED_SHARE
            )
            # Over codes, scores are close, not exact: a few times k, rescored from Lance.
            coded = index is not None and index.storage != "flat"
            wide = _view.REFINE * k if coded else k
            if index is None or index.count == 0 or narrow:
                indices, scores = _exact_graph(snap, positions, wide)
            else:
                bitmap = _allowed_bits(snap, positions, index.count, filtered=where is not None)
                ef = min(1024, max(EF_SEARCH, 2 * (wide + 1), int(EF_SEARCH / share**0.5)))
                indices, scores = _indexed_graph(snap, index, positions, wide, ef=ef, bitmap=bitmap)
            if coded:
                indices, scores = _rescored(snap, positions, indices, k)
        return Neighbors(ids, indices, scores, snap.metric)

    def _live_rows(
        self, where: Filter | None, *, indexed: bool
    ) -> tuple[Any, Snapshot, np.ndarray]:
        lance = self._current()
        self._view.sync(lance)
        if indexed:
            self._view.refresh_index()  # may renumber positions: read the snapshot after it
        snap = self._view.snapshot
        assert snap is not None
        if where:
            positions = self._view.filter_positions(lance, self._compile(where))
        else:
            positions = np.flatnonzero(snap.alive[: snap.size])
        return lance, snap, positions.astype(np.int64)


def _ids(lance: Any, snap: Snapshot, positions: np.ndarray) -> list[str]:
    """The ids of the rows at `positions`, read from Lance (the snapshot holds none)."""
    ids: list[str] = _lance.take(lance, snap.rowids[positions], ["id"]).column("id").to_pylist()
    return ids


def _allowed_bits(
    snap: Snapshot, positions: np.ndarray, covered: int, *, filtered: bool
) -> np.ndarray | None:
    """Packed bits of the positions an index walk may return (None: all it covers)."""
    if not filtered and snap.alive[:covered].all():
        return None
    mask = np.zeros(covered, dtype=bool)
    mask[positions[positions < covered]] = True
    return np.packbits(mask, bitorder="little")


def _pairwise(snap: Snapshot, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Scores of rows x others by the snapshot's metric (vectors as stored)."""
    a, b = snap.vectors_at(rows), snap.vectors_at(others)
    dots: np.ndarray = a @ b.T
    if snap.metric != "l2":
        return dots
    squared = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] - 2 * dots
    distances: np.ndarray = np.sqrt(np.maximum(squared, 0)).astype(np.float32)
    return distances


def _best(
    candidates: np.ndarray, scores: np.ndarray, k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """The k best valid (>= 0) candidates of each row, best first; -1 and the worst score pad."""
    worst = np.float32(worst_score(metric))
    scores = np.where(candidates >= 0, scores, worst).astype(np.float32)
    keys = scores if metric == "l2" else -scores
    order = np.argsort(keys, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(candidates, order, axis=1)
    chosen_scores = np.take_along_axis(scores, order, axis=1)
    if chosen.shape[1] < k:  # fewer candidates than k: pad
        pad = k - chosen.shape[1]
        chosen = np.pad(chosen, ((0, 0), (0, pad)), constant_values=-1)
        chosen_scores = np.pad(chosen_scores, ((0, 0), (0, pad)), constant_values=worst)
    return chosen, chosen_scores


def _rescored(
    snap: Snapshot, positions: np.ndarray, indices: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row's candidates by the exact vectors, not the codes a compressed
    index walked."""
    vectors = snap.exact_vectors(positions)
    scores = np.empty(indices.shape, dtype=np.float32)
    for start in range(0, len(positions), QUERY_BLOCK):
        rows = slice(start, start + QUERY_BLOCK)
        found = indices[rows]
        others = vectors[np.maximum(found, 0)]
        dots = np.einsum("ij,ikj->ik", vectors[rows], others)
        if snap.metric == "l2":
            squared = (
                np.einsum("ij,ij->i", vectors[rows], vectors[rows])[:, None]
                + np.einsum("ikj,ikj->ik", others, others)
                - 2 * dots
            )
            dots = np.sqrt(np.maximum(squared, 0))
        scores[rows] = dots
    return _best(indices, scores, k, snap.metric)


def _exact_graph(snap: Snapshot, positions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph by exact scores, a block of rows against all rows at a time."""
    n = len(positions)
    indices = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), worst_score(snap.metric), dtype=np.float32)
    block = max(1, min(QUERY_BLOCK, SCORE_ELEMENTS // max(n, 1)))
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        found = _exact_rows(snap, positions, rows, k)
        indices[rows], scores[rows] = found
        step("neighbours", int(rows[-1]) + 1, n)
    return indices, scores


def _exact_rows(
    snap: Snapshot, positions: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours (indices into `positions`) of the given rows among all `positions`."""
    block_scores = _pairwise(snap, positions[rows], positions)
    candidates = np.broadcast_to(np.arange(len(positions)), block_scores.shape).copy()
    candidates[np.arange(len(rows)), rows] = -1  # not its own neighbour
    keep = min(k + 1, len(positions))
    keys = block_scores if snap.metric == "l2" else -block_scores
    if keep < len(positions):
        part = np.argpartition(keys, keep - 1, axis=1)[:, :keep]
        candidates = np.take_along_axis(candidates, part, axis=1)
        block_scores = np.take_along_axis(block_scores, part, axis=1)
    return _best(candidates, block_scores, k, snap.metric)


def _indexed_graph(
    snap: Snapshot,
    index: HnswIndex,
    positions: np.ndarray,
    k: int,
    *,
    ef: int,
    bitmap: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The graph by HNSW walks over the indexed rows, plus exact scores against the tail."""
    n = len(positions)
    row_of = np.full(snap.size, -1, dtype=np.int64)
    row_of[positions] = np.arange(n)
    tail = positions[positions >= index.count]
    indices = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), worst_score(snap.metric), dtype=np.float32)
    for start in range(0, n, QUERY_BLOCK):
        rows = np.arange(start, min(start + QUERY_BLOCK, n))
        queries = positions[rows]
        found, found_scores = index.search_many(
            snap.vectors_at(queries), k + 1, ef=ef, bitmap=bitmap
        )
        if len(tail):
            extra = _pairwise(snap, queries, tail)
            found = np.concatenate([found, np.broadcast_to(tail, extra.shape)], axis=1)
            found_scores = np.concatenate([found_scores, extra], axis=1)
        candidates = np.where(found >= 0, row_of[np.maximum(found, 0)], -1)
        candidates[candidates == rows[:, None]] = -1  # not its own neighbour
        indices[rows], scores[rows] = _best(candidates, found_scores, k, snap.metric)
        step("neighbours", int(rows[-1]) + 1, n)
    # A walk that ran dry (few allowed rows near a query) must not hide rows that exist.
    short = np.flatnonzero((indices >= 0).sum(axis=1) < min(k, n - 1))
    block = max(1, min(QUERY_BLOCK, SCORE_ELEMENTS // max(n, 1)))
    for start in range(0, len(short), block):
        rows = short[start : start + block]
        indices[rows], scores[rows] = _exact_rows(snap, positions, rows, k)
    return indices, scores
