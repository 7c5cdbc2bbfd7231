"""Training streams: one pinned version's rows read in batches, sharded and shuffled.

A `Stream` is the plan that `Dataset.stream` makes and the torch and TensorFlow adapters
(`shoal.integrations.torch`, `shoal.integrations.tf`) wrap; it imports neither. Its rows
are fixed when it is made: the version (a later write changes nothing it reads) and the
rows matching `where` (their Lance row ids). Each epoch orders them from (seed, epoch),
splits that order into `shards` contiguous shares (rank x DataLoader worker), and each
share reads its rows with Lance's take by row id, a window of rows at a time, so a
dataset on a folder or on S3 feeds a training loop without being copied first.

Shuffling moves blocks of `BLOCK_ROWS` neighbouring rows, then shuffles rows within each
window of `WINDOW_ROWS` rows read together: a take of scattered single rows reads about
five times fewer rows a second than a take of runs of rows (bench/train_stream.py).

The adapters are found by their "module:attr" names on first use (`adapter`), the way the
rerankers of `shoal.qa` are, so this layer never imports the one above it.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import lance
import numpy as np
import pyarrow as pa

from shoal.errors import InvalidInput, StoreError
from shoal.store import _lance
from shoal.store._location import Location
from shoal.store._records import CONTENT_TYPE_KEY
from shoal.store.filters import metadata_json

__all__ = [
    "ADAPTERS",
    "BLOCK_ROWS",
    "DEFAULT_COLUMNS",
    "WINDOW_ROWS",
    "ColumnKind",
    "Stream",
    "StreamColumn",
    "adapter",
    "check_shards",
    "column_names",
    "column_spec",
    "convert",
    "plan_stream",
    "share",
]

BLOCK_ROWS = 256
"""Neighbouring rows that a shuffle keeps together (then mixes within a window)."""
WINDOW_ROWS = 8192
"""Rows one take reads; a shuffle mixes the rows of a window (32 blocks) among themselves."""
DEFAULT_COLUMNS = ("id", "text", "embedding")

ColumnKind = Literal["vector", "int", "float", "bool", "str", "bytes", "object"]
"""How a column arrives in a batch: "vector" a float32 (rows, dims) array; "int" int64,
"float" float64 (NaN where a row has no value), "bool" arrays; "str" and "bytes" lists
(None where missing); "object" a list of Python values (JSON lists and dicts, mixed types)."""

ADAPTERS = {
    "torch": "shoal.integrations.torch:to_torch",
    "torch_rows": "shoal.integrations.torch:to_torch_rows",
    "tf": "shoal.integrations.tf:to_tf",
}


def adapter(name: str) -> Callable[..., Any]:
    """The framework adapter `name` (a key of ADAPTERS), imported on first use."""
    module_name, _, attr = ADAPTERS[name].partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return found


@dataclass(frozen=True)
class StreamColumn:
    """One column of a stream's batches: its name, kind and the Lance projection that reads it."""

    name: str
    kind: ColumnKind
    sql: str
    dimensions: int = 0
    """Width of a "vector" column; 0 otherwise."""
    content_type: str = ""
    """A binary column's content type (e.g. ``image/png``); "" otherwise."""
    json: bool = False
    """The projection reads JSON text (a metadata path), parsed into values here."""


