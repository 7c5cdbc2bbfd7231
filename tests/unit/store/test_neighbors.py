"""Dataset.neighbors (the kNN graph analysis builds on), Dataset.vectors and set_metadata:
the exact path against numpy, the HNSW path against the exact one, filters and the tail."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import shoal.store as st
from shoal.embeddings import Embedder
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import InvalidInput
from shoal.store import _view
from shoal.types import EmbedderSpec, Metric, TextKind

DIM = 16


class MetricEmbedder(Embedder):
    """hash:16 vectors under a spec with another metric."""

    def __init__(self, metric: Metric) -> None:
        self._inner = HashEmbedder(str(DIM))
        self._metric: Metric = metric

    @property
    def spec(self) -> EmbedderSpec:
        """A spec whose metric is the one asked for."""
        return EmbedderSpec("test", f"{self._metric}-{DIM}", DIM, False, self._metric)

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """hash:16's vectors."""
        return self._inner.embed_batch(texts, kind=kind)


def clustered(n: int, *, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """Unit vectors around 40 centres, the shape real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(40, dim))
    points = centres[rng.integers(0, 40, n)] + 0.4 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def dataset(vectors: np.ndarray, *, embedder: Embedder | str = f"hash:{DIM}") -> st.Dataset:
    ds = st.open(f"memory://neighbors-{uuid.uuid4().hex}", embedder=embedder)
    ds.add(
        [f"row {i}" for i in range(len(vectors))],
        ids=[f"r{i}" for i in range(len(vectors))],
        embeddings=vectors,
        metadatas=[{"half": i % 2} for i in range(len(vectors))],
    )
    return ds


def brute(vectors: np.ndarray, metric: Metric, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours by numpy over the full matrix (fine for a test's few rows)."""
    if metric == "cosine":
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = unit @ unit.T
    elif metric == "dot":
        scores = vectors @ vectors.T
    else:
        scores = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    worst = np.inf if metric == "l2" else -np.inf
    np.fill_diagonal(scores, worst)
    order = np.argsort(scores if metric == "l2" else -scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_exact_neighbors_match_numpy_and_exclude_the_row_itself(metric: Metric) -> None:
    vectors = np.random.default_rng(1).normal(size=(60, DIM)).astype(np.float32)
    embedder: Embedder | str = f"hash:{DIM}" if metric == "cosine" else MetricEmbedder(metric)
    graph = dataset(vectors, embedder=embedder).neighbors(k=5)
    expected, scores = brute(vectors, metric, 5)
    assert graph.ids == [f"r{i}" for i in range(60)] and graph.metric == metric
    assert graph.indices.shape == (60, 5) and graph.k == 5
    np.testing.assert_array_equal(graph.indices, expected)
    np.testing.assert_allclose(graph.scores, scores, rtol=1e-4, atol=1e-4)
    assert not (graph.indices == np.arange(60)[:, None]).any()


def test_fewer_rows_than_k_pad_with_minus_one_and_the_worst_score() -> None:
    graph = dataset(clustered(3)).neighbors(k=4)
    assert (graph.indices[:, :2] >= 0).all()
    assert (graph.indices[:, 2:] == -1).all() and np.isneginf(graph.scores[:, 2:]).all()


def test_empty_dataset_and_bad_k() -> None:
    ds = st.open(f"memory://empty-{uuid.uuid4().hex}", embedder=f"hash:{DIM}")
    graph = ds.neighbors(k=3)
    assert graph.ids == [] and graph.indices.shape == (0, 3)
    assert ds.vectors() == ([], pytest.approx(np.zeros((0, DIM))))
    for k in (0, -2, True, 1.5, 10_000):
        with pytest.raises(InvalidInput, match="k must be"):
            ds.neighbors(k=k)  # type: ignore[arg-type]


def test_identical_vectors_are_each_others_nearest() -> None:
    vectors = clustered(30)
    vectors[7] = vectors[3]
    graph = dataset(vectors).neighbors(k=1)
    assert graph.indices[3, 0] == 7 and graph.indices[7, 0] == 3
    assert graph.scores[3, 0] == pytest.approx(1.0, abs=1e-5)


def test_a_filter_limits_rows_and_their_neighbours() -> None:
    vectors = clustered(80)
    graph = dataset(vectors).neighbors(k=4, where={"half": 0})
    assert graph.ids == [f"r{i}" for i in range(0, 80, 2)]
    expected, _ = brute(vectors[::2], "cosine", 4)
    np.testing.assert_array_equal(graph.indices, expected)


def test_vectors_are_the_live_rows_as_searched() -> None:
    raw = clustered(10) * 3.0
    ds = dataset(raw)
    ds.delete(ids=["r4"])
    ids, vectors = ds.vectors()
    assert ids == [f"r{i}" for i in range(10) if i != 4]
    np.testing.assert_allclose(vectors, np.delete(raw, 4, axis=0) / 3.0, atol=1e-6)
    assert ds.vectors(where={"half": 1})[0] == ["r1", "r3", "r5", "r7", "r9"]


@pytest.fixture
def small_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index datasets from 200 rows on, and extend the index past 64 new rows."""
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 200)
    monkeypatch.setattr(_view, "TAIL_MAX", 64)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    pairs = zip(a.tolist(), b.tolist(), strict=True)
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in pairs]))


@pytest.mark.usefixtures("small_index")
def test_the_index_path_agrees_with_the_exact_path_tail_and_deletions_included() -> None:
    vectors = clustered(1_500, seed=2)
    ds = dataset(vectors[:1_450])
    ds.refresh_index()
    assert ds._view.index is not None and ds._view.index.count == 1_450
    ds.add([f"row {i}" for i in range(1_450, 1_500)], ids=[f"r{i}" for i in range(1_450, 1_500)],
           embeddings=vectors[1_450:])  # fmt: skip
    ds.delete(ids=["r0", "r1"])
    graph = ds.neighbors(k=10)
    assert ds._view.index.count == 1_450  # 50 rows searched exactly in the tail
    live = vectors[2:]
    expected, scores = brute(live, "cosine", 10)
    assert graph.ids == [f"r{i}" for i in range(2, 1_500)]
    assert overlap(graph.indices, expected) >= 0.98
    tail_rows = np.arange(1_448, 1_498)
    assert overlap(graph.indices[tail_rows], expected[tail_rows]) >= 0.98
    np.testing.assert_allclose(graph.scores[:, 0], scores[:, 0], atol=1e-3)
    assert not (graph.indices == np.arange(len(live))[:, None]).any()


@pytest.mark.usefixtures("small_index")
def test_the_index_path_with_a_filter_returns_only_matching_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_view, "EXACT_FILTERED_MAX", 0)
    monkeypatch.setattr(_view, "EXACT_FILTERED_SHARE", 0.0)
    vectors = clustered(1_000, seed=3)
    ds = dataset(vectors)
    graph = ds.neighbors(k=5, where={"half": 1})
    assert ds._view.index is not None
    assert graph.ids == [f"r{i}" for i in range(1, 1_000, 2)]
    expected, _ = brute(vectors[1::2], "cosine", 5)
    assert overlap(graph.indices, expected) >= 0.97


def test_set_metadata_writes_per_row_values_in_one_version() -> None:
    ds = dataset(clustered(6))
    before = ds.version
    changed = ds.set_metadata({"r0": {"label": "a"}, "r1": {"label": "b", "half": None}, "zz": {}})
    assert changed == 2 and ds.version == before + 1
    rows = {r.id: r.metadata for r in ds.get(["r0", "r1", "r2"])}
    assert rows == {"r0": {"half": 0, "label": "a"}, "r1": {"label": "b"}, "r2": {"half": 0}}
    assert ds.search(clustered(6)[0], k=1)[0].id == "r0"  # vectors untouched
    with pytest.raises(InvalidInput, match="metadata keys only"):
        ds.set_metadata({"r0": {"text": "new"}})
