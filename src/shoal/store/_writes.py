"""Writes: each call is one Lance commit made under the dataset's write lock.

Under the lock a writer first catches up with every version other writers made, so
deduplication sees their rows; then it commits once. A failure before the commit
leaves the dataset at its previous version.

Object stores (S3) have no lock files. There every write of new rows is a Lance
merge-insert on ``id``, which the dataset declares its (unenforced) primary key: Lance
records the keys each commit inserts, so two writers inserting the same new id at once
conflict, and the later one is planned again from the latest version (where the id is
stored) instead of inserting a copy. S3 itself refuses the second of two manifests
written for one version (a conditional put), so no commit is lost (`_commits`). The private
switch ``SHOAL_S3_WRITES`` (`s3_writes`) chooses another way, for tests and benchmarks only.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import lance as lance_module
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lance.fragment import write_fragments

from shoal.embeddings import Embedder
from shoal.errors import InvalidInput, NonFiniteValues, WriteConflict
from shoal.store import _lance
from shoal.store._commits import (
    again,
    declare_key,
    latest_version,
    merge_rows,
    retried,
    s3_writes,
    staged_rows,
)
from shoal.store._languages import AUTO
from shoal.store._location import Location
from shoal.store._records import (
    CONTENT_TYPE_KEY,
    DECLARED_KEY,
    RESERVED,
    Binary,
    check_column_name,
    check_texts,
    check_unicode,
    check_unicode_values,
    content_id,
    declared_fields,
    declared_type,
    dump_metadata,
    rows_table,
    validate_vectors,
)
from shoal.store._versions import MESSAGE_KEY
from shoal.store._view import View
from shoal.store.filters import id_list
from shoal.types import Metric

_log = logging.getLogger("shoal.store")
_T = TypeVar("_T")

__all__ = ["Batch", "RowWriter", "Staged", "columns_shape", "quote_ids", "s3_writes"]


_JSON_GETTERS = {
    "int64": "json_get_int",
    "double": "json_get_float",
    "bool": "json_get_bool",
    "string": "json_get_string",
}


def quote_ids(ids: Sequence[str]) -> str:
    """A predicate matching rows by id, every id escaped."""
    if isinstance(ids, str):
        raise InvalidInput("ids must be a list of str, not one str: wrap it in [...]")
    values = list(ids)
    if not all(isinstance(i, str) for i in values):
        raise InvalidInput("ids must all be str")
    return id_list(values)


@dataclass
class Batch:
    """Validated rows of one write: ids, texts, metadata, vectors (if known) and extra columns."""

    ids: list[str]
    texts: list[str]
    metadatas: list[Mapping[str, Any]]
    metadata_json: list[str]
    extras: dict[str, Any]
    dimensions: int
    vectors: np.ndarray | None = None
    has_vector: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    embedded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Rows whose vector the embedder made here (not the caller's, not stored ones)."""
    embedded_by: dict[str, str] = field(default_factory=dict)
    """The build of the embedder that made some of `vectors` (empty: none, or caller's vectors)."""

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str] | None,
        embeddings: Any,
        columns: Mapping[str, Any] | None,
        dimensions: int,
    ) -> Batch:
        """Validate everything a caller passed, before anything is embedded or written."""
        rows = check_texts(texts, allow_empty=embeddings is not None)
        count = len(rows)
        metas = list(metadatas) if metadatas is not None else [None] * count
        if len(metas) != count:
            raise InvalidInput(f"{len(metas)} metadatas for {count} texts: pass one per text")
        dumped = [dump_metadata(meta, row) for row, meta in enumerate(metas)]
        if ids is None:
            row_ids = [content_id(text, meta) for text, meta in zip(rows, dumped, strict=True)]
        else:
            if isinstance(ids, str):
                raise InvalidInput("ids must be a list of str, not one str: wrap it in [...]")
            row_ids = list(ids)
            if len(row_ids) != count:
                raise InvalidInput(f"{len(row_ids)} ids for {count} texts: pass one per text")
            for row, value in enumerate(row_ids):
                if not isinstance(value, str) or not value:
                    raise InvalidInput(f"id of row {row} must be a non-empty str, got {value!r}")
                check_unicode(value, f"id of row {row}")
            if len(set(row_ids)) != count:
                twice = next(i for i in row_ids if row_ids.count(i) > 1)
                raise InvalidInput(f"id {twice!r} appears twice in one call: ids must be unique")
        extras = dict(columns or {})
        for name, values in extras.items():
            check_column_name(name)
            length = len(values.values) if isinstance(values, Binary) else len(values)
            if length != count:
                raise InvalidInput(f"column {name!r} has {length} values for {count} rows")
        batch = cls(row_ids, rows, [m or {} for m in metas], dumped, extras, dimensions)
        if embeddings is not None:
            batch.vectors = validate_vectors(embeddings, rows=count, dimensions=dimensions)
            batch.has_vector = np.ones(count, dtype=bool)
        else:
            batch.vectors = np.zeros((count, dimensions), dtype=np.float32)
            batch.has_vector = np.zeros(count, dtype=bool)
        return batch

    def unique_rows(self) -> list[int]:
        """The first row of each id (content-hash ids repeat when a document is passed twice)."""
        seen: set[str] = set()
        rows = []
        for row, row_id in enumerate(self.ids):
            if row_id not in seen:
                seen.add(row_id)
                rows.append(row)
        return rows

    def check_searchable(self, rows: Sequence[int], metric: Metric) -> None:
        """InvalidInput (nothing written yet) for a row whose vector search cannot use:
        non-finite values, or a zero vector in a cosine dataset (it has no direction)."""
        assert self.vectors is not None
        chosen = list(rows)
        everything = len(chosen) == len(self.ids)  # the common case: a view, no copy
        vectors = self.vectors if everything else self.vectors[chosen]
        if everything:
            chosen = list(range(len(self.ids)))

        def source(row: int) -> str:
            made = len(self.embedded) == len(self.ids) and self.embedded[row]
            return f"row {row} (id {self.ids[row]!r}): " + (
                "the embedder returned" if made else "it has"
            )

        # The caller's vectors were checked by validate_vectors; the embedder's were not.
        embedded = len(self.embedded) == len(self.ids) and self.embedded[chosen].any()
        finite = np.isfinite(vectors).all(axis=1) if embedded else np.ones(len(chosen), bool)
        if not finite.all():
            row = chosen[int(np.flatnonzero(~finite)[0])]
            raise NonFiniteValues(
                f"{source(row)} a vector holding NaN or infinity; nothing was written: "
                "fix or drop that row"
            )
        if metric == "cosine":
            zero = ~vectors.any(axis=1)
            if zero.any():
                row = chosen[int(np.flatnonzero(zero)[0])]
                raise InvalidInput(
                    f"{source(row)} a zero vector, which has no cosine similarity; nothing "
                    "was written: drop that row or embed it again"
                )

    def embed(self, embedder: Embedder, rows: Sequence[int]) -> None:
        """Embed the texts of `rows` that have no vector yet."""
        todo = [row for row in rows if not self.has_vector[row]]
        if not todo:
            return
        assert self.vectors is not None
        self.vectors[todo] = embedder.embed_documents([self.texts[row] for row in todo])
        self.has_vector[todo] = True
        if len(self.embedded) != len(self.ids):
            self.embedded = np.zeros(len(self.ids), dtype=bool)
        self.embedded[todo] = True
        self.embedded_by = embedder.build

    def table(self, schema: pa.Schema, rows: Sequence[int]) -> pa.Table:
        """The Arrow table of `rows`, in the dataset's schema."""
        assert self.vectors is not None
        everything = len(rows) == len(self.ids)  # the common case: no copies

        def pick(values: Sequence[Any]) -> Sequence[Any]:
            return values if everything else [values[row] for row in rows]

        extras = {
            name: pick(values.values if isinstance(values, Binary) else values)
            for name, values in self.extras.items()
        }
        return rows_table(
            schema,
            ids=pick(self.ids),
            texts=pick(self.texts),
            vectors=self.vectors if everything else self.vectors[list(rows)],
            metadata_json=pick(self.metadata_json),
            metadatas=pick(self.metadatas),
            extras=extras,
        )


