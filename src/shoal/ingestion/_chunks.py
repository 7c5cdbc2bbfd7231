"""One file into chunks: load (streaming large text files), split, and say where each chunk lies.

Each chunk also gets the context it lies in: the document's `title` and the path of
`headings` over the chunk's start (see `shoal.text.outline`); the ingest embeds the chunk
with that context in front (`shoal.text.with_context`) and stores the chunk itself.
Source code is cut at top-level definitions first (`shoal.text.code_separators`), unless
the splitter was given separators of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.text import (
    HeadingTrail,
    RecursiveCharacterSplitter,
    code_separators,
    is_streamed,
    iter_documents,
    locate_chunks,
    outline,
)
from shoal.types import Document

__all__ = ["Chunker"]

# Loader metadata that describes a document as a whole; a chunk states its own span instead.
_DOCUMENT_ONLY = ("section",)
_PROSE_SEPARATORS = ["\n\n", "\n", " ", ""]


@dataclass(frozen=True)
class Chunker:
    """Splits files into chunk Documents with source metadata (path, type, line/byte span, page)
    and their context (title, headings)."""

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
        """The file's chunks in order, each with its document's metadata, its own span and
        its context (`title`, `headings`).

        `on_document` sees each loaded document (or section) before its chunks.

        Raises:
            InvalidInput: the file cannot be loaded (see `shoal.text.load_file`).
        """
        overlapping = self.splitter.chunk_overlap > 0
        trail = HeadingTrail()
        file_title: str | None = None
        for document in iter_documents(
            file,
            text_columns=self.text_columns,
            text_field=self.text_field,
            stream_above=self.stream_above,
        ):
            if on_document is not None:
                on_document(document)
            meta = document.metadata
            later_section = isinstance(meta.get("section"), int) and meta["section"] > 0
            given = meta.get("title") if isinstance(meta.get("title"), str) else None
            structure = outline(
                document.text,
                str(meta.get("type", "")),
                title=given or (file_title if later_section else None),
                promote=not later_section,
            )
            if not later_section:
                trail, file_title = HeadingTrail(), structure.title
            trail.start(structure.headings)
            pieces = [p for p in self._splitter_for(meta).split_text(document.text) if p.strip()]
            if not pieces:
                continue
            base = {k: v for k, v in meta.items() if k not in _DOCUMENT_ONLY}
            if structure.title:
                base["title"] = structure.title
            lines, spans_bytes = base.get("lines"), base.get("bytes")
            exact = isinstance(spans_bytes, list) and "decode_errors" not in base
            for piece, span in zip(
                pieces,
                locate_chunks(document.text, pieces, overlapping=overlapping),
                strict=True,
            ):
                metadata: dict[str, Any] = dict(base)
                headings = trail.at(span.start)
                if headings:
                    metadata["headings"] = headings
                if isinstance(lines, list):
                    metadata["lines"] = [
                        lines[0] + span.first_line - 1,
                        lines[0] + span.last_line - 1,
                    ]
                    if exact:
                        assert isinstance(spans_bytes, list)
                        start = spans_bytes[0]
                        metadata["bytes"] = [start + span.start_byte, start + span.end_byte]
                    else:
                        metadata.pop("bytes", None)
                yield Document(piece, metadata)

    def _splitter_for(self, metadata: dict[str, Any]) -> RecursiveCharacterSplitter:
        """The splitter for a document: for code with the default splitter, one that cuts at
        top-level definitions first."""
        language = metadata.get("language")
        splitter = self.splitter
        if (
            metadata.get("type") != "code"
            or not isinstance(language, str)
            or splitter.separators != _PROSE_SEPARATORS
            or splitter.is_separator_regex
        ):
            return splitter
        code = copy.copy(splitter)
        code.separators = code_separators(language)
        code.is_separator_regex = True
        return code

    def count(self, file: Path) -> int:
        """How many chunks `chunks(file)` yields (a pass over the file, keeping nothing)."""
        return sum(1 for _ in self.chunks(file))