@dataclass(frozen=True, eq=False)
class Stream:
    """Batches of one pinned version's rows (numpy arrays and lists), sharded and shuffled.

    `batches(epoch, shard, shards)` yields one share of an epoch; the shares of
    ``shard`` 0 .. ``shards`` - 1 hold every row exactly once. A Stream pickles (the
    DataLoader's worker processes reopen the dataset), except for memory:// datasets.
    """

    location: Location
    branch: str | None
    version: int
    columns: tuple[StreamColumn, ...]
    rowids: np.ndarray = field(repr=False)
    batch_size: int = 32
    shuffle: bool = False
    seed: int = 0
    drop_last: bool = False
    _lance: Any = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.rowids)

    def __getstate__(self) -> dict[str, Any]:
        if self.location.kind == "memory":
            raise InvalidInput(
                f"{self.location.uri} lives in this process's memory, so worker processes "
                "cannot read it: use num_workers=0, or a dataset in a folder or on S3"
            )
        state = dict(self.__dict__)
        state["_lance"] = None  # each process opens its own (Lance is not fork-safe)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def with_options(self, **options: Any) -> Stream:
        """A copy with other batch_size, shuffle, seed or drop_last (same rows and version)."""
        return replace(self, **options)

    def num_batches(self, shard: int = 0, shards: int = 1) -> int:
        """How many batches `batches(epoch, shard, shards)` yields."""
        start, stop = share(len(self.rowids), shard, shards)
        full, rest = divmod(stop - start, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def order(self, epoch: int) -> np.ndarray:
        """Positions (into the pinned rows) in this epoch's order: stored order, or blocks of
        BLOCK_ROWS rows permuted by (seed, epoch)."""
        count = len(self.rowids)
        if not self.shuffle or count == 0:
            return np.arange(count)
        rng = np.random.default_rng([self.seed, epoch])
        blocks = rng.permutation(math.ceil(count / BLOCK_ROWS))
        starts = blocks * BLOCK_ROWS
        sizes = np.minimum(starts + BLOCK_ROWS, count) - starts
        return np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(count)

    def batches(self, epoch: int = 0, shard: int = 0, shards: int = 1) -> Iterator[dict[str, Any]]:
        """The batches of share `shard` of `shards` in epoch `epoch`: dicts of column -> values."""
        if shards < 1 or not 0 <= shard < shards:
            raise InvalidInput(f"shard {shard} of {shards} is not a share: use 0 <= shard < shards")
        start, stop = share(len(self.rowids), shard, shards)
        positions = self.order(epoch)[start:stop]
        rng = np.random.default_rng([self.seed, epoch, shard, shards])
        pending: list[pa.Table] = []
        held = 0
        for first in range(0, len(positions), WINDOW_ROWS):
            window = self._read(positions[first : first + WINDOW_ROWS], rng)
            pending.append(window)
            held += window.num_rows
            while held >= self.batch_size:
                table = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
                cut = held - held % self.batch_size
                for offset in range(0, cut, self.batch_size):
                    yield self._convert(table.slice(offset, self.batch_size))
                pending = [table.slice(cut)] if cut < held else []
                held -= cut
        if held and not self.drop_last:
            yield self._convert(pa.concat_tables(pending))

    def rows(self, positions: Sequence[int]) -> dict[str, Any]:
        """The rows at these positions of the pinned rows, as one batch (for random access)."""
        index = np.asarray(positions, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self.rowids)):
            raise IndexError(f"row positions must lie in 0 .. {len(self.rowids) - 1}")
        return self._convert(self._take(self.rowids[index]))

    # ------------------------------------------------------------------ reading
    def _dataset(self) -> Any:
        if self._lance is None:
            opened = lance.dataset(
                self.location.lance_uri,
                storage_options=dict(self.location.storage_options) or None,
            )
            target = (self.branch, self.version) if self.branch else self.version
            object.__setattr__(self, "_lance", opened.checkout_version(target))
        return self._lance

    def _take(self, rowids: np.ndarray) -> pa.Table:
        projection = {c.name: c.sql for c in self.columns}
        if len(rowids) == 0:
            return self._dataset().to_table(columns=projection, limit=0)
        table: pa.Table = self._dataset()._take_rows(rowids.tolist(), columns=projection)
        if table.num_rows != len(rowids):  # the version is pinned: only a cleanup removes rows
            raise StoreError(
                f"{len(rowids) - table.num_rows} rows of version {self.version} of "
                f"{self.location.uri} could not be read: was that version cleaned up "
                "(ds.cleanup)? Make the stream again on a version that is kept"
            )
        return table

    def _read(self, positions: np.ndarray, rng: np.random.Generator) -> pa.Table:
        if not self.shuffle:
            return self._take(self.rowids[positions])
        # Mix the window's rows in the take itself: Lance still reads them in stored order
        # (runs of neighbours), and this saves a copy (1.7x the rows a second).
        return self._take(self.rowids[positions[rng.permutation(len(positions))]])

    def _convert(self, table: pa.Table) -> dict[str, Any]:
        return {c.name: convert(table.column(c.name), c) for c in self.columns}


def share(count: int, shard: int, shards: int) -> tuple[int, int]:
    """Start and stop of share `shard` of `shards` of `count` positions (sizes differ by 1 at most)."""
    return count * shard // shards, count * (shard + 1) // shards


def convert(column: pa.ChunkedArray, spec: StreamColumn) -> Any:
    """One column of a batch as a writable numpy array (numeric kinds) or a list (the others)."""
    values = _convert(column, spec)
    # Arrow's buffers are read-only; torch warns on (and must not write into) such arrays.
    return np.require(values, requirements="W") if isinstance(values, np.ndarray) else values


def _convert(column: pa.ChunkedArray, spec: StreamColumn) -> Any:
    array = column.combine_chunks()
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    if spec.kind == "vector":
        flat = array.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(len(array), spec.dimensions)
    if spec.json:
        values = [None if v is None else json.loads(v) for v in array.to_pylist()]
        if spec.kind == "float":
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if spec.kind in ("int", "bool"):
            return np.array(values, dtype=np.int64 if spec.kind == "int" else np.bool_)
        return values
    if spec.name == "metadata":
        return [json.loads(v) if v else {} for v in array.to_pylist()]
    if spec.kind == "float":
        return np.asarray(array.cast(pa.float64()).fill_null(math.nan).to_numpy(), np.float64)
    if spec.kind in ("int", "bool"):
        return array.to_numpy(zero_copy_only=False)
    return array.to_pylist()


