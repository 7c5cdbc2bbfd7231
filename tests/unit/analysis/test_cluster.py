"""cluster: k-means and HDBSCAN recover planted clusters, write labels as a new version,
and name clusters by their c-TF-IDF terms."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_data import MakeDataset, clustered

from shoal.analysis import ProjectionMethod, cluster
from shoal.analysis._cluster import default_cluster_count
from shoal.analysis._terms import top_terms
from shoal.errors import InvalidInput

TOPICS = (
    "the cat chased a mouse around the garden",
    "stock prices and bond markets fell on inflation news",
    "the violin and piano played a quiet sonata",
)


def topical(n: int) -> tuple[np.ndarray, list[str]]:
    """Vectors around 3 centres; row i's text is about topic i % 3."""
    return clustered(n, centres=3, spread=0.2), [f"{TOPICS[i % 3]} ({i})" for i in range(n)]


def partition(labels: dict[str, int]) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for row_id, label in labels.items():
        groups.setdefault(label, set()).add(row_id)
    return {frozenset(g) for g in groups.values()}


def planted(n: int) -> set[frozenset[str]]:
    return {frozenset(f"r{i}" for i in range(n) if i % 3 == c) for c in range(3)}


def test_kmeans_labels_are_written_as_a_new_version(make_dataset: MakeDataset) -> None:
    vectors, texts = topical(90)
    ds = make_dataset(vectors, texts=texts, metadatas=[{"n": i} for i in range(90)])
    before = ds.version
    result = cluster(ds, n_clusters=3)
    assert partition(result.labels) == planted(90)
    assert result.version == ds.version > before and result.field == "cluster"
    assert ds.log()[-1].message == "cluster: kmeans labels in metadata 'cluster'"
    stored = {r["id"]: r["cluster"] for r in ds.select(["id", "cluster"])}
    assert stored == result.labels
    assert ds.get(["r5"])[0].metadata == {"n": 5, "cluster": result.labels["r5"]}
    assert ds.checkout(before).select(["cluster"])[0] == {"cluster": None}
    assert sorted(c.size for c in result.clusters) == [30, 30, 30]
    assert all(len(c.terms) == 5 for c in result.clusters)
    topics = {c.label: c.terms for c in result.clusters}
    assert "mouse" in topics[result.labels["r0"]] and "violin" in topics[result.labels["r2"]]


@pytest.mark.parametrize("reduce", ["pca", pytest.param("umap", marks=pytest.mark.slow)])
def test_hdbscan_finds_the_planted_clusters(
    make_dataset: MakeDataset, reduce: ProjectionMethod
) -> None:
    vectors, texts = topical(150)
    stray = np.random.default_rng(3).normal(size=(1, vectors.shape[1])).astype(np.float32)
    ds = make_dataset(np.concatenate([vectors, stray * 5]), texts=[*texts, "stray"])
    result = cluster(ds, method="hdbscan", min_cluster_size=10, reduce=reduce)
    stray_label = result.labels.pop("r150")
    assert partition(result.labels) == planted(150)
    if reduce == "pca":
        # PCA keeps the stray far from everything: noise. UMAP gives every row neighbours,
        # so there a lone stray joins the nearest cluster (outliers() is the tool for strays).
        assert stray_label == -1
        noise = [c for c in result.clusters if c.label == -1]
        assert noise and noise[0].terms == []


def test_where_and_field_choose_rows_and_key(make_dataset: MakeDataset) -> None:
    vectors, texts = topical(60)
    ds = make_dataset(vectors, texts=texts, metadatas=[{"odd": i % 2} for i in range(60)])
    result = cluster(ds, n_clusters=3, where={"odd": 1}, field="topic", message="topics")
    assert set(result.labels) == {f"r{i}" for i in range(1, 60, 2)}
    assert ds.select(["topic"], where={"odd": 0})[0] == {"topic": None}
    assert ds.log()[-1].message == "topics"


def test_cluster_errors(make_dataset: MakeDataset) -> None:
    ds = make_dataset(clustered(4))
    with pytest.raises(InvalidInput, match="more than the 4 rows"):
        cluster(ds, n_clusters=5)
    with pytest.raises(InvalidInput, match="n_clusters must be"):
        cluster(ds, n_clusters=1)
    with pytest.raises(InvalidInput, match="'kmeans' or 'hdbscan'"):
        cluster(ds, method="dbscan")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="drop n_clusters"):
        cluster(ds, method="hdbscan", n_clusters=3)
    with pytest.raises(InvalidInput, match="reduce must be 'auto', 'umap' or 'pca'"):
        cluster(ds, method="hdbscan", reduce="tsne")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="top-level metadata key"):
        cluster(ds, field="a.b")
    with pytest.raises(InvalidInput, match="at least 2 rows, and 0 match"):
        cluster(make_dataset())


def test_default_cluster_count_and_ctfidf_terms() -> None:
    assert [default_cluster_count(n) for n in (2, 50, 100_000, 10**7)] == [2, 5, 200, 200]
    terms = top_terms(
        {0: ["Databases store rows", "a database stores tables"], 1: ["cats chase mice", "a cat"]},
        count=2,
    )
    assert terms == {0: ["database", "store"], 1: ["cat", "chase"]}
