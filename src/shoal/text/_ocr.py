"""Text inside images (OCR): scans, screenshots and image-only PDF pages into text.

RapidOCR (``rapidocr-onnxruntime``) runs PaddleOCR's PP-OCRv4 detection and recognition
models, which its wheel carries, on ONNX Runtime: no download. It reads Chinese and
English (Latin letters, digits, punctuation). The boxes it finds are put back into
lines (top to bottom, left to right) so the text reads as on the page; boxes recognised
with a score under `MIN_SCORE` are dropped.

Images are decoded with Pillow after their size is read from the header: one over the
pixel limit ($SHOAL_MAX_IMAGE_PIXELS, default 40 megapixels, as for image embedders) is
refused before a pixel is decoded, so a small file cannot expand into gigabytes.

RapidOCR is optional: ``pip install 'shoal[ocr]'``.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shoal._checks import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, max_image_pixels, needs
from shoal.errors import InvalidInput
from shoal.settings import num_threads
from shoal.types import Document

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "MIN_SCORE",
    "TextReader",
    "max_image_pixels",
    "ocr_available",
    "page_image_text",
    "read_image_text",
    "text_reader",
]

MIN_SCORE = 0.5
"""Recognised text boxes scoring under this are dropped (RapidOCR's own default)."""
_EXTRA = "ocr"
# Detection keeps RapidOCR's default: a small image is scaled up until its shorter side is
# 736 px. Scaling only down (longer side at most 2000 px) was 1.7x faster on rendered
# screenshots but found 59% of their words instead of 81% (bench/multimodal_audio.py).


@functools.cache  # asked for every file of a walk: look once
def ocr_available() -> bool:
    """True when RapidOCR is installed (the ``ocr`` extra), so images' text can be read."""
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


@dataclass(frozen=True)
class _Line:
    top: float
    bottom: float
    words: list[tuple[float, str]]


class TextReader:
    """RapidOCR loaded once, reading the text in images: ``TextReader().read("scan.png")``.

    Args:
        threads: CPU threads; default $SHOAL_NUM_THREADS, else every usable core.

    Raises:
        MissingDependency: rapidocr-onnxruntime is not installed.
    """

    fingerprint = "ocr=rapidocr-ppocrv4"
    """What decides the text read: the OCR models."""

    def __init__(self, *, threads: int | None = None) -> None:
        engine = needs("rapidocr_onnxruntime", _EXTRA)
        count = threads or num_threads()
        self._engine: Any = engine.RapidOCR(intra_op_num_threads=count, inter_op_num_threads=1)
        self._lock = threading.Lock()

    def read(self, image: str | os.PathLike[str] | bytes, *, name: str | None = None) -> str:
        """The text in an image (a path or encoded bytes), in reading order; "" if none.

        Raises:
            InvalidInput: not an image Pillow reads, truncated, or over the pixel limit.
        """
        label = name or (str(image) if not isinstance(image, bytes) else "the image")
        pixels = _decoded(image, label)
        with self._lock:
            found, _ = self._engine(pixels[:, :, ::-1].copy())  # RapidOCR takes BGR
        return _reading_order(found or [])

    def read_file(self, path: str | os.PathLike[str]) -> list[Document]:
        """The file's text as one Document (`source`, `type` "image", `width`, `height`),
        or none if no text was found.

        Raises:
            InvalidInput: as `read`.
        """
        file = Path(path)
        width, height = _size(file, str(file))
        text = self.read(file)
        if not text.strip():
            return []
        metadata = {
            "source": str(file),
            "type": "image",
            "width": width,
            "height": height,
            "ocr": True,
        }
        return [Document(text=text, metadata=metadata)]


_shared: list[TextReader] = []
_shared_lock = threading.Lock()


def text_reader() -> TextReader:
    """A `TextReader`, loaded once per process and shared."""
    with _shared_lock:
        if not _shared:
            _shared.append(TextReader())
        return _shared[0]


def read_image_text(path: str | os.PathLike[str]) -> list[Document]:
    """Read the text in an image file (OCR): one Document with `source`, `type` "image",
    `width` and `height`; [] if the image holds no text.

    Raises:
        MissingDependency: rapidocr-onnxruntime is not installed: pip install 'shoal[ocr]'.
        InvalidInput: not an image, truncated or damaged, or over the pixel limit.
    """
    return text_reader().read_file(path)


def page_image_text(page: Any, label: str) -> str:
    """The text of a PDF page's images (a scanned page), read by OCR, in the page's order.

    Raises:
        InvalidInput: an image on the page cannot be decoded, or is over the pixel limit.
    """
    texts = []
    for index, image in enumerate(page.images, start=1):
        text = text_reader().read(bytes(image.data), name=f"{label}, image {index}")
        if text.strip():
            texts.append(text)
    return "\n".join(texts)


def _opened(image: str | os.PathLike[str] | bytes, label: str) -> Any:
    pil = needs("PIL.Image", _EXTRA)
    source: Any = io.BytesIO(image) if isinstance(image, bytes) else Path(image)
    try:
        return pil.open(source)
    except FileNotFoundError as exc:
        raise InvalidInput(f"no such image file: {label}; check the path") from exc
    except pil.UnidentifiedImageError as exc:
        raise InvalidInput(
            f"{label} is not an image Pillow can read (its bytes are no known image format); "
            "check that it opens in an image viewer, or give it the suffix of its real type"
        ) from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read image {label}: {exc}") from exc


def _size(image: str | os.PathLike[str] | bytes, label: str) -> tuple[int, int]:
    with _opened(image, label) as opened:
        return int(opened.width), int(opened.height)


def _decoded(image: str | os.PathLike[str] | bytes, label: str) -> np.ndarray:
    """The image as an RGB array, its size checked against the pixel limit before decoding."""
    limit = max_image_pixels()
    with _opened(image, label) as opened:
        width, height = opened.size
        if width * height > limit:
            raise InvalidInput(
                f"{label} is {width}x{height} ({width * height / 1e6:.1f} megapixels), over "
                f"the limit of {limit / 1e6:g}; downscale it, or raise SHOAL_MAX_IMAGE_PIXELS "
                "if you trust the file"
            )
        try:
            rgb = opened.convert("RGB")  # decodes: a truncated file fails here
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidInput(
                f"cannot decode image {label} ({exc}); the file may be truncated or damaged"
            ) from exc
    return np.asarray(rgb)


def _reading_order(found: list[Any]) -> str:
    """RapidOCR's boxes as text: boxes whose vertical spans overlap by half are one line."""
    lines: list[_Line] = []
    boxes = []
    for corners, text, score in found:
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        ys = [float(point[1]) for point in corners]
        xs = [float(point[0]) for point in corners]
        boxes.append((min(ys), max(ys), min(xs), str(text).strip()))
    for top, bottom, left, text in sorted(boxes):
        for line in lines:
            overlap = min(bottom, line.bottom) - max(top, line.top)
            if overlap > 0.5 * min(bottom - top, line.bottom - line.top):
                line.words.append((left, text))
                break
        else:
            lines.append(_Line(top, bottom, [(left, text)]))
    return "\n".join(" ".join(text for _, text in sorted(line.words)) for line in lines)
