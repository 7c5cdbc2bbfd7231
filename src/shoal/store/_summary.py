"""The summary table of a dataset's columns ("tensors"), in the layout Deep Lake prints."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from shoal.store._records import CONTENT_TYPE_KEY
from shoal.types import EmbedderSpec

__all__ = ["ColumnInfo", "DatasetInfo", "describe_columns"]

_COMPRESSED = {"png", "jpeg", "jpg", "webp", "gif", "mp3", "wav", "flac", "ogg", "mp4"}


@dataclass(frozen=True)
class ColumnInfo:
    """One column of the summary: name, htype, shape, dtype and compression."""

    tensor: str
    htype: str
    shape: tuple[int, ...]
    dtype: str
    compression: str | None


@dataclass(frozen=True)
class DatasetInfo:
    """What `Dataset.summary()` prints: location, version, embedder and the column table."""

    uri: str
    version: int
    branch: str
    rows: int
    embedder: EmbedderSpec
    columns: tuple[ColumnInfo, ...]
    builds: tuple[dict[str, Any], ...] = field(default=())
    """The embedder builds that wrote the vectors (precision, runtime, CPU), each `since_version`."""
    index_storage: str = "auto"
    """How the vector index stores vectors: "flat", "compressed", or "auto" (by size)."""
    language: str = "english"
    """The language keyword search analyses text in ("auto": detected at the first write)."""

    def __str__(self) -> str:
        header = ("tensor", "htype", "shape", "dtype", "compression")
        cells = [header] + [
            (c.tensor, c.htype, str(c.shape), c.dtype, str(c.compression)) for c in self.columns
        ]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        lines = [
            f"Dataset(path={self.uri!r}, tensors={[c.tensor for c in self.columns]})",
            f"version {self.version} on branch {self.branch}, {self.rows} rows, "
            f"embedder {self.embedder.name} ({self.embedder.dimensions}-d, {self.embedder.metric})",
        ]
        for build in self.builds:
            described = ", ".join(f"{k} {v}" for k, v in build.items() if k != "since_version")
            lines.append(f"  vectors since version {build.get('since_version')}: {described}")
        if self.index_storage != "auto":
            lines.append(f"vector index: {self.index_storage}")
        if self.language != "english":
            lines.append(f"keyword language: {self.language}")
        lines.append("")
        for number, row in enumerate(cells):
            lines.append(
                "  ".join(
                    cell.center(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
            if number == 0:
                lines.append(
                    "  ".join(
                        ("-" * len(cell)).center(w) for cell, w in zip(row, widths, strict=True)
                    ).rstrip()
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The summary as an HTML table (Jupyter shows it for a Dataset or its info())."""
        spec = self.embedder
        caption = (
            f"{self.uri}: version {self.version} on branch {self.branch}, {self.rows:,} rows, "
            f"embedder {spec.name} ({spec.dimensions}-d, {spec.metric})"
            + (f", keyword language {self.language}" if self.language != "english" else "")
        )
        header = "".join(
            f"<th>{name}</th>" for name in ("tensor", "htype", "shape", "dtype", "compression")
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(cell)}</td>"
                for cell in (c.tensor, c.htype, str(c.shape), c.dtype, str(c.compression))
            )
            + "</tr>"
            for c in self.columns
        )
        return (
            f"<table><caption>{html.escape(caption)}</caption>"
            f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        )


def describe_columns(schema: pa.Schema, rows: int) -> tuple[ColumnInfo, ...]:
    """Summary rows for every column, sorted by name as Deep Lake does."""
    return tuple(_describe(field, rows) for field in sorted(schema, key=lambda f: f.name))


def _describe(field: pa.Field, rows: int) -> ColumnInfo:
    kind = field.type
    if field.name == "embedding" and pa.types.is_fixed_size_list(kind):
        return ColumnInfo(
            field.name, "embedding", (rows, kind.list_size), _dtype(kind.value_type), None
        )
    if field.name == "metadata":
        return ColumnInfo(field.name, "json", (rows, 1), "str", None)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ColumnInfo(field.name, "text", (rows, 1), "str", None)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        content_type = (
            (field.metadata or {}).get(CONTENT_TYPE_KEY, b"application/octet-stream").decode()
        )
        major, _, minor = content_type.partition("/")
        htype = major if major in ("image", "audio", "video") else "binary"
        compression = minor if minor in _COMPRESSED else None
        return ColumnInfo(
            field.name, htype, (rows, 1), "bytes", "jpeg" if compression == "jpg" else compression
        )
    return ColumnInfo(field.name, "generic", (rows, 1), _dtype(kind), None)


def _dtype(kind: pa.DataType) -> str:
    try:
        return str(np.dtype(kind.to_pandas_dtype()).name)
    except (NotImplementedError, TypeError):
        return str(kind)
