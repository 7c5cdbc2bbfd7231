"""The part of `Dataset` that hands its rows to other tools: training streams (`stream`,
`to_torch`, `to_torch_rows`, `to_tf`) and Arrow tables out and in (`to_batches`,
`to_arrow`, `to_pandas`, `to_polars`, `add_table`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shoal._checks import needs
from shoal.store._interchange import (
    ImportPlan,
    ImportRows,
    arrow_batches,
    export_reader,
)
from shoal.store._location import Location
from shoal.store._stage import Stage
from shoal.store._storage_errors import guarded
from shoal.store._stream import Stream, adapter, plan_stream
from shoal.store._view import View
from shoal.store.filters import Filter
from shoal.types import EmbedderSpec

if TYPE_CHECKING:
    from typing import Self

    import pandas
    import polars
    import tensorflow as tf
    import torch.utils.data

__all__ = ["Tables"]


class Tables:
    """The part of `Dataset` that streams its rows to training loops and Arrow tables."""

    _view: View
    _location: Location
    _branch: str | None
    _spec: EmbedderSpec

    # Defined by Dataset (and History, which comes first in its bases).
    @property
    def schema(self) -> pa.Schema:
        """The Lance schema of the stored columns."""
        raise NotImplementedError

    def checkout(self, ref: int | str) -> Self:
        """This dataset at `ref` (see `History.checkout`)."""
        raise NotImplementedError

    def staging(self, message: str) -> Stage:
        """A stage of rows for one version (see `Dataset.staging`)."""
        raise NotImplementedError

    def add(
        self,
        texts: Sequence[str],
        *,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        embeddings: Any = None,
        columns: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Add rows (see `Dataset.add`)."""
        raise NotImplementedError

    def _current(self) -> Any:
        raise NotImplementedError

    def _compile(self, where: Filter) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------- training streams
    @guarded("stream the rows of")
    def stream(
        self,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        where: Filter | None = None,
        ref: int | str | None = None,
        drop_last: bool = False,
    ) -> Stream:
        """Batches of one version's rows as numpy arrays and lists, for training loops.

        The version (this handle's, or `ref`: a version number, tag or branch) and the rows
        matching `where` are fixed now; later writes change nothing the stream reads.
        `columns` are ``id``, ``text``, ``embedding`` (the default three), ``metadata``,
        extra columns (binary ones as bytes) or dotted metadata paths (numbers become
        arrays). `to_torch` and `to_tf` wrap this; `Stream.batches(epoch, shard, shards)`
        reads one share of an epoch, shuffled by (seed, epoch) if `shuffle`.

        Raises:
            InvalidInput: an unknown column (the message lists the known ones) or a bad option.
        """
        handle = self.checkout(ref) if ref is not None else self
        return handle._plan(columns, batch_size, shuffle, seed, where, drop_last)

    def _plan(
        self,
        columns: Sequence[str] | None,
        batch_size: int,
        shuffle: bool,
        seed: int,
        where: Filter | None,
        drop_last: bool,
    ) -> Stream:
        predicate = self._compile(where) if where else None
        pinned, keys = self._pinned()
        return plan_stream(
            pinned,
            self._location,
            self._branch,
            columns=columns,
            predicate=predicate,
            metadata_keys=keys,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )

    def _pinned(self) -> tuple[Any, Collection[str]]:
        """This handle's version as a Lance object of its own (later writes do not move
        it), and its metadata keys."""
        with self._view.lock:
            lance = self._current()
            self._view.sync(lance)
            version = int(lance.version)
            pinned = lance.checkout_version((self._branch, version) if self._branch else version)
            return pinned, self._view.metadata_keys(pinned)

    def to_torch(
        self,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        where: Filter | None = None,
        ref: int | str | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> torch.utils.data.IterableDataset[Any]:
        """A torch IterableDataset of batches (dicts of tensors and lists) of one pinned version.

        Pass it to ``DataLoader(stream, batch_size=None, num_workers=...)``: each DataLoader
        worker and each rank (from torch.distributed, or `rank` / `world_size`) reads its
        own share, together every row once an epoch; `set_epoch(e)` reshuffles. See
        `shoal.integrations.torch.to_torch`, which this calls (``pip install 'shoal[torch]'``).
        """
        to_torch: Callable[..., torch.utils.data.IterableDataset[Any]] = adapter("torch")
        return to_torch(
            self,
            columns=columns,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            where=where,
            ref=ref,
            transform=transform,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )

    def to_torch_rows(
        self,
        *,
        columns: Sequence[str] | None = None,
        where: Filter | None = None,
        ref: int | str | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
    ) -> torch.utils.data.Dataset[Any]:
        """A map-style torch Dataset of one pinned version's rows (``rows[i]`` is one row),
        for samplers that need random access (DistributedSampler, WeightedRandomSampler).

        See `shoal.integrations.torch.to_torch_rows`, which this calls.
        """
        to_torch_rows: Callable[..., torch.utils.data.Dataset[Any]] = adapter("torch_rows")
        return to_torch_rows(self, columns=columns, where=where, ref=ref, transform=transform)

    def to_tf(
        self,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        where: Filter | None = None,
        ref: int | str | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> tf.data.Dataset:
        """A tf.data.Dataset of batches (dicts of tensors) of one pinned version; each pass
        over it is the next epoch (reshuffled from `seed` if `shuffle`).

        See `shoal.integrations.tf.to_tf`, which this calls (``pip install 'shoal[tensorflow]'``).
        """
        to_tf: Callable[..., tf.data.Dataset] = adapter("tf")
        return to_tf(
            self,
            columns=columns,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            where=where,
            ref=ref,
            transform=transform,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )

    # ------------------------------------------------------------ Arrow in and out
    def to_batches(
        self,
        *,
        columns: Sequence[str] | None = None,
        where: Filter | None = None,
        ref: int | str | None = None,
        batch_size: int = 8192,
    ) -> pa.RecordBatchReader:
        """One version's rows as Arrow record batches, read lazily: exports larger than memory.

        `columns` are the stored ones (default all: ``id``, ``text``, ``embedding``,
        ``metadata`` as JSON text, extra columns) or dotted metadata paths, typed from the
        version's values; `ref` reads a past version, tag or branch. The schema's metadata
        names the embedder and the extra columns, so `add_table` / `shoal.from_arrow`
        import the rows back as they were.

        Raises:
            InvalidInput: an unknown column (the message lists the known ones) or a bad option.
        """
        handle = self.checkout(ref) if ref is not None else self
        predicate = handle._compile(where) if where else None
        pinned, keys = handle._pinned()
        return export_reader(
            pinned,
            columns=columns,
            predicate=predicate,
            metadata_keys=keys,
            spec=self._spec,
            batch_size=batch_size,
        )

    def to_arrow(
        self,
        *,
        columns: Sequence[str] | None = None,
        where: Filter | None = None,
        ref: int | str | None = None,
    ) -> pa.Table:
        """One version's rows as a pyarrow Table (`to_batches`' columns, read at once)."""
        return self.to_batches(columns=columns, where=where, ref=ref).read_all()

    def to_pandas(
        self,
        *,
        columns: Sequence[str] | None = None,
        where: Filter | None = None,
        ref: int | str | None = None,
    ) -> pandas.DataFrame:
        """One version's rows as a pandas DataFrame (``pip install 'shoal[pandas]'``)."""
        needs("pandas", "pandas")
        return self.to_arrow(columns=columns, where=where, ref=ref).to_pandas()

    def to_polars(
        self,
        *,
        columns: Sequence[str] | None = None,
        where: Filter | None = None,
        ref: int | str | None = None,
    ) -> polars.DataFrame:
        """One version's rows as a Polars DataFrame (``pip install 'shoal[polars]'``)."""
        module = needs("polars", "polars")
        frame: polars.DataFrame = module.from_arrow(
            self.to_arrow(columns=columns, where=where, ref=ref)
        )
        return frame

    def add_table(
        self,
        table: Any,
        *,
        text: str = "text",
        id: str | None = None,
        embedding: str | None = None,
        metadata: str | None = None,
        columns: Sequence[str] | None = None,
        message: str = "import a table",
    ) -> list[str]:
        """Import a table's rows as one version; returns their ids in table order.

        `table`: a pyarrow Table or RecordBatchReader, a pandas or Polars DataFrame, or an
        iterable of RecordBatches (read in batches: tables larger than memory). Column
        parts: `text` (required), `id` and `embedding` (default the columns so named, if
        any; without vectors the texts are embedded), `metadata` (a whole-metadata column
        of JSON text or structs, default ``metadata`` if present), `columns` (extra
        columns; default those `to_batches` exported and every binary column); every other
        column is a metadata field. Rows already stored are skipped, as `add` skips them.
        The rows are embedded and staged a batch at a time, then committed together as one
        version; an import that adds extra columns the dataset lacks is read whole and
        written by one `add` (a staged write cannot add columns; `add` adds the empty
        columns first, a version of their own).

        Raises:
            InvalidInput: a missing column, or a bad row (its number in the message);
                nothing of the import is committed.
        """
        schema, batches = arrow_batches(table)
        plan = ImportPlan.of(
            schema, text=text, id=id, embedding=embedding, metadata=metadata, columns=columns
        )
        if any(c not in self.schema.names for c in plan.columns):
            # A staged write cannot add columns: read it whole, write it in one add().
            parts, offset = [], 0
            for batch in batches:
                parts.append(plan.rows(batch, offset))
                offset += batch.num_rows
            whole = ImportRows.join(parts, plan)
            return self.add(
                whole.texts,
                metadatas=whole.metadatas,
                ids=whole.ids,
                embeddings=whole.embeddings,
                columns=whole.columns,
            )
        added: list[str] = []
        with self.staging(message) as stage:
            for batch in batches:
                rows = plan.rows(batch, len(added))
                added += stage.add(
                    rows.texts,
                    metadatas=rows.metadatas,
                    ids=rows.ids,
                    embeddings=rows.embeddings,
                    columns=rows.columns,
                )
        return added
