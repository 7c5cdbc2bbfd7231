"""A plain-Python model of a Shoal dataset: what it should hold after any sequence of calls.

Per branch, every version still on disk as a dict id -> Row(text, metadata, vector); the
tags (name -> branch, version); the branches' fork points; the handle in use (a branch
head, writable, or a past version, read-only). Beside it, the README's filter semantics
and exact scoring (cosine/dot/l2, Lucene BM25), and `check_ranked`, which compares a
store's hits with the model's ranking. `store_machine.py` drives store and model together.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import shoal
import shoal.store as store

__all__ = [
    "DIMENSIONS",
    "EMBEDDER",
    "MAIN",
    "MISSING",
    "Branch",
    "Model",
    "Row",
    "Rows",
    "bm25_scores",
    "canonical",
    "check_ranked",
    "close",
    "embed",
    "filter_fields",
    "lookup",
    "matches",
    "tokenize",
    "vector_scores",
]

# -------------------------------------------------------------------------------- model
DIMENSIONS = 8
EMBEDDER = f"hash:{DIMENSIONS}"
MAIN = "main"
SCORE_TOLERANCE = 1e-5
"""Scores are float32 in the store and float64 here: equal within this, relative to max(1, |s|)."""


@functools.lru_cache(maxsize=4096)
def embed(text: str) -> tuple[float, ...]:
    """The vector the dataset's embedder gives a text (the model's oracle for embedding)."""
    vector = _embedder().embed_documents([text])[0]
    return tuple(float(x) for x in np.asarray(vector, dtype=np.float32))


@functools.cache
def _embedder() -> shoal.Embedder:
    return shoal.embedder(EMBEDDER)


@functools.cache
def _tokenizer() -> store.Tokenizer:
    return store.Tokenizer()


def tokenize(text: str) -> list[str]:
    """The keyword index's terms of a text."""
    return _tokenizer()(text)


def canonical(metadata: Mapping[str, Any]) -> str:
    """JSON text that tells 1, 1.0 and True apart, keys sorted: how rows compare."""
    return json.dumps(metadata, sort_keys=True)


@dataclass(frozen=True)
class Row:
    """One stored row of the model."""

    text: str
    metadata: Mapping[str, Any]
    vector: tuple[float, ...]

    def same(self, other: Row) -> bool:
        """Equal text, metadata and vector (a diff's "changed" is the negation)."""
        return (
            self.text == other.text
            and canonical(self.metadata) == canonical(other.metadata)
            and self.vector == other.vector
        )


Rows = dict[str, Row]


@dataclass
class Branch:
    """The versions of one branch still on disk (version -> rows), oldest first."""

    versions: dict[int, Rows]
    made: list[int] = field(default_factory=list)  # every version ever made, removed ones too

    @property
    def head(self) -> int:
        return max(self.versions)


