"""Reading rows without a search: whole records by id, or chosen fields of every row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from shoal.store._records import Record, declared_fields
from shoal.store._writes import quote_ids
from shoal.store.filters import metadata_json

__all__ = ["read_fields", "read_records"]

_BASE = ("id", "text", "metadata", "embedding")


def read_records(lance: Any, ids: Sequence[str]) -> list[Record]:
    """The rows with these ids, in input order (ids not stored are skipped)."""
    wanted = list(ids)
    if not wanted:
        return []
    table = lance.to_table(filter=quote_ids(wanted))
    declared = declared_fields(table.schema)
    extras = [name for name in table.column_names if name not in _BASE and name not in declared]
    found: dict[str, Record] = {}
    for row in table.to_pylist():
        found[row["id"]] = Record(
            id=row["id"],
            text=row["text"],
            metadata=json.loads(row["metadata"] or "{}"),
            embedding=np.asarray(row["embedding"], dtype=np.float32),
            extras={name: row[name] for name in extras},
        )
    return [found[i] for i in wanted if i in found]


def read_fields(
    lance: Any,
    fields: Sequence[str],
    predicate: str | None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """`fields` (columns or dotted metadata paths) of each row matching `predicate`, by
    projection; `limit` rows from `offset` on (in stored order) if given."""
    columns = set(lance.schema.names) - {"embedding", "metadata"}
    # Aliases keep user text out of the SQL; column names are checked when created.
    projection = {
        f"f{i}": f"`{name}`" if name in columns else metadata_json(name)
        for i, name in enumerate(fields)
    }
    page = {"limit": limit, "offset": offset} if limit is not None or offset else {}
    table = lance.to_table(columns=projection, filter=predicate, **page)
    values = []
    for i, name in enumerate(fields):
        column = table.column(f"f{i}").to_pylist()
        if name not in columns:
            column = [None if v is None else json.loads(v) for v in column]
        values.append(column)
    return [dict(zip(fields, row, strict=True)) for row in zip(*values, strict=True)]
