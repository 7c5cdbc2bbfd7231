"""Tests for shoal.similarity against plain float64 numpy formulas."""

from __future__ import annotations

import doctest
import warnings
from collections.abc import Sequence

import numpy as np
import pytest

import shoal.similarity as sim
from numeric import assert_close, assert_ranked_like
from shoal.errors import (
    ConfigurationError,
    DimensionMismatch,
    EmbeddingError,
    InvalidInput,
    NonFiniteValues,
)
from shoal.similarity import (
    Match,
    TopK,
    cosine_similarity,
    dot_similarity,
    euclidean_distance,
    most_similar,
    pairwise,
    top_k,
)
from shoal.types import EmbedderSpec, Metric

D = 8
METRICS: tuple[Metric, ...] = ("cosine", "dot", "l2")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def ref_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.atleast_2d(a).astype(np.float64) @ np.atleast_2d(b).astype(np.float64).T


def ref_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a2 = np.atleast_2d(a).astype(np.float64)
    b2 = np.atleast_2d(b).astype(np.float64)
    norms = np.linalg.norm(a2, axis=1)[:, None] * np.linalg.norm(b2, axis=1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a2 @ b2.T) / norms
    return np.where(norms == 0, 0.0, out)


def ref_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a2 = np.atleast_2d(a).astype(np.float64)
    b2 = np.atleast_2d(b).astype(np.float64)
    out: np.ndarray = np.sqrt(((a2[:, None, :] - b2[None, :, :]) ** 2).sum(axis=-1))
    return out


