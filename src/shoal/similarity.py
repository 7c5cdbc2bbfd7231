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
from collections.abc import Callable, Sequence
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
    "pairwise",
    "top_k",
]

_METRICS: tuple[str, ...] = ("cosine", "dot", "l2")
# Score-matrix elements held at once by top_k, which sets how many queries go per block.
_BLOCK_ELEMENTS = 1 << 24
_MAX_QUERY_BLOCK = 1024
# Pairs whose squared distance is below this fraction of ||a||² + ||b||² lose precision
# to cancellation in the ||a||² + ||b||² - 2ab expansion, so they are recomputed directly.
_CANCELLATION = 0.05
# Rows whose squared norm leaves [2^-80, 2^100) lose precision or overflow in float32
# arithmetic; only they (or, for l2, the whole comparison) take the slower exact path.
_SQ_LOW, _SQ_HIGH = 2.0**-80, 2.0**100


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
    return _compare(a, b, "cosine")


def dot_similarity(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Inner product of every vector in `a` with every vector in `b`."""
    return _compare(a, b, "dot")


def euclidean_distance(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Euclidean distance between every vector in `a` and every vector in `b` (0.0 if equal)."""
    return _compare(a, b, "l2")


def pairwise(a: ArrayLike, b: ArrayLike, *, metric: Metric = "cosine") -> np.ndarray:
    """Compare `a` with `b` by `metric`; "l2" gives a distance, where lower means closer.

    Raises:
        ConfigurationError: `metric` is not "cosine", "dot" or "l2".
    """
    _check_metric(metric)
    return _compare(a, b, metric)


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
    queries = _rows(query, "query")
    rows = _rows(matrix, "matrix")
    if len(rows.shape) != 2:
        raise InvalidInput(f"matrix must be 2-D, shape (n, d), got shape {rows.shape}")
    _check_dimensions(queries, rows, "query", "matrix")
    n = rows.x.shape[0]
    if n >= 1 << 32:
        raise InvalidInput(f"top_k searches at most 2**32 - 1 rows at once, got {n}")
    count = min(k, n)
    score = _scorer(queries, rows, metric)
    indices = np.empty((len(queries.x), count), dtype=np.int64)
    scores = np.empty((len(queries.x), count), dtype=np.float32)
    step = max(1, min(_MAX_QUERY_BLOCK, _BLOCK_ELEMENTS // max(n, 1)))
    for start in range(0, len(queries.x) if count else 0, step):
        block = slice(start, start + step)
        block_scores = score(block)
        best = _best(block_scores, count, lower_is_better=metric == "l2")
        indices[block] = best
        scores[block] = np.take_along_axis(block_scores, best, axis=1)
    if len(queries.shape) == 1:
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


class _Rows(NamedTuple):
    """Validated vectors as a 2-D float32 matrix, with their squared norms."""

    x: np.ndarray
    sq: np.ndarray  # float32; inf where the square overflowed (values are finite)
    shape: tuple[int, ...]  # as given: (d,) or (n, d)


def _rows(value: ArrayLike, name: str) -> _Rows:
    """`value` as finite float32 vectors of shape (d,) or (n, d), or an InvalidInput."""
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
    with np.errstate(over="ignore"):  # reported below, as a NonFiniteValues
        x = raw.astype(np.float32, copy=False).reshape(-1, raw.shape[-1])
        sq = np.einsum("ij,ij->i", x, x)
    # NaN and infinity make a row's squared norm non-finite, so only those rows need a look.
    suspect = np.flatnonzero(~np.isfinite(sq))
    bad = suspect[~np.isfinite(x[suspect]).all(axis=1)]
    if bad.size:
        where = f"{name} row {bad[0]}" if raw.ndim == 2 else name
        more = f" ({bad.size} rows in all)" if bad.size > 1 else ""
        if np.isfinite(raw.reshape(x.shape)[bad[0]]).all():
            raise NonFiniteValues(
                f"{where} has values too large for float32{more}; rescale the vectors first"
            )
        raise NonFiniteValues(
            f"{where} contains NaN or infinity{more}; drop or fix that vector before comparing"
        )
    return _Rows(x, sq, raw.shape)


def _check_dimensions(a: _Rows, b: _Rows, a_name: str, b_name: str) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise DimensionMismatch(
            f"{a_name} has {a.shape[-1]} dimensions but {b_name} has {b.shape[-1]}; "
            "compare vectors made by the same embedder"
        )


def _compare(a: ArrayLike, b: ArrayLike, metric: Metric) -> np.ndarray:
    x, y = _rows(a, "a"), _rows(b, "b")
    _check_dimensions(x, y, "a", "b")
    return _scorer(x, y, metric)(slice(None)).reshape(x.shape[:-1] + y.shape[:-1])


def _scorer(a: _Rows, b: _Rows, metric: Metric) -> Callable[[slice], np.ndarray]:
    """Scores of a slice of `a`'s rows against all of `b`, with shared work done once."""
    if metric == "cosine":
        unit = _unit(a)
        other, inverse_norms = _cosine_side(b)
        return lambda rows: _cosine(unit[rows], other, inverse_norms)
    if metric == "dot":
        return lambda rows: a.x[rows] @ b.x.T
    a, b, shift = _scale_for_l2(a, b)
    return lambda rows: _unscale(_l2(_Rows(a.x[rows], a.sq[rows], a.shape), b), shift)


def _out_of_range(rows: _Rows) -> np.ndarray:
    """Mask of rows whose squared norm overflowed or underflowed (exact zero rows are fine)."""
    tiny = rows.sq < _SQ_LOW
    if tiny.any():
        tiny[tiny] = rows.x[tiny].any(axis=1)
    return tiny | ~(rows.sq < _SQ_HIGH)


def _inverse_norms(sq: np.ndarray) -> np.ndarray:
    norms = np.sqrt(sq)
    inverse: np.ndarray = np.divide(1, norms, out=np.zeros_like(norms), where=norms > 0)
    return inverse


def _unit(rows: _Rows) -> np.ndarray:
    """Rows scaled to length 1; zero rows stay zero, so their cosine is 0."""
    unit: np.ndarray = rows.x * _inverse_norms(rows.sq)[:, None]
    odd = _out_of_range(rows)
    if odd.any():
        # Dividing by the largest component first keeps the squares in float32 range.
        x = rows.x[odd]
        peak = np.max(np.abs(x), axis=1, keepdims=True)
        peak[peak == 0] = 1
        x = x / peak
        unit[odd] = x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return unit


def _cosine_side(rows: _Rows) -> tuple[np.ndarray, np.ndarray | None]:
    """What to multiply queries by, and the factors to apply after (None: already unit)."""
    # Scaling the scores by 1/||row|| afterwards spares copying a large matrix.
    if _out_of_range(rows).any():
        return _unit(rows), None
    return rows.x, _inverse_norms(rows.sq)


def _cosine(unit: np.ndarray, other: np.ndarray, inverse_norms: np.ndarray | None) -> np.ndarray:
    out: np.ndarray = unit @ other.T
    if inverse_norms is not None:
        out *= inverse_norms
    return np.clip(out, -1.0, 1.0, out=out)


def _scale_for_l2(x: _Rows, y: _Rows) -> tuple[_Rows, _Rows, int]:
    """Scale both by one power of two (exact) so squares neither overflow nor underflow."""
    if not (_out_of_range(x).any() or _out_of_range(y).any()):
        return x, y, 0
    peak = max(float(np.max(np.abs(r.x), initial=0.0)) for r in (x, y))
    if peak == 0 or 2.0**-32 <= peak <= 2.0**32:
        return x, y, 0
    shift = math.frexp(peak)[1]
    x2, y2 = np.ldexp(x.x, -shift), np.ldexp(y.x, -shift)
    return (
        _Rows(x2, np.einsum("ij,ij->i", x2, x2), x.shape),
        _Rows(y2, np.einsum("ij,ij->i", y2, y2), y.shape),
        shift,
    )


def _unscale(distances: np.ndarray, shift: int) -> np.ndarray:
    return np.ldexp(distances, shift) if shift else distances


def _l2(a: _Rows, b: _Rows) -> np.ndarray:
    """Euclidean distances of rows via ||x||² + ||y||² - 2xy, exact where that cancels."""
    x, y = a.x, b.x
    d2: np.ndarray = x @ y.T
    d2 *= -2
    d2 += a.sq[:, None]
    d2 += b.sq[None, :]
    # Near-identical pairs are where the expansion is least accurate; recomputing them
    # from the difference makes identical vectors exactly 0 and close ones precise.
    rows, cols = np.nonzero(d2 <= _CANCELLATION * (a.sq[:, None] + b.sq[None, :]))
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
