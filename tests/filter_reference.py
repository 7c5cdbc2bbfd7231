"""The filter language's reference: rows of every JSON shape, their dataset, and a small
evaluator of MongoDB's semantics that compiled filters are checked against."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa

METADATA: list[dict[str, Any]] = [
    {
        "year": 2020,
        "lang": "en",
        "score": 0.5,
        "flag": True,
        "n": 1,
        "s": "a",
        "tags": ["ml", "nlp"],
    },
    {"year": 2021, "lang": "fr", "score": 2.0, "flag": False, "n": 2.0, "s": "ab", "tags": ["ml"]},
    {"year": 1999, "lang": "de", "score": 3, "n": 2.5, "s": "ab!", "tags": "ml"},
    {"year": 2005, "lang": "en", "n": True, "s": "Z", "tags": [["ml"]]},
    {"year": 2010, "n": False, "s": "", "tags": []},
    {"lang": "日本語", "n": "1", "s": "é", "tags": [1, "1", True, None]},
    {"n": "2", "s": "😀", "tags": ["x", "ml"], "a": {"b": 1, "c": "x"}},
    {"n": None, "s": None, "tags": None, "a": {"b": "1"}},
    {"n": 0, "s": 1, "a": [{"b": 1}, 7]},
    {"n": -0.0, "s": True, "a": 5},
    {"n": 1e20, "s": ["a"], "a": {"b": {"c": [1, 2]}}},
    {"n": -1, "s": {"x": 1}, "a": {"b": 2.5}},
    {"n": [1, 2], "s": "it's"},
    {"n": {"x": 1}, "s": 'say "hi"'},
    {"n": 2**60, "s": "back\\slash"},
    {"n": 3, "s": "new\nline"},
    {"n": 1.5, "s": "tab\tx"},
    {"s": "%", "key-with-dash": 3},
    {"s": "_", "ключ": "значение"},
    {"s": "a%b", "tags": ["a_b", "%"]},
    {"s": "a_b"},
    {"s": "nul\x00byte", "tags": ["nul\x00byte"]},
    {"s": "'", "tags": ["'", "''"]},
    {"s": "''"},
    {"s": '"'},
    {"s": "`"},
    {"s": "; DROP TABLE x; --", "tags": ["; DROP TABLE x; --"]},
    {"s": "' OR 1=1 --"},
    {"s": "\\"},
    {"s": "\\'", "tags": ["\\'", "\\"]},
    {"s": "日本", "tags": ["日本", "😀"]},
    {"s": "\u2028"},
    {"s": "1"},
    {"s": "OR 1=1"},
    {"s": "a'';--"},
    {"s": "\\n", "tags": ["new\nline"]},
    {"year": 2020, "lang": "en", "tags": ["OR 1=1", "x' OR 'a'='a"]},
    {"year": 2030, "lang": "es", "score": -1.5, "flag": True},
    {},
    {"flag": False, "tags": ["ML"], "0": "zero"},
]


def _typed(md: Mapping[str, Any], key: str, *kinds: type) -> Any:
    """The declared column's value: the metadata value if it has the column's type."""
    value = md.get(key)
    ok = isinstance(value, kinds) and isinstance(value, bool) == (bool in kinds)
    return value if ok else None


ROWS: list[dict[str, Any]] = [
    {
        "id": f"r{i:02d}",
        "text": f"doc {i}",
        "year": _typed(md, "year", int),
        "lang": _typed(md, "lang", str),
        "score": None if _typed(md, "score", int, float) is None else float(md["score"]),
        "flag": _typed(md, "flag", bool),
        "n-views": None if i % 5 == 0 else i * 3 % 11,
        "blob": bytes([i]),
        "metadata": md,
    }
    for i, md in enumerate(METADATA)
]

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("embedding", pa.list_(pa.float32(), 2)),
        ("metadata", pa.json_()),
        ("year", pa.int64()),
        ("lang", pa.string()),
        ("score", pa.float64()),
        ("flag", pa.bool_()),
        ("n-views", pa.uint8()),
        ("blob", pa.binary()),
    ]
)
COLUMNS = {f.name: f.type for f in SCHEMA if f.name != "metadata"}
METADATA_KEYS = sorted({key for md in METADATA for key in md})


def make_dataset(path: Path) -> lance.LanceDataset:
    """The reference rows as a Lance dataset in two fragments, with scalar indexes on the
    declared columns (as the store makes them)."""
    data = {name: [row.get(name) for row in ROWS] for name in SCHEMA.names}
    data["embedding"] = [[float(i), 1.0] for i in range(len(ROWS))]
    data["metadata"] = [json.dumps(row["metadata"]) for row in ROWS]
    # Two writes, so the filter also runs across fragments.
    half = len(ROWS) // 2
    table = pa.table(data, schema=SCHEMA)
    lance.write_dataset(table.slice(0, half), path)
    dataset = lance.write_dataset(table.slice(half), path, mode="append")
    # Declared columns are indexed in the store, so the filters run through the indexes too.
    dataset.create_scalar_index("year", "BTREE")
    dataset.create_scalar_index("lang", "BITMAP")
    return dataset


# --- a small reference evaluator of MongoDB's semantics -------------------------------------

MISSING = object()
ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def lookup(row: Mapping[str, Any], field: str) -> Any:
    segments = field.split(".")
    if segments[0] == "metadata" and len(segments) > 1:  # an explicit metadata path
        segments = segments[1:]
    elif segments[0] in COLUMNS:
        value = row[segments[0]]
        return MISSING if value is None else value
    node: Any = row["metadata"]
    for segment in segments:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif (
            isinstance(node, list)
            and segment.isascii()
            and segment.isdigit()
            and int(segment) < len(node)
        ):
            node = node[int(segment)]
        else:
            return MISSING
    return node


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def equals(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return value is MISSING or value is None
    if isinstance(wanted, bool):
        return isinstance(value, bool) and value == wanted
    if isinstance(wanted, str):
        in_array = isinstance(value, list) and any(
            isinstance(e, str) and e == wanted for e in value
        )
        return (isinstance(value, str) and value == wanted) or in_array
    return is_number(value) and float(value) == float(wanted)


def ordered(value: Any, op: str, wanted: Any) -> bool:
    if isinstance(wanted, bool):
        return isinstance(value, bool) and ORDER[op](value, wanted)
    if isinstance(wanted, str):
        return isinstance(value, str) and ORDER[op](value, wanted)
    return is_number(value) and ORDER[op](float(value), float(wanted))


def text_matches(value: Any, op: str, wanted: str, ignore_case: bool) -> bool:
    """$contains, $startswith and $regex: string values only (never an array's elements)."""
    if not isinstance(value, str):
        return False
    if op == "$regex":
        return re.search(wanted, value, re.IGNORECASE if ignore_case else 0) is not None
    if ignore_case:
        value, wanted = value.lower(), wanted.lower()
    return wanted in value if op == "$contains" else value.startswith(wanted)


def field_matches(value: Any, condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return equals(value, condition)
    results = []
    ignore_case = condition.get("$options") == "i"
    for op, arg in condition.items():
        if op == "$options":
            continue
        if op in ("$contains", "$startswith", "$regex"):
            results.append(text_matches(value, op, arg, ignore_case))
        elif op == "$eq":
            results.append(equals(value, arg))
        elif op == "$ne":
            results.append(not equals(value, arg))
        elif op in ORDER:
            results.append(ordered(value, op, arg))
        elif op == "$in":
            results.append(any(equals(value, a) for a in arg))
        elif op == "$nin":
            results.append(not any(equals(value, a) for a in arg))
        elif op == "$exists":
            results.append((value is not MISSING) == arg)
        elif op == "$not":
            results.append(not field_matches(value, arg))
        else:
            raise AssertionError(op)
    return all(results)


def matches(row: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    for key, condition in where.items():
        if key == "$and" and not all(matches(row, w) for w in condition):
            return False
        if key == "$or" and not any(matches(row, w) for w in condition):
            return False
        if key == "$not" and matches(row, condition):
            return False
        if not key.startswith("$") and not field_matches(lookup(row, key), condition):
            return False
    return True


def expected(where: Mapping[str, Any]) -> list[str]:
    return [row["id"] for row in ROWS if matches(row, where)]
