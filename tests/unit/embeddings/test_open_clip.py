"""The `open_clip:` provider against open_clip's own encode_image / encode_text (a tiny random model)."""

from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import shoal
from image_fixtures import base_images, png_bytes
from open_clip_fixtures import OPEN_CLIP_MISSING, TINY_ARCH, TinyOpenClip, tiny_open_clip
from shoal.embeddings.openclip import OpenClipEmbedder
from shoal.errors import ConfigurationError, MissingDependency, ModelNotFound

needs_open_clip = pytest.mark.skipif(OPEN_CLIP_MISSING is not None, reason=str(OPEN_CLIP_MISSING))

TEXTS = ["a red circle", "THE   stripes!", "two suns " * 60]  # the last is cut to 77 tokens


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyOpenClip:
    return tiny_open_clip(tmp_path_factory.mktemp("tiny-openclip"))


def _pictures() -> list[Image.Image]:
    pictures = list(base_images().values())[:4]
    # Landscape, portrait and smaller than the 32-pixel crop: the resize and crop paths.
    return [*pictures, pictures[0].resize((97, 41)), pictures[1].resize((30, 77)).convert("L")]


@needs_open_clip
def test_vectors_match_open_clip(tiny: TinyOpenClip) -> None:
    embedder = shoal.embedder(f"open_clip:{TINY_ARCH}/{tiny.checkpoint}")
    assert isinstance(embedder, OpenClipEmbedder) and embedder.accepts_images
    assert embedder.spec.name == f"open_clip:{TINY_ARCH}/{tiny.checkpoint.resolve()}"
    assert (embedder.spec.dimensions, embedder.spec.normalized) == (16, True)
    pictures = _pictures()
    got_images = embedder.embed_images(pictures)
    got_texts = embedder.embed_documents(TEXTS)
    assert got_images.dtype == got_texts.dtype == np.float32
    assert got_images.shape == (len(pictures), 16) and got_texts.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(np.linalg.norm(got_images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got_images, tiny.images(pictures), atol=1e-5)
    np.testing.assert_allclose(got_texts, tiny.texts(TEXTS), atol=1e-5)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[0]), got_texts[0], atol=1e-6)
    # Batches of one give the vectors of one big batch (no padding leaks across images).
    single = OpenClipEmbedder(f"{TINY_ARCH}/{tiny.checkpoint}", batch_size=1)
    np.testing.assert_allclose(single.embed_images(pictures), got_images, atol=1e-5)


@needs_open_clip
def test_every_kind_of_image_input_gives_the_same_vector(
    tiny: TinyOpenClip, tmp_path: Path
) -> None:
    embedder = OpenClipEmbedder(TINY_ARCH, pretrained=tiny.checkpoint)
    picture = base_images()["green-triangle"]
    path = tmp_path / "triangle.png"
    path.write_bytes(png_bytes(picture))
    inputs: list[Any] = [str(path), path, png_bytes(picture), picture, np.asarray(picture)]
    vectors = embedder.embed_images(inputs)
    for row in vectors[1:]:
        np.testing.assert_allclose(row, vectors[0], atol=1e-6)
    np.testing.assert_allclose(embedder.embed_image(picture), vectors[0], atol=1e-6)


@needs_open_clip
def test_a_folder_and_a_checkpoint_load_the_same_model(tiny: TinyOpenClip) -> None:
    by_file = OpenClipEmbedder(TINY_ARCH, pretrained=str(tiny.checkpoint))
    by_folder = shoal.embedder(f"open_clip:{tiny.folder}")
    assert by_folder.spec.name == f"open_clip:{tiny.folder.resolve()}"
    assert by_file.spec.name == f"open_clip:{TINY_ARCH}/{tiny.checkpoint.resolve()}"
    pictures = _pictures()
    np.testing.assert_allclose(
        by_folder.embed_images(pictures), by_file.embed_images(pictures), atol=1e-6
    )
    np.testing.assert_allclose(
        by_folder.embed_documents(TEXTS), by_file.embed_documents(TEXTS), atol=1e-6
    )


