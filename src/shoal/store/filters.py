"""The filter language of the vector store: Mongo-style ``where=`` dicts compiled to Lance SQL.

A filter is a dict. ``{"field": value}`` means ``$eq``; several keys are ANDed.

Logical operators (top level)::

    {"$and": [f, ...]}   {"$or": [f, ...]}   {"$not": f}       lists must be non-empty

Field operators, also combined in one dict (``{"year": {"$gte": 2000, "$lt": 2010}}``)::

    $eq $ne $gt $gte $lt $lte    a str, int, float or bool (and None for $eq / $ne)
    $in $nin                     a list of those; [] matches nothing / everything
    $exists                      True or False
    $not                         an operator dict: {"n": {"$not": {"$gt": 5}}}
    $contains $startswith        a str: a substring / prefix of a string value
    $regex                       a str: a regular expression searched in a string value
                                 (RE2-like syntax: no look-around or backreferences, so
                                 it runs in linear time; at most MAX_REGEX_CHARS long)
    $options                     "i" beside one of those three: ignore case
    $match                       words, on "text" only: rows whose text holds every one,
                                 as the keyword index reads words (stemmed, case-folded)

Semantics are MongoDB's for JSON documents: numbers compare numerically across int and
float (2 == 2.0) but a bool is never a number (True does not match 1); ordering compares
numbers with numbers, strings with strings (by code point) and False < True, and a value of
another type simply does not match. ``None`` with ``$eq`` matches null or missing,
``$ne: None`` present and not null. ``$ne``, ``$nin`` and ``$not`` also match rows where the
field is missing or null. Every compiled predicate is TRUE or FALSE, never SQL NULL.

Fields: a name in ``columns`` is that typed column (int, float, bool or string; a column
wins over a metadata key of the same name); any other name is a dotted path into the
``metadata`` JSON object (``"a.b"`` is ``metadata["a"]["b"]``; a segment of digits also
indexes an array, ``"tags.0"``). ``"metadata.<path>"`` always means the metadata path, so a
key named like a column is reachable too (``{"metadata.id": 1}``). Segments are Unicode letters, digits, ``_`` and ``-``, at
most 16 of them; keys holding other characters (dots, spaces, ...) cannot be filtered on.
Binary, list, vector and other non-scalar columns cannot be filtered on. ``{}`` matches
every row.

Limitations:

* Arrays: a *string* value given to ``$eq``/``$in`` also matches an array that holds it
  as an element (``{"tags": "ml"}`` matches ``["ml", "nlp"]``), and ``$ne``/``$nin``
  exclude such arrays. Numbers, bools, None and the ordering operators compare with the
  whole value only, so they never match an array field (Lance's JSON functions cannot
  tell the number 1 from the string "1" inside an array).
* JSON numbers are compared as 64-bit floats: integers beyond 2**53 lose precision.

Limits, each a FilterError before anything runs: `$and`/`$or`/`$not` nest at most
MAX_FILTER_DEPTH levels; at most MAX_FILTER_NODES conditions; $in/$nin lists hold at most
SHOAL_FILTER_MAX_VALUES values in all (default 100,000: Lance parses every literal); the
compiled SQL nests at most MAX_SQL_DEPTH of the units Lance's SQL parser counts
(`sql_depth`). The SQL stays within them: negations are pushed down to the conditions
(NOT NOT x is x), nested ANDs and ORs are flattened, and a long chain is grouped into
chains of at most 64 (the planner recursed once per link, and overflowed its stack on a
chain of 50,000).

SQL for a metadata path ``a.b`` (all pure per-row functions; no index can serve them, so
declare a column for a field that is filtered on often)::

    G = json_get(json_get(`metadata`, 'a'), 'b')          the JSONB value, NULL if missing
    T = json_extract(G, '$')                              its JSON text
    $exists           G IS NOT NULL
    None              (T IS NULL OR T = 'null')
    bool              T IN ('true')                               each wrapped in
    number            TRY_CAST(T AS DOUBLE) > 2.5                 COALESCE(..., false)
    string $eq/$in    T IN ('"x"') OR json_array_contains(G, '$', '"x"')
                      (over 64 strings: T IN (...) OR id IN (the ids of the rows holding
                      an array with one of them, found by one scan: `ArrayRows`))
    string ordering   json_get_string(nvl2(nullif(CAST((T LIKE '"%') AS VARCHAR), 'false'),
                      json_get(`metadata`, 'a'), NULL), 'b') > 'x'

The last shape feeds ``json_get_string`` only rows that hold a string, because it raises
an execution error on any other type and Lance's filters have no CASE. A declared column
compiles to a plain comparison that its scalar index serves, also under NOT:
```year` IS NOT NULL AND `year` >= 2000`` (a float bound on an int column is rounded to
the int that selects the same rows, and a bound outside the type's range is decided here).

Text operators match string values only (a column of strings, or a metadata value that is a
string; never a number, or the elements of an array): ``strpos(S, 'x') > 0``,
``starts_with(S, 'x')`` and ``regexp_like(S, 'x')`` with S the column or the metadata
path's decoded string, ``lower(S)`` and a lower-cased literal (or ``(?i)``) for ``$options:
"i"``; NOT of them also matches rows without the field.

A field that is neither a column nor a key of any row's metadata (given `metadata_keys`,
when some row has metadata) is no error: as in MongoDB, conditions see it missing (``{"colour": "red"}`` matches no row,
``{"colour": {"$ne": "red"}}`` every row), and an `UnknownFieldWarning` names the fields
there are.
"""