class Model:
    """What a dataset should hold: branches of versions, tags and the handle in use."""

    def __init__(self, first_version: int) -> None:
        self.branches: dict[str, Branch] = {MAIN: Branch({first_version: {}}, [first_version])}
        self.tags: dict[str, tuple[str, int]] = {}
        self.forks: set[tuple[str, int]] = set()  # (branch, version) another branch started at
        self.messages: dict[tuple[str, int], str] = {}
        self.branch = MAIN
        self.at: int | None = None  # None: the branch head, writable

    @property
    def read_only(self) -> bool:
        return self.at is not None

    @property
    def version(self) -> int:
        return self.at if self.at is not None else self.branches[self.branch].head

    def rows(self, branch: str | None = None, version: int | None = None) -> Rows:
        """Rows of a version (default: the handle's)."""
        if branch is None:
            branch, version = self.branch, self.at
        line = self.branches[branch]
        return line.versions[version if version is not None else line.head]

    def write(self, rows: Rows, branch: str | None = None, *, count: int = 1) -> int:
        """Record `count` new versions holding `rows` on a branch head; returns the last."""
        line = self.branches[branch or self.branch]
        for _ in range(count):
            number = line.head + 1
            line.versions[number] = dict(rows)
            line.made.append(number)
        return line.head

    def version_back(self, back: int) -> int:
        """The version made `back` writes before the head of the handle's branch (maybe removed)."""
        made = self.branches[self.branch].made
        return made[-1 - back] if back < len(made) else made[0] - 1

    def exists(self, version: int, branch: str | None = None) -> bool:
        return version in self.branches[branch or self.branch].versions

    def resolve(self, ref: int | str) -> tuple[str, int | None]:
        """(branch, version or None for the head) of a ref, as `checkout` reads it; KeyError if none."""
        if isinstance(ref, int):
            if not self.exists(ref):
                raise KeyError(ref)
            return self.branch, ref
        if ref == MAIN:
            return MAIN, None
        if ref in self.tags:
            return self.tags[ref]
        if ref in self.branches:
            return ref, None
        raise KeyError(ref)

    def cleanup(self, keep_last: int, survivors: set[int]) -> int:
        """Forget the versions `Dataset.cleanup` removed from the handle's branch; returns how many.

        The latest keep_last and the tagged versions must survive, and every other one go,
        except a version another branch started from: Lance keeps that one when the child
        still needs files it owns (not a clone's first version, not an empty one), which
        the README does not promise either way, so `survivors` (from `log()`) decides.
        """
        line = self.branches[self.branch]
        ordered = sorted(line.versions)
        keep = set(ordered[-keep_last:]) | {v for b, v in self.tags.values() if b == self.branch}
        forks = {v for b, v in self.forks if b == self.branch}
        assert keep <= survivors, f"cleanup removed kept versions {sorted(keep - survivors)}"
        assert survivors <= keep | forks, f"cleanup kept {sorted(survivors - keep - forks)}"
        gone = [v for v in ordered if v not in survivors]
        for version in gone:
            del line.versions[version]
        return len(gone)


# ------------------------------------------------------------------------------ filters
MISSING = object()
"""What `lookup` gives for a path a row does not have."""


def lookup(row_id: str, row: Row, path: str) -> Any:
    """The value a filter field reads: a column (id, text) or a dotted metadata path."""
    if path == "id":
        return row_id
    if path == "text":
        return row.text
    node: Any = row.metadata
    for segment in path.removeprefix("metadata.").split("."):
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return MISSING
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equals(value: Any, wanted: Any) -> bool:
    """MongoDB's equality for the README's subset: numbers by value, bools apart, a string
    also matches an array that holds it."""
    if wanted is None:
        return value is MISSING or value is None
    if isinstance(wanted, bool):
        return isinstance(value, bool) and value == wanted
    if _is_number(wanted):
        return _is_number(value) and float(value) == float(wanted)
    if isinstance(value, list):
        return any(isinstance(item, str) and item == wanted for item in value)
    return isinstance(value, str) and value == wanted


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _ordered(value: Any, op: str, bound: Any) -> bool:
    if isinstance(bound, bool):
        return isinstance(value, bool) and _ORDER[op](value, bound)
    if _is_number(bound):
        return _is_number(value) and _ORDER[op](float(value), float(bound))
    return isinstance(value, str) and _ORDER[op](value, bound)


