"""The search engine of one dataset handle: a snapshot kept in step with Lance, plus its indexes.

Every search first brings the snapshot to the dataset's latest version (rows committed
by this or any other handle or process), so a query never misses a committed row. The
HNSW index covers a prefix of the snapshot's positions; the newer tail is searched
exactly while a background thread extends the index over it, a chunk at a time.

Opening reads no table: the saved index file is memory-mapped (its vectors are the
snapshot's indexed prefix), checked against Lance on a sample of rows, and caught up on
the rows written since the version it covers. Without a usable file the vectors are
read from Lance once, batch by batch.

The index stores vectors (flat) or 8-bit codes (compressed: see `_index`); over codes a
search asks the graph for REFINE times more candidates and rescores them with their vectors
read from Lance. Which one a new index uses: the dataset's recorded choice
(`Dataset.refresh_index(storage=...)`), else compressed once the vectors' bytes pass
`settings.index_compress_bytes()` (a quarter of the machine's memory by default).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shoal import settings
from shoal.errors import StoreError
from shoal.progress import step
from shoal.store import _lance
from shoal.store._bm25 import KeywordFile, KeywordIndex
from shoal.store._index import (
    EF_SEARCH,
    ROW_COLUMNS,
    STORAGES,
    HnswIndex,
    IndexFile,
    IndexStorage,
    Saved,
)
from shoal.store._languages import AUTO
from shoal.store._snapshot import Coded, Snapshot, prepared
from shoal.store._storage_errors import classify, reason
from shoal.types import Metric

__all__ = ["View"]

_log = logging.getLogger("shoal.store")

INDEX_MIN_ROWS = 10_000
"""Below this many rows exact search is as fast as HNSW (about 0.7 ms at 10k x 384), and exact."""
TAIL_MAX = 2_048
"""Unindexed rows searched exactly before the index is extended (about 0.15 ms at 384-d)."""
BUILD_CHUNK = 1_024
"""Rows the background builder adds at a time, holding the view's lock (about 0.1 s on 2
cores at 100k rows): a search waits at most that long behind it."""
SAVE_GROWTH = 1.25
"""The index is saved again once it covers this many times the rows of its last save."""
KEYWORD_SAVE_SHARE = 0.1
"""The keyword index is saved again once this share of its rows changed since its last save."""
KEYWORD_SAVE_MIN = 5_000
"""...and at least this many: rebuilding fewer takes well under 0.2 s, less than writing
the files again after every small write (`wait_for_index` saves any change)."""
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
SAMPLE_ROWS = 8
REFINE = 2
"""A compressed index returns REFINE * k candidates for exact rescoring: with 2, recall@10
equals the flat index's (0.972 vs 0.971 at 100k WordNet rows; 0.965 without rescoring)."""
HIT_ROWS_MAX = 256
"""Reads of at most this many rows' vectors (a search's candidates) bring their rows too."""
CODED_EF_SEARCH = 128
"""efSearch over a compressed index: at 3M rows (bench/scale.py's near-duplicate-heavy set)
ef 64 kept recall@10 at 0.735, 128 at 0.888, for 2.94 -> 3.07 ms (the rescoring read dominates)."""
TRAIN_ROWS = 65_536
"""Rows (spread over the dataset) that fit a compressed index's range per dimension."""
"""Rows of a saved index compared with Lance on open (a dataset recreated at the same path,
or restored, fails this; rows changed since are caught up, not compared)."""
_FILTER_CACHE = 32
_FILTER_BYTES = 512 * 2**20
_REWRITES = {"Restore", "Overwrite"}
_VIEWS: weakref.WeakSet[View] = weakref.WeakSet()


_INDEX_STEP = 100_000  # rows added to the vector index per call (a progress step)