PAIRWISE = {
    "cosine": (cosine_similarity, ref_cosine),
    "dot": (dot_similarity, ref_dot),
    "l2": (euclidean_distance, ref_l2),
}
SHAPES = [(D,), (5, D), (1, D), (0, D)]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("a_shape", SHAPES)
@pytest.mark.parametrize("b_shape", [(D,), (7, D), (0, D)])
def test_pairwise_matches_reference(
    metric: Metric, a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> None:
    rng = _rng(1)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    func, ref = PAIRWISE[metric]
    out = func(a, b)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32
    assert out.shape == a_shape[:-1] + b_shape[:-1]
    expected = ref(a, b).reshape(out.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pairwise(a, b, metric=metric), expected, rtol=1e-5, atol=1e-5)


def test_vector_with_vector_gives_a_zero_d_array() -> None:
    out = dot_similarity([1.0, 2.0], [3.0, 4.0])
    assert isinstance(out, np.ndarray)
    assert out.shape == ()
    assert float(out) == 11.0


def test_array_likes_and_float64_give_float32() -> None:
    out = cosine_similarity([[1.0, 0.0], [0.0, 2.0]], np.array([[1.0, 1.0]], dtype=np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[2**-0.5], [2**-0.5]], rtol=1e-6)
    assert euclidean_distance([1, 2], [4, 6]).dtype == np.float32  # ints accepted
    assert float(euclidean_distance([1, 2], [4, 6])) == 5.0


def test_inputs_are_not_modified() -> None:
    rng = _rng(2)
    a = rng.standard_normal((4, D)).astype(np.float32) * 1e30
    b = rng.standard_normal((3, D)).astype(np.float32)
    a0, b0 = a.copy(), b.copy()
    for metric in METRICS:
        pairwise(a, b, metric=metric)
        top_k(a, b, k=2, metric=metric)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_zero_vectors_have_cosine_zero_without_warnings() -> None:
    zero = np.zeros(D, dtype=np.float32)
    other = _rng(3).standard_normal((3, D)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(cosine_similarity(zero, zero)) == 0.0
        np.testing.assert_array_equal(cosine_similarity(zero, other), np.zeros(3))
        np.testing.assert_array_equal(cosine_similarity(other, zero), np.zeros(3))
        mixed = cosine_similarity(np.stack([zero, other[0]]), other)
        np.testing.assert_array_equal(mixed[0], np.zeros(3))
        np.testing.assert_allclose(mixed[1], ref_cosine(other[0], other)[0], rtol=1e-5)
        assert float(euclidean_distance(zero, zero)) == 0.0
        found = top_k(zero, other, k=3)
    assert found.indices.tolist() == [0, 1, 2]  # all tie at 0.0, so index order
    np.testing.assert_array_equal(found.scores, np.zeros(3))


def test_euclidean_of_identical_vectors_is_exactly_zero() -> None:
    # Large norms make the ||a||² + ||b||² - 2ab expansion cancel badly in float32.
    a = (_rng(4).standard_normal((50, 384)) * 1000 + 500).astype(np.float32)
    distances = euclidean_distance(a, a)
    assert np.all(np.diag(distances) == 0.0)
    assert np.all(distances[~np.eye(50, dtype=bool)] > 0)
    assert float(euclidean_distance(a[3], a[3])) == 0.0
    found = top_k(a[[7, 2]], a, k=1, metric="l2")
    assert found.indices[:, 0].tolist() == [7, 2]
    assert found.scores[:, 0].tolist() == [0.0, 0.0]


def test_euclidean_of_close_vectors_is_precise() -> None:
    rng = _rng(5)
    a = (rng.standard_normal((20, 64)) * 100).astype(np.float32)
    b = a + rng.standard_normal((20, 64)).astype(np.float32) * 1e-2
    expected = ref_l2(a, b.astype(np.float64))
    np.testing.assert_allclose(np.diag(euclidean_distance(a, b)), np.diag(expected), rtol=1e-4)


def test_extreme_magnitudes_do_not_overflow_or_underflow() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(euclidean_distance([1e30, 0.0], [0.0, 1e30]), 2**0.5 * 1e30)
        np.testing.assert_allclose(euclidean_distance([3e-30, 0.0], [0.0, 4e-30]), 5e-30)
        np.testing.assert_allclose(cosine_similarity([1e30, 1e30], [2e-30, 0.0]), 2**-0.5)
        np.testing.assert_allclose(cosine_similarity([1e-40, 0.0], [1e-40, 1e-40]), 2**-0.5)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_argument_and_row(metric: Metric, bad: float) -> None:
    a = np.ones((2, D), dtype=np.float32)
    b = np.ones((5, D), dtype=np.float32)
    b[3, 1] = bad
    with pytest.raises(NonFiniteValues, match=r"b row 3 contains NaN or infinity"):
        pairwise(a, b, metric=metric)
    with pytest.raises(NonFiniteValues, match=r"a row 3 contains NaN or infinity"):
        pairwise(b, a, metric=metric)
    with pytest.raises(NonFiniteValues, match=r"matrix row 3"):
        top_k(a[0], b, metric=metric)
    with pytest.raises(NonFiniteValues, match=r"^query contains NaN or infinity"):
        top_k(b[3], a, metric=metric)


def test_non_finite_message_counts_bad_rows() -> None:
    b = np.ones((6, 2))
    b[[1, 4, 5], 0] = np.nan
    with pytest.raises(NonFiniteValues, match=r"b row 1 contains .*\(3 rows in all\)"):
        dot_similarity([1.0, 1.0], b)


def test_float64_values_beyond_float32_range_are_rejected() -> None:
    with pytest.raises(NonFiniteValues, match="a row 1 has values too large for float32"):
        dot_similarity([[1.0, 2.0], [1e300, 0.0]], [1.0, 1.0])


@pytest.mark.parametrize("func", [cosine_similarity, dot_similarity, euclidean_distance])
def test_dimension_mismatch_names_both_dimensions(func: object) -> None:
    with pytest.raises(DimensionMismatch, match=r"a has 3 dimensions but b has 4"):
        func(np.ones((2, 3)), np.ones((5, 4)))  # type: ignore[operator]
    with pytest.raises(DimensionMismatch, match=r"query has 4 dimensions but matrix has 3"):
        top_k(np.ones(4), np.ones((5, 3)))


@pytest.mark.parametrize(
    "value",
    [
        np.ones((2, 3, D)),  # 3-D
        np.float32(1.0),  # 0-d
        3.0,
        [[1.0, 2.0], [3.0]],  # ragged
        ["a", "b"],
        np.zeros((3, 0)),  # vectors of no dimensions
        [],
        [1 + 2j, 3j],
    ],
)
def test_unusable_shapes_and_types_raise_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput):
        cosine_similarity(value, [1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        euclidean_distance([1.0, 2.0], value)  # type: ignore[arg-type]


def test_unknown_metric_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="metric must be one of"):
        pairwise([1.0], [1.0], metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        top_k([1.0], [[1.0]], metric="ip")  # type: ignore[arg-type]


def test_l2_similarity_is_a_distance() -> None:
    out = pairwise([0.0, 0.0], [[3.0, 4.0], [1.0, 0.0]], metric="l2")
    np.testing.assert_allclose(out, [5.0, 1.0])


def _ref_top_k(scores: np.ndarray, k: int, *, lower_is_better: bool) -> np.ndarray:
    key = scores if lower_is_better else -scores
    return np.argsort(key, axis=-1, kind="stable")[..., :k]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k", [1, 3, 10, 50, 500])
def test_top_k_matches_a_full_sort(metric: Metric, k: int) -> None:
    rng = _rng(6)
    matrix = rng.standard_normal((200, D)).astype(np.float32)
    queries = rng.standard_normal((9, D)).astype(np.float32)
    scores = pairwise(queries, matrix, metric=metric)

    batch = top_k(queries, matrix, k=k, metric=metric)
    assert isinstance(batch, TopK)
    assert batch.indices.dtype == np.int64
    assert batch.scores.dtype == np.float32
    assert batch.indices.shape == batch.scores.shape == (9, min(k, 200))
    # top_k scores blocks of queries, pairwise the whole matrix: BLAS may round the two
    # differently, so ranks agree up to near-ties and scores within float32 tolerance.
    lower = metric == "l2"
    assert_ranked_like(batch.indices, batch.scores, scores, lower_is_better=lower)

    single = top_k(queries[4], matrix, k=k, metric=metric)
    assert single.indices.shape == single.scores.shape == (min(k, 200),)
    assert_ranked_like(single.indices, single.scores, scores[4:5], lower_is_better=lower)


def test_top_k_order_is_best_first_for_each_metric() -> None:
    matrix = np.array([[-1.0], [-2.0], [3.0], [0.0], [-1.0]], dtype=np.float32)
    dot = top_k([1.0], matrix, k=5, metric="dot")
    assert dot.indices.tolist() == [2, 3, 0, 4, 1]  # negatives rank below zero; ties by index
    assert dot.scores.tolist() == [3.0, 0.0, -1.0, -1.0, -2.0]
    l2 = top_k([1.0], matrix, k=5, metric="l2")
    assert l2.indices.tolist() == [3, 0, 2, 4, 1]  # ascending distance
    assert l2.scores.tolist() == [1.0, 2.0, 2.0, 2.0, 3.0]
    cos = top_k([1.0, 0.0], [[0.0, 5.0], [2.0, 0.1], [-1.0, 0.0], [1.0, 1.0]], k=4)
    assert cos.indices.tolist() == [1, 3, 0, 2]
    assert np.all(np.diff(cos.scores) <= 0)


@pytest.mark.parametrize("metric", METRICS)
def test_top_k_ties_are_broken_by_lower_index(metric: Metric) -> None:
    # Vectors whose scores are exact in float32 whatever order BLAS sums in (a rounding
    # difference would make the "tie" a real difference).
    distinct = np.array([[2, 0, 0, 0], [0, 0, 3, 0], [1, 1, 1, 1]], dtype=np.float32)
    # Rows 0..29 repeat three vectors, so each score occurs ten times.
    matrix = distinct[np.arange(30) % 3]
    query = np.array([1, 2, 3, 4], dtype=np.float32)
    found = top_k(query, matrix, k=12, metric=metric)
    scores = pairwise(query, matrix, metric=metric)
    expected = _ref_top_k(scores, 12, lower_is_better=metric == "l2")
    np.testing.assert_array_equal(found.indices, expected)
    best = int(expected[0]) % 3
    assert found.indices[:10].tolist() == list(range(best, 30, 3))


def test_top_k_with_k_above_n_returns_every_row() -> None:
    matrix = _rng(8).standard_normal((4, D)).astype(np.float32)
    found = top_k(matrix[2], matrix, k=100)
    assert sorted(found.indices.tolist()) == [0, 1, 2, 3]
    assert found.indices[0] == 2
    assert top_k(matrix, matrix, k=100).indices.shape == (4, 4)


@pytest.mark.parametrize("k", [0, -1, True, 2.5])
def test_top_k_rejects_k_that_is_not_a_positive_int(k: object) -> None:
    with pytest.raises(InvalidInput, match="k must be a positive int"):
        top_k([1.0], [[1.0]], k=k)  # type: ignore[arg-type]


@pytest.mark.parametrize("metric", METRICS)
def test_top_k_on_empty_inputs(metric: Metric) -> None:
    empty = np.empty((0, D), dtype=np.float32)
    one = top_k(np.ones(D), empty, k=5, metric=metric)
    assert one.indices.shape == one.scores.shape == (0,)
    assert one.indices.dtype == np.int64
    batch = top_k(np.ones((3, D)), empty, k=5, metric=metric)
    assert batch.indices.shape == batch.scores.shape == (3, 0)
    none = top_k(empty, np.ones((6, D)), k=4, metric=metric)
    assert none.indices.shape == none.scores.shape == (0, 4)


def test_top_k_needs_a_2d_matrix() -> None:
    with pytest.raises(InvalidInput, match="matrix must be 2-D"):
        top_k([1.0, 2.0], [1.0, 2.0])


@pytest.mark.parametrize("metric", METRICS)
def test_top_k_blocks_of_queries_give_the_same_result(
    metric: Metric, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = _rng(9)
    matrix = rng.standard_normal((40, D)).astype(np.float32)
    queries = rng.standard_normal((23, D)).astype(np.float32)
    whole = top_k(queries, matrix, k=5, metric=metric)
    monkeypatch.setattr(sim, "_BLOCK_ELEMENTS", 40 * 4)  # four queries per block
    blocked = top_k(queries, matrix, k=5, metric=metric)
    # A block of 4 queries and one of 23 may take other BLAS kernels (6e-8 apart on AVX2).
    reference = pairwise(queries, matrix, metric=metric)
    lower = metric == "l2"
    assert_ranked_like(blocked.indices, blocked.scores, reference, lower_is_better=lower)
    assert_ranked_like(whole.indices, whole.scores, reference, lower_is_better=lower)
    assert_close(blocked.scores, whole.scores)


class FakeEmbedder:
    """Maps each known text to a fixed vector and records what it was asked."""

    def __init__(self, vectors: dict[str, list[float]], *, metric: Metric = "cosine") -> None:
        self.vectors = vectors
        self.calls: list[str] = []
        self._spec = EmbedderSpec(
            provider="fake", model="fixed", dimensions=2, normalized=False, metric=metric
        )

    @property
    def spec(self) -> EmbedderSpec:
        return self._spec

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append("documents")
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        self.calls.append("query")
        return np.array(self.vectors[text], dtype=np.float32)


VECTORS = {
    "cat": [1.0, 0.0],
    "kitten": [0.9, 0.1],
    "car": [0.0, 1.0],
    "big cat": [10.0, 0.5],
    "anti cat": [-1.0, 0.0],
}
DOCS = ["car", "big cat", "anti cat", "kitten"]


def test_most_similar_ranks_documents_best_first() -> None:
    embedder = FakeEmbedder(VECTORS)
    matches = most_similar("cat", DOCS, embedder=embedder)
    assert [m.text for m in matches] == ["big cat", "kitten", "car", "anti cat"]
    assert [m.index for m in matches] == [1, 3, 0, 2]
    assert all(isinstance(m, Match) and type(m.score) is float for m in matches)
    np.testing.assert_allclose(
        [m.score for m in matches],
        ref_cosine(np.array(VECTORS["cat"]), np.array([VECTORS[d] for d in DOCS]))[0][[1, 3, 0, 2]],
        rtol=1e-6,
    )
    assert sorted(embedder.calls) == ["documents", "query"]


def test_most_similar_uses_the_embedders_metric_unless_told() -> None:
    dot_embedder = FakeEmbedder(VECTORS, metric="dot")
    by_dot = most_similar("cat", DOCS, embedder=dot_embedder, k=2)
    assert [(m.text, m.score) for m in by_dot] == [
        ("big cat", 10.0),
        ("kitten", float(np.float32(0.9))),
    ]
    by_l2 = most_similar("cat", DOCS, embedder=dot_embedder, k=2, metric="l2")
    assert [m.text for m in by_l2] == ["kitten", "car"]
    assert by_l2[0].score < by_l2[1].score


def test_most_similar_with_no_documents_returns_nothing() -> None:
    embedder = FakeEmbedder(VECTORS)
    assert most_similar("cat", [], embedder=embedder) == []
    assert embedder.calls == []


def test_most_similar_rejects_bad_arguments() -> None:
    embedder = FakeEmbedder(VECTORS)
    with pytest.raises(InvalidInput, match="k must be a positive int"):
        most_similar("cat", DOCS, embedder=embedder, k=0)
    with pytest.raises(InvalidInput, match="not a single string"):
        most_similar("cat", "car", embedder=embedder)


def test_most_similar_reports_an_embedder_returning_the_wrong_shape() -> None:
    class Broken(FakeEmbedder):
        def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
            return super().embed_documents(texts)[:-1]

    with pytest.raises(EmbeddingError, match="fake:fixed returned shapes"):
        most_similar("cat", DOCS, embedder=Broken(VECTORS))


def test_public_names_are_sorted_and_exist() -> None:
    assert sim.__all__ == sorted(sim.__all__)
    for name in sim.__all__:
        obj = getattr(sim, name)
        assert obj.__doc__ and obj.__doc__.strip()


def test_module_examples_run() -> None:
    result = doctest.testmod(sim)
    assert result.attempted >= 3
    assert result.failed == 0
