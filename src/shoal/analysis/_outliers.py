"""Outliers: rows far from their neighbours, by kNN distance or the local outlier factor.

Both scores read the kNN graph (`Dataset.neighbors`), so memory grows with n x k. The
distance is 1 - cosine in a cosine dataset, the Euclidean distance otherwise (recovered
from dot products and norms in a dot dataset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from shoal._checks import check_count, check_fraction
from shoal.analysis._served import served
from shoal.errors import InvalidInput, StoreError
from shoal.store import Dataset, Filter, Neighbors

__all__ = ["OutlierMethod", "Outliers", "outliers"]

OutlierMethod = Literal["knn", "lof"]
"""``knn``: mean distance to the k nearest rows; ``lof``: local outlier factor (Breunig et al.)."""
_METHODS: tuple[str, ...] = get_args(OutlierMethod)
_TINY = 1e-10  # as scikit-learn: duplicates (distance 0) do not divide by zero


@dataclass(frozen=True)
class Outliers:
    """The most outlying rows, most outlying first, and their scores (higher: more outlying)."""

    ids: list[str]
    scores: list[float]
    method: OutlierMethod
    k: int
    rows: int
    """How many rows were scored."""


def outliers(
    ds: Dataset,
    *,
    k: int = 10,
    contamination: float = 0.01,
    method: OutlierMethod = "knn",
    where: Filter | None = None,
) -> Outliers:
    """The `contamination` share of rows (at least one) that lie farthest from their neighbours.

    Raises:
        InvalidInput: a bad k, contamination or method, or no more rows than k.
    """
    remote, result = served(
        ds, "outliers", k=k, contamination=contamination, method=method, where=where
    )
    if remote:
        return result  # type: ignore[no-any-return]
    check_count(k, "k")
    share = check_fraction(contamination, "contamination")
    if method not in _METHODS:
        raise InvalidInput(f"method must be 'knn' or 'lof', got {method!r}")
    graph = ds.neighbors(k=k, where=where)
    if len(graph) <= k:
        raise InvalidInput(
            f"outliers with k={k} need more than {k} rows, and {len(graph)} match: lower k"
        )
    distances = _distances(ds, graph, where)
    scores = distances.mean(axis=1) if method == "knn" else _lof(graph.indices, distances)
    count = max(1, math.ceil(share * len(graph)))
    top = np.argsort(-scores, kind="stable")[:count]
    return Outliers(
        [graph.ids[i] for i in top.tolist()],
        scores[top].astype(float).tolist(),
        method,
        k,
        len(graph),
    )


def _distances(ds: Dataset, graph: Neighbors, where: Filter | None) -> np.ndarray:
    """Each row's distances to its k neighbours, from the graph's scores."""
    if graph.metric == "l2":
        return graph.scores.astype(np.float64)
    if graph.metric == "cosine":
        return np.maximum(1.0 - graph.scores.astype(np.float64), 0.0)
    ids, vectors = ds.vectors(where=where)
    if ids != graph.ids:
        raise StoreError("the dataset changed while its outliers were scored: run it again")
    squared = np.einsum("ij,ij->i", vectors, vectors).astype(np.float64)
    across = squared[:, None] + squared[graph.indices] - 2 * graph.scores
    distances: np.ndarray = np.sqrt(np.maximum(across, 0.0))
    return distances


def _lof(indices: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Local outlier factor of each row from its kNN list: ~1 inside a cluster, > 1 outside."""
    k_distance = distances[:, -1]
    reach = np.maximum(distances, k_distance[indices])
    density = 1.0 / (reach.mean(axis=1) + _TINY)
    factor: np.ndarray = density[indices].mean(axis=1) / density
    return factor