@dataclass(frozen=True)
class Staged:
    """Rows written as data files that no version lists yet (`RowWriter.stage`)."""

    fragments: list[Any]
    ids: list[str]
    shape: str
    """The columns they were written with (`columns_shape`): a commit needs the same."""
    build: Mapping[str, str]


def columns_shape(schema: pa.Schema) -> str:
    """The names and types of a schema's columns (not its metadata, which writes change)."""
    return ",".join(f"{f.name}:{f.type}" for f in schema)


class RowWriter:
    """Commits writes for one dataset, each under its write lock."""

    def __init__(self, location: Location, timeout: float) -> None:
        self._location = location
        self.timeout = timeout

    def store(
        self,
        lance: Any,
        batch: Batch,
        view: View,
        *,
        replace: bool,
        embedder: Callable[[], Embedder],
    ) -> Any:
        """Append new rows (and, if `replace`, overwrite stored ones with the same id).

        Without a write lock (S3) the rows go in by a merge-insert on ``id`` that Lance
        plans again while another writer's commit conflicts with it (module docstring).
        """
        unlocked = None if self._location.locks else s3_writes()

        def attempt() -> Any:
            with self._location.write_lock(self.timeout):
                current = latest_version(lance)
                if unlocked != "keys":
                    # Caught up now, the rows appended below are read back as the view's
                    # fast path (`View.sync(written=)`); a merge-insert has none, so on S3
                    # the one catch-up after the commit reads every object once, not twice.
                    view.sync(current)
                unique = batch.unique_rows()
                stored = _lance.stored_ids(current, [batch.ids[row] for row in unique])
                rows = [row for row in unique if replace or batch.ids[row] not in stored]
                if not rows:
                    return current
                if not batch.has_vector[rows].all():
                    batch.embed(embedder(), rows)  # rows another writer deleted since we looked
                batch.check_searchable(rows, view.metric)
                # Convert (and so validate) every value before committing anything.
                new_fields = _new_fields(current.schema, batch.extras)
                table = batch.table(_with_fields(current.schema, new_fields), rows)
                if new_fields:
                    current.add_columns(
                        new_fields
                    )  # empty columns first: Lance appends need one schema
                if unlocked == "keys":
                    current = declare_key(current)
                    merge_rows(current, table, insert_only=not replace, timeout=self.timeout)
                elif replace and any(batch.ids[row] in stored for row in rows):
                    merge_rows(current, table)
                else:
                    current = lance_module.write_dataset(
                        table, current, mode="append", commit_message=f"add {len(rows)} rows"
                    )
                    view.sync(current, written=table)
                _record_settings(current, [batch.embedded_by])
                if unlocked == "cleanup":
                    # Another writer may have added the same ids meanwhile: the first copy stays.
                    current, _ = self._drop_copies(current, [batch.ids[row] for row in rows])
                return current

        return again(attempt, when=unlocked is not None)

    def stage(
        self,
        lance: Any,
        batch: Batch,
        view: View,
        *,
        skip: set[str],
        embedder: Callable[[], Embedder],
    ) -> Staged | None:
        """Write the rows of `batch` not stored yet (nor in `skip`) as data files that no
        version lists yet; `commit_staged` makes them one version. No lock: nothing changes
        until the commit. None if every row is stored or staged already."""
        current = latest_version(lance)
        unique = [row for row in batch.unique_rows() if batch.ids[row] not in skip]
        stored = _lance.stored_ids(current, [batch.ids[row] for row in unique])
        rows = [row for row in unique if batch.ids[row] not in stored]
        if not rows:
            return None
        if not batch.has_vector[rows].all():
            batch.embed(embedder(), rows)
        batch.check_searchable(rows, view.metric)
        if _new_fields(current.schema, batch.extras):
            raise InvalidInput(
                "a staged write cannot add columns: add rows with new columns with add() "
                "(one version of their own), then stage the rest"
            )
        table = batch.table(current.schema, rows)
        fragments = write_fragments(
            table,
            current,
            schema=current.schema,
            storage_options=dict(self._location.storage_options) or None,
        )
        ids = [batch.ids[row] for row in rows]
        return Staged(fragments, ids, columns_shape(current.schema), batch.embedded_by)

    def commit_staged(self, lance: Any, staged: Sequence[Staged], view: View, message: str) -> Any:
        """Make the staged rows one version carrying `message` (under the write lock).

        Rows another writer stored meanwhile with the same ids keep their first copy. Under
        a lock the staged files are appended, and copies of such ids deleted again (a second
        version, only then). Without one (S3) the staged rows are read back and merge-inserted
        on ``id``, so Lance's key conflicts keep them unique (`store`); a second version
        carries `message`, which a merge-insert cannot."""
        unlocked = None if self._location.locks else s3_writes()
        with self._location.write_lock(self.timeout):
            current = latest_version(lance)
            view.sync(current)
            if any(part.shape != columns_shape(current.schema) for part in staged):
                raise WriteConflict(
                    f"{self._location.uri}: its columns changed while these rows were staged "
                    "(another writer added some); nothing was committed: run the write again"
                )
            fragments = [fragment for part in staged for fragment in part.fragments]
            ids = [row_id for part in staged for row_id in part.ids]
            if unlocked == "keys":
                current = declare_key(current)
                rows = staged_rows(current, fragments, self._location.storage_options)
                merge_rows(current, rows.read_all(), insert_only=True, timeout=self.timeout)
                current = retried(
                    lambda latest: latest.update_config({MESSAGE_KEY: message}), current
                )
                raced: set[str] = set()
            else:
                raced = _lance.stored_ids(current, ids)
                current = lance_module.LanceDataset.commit(
                    current, lance_module.LanceOperation.Append(fragments),
                    read_version=current.version, commit_message=message,
                    storage_options=dict(self._location.storage_options) or None,
                )  # fmt: skip
            view.sync(current)
            _record_settings(current, [part.build for part in staged])
            if raced or unlocked == "cleanup":
                # Another writer stored some of these ids since they were staged (without a
                # lock, S3, it may have committed them at the same moment): the first stays.
                current, _ = self._drop_copies(current, sorted(raced) if raced else ids)
            return current

    def drop_copies(self, lance: Any, view: View) -> tuple[Any, int]:
        """Delete every row but the first written of each id stored more than once."""
        with self._location.write_lock(self.timeout):
            lance = latest_version(lance)
            view.sync(lance)
            return self._drop_copies(lance, None)

    def _drop_copies(self, lance: Any, ids: Sequence[str] | None) -> tuple[Any, int]:
        removed: list[int] = []

        def drop(latest: Any) -> None:  # again from the start if another delete got in first
            removed[:] = _lance.later_copies(latest, ids)
            if removed:
                latest.delete(f"_rowid IN ({', '.join(str(rowid) for rowid in removed)})")

        lance = retried(drop, lance)
        if removed:
            _log.warning(
                "%s: %d rows had the id of an earlier row (two writers added them at once "
                "without key conflicts: an older Shoal, another tool); deleted the later copies",
                self._location.uri,
                len(removed),
            )
        return lance, len(removed)

    def update(
        self,
        lance: Any,
        predicate: str,
        changes: Mapping[str, Any],
        view: View,
        embedder: Callable[[], Embedder],
    ) -> tuple[Any, int]:
        """Rewrite the rows matching `predicate` with `changes`; returns (dataset, rows changed)."""
        if not isinstance(changes, Mapping) or not changes:
            raise InvalidInput("update needs set={...} with at least one field")
        _check_changes(changes)
        with self._location.write_lock(self.timeout):
            lance = latest_version(lance)
            view.sync(lance)
            table = lance.to_table(filter=predicate)
            count, build = _rewrite(lance, table, lambda _: changes, embedder, view.metric)
            retried(lambda latest: _lance.record_build(latest, build), lance)
            return lance, count

    def set_metadata(
        self,
        lance: Any,
        values: Mapping[str, Mapping[str, Any]],
        view: View,
        *,
        branch: str | None = None,
    ) -> tuple[Any, int]:
        """Set metadata keys per row id (None removes a key); returns (dataset, rows changed)."""
        if not isinstance(values, Mapping) or not all(
            isinstance(v, Mapping) and all(isinstance(k, str) and k not in RESERVED for k in v)
            for v in values.values()
        ):
            raise InvalidInput(
                "set_metadata takes {id: {key: value}}, metadata keys only (str, and not "
                f"{', '.join(sorted(RESERVED))}); change texts with update(where=, set=)"
            )
        for row_id, changes in values.items():
            check_unicode_values(changes, f"the metadata given for id {row_id!r}")
        declared = declared_fields(lance.schema)
        if not any(key in declared for changes in values.values() for key in changes):
            written = self._set_metadata_column(lance, values, view, branch)
            if written is not None:
                return written
        with self._location.write_lock(self.timeout):
            lance = latest_version(lance)
            view.sync(lance)
            table = lance.to_table()  # one scan: an IN list of every id would be slower
            table = table.filter(pc.is_in(table.column("id"), pa.array(list(values), pa.string())))
            count, _ = _rewrite(
                lance, table, lambda row_id: values[row_id], None, view.metric, metadata_only=True
            )
            return lance, count

    def _set_metadata_column(
        self,
        lance: Any,
        values: Mapping[str, Mapping[str, Any]],
        view: View,
        branch: str | None,
    ) -> tuple[Any, int] | None:
        """`set_metadata` writing only the metadata column (see `_lance.replace_column`); None
        where that cannot be done here (memory://), so the caller rewrites the rows."""
        if self._location.kind == "memory":
            return None
        counted = [0]

        def changed(rows: pa.Table) -> tuple[list[Any], list[int]] | None:
            ids = rows.column("id").to_pylist()
            if not any(row_id in values for row_id in ids):
                return None
            texts = rows.column("metadata").to_pylist()
            where = []
            for row, row_id in enumerate(ids):
                if row_id not in values:
                    continue
                meta = json.loads(texts[row] or "{}")
                for key, value in values[row_id].items():
                    if value is None:
                        meta.pop(key, None)
                    else:
                        meta[key] = value
                texts[row] = dump_metadata(meta, row)
                where.append(row)
            counted[0] += len(where)
            return texts, where

        def attempt() -> Any:
            counted[0] = 0
            with self._location.write_lock(self.timeout):
                latest = latest_version(lance)
                view.sync(latest)
                return _lance.replace_column(
                    latest,
                    "metadata",
                    self._location,
                    branch,
                    changed,
                    message=lambda: f"set metadata of {counted[0]} rows",
                )

        written = again(attempt, when=not self._location.locks)
        return (written if written is not None else latest_version(lance)), counted[0]

    def delete(self, lance: Any, predicate: str, view: View) -> tuple[Any, int]:
        """Delete matching rows; returns (dataset, rows deleted)."""
        with self._location.write_lock(self.timeout):
            lance = latest_version(lance)
            view.sync(lance)
            count = int(lance.count_rows(filter=predicate))
            if count:
                lance.delete(predicate)
            return lance, count

    def declare(self, lance: Any, name: str, view: View) -> Any:
        """Add a typed column mirroring metadata field `name`, with a scalar index."""
        check_column_name(name)
        with self._location.write_lock(self.timeout):
            lance = latest_version(lance)
            if name in lance.schema.names:
                if name in declared_fields(lance.schema):
                    return lance
                raise InvalidInput(f"{name!r} is already a column of this dataset")
            values = [
                json.loads(m or "{}").get(name)
                for m in _lance.json_texts(lance.to_table(columns=["metadata"]).column("metadata"))
            ]
            kind = declared_type(values, name)
            getter = _JSON_GETTERS[str(kind)]
            # `name` passed check_column_name: letters, digits and _ only, safe inside quotes.
            lance.add_columns({name: f"{getter}(metadata, '{name}')"})
            lance.update_field_metadata({name: {DECLARED_KEY.decode(): "1"}})
            lance.create_scalar_index(name, "BITMAP" if pa.types.is_boolean(kind) else "BTREE")
            return lance

    def add_binary_column(self, lance: Any, name: str, content_type: str) -> Any:
        """Add an empty (all-null) binary column, so staged writes can fill it later."""
        check_column_name(name)
        with self._location.write_lock(self.timeout):
            lance = latest_version(lance)
            if name in lance.schema.names:
                kind = lance.schema.field(name).type
                if pa.types.is_large_binary(kind) or pa.types.is_binary(kind):
                    return lance
                raise InvalidInput(f"{name!r} is already a column of this dataset, not binary")
            meta = {CONTENT_TYPE_KEY.decode(): content_type}
            lance.add_columns(pa.field(name, pa.large_binary(), metadata=meta))
            return lance

    def commit(self, lance: Any, message: str) -> Any:
        """Make a version that carries `message`."""
        with self._location.write_lock(self.timeout):
            return retried(lambda latest: latest.update_config({MESSAGE_KEY: message}), lance)

    def configure(self, lance: Any, updates: Mapping[str, str]) -> Any:
        """Make a version whose config carries `updates` (and a message saying what changed)."""
        with self._location.write_lock(self.timeout):
            return retried(lambda latest: latest.update_config(dict(updates)), lance)

    def restore(self, past: Any) -> Any:
        """Make `past` (a checked-out version) the latest."""
        with self._location.write_lock(self.timeout):
            past.restore()
            past.checkout_latest()
            return past


