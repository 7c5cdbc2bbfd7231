"""Image files into a dataset whose embedder embeds images: one row per image.

Each row's vector is the image's own (`Embedder.embed_images`); its text is a title made
from the file name (and the EXIF description, if any), so keyword search finds it too;
its metadata holds the format, width, height and readable EXIF tags; the file's bytes go
to the binary column `image` and a JPEG thumbnail (at most 256 pixels a side) to
`thumbnail`. A file that is not a readable image (truncated, a text file named .png, over
the pixel limit) is a per-file error in the report; the rest of the folder goes on.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal._checks import needs
from shoal.embeddings import IMAGE_SUFFIXES, Embedder, describe_image, load_image
from shoal.errors import UnreadableImage
from shoal.store import Binary, Stage

__all__ = [
    "IMAGE_COLUMN",
    "IMAGE_SPLITTER",
    "THUMBNAIL_COLUMN",
    "THUMBNAIL_SIDE",
    "ImageQueue",
    "ImageRow",
    "is_image",
    "read_image",
    "thumbnail",
]

IMAGE_COLUMN = "image"
THUMBNAIL_COLUMN = "thumbnail"
THUMBNAIL_SIDE = 256
IMAGE_SPLITTER = "image:v1"
"""What stands for the splitter on image rows: an image is one row, never cut."""

_SEPARATORS = re.compile(r"[-_.\s]+")


def is_image(path: Path) -> bool:
    """True for the file types ingested as images (.jpg .jpeg .png .webp .gif)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


@dataclass
class ImageRow:
    """One image file as a row: text, metadata and the bytes of the image and its thumbnail."""

    text: str
    metadata: dict[str, Any]
    data: bytes
    thumbnail: bytes


def thumbnail(data: bytes, *, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of the image at most `side` pixels a side (transparency shown on white)."""
    pil = needs("PIL.Image", "images")
    image = load_image(data)
    image.thumbnail((side, side), pil.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _title(path: Path, info: dict[str, Any]) -> str:
    words = _SEPARATORS.sub(" ", path.stem).strip() or path.name
    description = info.get("exif_ImageDescription")
    if isinstance(description, str) and description.strip():
        return f"{words}: {description.strip()}"
    return words


def read_image(path: Path, data: bytes) -> ImageRow:
    """The row for image file `path` whose bytes are `data`.

    Raises:
        UnreadableImage: not an image, truncated, or over the pixel limit.
    """
    try:
        info = describe_image(data)
    except UnreadableImage as exc:  # each reason in the report names its file
        message = str(exc).removeprefix(f"the image ({len(data)} bytes)").strip()
        raise UnreadableImage(f"{path} {message}") from exc
    metadata: dict[str, Any] = {"source": str(path), "type": "image", "name": path.name, **info}
    title = _title(path, info)
    metadata["title"] = title
    return ImageRow(text=title, metadata=metadata, data=data, thumbnail=thumbnail(data))


@dataclass
class ImageQueue:
    """Image rows waiting to be embedded and staged together."""

    ids: list[str] = field(default_factory=list)
    rows: list[ImageRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, row_id: str, row: ImageRow) -> None:
        """Queue one row under its id."""
        self.ids.append(row_id)
        self.rows.append(row)

    def flush(self, stage: Stage, embedder: Embedder) -> int:
        """Embed the queued images, stage them with their bytes and thumbnails; return how many."""
        if not self.rows:
            return 0
        vectors = embedder.embed_images([row.data for row in self.rows])
        stage.add(
            [row.text for row in self.rows],
            metadatas=[row.metadata for row in self.rows],
            embeddings=vectors,
            columns={
                IMAGE_COLUMN: Binary([row.data for row in self.rows], "image/*"),
                THUMBNAIL_COLUMN: Binary([row.thumbnail for row in self.rows], "image/jpeg"),
            },
        )
        count = len(self.rows)
        self.ids, self.rows = [], []
        return count
