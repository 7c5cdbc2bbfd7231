"""Clusters of a dataset's rows, written back as a metadata label in one new version.

``kmeans`` runs faiss's k-means (spherical for cosine datasets) on all vectors at once
(n x d floats, the vectors themselves; faiss trains on at most 256 rows per centroid).
``hdbscan`` (scikit-learn, an optional dependency) first reduces the vectors to a few
dimensions, as BERTopic does: density clustering in 384 dimensions is slow and weak, and
a k-d tree in few dimensions keeps it O(n log n) in time and O(n) in memory. UMAP (to 5
dimensions, when umap-learn is installed) keeps the neighbourhoods that density needs:
on 100,000 WordNet glosses HDBSCAN puts 56% of rows in 166 clusters after UMAP, and 10%
in 6 after PCA to 8 dimensions (bench/analysis_scale.py); UMAP is the slow step (about
100 of its 153 s there). Each cluster is named by
its top c-TF-IDF terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import faiss
import numpy as np

from shoal._checks import check_count
from shoal.analysis._projection import ProjectionMethod, chosen_method, project
from shoal.analysis._served import served
from shoal.analysis._terms import top_terms
from shoal.errors import InvalidInput, MissingDependency
from shoal.progress import stage_started
from shoal.store import Dataset, Filter

__all__ = [
    "Cluster",
    "ClusterMethod",
    "Clustering",
    "cluster",
    "default_cluster_count",
    "kmeans_centroids",
    "write_labels",
]

ClusterMethod = Literal["kmeans", "hdbscan"]
"""``kmeans``: a fixed number of clusters; ``hdbscan``: clusters by density, with noise."""
_METHODS: tuple[str, ...] = get_args(ClusterMethod)
NOISE = -1
"""The label of rows HDBSCAN leaves out of every cluster."""
MAX_DEFAULT_CLUSTERS = 200
"""The default cluster count, sqrt(n / 2), stops here: more labels than a person reads."""
UMAP_DIMENSIONS = 5
"""Dimensions HDBSCAN clusters in after UMAP (BERTopic's choice)."""
PCA_DIMENSIONS = 8
"""Principal components HDBSCAN clusters in when it reduces with PCA."""
MIN_SAMPLES = 10
"""HDBSCAN's neighbourhood for density (BERTopic's clusters use 10 too)."""
KMEANS_ITERATIONS = 25


@dataclass(frozen=True)
class Cluster:
    """One cluster: its label (-1: noise), how many rows it holds and its top terms."""

    label: int
    size: int
    terms: list[str]


@dataclass(frozen=True)
class Clustering:
    """What `cluster` did: the version it wrote, the metadata field, each row's label."""

    version: int
    field: str
    method: ClusterMethod
    clusters: list[Cluster]
    labels: dict[str, int]


def default_cluster_count(rows: int) -> int:
    """sqrt(rows / 2), at least 2 and at most MAX_DEFAULT_CLUSTERS (a common rule of thumb)."""
    return max(2, min(MAX_DEFAULT_CLUSTERS, round(math.sqrt(rows / 2))))


def cluster(
    ds: Dataset,
    *,
    n_clusters: int | None = None,
    method: ClusterMethod = "kmeans",
    where: Filter | None = None,
    field: str = "cluster",
    min_cluster_size: int | None = None,
    terms: int = 5,
    seed: int = 0,
    message: str | None = None,
    reduce: ProjectionMethod = "auto",
) -> Clustering:
    """Cluster the rows matching `where`, write each one's label to metadata `field`, commit.

    ``kmeans`` makes `n_clusters` clusters (default `default_cluster_count`); ``hdbscan``
    finds its own number, rows in no cluster labelled -1, clusters of at least
    `min_cluster_size` rows (default max(5, n / 1000)), after reducing the vectors with
    `reduce` ("auto": UMAP if installed, else PCA). The labels are one new version,
    then committed with `message`; `ds.checkout` of the version before reads the old ones.

    Raises:
        InvalidInput: a bad method or count, or fewer rows than clusters.
        MissingDependency: hdbscan without scikit-learn.
    """
    remote, result = served(
        ds,
        "cluster",
        n_clusters=n_clusters,
        method=method,
        where=where,
        field=field,
        min_cluster_size=min_cluster_size,
        terms=terms,
        seed=seed,
        message=message,
        reduce=reduce,
    )
    if remote:
        return result  # type: ignore[no-any-return]
    if method not in _METHODS:
        raise InvalidInput(f"method must be 'kmeans' or 'hdbscan', got {method!r}")
    check_count(terms, "terms", minimum=0)
    if not isinstance(field, str) or not field or "." in field:
        raise InvalidInput(
            f"field must be a top-level metadata key such as 'cluster', got {field!r}"
        )
    ids, vectors = ds.vectors(where=where)
    if len(ids) < 2:
        raise InvalidInput(f"clustering needs at least 2 rows, and {len(ids)} match")
    if method == "kmeans":
        count = default_cluster_count(len(ids)) if n_clusters is None else n_clusters
        check_count(count, "n_clusters", minimum=2)
        if count > len(ids):
            raise InvalidInput(f"n_clusters={count} is more than the {len(ids)} rows: lower it")
        stage_started("k-means")
        labels = _kmeans(vectors, count, spherical=ds.spec.metric == "cosine", seed=seed)
    else:
        if n_clusters is not None:
            raise InvalidInput("hdbscan finds its own number of clusters: drop n_clusters")
        size = max(5, len(ids) // 1000) if min_cluster_size is None else min_cluster_size
        reduced = _reduced(vectors, reduce, seed)
        labels = _hdbscan(reduced, check_count(size, "min_cluster_size", minimum=2))
    del vectors
    return write_labels(ds, ids, labels, method=method, field=field, where=where, terms=terms,
                        message=message)  # fmt: skip


def write_labels(
    ds: Dataset,
    ids: list[str],
    labels: np.ndarray,
    *,
    method: ClusterMethod,
    field: str,
    where: Filter | None,
    terms: int,
    message: str | None,
) -> Clustering:
    """Name the clusters, write each row's label to metadata `field` and commit (what
    `cluster` does once the labels are found)."""
    by_id = dict(zip(ids, labels.tolist(), strict=True))
    names = _names(ds, by_id, where, terms)
    # The two writes last and together: stopped before them, nothing is written.
    ds.set_metadata({row_id: {field: label} for row_id, label in by_id.items()})
    version = ds.commit(message or f"cluster: {method} labels in metadata {field!r}")
    sizes = np.unique(labels, return_counts=True)
    clusters = [
        Cluster(int(label), int(size), names.get(int(label), []))
        for label, size in zip(*sizes, strict=True)
    ]
    return Clustering(version, field, method, clusters, by_id)


def _kmeans(vectors: np.ndarray, count: int, *, spherical: bool, seed: int) -> np.ndarray:
    model = kmeans_centroids(vectors, count, spherical=spherical, seed=seed)
    _, nearest = model.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    labels: np.ndarray = nearest[:, 0].astype(np.int64)
    return labels


def kmeans_centroids(vectors: np.ndarray, count: int, *, spherical: bool, seed: int) -> Any:
    """faiss's k-means trained on `vectors` (it samples at most 256 rows per centroid)."""
    # min_points_per_centroid=1: small datasets cluster without faiss's stderr warning.
    model = faiss.Kmeans(
        vectors.shape[1],
        count,
        niter=KMEANS_ITERATIONS,
        seed=seed,
        spherical=spherical,
        min_points_per_centroid=1,
    )
    model.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return model


def _reduced(vectors: np.ndarray, reduce: ProjectionMethod, seed: int) -> np.ndarray:
    """The vectors in the few dimensions HDBSCAN clusters in."""
    if reduce not in ("auto", "umap", "pca"):
        raise InvalidInput(f"reduce must be 'auto', 'umap' or 'pca', got {reduce!r}")
    method = chosen_method(reduce, len(vectors))
    dimensions = UMAP_DIMENSIONS if method == "umap" else PCA_DIMENSIONS
    return project(vectors, method=method, dimensions=dimensions, seed=seed)


def _hdbscan(reduced: np.ndarray, min_cluster_size: int) -> np.ndarray:
    try:
        from sklearn.cluster import HDBSCAN  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingDependency(
            "hdbscan clustering needs scikit-learn: pip install 'shoal[analysis]'"
        ) from exc
    # min_samples apart from min_cluster_size: tied together (sklearn's default), a large
    # min_cluster_size also smooths the density so much that 100k glosses fall into 3
    # clusters, one of them 99% of the rows; with 10, 166 clusters, none over 3% of them.
    model: Any = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min(MIN_SAMPLES, min_cluster_size),
        algorithm="kd_tree",
        copy=False,
    )
    labels: np.ndarray = np.asarray(model.fit_predict(reduced), dtype=np.int64)
    return labels


def _names(
    ds: Dataset, labels: dict[str, int], where: Filter | None, count: int
) -> dict[int, list[str]]:
    if count == 0:
        return {}
    classes: dict[int, list[str]] = {}
    for row in ds.select(["id", "text"], where=where):
        label = labels.get(row["id"])
        if label is not None and label != NOISE:
            classes.setdefault(label, []).append(row["text"])
    return top_terms(classes, count=count)