# ---------------------------------------------------------------------- planning
def plan_stream(
    lance_version: Any,
    location: Location,
    branch: str | None,
    *,
    columns: Sequence[str] | None,
    predicate: str | None,
    metadata_keys: Collection[str],
    batch_size: int,
    shuffle: bool,
    seed: int,
    drop_last: bool,
) -> Stream:
    """The Stream of `lance_version`'s rows matching `predicate` (already compiled)."""
    names = column_names(columns, DEFAULT_COLUMNS, batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be an int >= 0, got {seed!r}")
    specs = tuple(column_spec(lance_version, name, metadata_keys) for name in names)
    rowids = _lance.rowids_of(
        lance_version.to_table(columns=[], with_row_id=True, filter=predicate)
    )
    return Stream(
        location=location,
        branch=branch,
        version=int(lance_version.version),
        columns=specs,
        rowids=rowids,
        batch_size=batch_size,
        shuffle=bool(shuffle),
        seed=seed,
        drop_last=bool(drop_last),
        _lance=lance_version,
    )


def column_names(
    columns: Sequence[str] | None, default: Sequence[str], batch_size: int
) -> list[str]:
    """The `columns` asked for (`default` if None), checked, with `batch_size`."""
    names = list(default if columns is None else columns)
    if isinstance(columns, str) or not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput('columns must be a non-empty list of names, e.g. ["embedding", "label"]')
    if len(set(names)) != len(names):
        raise InvalidInput(f"columns names a column twice: {names}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
    return names


def column_spec(lance_version: Any, name: str, metadata_keys: Collection[str]) -> StreamColumn:
    """A column's kind, from its type or (a metadata path) from the version's values: the
    whole version's, so that a filter never changes a column's type."""
    schema: pa.Schema = lance_version.schema
    if name in schema.names:
        return _stored_column(lance_version, schema.field(name))
    top = name.split(".", 1)[0]
    if top not in metadata_keys:
        extras = [n for n in schema.names if n not in ("metadata",)]
        keys = sorted(metadata_keys)
        shown = ", ".join(keys[:30]) + (f" and {len(keys) - 30} more" if len(keys) > 30 else "")
        raise InvalidInput(
            f"no column or metadata field {name!r} in this dataset: columns are "
            f"{', '.join(extras)}, metadata (whole), and metadata fields "
            f"({shown or 'none yet'}, dotted paths like 'author.name' reach inside them)"
        )
    sql = metadata_json(name)
    values = lance_version.to_table(columns={"v": sql}).column("v")
    return StreamColumn(name, _json_kind(values.to_pylist()), sql, json=True)


def _stored_column(lance_version: Any, stored: pa.Field) -> StreamColumn:
    kind = stored.type
    sql = f"`{stored.name}`"
    if stored.name == "metadata":
        return StreamColumn("metadata", "object", sql)
    if pa.types.is_fixed_size_list(kind) and pa.types.is_floating(kind.value_type):
        return StreamColumn(stored.name, "vector", sql, dimensions=kind.list_size)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        content = (stored.metadata or {}).get(CONTENT_TYPE_KEY, b"").decode()
        return StreamColumn(stored.name, "bytes", sql, content_type=content)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return StreamColumn(stored.name, "str", sql)
    numeric = pa.types.is_integer(kind) or pa.types.is_boolean(kind)
    if numeric or pa.types.is_floating(kind):
        nulls = lance_version.to_table(columns=[stored.name]).column(0).null_count
        if pa.types.is_floating(kind) or (nulls and pa.types.is_integer(kind)):
            return StreamColumn(stored.name, "float", sql)
        if not nulls:
            return StreamColumn(stored.name, "int" if pa.types.is_integer(kind) else "bool", sql)
    return StreamColumn(stored.name, "object", sql)


def _json_kind(texts: Sequence[str | None]) -> ColumnKind:
    """The kind of a metadata path from its JSON values in the pinned rows."""
    values = [json.loads(t) for t in texts if t is not None]
    missing = len(values) < len(texts)
    if values and all(isinstance(v, bool) for v in values):
        return "object" if missing else "bool"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "float" if missing else "int"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    if all(isinstance(v, str) for v in values):
        return "str"
    return "object"


def check_shards(rank: int, world_size: int) -> None:
    """InvalidInput unless 0 <= rank < world_size."""
    for value, what in ((rank, "rank"), (world_size, "world_size")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{what} must be an int, got {value!r}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise InvalidInput(f"rank {rank} of world_size {world_size}: use 0 <= rank < world_size")