_NOT_SETTABLE = {
    "id": "an id names its row: delete the row and add it again under the new id",
    "embedding": (
        "vectors follow the text: set 'text' to embed it again, or "
        "upsert([text], ids=[id], embeddings=[vector]) to store your own vector"
    ),
    "metadata": "set metadata keys themselves: set={'key': value} (None removes a key)",
}


def _check_changes(changes: Mapping[Any, Any]) -> None:
    """InvalidInput for a `set=` key that would corrupt rows (ids, vectors) or is not a str."""
    for key in changes:
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"update's set= keys are field names (str), got {key!r}")
        if key in _NOT_SETTABLE:
            raise InvalidInput(f"update cannot change {key!r}: {_NOT_SETTABLE[key]}")
        check_unicode_values([key, changes[key]], f"update's set= value of {key!r}")


def _rewrite(
    lance: Any,
    table: pa.Table,
    changes_of: Callable[[str], Mapping[str, Any]],
    embedder: Callable[[], Embedder] | None,
    metric: Metric,
    *,
    metadata_only: bool = False,
) -> tuple[int, dict[str, str]]:
    """Merge `table`'s rows back with each row's changes applied.

    Returns the rows rewritten and the build of the embedder that embedded new texts.
    """
    if table.num_rows == 0:
        return 0, {}
    declared = declared_fields(lance.schema)
    columns = set(lance.schema.names) - {"id", "text", "metadata", "embedding"} - declared
    # Vectors straight from Arrow: as Python lists, 100k x 384 floats take over 1 GB.
    vectors = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    rows = table.drop_columns(["embedding"]).to_pylist()
    new_text = False
    for row in rows:
        meta = json.loads(row["metadata"] or "{}")
        for key, value in changes_of(row["id"]).items():
            if not metadata_only and (key == "text" or key in columns):
                new_text = new_text or key == "text"
                row[key] = value
            elif value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        row["metadata"] = meta
    batch = Batch.build(
        [row["text"] for row in rows],
        [row["metadata"] for row in rows],
        [row["id"] for row in rows],
        None if new_text else vectors.reshape(len(rows), -1).astype(np.float32, copy=False),
        {name: [row[name] for row in rows] for name in columns},
        lance.schema.field("embedding").type.list_size,
    )
    if new_text:
        assert embedder is not None
        batch.embed(embedder(), range(len(rows)))
        batch.check_searchable(range(len(rows)), metric)
    merge_rows(lance, batch.table(lance.schema, range(len(rows))))
    return len(rows), batch.embedded_by


