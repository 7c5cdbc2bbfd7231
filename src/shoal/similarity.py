"""Cosine, dot and Euclidean comparison of vectors, and exact top-k search over arrays.

Vectors are float32; ``a`` and ``b`` may each be one vector ``(d,)`` or a matrix
``(n, d)``, and a result has shape ``a.shape[:-1] + b.shape[:-1]``:

>>> import numpy as np
>>> round(float(cosine_similarity([1.0, 0.0], [1.0, 1.0])), 4)
0.7071
>>> euclidean_distance([[0.0, 0.0], [3.0, 4.0]], [3.0, 4.0]).tolist()
[5.0, 0.0]
>>> top_k([1.0, 0.0], [[0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]], k=2).indices.tolist()
[1, 0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike

from shoal.errors import (
    ConfigurationError,
    DimensionMismatch,
    EmbeddingError,
    InvalidInput,
    NonFiniteValues,
)
from shoal.types import EmbedderSpec, Metric

__all__ = [
    "Match",
    "TextEmbedder",
    "TopK",
    "cosine_similarity",
    "dot_similarity",
    "euclidean_distance",
    "most_similar",
    "similarity",
    "top_k",
]

_METRICS: tuple[str, ...] = ("cosine", "dot", "l2")
# Score-matrix elements held at once by top_k, which sets how many queries go per block.
_BLOCK_ELEMENTS = 1 << 24
_MAX_QUERY_BLOCK = 1024
# Pairs whose squared distance is below this fraction of ||a||² + ||b||² lose precision
# to cancellation in the ||a||² + ||b||² - 2ab expansion, so they are recomputed directly.
_CANCELLATION = 0.05


class TopK(NamedTuple):
    """The best `k` rows for each query: their indices (int64) and scores (float32)."""

    indices: np.ndarray
    scores: np.ndarray


class Match(NamedTuple):
    """One ranked document: its position in the input, its text and its score."""

    # The field shadows tuple.index, which mypy flags; the field is what callers want.
    index: int  # type: ignore[assignment]
    text: str
    score: float


class TextEmbedder(Protocol):
    """Anything that turns texts into vectors, as `shoal.embeddings.Embedder` does."""

    @property
    def spec(self) -> EmbedderSpec:
        """Provider, model, dimensions, normalisation and preferred metric."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts to store: a float32 array of shape (len(texts), dimensions)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search text: a float32 array of shape (dimensions,)."""
        ...


