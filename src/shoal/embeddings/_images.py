"""Image input for embedders: paths, bytes, PIL images and arrays, read as RGB with a pixel limit.

Pillow is optional (`pip install 'shoal[images]'`); it is imported only when an image is read.
The pixel limit guards against decompression bombs (a small file that decodes to gigabytes):
the size is read from the header and checked *before* any pixel is decoded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from shoal._checks import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, max_image_pixels, needs
from shoal.errors import InvalidInput, UnreadableImage

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "ImageInput",
    "describe_image",
    "load_image",
    "max_image_pixels",
    "validate_images",
]

ImageInput = Union[str, "os.PathLike[str]", bytes, "Image", np.ndarray]
"""What `embed_images` takes: a file path, encoded bytes, a PIL image, or an (H, W[, C]) array."""


def validate_images(images: Sequence[ImageInput]) -> list[ImageInput]:
    """Check that `images` is a list of images (not one path or one byte string) and return it."""
    if isinstance(images, (str, bytes, os.PathLike)):
        raise InvalidInput(
            "embed_images takes a list of images, not a single path or bytes; "
            "wrap it in a list, or call embed_image for one image"
        )
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
        raise InvalidInput(
            "embed_images takes a list of images; this is one image array: wrap it in a list"
        )
    try:
        return list(images)
    except TypeError as exc:
        raise InvalidInput(
            f"images must be a list of paths, bytes, PIL images or arrays, got {type(images).__name__}"
        ) from exc


def _label(image: Any) -> str:
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    if isinstance(image, bytes):
        return f"the image ({len(image)} bytes)"
    return type(image).__name__


def _check_size(width: int, height: int, label: str, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"{label} has no pixels ({width}x{height})")
    if width * height > limit:
        raise UnreadableImage(
            f"{label} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
            f"{limit / 1e6:g}-megapixel limit that guards against decompression bombs; "
            "shrink it, or raise the limit with SHOAL_MAX_IMAGE_PIXELS if you trust the file"
        )


def _from_array(array: np.ndarray, label: str, limit: int) -> Image:
    pil = needs("PIL.Image", "images")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UnreadableImage(
            f"{label} has shape {array.shape}; an image array is (height, width), "
            "(height, width, 3) RGB or (height, width, 4) RGBA"
        )
    _check_size(int(array.shape[1]), int(array.shape[0]), label, limit)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise UnreadableImage(f"{label} holds NaN or infinite values")
        # Floats are taken as 0..1 intensities, as matplotlib and scikit-image store them.
        array = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise UnreadableImage(
            f"{label} is a {array.dtype} array; pass uint8 (0..255) or floats (0..1)"
        )
    image: Image = pil.fromarray(np.ascontiguousarray(array))
    return _rgb(image)


def load_image(image: ImageInput, *, max_pixels: int | None = None) -> Image:
    """`image` as a decoded RGB PIL image (first frame of an animation).

    Raises:
        UnreadableImage: the file is missing, not an image, truncated, or over the pixel limit.
    """
    limit = max_pixels if max_pixels is not None else max_image_pixels()
    label = _label(image)
    pil = needs("PIL.Image", "images")
    if isinstance(image, np.ndarray):
        return _from_array(image, f"the image array {image.shape}", limit)
    if isinstance(image, pil.Image):
        _check_size(image.width, image.height, f"the {image.mode} image", limit)
        return _rgb(image)
    if isinstance(image, bytes):
        source: Any = io.BytesIO(image)
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise UnreadableImage(f"{path} does not exist or is not a file")
        source = path
    else:
        raise UnreadableImage(
            f"cannot read a {type(image).__name__} as an image; "
            "pass a path, encoded bytes, a PIL image or a uint8 array"
        )
    try:
        opened = pil.open(source)
    except pil.DecompressionBombError as exc:
        raise UnreadableImage(f"{label} is too large to decode safely ({exc}); shrink it") from exc
    except pil.UnidentifiedImageError as exc:
        raise UnreadableImage(
            f"{label} is not an image: its content is no format Pillow reads; check that "
            "the file is a JPEG, PNG, WebP or GIF and that its name matches its content"
        ) from exc
    except (OSError, ValueError) as exc:
        raise UnreadableImage(f"{label} cannot be read as an image ({exc})") from exc
    with opened:
        _check_size(opened.width, opened.height, label, limit)
        try:
            opened.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise UnreadableImage(
                f"{label} is damaged or truncated ({exc}); re-export or re-download it"
            ) from exc
        return _rgb(opened)


def _rgb(image: Image) -> Image:
    """RGB pixels; transparent areas become white, as viewers show them on a page."""
    if image.mode == "RGB":
        return image.copy()
    pil = needs("PIL.Image", "images")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = pil.new("RGBA", rgba.size, (255, 255, 255, 255))
        converted: Image = pil.alpha_composite(background, rgba).convert("RGB")
        return converted
    converted = image.convert("RGB")
    return converted


def describe_image(data: bytes, *, max_pixels: int | None = None) -> dict[str, Any]:
    """Format, width, height and readable EXIF tags of encoded image bytes (decodes it to check).

    Raises:
        UnreadableImage: as `load_image`.
    """
    load_image(data, max_pixels=max_pixels)  # the whole file must decode, not just its header
    pil = needs("PIL.Image", "images")
    tags = needs("PIL.ExifTags", "images")
    with pil.open(io.BytesIO(data)) as opened:
        info: dict[str, Any] = {
            "format": str(opened.format or "").lower(),
            "width": int(opened.width),
            "height": int(opened.height),
            "frames": int(getattr(opened, "n_frames", 1)),
        }
        exif = opened.getexif()
        for tag, value in exif.items():
            name = tags.TAGS.get(tag)
            if name is None:
                continue
            if isinstance(value, bytes):
                continue  # maker notes and thumbnails: binary, not metadata to filter on
            if isinstance(value, (int, float, str)):
                info[f"exif_{name}"] = value.strip("\x00 ") if isinstance(value, str) else value
            else:
                info[f"exif_{name}"] = str(value)
    return info