def _new_fields(schema: pa.Schema, extras: Mapping[str, Any]) -> list[pa.Field]:
    """Fields for the extra columns the schema does not have yet, typed from their values."""
    fields = []
    for name, values in extras.items():
        if name in schema.names:
            continue
        if isinstance(values, Binary):
            meta = {CONTENT_TYPE_KEY.decode(): values.content_type}
            fields.append(pa.field(name, pa.large_binary(), metadata=meta))
            continue
        try:
            kind = pa.array(list(values)).type
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"column {name!r} needs values of one type: {exc}") from exc
        if pa.types.is_null(kind):
            raise InvalidInput(
                f"column {name!r} is all None, so its type is unknown: pass one value"
            )
        fields.append(pa.field(name, kind))
    return fields


def _with_fields(schema: pa.Schema, fields: list[pa.Field]) -> pa.Schema:
    for new in fields:
        schema = schema.append(new)
    return schema


def _record_build(latest: Any, *, build: Mapping[str, str]) -> None:
    _lance.record_build(latest, build)


def _record_settings(lance: Any, builds: Sequence[Mapping[str, str]]) -> None:
    """After a write: record the embedder builds that made its vectors and, for "auto", the
    keyword language (each a version of its own, rarely made; skipped without a look at
    the latest version when there is nothing to record, the common case)."""
    for build in {json.dumps(dict(build), sort_keys=True) for build in builds if build}:
        retried(functools.partial(_record_build, build=json.loads(build)), lance)
    if _lance.stored_language(lance) == AUTO:
        retried(_lance.record_language, lance)
