"""The filter language against a real Lance dataset, checked row by row with a reference evaluator."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import lance
import pytest

from filter_reference import (
    COLUMNS,
    METADATA,
    METADATA_KEYS,
    ROWS,
    expected,
    make_dataset,
)
from shoal.errors import FilterError, UnknownFieldWarning
from shoal.store.filters import MAX_FILTER_DEPTH, compile_filter

HOSTILE = [
    "'",
    "''",
    '"',
    "`",
    "a`b",
    "; DROP TABLE x; --",
    "' OR 1=1 --",
    "OR 1=1",
    "x' OR 'a'='a",
    "a'';--",
    "/* c */",
    "é",
    "日本",
    "😀",
    "\\",
    "\\'",
    "back\\slash",
    "\\n",
    "new\nline",
    "tab\tx",
    "%",
    "_",
    "a%b",
    "a_b",
    "nul\x00byte",
    "\u2028",
    "",
    'say "hi"',
    "1",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> lance.LanceDataset:
    return make_dataset(tmp_path_factory.mktemp("filters") / "rows.lance")


def selected(dataset: lance.LanceDataset, where: Mapping[str, Any], **options: Any) -> list[str]:
    predicate = compile_filter(where, columns=COLUMNS, **options)
    return sorted(dataset.to_table(columns=["id"], filter=predicate).column("id").to_pylist())


# --- the filters ------------------------------------------------------------------------------

FILTERS: list[dict[str, Any]] = [
    {},
    # equality, with Mongo's typing: 2 == 2.0, True is not 1, "1" is not 1
    {"n": 1},
    {"n": 2},
    {"n": 2.0},
    {"n": 0},
    {"n": -0.0},
    {"n": 1e20},
    {"n": 2**60},
    {"n": True},
    {"n": False},
    {"n": "1"},
    {"n": None},
    {"n": {"$eq": 2.5}},
    {"n": {"$ne": 1}},
    {"n": {"$ne": None}},
    {"n": {"$ne": True}},
    {"n": {"$ne": "2"}},
    # ordering: numbers with numbers, strings with strings, False < True
    {"n": {"$gt": 1}},
    {"n": {"$gte": 2}},
    {"n": {"$lt": 2.5}},
    {"n": {"$lte": 0}},
    {"n": {"$gt": -1, "$lt": 3}},
    {"n": {"$gt": "1"}},
    {"n": {"$gte": "1"}},
    {"n": {"$gt": False}},
    {"n": {"$gte": False}},
    {"n": {"$lt": True}},
    {"n": {"$lte": True}},
    {"n": {"$gt": True}},
    {"n": {"$lt": False}},
    {"s": {"$gt": "a"}},
    {"s": {"$gte": "ab"}},
    {"s": {"$lt": "ab!"}},
    {"s": {"$lt": "Z"}},
    {"s": {"$lte": ""}},
    {"s": {"$gt": "é"}},
    {"s": {"$lt": "😀", "$gt": "z"}},
    {"s": {"$lt": '"'}},
    {"s": {"$gt": "\\", "$lt": "a"}},
    {"s": {"$gt": 0}},
    # $in / $nin
    {"n": {"$in": [1, "2", True, None]}},
    {"n": {"$in": [2.0, 1.5, -1]}},
    {"n": {"$in": [True, 1]}},
    {"n": {"$in": []}},
    {"n": {"$nin": []}},
    {"n": {"$nin": [1, None]}},
    {"s": {"$in": ["a", "ab", "'", "\\"]}},
    {"s": {"$nin": ["a", "%", "_"]}},
    # $exists, nulls and missing fields
    {"n": {"$exists": True}},
    {"n": {"$exists": False}},
    {"tags": {"$exists": True}},
    {"a.b": {"$exists": True}},
    {"a.b.c": {"$exists": False}},
    {"nope": None},
    {"nope": {"$ne": None}},
    {"nope": {"$exists": False}},
    # arrays: string elements match $eq / $in, everything else compares the whole value
    {"tags": "ml"},
    {"tags": {"$ne": "ml"}},
    {"tags": {"$in": ["nlp", "x"]}},
    {"tags": {"$nin": ["ml", "日本"]}},
    {"tags": "1"},
    {"tags": 1},
    {"tags": True},
    {"tags": None},
    {"tags": {"$gt": "a"}},
    {"tags": "ML"},
    {"tags.0": "ml"},
    {"tags.0": {"$gt": "a"}},
    {"tags.1": {"$in": [1, "nlp"]}},
    {"tags.1": {"$exists": True}},
    # nested paths and odd keys
    {"a.b": 1},
    {"a.b": "1"},
    {"a.b": {"$gt": 1}},
    {"a.c": "x"},
    {"a.0.b": 1},
    {"a.1": 7},
    {"a": 5},
    {"a.b.c.1": 2},
    {"0": "zero"},
    {"key-with-dash": 3},
    {"ключ": "значение"},
    {"lang": "日本語"},
    # $not, $and, $or
    {"n": {"$not": {"$gt": 1}}},
    {"s": {"$not": {"$in": ["a", "ab"]}}},
    {"n": {"$not": {"$exists": True}}},
    {"$not": {"n": 1}},
    {"$not": {"$or": [{"n": 1}, {"s": "a"}]}},
    {"$and": [{"n": {"$gte": 1}}, {"n": {"$lt": 3}}]},
    {"$or": [{"n": 1}, {"s": "a"}, {"tags": "x"}]},
    {"$or": [{"$and": [{"year": 2020}, {"lang": "en"}]}, {"$not": {"n": {"$exists": True}}}]},
    {"n": {"$gte": 1}, "$or": [{"s": "ab"}, {"s": "Z"}]},
    # declared typed columns
    {"year": 2020},
    {"year": {"$gte": 2005, "$lt": 2021}},
    {"year": {"$in": [1999, 2030, 2020.0]}},
    {"year": {"$ne": 2020}},
    {"year": None},
    {"year": {"$exists": True}},
    {"year": "2020"},
    {"year": {"$ne": "2020"}},
    {"year": {"$gt": 2010.5}},
    {"year": {"$gte": 2010.5}},
    {"year": {"$lt": 2010.5}},
    {"year": {"$lte": 2010.5}},
    {"year": 2020.5},
    {"year": 2**70},
    {"year": {"$in": [2**64, 2020, 1999.5]}},
    {"year": {"$lt": 2**70}},
    {"year": {"$gt": -1e300}},
    {"year": {"$lt": -1e300}},
    {"year": True},
    {"lang": "en"},
    {"lang": {"$gt": "en"}},
    {"lang": {"$in": ["fr", "es", 1]}},
    {"lang": {"$nin": ["en"]}},
    {"score": {"$gt": 0.5}},
    {"score": 3},
    {"score": {"$lte": -1.5}},
    {"flag": True},
    {"flag": {"$ne": True}},
    {"flag": {"$gt": False}},
    {"flag": {"$lt": True}},
    {"flag": 1},
    {"n-views": {"$gte": 5}},
    {"n-views": {"$gt": -1}},
    {"n-views": {"$lt": 300}},
    {"n-views": {"$lte": -1}},
    {"n-views": {"$in": [256, 3, -3]}},
    {"n-views": {"$nin": [3.0, 9]}},
    {"text": "doc 3"},
    {"id": {"$in": ["r01", "r39", "nope"]}},
    {"year": {"$gte": 2000}, "lang": "en", "tags": "ml"},
    # text operators: string values only, on columns and metadata paths
    {"text": {"$contains": "doc 1"}},
    {"text": {"$contains": "DOC 1", "$options": "i"}},
    {"text": {"$startswith": "doc 2"}},
    {"text": {"$regex": "^doc [0-9]$"}},
    {"text": {"$regex": "^DOC 3", "$options": "i"}},
    {"lang": {"$contains": "n"}},
    {"lang": {"$startswith": "E", "$options": "i"}},
    {"s": {"$contains": "'"}},
    {"s": {"$contains": "%"}},
    {"s": {"$startswith": "\\"}},
    {"s": {"$regex": "[日😀]"}},
    {"s": {"$contains": ""}},
    {"n": {"$contains": "1"}},
    {"tags": {"$contains": "m"}},
    {"a.b": {"$regex": "."}},
    {"s": {"$not": {"$contains": "a"}}},
    {"$or": [{"s": {"$startswith": "a"}}, {"lang": {"$regex": "^f"}}]},
]


@pytest.mark.parametrize("where", FILTERS, ids=[json.dumps(f, ensure_ascii=False) for f in FILTERS])
def test_matches_reference(dataset: lance.LanceDataset, where: dict[str, Any]) -> None:
    assert selected(dataset, where) == expected(where)


def test_reference_filters_are_not_trivial() -> None:
    # Guards the table above: most filters must select some rows and leave others out.
    sizes = [len(expected(where)) for where in FILTERS]
    assert sum(0 < size < len(ROWS) for size in sizes) > len(FILTERS) * 3 // 4
    # And most hostile strings are stored, so equality on them must find a row.
    stored = {md["s"] for md in METADATA if isinstance(md.get("s"), str)}
    assert sum(value in stored for value in HOSTILE) >= len(HOSTILE) - 4


# --- injection: every hostile string is data, never SQL ---------------------------------------

SHAPES: list[Callable[[str], dict[str, Any]]] = [
    lambda v: {"s": v},
    lambda v: {"s": {"$ne": v}},
    lambda v: {"s": {"$gt": v}},
    lambda v: {"s": {"$lte": v}},
    lambda v: {"s": {"$in": [v, "a"]}},
    lambda v: {"tags": v},
    lambda v: {"tags": {"$nin": [v]}},
    lambda v: {"lang": v},
    lambda v: {"lang": {"$lt": v}},
    lambda v: {"$or": [{"s": v}, {"text": v}]},
    lambda v: {"s": {"$contains": v}},
    lambda v: {"s": {"$startswith": v, "$options": "i"}},
    lambda v: {"text": {"$contains": v}},
]


@pytest.mark.parametrize("value", HOSTILE, ids=[ascii(v) for v in HOSTILE])
def test_hostile_values_are_data(dataset: lance.LanceDataset, value: str) -> None:
    for shape in SHAPES:
        where = shape(value)
        assert selected(dataset, where) == expected(where), where


@pytest.mark.parametrize(
    "name", [*HOSTILE, "a b", "a.", ".a", "a..b", "s' OR 1=1 --", "`year`", "year`", "a\nb"]
)
def test_hostile_field_names_are_rejected_or_data(dataset: lance.LanceDataset, name: str) -> None:
    where = {name: "x"}
    try:
        predicate = compile_filter(where, columns=COLUMNS)
    except FilterError as exc:
        assert "field" in str(exc)
        return
    # Only plain Unicode words get through, and they then behave as metadata keys.
    assert all(ch.isalnum() or ch in "._-" for ch in name)
    got = sorted(dataset.to_table(columns=["id"], filter=predicate).column("id").to_pylist())
    assert got == expected(where)


def test_unicode_field_names_are_metadata_keys(dataset: lance.LanceDataset) -> None:
    assert selected(dataset, {"ключ": {"$exists": True}}) == ["r18"]
    assert selected(dataset, {"日本": None}) == [row["id"] for row in ROWS]


# --- declared columns -------------------------------------------------------------------------


def test_declared_columns_are_served_by_their_scalar_index(dataset: lance.LanceDataset) -> None:
    for where in [{"year": {"$gte": 2000}}, {"lang": {"$nin": ["en", "fr"]}}]:
        predicate = compile_filter(where, columns=COLUMNS)
        assert "json_get" not in predicate
        assert "ScalarIndexQuery" in dataset.scanner(filter=predicate).explain_plan()


def test_unknown_fields_match_as_missing_with_a_warning(dataset: lance.LanceDataset) -> None:
    with pytest.warns(UnknownFieldWarning, match=r"'yeer'.*did you mean 'year'.*known fields"):
        assert selected(dataset, {"yeer": 2020}, metadata_keys=METADATA_KEYS) == []
    with pytest.warns(UnknownFieldWarning, match=r"unknown field 'tags2\.x'"):
        either = {"$or": [{"n": 1}, {"tags2.x": 1}]}
        assert selected(dataset, either, metadata_keys=METADATA_KEYS) == expected({"n": 1})
    with pytest.warns(UnknownFieldWarning):  # Mongo's semantics: $ne holds where it is missing
        everything = selected(dataset, {"yeer": {"$ne": 1}}, metadata_keys=METADATA_KEYS)
    assert everything == expected({})
    where = {"a.b": 1, "year": 2020, "$or": [{"tags": "ml"}, {"lang": "fr"}]}
    assert selected(dataset, where, metadata_keys=METADATA_KEYS) == expected(where)


# --- errors -----------------------------------------------------------------------------------

ERRORS: list[tuple[Any, str]] = [
    ({"s": {"$like": "a"}}, "unknown operator '$like' on field 's'; allowed: $eq"),
    ({"s": {"$contains": 1}}, "$contains on field 's' needs a string"),
    ({"text": {"$match": "cat"}}, "$match needs a dataset's keyword index"),
    ({"s": {"$match": "cat"}}, "goes on 'text', not 's'"),
    ({"s": {"$regex": "(?=a)"}}, "look-around or a backreference"),
    ({"s": {"$regex": "(a)\\1"}}, "look-around or a backreference"),
    ({"s": {"$regex": "(a"}}, "not a valid pattern"),
    ({"s": {"$regex": "a" * 1001}}, "over 1000"),
    ({"s": {"$options": "i"}}, "goes beside $contains"),
    ({"s": {"$contains": "a", "$options": "m"}}, 'takes "i"'),
    ({"s": {"$where": "1"}}, "unknown operator '$where'"),
    ({"s": {"$gt ": 1}}, "unknown operator '$gt '"),
    ({"$where": "sleep(1)"}, "unknown top-level operator '$where'; allowed: $and, $or, $not"),
    ({"$nor": [{"s": 1}]}, "unknown top-level operator"),
    ([{"s": 1}], "a filter must be a dict"),
    ("s = 1", "a filter must be a dict"),
    (None, "a filter must be a dict"),
    ({1: "a"}, "filter keys must be strings"),
    ({"s": {"$gt": [1]}}, "must be a str, int, float, bool, got list"),
    ({"s": {"$gt": None}}, "must be a str, int, float, bool, got NoneType"),
    ({"s": [1, 2]}, "use $in for a list"),
    ({"s": {"$eq": {"$gt": 1}}}, "got dict"),
    ({"s": b"bytes"}, "got bytes"),
    ({"s": {"a": 1}}, "must hold only operators"),
    ({"s": {"$gt": 1, "b": 2}}, "must hold only operators"),
    ({"s": {}}, "must hold only operators"),
    ({"s": float("nan")}, "must be a finite number"),
    ({"s": {"$lt": float("inf")}}, "must be a finite number"),
    ({"s": {"$in": [float("-inf")]}}, "must be a finite number"),
    ({"s": 10**400}, "too large"),
    ({"s": "\ud800"}, "not valid Unicode"),
    ({"s": {"$in": "abc"}}, "$in on field 's' needs a list"),
    ({"s": {"$nin": [["a"]]}}, "must be a str, int, float, bool or None"),
    ({"s": {"$exists": 1}}, "needs True or False"),
    ({"s": {"$not": 5}}, "needs an operator dict"),
    ({"s": {"$not": {"x": 5}}}, "must hold only operators"),
    ({"$and": []}, "$and needs a non-empty list"),
    ({"$or": {"s": 1}}, "$or needs a non-empty list"),
    ({"$and": [1]}, "a filter must be a dict"),
    ({"$not": [{"s": 1}]}, "a filter must be a dict"),
    (
        {"blob": "x"},
        "column 'blob' has type binary, which cannot be filtered on; filterable columns:",
    ),
    ({"embedding": 1}, "column 'embedding' has type fixed_size_list"),
    ({"year.x": 1}, "column 'year' is not a JSON object"),
    ({"a b": 1}, "invalid field name 'a b'"),
    ({"": 1}, "invalid field name ''"),
    ({"a..b": 1}, "invalid field name"),
    ({".".join("a" * 17): 1}, "up to 16 dot-separated segments"),
]


@pytest.mark.parametrize(("where", "phrase"), ERRORS, ids=[ascii(w)[:60] for w, _ in ERRORS])
def test_bad_filters_raise_filter_error(where: Any, phrase: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(where, columns=COLUMNS)
    assert phrase in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("levels", [MAX_FILTER_DEPTH + 1, 3_000])
@pytest.mark.parametrize("shape", ["$not", "$and", "field $not"])
def test_deep_nesting_is_a_filter_error_never_a_recursion_error(levels: int, shape: str) -> None:
    where: dict[str, Any] = {"n": 1}
    condition: dict[str, Any] = {"$eq": 1}
    for _ in range(levels):
        where = {"$not": where} if shape == "$not" else {"$and": [where, {"n": 2}]}
        condition = {"$not": condition}
    if shape == "field $not":
        where = {"n": condition}
    with pytest.raises(FilterError) as caught:
        compile_filter(where, columns=COLUMNS)
    assert str(caught.value) == (
        f"the filter nests $and, $or and $not more than {MAX_FILTER_DEPTH} levels deep; "
        "flatten it ($and and $or take lists of any length)"
    )


def test_nesting_up_to_the_limit_compiles_and_double_negations_cancel() -> None:
    plain = compile_filter({"n": 1}, columns=COLUMNS)
    where: dict[str, Any] = {"n": 1}
    for level in range(1, MAX_FILTER_DEPTH + 1):
        where = {"$not": where}
        compiled = compile_filter(where, columns=COLUMNS)
        assert compiled == (plain if level % 2 == 0 else f"NOT ({plain})"), level


def test_every_compiled_filter_is_two_valued(dataset: lance.LanceDataset) -> None:
    # NOT of a predicate selects exactly the other rows, which fails if any leaf were SQL NULL.
    for where in FILTERS[1:]:
        inside = set(selected(dataset, where))
        outside = set(selected(dataset, {"$not": where}))
        assert inside | outside == {row["id"] for row in ROWS} and not inside & outside, where


def test_a_metadata_prefix_reaches_the_metadata_even_past_a_column(
    dataset: lance.LanceDataset,
) -> None:
    # "year" is a declared column; "metadata.year" is the JSON value, so a string year counts too.
    by_path = compile_filter({"metadata.year": 2020}, columns=COLUMNS)
    assert "json_get" in by_path and "`year`" not in by_path
    assert selected(dataset, {"metadata.n": 1}) == selected(dataset, {"n": 1}) == expected({"n": 1})
    assert selected(dataset, {"metadata.lang": "en"}) == expected({"lang": "en"})
    with pytest.warns(UnknownFieldWarning, match=r"unknown field 'nope'"):
        compile_filter({"metadata.nope": 1}, columns=COLUMNS, metadata_keys=METADATA_KEYS)
