"""The in-memory view of one dataset version that searches read: vectors and row ids only.

Rows get a *position* when they enter the view and keep it until the view is rebuilt; a
deleted or replaced row leaves a dead position behind. The HNSW index numbers its
vectors by the same positions, so it can cover a prefix of the view while the rest (the
tail) is searched exactly.

Each vector is held once: the indexed prefix is read from the index's own storage (a
memory-mapped file after a reopen, so untouched pages cost nothing), the tail from a
buffer here. Texts, ids and metadata stay in Lance and are fetched for the hits only.
Over a compressed index (`Coded`), the prefix is searched as the index decodes it, and
`exact_vectors` reads the real ones from Lance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa

from shoal.store._lance import rowids_of
from shoal.types import Metric

__all__ = ["Coded", "Snapshot", "find_sorted", "prepare_vectors", "prepared", "sorted_live"]

_log = logging.getLogger("shoal.store")


def sorted_live(rowids: np.ndarray, alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The live entries' rowids sorted, and their indexes: the keys `find_sorted` searches."""
    live = np.flatnonzero(alive)
    order = np.argsort(rowids[live], kind="stable")
    return rowids[live][order], live[order]


def find_sorted(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The value of each wanted key in sorted `keys` (paired with `values`), -1 where absent."""
    if len(keys) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    slots = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[slots] == wanted, values[slots], -1)


def prepare_vectors(
    vectors: np.ndarray, metric: Metric, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as searched (unit length for cosine) and their raw norms.

    `out` receives the result (a slice of the tail buffer: no temporary copy).
    Writes refuse what search cannot use, but a stored row may still hold one (written by
    an older version, or another tool): a zero vector (no direction, in a cosine dataset)
    or non-finite values. Such a row is searched as the zero vector, scoring 0 (or its
    distance from the origin), so it never blocks a search, a write or its own deletion;
    a warning names how many there are.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors)).astype(np.float32)
    bad = ~np.isfinite(norms)
    if bad.any():
        vectors = np.where(bad[:, None], np.float32(0), vectors)
        norms = np.where(bad, np.float32(0), norms)
    if metric == "cosine":
        zero = norms == 0
        bad |= zero
        divisors = np.where(zero, np.float32(1), norms)[:, None]
        vectors = np.divide(vectors, divisors, out=out) if out is not None else vectors / divisors
    elif out is not None:
        out[...] = vectors
        vectors = out
    if bad.any():
        _log.warning(
            "%d stored rows hold a zero or non-finite vector: vector search scores them as "
            "the zero vector; delete them, or upsert them with a real vector",
            int(np.count_nonzero(bad)),
        )
    return vectors, norms


class Coded:
    """The indexed vectors when the index keeps codes: decoded for search, read exactly
    from Lance (`exact`) for the few a search rescores, and compared code to code."""

    def __init__(
        self,
        count: int,
        decode: Callable[[np.ndarray], np.ndarray],
        exact: Callable[[np.ndarray], np.ndarray],
        same: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> None:
        self.count = count
        self.decode = decode  # positions -> (n, d) float32, within a quantisation step
        self.exact = exact  # rowids -> (n, d) float32 as stored in Lance (prepared)
        self.same = same  # positions, vectors -> whether each vector has the stored code

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        if isinstance(key, slice):
            key = np.arange(*key.indices(self.count))
        return self.decode(np.asarray(key, dtype=np.int64))


class Snapshot:
    """Rows of one dataset version held for search, addressed by position."""

    def __init__(
        self,
        dimensions: int,
        metric: Metric,
        version: int,
        *,
        base: np.ndarray | Coded | None = None,
        rowids: np.ndarray | None = None,
        norms: np.ndarray | None = None,
    ) -> None:
        self.dimensions = dimensions
        self.metric = metric
        self.version = version
        # Positions 0..len(base)-1: a read-only view (the index's vectors); the rest: _tail.
        self.base: np.ndarray | Coded = (
            base if base is not None else np.zeros((0, dimensions), dtype=np.float32)
        )
        count = len(self.base)
        self.size = count
        # Positions from _origin on are read from _tail, those before `indexed` from base.
        self._origin = count
        self._tail = np.zeros((0, dimensions), dtype=np.float32)
        self.rowids = np.full(count, -1, dtype=np.int64) if rowids is None else rowids.copy()
        self.norms = np.zeros(count, dtype=np.float32) if norms is None else norms.copy()
        self.alive = self.rowids >= 0
        self.live = int(np.count_nonzero(self.alive))
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._max_rowid = int(self.rowids.max()) if count else -1
        # The saved rows (id, text, metadata) of the first positions, memory-mapped, and
        # which of them still hold the row's current content (an update in place does not).
        self.rows: pa.Table | None = None
        self.rows_current = np.zeros(0, dtype=bool)
        self._row_columns: list[list[tuple[memoryview, memoryview]]] = []
        self._row_starts = np.zeros(1, dtype=np.int64)
        # Rows read from Lance with their vectors (a compressed index's rescoring), by rowid,
        # at `fetched_version`: the hits among them need no second read.
        self.fetched: dict[int, tuple[str, str, str]] = {}
        self.fetched_version = -1

    def remember(
        self, version: int, rowids: Sequence[int], rows: Iterable[tuple[str, str, str]]
    ) -> None:
        """Keep rows (id, text, metadata JSON) read at `version` for the next hits."""
        if self.fetched_version != version or len(self.fetched) > _FETCHED_MAX:
            self.fetched, self.fetched_version = {}, version
        self.fetched.update(zip(rowids, rows, strict=True))

    def use_rows(self, rows: pa.Table | None) -> None:
        """Answer hits at positions 0..len(rows)-1 from `rows` (saved at this version)."""
        self.rows = rows
        self.rows_current = np.ones(0 if rows is None else rows.num_rows, dtype=bool)
        # Per batch, per column: the string offsets and bytes, read in place (Arrow's take
        # on the whole table concatenates its chunks first: 1.2 ms at 100k rows for 10 hits).
        self._row_columns = []
        starts = [0]
        for batch in [] if rows is None else rows.to_batches():
            columns = []
            for column in batch.columns:
                wide = pa.types.is_large_string(column.type)
                _, offsets, data = column.buffers()  # zero-copy: the mapped file's pages
                begin = column.offset
                # A memoryview of the offsets: indexing it gives Python ints (numpy's scalars
                # cost 0.1 µs each, the slicing of `data` by them as much again).
                cast = memoryview(offsets).cast("q" if wide else "i")
                view = cast[begin : begin + len(column) + 1]
                columns.append((view, memoryview(data) if data is not None else memoryview(b"")))
            self._row_columns.append(columns)
            starts.append(starts[-1] + batch.num_rows)
        self._row_starts = np.asarray(starts, dtype=np.int64)

    def saved_rows(self, positions: np.ndarray) -> tuple[list[str], list[str], list[str]]:
        """Id, text and metadata (JSON text) at `positions` from the saved rows file."""
        out: tuple[list[str], list[str], list[str]] = ([], [], [])
        batch_of = np.searchsorted(self._row_starts, positions, side="right") - 1
        local = (positions - self._row_starts[batch_of]).tolist()
        for row, number in zip(local, batch_of.tolist(), strict=True):
            for values, (offsets, data) in zip(out, self._row_columns[number], strict=True):
                values.append(str(data[offsets[row] : offsets[row + 1]], "utf-8"))
        return out

    @property
    def indexed(self) -> int:
        """Positions whose vectors are read from the index (the prefix before the tail)."""
        return len(self.base)

    def reserve(self, count: int) -> None:
        """Make room for `count` positions in all, so loading a table grows nothing twice."""
        self._grow(count)

    def append(self, table: pa.Table) -> None:
        """Add rows (columns _rowid, embedding); a known rowid with a new vector is replaced.

        A known row whose vector did not change (a text or metadata update, a new column)
        keeps its position, so the index over it stays valid.
        """
        if table.num_rows == 0:
            return
        rowids = rowids_of(table)
        if int(rowids.min()) > self._max_rowid:  # only new rows: prepared into the tail
            self._put_raw(rowids, _flat_vectors(table, self.dimensions))
            return
        vectors, norms = self.prepared(table)
        if len(rowids):  # not only new rows
            known = self.lookup(rowids)
            old = np.flatnonzero(known >= 0)
            same = old[
                self._unchanged(known[old], vectors[old]) & (self.norms[known[old]] == norms[old])
            ]
            self.kill(known[np.setdiff1d(old, same)].tolist())
            kept = known[same]  # same vector, so same position: its text or metadata changed
            self.rows_current[kept[kept < len(self.rows_current)]] = False
            fresh = np.ones(len(rowids), dtype=bool)
            fresh[same] = False
            rowids, vectors, norms = rowids[fresh], vectors[fresh], norms[fresh]
        self._put(rowids, vectors, norms)

    def append_batches(self, batches: Iterable[pa.RecordBatch]) -> None:
        """Add new rows batch by batch (columns _rowid, embedding): a full load, no lookups."""
        for batch in batches:
            if batch.num_rows:
                raw = _flat_vectors(pa.Table.from_batches([batch]), self.dimensions)
                self._put_raw(rowids_of(batch), raw)

    def _put_raw(self, rowids: np.ndarray, raw: np.ndarray) -> None:
        """`_put` of vectors as stored in Lance, prepared straight into the tail buffer."""
        _, norms = prepare_vectors(raw, self.metric, out=self._slots(len(rowids)))
        self._record(rowids, norms)

    def _put(self, rowids: np.ndarray, vectors: np.ndarray, norms: np.ndarray) -> None:
        if len(rowids):
            self._slots(len(rowids))[...] = vectors
            self._record(rowids, norms)

    def _slots(self, count: int) -> np.ndarray:
        """The tail buffer's rows for the next `count` positions (grown if needed)."""
        start = self.size
        self._grow(start + count)
        offset = start - self._origin
        return self._tail[offset : offset + count]

    def _record(self, rowids: np.ndarray, norms: np.ndarray) -> None:
        """Make the next len(rowids) positions live rows (their vectors are in place)."""
        start, count = self.size, len(rowids)
        self.norms[start : start + count] = norms
        self.rowids[start : start + count] = rowids
        self.alive[start : start + count] = True
        self.size = start + count
        self.live += count
        self._max_rowid = max(self._max_rowid, int(rowids.max()))
        self._sorted = None

    def _unchanged(self, positions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Whether each position holds this vector (over codes: the same code, which is
        what the index searches; rescoring reads the new vector from Lance)."""
        if not isinstance(self.base, Coded):
            return np.asarray((self.vectors_at(positions) == vectors).all(axis=1))
        inside = positions < self.indexed
        out = np.empty(len(positions), dtype=bool)
        out[inside] = self.base.same(positions[inside], vectors[inside])
        out[~inside] = (self.vectors_at(positions[~inside]) == vectors[~inside]).all(axis=1)
        return out

    def exact_vectors(self, positions: np.ndarray) -> np.ndarray:
        """The stored vectors at `positions` exactly (`vectors_at`, or Lance's over codes)."""
        positions = np.asarray(positions, dtype=np.int64)
        if not isinstance(self.base, Coded):
            return self.vectors_at(positions)
        inside = positions < self.indexed
        out = np.zeros((len(positions), self.dimensions), dtype=np.float32)
        wanted = positions[inside]
        live = self.alive[wanted]  # a dead position's row is gone from Lance, or changed
        if live.any():
            rows = np.zeros((len(wanted), self.dimensions), dtype=np.float32)
            rows[live] = self.base.exact(self.rowids[wanted[live]])
            out[inside] = rows
        out[~inside] = self._tail[positions[~inside] - self._origin]
        return out

    def lookup(self, rowids: np.ndarray) -> np.ndarray:
        """The live position of each rowid, in order, -1 where unknown."""
        keys, positions = self._sorted_rowids()
        return find_sorted(keys, positions, rowids)

    def _sorted_rowids(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            self._sorted = sorted_live(self.rowids[: self.size], self.alive[: self.size])
        return self._sorted

    def live_rowids(self) -> np.ndarray:
        """The rowids of the live rows, sorted."""
        return self._sorted_rowids()[0]

    def rebase(self, base: np.ndarray | Coded) -> None:
        """Read the first len(base) positions from `base` (the index grew over the tail)."""
        if len(base) < self.indexed or len(base) > self.size:
            raise ValueError("the index does not cover a prefix of this snapshot")
        self.base = base
        if len(base) == self.size:  # the tail is all indexed: free its buffer
            self._origin = self.size
            self._tail = np.zeros((0, self.dimensions), dtype=np.float32)

    def vectors_at(self, positions: np.ndarray) -> np.ndarray:
        """The stored vectors at `positions` (a copy; a view for one contiguous run)."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        first, last, cut = int(positions[0]), int(positions[-1]), self.indexed
        run = last - first + 1 == len(positions) and (last < cut or first >= cut)
        if run and (len(positions) == 1 or bool((np.diff(positions) == 1).all())):
            return self.block(first, last + 1)  # a contiguous run: no copy
        inside = positions < cut
        if inside.all():
            gathered: np.ndarray = self.base[positions]
            return gathered
        if not inside.any():
            gathered = self._tail[positions - self._origin]
            return gathered
        out = np.empty((len(positions), self.dimensions), dtype=np.float32)
        out[inside] = self.base[positions[inside]]
        out[~inside] = self._tail[positions[~inside] - self._origin]
        return out

    def block(self, start: int, stop: int) -> np.ndarray:
        """The vectors of positions start..stop-1 (a view when on one side of the index's end)."""
        cut, origin = self.indexed, self._origin
        if stop <= cut:
            return self.base[start:stop]
        if start >= cut:
            return self._tail[start - origin : stop - origin]
        return np.concatenate([self.base[start:cut], self._tail[cut - origin : stop - origin]])

    def compacted(self) -> Snapshot:
        """A copy holding only the live rows, renumbered from position 0 (all in the tail)."""
        live = np.flatnonzero(self.alive[: self.size])
        other = Snapshot(self.dimensions, self.metric, self.version)
        other._put(self.rowids[live], self.exact_vectors(live), self.norms[live])
        return other

    def prepared(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """The `embedding` column of `table` as stored here (see `prepare_vectors`), and norms."""
        return prepared(table, self.dimensions, self.metric)

    def kill(self, positions: Sequence[int]) -> None:
        """Mark positions dead (deleted or replaced rows)."""
        if not len(positions):
            return
        index = np.asarray(positions, dtype=np.int64)
        index = index[self.alive[index]]
        self.alive[index] = False
        self.live -= len(np.unique(index))
        self._sorted = None

    def kill_missing(self, present_rowids: np.ndarray) -> None:
        """Mark dead every live row whose rowid is not among `present_rowids`."""
        live = np.flatnonzero(self.alive[: self.size])
        gone = live[~np.isin(self.rowids[live], present_rowids)]
        self.kill(gone.tolist())

    def positions_of_rowids(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of the live rows with these rowids (unknown rowids are dropped)."""
        found = self.lookup(np.asarray(rowids, dtype=np.int64))
        return np.sort(found[found >= 0])

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

        `matrix` may hold `vectors_at(positions)` already gathered (or `exact_vectors`).
        """
        if positions is None:
            positions = np.flatnonzero(self.alive[: self.size])
        if len(positions) == 0:
            return positions, np.zeros(0, dtype=np.float32)
        if matrix is None:
            matrix = self.vectors_at(positions)
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
        rows = self.exact_vectors(positions)
        if self.metric == "cosine":
            rows = rows * self.norms[positions][:, None]
        difference = rows - query.astype(np.float32, copy=False)
        distances = np.sqrt(np.einsum("ij,ij->i", difference, difference)).astype(np.float32)
        order = np.argsort(distances, kind="stable")
        return positions[order], distances[order]

    def _grow(self, needed: int) -> None:
        if needed > len(self.alive):
            capacity = max(needed, 2 * len(self.alive), 1024)
            self.norms = _extended(self.norms, capacity, 0)
            self.rowids = _extended(self.rowids, capacity, -1)
            self.alive = _extended(self.alive, capacity, False)
        if needed - self._origin > len(self._tail):
            # A new buffer keeps only the unindexed rows: it starts at `indexed`.
            rows = needed - self.indexed
            tail = np.zeros((max(rows, 2 * len(self._tail), 1024), self.dimensions), np.float32)
            kept = self._tail[self.indexed - self._origin : self.size - self._origin]
            tail[: len(kept)] = kept
            self._tail, self._origin = tail, self.indexed

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


_FETCHED_MAX = 4_096


def prepared(table: pa.Table, dimensions: int, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """The `embedding` column of `table` as searched (see `prepare_vectors`), and norms."""
    return prepare_vectors(_flat_vectors(table, dimensions), metric)


def _flat_vectors(table: pa.Table, dimensions: int) -> np.ndarray:
    """The `embedding` column as a (rows, dimensions) float32 array (zero-copy when it can)."""
    column = table.column("embedding")
    chunk = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    flat: np.ndarray = chunk.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(-1, dimensions)


def _extended(array: np.ndarray, capacity: int, fill: object) -> np.ndarray:
    out = np.full(capacity, fill, dtype=array.dtype)
    out[: len(array)] = array
    return out
