"""One file into chunks: load (streaming large text files), split, and say where each chunk lies."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.text import RecursiveCharacterSplitter, is_streamed, iter_documents, locate_chunks
from shoal.types import Document

__all__ = ["Chunker"]

# Loader metadata that describes a document as a whole; a chunk states its own span instead.
_DOCUMENT_ONLY = ("section",)


@dataclass(frozen=True)
class Chunker:
    """Splits files into chunk Documents with source metadata (path, type, line/byte span, page)."""

    splitter: RecursiveCharacterSplitter
    text_columns: Sequence[str] | None
    text_field: str
    stream_above: int

    @property
    def fingerprint(self) -> str:
        """The splitter's fingerprint plus loader options that change the text."""
        parts = [self.splitter.fingerprint]
        if self.text_columns is not None:
            columns = (
                [self.text_columns] if isinstance(self.text_columns, str) else self.text_columns
            )
            parts.append("columns=" + ",".join(columns))
        if self.text_field != "text":
            parts.append(f"field={self.text_field}")
        return " ".join(parts)

    def streamed(self, file: Path, size: int) -> bool:
        """True if the file is read in sections (so its chunks are counted in a first pass)."""
        return is_streamed(file, size=size, stream_above=self.stream_above)

    def chunks(
        self, file: Path, *, on_document: Callable[[Document], None] | None = None
    ) -> Iterator[Document]:
        """The file's chunks in order, each with its document's metadata and its own span.

        `on_document` sees each loaded document (or section) before its chunks.

        Raises:
            InvalidInput: the file cannot be loaded (see `shoal.text.load_file`).
        """
        overlapping = self.splitter.chunk_overlap > 0
        for document in iter_documents(
            file,
            text_columns=self.text_columns,
            text_field=self.text_field,
            stream_above=self.stream_above,
        ):
            if on_document is not None:
                on_document(document)
            pieces = [p for p in self.splitter.split_text(document.text) if p.strip()]
            if not pieces:
                continue
            base = {k: v for k, v in document.metadata.items() if k not in _DOCUMENT_ONLY}
            lines, spans_bytes = base.get("lines"), base.get("bytes")
            if not isinstance(lines, list):
                for piece in pieces:
                    yield Document(piece, dict(base))
                continue
            exact = isinstance(spans_bytes, list) and "decode_errors" not in base
            for piece, span in zip(
                pieces,
                locate_chunks(document.text, pieces, overlapping=overlapping),
                strict=True,
            ):
                metadata: dict[str, Any] = dict(base)
                metadata["lines"] = [lines[0] + span.first_line - 1, lines[0] + span.last_line - 1]
                if exact:
                    assert isinstance(spans_bytes, list)
                    start = spans_bytes[0]
                    metadata["bytes"] = [start + span.start_byte, start + span.end_byte]
                else:
                    metadata.pop("bytes", None)
                yield Document(piece, metadata)

    def count(self, file: Path) -> int:
        """How many chunks `chunks(file)` yields (a pass over the file, keeping nothing)."""
        return sum(1 for _ in self.chunks(file))