def cosine_similarity(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Cosine similarity of every vector in `a` with every vector in `b`; 0.0 for a zero vector."""
    x, y, shape = _pair(a, b)
    return _cosine(_unit_rows(x), _unit_rows(y)).reshape(shape)


def dot_similarity(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Inner product of every vector in `a` with every vector in `b`."""
    x, y, shape = _pair(a, b)
    products: np.ndarray = x @ y.T
    return products.reshape(shape)


def euclidean_distance(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Euclidean distance between every vector in `a` and every vector in `b` (0.0 if equal)."""
    x, y, shape = _pair(a, b)
    x, y, shift = _scale_for_l2(x, y)
    return _unscale(_l2(x, y), shift).reshape(shape)


def similarity(a: ArrayLike, b: ArrayLike, *, metric: Metric = "cosine") -> np.ndarray:
    """Compare `a` with `b` by `metric`; "l2" gives a distance, where lower means closer.

    Raises:
        ConfigurationError: `metric` is not "cosine", "dot" or "l2".
    """
    _check_metric(metric)
    if metric == "cosine":
        return cosine_similarity(a, b)
    if metric == "dot":
        return dot_similarity(a, b)
    return euclidean_distance(a, b)


def top_k(query: ArrayLike, matrix: ArrayLike, *, k: int = 4, metric: Metric = "cosine") -> TopK:
    """Exact search: the `k` rows of `matrix` closest to each query, best first.

    A query of shape (d,) gives arrays of shape (min(k, n),); a batch (q, d) gives
    (q, min(k, n)). Best is the highest similarity for "cosine" and "dot" and the
    smallest distance for "l2" (whose scores are then distances). Equal scores are
    ordered by row index.

    Raises:
        InvalidInput: `k` is not a positive int, or the vectors are unusable.
        ConfigurationError: `metric` is not "cosine", "dot" or "l2".
    """
    _check_k(k)
    _check_metric(metric)
    queries = _as_vectors(query, "query")
    rows = _as_vectors(matrix, "matrix")
    if rows.ndim != 2:
        raise InvalidInput(f"matrix must be 2-D, shape (n, d), got shape {rows.shape}")
    _check_dimensions(queries, rows, "query", "matrix")
    q = queries.reshape(-1, rows.shape[1])
    n = rows.shape[0]
    count = min(k, n)
    shift = 0
    if metric == "cosine":
        q, rows = _unit_rows(q), _unit_rows(rows)
    elif metric == "l2":
        q, rows, shift = _scale_for_l2(q, rows)
    if n >= 1 << 32:
        raise InvalidInput(f"top_k searches at most 2**32 - 1 rows at once, got {n}")
    indices = np.empty((q.shape[0], count), dtype=np.int64)
    scores = np.empty((q.shape[0], count), dtype=np.float32)
    step = max(1, min(_MAX_QUERY_BLOCK, _BLOCK_ELEMENTS // max(n, 1)))
    for start in range(0, q.shape[0] if count else 0, step):
        block = q[start : start + step]
        if metric == "cosine":
            block_scores = _cosine(block, rows)
        elif metric == "dot":
            block_scores = block @ rows.T
        else:
            block_scores = _unscale(_l2(block, rows), shift)
        best = _best(block_scores, count, lower_is_better=metric == "l2")
        indices[start : start + step] = best
        scores[start : start + step] = np.take_along_axis(block_scores, best, axis=1)
    if queries.ndim == 1:
        return TopK(indices[0], scores[0])
    return TopK(indices, scores)


def most_similar(
    query: str,
    documents: Sequence[str],
    *,
    embedder: TextEmbedder,
    k: int | None = None,
    metric: Metric | None = None,
) -> list[Match]:
    """Rank `documents` by how close `embedder` puts them to `query`, best first.

    `k=None` returns every document; `metric=None` uses the embedder's own metric.
    """
    if isinstance(documents, str):
        raise InvalidInput("documents must be a list of texts, not a single string")
    if k is not None:
        _check_k(k)
    chosen: Metric = embedder.spec.metric if metric is None else metric
    _check_metric(chosen)
    texts = list(documents)
    if not texts:
        return []
    vectors = np.asarray(embedder.embed_documents(texts))
    query_vector = np.asarray(embedder.embed_query(query))
    if vectors.ndim != 2 or vectors.shape[0] != len(texts) or query_vector.ndim != 1:
        raise EmbeddingError(
            f"embedder {embedder.spec.name} returned shapes {vectors.shape} for "
            f"{len(texts)} documents and {query_vector.shape} for the query, expected "
            f"({len(texts)}, d) and (d,); the provider is misconfigured"
        )
    found = top_k(query_vector, vectors, k=len(texts) if k is None else k, metric=chosen)
    return [
        Match(index=int(i), text=texts[int(i)], score=float(s))
        for i, s in zip(found.indices, found.scores, strict=True)
    ]


def _check_metric(metric: str) -> None:
    if metric not in _METRICS:
        raise ConfigurationError(f"metric must be one of {_METRICS}, got {metric!r}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInput(f"k must be a positive int, got {k!r}")


def _as_vectors(value: ArrayLike, name: str) -> np.ndarray:
    """`value` as a finite float32 array of shape (d,) or (n, d), or an InvalidInput."""
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{name} must be a vector or a matrix of numbers: {exc}") from exc
    if raw.dtype.kind not in "biuf":
        raise InvalidInput(f"{name} must hold real numbers, got dtype {raw.dtype}")
    if raw.ndim not in (1, 2):
        raise InvalidInput(
            f"{name} must be a vector (d,) or a matrix (n, d), got shape {raw.shape}"
        )
    if raw.shape[-1] == 0:
        raise InvalidInput(f"{name} has vectors of length 0; vectors need at least one value")
    array = raw.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        _raise_non_finite(name, raw, finite)
    return array


def _raise_non_finite(name: str, raw: np.ndarray, finite: np.ndarray) -> None:
    bad = np.flatnonzero(~finite.all(axis=-1)) if raw.ndim == 2 else np.zeros(1, np.int64)
    where = f"{name} row {bad[0]}" if raw.ndim == 2 else name
    more = f" ({bad.size} rows in all)" if bad.size > 1 else ""
    if np.isfinite(raw[bad[0]] if raw.ndim == 2 else raw).all():
        raise NonFiniteValues(
            f"{where} has values too large for float32{more}; rescale the vectors first"
        )
    raise NonFiniteValues(
        f"{where} contains NaN or infinity{more}; drop or fix that vector before comparing"
    )


def _check_dimensions(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise DimensionMismatch(
            f"{a_name} has {a.shape[-1]} dimensions but {b_name} has {b.shape[-1]}; "
            "compare vectors made by the same embedder"
        )


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Both inputs as 2-D float32 matrices, and the shape their comparison has."""
    x = _as_vectors(a, "a")
    y = _as_vectors(b, "b")
    _check_dimensions(x, y, "a", "b")
    d = x.shape[-1]
    return x.reshape(-1, d), y.reshape(-1, d), x.shape[:-1] + y.shape[:-1]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; zero rows stay zero, so their cosine is 0."""
    # Dividing by the largest component first keeps the squared norm from overflowing
    # (huge values) or underflowing (tiny ones) in float32.
    peak = np.max(np.abs(x), axis=1, keepdims=True, initial=0.0)
    peak[peak == 0] = 1
    y: np.ndarray = x / peak
    norm = np.sqrt(np.einsum("ij,ij->i", y, y))[:, None]
    norm[norm == 0] = 1
    y /= norm
    return y


def _cosine(x_unit: np.ndarray, y_unit: np.ndarray) -> np.ndarray:
    out: np.ndarray = x_unit @ y_unit.T
    return np.clip(out, -1.0, 1.0, out=out)


def _scale_for_l2(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Scale both by one power of two (exact) so squares neither overflow nor underflow."""
    peak = max(float(np.max(np.abs(m), initial=0.0)) for m in (x, y))
    if peak == 0 or 2.0**-32 <= peak <= 2.0**32:
        return x, y, 0
    shift = math.frexp(peak)[1]
    return np.ldexp(x, -shift), np.ldexp(y, -shift), shift


def _unscale(distances: np.ndarray, shift: int) -> np.ndarray:
    return np.ldexp(distances, shift) if shift else distances


def _l2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances of rows via ||x||² + ||y||² - 2xy, exact where that cancels."""
    x_sq = np.einsum("ij,ij->i", x, x)
    y_sq = np.einsum("ij,ij->i", y, y)
    d2: np.ndarray = x @ y.T
    d2 *= -2
    d2 += x_sq[:, None]
    d2 += y_sq[None, :]
    # Near-identical pairs are where the expansion is least accurate; recomputing them
    # from the difference makes identical vectors exactly 0 and close ones precise.
    rows, cols = np.nonzero(d2 <= _CANCELLATION * (x_sq[:, None] + y_sq[None, :]))
    chunk = max(1, (1 << 20) // x.shape[1])
    for start in range(0, rows.size, chunk):
        r, c = rows[start : start + chunk], cols[start : start + chunk]
        diff = x[r] - y[c]
        d2[r, c] = np.einsum("ij,ij->i", diff, diff)
    np.maximum(d2, 0, out=d2)
    np.sqrt(d2, out=d2)
    return d2


def _best(scores: np.ndarray, count: int, *, lower_is_better: bool) -> np.ndarray:
    """Column indices of the `count` best scores per row, best first, ties by lower index."""
    # Pack (score, index) into one int64 whose order is the ranking: the float32's bits,
    # made monotonic as a signed int, above the index. Partitioning these is O(n) and
    # breaks ties deterministically, which argpartition on the scores alone does not.
    key = scores if lower_is_better else -scores
    bits = (key + np.float32(0.0)).view(np.int32)  # + 0.0 turns -0.0 into 0.0
    bits = np.where(bits < 0, bits ^ np.int32(0x7FFFFFFF), bits).astype(np.int64)
    packed = (bits << 32) | np.arange(scores.shape[1], dtype=np.int64)
    if count < scores.shape[1]:
        packed = np.partition(packed, count - 1, axis=1)[:, :count]
    packed.sort(axis=1)
    return packed & np.int64(0xFFFFFFFF)
