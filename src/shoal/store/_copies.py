"""Identical vectors in the HNSW index: finding a new vector's earlier copy, and storing a
copy as a node no graph walk reaches (see `_index`'s notes on copies)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Hashes", "add_unlinked", "row_hashes"]


def row_hashes(vectors: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's bytes (equal rows, equal hashes; checked on a match):
    float32 vectors, or a compressed index's 8-bit codes."""
    rows = np.ascontiguousarray(vectors)
    raw = rows.view(np.uint8).reshape(len(rows), -1)
    if raw.shape[1] % 4:  # whole 32-bit words
        raw = np.pad(raw, ((0, 0), (0, -raw.shape[1] % 4)))
    words = np.ascontiguousarray(raw).view(np.uint32).astype(np.uint64)
    hashes: np.ndarray = (words * _HASH_COEFFICIENTS[: words.shape[1]]).sum(axis=1, dtype=np.uint64)
    return hashes


_HASH_COEFFICIENTS = (
    np.random.default_rng(20261204).integers(1, 2**63, size=65_536, dtype=np.uint64) | 1
)  # odd multipliers: a sum of products modulo 2**64


class Hashes:
    """The hashes of the graph's nodes, to find a new vector's earlier copy: a sorted array,
    plus the latest nodes in a small sorted array merged in when it grows."""

    def __init__(self, hashes: np.ndarray | None, positions: np.ndarray) -> None:
        self.keys, self.values = _sorted(
            hashes if hashes is not None else np.zeros(0, np.uint64), positions
        )
        self.recent_keys = np.zeros(0, dtype=np.uint64)
        self.recent_values = np.zeros(0, dtype=np.int64)

    def _find(self, hashes: np.ndarray) -> np.ndarray:
        """The node with each hash, -1 if none."""
        found = np.full(len(hashes), -1, dtype=np.int64)
        for keys, values in ((self.keys, self.values), (self.recent_keys, self.recent_values)):
            if len(keys):
                at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
                hit = (keys[at] == hashes) & (found < 0)
                found[hit] = values[at[hit]]
        return found

    def place(self, vectors: np.ndarray, start: int, stored: np.ndarray) -> np.ndarray:
        """For rows about to take positions start.., the node each joins: an earlier equal
        vector's node, else its own position (then remembered)."""
        count = len(vectors)
        hashes = row_hashes(vectors)
        canon = self._find(hashes)
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        earlier = first[inverse]  # the first row of this batch with the same hash
        inside = (canon < 0) & (earlier < np.arange(count))
        canon[inside] = start + earlier[inside]
        # A hash match must be an equal vector (a collision stays its own node).
        matched = np.flatnonzero(canon >= 0)
        if len(matched):
            targets = canon[matched]
            before = targets < start
            originals = np.empty((len(matched), vectors.shape[1]), dtype=stored.dtype)
            originals[before] = stored[targets[before]]
            originals[~before] = vectors[targets[~before] - start]
            equal = (originals == vectors[matched]).all(axis=1)
            canon[matched[~equal]] = -1
        own = canon < 0
        canon[own] = start + np.flatnonzero(own)
        new = np.flatnonzero(own)
        if len(new):
            keys, values = hashes[new], start + new
            # The first of equal hashes wins (a collision's later row is not findable).
            fresh = self._find(keys) < 0
            keys, first_of = np.unique(keys[fresh], return_index=True)
            self.recent_keys, self.recent_values = _sorted(
                np.concatenate([self.recent_keys, keys]),
                np.concatenate([self.recent_values, values[fresh][first_of]]),
            )
            if len(self.recent_keys) > max(65_536, len(self.keys) // 8):
                self.keys, self.values = _sorted(
                    np.concatenate([self.keys, self.recent_keys]),
                    np.concatenate([self.values, self.recent_values]),
                )
                self.recent_keys = np.zeros(0, dtype=np.uint64)
                self.recent_values = np.zeros(0, dtype=np.int64)
        return canon


def _sorted(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], np.asarray(values, dtype=np.int64)[order]


def add_unlinked(index: Any, vectors: np.ndarray) -> None:
    """Store vectors at the next positions as level-0 nodes with no links, in or out: no
    graph walk reaches them (their first copy stands for them)."""
    hnsw = index.hnsw
    index.storage.add(vectors)
    slots = hnsw.cum_nb_neighbors(1)
    for _ in range(len(vectors)):
        hnsw.levels.push_back(1)
        hnsw.offsets.push_back(hnsw.offsets.at(hnsw.offsets.size() - 1) + slots)
    hnsw.neighbors.resize(hnsw.offsets.at(hnsw.offsets.size() - 1), -1)
    index.ntotal += len(vectors)
