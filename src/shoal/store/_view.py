"""The search engine of one dataset handle: a snapshot kept in step with Lance, plus its index.

Every search first brings the snapshot to the dataset's latest version (rows committed
by this or any other handle or process), so a query never misses a committed row. The
HNSW index covers a prefix of the snapshot's positions; the newer tail is searched
exactly until it is long enough to be worth indexing.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shoal.errors import StoreError
from shoal.store._index import EF_SEARCH, HnswIndex, IndexFile
from shoal.store._keyword import KeywordIndex
from shoal.store._snapshot import Snapshot
from shoal.store._storage_errors import classify, reason
from shoal.types import Metric

__all__ = ["View"]

_log = logging.getLogger("shoal.store")

INDEX_MIN_ROWS = 10_000
"""Below this many rows exact search is as fast as HNSW (about 0.7 ms at 10k x 384), and exact."""
TAIL_MAX = 2_048
"""Unindexed rows searched exactly before the index is extended (about 0.15 ms at 384-d)."""
EXACT_FILTERED_MAX = 4_096
"""A filter matching at most this many rows is searched exactly (well under a millisecond)."""
EXACT_FILTERED_SHARE = 0.05
"""A filter matching less than this share of the rows is searched exactly too, over its rows
gathered once per filter and version: a graph walk pruned that hard misses neighbours
(recall@10 0.74-0.85 measured at 1-3%), and an exact scan of few rows is cheap."""
FILTER_BEAM = 1.0
"""A filtered graph walk over 100k rows searches with a beam of FILTER_BEAM * efSearch /
sqrt(share matched): 202 at a 10% filter, recall@10 0.97 (bench/filter_beam.py)."""
FILTER_BEAM_PER_DECADE = 0.5
"""The factor grows by this for every tenfold more rows: a larger graph needs a wider beam
for the same recall (1.5 at 1M rows kept recall@10 at 0.95 in bench/search.py)."""
REBUILD_DEAD_FRACTION = 0.3
"""Rebuild the index once this share of its positions are deleted or replaced rows."""
_FILTER_CACHE = 32
_FILTER_BYTES = 512 * 2**20
_COLUMNS = ["id", "text", "metadata", "embedding"]
_REWRITES = {"Restore", "Overwrite"}


class View:
    """Snapshot + HNSW index of one dataset branch, kept current with Lance."""

    def __init__(
        self, dimensions: int, metric: Metric, *, index_file: IndexFile | None, use_index: bool
    ) -> None:
        self.dimensions = dimensions
        self.metric: Metric = metric
        self._file = index_file
        self._use_index = use_index
        # One handle may be shared by threads (a web server): searches and writes take turns.
        self.lock = threading.RLock()
        self.snapshot: Snapshot | None = None
        self.index: HnswIndex | None = None
        self._keywords: KeywordIndex | None = None  # built on the first keyword search
        self._saved_count = 0
        self._generation = 0
        self._filters: OrderedDict[tuple[str, int, int], _Matched] = OrderedDict()
        self._alive_bits: tuple[int, np.ndarray] | None = None
        self._refreshed = -1

    # ----------------------------------------------------------------- keeping current
    def sync(self, lance: Any, *, written: pa.Table | None = None) -> Snapshot:
        """Bring the snapshot to `lance`'s version: catch up on the changes, or reload.

        `written` is the table this handle just appended: when the new rows are exactly
        those, only their rowids are read back, not their vectors again.
        """
        snap = self.snapshot
        if snap is not None and snap.version == lance.version:
            return snap
        if snap is None or lance.version < snap.version or self._rewritten(lance, snap.version):
            return self._load(lance)
        since = f"_row_last_updated_at_version > {snap.version}"
        changed = None
        if written is not None:
            fresh = lance.to_table(columns=["id"], with_row_id=True, filter=since)
            if fresh.column("id").equals(written.column("id")):
                changed = written.select(_COLUMNS).append_column("_rowid", fresh.column("_rowid"))
        if changed is None:
            changed = lance.to_table(columns=_COLUMNS, with_row_id=True, filter=since)
        snap.append(changed)
        total = lance.count_rows()
        if snap.live != total:
            snap.kill_missing(
                lance.to_table(columns=[], with_row_id=True).column("_rowid").to_numpy()
            )
        if snap.live != total:
            _log.warning("snapshot disagrees with %s after catching up; reloading", lance.uri)
            return self._load(lance)
        snap.version = lance.version
        self._changed()
        return snap

    def reset(self) -> None:
        """Forget the snapshot and index, and delete the index file (after a restore)."""
        self.snapshot = None
        self.index = None
        self._changed()
        if self._file is not None:
            self._file.remove()

    def _rewritten(self, lance: Any, since: int) -> bool:
        """True if a restore or overwrite happened after `since` (catching up cannot follow it)."""
        try:
            transactions = lance.get_transactions(lance.version - since)
        except Exception:  # history cleaned up: reload to be safe
            return True
        return any(
            type(tx.operation).__name__ in _REWRITES for tx in transactions if tx is not None
        )

    def _load(self, lance: Any) -> Snapshot:
        table = lance.to_table(columns=_COLUMNS, with_row_id=True)
        snap = Snapshot(self.dimensions, self.metric, lance.version)
        self.index, self._saved_count = None, 0
        saved = (
            self._file.load(self.dimensions, self.metric)
            if self._file and self._use_index
            else None
        )
        if saved is not None and len(saved[2]):
            index, _, index_rowids = saved
            rowids = table.column("_rowid").to_numpy().astype(np.int64)
            order = np.argsort(index_rowids)
            slots = np.minimum(np.searchsorted(index_rowids[order], rowids), len(order) - 1)
            keep = np.flatnonzero(index_rowids[order][slots] == rowids)
            positions = order[slots[keep]]
            snap.place(table.take(keep), positions, size=len(index_rowids))
            # The file is trusted only where its vectors equal Lance's: this catches a
            # dataset recreated at the same URI, a restore, or rows rewritten since.
            stale = positions[~index.matches(snap.vectors, positions)]
            if len(stale) <= REBUILD_DEAD_FRACTION * max(len(positions), 1):
                snap.kill(stale.tolist())
                tail = np.ones(table.num_rows, dtype=bool)
                tail[keep] = False
                tail[keep[np.isin(positions, stale)]] = True
                table = table.filter(pa.array(tail))
                self.index, self._saved_count = index, index.count
            else:
                _log.warning(
                    "the saved vector index of %s does not match its data; rebuilding", lance.uri
                )
                snap = Snapshot(self.dimensions, self.metric, lance.version)
        snap.append(table)
        self.snapshot = snap
        self._changed()
        return snap

    def _changed(self) -> None:
        self._generation += 1
        self._filters.clear()
        self._alive_bits = None

    # ------------------------------------------------------------------------ index
    def refresh_index(self, *, force: bool = False) -> None:
        """Index the unindexed tail if it is long enough (or `force`), and save when grown."""
        snap = self.snapshot
        if snap is None or not self._use_index or (snap.live < INDEX_MIN_ROWS and not force):
            return
        if self._refreshed == self._generation and not force:
            return  # nothing changed since the last look: searches skip the O(n) checks
        self._refresh(snap, force)
        self._refreshed = self._generation

    def _refresh(self, snap: Snapshot, force: bool) -> None:
        index = self.index
        if index is not None and index.count:
            dead = index.count - int(np.count_nonzero(snap.alive[: index.count]))
            if dead > REBUILD_DEAD_FRACTION * index.count:
                index = None  # positions are compacted by the rebuild below
                self.snapshot = snap = snap.compacted()
                self._changed()
        if index is None:
            index = HnswIndex(self.dimensions, self.metric)
            self.index, self._saved_count = index, 0
        if snap.size - index.count > (0 if force else TAIL_MAX):
            index.add(snap.vectors[index.count : snap.size])
            self._changed()
        if not force and self._file is not None and index.count >= max(1.25 * self._saved_count, 1):
            self._save_derived(self._file, index)

    def _save_derived(self, file: IndexFile, index: HnswIndex) -> None:
        """Save the index as a search's side effect: a failure is logged, never raised.

        The search has its answer from the index in memory; the file only spares the next
        process the rebuild. A read-only folder is not written to at all.
        """
        saved, self._saved_count = self._saved_count, index.count  # retried at 1.25x this size
        if not file.writable():
            if saved == 0:
                _log.info("not saving the vector index %s: its folder is read-only", file.path)
            return
        try:
            self.save()
        except OSError as exc:
            _log.warning(
                "could not save the vector index %s (%s); searches go on with the index in "
                "memory, and a later one saves it again (free some space on that disk)",
                file.path,
                reason(exc),
            )

    def save(self) -> None:
        """Write the index file (local and S3 datasets), recording the version it covers.

        Raises:
            OSError: the file cannot be written (no space left, a read-only folder).
        """
        if self._file is None or self.index is None or self.snapshot is None:
            return
        rowids = np.where(self.snapshot.alive, self.snapshot.rowids, -1)
        self._file.save(self.index, version=self.snapshot.version, rowids=rowids)
        self._saved_count = self.index.count

    # ----------------------------------------------------------------------- search
    def metadata_keys(self, lance: Any) -> Collection[str]:
        """The top-level metadata keys, for checking filter fields (looked up key by key)."""
        assert self.snapshot is not None
        return _MetadataKeys(self.snapshot, lance)

    def filter_positions(self, lance: Any, predicate: str) -> np.ndarray:
        """Sorted snapshot positions of the rows matching a Lance predicate (cached per version)."""
        return self._matched(lance, predicate).positions

    def _matched(self, lance: Any, predicate: str) -> _Matched:
        snap = self.snapshot
        assert snap is not None
        key = (predicate, snap.version, self._generation)
        cached = self._filters.get(key)
        if cached is not None:
            self._filters.move_to_end(key)
            return cached
        try:
            matches = lance.to_table(columns=[], with_row_id=True, filter=predicate)
        except Exception as exc:
            if classify(exc) != "other":
                raise  # a storage failure, which the caller names
            raise StoreError(
                f"the filter could not run ({predicate!r}): {reason(exc)}; "
                "simplify it, or report it as a bug if it should work"
            ) from exc
        rowids = matches.column("_rowid").to_numpy().astype(np.int64)
        entry = _Matched(snap.positions_of_rowids(rowids))
        self._filters[key] = entry
        while len(self._filters) > _FILTER_CACHE or (
            len(self._filters) > 1 and sum(e.nbytes for e in self._filters.values()) > _FILTER_BYTES
        ):
            self._filters.popitem(last=False)
        return entry

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        positions: np.ndarray | None,
        metric: Metric,
        key: str | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, scores) among live rows, or among `positions` (the rows `key` matched)."""
        snap = self.snapshot
        assert snap is not None
        if positions is not None and len(positions) == 0:
            return positions, np.zeros(0, dtype=np.float32)
        entry = self._filters.get((key, snap.version, self._generation)) if key else None
        narrow = positions is not None and (
            len(positions) <= EXACT_FILTERED_MAX
            or len(positions) < EXACT_FILTERED_SHARE * snap.live
        )
        if positions is not None and narrow:
            # Exact over the matching rows, gathered once per filter and version.
            if entry is not None and entry.matrix is None:
                entry.matrix = snap.vectors[positions]
            matrix = entry.matrix if entry is not None else None
            return snap.exact(query, k, positions, metric, matrix=matrix)
        index = self.index
        if index is None or index.count == 0 or metric != self.metric:
            return snap.exact(query, k, positions, metric)
        covered = index.count
        unit = query / np.linalg.norm(query) if self.metric == "cosine" else query
        unit = np.ascontiguousarray(unit, dtype=np.float32)
        if positions is None:
            bitmap = self._alive_bitmap(snap, covered)
            found, scores = index.search(unit, k, ef=EF_SEARCH, bitmap=bitmap)
            tail = np.arange(covered, snap.size)[snap.alive[covered : snap.size]]
            wanted = min(k, snap.live - len(tail))
        else:
            inside, tail = _split(entry, positions, covered)
            # A filter prunes the graph walk: widen the beam as the share of matches falls.
            share = len(positions) / max(snap.live, 1)
            decades = max(0.0, math.log10(snap.live / 100_000))
            beam = FILTER_BEAM + FILTER_BEAM_PER_DECADE * decades
            ef = min(1024, max(EF_SEARCH, int(beam * EF_SEARCH / share**0.5)))
            found, scores = index.search(unit, k, ef=ef, bitmap=_bitmap(entry, inside, covered))
            wanted = min(k, len(inside))
        if len(found) < wanted:  # the graph walk ran dry: never return fewer rows than exist
            found, scores = snap.exact(query, k, positions, metric)
            tail = tail[:0]
        if len(tail):
            extra, extra_scores = snap.exact(query, k, tail, metric)
            found, scores = _best(
                np.concatenate([found, extra]), np.concatenate([scores, extra_scores]), k, metric
            )
        return found, scores

    def keyword_search(
        self, query: str, k: int, *, positions: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, BM25 scores) among live rows, or among `positions`; matches only."""
        snap = self.snapshot
        assert snap is not None
        if self._keywords is None:
            self._keywords = KeywordIndex()
        self._keywords.catch_up(snap)
        return self._keywords.search(query, k, alive=snap.alive, positions=positions)

    def _alive_bitmap(self, snap: Snapshot, covered: int) -> np.ndarray | None:
        cached = self._alive_bits
        if cached is not None and cached[0] == covered:
            return cached[1] if len(cached[1]) else None
        alive = snap.alive[:covered]
        bits = np.zeros(0, dtype=np.uint8) if alive.all() else np.packbits(alive, bitorder="little")
        self._alive_bits = (covered, bits)
        return bits if len(bits) else None


class _MetadataKeys(Collection[str]):
    """Metadata keys, asked about one at a time: Lance finds one row that has the key (at
    most a scan), so no one parses every row's JSON; listing them all (for an error
    message) does parse."""

    def __init__(self, snap: Snapshot, lance: Any) -> None:
        self._snap = snap
        self._lance = lance

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._snap.seen_keys:
            return True
        quoted = "'" + key.replace("'", "''") + "'"
        found = self._lance.to_table(
            columns=[],
            with_row_id=True,
            filter=f"json_get(metadata, {quoted}) IS NOT NULL",
            limit=1,
        )
        if found.num_rows:
            self._snap.seen_keys.add(key)
        return bool(found.num_rows)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._snap.metadata_keys()))

    def __len__(self) -> int:
        return len(self._snap.metadata_keys())


@dataclass
class _Matched:
    """The rows a filter matched in one snapshot, and what searches derive from them."""

    positions: np.ndarray
    bitmap: np.ndarray | None = None
    matrix: np.ndarray | None = None
    split: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def nbytes(self) -> int:
        """Memory held, for the cache's budget."""
        extra = sum(a.nbytes for a in (self.bitmap, self.matrix) if a is not None)
        return int(self.positions.nbytes + extra)


def _split(
    entry: _Matched | None, positions: np.ndarray, covered: int
) -> tuple[np.ndarray, np.ndarray]:
    """The matching positions inside the index and in the tail (kept on the cache entry)."""
    if entry is not None and entry.split is not None and entry.split[0] == covered:
        return entry.split[1], entry.split[2]
    cut = int(np.searchsorted(positions, covered))
    inside, tail = positions[:cut], positions[cut:]
    if entry is not None:
        entry.split = (covered, inside, tail)
    return inside, tail


def _bitmap(entry: _Matched | None, inside: np.ndarray, covered: int) -> np.ndarray:
    """Packed bits of the matching positions the index covers (kept on the cache entry)."""
    if entry is not None and entry.bitmap is not None and len(entry.bitmap) * 8 >= covered:
        return entry.bitmap
    mask = np.zeros(covered, dtype=bool)
    mask[inside] = True
    bits = np.packbits(mask, bitorder="little")
    if entry is not None:
        entry.bitmap = bits
    return bits


def _best(
    positions: np.ndarray, scores: np.ndarray, k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(scores if metric == "l2" else -scores, kind="stable")[:k]
    return positions[order], scores[order]