class View:
    """Snapshot + HNSW and keyword indexes of one dataset branch, kept current with Lance.

    The index grows in a background thread; ``SHOAL_INDEX_BUILD=inline`` makes the search
    that finds a long tail index it before it answers (the tests' deterministic setting).
    """

    def __init__(
        self,
        dimensions: int,
        metric: Metric,
        *,
        index_file: IndexFile | None,
        use_index: bool,
        keyword_file: KeywordFile | None = None,
        storage: str = "auto",
    ) -> None:
        self.dimensions = dimensions
        self.metric: Metric = metric
        self.storage = storage  # "auto", or one of STORAGES (the dataset's recorded choice)
        self.background = os.environ.get("SHOAL_INDEX_BUILD", "background") != "inline"
        self._file = index_file
        self._keyword_file = keyword_file
        self._use_index = use_index
        # One handle may be shared by threads (a web server): searches and writes take turns.
        self.lock = threading.RLock()
        # Held while the index grows or is written, so a save never reads a growing graph.
        self._build_lock = threading.Lock()
        self.snapshot: Snapshot | None = None
        self.index: HnswIndex | None = None
        self._keywords: KeywordIndex | None = None  # loaded or built on the first keyword search
        self._language: tuple[int, str] | None = None  # (version, keyword language) last seen
        self._saved_count = 0
        self._generation = 0
        self._filters: OrderedDict[tuple[str, int, int], _Matched] = OrderedDict()
        self._alive_bits: tuple[int, np.ndarray] | None = None
        self._refreshed = -1
        self._builder: threading.Thread | None = None
        self._epoch = 0  # a builder started in another epoch stops at its next chunk
        self.seen_keys: set[str] = set()  # metadata keys known to exist (a cache; never shrinks)
        self._synced: Any = None  # the Lance dataset at the snapshot's version
        _VIEWS.add(self)

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
        if not self._catch_up(lance, snap, written=written):
            _log.warning("snapshot disagrees with %s after catching up; reloading", lance.uri)
            return self._load(lance, use_saved=False)
        self._synced = lance
        self._changed()
        return snap

    def _catch_up(self, lance: Any, snap: Snapshot, *, written: pa.Table | None = None) -> bool:
        """Apply the rows written and deleted since `snap.version`; False if they disagree."""
        since = f"_row_last_updated_at_version > {snap.version}"
        changed = None
        if written is not None:
            fresh = lance.to_table(columns=["id"], with_row_id=True, filter=since)
            if fresh.column("id").equals(written.column("id")):
                changed = pa.table(
                    {"embedding": written.column("embedding"), "_rowid": fresh.column("_rowid")}
                )
        if changed is None:
            changed = lance.to_table(columns=["embedding"], with_row_id=True, filter=since)
        snap.append(changed)
        total = lance.count_rows()
        if snap.live != total:
            present = np.sort(_lance.rowids_of(lance.to_table(columns=[], with_row_id=True)))
            snap.kill_missing(present)
            missing = np.setdiff1d(present, snap.live_rowids(), assume_unique=True)
            if len(missing):  # rows a saved index missed (not changed since it was saved)
                try:
                    taken = _lance.take(lance, missing, ["embedding"])
                except StoreError:  # deleted meanwhile: the caller reloads
                    return False
                snap.append(taken.append_column("_rowid", pa.array(missing, pa.uint64())))
        snap.version = lance.version
        return bool(snap.live == total)

    def reset(self) -> None:
        """Forget the snapshot and indexes, and delete their files (after a restore)."""
        self._epoch += 1
        self.snapshot = None
        self.index = None
        self._keywords = None
        self._changed()
        if self._file is not None:
            self._file.remove()
        if self._keyword_file is not None:
            self._keyword_file.remove()

    def rebind(self, dimensions: int, metric: Metric) -> None:
        """Serve vectors of another embedder from now on: forget the snapshot and indexes
        (their files are checked against the dimensions and version when next loaded)."""
        with self.lock:
            self._epoch += 1
            self.dimensions, self.metric = dimensions, metric
            self.snapshot, self.index, self._keywords = None, None, None
            self._changed()

    def restorage(self) -> None:
        """Drop the vector index if a new one would store vectors otherwise (the dataset's
        choice changed): the next refresh builds it again from Lance."""
        snap = self.snapshot
        if snap is None or self.index is None or self.index.storage == self.storage_for(snap.live):
            return
        self._epoch += 1  # a running builder stops at its next chunk
        lance = self._synced
        self.snapshot, self.index = None, None
        if self._file is not None:
            self._file.remove()
        self._load(lance, use_saved=False)

    def _rewritten(self, lance: Any, since: int) -> bool:
        """True if a restore or overwrite happened after `since` (catching up cannot follow it)."""
        if since >= lance.version:
            return False
        try:
            transactions = lance.get_transactions(lance.version - since)
        except Exception:  # history cleaned up: reload to be safe
            return True
        return any(
            type(tx.operation).__name__ in _REWRITES for tx in transactions if tx is not None
        )

    def _load(self, lance: Any, *, use_saved: bool = True) -> Snapshot:
        self._epoch += 1  # a running builder must not grow the index being replaced
        self.index, self._saved_count = None, 0
        snap = None
        if use_saved and self._file is not None and self._use_index:
            saved = self._file.load(self.dimensions, self.metric)
            if saved is not None and len(saved.rowids):
                snap = self._from_saved(lance, saved)
        if snap is None:
            self.index, self._saved_count = None, 0
            snap = Snapshot(self.dimensions, self.metric, lance.version)
            snap.reserve(lance.count_rows())
            snap.append_batches(lance.to_batches(columns=["embedding"], with_row_id=True))
        self.snapshot = snap
        self._synced = lance
        self._changed()
        return snap

    def _from_saved(self, lance: Any, saved: Saved) -> Snapshot | None:
        """The snapshot a saved index gives, caught up to `lance`; None if it cannot be trusted."""
        if saved.version > lance.version or self._rewritten(lance, saved.version):
            return None
        if self.storage in STORAGES and saved.index.storage != self.storage:
            _log.info(
                "the saved vector index is %s, not %s: rebuilding it",
                saved.index.storage,
                self.storage,
            )
            return None
        self._synced = lance  # a compressed index's exact vectors are read through it
        snap = Snapshot(
            self.dimensions,
            self.metric,
            saved.version,
            base=self._base(saved.index),
            rowids=saved.rowids,
            norms=saved.norms,
        )
        snap.use_rows(saved.rows)  # before catching up, which marks rows updated since
        if not self._catch_up(lance, snap) or not _matches(lance, snap, saved.index):
            _log.warning(
                "the saved vector index of %s does not match its data; rebuilding", lance.uri
            )
            return None
        self.index, self._saved_count = saved.index, saved.index.count
        return snap

    def _changed(self) -> None:
        self._generation += 1
        self._filters.clear()
        self._alive_bits = None

    # ------------------------------------------------------------------------ index
    def refresh_index(self, *, force: bool = False) -> None:
        """Index the tail: in the background if it is long, now (and all of it) if `force`."""
        snap = self.snapshot
        if snap is None or not self._use_index or (snap.live < INDEX_MIN_ROWS and not force):
            return
        if self._refreshed == self._generation and not force:
            return  # nothing changed since the last look: searches skip the O(n) checks
        index = self.index
        if index is not None and index.count:
            dead = index.count - int(np.count_nonzero(snap.alive[: index.count]))
            if dead > REBUILD_DEAD_FRACTION * index.count:
                self._epoch += 1
                self.index = None  # positions are compacted, and the index rebuilt over them
                self.snapshot = snap = snap.compacted()
                self._changed()
        if force:
            self._epoch += 1
            self._extend(snap, snap.size)
        elif snap.size - (self.index.count if self.index else 0) > TAIL_MAX:
            if self.background:
                self._start_building()
            else:
                self._extend(snap, snap.size)
        if self._grown() and not self._building():
            self._save_derived()
        self._refreshed = self._generation

    def _extend(self, snap: Snapshot, stop: int) -> None:
        """Index positions up to `stop` now (under the view's lock)."""
        with self._build_lock:
            index = self.index
            if index is None:
                storage = self.storage_for(snap.live)
                index = self.index = HnswIndex(self.dimensions, self.metric, storage=storage)
                index.train(_training_sample(snap))
                self._saved_count = 0
            elif index.mapped:
                index = self.index = index.copy()  # faiss cannot add to a mapped index
            first = index.count
            while index.count < stop:  # in parts, so a long build can report its progress
                index.add(snap.block(index.count, min(stop, index.count + _INDEX_STEP)))
                step("index", index.count - first, stop - first)
            snap.rebase(self._base(index))  # the add may have moved the vectors
        self._changed()

    def storage_for(self, rows: int) -> IndexStorage:
        """How a new index over `rows` rows stores them: the recorded choice, else by size."""
        if self.storage in STORAGES:
            return self.storage
        large = rows * self.dimensions * 4 > settings.index_compress_bytes()
        return "compressed" if large else "flat"

    def _base(self, index: HnswIndex) -> np.ndarray | Coded:
        """What the snapshot reads the indexed positions from: the index's own vectors, or
        its codes decoded (and Lance for the exact vectors)."""
        if index.storage == "flat":
            return index.vectors()

        def same(positions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
            return np.asarray((index.codes()[positions] == index.encode(vectors)).all(axis=1))

        return Coded(index.count, index.decode, self._read_vectors, same)

    def _read_vectors(self, rowids: np.ndarray) -> np.ndarray:
        """The vectors of these rows (as searched) from Lance, at the snapshot's version.

        A read as small as a search's candidates takes their id, text and metadata along
        (one Lance read costs about the same for 4 columns as for 1) for the hits.
        """
        lance, snap = self._synced, self.snapshot
        small = len(rowids) <= HIT_ROWS_MAX and snap is not None and lance.version == snap.version
        taken = _lance.take(lance, rowids, ["embedding", *ROW_COLUMNS] if small else ["embedding"])
        if small and snap is not None:
            rows = zip(
                taken.column("id").to_pylist(),
                taken.column("text").to_pylist(),
                _lance.json_texts(taken.column("metadata")),
                strict=True,
            )
            snap.remember(snap.version, rowids.tolist(), rows)
        return prepared(taken, self.dimensions, self.metric)[0]

    def _grown(self) -> bool:
        """Whether the index covers SAVE_GROWTH times the rows of its last save."""
        index = self.index
        return index is not None and index.count >= SAVE_GROWTH * max(self._saved_count, 1)

    def _building(self) -> bool:
        return self._builder is not None and self._builder.is_alive()

    def _start_building(self) -> None:
        if self._building():
            return
        self._builder = threading.Thread(
            target=self._build, args=(self._epoch,), name="shoal-index", daemon=True
        )
        self._builder.start()

    def _build(self, epoch: int) -> None:
        """The background builder: extend the index a chunk at a time, then save it."""
        try:
            while True:
                with self.lock:
                    snap = self.snapshot
                    if epoch != self._epoch or snap is None:
                        return
                    done = self.index.count if self.index is not None else 0
                    if done >= snap.size:
                        break
                    self._extend(snap, min(snap.size, done + BUILD_CHUNK))
                    self._refreshed = self._generation
            if self._grown():
                self._save_derived(epoch=epoch)
        except Exception:  # the searches go on exactly over the tail; log, never raise
            _log.exception("building the vector index failed; searches scan the new rows")

    def wait_for_index(self) -> None:
        """Return once every row is indexed and the index saved (for tests and scripts)."""
        builder = self._builder
        if builder is not None and builder is not threading.current_thread():
            builder.join()
        with self.lock:
            snap = self.snapshot
            if snap is None or not self._use_index or snap.live < INDEX_MIN_ROWS:
                return
            if self.index is None or self.index.count < snap.size:
                self._epoch += 1
                self._extend(snap, snap.size)
            if self.index is not None and self.index.count > self._saved_count:
                self._save_derived()

    def stop_building(self, timeout: float = 5.0) -> None:
        """Stop the background builder at its next chunk (at exit: nothing half-written)."""
        self._epoch += 1
        builder = self._builder
        if builder is not None and builder is not threading.current_thread():
            builder.join(timeout)

    def _save_derived(self, *, epoch: int | None = None) -> None:
        """Save the index as a side effect: a failure is logged, never raised.

        The search has its answer from the index in memory; the file only spares the next
        process the rebuild. A read-only folder is not written to at all.
        """
        file = self._file
        if file is None or self.index is None:
            return
        with self.lock:
            if epoch is not None and epoch != self._epoch:
                return
            saved, self._saved_count = self._saved_count, self.index.count
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
        # Locks in the order view, then build; the file is written holding only the build
        # lock (unless the caller holds the view's), so searches go on meanwhile.
        with self.lock:
            snap, index, lance = self.snapshot, self.index, self._synced
            if self._file is None or index is None or snap is None or index.count == 0:
                return
            count = index.count
            rowids = np.where(snap.alive[:count], snap.rowids[:count], -1)
            norms = snap.norms[:count].copy()
            version = snap.version
            self._build_lock.acquire()
        try:
            # A compressed index is for keeping the disk lean: no rows file (hits from Lance).
            current = lance is not None and lance.version == version
            rows = _lance.take_hits(lance, rowids) if current and index.storage == "flat" else None
            mapped = self._file.save(Saved(index, version, rowids, norms, rows))
            with self.lock:
                if self.index is index:
                    self._saved_count = count
                if self.snapshot is snap and snap.version == version and mapped is not None:
                    snap.use_rows(mapped)  # hits now read the mapped file, not Lance
        finally:
            self._build_lock.release()

    # ----------------------------------------------------------------------- search
    def metadata_keys(self, lance: Any) -> Collection[str]:
        """The top-level metadata keys, for checking filter fields (looked up key by key)."""
        assert self.snapshot is not None
        return _MetadataKeys(self.seen_keys, lance)

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
        rowids = _lance.rowids_of(matches)
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
        if not isinstance(snap.base, Coded) or snap.indexed == 0:
            return self._search(query, k, positions=positions, metric=metric, key=key)
        # Scores over codes are close, not exact: rescore a few times k with Lance's vectors.
        found, _ = self._search(query, REFINE * k, positions=positions, metric=metric, key=key)
        return snap.exact(query, k, found, metric, matrix=snap.exact_vectors(found))

    def _search(
        self,
        query: np.ndarray,
        k: int,
        *,
        positions: np.ndarray | None,
        metric: Metric,
        key: str | None,
    ) -> tuple[np.ndarray, np.ndarray]:
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
                entry.matrix = snap.vectors_at(positions)
            matrix = entry.matrix if entry is not None else None
            return snap.exact(query, k, positions, metric, matrix=matrix)
        index = self.index
        if index is None or index.count == 0 or metric != self.metric:
            return snap.exact(query, k, positions, metric)
        covered = index.count
        # Over codes the walk costs a tenth of the rescoring read: a wider beam, nearly free.
        base_ef = EF_SEARCH if index.storage == "flat" else CODED_EF_SEARCH
        unit = query / np.linalg.norm(query) if self.metric == "cosine" else query
        unit = np.ascontiguousarray(unit, dtype=np.float32)
        if positions is None:
            bitmap = self._alive_bitmap(snap, covered)
            found, scores = index.search(unit, k, ef=base_ef, bitmap=bitmap)
            tail = np.arange(covered, snap.size)[snap.alive[covered : snap.size]]
            wanted = min(k, snap.live - len(tail))
        else:
            inside, tail = _split(entry, positions, covered)
            # A filter prunes the graph walk: widen the beam as the share of matches falls.
            share = len(positions) / max(snap.live, 1)
            decades = max(0.0, math.log10(snap.live / 100_000))
            beam = FILTER_BEAM + FILTER_BEAM_PER_DECADE * decades
            ef = min(1024, max(base_ef, int(beam * base_ef / share**0.5)))
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
        self, lance: Any, query: str, k: int, *, positions: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, BM25 scores) among live rows, or among `positions`; matches only.

        The keyword index is keyed by rowid, loaded from its file (or built) on the first
        keyword search, and caught up with Lance before each; saved when much changed.
        """
        snap = self.snapshot
        assert snap is not None
        keywords = self.refresh_keywords(lance)
        rowids = None if positions is None else np.sort(snap.rowids[positions])
        found, scores = keywords.search(query, k, rowids=rowids)
        positions = snap.lookup(found)
        known = positions >= 0
        return positions[known], scores[known]

    def keyword_rows(self, lance: Any, query: str) -> np.ndarray | None:
        """Rowids of the rows whose text holds every word of `query` (None: it has none the
        index keeps), from the keyword index caught up with `lance`."""
        with self.lock:
            self.sync(lance)
            return self.refresh_keywords(lance).matching(query)

    def refresh_keywords(self, lance: Any, *, save: bool = False) -> KeywordIndex:
        """The keyword index, caught up with `lance` (the snapshot's version); saved when
        much changed since its last save, or when `save` and anything did."""
        snap = self.snapshot
        assert snap is not None and snap.version == lance.version
        keywords = self._keywords
        language = self.keyword_language(lance)
        if language == AUTO:  # no rows yet, so any analyser finds nothing
            language = "english"
        if keywords is None or keywords.language != language:
            file = self._keyword_file if self._use_index else None
            keywords = self._keywords = KeywordIndex(file, language=language)
        if keywords.version != lance.version:
            rewritten = keywords.version >= 0 and self._rewritten(lance, keywords.version)
            keywords.catch_up(lance, snap.live_rowids(), rewritten=rewritten)
        due = keywords.unsaved > max(KEYWORD_SAVE_MIN, KEYWORD_SAVE_SHARE * keywords.rows)
        if self._use_index and (due or (save and keywords.unsaved)):
            self._save_keywords(keywords)
        return keywords

    def keyword_language(self, lance: Any) -> str:
        """The language of `lance`'s keyword analyser (the stored one, or the one detected
        from its first rows), looked up once per version."""
        cached = self._language
        if cached is None or cached[0] != lance.version:
            cached = self._language = (lance.version, _lance.keyword_language(lance))
        return cached[1]

    def _save_keywords(self, keywords: KeywordIndex) -> None:
        file = self._keyword_file
        if file is None or not file.writable():
            return
        try:
            keywords.save()
        except OSError as exc:
            _log.warning(
                "could not save the keyword index of this dataset (%s); keyword searches go "
                "on with the index in memory (free some space on that disk)",
                reason(exc),
            )

    def _alive_bitmap(self, snap: Snapshot, covered: int) -> np.ndarray | None:
        cached = self._alive_bits
        if cached is not None and cached[0] == covered:
            return cached[1] if len(cached[1]) else None
        alive = snap.alive[:covered]
        bits = np.zeros(0, dtype=np.uint8) if alive.all() else np.packbits(alive, bitorder="little")
        self._alive_bits = (covered, bits)
        return bits if len(bits) else None


@atexit.register
def _stop_builders() -> None:
    """Let each background builder finish its chunk before the interpreter goes away."""
    for view in list(_VIEWS):
        view.stop_building()


def _training_sample(snap: Snapshot) -> np.ndarray:
    """Up to TRAIN_ROWS live rows' vectors, spread over the snapshot (a compressed index's range)."""
    live = np.flatnonzero(snap.alive[: snap.size])
    if len(live) > TRAIN_ROWS:
        live = live[np.linspace(0, len(live) - 1, TRAIN_ROWS).astype(np.int64)]
    return snap.exact_vectors(live)


def _matches(lance: Any, snap: Snapshot, index: HnswIndex) -> bool:
    """Whether a few indexed live rows hold the same vectors in Lance as in the snapshot
    (over codes: codes within one step of the vectors' own, whichever SIMD path rounded them)."""
    live = np.flatnonzero(snap.alive[: snap.indexed])
    if len(live) == 0:
        return True
    sample = live[np.linspace(0, len(live) - 1, min(SAMPLE_ROWS, len(live))).astype(np.int64)]
    sample = np.unique(sample)
    try:
        vectors, norms = snap.prepared(_lance.take(lance, snap.rowids[sample], ["embedding"]))
    except Exception:  # rows missing, or a vector that does not fit: not this dataset's file
        return False
    if index.storage != "flat":
        stored = index.codes()[sample].astype(np.int16)
        return bool(
            np.abs(index.encode(vectors).astype(np.int16) - stored).max() <= 1
            and np.allclose(norms, snap.norms[sample], rtol=1e-5)
        )
    return bool(
        np.allclose(vectors, snap.vectors_at(sample), rtol=1e-5, atol=1e-6)
        and np.allclose(norms, snap.norms[sample], rtol=1e-5)
    )


class _MetadataKeys(Collection[str]):
    """Metadata keys, asked about one at a time: Lance finds one row that has the key (at
    most a scan), so no one parses every row's JSON; listing them all (for an error
    message) reads the metadata column."""

    def __init__(self, seen: set[str], lance: Any) -> None:
        self._seen = seen
        self._lance = lance

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._seen:
            return True
        quoted = "'" + key.replace("'", "''") + "'"
        found = self._lance.to_table(
            columns=[],
            with_row_id=True,
            filter=f"json_get(metadata, {quoted}) IS NOT NULL",
            limit=1,
        )
        if found.num_rows:
            self._seen.add(key)
        return bool(found.num_rows)

    def _all(self) -> set[str]:
        keys: set[str] = set()
        for batch in self._lance.to_batches(columns=["metadata"]):
            for text in _lance.json_texts(batch.column(0)):
                value = json.loads(text) if text else {}
                if isinstance(value, dict):
                    keys.update(value)
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._all()))

    def __len__(self) -> int:
        return len(self._all())


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
