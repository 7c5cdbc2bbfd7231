"""Recommendations: rows like some and unlike others, by a Rocchio query searched on the index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoal._checks import check_count, check_number
from shoal.analysis._served import served
from shoal.errors import InvalidInput
from shoal.store import Dataset, Filter, Hit

__all__ = ["NEGATIVE_WEIGHT", "recommend"]

NEGATIVE_WEIGHT = 0.5
"""How much the centroid of the disliked rows is subtracted (Rocchio's gamma, beta being 1):
enough to turn the search away from them without leaving the liked rows' region."""


def recommend(
    ds: Dataset,
    *,
    positive_ids: Sequence[str],
    negative_ids: Sequence[str] = (),
    k: int = 10,
    where: Filter | None = None,
    negative_weight: float = NEGATIVE_WEIGHT,
) -> list[Hit]:
    """The `k` rows most like `positive_ids` and least like `negative_ids`, best first.

    The query is the mean of the liked rows' vectors minus `negative_weight` times the
    mean of the disliked ones (unit vectors in a cosine dataset), searched like
    `Dataset.search`; the given ids never come back. `Hit.score` is the query's score.

    Raises:
        InvalidInput: no positive ids, an id that is not stored, or a query that cancels out.
    """
    remote, result = served(
        ds,
        "recommend",
        positive_ids=positive_ids,
        negative_ids=negative_ids,
        k=k,
        where=where,
        negative_weight=negative_weight,
    )
    if remote:
        return result  # type: ignore[no-any-return]
    check_count(k, "k")
    weight = check_number(negative_weight, "negative_weight")
    liked, disliked = _ids(positive_ids, "positive_ids"), _ids(negative_ids, "negative_ids")
    if not liked:
        raise InvalidInput("recommend needs at least one id in positive_ids")
    query = _centroid(ds, liked)
    if disliked:
        query = query - np.float32(weight) * _centroid(ds, disliked)
    if not np.any(np.abs(query) > 1e-6):
        raise InvalidInput(
            "the liked and disliked rows cancel out: drop some negative_ids or lower negative_weight"
        )
    given = set(liked) | set(disliked)
    hits = ds.search(query, k=k + len(given), where=where)
    return [hit for hit in hits if hit.id not in given][:k]


def _ids(ids: Sequence[str], name: str) -> list[str]:
    if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput(f'{name} must be a list of id strings, e.g. ["a1b2..."]')
    return list(dict.fromkeys(ids))


def _centroid(ds: Dataset, ids: list[str]) -> np.ndarray:
    records = ds.get(ids)
    missing = sorted(set(ids) - {r.id for r in records})
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InvalidInput(
            f"{len(missing)} id(s) are not in {ds.uri}: {shown}; list ids with ds.select(['id'])"
        )
    vectors = np.stack([r.embedding for r in records]).astype(np.float32)
    if ds.spec.metric == "cosine":
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    centroid: np.ndarray = vectors.mean(axis=0)
    return centroid