from __future__ import annotations

import difflib
import json
import math
import operator
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shoal.errors import FilterError, UnknownFieldWarning, warn
from shoal.settings import filter_max_values

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "MAX_SQL_DEPTH",
    "ArrayRows",
    "Filter",
    "compile_filter",
    "id_list",
    "metadata_json",
    "sql_depth",
]

Filter = Mapping[str, Any]
"""A Mongo-style filter: ``{"lang": "en", "year": {"$gte": 2000}}``."""

KeywordRows = Callable[[str], "Sequence[int] | np.ndarray | None"]
"""Given words, the rowids of the rows whose text holds every one (the dataset's keyword
index); None if the words hold none the index keeps."""

ArrayRows = Callable[[str, frozenset[str]], Sequence[str]]
"""Given the SQL of a metadata path's JSON value and a set of strings, the ids of the rows
whose value there is an array holding one of them (a dataset answers it with one scan)."""

_METADATA = "`metadata`"
_SEGMENT = re.compile(r"[\w-]+")  # \w is Unicode-aware: letters and digits of any script, "_"
_MAX_SEGMENTS = 16
MAX_FILTER_DEPTH = 16
"""How deeply `$and`, `$or` and `$not` may nest in a filter."""
MAX_FILTER_NODES = 10_000
"""How many conditions (field operators, and `$and` / `$or` / `$not`) a filter may hold; an
`$in` / `$nin` list counts once (its values have their own bound: SHOAL_FILTER_MAX_VALUES)."""
MAX_SQL_DEPTH = 44
"""How deeply the compiled SQL may nest, in the units of Lance's SQL parser (its recursion
limit is 50, about 46 of them left for a filter): each `$and`/`$or` level and each negated
condition takes 2, a metadata path about one per dotted segment."""
ARRAY_LOOKUP_MIN = 64
"""Beyond this many strings, a metadata `$in` finds the arrays holding one of them with one
scan (`ArrayRows`) instead of one `json_array_contains` call per string and row."""
_CHAIN = 64  # the longest flat AND / OR chain: Lance's planner recurses once per link
_FLOAT_MAX = int(sys.float_info.max)
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')  # what JSON writes as it is between quotes
_TRUE, _FALSE = "true", "false"

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le
}  # fmt: skip
_SQL_OPERATOR = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_TEXT_OPERATORS = ("$contains", "$startswith", "$regex")
_FIELD_OPERATORS = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not",
    *_TEXT_OPERATORS, "$options", "$match",
)  # fmt: skip
MAX_REGEX_CHARS = 1_000
"""The longest `$regex` pattern taken."""
_LOGICAL_OPERATORS = ("$and", "$or", "$not")


