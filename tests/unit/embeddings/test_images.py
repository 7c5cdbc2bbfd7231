"""Image input and the offline perceptual embedder (phash:v1): reading, bad input, reverse search."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
from PIL import Image

import shoal
from image_fixtures import TRANSFORMS, base_images, jpeg_bytes, png_bytes
from shoal.embeddings import embeds_images, load_image
from shoal.embeddings.phash import dct_matrix, phash_bits
from shoal.errors import ConfigurationError, InvalidInput, UnreadableImage


@pytest.fixture(scope="module")
def phash() -> shoal.Embedder:
    return shoal.embedder("phash:v1")


def test_every_input_form_gives_the_same_vector(phash: shoal.Embedder, tmp_path: Path) -> None:
    picture = base_images()["red-circle"]
    path = tmp_path / "circle.png"
    path.write_bytes(png_bytes(picture))
    forms = [path, str(path), png_bytes(picture), picture, np.asarray(picture)]
    vectors = phash.embed_images(forms)
    assert vectors.shape == (5, phash.spec.dimensions)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.repeat(vectors[:1], 5, axis=0), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_float_grey_and_rgba_arrays_are_read_as_rgb() -> None:
    grey = load_image(np.full((6, 4), 0.5))
    assert grey.mode == "RGB" and grey.size == (4, 6)
    assert grey.getpixel((0, 0)) == (128, 128, 128)
    rgba = np.zeros((3, 3, 4), np.uint8)  # fully transparent black: shown on white
    assert load_image(rgba).getpixel((1, 1)) == (255, 255, 255)


def test_reverse_image_search_finds_every_transformed_copy_in_the_top_3(
    phash: shoal.Embedder,
) -> None:
    bases = base_images()
    names = list(bases)
    index = phash.embed_images(list(bases.values()))
    misses = []
    for transform, apply in TRANSFORMS.items():
        queries = phash.embed_images([apply(image) for image in bases.values()])
        scores = queries @ index.T
        for row, name in enumerate(names):
            top3 = [names[i] for i in np.argsort(-scores[row])[:3]]
            if name not in top3:
                misses.append((transform, name, top3))
    assert misses == []


def test_different_pictures_are_not_near_duplicates(phash: shoal.Embedder) -> None:
    vectors = phash.embed_images(list(base_images().values()))
    scores = vectors @ vectors.T
    off_diagonal = scores[~np.eye(len(scores), dtype=bool)]
    assert off_diagonal.max() < 0.9


def test_dct_matches_scipy_and_hash_is_stable_under_recompression() -> None:
    x = np.random.default_rng(0).random(32)
    np.testing.assert_allclose(dct_matrix(32) @ x, scipy.fft.dct(x, norm="ortho"), atol=1e-10)
    picture = base_images()["two-suns"]
    again = Image.open(io.BytesIO(jpeg_bytes(picture, quality=60)))
    bits, other = phash_bits(picture), phash_bits(again)
    assert bits.shape == (64,)
    assert int((bits != other).sum()) <= 4  # Hamming distance of a recompressed copy


def test_phash_refuses_text_with_what_to_do(phash: shoal.Embedder) -> None:
    assert embeds_images(phash)
    with pytest.raises(ConfigurationError, match=r"images only.*keyword mode"):
        phash.embed_query("a red circle")


def test_text_only_embedders_say_so() -> None:
    text_only = shoal.embedder("hash:16")
    assert not embeds_images(text_only)
    with pytest.raises(ConfigurationError, match=r"text only.*phash:v1"):
        text_only.embed_images([np.zeros((4, 4, 3), np.uint8)])


def test_bad_images_get_clear_errors(phash: shoal.Embedder, tmp_path: Path) -> None:
    good = jpeg_bytes(base_images()["stripes"])
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good[: len(good) // 2])
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    with pytest.raises(UnreadableImage, match=r"index 1: .*cut.jpg.*truncated"):
        phash.embed_images([good, truncated])
    with pytest.raises(UnreadableImage, match=r"notes.png is not an image"):
        phash.embed_images([text])
    with pytest.raises(UnreadableImage, match=r"does not exist"):
        phash.embed_images([tmp_path / "missing.png"])
    with pytest.raises(UnreadableImage, match=r"shape"):
        phash.embed_images([np.zeros((4, 4, 2), np.uint8)])
    with pytest.raises(InvalidInput, match=r"list of images"):
        phash.embed_images(str(text))  # type: ignore[arg-type]


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(
    phash: shoal.Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.png"
    Image.new("L", (7100, 7100)).save(big)  # 50.4 megapixels, a few kB on disk
    with pytest.raises(UnreadableImage, match=r"50.4 megapixels, over the 40-megapixel limit"):
        phash.embed_images([big])
    monkeypatch.setenv("SHOAL_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(UnreadableImage, match=r"SHOAL_MAX_IMAGE_PIXELS"):
        load_image(np.zeros((20, 20, 3), np.uint8))
    monkeypatch.setenv("SHOAL_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(InvalidInput, match=r"whole number"):
        load_image(np.zeros((2, 2, 3), np.uint8))
