"""kNN classification: a label for new texts or vectors from the dataset's labelled rows.

Texts are embedded as documents (`embed_documents`), the way the labelled rows were: a
text to classify is compared with rows of its own kind, not asked about them, which
matters for asymmetric models (e5's "query:" / "passage:" prefixes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal._checks import check_count
from shoal.analysis._served import served
from shoal.errors import FilterError, InvalidInput
from shoal.store import Dataset, Filter, Hit

__all__ = ["Classification", "classify"]


@dataclass(frozen=True)
class Classification:
    """The predicted label of one input, each label's probability, and the neighbours that voted."""

    label: str | int | float | bool
    probabilities: dict[str, float]
    neighbors: list[Hit]


def classify(
    ds: Dataset,
    items: Sequence[str] | np.ndarray,
    *,
    label_field: str,
    k: int = 10,
    where: Filter | None = None,
) -> list[Classification]:
    """Classify each text (or row of an (n, d) array) by its `k` nearest labelled rows.

    A row is labelled when its metadata holds `label_field` (a dotted path is allowed).
    Each neighbour votes with its similarity (cosine and dot, floored at a small positive
    weight; l2: 1 / (1 + distance)); probabilities are the vote shares, keyed by the
    label as text (JSON for non-strings), and the label is the most voted (ties: the
    nearer neighbour's).

    Raises:
        InvalidInput: no inputs, a bad k or field, or no labelled rows.
    """
    remote, result = served(ds, "classify", items=items, label_field=label_field, k=k, where=where)
    if remote:
        return result  # type: ignore[no-any-return]
    check_count(k, "k")
    if not isinstance(label_field, str) or not label_field:
        raise InvalidInput("label_field must name a metadata field, e.g. 'topic'")
    if isinstance(items, str):
        raise InvalidInput("classify takes a list of texts, not one str: wrap it in [...]")
    if len(items) == 0:
        raise InvalidInput("classify needs at least one text or vector")
    labelled: Filter = {label_field: {"$exists": True}}
    scope: Filter = {"$and": [labelled, where]} if where else labelled
    if isinstance(items, np.ndarray):
        vectors = items
    else:
        vectors = ds.embedder.embed_documents([str(item) for item in items])
    try:
        results = ds.search_batch(vectors, k=k, where=scope)
    except FilterError:
        if _field_known(ds, labelled):
            raise  # the where= filter is at fault
        results = []  # the field is unknown: no row has it
    if not any(results):  # k >= 1 hits whenever a row matches: none is labelled
        raise InvalidInput(
            f"no rows of {ds.uri} have metadata {label_field!r}"
            + (" among those matching where=" if where else "")
            + ": label some rows first (ds.update(where=..., set={...}))"
        )
    return [_vote(hits, label_field, ds.spec.metric) for hits in results]


def _field_known(ds: Dataset, labelled: Filter) -> bool:
    """Whether the label field is one the dataset's filters know (the error path only)."""
    try:
        ds.select(["id"], where=labelled)
    except FilterError:
        return False
    return True


def _vote(hits: list[Hit], field: str, metric: str) -> Classification:
    votes: dict[str, float] = {}
    values: dict[str, Any] = {}
    for hit in hits:
        value = _get(hit.metadata, field)
        key = value if isinstance(value, str) else json.dumps(value)
        weight = 1.0 / (1.0 + hit.score) if metric == "l2" else max(hit.score, 1e-6)
        votes[key] = votes.get(key, 0.0) + weight
        values.setdefault(key, value)
    total = sum(votes.values())
    probabilities = {key: weight / total for key, weight in votes.items()}
    best = max(votes, key=votes.__getitem__)  # the first seen (nearest) wins a tie
    return Classification(values[best], probabilities, hits)


def _get(metadata: dict[str, Any], path: str) -> Any:
    value: Any = metadata
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