def compile_filter(
    where: Filter,
    *,
    columns: Mapping[str, pa.DataType],
    metadata_keys: Collection[str] | None = None,
    array_rows: ArrayRows | None = None,
    keyword_rows: KeywordRows | None = None,
) -> str:
    """Compile a Mongo-style filter into a Lance SQL predicate that is TRUE or FALSE per row.

    `array_rows` serves a long `$in` / `$nin` of strings on a metadata path (see `ArrayRows`;
    without it such a list costs one `json_array_contains` call per string and row).
    `keyword_rows` serves `$match` (see `KeywordRows`; without it `$match` is an error).

    Raises:
        FilterError: the filter has an unknown operator or field, a bad shape or a value
            of the wrong type, or is larger or deeper than the limits (`MAX_FILTER_DEPTH`,
            `MAX_FILTER_NODES`, `MAX_SQL_DEPTH`, SHOAL_FILTER_MAX_VALUES values); the
            message says what is allowed.
    """
    compiler = _Compiler(columns, metadata_keys, array_rows, keyword_rows)
    sql = _render(compiler.document(where, depth=0))
    depth = sql_depth(sql)
    if depth > MAX_SQL_DEPTH:
        raise FilterError(
            f"the filter compiles to SQL nested {depth} levels deep, more than the "
            f"{MAX_SQL_DEPTH} Lance's SQL parser takes (each $and/$or level and each negated "
            "condition takes 2, a metadata path about one per dotted segment); flatten it: "
            "$and and $or take lists of any length, and $in replaces an $or of equalities"
        )
    return sql


def id_list(ids: Sequence[str]) -> str:
    """A predicate matching the rows whose `id` is one of `ids` (no bound on how many)."""
    return _render(_Column("id", pa.string()).one_of(list(ids)))


def metadata_json(path: str) -> str:
    """SQL for the JSON text of a dotted metadata path (NULL where a row lacks it).

    Raises:
        FilterError: the path is not dot-separated segments of letters, digits, '_' and '-'.
    """
    return _Compiler({}, None, None).path(path).text


def sql_depth(sql: str) -> int:
    """How deeply Lance's SQL parser recurses to parse `sql`, counted from its parentheses:
    a function's or IN list's counts 1, one after NOT, AND or OR counts 2 (the operator's
    operand, then the group); text inside quotes is skipped."""
    depth = deepest = 0
    stack: list[int] = []
    for match in _PARENTHESES.finditer(_QUOTED.sub("''", sql)):
        if match.group(0) == ")":
            depth -= stack.pop() if stack else 0
            continue
        cost = 2 if (match.group(1) or "").upper() in ("NOT", "AND", "OR") else 1
        stack.append(cost)
        depth += cost
        deepest = max(deepest, depth)
    return deepest


_QUOTED = re.compile(r"'(?:[^']|'')*'|`[^`]*`")
_PARENTHESES = re.compile(r"(?:(\w+)\s*)?\(|\)")


# ------------------------------------------------------------------ the predicate tree
@dataclass(frozen=True)
class _Expr:
    """A predicate: SQL text (``op == "sql"``), or AND / OR / NOT of predicates."""

    op: str
    sql: str = ""
    parts: tuple[_Expr, ...] = ()


_YES, _NO = _Expr("sql", _TRUE), _Expr("sql", _FALSE)


def _leaf(sql: str) -> _Expr:
    return _Expr("sql", sql)


def _all(parts: Iterable[_Expr]) -> _Expr:
    return _join("and", parts)


def _any(parts: Iterable[_Expr]) -> _Expr:
    return _join("or", parts)


def _join(op: str, parts: Iterable[_Expr]) -> _Expr:
    """AND or OR of `parts`, flattened, with TRUE and FALSE folded in."""
    neutral, absorbing = (_YES, _NO) if op == "and" else (_NO, _YES)
    flat: list[_Expr] = []
    for part in parts:
        if part == absorbing:
            return absorbing
        if part != neutral:
            flat.extend(part.parts if part.op == op else (part,))
    if len(flat) < 2:
        return flat[0] if flat else neutral
    return _Expr(op, parts=tuple(flat))


