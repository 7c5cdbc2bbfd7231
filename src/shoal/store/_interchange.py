"""Arrow in and out: one version's rows as Arrow record batches, and tables imported as rows.

Export (`export_reader`) scans the pinned version with Lance's own scanner, a batch at a
time, so a dataset larger than memory streams to Parquet, pandas chunks or a file: the
columns are the stored ones (``metadata`` as JSON text, vectors as fixed-size float32
lists, binary columns with their content type in the field's metadata) or dotted metadata
paths, typed from the whole version's values as `Dataset.stream` types them. The schema's
metadata carries the embedder's spec and the names of the extra columns, so an exported
file imports back as the same rows.

Import (`ImportPlan`) reads a table with a text column and, optionally, ids, vectors, a
whole-metadata column (JSON text or structs), extra columns (binary ones by default) and
any other columns, which become metadata fields.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoal.errors import InvalidInput
from shoal.store._records import CONTENT_TYPE_KEY, RESERVED, Binary
from shoal.store._stream import StreamColumn, column_names, column_spec
from shoal.types import EmbedderSpec

__all__ = [
    "COLUMNS_KEY",
    "IMPORT_BATCH_ROWS",
    "SPEC_KEY",
    "ImportPlan",
    "ImportRows",
    "arrow_batches",
    "content_types",
    "export_reader",
    "media_column",
    "spec_of",
]

SPEC_KEY = b"shoal.embedder"
"""Schema metadata key: the exporting dataset's embedder spec (JSON)."""
COLUMNS_KEY = b"shoal.columns"
"""Schema metadata key: the exported extra columns' names (JSON list)."""
IMPORT_BATCH_ROWS = 8192
"""Rows embedded and staged at a time by an import."""
_BASE = ("id", "text", "embedding", "metadata")


# ---------------------------------------------------------------------- export
def export_reader(
    lance_version: Any,
    *,
    columns: Sequence[str] | None,
    predicate: str | None,
    metadata_keys: Collection[str],
    spec: EmbedderSpec,
    batch_size: int,
) -> pa.RecordBatchReader:
    """The rows of `lance_version` matching `predicate` as record batches of `columns`
    (default: every stored column), read lazily."""
    stored = list(lance_version.schema.names)
    names = column_names(columns, stored, batch_size)
    # The keys are looked up one by one (listing them all reads every row's metadata).
    specs = [column_spec(lance_version, name, metadata_keys) for name in names]
    extras = [n for n in names if n in stored and n not in _BASE]
    fields = [_field(lance_version.schema, s) for s in specs]
    schema = pa.schema(
        fields,
        metadata={SPEC_KEY: json.dumps(spec.to_dict()), COLUMNS_KEY: json.dumps(extras)},
    )
    scanner = lance_version.scanner(
        columns={s.name: s.sql for s in specs}, filter=predicate, batch_size=batch_size
    )

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in scanner.to_batches():
            if batch.num_rows:
                arrays = [
                    _array(batch.column(s.name), s, f.type)
                    for s, f in zip(specs, fields, strict=True)
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


_KIND_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "str": pa.string(),
    "object": pa.string(),
}


def _field(schema: pa.Schema, spec: StreamColumn) -> pa.Field:
    if spec.json or spec.name == "metadata":  # metadata: JSON text; paths: typed values
        return pa.field(
            spec.name, pa.string() if spec.name == "metadata" else _KIND_TYPES[spec.kind]
        )
    stored = schema.field(spec.name)
    kind = stored.type.storage_type if isinstance(stored.type, pa.ExtensionType) else stored.type
    return pa.field(spec.name, kind, nullable=stored.nullable, metadata=stored.metadata)


def _array(column: pa.Array, spec: StreamColumn, kind: pa.DataType) -> pa.Array:
    if isinstance(column, pa.ExtensionArray):
        column = column.storage
    if not spec.json:
        return column if column.type == kind else column.cast(kind)
    # JSON text of numbers and booleans casts in Arrow; strings without escapes lose
    # their quotes there; anything else is parsed here (ten times slower).
    if spec.kind in ("int", "float"):
        return column.cast(kind)
    if spec.kind == "bool":
        return pc.equal(column, "true")
    if spec.kind == "str" and not pc.any(pc.match_substring(column, "\\")).as_py():
        return pc.utf8_slice_codeunits(column, 1, -1)
    values = [None if v is None else json.loads(v) for v in column.to_pylist()]
    if spec.kind == "object":  # lists, dicts or mixed values: their JSON text
        texts = [
            None if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            for v in values
        ]
        return pa.array(texts, pa.string())
    return pa.array(values, kind)


def spec_of(schema: pa.Schema) -> EmbedderSpec | None:
    """The embedder spec an exported table's schema carries, if any."""
    raw = (schema.metadata or {}).get(SPEC_KEY)
    if not raw:
        return None
    try:
        return EmbedderSpec.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------- import
