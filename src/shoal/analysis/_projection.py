"""Vectors to a few dimensions: UMAP (umap-learn, optional) or PCA, for maps and clustering.

PCA sums a d x d covariance over row chunks and never forms anything n x n, so 100k rows
of 384-d vectors project in seconds within a few tens of MB beyond the vectors.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from typing import Any, Literal

import numpy as np

from shoal._checks import check_count
from shoal.errors import InvalidInput, MissingDependency, NonFiniteValues
from shoal.progress import stage_started

__all__ = ["ProjectionMethod", "chosen_method", "project"]

ProjectionMethod = Literal["auto", "umap", "pca"]
"""How vectors lose dimensions: "umap" (umap-learn), "pca", or "auto" (UMAP if installed)."""

_CHUNK = 8192  # rows per step of the chunked PCA
_UMAP_MIN_ROWS = 16  # UMAP's default neighbourhood is 15 rows


def project(
    vectors: Any, *, method: ProjectionMethod = "auto", dimensions: int = 2, seed: int = 0
) -> np.ndarray:
    """Project (n, d) vectors to (n, dimensions) float32 by UMAP or PCA ("auto": UMAP if installed).

    Two dimensions are for looking at (UMAP keeps points a little apart, min_dist 0.1);
    more are for clustering (min_dist 0: dense clumps, as BERTopic reduces before HDBSCAN).

    Raises:
        InvalidInput: not a 2-D array, or NaN/infinite values.
        MissingDependency: method="umap" without umap-learn installed.
    """
    data = np.asarray(vectors)
    if data.ndim != 2 or data.shape[1] == 0 or not np.issubdtype(data.dtype, np.number):
        raise InvalidInput(f"project takes a 2-D array of numbers (rows, dims), got {data.shape}")
    if not np.isfinite(data).all():
        raise NonFiniteValues("the vectors hold NaN or infinite values; drop or fix those rows")
    if method not in ("auto", "umap", "pca"):
        raise InvalidInput(f"method must be 'auto', 'umap' or 'pca', got {method!r}")
    count = check_count(dimensions, "dimensions")
    chosen = chosen_method(method, len(data))
    stage_started(chosen)
    if chosen == "umap":
        return _umap(data, seed, count)
    return _pca(data, count)


def chosen_method(method: ProjectionMethod, rows: int) -> Literal["umap", "pca"]:
    """The method `project` uses for `rows` rows: "auto" is UMAP when installed and there are enough."""
    if method == "pca":
        return "pca"
    if method == "umap":
        if rows < _UMAP_MIN_ROWS:
            raise InvalidInput(f"UMAP needs at least {_UMAP_MIN_ROWS} rows, got {rows}; use 'pca'")
        return "umap"
    installed = importlib.util.find_spec("umap") is not None
    return "umap" if installed and rows >= _UMAP_MIN_ROWS else "pca"


def _pca(data: np.ndarray, count: int) -> np.ndarray:
    """The first `count` principal components, from a d x d covariance summed in row chunks."""
    rows, dims = data.shape
    # float32 vectors are centred and multiplied in float32 (twice BLAS's float64 speed);
    # the chunk sums and the covariance are kept in float64.
    work = np.result_type(data.dtype, np.float32)
    mean = np.zeros(dims)
    for start in range(0, rows, _CHUNK):
        mean += data[start : start + _CHUNK].sum(axis=0, dtype=np.float64)
    centre = (mean / rows).astype(work)

    def centred(start: int, stop: int) -> np.ndarray:
        block: np.ndarray = data[start:stop].astype(work, copy=False) - centre
        return block

    if dims <= rows:
        covariance = np.zeros((dims, dims))
        for start in range(0, rows, _CHUNK):
            block = centred(start, start + _CHUNK)
            covariance += block.T @ block
        _, eigenvectors = np.linalg.eigh(covariance)
        axes = eigenvectors[:, ::-1][:, :count]
    else:  # fewer rows than dimensions: the thin SVD of the (small) centred rows
        _, _, vt = np.linalg.svd(centred(0, rows), full_matrices=False)
        axes = vt[:count].T
    if axes.shape[1] < count:  # fewer dimensions than asked: the other axes are flat
        axes = np.hstack([axes, np.zeros((dims, count - axes.shape[1]))])
    # Each axis points where its largest loading is positive, so the picture is reproducible.
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), range(count)])
    axes = (axes * np.where(signs == 0, 1.0, signs)).astype(work)
    xy = np.empty((rows, count), dtype=np.float32)
    for start in range(0, rows, _CHUNK):
        xy[start : start + _CHUNK] = centred(start, start + _CHUNK) @ axes
    return xy


def _import_umap() -> Any:
    """umap-learn, without its ParametricUMAP: umap's `__init__` imports that module, which
    imports TensorFlow and torch when they are installed (8 of `import umap`'s 12 s here),
    and a map never uses it. `umap.parametric_umap` imports as usual afterwards."""
    loaded = sys.modules.get("umap")
    if loaded is not None:
        return loaded
    parametric = "umap.parametric_umap"
    blocked = parametric not in sys.modules
    if blocked:
        sys.modules[parametric] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)  # "ParametricUMAP unavailable"
            return importlib.import_module("umap")
    finally:
        if blocked:
            del sys.modules[parametric]


def _umap(data: np.ndarray, seed: int, count: int) -> np.ndarray:
    try:
        umap = _import_umap()
    except ImportError as exc:
        raise MissingDependency(
            "method='umap' needs umap-learn: pip install 'shoal[map]', or use method='pca'"
        ) from exc
    spread = 0.1 if count == 2 else 0.0
    reducer = umap.UMAP(
        n_components=count, n_neighbors=15, min_dist=spread, random_state=seed, n_jobs=1
    )
    return np.asarray(reducer.fit_transform(data.astype(np.float32, copy=False)), np.float32)