def _not(expr: _Expr) -> _Expr:
    """The negation, pushed down to the conditions (every predicate is TRUE or FALSE, never
    NULL, so De Morgan holds and NOT NOT x is x): the SQL nests no deeper than the filter."""
    if expr in (_YES, _NO):
        return _NO if expr == _YES else _YES
    if expr.op == "not":
        return expr.parts[0]
    if expr.op == "sql":
        return _Expr("not", parts=(expr,))
    flipped = "or" if expr.op == "and" else "and"
    return _join(flipped, (_not(part) for part in expr.parts))


def _render(expr: _Expr) -> str:
    """The SQL text; a chain longer than _CHAIN is grouped, so none is long and none deep."""
    if expr.op == "sql":
        return expr.sql
    if expr.op == "not":
        return f"NOT ({_render(expr.parts[0])})"
    joiner = " AND " if expr.op == "and" else " OR "
    texts = [_render(part) for part in expr.parts]
    while len(texts) > _CHAIN:
        texts = [
            joiner.join(f"({text})" for text in texts[start : start + _CHAIN])
            for start in range(0, len(texts), _CHAIN)
        ]
    return joiner.join(f"({text})" for text in texts)


# ------------------------------------------------------------------ the compiler
class _Compiler:
    def __init__(
        self,
        columns: Mapping[str, pa.DataType],
        metadata_keys: Collection[str] | None,
        array_rows: ArrayRows | None,
        keyword_rows: KeywordRows | None = None,
    ):
        self.columns = columns
        self.metadata_keys = metadata_keys
        self.array_rows = array_rows
        self.keyword_rows = keyword_rows
        self.nodes = 0
        self.values = 0
        self.max_values = filter_max_values()

    def count(self, nodes: int = 1, values: int = 0) -> None:
        self.nodes += nodes
        self.values += values
        if self.nodes > MAX_FILTER_NODES:
            raise FilterError(
                f"the filter holds more than {MAX_FILTER_NODES} conditions; merge equalities "
                "on one field into an $in list, or select the rows by id"
            )
        if self.values > self.max_values:
            raise FilterError(
                f"the filter's $in / $nin lists hold more than {self.max_values} values "
                "(SHOAL_FILTER_MAX_VALUES); select the rows by their ids instead (get and "
                "delete take ids), filter on a coarser or a declared field, or raise the "
                "limit: planning takes about 1.2 s and 0.4 GB per 100,000 strings"
            )

    def deep(self, depth: int) -> None:
        if depth > MAX_FILTER_DEPTH:
            raise FilterError(
                f"the filter nests $and, $or and $not more than {MAX_FILTER_DEPTH} levels deep; "
                "flatten it ($and and $or take lists of any length)"
            )

    def document(self, where: Any, *, depth: int) -> _Expr:
        self.deep(depth)
        if not isinstance(where, Mapping):
            raise FilterError(
                f"a filter must be a dict like {{'lang': 'en'}}, got {type(where).__name__}"
            )
        clauses: list[_Expr] = []
        for key, value in where.items():
            if not isinstance(key, str):
                raise FilterError(f"filter keys must be strings, got {key!r}")
            if key.startswith("$"):
                clauses.append(self.logical(key, value, depth=depth))
            else:
                clauses.append(self.field(key, value, depth=depth))
        return _all(clauses)

    def logical(self, key: str, value: Any, *, depth: int) -> _Expr:
        self.count()
        if key == "$not":
            return _not(self.document(value, depth=depth + 1))
        if key not in ("$and", "$or"):
            raise FilterError(
                f"unknown top-level operator {key!r}; allowed: {', '.join(_LOGICAL_OPERATORS)} "
                "or a field name"
            )
        if not isinstance(value, (list, tuple)) or not value:
            raise FilterError(f"{key} needs a non-empty list of filter dicts, got {value!r}")
        parts = [self.document(item, depth=depth + 1) for item in value]
        return _all(parts) if key == "$and" else _any(parts)

    def field(self, name: str, condition: Any, *, depth: int) -> _Expr:
        target = self.target(name)
        if isinstance(condition, Mapping):
            return self.operators(target, name, condition, depth=depth)
        self.count()
        return target.equals(_scalar(condition, name, "$eq", allow_none=True))

    def operators(
        self, target: _Target, name: str, condition: Mapping[Any, Any], *, depth: int
    ) -> _Expr:
        self.deep(depth)
        if not condition or not all(isinstance(k, str) and k.startswith("$") for k in condition):
            raise FilterError(
                f"the dict given for field {name!r} must hold only operators "
                f"({', '.join(_FIELD_OPERATORS)}), got {dict(condition)!r}; "
                "to reach a nested key use a dotted path like 'a.b'"
            )
        options = condition.get("$options")
        if options is not None:
            if options not in ("", "i"):
                raise FilterError(
                    f'$options on field {name!r} takes "i" (ignore case) or "", got {options!r}'
                )
            if not any(op in condition for op in _TEXT_OPERATORS):
                raise FilterError(
                    f"$options on field {name!r} goes beside {', '.join(_TEXT_OPERATORS)}, "
                    f"which it changes; got {dict(condition)!r}"
                )
        return _all(
            [
                self.operator(target, name, op, v, depth=depth, ignore_case=options == "i")
                for op, v in condition.items()
                if op != "$options"
            ]
        )

    def operator(
        self,
        target: _Target,
        name: str,
        op: str,
        value: Any,
        *,
        depth: int,
        ignore_case: bool = False,
    ) -> _Expr:
        self.count()
        if op == "$match":
            return self.match(target, name, value)
        if op in _TEXT_OPERATORS:
            if not isinstance(value, str):
                raise FilterError(f"{op} on field {name!r} needs a string, got {value!r}")
            _scalar(value, name, op, allow_none=False)  # valid Unicode
            if op == "$regex":
                _check_regex(value, name)
            return target.text_match(op, value, ignore_case=ignore_case)
        if op in ("$eq", "$ne"):
            clause = target.equals(_scalar(value, name, op, allow_none=True))
            return clause if op == "$eq" else _not(clause)
        if op in _ORDERING:
            return target.compare(op, _scalar(value, name, op, allow_none=False))
        if op in ("$in", "$nin"):
            if not isinstance(value, (list, tuple)):
                raise FilterError(f"{op} on field {name!r} needs a list of values, got {value!r}")
            self.count(0, len(value))
            clause = target.one_of([_scalar(v, name, op, allow_none=True) for v in value])
            return clause if op == "$in" else _not(clause)
        if op == "$exists":
            if not isinstance(value, bool):
                raise FilterError(f"$exists on field {name!r} needs True or False, got {value!r}")
            return target.exists() if value else _not(target.exists())
        if op == "$not":
            if not isinstance(value, Mapping):
                raise FilterError(
                    f"$not on field {name!r} needs an operator dict like {{'$gt': 5}}, got {value!r}"
                )
            return _not(self.operators(target, name, value, depth=depth + 1))
        raise FilterError(
            f"unknown operator {op!r} on field {name!r}; allowed: {', '.join(_FIELD_OPERATORS)}"
        )

    def match(self, target: _Target, name: str, words: Any) -> _Expr:
        """`$match`: the rows whose text holds every word, found by the keyword index."""
        if not (isinstance(target, _Column) and target.sql == "`text`"):
            raise FilterError(
                f"$match finds words in the text through the keyword index, so it goes on "
                f"'text', not {name!r}; for a metadata string use $contains or $regex"
            )
        if not isinstance(words, str) or not words.strip():
            raise FilterError(
                "$match on 'text' needs the words to find, e.g. {'$match': 'install pip'}"
            )
        _scalar(words, name, "$match", allow_none=False)  # valid Unicode
        if self.keyword_rows is None:
            raise FilterError(
                "$match needs a dataset's keyword index: filter a dataset with it, or use "
                "$contains here"
            )
        rowids = self.keyword_rows(words)
        if rowids is None:
            raise FilterError(
                f"$match {words!r} holds no word the keyword index keeps (it drops common "
                "words such as 'the'): give content words, or use $contains"
            )
        if len(rowids) > self.max_values:
            raise FilterError(
                f"$match {words!r} matches {len(rowids):,} rows, more than the "
                f"{self.max_values:,} a filter takes (SHOAL_FILTER_MAX_VALUES): add words, or "
                "rank by them with search(..., mode='keyword')"
            )
        if len(rowids) == 0:
            return _NO
        return _leaf(f"_rowid IN ({', '.join(str(int(r)) for r in rowids)})")

    def path(self, name: str) -> _Path:
        segments = name.split(".")
        if len(segments) > _MAX_SEGMENTS or not all(_SEGMENT.fullmatch(s) for s in segments):
            raise FilterError(
                f"invalid field name {name!r}: use up to {_MAX_SEGMENTS} dot-separated "
                "segments of letters, digits, '_' and '-'"
            )
        return _Path(segments, self.array_lookup)

    def array_lookup(self, node: str, strings: list[str]) -> _Expr | None:
        """`id IN (...)` of the rows whose value at `node` is an array holding one of
        `strings`, when there are many strings and the dataset can find them; else None."""
        if self.array_rows is None or len(strings) <= ARRAY_LOOKUP_MIN:
            return None
        if "id" not in self.columns:
            return None
        ids = list(self.array_rows(node, frozenset(strings)))
        return _Column("id", self.columns["id"]).one_of(ids)

    def target(self, name: str) -> _Target:
        segments = self.path(name).segments
        if segments[0] == "metadata" and len(segments) > 1:
            # An explicit metadata path: reaches a key named like a column ("metadata.id").
            segments = segments[1:]
            name = ".".join(segments)
        elif segments[0] in self.columns:
            if len(segments) > 1:
                raise FilterError(
                    f"field {name!r}: column {segments[0]!r} is not a JSON object, "
                    "so it has no nested keys"
                )
            if _column_kind(self.columns[name]) is None:
                raise FilterError(
                    f"column {name!r} has type {self.columns[name]}, which cannot be filtered "
                    f"on; filterable columns: {', '.join(self.filterable()) or '(none)'}"
                )
            return _Column(name, self.columns[name])
        # No metadata key at all (a new dataset) leaves nothing to compare a name against.
        if self.metadata_keys and segments[0] not in self.metadata_keys:
            known = sorted({*self.filterable(), *self.metadata_keys})
            shown = ", ".join(known[:20]) + (
                f", ... ({len(known) - 20} more)" if len(known) > 20 else ""
            )
            close = difflib.get_close_matches(segments[0], known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            warn(
                UnknownFieldWarning(
                    f"unknown field {name!r} in the filter: no row of this dataset has it, so "
                    f"conditions on it see a missing value (an equality matches no row); "
                    f"{hint}known fields: {shown or '(none)'}"
                )
            )
        return _Path(segments, self.array_lookup)

    def filterable(self) -> list[str]:
        return sorted(n for n, t in self.columns.items() if _column_kind(t) is not None)


def _scalar(value: Any, name: str, op: str, *, allow_none: bool) -> Any:
    """The value if it is a scalar the operator accepts; FilterError otherwise."""
    what = f"the {op} value for field {name!r}"
    if (value is None and allow_none) or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FilterError(f"{what} is not valid Unicode (a lone surrogate?)") from exc
        return value
    if isinstance(value, int) and abs(value) > _FLOAT_MAX:
        raise FilterError(f"{what} is too large to compare (over 1.8e308)")
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(f"{what} must be a finite number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    allowed = "a str, int, float, bool" + (" or None" if allow_none else "")
    hint = "; use $in for a list" if isinstance(value, (list, tuple)) and op == "$eq" else ""
    raise FilterError(f"{what} must be {allowed}, got {type(value).__name__}{hint}")


def _check_regex(pattern: str, name: str) -> None:
    """FilterError unless `pattern` is a regular expression Lance's engine runs (in linear
    time: no look-around, no backreferences) and at most MAX_REGEX_CHARS long."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise FilterError(
            f"the $regex for field {name!r} is {len(pattern)} characters, over "
            f"{MAX_REGEX_CHARS}: use a shorter pattern, or $contains / $startswith"
        )
    if re.search(r"\(\?<?[=!]|\\[1-9]|\(\?P=", pattern):
        raise FilterError(
            f"the $regex for field {name!r} uses look-around or a backreference, which the "
            "engine does not run (it guarantees linear time): rewrite it without them"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise FilterError(f"the $regex for field {name!r} is not a valid pattern: {exc}") from None


def _unique(texts: Iterable[str]) -> list[str]:
    """Each text once, in first-seen order (an $in list's order is kept: no sort of 1M)."""
    return list(dict.fromkeys(texts))


def _by_kind(values: Iterable[Any]) -> dict[str, list[Any]]:
    """The values grouped by `_kind`, in one pass."""
    kinds: dict[str, list[Any]] = {"null": [], "bool": [], "str": [], "number": []}
    strings = kinds["str"]
    for value in values:
        if type(value) is str:  # the common case of long lists, first
            strings.append(value)
        else:
            kinds[_kind(value)].append(value)
    return kinds


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "number"


def _string(value: str) -> str:
    """A SQL string literal: Lance's parser keeps backslashes as they are; only ' is doubled."""
    return "'" + value.replace("'", "''") + "'"


def _json_text(value: str) -> str:
    """The JSON text Lance's JSONB gives for a string (it escapes exactly as Python's json does)."""
    if _PLAIN.fullmatch(value):  # nothing to escape: 5x faster on long $in lists
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _number(value: int | float) -> str:
    return repr(float(value))


def _bools(op: str, value: bool) -> list[bool]:
    """The booleans that satisfy ``x op value``, with False < True as in MongoDB."""
    return [b for b in (False, True) if _ORDERING[op](b, value)]


def _column_kind(arrow_type: pa.DataType) -> str | None:
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_float32(arrow_type) or pa.types.is_float64(arrow_type):
        return "float"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    strings = (pa.string(), pa.large_string(), pa.string_view())
    return "str" if arrow_type in strings else None


def _false_if_null(clause: str) -> _Expr:
    return _leaf(f"COALESCE({clause}, false)")


class _Target(ABC):
    """Where a field's value lives; each method returns a predicate that is never NULL."""

    def equals(self, value: Any) -> _Expr:
        return self.one_of([value])

    @abstractmethod
    def exists(self) -> _Expr: ...

    @abstractmethod
    def compare(self, op: str, value: Any) -> _Expr: ...

    @abstractmethod
    def one_of(self, values: list[Any]) -> _Expr: ...

    @abstractmethod
    def string(self) -> str | None:
        """SQL for the value as a string, NULL where it is not one (None: never a string)."""

    def text_match(self, op: str, value: str, *, ignore_case: bool) -> _Expr:
        """A text operator (`$contains`, `$startswith`, `$regex`) on the string value."""
        subject = self.string()
        if subject is None:
            return _NO
        if op == "$regex":
            pattern = ("(?i)" if ignore_case else "") + value
            return _false_if_null(f"regexp_like({subject}, {_string(pattern)})")
        if ignore_case:
            subject, value = f"lower({subject})", value.lower()
        if op == "$contains":
            return _false_if_null(f"strpos({subject}, {_string(value)}) > 0")
        return _false_if_null(f"starts_with({subject}, {_string(value)})")


class _Column(_Target):
    def __init__(self, name: str, arrow_type: pa.DataType):
        self.sql = f"`{name}`"  # safe: names are checked against _SEGMENT, which has no backtick
        self.kind = _column_kind(arrow_type)
        if self.kind == "int":
            bits = arrow_type.bit_width
            signed = pa.types.is_signed_integer(arrow_type)
            self.range = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)

    def literal(self, value: Any) -> str | None:
        """The SQL literal of a value in this column's type, or None if no row can equal it."""
        kind = _kind(value)
        if kind == "str" == self.kind:
            return _string(value)
        if kind == "bool" == self.kind:
            return _TRUE if value else _FALSE
        if kind != "number" or self.kind not in ("int", "float"):
            return None
        if self.kind == "float":
            return _number(value)
        # Lance refuses a float literal for an int column, and one out of the type's range.
        if isinstance(value, float) and not value.is_integer():
            return None
        return str(int(value)) if self.range[0] <= value <= self.range[1] else None

    def exists(self) -> _Expr:
        return _leaf(f"{self.sql} IS NOT NULL")

    def string(self) -> str | None:
        return self.sql if self.kind == "str" else None

    def present(self, clause: str) -> _Expr:
        # Not COALESCE: Lance's scalar indexes serve this shape, and NOT of it, but not that.
        return _leaf(f"{self.sql} IS NOT NULL AND {clause}")

    def compare(self, op: str, value: Any) -> _Expr:
        if self.kind == "bool" and isinstance(value, bool):
            return self.one_of(_bools(op, value))
        if self.kind == "int" and _kind(value) == "number":
            # Round a float bound to the int that selects the same rows; clamp to the range.
            bound = math.floor(value) if op in ("$gt", "$lte") else math.ceil(value)
            above = op in ("$gt", "$gte")
            if not self.range[0] <= bound <= self.range[1]:
                return self.exists() if above == (bound < self.range[0]) else _NO
            return self.present(f"{self.sql} {_SQL_OPERATOR[op]} {bound}")
        literal = self.literal(value)
        if literal is None or self.kind == "bool":
            return _NO
        return self.present(f"{self.sql} {_SQL_OPERATOR[op]} {literal}")

    def one_of(self, values: list[Any]) -> _Expr:
        clauses = [_leaf(f"{self.sql} IS NULL")] if any(v is None for v in values) else []
        literals = _unique(lit for v in values if v is not None and (lit := self.literal(v)))
        if literals:
            clauses.append(self.present(f"{self.sql} IN ({', '.join(literals)})"))
        return _any(clauses)


class _Path(_Target):
    def __init__(
        self, segments: list[str], arrays: Callable[[str, list[str]], _Expr | None]
    ) -> None:
        self.segments = segments
        self.arrays = arrays
        parent = _METADATA
        for segment in segments[:-1]:
            parent = f"json_get({parent}, {_string(segment)})"
        self.parent, self.key = parent, _string(segments[-1])
        self.node = f"json_get({parent}, {self.key})"
        self.text = f"json_extract({self.node}, '$')"

    def exists(self) -> _Expr:
        return _leaf(f"{self.node} IS NOT NULL")

    def number(self) -> str:
        return f"TRY_CAST({self.text} AS DOUBLE)"

    def string(self) -> str | None:
        return self.decoded_string()

    def decoded_string(self) -> str:
        # json_get_string fails on non-strings, so the parent is nulled on rows that hold none.
        only_strings = f"nullif(CAST(({self.text} LIKE '\"%') AS VARCHAR), 'false')"
        return f"json_get_string(nvl2({only_strings}, {self.parent}, NULL), {self.key})"

    def compare(self, op: str, value: Any) -> _Expr:
        kind = _kind(value)
        if kind == "bool":
            return self.one_of(_bools(op, value))
        if kind == "number":
            return _false_if_null(f"{self.number()} {_SQL_OPERATOR[op]} {_number(value)}")
        return _false_if_null(f"{self.decoded_string()} {_SQL_OPERATOR[op]} {_string(value)}")

    def one_of(self, values: list[Any]) -> _Expr:
        kinds = _by_kind(values)
        clauses: list[_Expr] = []
        if kinds["null"]:
            clauses.append(_leaf(f"{self.text} IS NULL OR {self.text} = 'null'"))
        texts = _unique(_string(_TRUE if v else _FALSE) for v in kinds["bool"])
        held = list(dict.fromkeys(kinds["str"]))
        strings = [_string(_json_text(v)) for v in held]
        if texts or strings:
            clauses.append(_false_if_null(f"{self.text} IN ({', '.join(texts + strings)})"))
        numbers = _unique(_number(v) for v in kinds["number"])
        if numbers:
            clauses.append(_false_if_null(f"{self.number()} IN ({', '.join(numbers)})"))
        looked_up = self.arrays(self.node, held) if held else None
        if looked_up is not None:
            clauses.append(looked_up)
        else:
            contains = f"json_array_contains({self.node}, '$', {{}})"
            clauses += [_false_if_null(contains.format(s)) for s in strings]
        return _any(clauses)
