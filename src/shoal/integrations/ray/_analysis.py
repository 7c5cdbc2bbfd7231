"""The kNN graph and near-duplicates of a dataset, computed by Ray workers over partitions.

Each worker takes a slice of the rows (its queries, in stored order) and streams the whole
vector column of one pinned version from Lance, a batch at a time, keeping its queries'
best `k` so far: a worker holds its slice's vectors, one batch and (slice x k) neighbours,
never the whole dataset, so the graph of a dataset too big for one process is found by
many. The scores are exact: the same graph as `Dataset.neighbors` on a dataset small enough
to be searched exactly there (up to float rounding, and the order of equal scores).
Near-duplicate groups are then linked on the driver from the graph, as
`shoal.analysis.near_duplicates` links them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import lance
import numpy as np

from shoal._checks import check_count
from shoal.analysis._cluster import (
    Clustering,
    default_cluster_count,
    kmeans_centroids,
    write_labels,
)
from shoal.analysis._dedup import DEFAULT_K, duplicate_groups, threshold_for
from shoal.errors import InvalidInput
from shoal.integrations.ray._cluster import connect
from shoal.store import Dataset, Neighbors
from shoal.store import open as open_dataset
from shoal.store._neighbors import MAX_K, worst_score
from shoal.store._snapshot import prepare_vectors
from shoal.types import Metric

__all__ = ["cluster", "near_duplicates", "neighbors"]

_TRAIN_PER_CLUSTER = 256
"""Rows k-means trains on per centroid (faiss samples the same number itself)."""

_SCAN_ROWS = 8_192
"""Rows of the vector column a worker scores at a time."""


def neighbors(
    dataset: Dataset | str | os.PathLike[str],
    *,
    k: int = 10,
    num_workers: int = 2,
    ray_address: str | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Neighbors:
    """Each row's `k` nearest other rows, found by `num_workers` Ray tasks (as
    `Dataset.neighbors`, exactly).

    Raises:
        InvalidInput: a bad k or worker count, or an in-memory dataset.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be an int from 1 to {MAX_K}, got {k!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise InvalidInput(f"num_workers must be an int >= 1, got {num_workers!r}")
    ds = _opened(dataset, storage_options)
    lance_uri = ds._location.lance_uri
    options = dict(ds._location.storage_options) or None
    version = ds.version
    pinned = lance.dataset(lance_uri, version=version, storage_options=options)
    ids: list[str] = pinned.to_table(columns=["id"]).column("id").to_pylist()
    count = len(ids)
    metric = ds.spec.metric
    if count == 0:
        empty = np.zeros((0, k))
        return Neighbors(ids, empty.astype(np.int64), empty.astype(np.float32), metric)
    ray = connect(ray_address)
    task = ray.remote(num_cpus=1)(_partition)
    share = math.ceil(count / num_workers)
    bounds = [(start, min(start + share, count)) for start in range(0, count, share)]
    parts = ray.get([task.remote(lance_uri, version, options, metric, a, b, k) for a, b in bounds])
    indices = np.concatenate([part[0] for part in parts])
    scores = np.concatenate([part[1] for part in parts])
    return Neighbors(ids, indices, scores, metric)


def near_duplicates(
    dataset: Dataset | str | os.PathLike[str],
    *,
    threshold: float | None = None,
    k: int = DEFAULT_K,
    num_workers: int = 2,
    ray_address: str | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """Groups of near-duplicate row ids, as `shoal.analysis.near_duplicates` gives them,
    from the graph Ray workers find (`neighbors`).

    Raises:
        InvalidInput: a bad threshold, k or worker count, or an l2 / unnormalised dataset
            without a threshold.
    """
    ds = _opened(dataset, storage_options)
    limit = threshold_for(ds, threshold)
    graph = neighbors(ds, k=k, num_workers=num_workers, ray_address=ray_address)
    texts = {row["id"]: row["text"] for row in ds.select(["id", "text"])}
    return duplicate_groups(graph, texts, limit)


def cluster(
    dataset: Dataset | str | os.PathLike[str],
    *,
    n_clusters: int | None = None,
    field: str = "cluster",
    terms: int = 5,
    seed: int = 0,
    message: str | None = None,
    num_workers: int = 2,
    ray_address: str | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Clustering:
    """k-means clusters written to metadata `field` in one new version, as
    `shoal.analysis.cluster` writes them; Ray tasks assign the rows to the centroids.

    The centroids are trained here on at most 256 rows per cluster (faiss's own sample
    size): on a dataset of no more rows than that, on all of them, so the labels are the
    single-process ones; on a larger one, on a random sample (`seed`) read from Lance.

    Raises:
        InvalidInput: a bad count or field, fewer rows than clusters, or an in-memory dataset.
    """
    if not isinstance(field, str) or not field or "." in field:
        raise InvalidInput(
            f"field must be a top-level metadata key such as 'cluster', got {field!r}"
        )
    check_count(terms, "terms", minimum=0)
    check_count(num_workers, "num_workers")
    ds = _opened(dataset, storage_options)
    lance_uri, version = ds._location.lance_uri, ds.version
    options = dict(ds._location.storage_options) or None
    pinned = lance.dataset(lance_uri, version=version, storage_options=options)
    ids: list[str] = pinned.to_table(columns=["id"]).column("id").to_pylist()
    if len(ids) < 2:
        raise InvalidInput(f"clustering needs at least 2 rows, and {len(ids)} match")
    count = default_cluster_count(len(ids)) if n_clusters is None else n_clusters
    check_count(count, "n_clusters", minimum=2)
    if count > len(ids):
        raise InvalidInput(f"n_clusters={count} is more than the {len(ids)} rows: lower it")
    metric = ds.spec.metric
    sample = _TRAIN_PER_CLUSTER * count
    if len(ids) <= sample:
        table = pinned.to_table(columns=["embedding"])
    else:
        rows = np.sort(np.random.default_rng(seed).choice(len(ids), sample, replace=False))
        table = pinned.take(rows, columns=["embedding"])
    training, _ = prepare_vectors(_vectors(table), metric)
    model = kmeans_centroids(training, count, spherical=metric == "cosine", seed=seed)
    centroids = np.ascontiguousarray(model.centroids, dtype=np.float32)
    ray = connect(ray_address)
    task = ray.remote(num_cpus=1)(_assign)
    labels = np.concatenate(
        ray.get(
            [
                task.remote(lance_uri, version, options, metric, a, b, centroids)
                for a, b in _bounds(len(ids), num_workers)
            ]
        )
    )
    return write_labels(
        ds, ids, labels, method="kmeans", field=field, where=None, terms=terms, message=message
    )


def _bounds(count: int, parts: int) -> list[tuple[int, int]]:
    share = math.ceil(count / parts)
    return [(start, min(start + share, count)) for start in range(0, count, share)]


def _assign(
    lance_uri: str,
    version: int,
    options: dict[str, str] | None,
    metric: Metric,
    start: int,
    stop: int,
    centroids: np.ndarray,
) -> np.ndarray:
    """The nearest centroid (by L2, as faiss assigns) of rows start..stop-1."""
    pinned = lance.dataset(lance_uri, version=version, storage_options=options)
    squared = np.einsum("ij,ij->i", centroids, centroids)
    labels = []
    for batch in pinned.to_batches(
        columns=["embedding"],
        offset=start,
        limit=stop - start,
        batch_size=_SCAN_ROWS,
        scan_in_order=True,
    ):
        vectors, _ = prepare_vectors(_vectors(batch), metric)
        labels.append(np.argmin(squared[None, :] - 2 * (vectors @ centroids.T), axis=1))
    return np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, np.int64)


def _opened(
    dataset: Dataset | str | os.PathLike[str], storage_options: Mapping[str, str] | None
) -> Dataset:
    ds = (
        dataset
        if isinstance(dataset, Dataset)
        else open_dataset(dataset, create=False, storage_options=storage_options)
    )
    if ds._location.kind == "memory":
        raise InvalidInput(
            "Ray workers cannot read an in-memory dataset (it lives in this process): use "
            "shoal.analysis on it, or a dataset in a folder or on s3://"
        )
    return ds


def _partition(
    lance_uri: str,
    version: int,
    options: dict[str, str] | None,
    metric: Metric,
    start: int,
    stop: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best other rows of rows start..stop-1, over every row of the version."""
    pinned = lance.dataset(lance_uri, version=version, storage_options=options)
    queries, _ = prepare_vectors(
        _vectors(pinned.to_table(columns=["embedding"], offset=start, limit=stop - start)),
        metric,
    )
    rows = len(queries)
    best = np.full((rows, k), -1, dtype=np.int64)
    best_scores = np.full((rows, k), worst_score(metric), dtype=np.float32)
    own = np.arange(start, stop)
    offset = 0
    for batch in pinned.to_batches(
        columns=["embedding"], batch_size=_SCAN_ROWS, scan_in_order=True
    ):
        others, _ = prepare_vectors(_vectors(batch), metric)
        scores = _scores(queries, others, metric)
        candidates = np.broadcast_to(np.arange(offset, offset + len(others)), scores.shape)
        candidates = np.where(candidates == own[:, None], -1, candidates)  # not itself
        best, best_scores = _merged(best, best_scores, candidates, scores, k, metric)
        offset += len(others)
    return best, best_scores


def _vectors(table: Any) -> np.ndarray:
    column = table.column("embedding")
    if hasattr(column, "combine_chunks"):
        column = column.combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float32).reshape(len(column), -1)


def _scores(queries: np.ndarray, others: np.ndarray, metric: Metric) -> np.ndarray:
    dots: np.ndarray = queries @ others.T
    if metric != "l2":
        return dots
    squared = (
        np.einsum("ij,ij->i", queries, queries)[:, None]
        + np.einsum("ij,ij->i", others, others)[None, :]
        - 2 * dots
    )
    distances: np.ndarray = np.sqrt(np.maximum(squared, 0)).astype(np.float32)
    return distances


def _merged(
    best: np.ndarray,
    best_scores: np.ndarray,
    candidates: np.ndarray,
    scores: np.ndarray,
    k: int,
    metric: Metric,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of the kept and the new candidates, best first (-1 and the worst pad)."""
    worst = np.float32(worst_score(metric))
    indices = np.concatenate([best, candidates], axis=1)
    values = np.concatenate([best_scores, np.where(candidates >= 0, scores, worst)], axis=1)
    keys = values if metric == "l2" else -values
    order = np.argsort(keys, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(values, order, axis=1)
