"""local: CLIP models on ONNX Runtime against transformers' CLIPModel (a tiny random one, and a real one if cached)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

import shoal
from clip_fixtures import tiny_clip
from image_fixtures import base_images
from shoal.embeddings.local import ClipEmbedder, LocalEmbedder
from shoal.embeddings.local._resolve import find_in_hf_cache, hf_hub_cache
from shoal.errors import ConfigurationError, ModelNotFound

pytestmark = pytest.mark.slow  # transformers' CLIPModel is the reference: a few seconds to load


# Read before the tests' clean environment points the Hugging Face cache at an empty folder.
_HOST_HF_CACHE = hf_hub_cache()
_REAL_CLIP = "openai/clip-vit-base-patch32"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def reference(tiny: Path) -> tuple[object, object, CLIPImageProcessorPil]:
    model = transformers.CLIPModel.from_pretrained(tiny).eval()
    tokenizer = transformers.CLIPTokenizer.from_pretrained(tiny)
    return model, tokenizer, CLIPImageProcessorPil.from_pretrained(tiny)


def _pictures() -> list[Image.Image]:
    pictures = list(base_images().values())
    # Landscape, portrait, smaller than the crop, and odd sizes: the rounding paths.
    pictures += [
        pictures[0].resize((97, 41)),
        pictures[1].resize((30, 77)),
        pictures[2].resize((9, 9)),
    ]
    return pictures


def _unit(features: object) -> np.ndarray:
    tensor = getattr(features, "pooler_output", features)
    return torch.nn.functional.normalize(tensor, dim=-1).numpy()


def test_preprocessing_equals_transformers_clip_processor(tiny: Path, reference: tuple) -> None:
    embedder = shoal.embedder(f"local:{tiny}")
    pictures = _pictures()
    expected = reference[2](images=pictures, return_tensors="np")["pixel_values"]
    got = embedder.preprocess(pictures)
    assert got.shape == expected.shape == (len(pictures), 3, 32, 32)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_real_clip_preprocessing_values_match_too() -> None:
    # OpenAI's own sizes (224, bicubic, its mean/std) on a large, non-square image.
    from shoal.embeddings.local import ClipPreprocess

    picture = base_images()["texture"].resize((640, 427))
    expected = CLIPImageProcessorPil()(images=[picture], return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(ClipPreprocess()([picture]), expected, atol=1e-5)


def test_image_and_text_vectors_match_the_reference(tiny: Path, reference: tuple) -> None:
    model, tokenizer, processor = reference
    embedder = shoal.embedder(f"local:{tiny}")
    assert isinstance(embedder, ClipEmbedder) and embedder.accepts_images
    assert embedder.spec.dimensions == 16
    pictures = _pictures()
    with torch.no_grad():
        pixels = torch.tensor(processor(images=pictures, return_tensors="np")["pixel_values"])
        want_images = _unit(model.get_image_features(pixel_values=pixels))
        texts = ["the cat", "a red dog on the mat", "THE   Cat!", "x" * 400]
        batch = tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
        want_texts = _unit(model.get_text_features(**batch))
    got_images = embedder.embed_images(pictures)
    got_texts = embedder.embed_documents(texts)
    np.testing.assert_allclose(got_images, want_images, atol=2e-5)
    np.testing.assert_allclose(got_texts, want_texts, atol=2e-5)
    assert np.all(np.sum(got_images * want_images, axis=1) > 0.9999)


def test_text_to_image_search_wiring(tiny: Path, tmp_path: Path) -> None:
    embedder = shoal.embedder(f"local:{tiny}")
    pictures = base_images()
    vectors = embedder.embed_images(list(pictures.values()))
    ds = shoal.open(str(tmp_path / "pics"), embedder=embedder)
    ds.add(list(pictures), embeddings=vectors)
    query = "a red circle"
    hits = ds.search(query, k=3)
    expected = np.argsort(-(vectors @ embedder.embed_query(query)))[:3]
    assert [h.text for h in hits] == [list(pictures)[i] for i in expected]
    by_image = ds.search(image=pictures["stripes"], k=1)
    assert by_image[0].text == "stripes"


def test_names_and_errors() -> None:
    clip = shoal.embedder("local:clip-vit-base-patch32")
    assert isinstance(clip, ClipEmbedder)
    assert clip.spec.dimensions == 512  # known without touching any file
    assert isinstance(shoal.embedder("local:all-MiniLM-L6-v2"), LocalEmbedder)
    with pytest.raises(ConfigurationError, match="fp32 only"):
        shoal.embedder("local:clip-vit-base-patch32", quantize=True)
    with pytest.raises(
        ModelNotFound, match=r"openai/clip-vit-base-patch32 is not available offline.*hf download"
    ):
        clip.embed_query("a dog")


def test_other_architectures_are_refused_by_name(tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "siglip"
    folder.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (folder / name).write_bytes((tiny / name).read_bytes())
    config = json.loads((tiny / "config.json").read_text())
    config["model_type"] = "siglip"
    (folder / "config.json").write_text(json.dumps(config))
    embedder = ClipEmbedder(str(folder))
    with pytest.raises(ModelNotFound, match="SigLIP"):
        embedder.embed_query("a dog")


@pytest.mark.slow
@pytest.mark.skipif(
    find_in_hf_cache(_REAL_CLIP, cache=_HOST_HF_CACHE) is None,
    reason=f"{_REAL_CLIP} is not in this machine's Hugging Face cache ({_HOST_HF_CACHE}); "
    "the meaning test needs the real model: `hf download openai/clip-vit-base-patch32`",
)
def test_a_real_clip_finds_pictures_by_meaning() -> None:
    folder = find_in_hf_cache(_REAL_CLIP, cache=_HOST_HF_CACHE)
    embedder = shoal.embedder(f"local:{folder}")
    pictures = base_images()
    vectors = embedder.embed_images(
        [pictures["red-circle"], pictures["stripes"], pictures["green-triangle"]]
    )
    queries = embedder.embed_queries(
        ["a red circle", "black and white stripes", "a green triangle"]
    )
    assert list(np.argmax(queries @ vectors.T, axis=1)) == [0, 1, 2]
