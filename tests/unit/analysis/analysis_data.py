"""Analysis test data: clustered unit vectors, and the type of the make_dataset fixture."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import shoal.store as st

DIM = 16

MakeDataset = Callable[..., st.Dataset]


def clustered(n: int, *, centres: int = 3, spread: float = 0.15, seed: int = 0) -> np.ndarray:
    """Unit vectors around `centres` fixed random centres: row i belongs to centre i % centres."""
    rng = np.random.default_rng(seed)
    middle = np.random.default_rng(42).normal(size=(centres, DIM))
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    points = middle[np.arange(n) % centres] + spread * rng.normal(size=(n, DIM)) / np.sqrt(DIM)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