def arrow_batches(
    data: Any, *, rows: int = IMPORT_BATCH_ROWS
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and record batches (of at most `rows`) of a pyarrow Table, RecordBatch,
    RecordBatchReader, pandas or Polars DataFrame, or an iterable of RecordBatches."""
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas":
        data = pa.Table.from_pandas(data, preserve_index=False)
    elif module == "polars":
        data = data.to_arrow()
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return data.schema, iter(data.to_batches(max_chunksize=rows))
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, _rebatched(iter(data), rows)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        items = iter(data)
        first = next(items, None)
        if isinstance(first, pa.RecordBatch):
            return first.schema, _rebatched(_chain(first, items), rows)
    raise InvalidInput(
        f"cannot import a {type(data).__name__}: pass a pyarrow Table or RecordBatchReader, "
        "a pandas or Polars DataFrame, or an iterable of pyarrow RecordBatches"
    )


def _chain(first: pa.RecordBatch, rest: Iterator[Any]) -> Iterator[pa.RecordBatch]:
    yield first
    for item in rest:
        if not isinstance(item, pa.RecordBatch):
            raise InvalidInput(f"an iterable of RecordBatches held a {type(item).__name__}")
        yield item


def _rebatched(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


@dataclass(frozen=True)
class ImportRows:
    """One import batch in `Dataset.add`'s terms."""

    texts: list[str]
    ids: list[str] | None
    embeddings: np.ndarray | None
    metadatas: list[dict[str, Any]]
    columns: dict[str, Any]

    @staticmethod
    def join(parts: Sequence[ImportRows], plan: ImportPlan) -> ImportRows:
        """The rows of `parts` as one batch."""
        if not parts:
            return ImportRows([], None, None, [], {})
        vectors = [p.embeddings for p in parts if p.embeddings is not None]
        columns: dict[str, Any] = {}
        for name in plan.columns:
            values = [v for p in parts for v in _values(p.columns[name])]
            kind = plan.content_types.get(name)
            columns[name] = Binary(values, kind) if kind is not None else values
        return ImportRows(
            texts=[t for p in parts for t in p.texts],
            ids=[i for p in parts for i in p.ids or []] if plan.id is not None else None,
            embeddings=np.concatenate(vectors) if vectors else None,
            metadatas=[m for p in parts for m in p.metadatas],
            columns=columns,
        )


def _values(column: Any) -> Sequence[Any]:
    return column.values if isinstance(column, Binary) else column


@dataclass(frozen=True)
class ImportPlan:
    """Which table column plays which part of a row (see `ImportPlan.of`)."""

    text: str
    id: str | None
    embedding: str | None
    metadata: str | None
    columns: tuple[str, ...]
    fields: tuple[str, ...]
    content_types: dict[str, str]

    @classmethod
    def of(
        cls,
        schema: pa.Schema,
        *,
        text: str = "text",
        id: str | None = None,
        embedding: str | None = None,
        metadata: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> ImportPlan:
        """The parts of `schema`'s columns: `text` (required), `id` and `embedding` (default
        the columns so named, if present), `metadata` (whole-metadata column, default
        ``metadata`` if present), `columns` (extra columns; default the exported ones and
        every binary column); every other column is a metadata field."""
        names = list(schema.names)
        known = ", ".join(names) or "none"

        def present(name: str, what: str) -> str:
            if name not in names:
                raise InvalidInput(
                    f"no column {name!r} for the {what} in this table: its columns are {known}"
                )
            return name

        if len(set(names)) != len(names):
            raise InvalidInput(f"the table names a column twice: {names}")
        text = present(text, "text")
        id = present(id, "ids") if id is not None else ("id" if "id" in names else None)
        embedding = (
            present(embedding, "vectors")
            if embedding is not None
            else ("embedding" if "embedding" in names else None)
        )
        metadata = (
            present(metadata, "metadata")
            if metadata is not None
            else ("metadata" if "metadata" in names else None)
        )
        taken = {text, id, embedding, metadata} - {None}
        if columns is None:
            exported = json.loads((schema.metadata or {}).get(COLUMNS_KEY, b"[]"))
            binary = [f.name for f in schema if _is_binary(f.type)]
            columns = [n for n in names if n not in taken and (n in exported or n in binary)]
        extras = tuple(present(c, "extra columns") for c in columns)
        for name in extras:
            if name in RESERVED or name in taken:
                raise InvalidInput(f"column {name!r} cannot be an extra column: it is the {name}")
        fields = tuple(n for n in names if n not in taken and n not in extras)
        types = {n: t for n, t in content_types(schema).items() if n in extras}
        return cls(text, id, embedding, metadata, extras, fields, types)

    def rows(self, batch: pa.RecordBatch, first_row: int) -> ImportRows:
        """`batch`'s rows (the first is row `first_row` of the table) as `add` takes them."""
        texts = batch.column(self.text).to_pylist()
        for offset, value in enumerate(texts):
            if value is not None and not isinstance(value, str):
                raise InvalidInput(
                    f"row {first_row + offset}: the text column {self.text!r} holds "
                    f"{type(value).__name__} values; it must hold text"
                )
        ids = None
        if self.id is not None:
            ids = [None if v is None else str(v) for v in batch.column(self.id).to_pylist()]
            missing = next((i for i, v in enumerate(ids) if not v), None)
            if missing is not None:
                raise InvalidInput(f"row {first_row + missing} has no id in column {self.id!r}")
        vectors = None if self.embedding is None else self._vectors(batch, first_row)
        metadatas = self._metadatas(batch, first_row)
        columns: dict[str, Any] = {}
        for name in self.columns:
            values = batch.column(name).to_pylist()
            if name in self.content_types:
                columns[name] = Binary(values, self.content_types[name])
            else:
                columns[name] = values
        return ImportRows(
            texts, [i for i in ids if i] if ids else None, vectors, metadatas, columns
        )

    def _vectors(self, batch: pa.RecordBatch, first_row: int) -> np.ndarray:
        assert self.embedding is not None
        column = batch.column(self.embedding)
        if isinstance(column, pa.ExtensionArray):
            column = column.storage
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
                or pa.types.is_fixed_size_list(column.type)):  # fmt: skip
            raise InvalidInput(
                f"column {self.embedding!r} holds {column.type}, not vectors: it must hold "
                "lists of numbers (one vector a row)"
            )
        if column.null_count:
            row = next(i for i, v in enumerate(column.is_null().to_pylist()) if v)
            raise InvalidInput(f"row {first_row + row} has no vector in column {self.embedding!r}")
        lengths = (
            column.value_lengths().to_numpy(zero_copy_only=False)
            if not pa.types.is_fixed_size_list(column.type)
            else None
        )
        if lengths is not None and len(set(lengths.tolist())) > 1:
            row = int(np.argmax(lengths != lengths[0]))
            raise InvalidInput(
                f"row {first_row + row}'s vector has {lengths[row]} numbers, row "
                f"{first_row}'s {lengths[0]}: every vector needs the same dimension"
            )
        flat = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        return flat.reshape(len(column), -1) if len(column) else flat.reshape(0, 0)

    def _metadatas(self, batch: pa.RecordBatch, first_row: int) -> list[dict[str, Any]]:
        count = batch.num_rows
        if self.metadata is None:
            found: list[dict[str, Any]] = [{} for _ in range(count)]
        else:
            found = [
                _metadata_value(value, first_row + offset, self.metadata)
                for offset, value in enumerate(batch.column(self.metadata).to_pylist())
            ]
        for name in self.fields:
            for offset, value in enumerate(batch.column(name).to_pylist()):
                plain = _plain(value, first_row + offset, name)
                if plain is not None:
                    found[offset][name] = plain
        return found


def content_types(schema: pa.Schema) -> dict[str, str]:
    """Each binary column of `schema` and its content type (from the field's metadata)."""
    return {
        f.name: ((f.metadata or {}).get(CONTENT_TYPE_KEY) or b"application/octet-stream").decode()
        for f in schema
        if _is_binary(f.type)
    }


def media_column(schema: pa.Schema, kind: str) -> str | None:
    """The binary column that shows a row's `kind` ("image" or "audio") in a map or a page.

    For images, a column named ``thumbnail`` holding images comes first (ingest stores one
    beside each image, small enough to show), then the first image column; for audio, the
    first audio column. None if the dataset has none.
    """
    found = [name for name, typ in content_types(schema).items() if typ.startswith(f"{kind}/")]
    if kind == "image" and "thumbnail" in found:
        return "thumbnail"
    return found[0] if found else None


def _is_binary(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def _metadata_value(value: Any, row: int, column: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"row {row}: column {column!r} is not JSON ({exc.msg} at character {exc.pos}); "
                "it must hold a JSON object per row"
            ) from exc
    if not isinstance(value, dict):
        raise InvalidInput(
            f"row {row}: column {column!r} holds {type(value).__name__}, not an object"
        )
    return {k: _plain(v, row, f"{column}.{k}") for k, v in value.items() if v is not None}


def _plain(value: Any, row: int, name: str) -> Any:
    """A table value as JSON metadata: NaN is missing, dates are ISO text, bytes refused."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        raise InvalidInput(
            f"row {row}: {name!r} holds bytes, which metadata cannot: import it as an extra "
            f"column (columns=[{name.split('.')[0]!r}])"
        )
    if isinstance(value, dict):
        return {k: _plain(v, row, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, row, name) for v in value]
    return value
