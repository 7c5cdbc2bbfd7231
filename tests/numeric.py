"""Comparisons of float results that hold on every CPU, whichever kernels BLAS or ONNX Runtime pick.

Two code paths that compute the same product (a blocked and a whole matrix product, an
AVX2 and an AVX-512 kernel, another thread count) may round differently: results agree
to a few float32 ulps, not bit for bit. Rankings then agree up to near-ties: two rows
whose scores differ by less than that tolerance may swap places.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLOAT32_TOLERANCE", "assert_close", "assert_ranked_like"]

FLOAT32_TOLERANCE = 1e-6
"""Absolute and relative tolerance for float32 results of the same formula on two code paths
(8 ulps at 1.0; the differences seen between OpenBLAS kernels are around 6e-8)."""


def assert_close(actual: object, expected: object, *, tolerance: float = FLOAT32_TOLERANCE) -> None:
    """`actual` equals `expected` within `tolerance`, absolute and relative, element by element."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=tolerance,
        atol=tolerance,
    )


def assert_ranked_like(
    indices: np.ndarray,
    scores: np.ndarray,
    reference: np.ndarray,
    *,
    lower_is_better: bool = False,
    tolerance: float = FLOAT32_TOLERANCE,
) -> None:
    """`indices` (one row per query) are a correct top-k of `reference` (queries x rows) up to near-ties.

    Rank i must hold a row whose reference score equals the i-th best reference score
    within `tolerance` (so rows tied within it may come in either order), no row may come
    twice, and `scores` must be those rows' reference scores within `tolerance`.
    """
    indices = np.atleast_2d(indices)
    scores = np.atleast_2d(scores)
    reference = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    assert indices.shape == scores.shape and indices.shape[0] == reference.shape[0]
    k = indices.shape[1]
    ordered = np.sort(reference, axis=1)
    best = ordered[:, :k] if lower_is_better else ordered[:, ::-1][:, :k]
    for row in range(indices.shape[0]):
        assert len(set(indices[row].tolist())) == k, f"query {row}: a row comes twice"
        got = reference[row, indices[row]]
        assert_close(got, best[row], tolerance=tolerance)
        assert_close(scores[row], got, tolerance=tolerance)
