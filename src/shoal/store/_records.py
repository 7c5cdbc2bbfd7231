"""Rows in and out of Lance: the schema, content-hash ids, validation and Arrow conversion."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shoal.errors import DimensionMismatch, EmptyText, InvalidInput, NonFiniteValues
from shoal.store._reprs import short_repr

__all__ = [
    "CONTENT_TYPE_KEY",
    "DECLARED_KEY",
    "MAX_METADATA_DEPTH",
    "PRIMARY_KEY",
    "RESERVED",
    "Binary",
    "Record",
    "base_schema",
    "check_column_name",
    "check_unicode",
    "check_unicode_values",
    "content_id",
    "declared_fields",
    "declared_type",
    "dump_metadata",
    "row_id",
    "rows_table",
    "validate_vectors",
]

CONTENT_TYPE_KEY = b"shoal.content_type"
DECLARED_KEY = b"shoal.declared"
PRIMARY_KEY = {"lance-schema:unenforced-primary-key": "true"}
"""Field metadata declaring `id` the primary key: Lance then makes concurrent merge-inserts of
one new id conflict (`_writes`). Unenforced: Lance itself still appends any row given."""
RESERVED = frozenset({"id", "text", "embedding", "metadata"})
MAX_METADATA_DEPTH = 64
"""How deeply dicts and lists may nest in a row's metadata (the row's dict is level 1):
far beyond real documents, and well inside what JSON encoders and parsers recurse through."""
_ENCODER = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Binary:
    """A column of binary values (images, audio) with their content type, e.g. ``image/png``."""

    values: Sequence[bytes | None]
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, repr=False)
class Record:
    """One stored row: id, text, metadata, its vector and any extra columns."""

    id: str
    text: str
    metadata: dict[str, Any]
    embedding: np.ndarray
    extras: dict[str, Any]

    def __repr__(self) -> str:
        # Binary values by size, long texts and vectors cut: printing a row never dumps a PNG.
        return (
            f"Record(id={self.id!r}, text={short_repr(self.text)}, "
            f"metadata={short_repr(self.metadata)}, embedding={short_repr(self.embedding)}, "
            f"extras={short_repr(self.extras)})"
        )


def base_schema(dimensions: int) -> pa.Schema:
    """The four columns every dataset has."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False, metadata=PRIMARY_KEY),
            pa.field("text", pa.string()),
            pa.field("embedding", pa.list_(pa.float32(), dimensions)),
            pa.field("metadata", pa.json_()),
        ]
    )


def check_column_name(name: str) -> str:
    """Return `name` if it can be a user column, else raise InvalidInput saying why."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"column name {name!r} is not allowed: use a letter then letters, digits or _ (64 at most)"
        )
    if name in RESERVED:
        raise InvalidInput(f"column name {name!r} is reserved: pick another name")
    return name


def check_unicode(text: str, what: str) -> str:
    """`text` if it can be stored (UTF-8), else InvalidInput naming `what` and the position."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{what} is not valid Unicode: it holds a lone surrogate {text[exc.start]!r} at "
            f"character {exc.start}; decode the source with errors='replace' (or fix it), "
            "then add it again"
        ) from None
    return text


def check_unicode_values(value: Any, what: str) -> None:
    """InvalidInput if any str in `value` (dict keys and values, list items) is not UTF-8."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_unicode(item, what)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def dump_metadata(metadata: Any, row: int) -> str:
    """Canonical JSON for one row's metadata (sorted keys), or InvalidInput naming the row."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict) or not all(isinstance(key, str) for key in metadata):
        raise InvalidInput(
            f"metadata of row {row} must be a dict with str keys, got {type(metadata).__name__}"
        )
    nested = any(isinstance(value, (dict, list, tuple)) for value in metadata.values())
    if nested and _depth_over(metadata, MAX_METADATA_DEPTH):
        raise InvalidInput(
            f"metadata of row {row} nests dicts and lists more than {MAX_METADATA_DEPTH} levels "
            "deep (or holds itself); flatten it, or store the deep part as a JSON string"
        )
    try:
        dumped: str = _ENCODER.encode(metadata)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"metadata of row {row} is not JSON: {exc}; use str, numbers, bools, lists and dicts"
        ) from exc
    if not dumped.isascii():
        check_unicode_values(metadata, f"metadata of row {row}")
    return dumped


def _depth_over(value: Any, limit: int) -> bool:
    """Whether dicts and lists in `value` nest deeper than `limit` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, (dict, list, tuple))
        )
    return False


def content_id(text: str, metadata_json: str) -> str:
    """The default id: a hash of the text and metadata, so the same document is stored once."""
    digest = hashlib.blake2b(text.encode(), digest_size=16)
    digest.update(b"\x00")
    digest.update(metadata_json.encode())
    return digest.hexdigest()


def row_id(text: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The id `Dataset.add` gives a row passed without one: a hash of its text and metadata."""
    if not isinstance(text, str):
        raise InvalidInput(f"row_id takes a str text, got {type(text).__name__}")
    return content_id(text, dump_metadata(None if metadata is None else dict(metadata), 0))


