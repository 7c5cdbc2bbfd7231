"""Search results and search modes: vector, keyword (BM25) and hybrid (reciprocal rank fusion)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from shoal.errors import InvalidInput
from shoal.store import _lance
from shoal.store._reprs import html_table, short_repr, short_text
from shoal.store._snapshot import Snapshot
from shoal.store._view import View
from shoal.types import Metric

__all__ = [
    "HYBRID_DEPTH",
    "Hit",
    "SearchMode",
    "SearchOptions",
    "fuse",
    "hits_at",
    "is_text_batch",
    "rank",
]

SearchMode = Literal["vector", "keyword", "hybrid"]
"""How `Dataset.search` ranks rows: by embedding, by BM25 over the text, or both fused."""
_MODES: tuple[str, ...] = get_args(SearchMode)

HYBRID_DEPTH = 100
"""Each ranked list that hybrid search fuses is this long (or k, if larger): a row ranked
lower in both lists has no chance to reach the top few after fusion."""


@dataclass(frozen=True, repr=False)
class Hit:
    """One search result, best first. `score` depends on the search mode:

    - ``vector``: the metric's value, a similarity (cosine, dot: higher is better) or, for
      l2, a Euclidean distance (lower is better);
    - ``keyword``: the BM25 score (higher is better, > 0, not bounded);
    - ``hybrid``: the reciprocal-rank-fusion score, the sum over the two lists of
      ``weight / (rrf_k + rank)`` (higher is better; at most ``sum(weights) / (rrf_k + 1)``).
    """

    id: str
    text: str
    metadata: dict[str, Any]
    score: float

    def __repr__(self) -> str:
        return (
            f"Hit(id={self.id!r}, score={self.score:.4f}, text={short_repr(self.text)}, "
            f"metadata={short_repr(self.metadata)})"
        )

    def _repr_html_(self) -> str:
        """The hit as a small HTML table (Jupyter shows it)."""
        rows = [
            ("id", self.id),
            ("score", f"{self.score:.4f}"),
            ("text", short_text(self.text, 300)),
        ]
        rows += [(f"metadata.{key}", short_repr(value)) for key, value in self.metadata.items()]
        return html_table(rows)


@dataclass(frozen=True)
class SearchOptions:
    """The checked options of one search call."""

    k: int
    mode: SearchMode
    rrf_k: float
    weights: tuple[float, float]

    @classmethod
    def build(cls, *, k: Any, mode: Any, rrf_k: Any, weights: Any, metric: Any) -> SearchOptions:
        """Check every option, raising InvalidInput with what is allowed."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInput(f"k must be a positive int, got {k!r}")
        if mode not in _MODES:
            raise InvalidInput(f"mode must be one of {', '.join(map(repr, _MODES))}; got {mode!r}")
        if metric is not None and metric not in ("cosine", "dot", "l2"):
            raise InvalidInput(f"metric must be 'cosine', 'dot' or 'l2', got {metric!r}")
        if mode == "keyword" and metric is not None:
            raise InvalidInput("metric= applies to vector and hybrid search, not to keyword search")
        if not _number(rrf_k) or rrf_k < 0:
            raise InvalidInput(f"rrf_k must be a number >= 0 (60 is usual), got {rrf_k!r}")
        if (
            not isinstance(weights, Sequence)
            or len(weights) != 2
            or not all(_number(w) and w >= 0 for w in weights)
            or not any(weights)
        ):
            raise InvalidInput(
                "weights must be two numbers >= 0, not both 0: (vector weight, keyword weight), "
                f"e.g. (1.0, 1.0); got {weights!r}"
            )
        return cls(k, mode, float(rrf_k), (float(weights[0]), float(weights[1])))

    @property
    def depth(self) -> int:
        """How many rows each single-mode list holds before fusion."""
        return max(self.k, HYBRID_DEPTH) if self.mode == "hybrid" else self.k


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fuse(
    rankings: Sequence[np.ndarray], weights: Sequence[float], *, rrf_k: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal rank fusion of ranked position lists: the top-k positions and their scores.

    A position's score is the sum of ``weight / (rrf_k + rank)`` (rank from 1) over the
    lists it is in. Ties keep the order of first appearance (the first list's first).
    """
    scores: dict[int, float] = {}
    for ranked, weight in zip(rankings, weights, strict=True):
        if weight == 0:
            continue
        for rank, position in enumerate(ranked.tolist(), start=1):
            scores[position] = scores.get(position, 0.0) + weight / (rrf_k + rank)
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:k]
    return np.asarray(best, dtype=np.int64), np.asarray([scores[p] for p in best], np.float32)


def rank(
    lance: Any,
    view: View,
    vectors: np.ndarray | None,
    texts: Sequence[str] | None,
    options: SearchOptions,
    *,
    positions: np.ndarray | None,
    key: str | None,
    metric: Metric,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, the best (positions, scores) of `view` (at `lance`'s version) by the mode.

    `vectors` are the embedded queries (None in keyword mode), `texts` the query texts
    (None for vector queries); `positions` are the rows a filter `key` matched.
    """
    count = len(vectors) if vectors is not None else len(texts or ())
    results = []
    for number in range(count):
        lists = []
        if vectors is not None:
            vector = vectors[number]
            if metric == "cosine" and not np.any(vector):
                raise InvalidInput("the query vector is all zeros, which has no cosine similarity")
            lists.append(
                view.search(vector, options.depth, positions=positions, metric=metric, key=key)
            )
        if options.mode != "vector" and texts is not None:
            lists.append(
                view.keyword_search(lance, texts[number], options.depth, positions=positions)
            )
        if options.mode == "hybrid":
            rankings = [found for found, _ in lists]
            results.append(fuse(rankings, options.weights, rrf_k=options.rrf_k, k=options.k))
        else:
            results.append(lists[0])
    return results


def is_text_batch(items: Sequence[Any] | np.ndarray) -> bool:
    """Whether a batch of queries is texts (not an array or a list of vectors)."""
    return not isinstance(items, np.ndarray) and all(isinstance(q, str) for q in items)


def _rows(
    lance: Any, snap: Snapshot, positions: np.ndarray
) -> tuple[list[str], list[str], list[str]]:
    """Id, text and metadata (JSON text) of the rows at `positions`: from the mapped rows
    file saved with the index where it is current, from Lance (one take) for the rest."""
    ids: list[Any] = [None] * len(positions)
    texts: list[Any] = [None] * len(positions)
    metadata: list[Any] = [None] * len(positions)
    saved = np.zeros(len(positions), dtype=bool)
    if snap.rows is not None:
        inside = positions < len(snap.rows_current)
        saved[inside] = snap.rows_current[positions[inside]]
    parts = []
    if saved.any():
        parts.append((np.flatnonzero(saved), snap.saved_rows(positions[saved])))
    if not saved.all() and snap.fetched_version == snap.version and snap.fetched:
        # Rows a compressed index's rescoring read with the vectors, at this version.
        wanted = np.flatnonzero(~saved)
        known = [snap.fetched.get(r) for r in snap.rowids[positions[wanted]].tolist()]
        if all(row is not None for row in known):
            parts.append((wanted, tuple(zip(*known, strict=True))))
            saved[:] = True
    if not saved.all():
        rows = _lance.take_hits(lance, snap.rowids[positions[~saved]])
        columns = tuple(rows.column(name).to_pylist() for name in ("id", "text", "metadata"))
        parts.append((np.flatnonzero(~saved), columns))
    for where, (row_ids, row_texts, values) in parts:
        for at, row_id, text, value in zip(where.tolist(), row_ids, row_texts, values, strict=True):
            ids[at], texts[at], metadata[at] = row_id, text, value
    return ids, texts, metadata


def _metadata(text: str | None) -> dict[str, Any]:
    """A hit's metadata from its JSON text ("{}" and null: a new empty dict, no parse)."""
    if not text or text == "{}":
        return {}
    value: dict[str, Any] = json.loads(text)
    return value


def hits_at(
    lance: Any, snap: Snapshot, ranked: Sequence[tuple[np.ndarray, np.ndarray]]
) -> list[list[Hit]]:
    """The Hits of each query's (positions, scores), their rows fetched from Lance in one take."""
    if len(ranked) == 1:  # one query: its positions are distinct already
        unique = ranked[0][0].astype(np.int64, copy=False)
        slots = np.arange(len(unique))
    else:
        every = np.concatenate([positions for positions, _ in ranked]) if ranked else np.zeros(0)
        unique, slots = np.unique(every.astype(np.int64), return_inverse=True)
    ids, texts, metadata = _rows(lance, snap, unique)
    results, start = [], 0
    for positions, scores in ranked:
        picked = slots[start : start + len(positions)].tolist()
        start += len(positions)
        results.append(
            [
                Hit(ids[i], texts[i], _metadata(metadata[i]), float(s))
                for i, s in zip(picked, scores.tolist(), strict=True)
            ]
        )
    return results