def _hub_cache(root: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A Hugging Face cache under `root` whose main snapshot of `repo` holds `files`."""
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("0123abcd")
    return snapshot


@needs_open_clip
def test_cached_hub_weights_load_offline(
    tiny: TinyOpenClip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import open_clip

    files = {p.name: p.read_bytes() for p in tiny.folder.iterdir()}
    cache = tmp_path / "hub"
    _hub_cache(cache, "someone/tiny-openclip", files)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))  # the tests run offline: nothing is fetched
    pictures = _pictures()[:2]
    want = tiny.images(pictures)
    hub = shoal.embedder("open_clip:hf-hub:someone/tiny-openclip")
    assert hub.spec.name == "open_clip:hf-hub:someone/tiny-openclip"
    np.testing.assert_allclose(hub.embed_images(pictures), want, atol=1e-5)
    # A pretrained tag whose weights are in the cache: open_clip's tag table names the repo.
    tag = open_clip.pretrained._pcfg(
        hf_hub="someone/tiny-openclip/", mean=(0.5,) * 3, std=(0.5,) * 3
    )
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY_ARCH, {"tiny_v1": tag})
    tagged = shoal.embedder(f"open_clip:{TINY_ARCH}/tiny_v1")
    assert tagged.spec.name == f"open_clip:{TINY_ARCH}/tiny_v1"
    np.testing.assert_allclose(tagged.embed_documents(TEXTS), tiny.texts(TEXTS), atol=1e-5)
    # The tag's own normalisation is applied, as open_clip applies it.
    assert not np.allclose(tagged.embed_images(pictures), want, atol=1e-3)


@needs_open_clip
def test_text_search_and_reopening_a_dataset(tiny: TinyOpenClip, tmp_path: Path) -> None:
    embedder = shoal.embedder(f"open_clip:{tiny.folder}")
    pictures = base_images()
    vectors = embedder.embed_images(list(pictures.values()))
    uri = str(tmp_path / "pics")
    ds = shoal.open(uri, embedder=embedder)
    ds.add(list(pictures), embeddings=vectors)
    reopened = shoal.open(uri)
    assert reopened.embedder.spec == embedder.spec
    assert reopened.embedder.spec.name == f"open_clip:{tiny.folder.resolve()}"
    # Random weights have no meaning: check the wiring (ranking = the vectors' cosines).
    query = "a red circle"
    hits = reopened.search(query, k=3)
    expected = np.argsort(-(vectors @ embedder.embed_query(query)))[:3]
    assert [h.text for h in hits] == [list(pictures)[i] for i in expected]
    by_image = reopened.search(image=pictures["stripes"], k=1)
    assert by_image[0].text == "stripes"


@needs_open_clip
def test_names_that_cannot_work(tiny: TinyOpenClip) -> None:
    with pytest.raises(ConfigurationError, match="no model architecture 'ViT-Nope'"):
        shoal.embedder("open_clip:ViT-Nope/openai")
    with pytest.raises(
        ConfigurationError, match=r"no pretrained tag 'nope' for ViT-B-32.*laion2b_s34b_b79k"
    ):
        shoal.embedder("open_clip:ViT-B-32/nope")
    with pytest.raises(ConfigurationError, match=r"name the weights of ViT-B-32"):
        shoal.embedder("open_clip:ViT-B-32")
    with pytest.raises(ModelNotFound, match="no checkpoint file at"):
        shoal.embedder(f"open_clip:{TINY_ARCH}//no/such/checkpoint.pt")
    with pytest.raises(ConfigurationError, match="already names its weights"):
        OpenClipEmbedder(f"{TINY_ARCH}/{tiny.checkpoint}", pretrained=tiny.checkpoint)
    with pytest.raises(ModelNotFound, match="no weights"):
        empty = tiny.folder.parent / "config-only"
        empty.mkdir(exist_ok=True)
        (empty / "open_clip_config.json").write_bytes(
            (tiny.folder / "open_clip_config.json").read_bytes()
        )
        shoal.embedder(f"open_clip:{empty}")
    with pytest.raises(ConfigurationError, match="saved from this architecture"):
        # A checkpoint of another shape: open_clip's strict load refuses it.
        OpenClipEmbedder("ViT-B-32", pretrained=tiny.checkpoint)


@needs_open_clip
def test_weights_not_cached_fail_offline_saying_how_to_cache_them() -> None:
    with pytest.raises(
        ModelNotFound,
        match=r"ViT-B-32/laion2b_s34b_b79k is not available offline and offline mode is on.*"
        r"hf download laion/CLIP-ViT-B-32-laion2B-s34B-b79K --include 'open_clip_\*'",
    ):
        shoal.embedder("open_clip:ViT-B-32/laion2b_s34b_b79k")
    with pytest.raises(ModelNotFound, match=r"hf download someone/absent"):
        shoal.embedder("open_clip:hf-hub:someone/absent")


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[open_clip\]'"):
        shoal.embedder("open_clip:ViT-B-32/laion2b_s34b_b79k")


class _BrokenOpenClip(importlib.abc.MetaPathFinder):
    """Fails `import open_clip` as the CUDA torchvision wheel does next to a CPU torch."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "open_clip":
            raise RuntimeError("operator torchvision::nms does not exist")


def test_a_torchvision_for_another_torch_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "open_clip", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenOpenClip(), *sys.meta_path])
    with pytest.raises(MissingDependency, match="torchvision must be the build made for"):
        shoal.embedder("open_clip:ViT-B-32/laion2b_s34b_b79k")


@needs_open_clip
def test_torch_threads_are_set_while_embedding_and_given_back(tiny: TinyOpenClip) -> None:
    import torch

    embedder = OpenClipEmbedder(TINY_ARCH, pretrained=tiny.checkpoint, threads=1)
    seen: list[int] = []
    encode = embedder._model.encode_text

    def spy(tokens: Any, normalize: bool) -> Any:
        seen.append(torch.get_num_threads())
        return encode(tokens, normalize=normalize)

    embedder._model.encode_text = spy
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        embedder.embed_query("a cat")
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