def _condition(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return _equals(value, condition)
    results = []
    for op, operand in condition.items():
        if op == "$eq":
            results.append(_equals(value, operand))
        elif op == "$ne":
            results.append(not _equals(value, operand))
        elif op == "$in":
            results.append(any(_equals(value, v) for v in operand))
        elif op == "$nin":
            results.append(not any(_equals(value, v) for v in operand))
        elif op == "$exists":
            results.append((value is not MISSING) == operand)
        elif op == "$not":
            results.append(not _condition(value, operand))
        else:
            results.append(_ordered(value, op, operand))
    return all(results)


def matches(where: Mapping[str, Any], row_id: str, row: Row) -> bool:
    """Whether a row matches a Mongo-style filter, per README's semantics."""
    results = []
    for key, value in where.items():
        if key == "$and":
            results.append(all(matches(part, row_id, row) for part in value))
        elif key == "$or":
            results.append(any(matches(part, row_id, row) for part in value))
        elif key == "$not":
            results.append(not matches(value, row_id, row))
        else:
            results.append(_condition(lookup(row_id, row, key), value))
    return all(results)


def filter_fields(where: Mapping[str, Any]) -> set[str]:
    """Top-level metadata keys a filter names (they must exist, or it may raise FilterError)."""
    found: set[str] = set()
    for key, value in where.items():
        if key in ("$and", "$or"):
            for part in value:
                found |= filter_fields(part)
        elif key == "$not":
            found |= filter_fields(value)
        elif key not in ("id", "text") and not key.startswith("metadata."):
            found.add(key.split(".")[0])
    return found


# ---------------------------------------------------------------------------- scoring
def vector_scores(rows: Rows, query: Sequence[float], metric: str) -> dict[str, float]:
    """Each row's exact score for a query (cosine/dot similarity, l2 distance), in float64."""
    q = np.asarray(query, dtype=np.float64)
    scores = {}
    for row_id, row in rows.items():
        x = np.asarray(row.vector, dtype=np.float64)
        if metric == "cosine":
            scores[row_id] = float(q @ x / (np.linalg.norm(q) * np.linalg.norm(x)))
        elif metric == "dot":
            scores[row_id] = float(q @ x)
        else:
            scores[row_id] = float(np.linalg.norm(q - x))
    return scores


def bm25_scores(rows: Rows, query: str) -> dict[str, float]:
    """Lucene BM25 (k1=1.2, b=0.75) of each live row sharing a term with the query."""
    terms = {row_id: tokenize(row.text) for row_id, row in rows.items()}
    total = len(rows)
    if not total:
        return {}
    mean = sum(len(t) for t in terms.values()) / total or 1.0
    scores: dict[str, float] = {}
    for term in tokenize(query):
        holders = [row_id for row_id, t in terms.items() if term in t]
        if not holders:
            continue
        idf = math.log1p((total - len(holders) + 0.5) / (len(holders) + 0.5))
        for row_id in holders:
            tf = terms[row_id].count(term)
            norm = 1.2 * (1 - 0.75 + 0.75 * len(terms[row_id]) / mean)
            scores[row_id] = scores.get(row_id, 0.0) + idf * tf * 2.2 / (tf + norm)
    return scores


def close(a: float, b: float) -> bool:
    """Scores equal within SCORE_TOLERANCE."""
    return abs(a - b) <= SCORE_TOLERANCE * max(1.0, abs(a), abs(b))


def check_ranked(
    hits: Sequence[store.Hit],
    expected: Mapping[str, float],
    rows: Rows,
    k: int,
    *,
    lower_is_better: bool = False,
    exact: bool = True,
) -> None:
    """Hits are the top-k of `expected` (id -> true score): right rows, scores, order, content.

    Rows tied with the k-th score (within the tolerance) may come in either order or swap
    with it. Approximate search (`exact=False`) must still return k live rows of the right
    scores, sorted; only which rows is not checked.
    """
    ids = [hit.id for hit in hits]
    assert len(set(ids)) == len(ids), f"a row came twice: {ids}"
    assert len(hits) == min(k, len(expected)), f"{len(hits)} hits, expected {min(k, len(expected))}"
    sign = 1.0 if lower_is_better else -1.0
    for hit in hits:
        assert hit.id in expected, f"hit {hit.id!r} is not a matching live row"
        assert close(hit.score, expected[hit.id]), (hit.id, hit.score, expected[hit.id])
        assert hit.text == rows[hit.id].text, (hit.id, hit.text, rows[hit.id].text)
        assert canonical(hit.metadata) == canonical(rows[hit.id].metadata), hit.id
    for before, after in itertools.pairwise(hits):
        assert sign * before.score <= sign * after.score or close(before.score, after.score), ids
    if not exact or not hits:
        return
    ranked = sorted(expected.values(), key=lambda s: sign * s)
    kth = ranked[len(hits) - 1]
    for hit in hits:  # nothing worse than the k-th made it in
        assert sign * expected[hit.id] <= sign * kth or close(expected[hit.id], kth), hit.id
    missing = [
        row_id
        for row_id, score in expected.items()
        if sign * score < sign * kth and not close(score, kth) and row_id not in ids
    ]
    assert not missing, f"rows better than the k-th score are missing: {missing}"
