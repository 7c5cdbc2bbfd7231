"""Generated images for the image tests: a few base pictures and transformed copies of each."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

__all__ = ["TRANSFORMS", "base_images", "jpeg_bytes", "png_bytes"]

SIZE = 160


def _canvas(colour: tuple[int, int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (SIZE, SIZE), colour)
    return image, ImageDraw.Draw(image)


def base_images() -> dict[str, Image.Image]:
    """Eight distinct pictures: shapes on coloured grounds, stripes, a gradient, a noise texture."""
    out: dict[str, Image.Image] = {}
    img, d = _canvas((255, 255, 255))
    d.ellipse((30, 40, 120, 130), fill=(220, 30, 30))
    out["red-circle"] = img
    img, d = _canvas((10, 10, 40))
    d.rectangle((20, 20, 90, 140), fill=(40, 90, 230))
    out["blue-bar"] = img
    img, d = _canvas((250, 230, 60))
    d.polygon([(20, 140), (80, 15), (145, 140)], fill=(20, 140, 40))
    out["green-triangle"] = img
    img, d = _canvas((240, 240, 240))
    for x in range(0, SIZE, 20):
        d.rectangle((x, 0, x + 9, SIZE), fill=(30, 30, 30))
    out["stripes"] = img
    ramp = np.linspace(0, 255, SIZE, dtype=np.float64)
    rgb = np.stack(
        [
            np.add.outer(ramp, ramp) / 2,
            np.tile(ramp, (SIZE, 1)),
            255 - np.add.outer(ramp, 0 * ramp),
        ],
        -1,
    )
    out["gradient"] = Image.fromarray(rgb.astype(np.uint8))
    rng = np.random.default_rng(7)
    blobs = rng.random((10, 10, 3)) * 255
    out["texture"] = Image.fromarray(blobs.astype(np.uint8)).resize(
        (SIZE, SIZE), Image.Resampling.BICUBIC
    )
    img, d = _canvas((120, 60, 160))
    d.ellipse((10, 10, 70, 70), fill=(255, 200, 0))
    d.ellipse((90, 90, 150, 150), fill=(255, 200, 0))
    out["two-suns"] = img
    img, d = _canvas((0, 0, 0))
    d.line((0, 0, SIZE, SIZE), fill=(255, 255, 255), width=12)
    d.line((0, SIZE, SIZE, 0), fill=(255, 80, 80), width=6)
    out["cross"] = img
    return out


def _crop(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.crop((w // 10, h // 10, w - w // 10, h - h // 10))


def _jpeg(image: Image.Image) -> Image.Image:
    return Image.open(__import__("io").BytesIO(jpeg_bytes(image, quality=40))).convert("RGB")


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "half-size": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.BILINEAR),
    "crop-80": _crop,
    "rotate-90": lambda im: im.rotate(90, expand=True),
    "rotate-180": lambda im: im.rotate(180),
    "rotate-8": lambda im: im.rotate(
        8, resample=Image.Resampling.BILINEAR, fillcolor=im.getpixel((0, 0))
    ),
    "mirror": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.25),
    "blur": lambda im: im.filter(ImageFilter.GaussianBlur(2)),
    "jpeg-40": _jpeg,
}
"""Each transform of a base picture: its copy should find the original."""


def jpeg_bytes(image: Image.Image, *, quality: int = 90) -> bytes:
    """`image` encoded as JPEG."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """`image` encoded as PNG."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