def validate_vectors(vectors: Any, *, rows: int, dimensions: int) -> np.ndarray:
    """A C-contiguous float32 (rows, dimensions) array, or the InvalidInput that says what is wrong."""
    try:
        # Values beyond float32's range become inf here, caught below with the NaNs.
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"embeddings must be numbers in a 2-D array: {exc}") from exc
    if array.ndim != 2 or array.shape[0] != rows:
        raise InvalidInput(f"embeddings must have shape ({rows}, {dimensions}), got {array.shape}")
    if array.shape[1] != dimensions:
        raise DimensionMismatch(
            f"embeddings have {array.shape[1]} dimensions but this dataset stores {dimensions}; "
            "embed with the dataset's embedder or open another dataset"
        )
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        if _finite_before_cast(vectors, bad):
            raise NonFiniteValues(
                f"embedding of row {bad} holds a value beyond float32's range "
                f"(±{float(np.finfo(np.float32).max):.4g}), which vectors are stored in; "
                "scale or fix that row"
            )
        raise NonFiniteValues(f"embedding of row {bad} holds NaN or infinity; fix or drop that row")
    return np.ascontiguousarray(array)


def _finite_before_cast(vectors: Any, row: int) -> bool:
    """Whether row `row` of the caller's vectors was finite before the cast to float32."""
    try:
        source = np.asarray(vectors[row], dtype=np.float64)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return bool(np.isfinite(source).all())


def declared_fields(schema: pa.Schema) -> set[str]:
    """Columns that mirror a metadata field declared with `Dataset.index_field`."""
    return {field.name for field in schema if (field.metadata or {}).get(DECLARED_KEY)}


def declared_type(values: Sequence[Any], name: str) -> pa.DataType:
    """The Arrow type of a declared metadata field, from the values it holds now."""
    present = [value for value in values if value is not None]
    if not present or all(isinstance(value, str) for value in present):
        return pa.string()
    if all(isinstance(value, bool) for value in present):
        return pa.bool_()
    if all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return pa.int64()
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in present):
        return pa.float64()
    raise InvalidInput(
        f"metadata field {name!r} mixes types ({sorted({type(v).__name__ for v in present})}); "
        "a declared field needs one type: str, int, float or bool"
    )


def _declared_value(value: Any, kind: pa.DataType, name: str, row: int) -> Any:
    if value is None:
        return None
    ok = (
        (pa.types.is_string(kind) and isinstance(value, str))
        or (pa.types.is_boolean(kind) and isinstance(value, bool))
        or (pa.types.is_int64(kind) and isinstance(value, int) and not isinstance(value, bool))
        or (
            pa.types.is_float64(kind)
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
    )
    if not ok:
        raise InvalidInput(
            f"metadata field {name!r} is declared {kind} but row {row} has {value!r}; "
            f"store a {kind} there or leave the field out"
        )
    return value


def rows_table(
    schema: pa.Schema,
    *,
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: np.ndarray,
    metadata_json: Sequence[str],
    metadatas: Sequence[Mapping[str, Any]],
    extras: Mapping[str, Sequence[Any]],
) -> pa.Table:
    """An Arrow table of new rows in `schema`'s column order; absent extra columns are null."""
    count = len(ids)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    columns: dict[str, pa.Array] = {
        "id": pa.array(ids, type=pa.string()),
        "text": pa.array(texts, type=pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        "metadata": pa.array(metadata_json, type=pa.json_()),
    }
    for column in schema:
        if column.name in columns:
            continue
        if column.name in extras:
            values = list(extras[column.name])
        elif (column.metadata or {}).get(DECLARED_KEY):
            values = [
                _declared_value(meta.get(column.name), column.type, column.name, row)
                for row, meta in enumerate(metadatas)
            ]
        else:
            values = [None] * count
        try:
            columns[column.name] = pa.array(values, type=column.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"column {column.name!r} wants {column.type} values: {exc}") from exc
    return pa.table([columns[column.name] for column in schema], schema=schema)


def check_texts(texts: Sequence[str], *, allow_empty: bool) -> list[str]:
    """Texts as a list of str; empty ones are an error unless vectors came with them."""
    if isinstance(texts, str):
        raise InvalidInput("texts must be a list of strings, not one string: wrap it in [...]")
    result = list(texts)
    for row, text in enumerate(result):
        if not isinstance(text, str):
            raise InvalidInput(f"text of row {row} is {type(text).__name__}, not str")
        check_unicode(text, f"text of row {row}")
        if not allow_empty and not text.strip():
            raise EmptyText(f"text of row {row} is empty; drop it, or pass embeddings= for it")
    return result
