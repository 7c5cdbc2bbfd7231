"""Reading files as they stream: large text files in sections, chunk positions in their source.

`iter_documents` is `load_file` for files of any size: a text or Markdown file larger than
`stream_above` bytes is read block by block and yielded in sections of about
`section_chars` characters that end at a paragraph break (else a line break, else a
space), so memory stays bounded however large the file is. Each section is a Document
whose metadata says where it lies in the file (`lines`, `bytes`, `section`).

`locate_chunks` finds where each chunk of a document lies in it (character offset, first
and last line, byte span), for the metadata that lets a reader cite a chunk.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from shoal.errors import InvalidInput
from shoal.text._formats import FileFormat, detect
from shoal.text._loaders import load_file
from shoal.text._source import (
    BINARY_SNIFF_BYTES,
    REPLACEMENT_UTF8,
    binary_error,
    unreadable,
    warn_undecodable,
)
from shoal.types import Document

__all__ = [
    "SECTION_CHARS",
    "STREAM_ABOVE",
    "ChunkSpan",
    "file_digest",
    "is_streamed",
    "iter_documents",
    "locate_chunks",
]

STREAM_ABOVE = 8 * 2**20
"""Text files larger than this many bytes are read in sections instead of whole."""
SECTION_CHARS = 2**20
"""About how many characters one section of a streamed file holds."""

_BLOCK_BYTES = 2**20
_BOM = b"\xef\xbb\xbf"
_STREAMED_KINDS = frozenset({"text", "markdown", "rst", "asciidoc"})
# Where a section may end, best first; a section ends after the last one in its second half.
_BREAKS = ("\n\n", "\n", " ")


@dataclass(frozen=True)
class ChunkSpan:
    """Where a chunk lies in its document: character offset, lines (1-based, inclusive), bytes."""

    start: int
    first_line: int
    last_line: int
    start_byte: int
    end_byte: int


def file_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, in hex, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while block := stream.read(_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def iter_documents(
    path: str | os.PathLike[str],
    *,
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
    stream_above: int = STREAM_ABOVE,
    section_chars: int = SECTION_CHARS,
) -> Iterator[Document]:
    """The Documents of one file, yielded as they are read; large text files come in sections.

    Files up to `stream_above` bytes, and files of other types, give what `load_file`
    gives. Larger plain text, Markdown, reStructuredText and AsciiDoc files (not
    compressed ones) give sections of about `section_chars` characters ending at paragraph breaks, with `section` (0-based), `lines` and (for valid UTF-8)
    `bytes` spans in their metadata.

    Raises:
        InvalidInput: as `load_file`: unsupported, unreadable, binary or malformed.
    """
    file = Path(path)
    try:
        streamed = is_streamed(file, size=file.stat().st_size, stream_above=stream_above)
    except OSError as exc:
        raise unreadable(file, exc) from exc
    if not streamed:
        yield from load_file(file, text_columns=text_columns, text_field=text_field)
        return
    try:
        yield from _sections(file, section_chars, _streamed_kind(file) or "text")
    except OSError as exc:
        raise unreadable(file, exc) from exc


def is_streamed(path: str | os.PathLike[str], *, size: int, stream_above: int) -> bool:
    """True if `iter_documents` reads this file (of `size` bytes) in sections, not whole."""
    return size > stream_above and _streamed_kind(Path(path)) is not None


def _streamed_kind(file: Path) -> str | None:
    """The kind of a file that may be read in sections (plain text kinds, uncompressed)."""
    found = detect(file)
    if isinstance(found, FileFormat) and found.compression is None:
        return found.kind if found.kind in _STREAMED_KINDS else None
    return None


def _sections(file: Path, section_chars: int, kind: str) -> Iterator[Document]:
    at = _Position()
    buffer = ""
    for text, errors, raw_start in _decoded_blocks(file):
        if raw_start == 0 and text.startswith("\ufeff"):  # a UTF-8 byte order mark
            text, at.byte = text[1:], len(_BOM)
        at.add_errors(errors)
        buffer += text
        while len(buffer) >= 2 * section_chars:
            cut = _cut(buffer, section_chars)
            section, buffer = buffer[:cut], buffer[cut:]
            yield from at.emit(file, kind, section)
    if buffer:
        yield from at.emit(file, kind, buffer)
    if at.errors_total:
        warn_undecodable(file, at.errors_total)


class _Position:
    """Where the next section of a streamed file starts, and the decoding errors met so far."""

    def __init__(self) -> None:
        self.line, self.byte, self.number = 1, 0, 0
        self.errors_total = self.errors_pending = 0

    def add_errors(self, errors: int) -> None:
        self.errors_total += errors
        self.errors_pending += errors

    def emit(self, file: Path, kind: str, section: str) -> Iterator[Document]:
        """Yield one section (if it has text) and move past it.

        Byte spans are exact until an undecodable sequence has been replaced; from then on
        sections carry `decode_errors` (those met in the blocks read for them) instead.
        """
        newlines = section.count("\n")
        size = len(section.encode("utf-8", "surrogatepass"))
        if section.strip():
            last = self.line + newlines - (1 if section.endswith("\n") else 0)
            metadata: dict[str, object] = {
                "source": str(file),
                "type": kind,
                "section": self.number,
                "lines": [self.line, max(self.line, last)],
            }
            if self.errors_total == 0:
                metadata["bytes"] = [self.byte, self.byte + size]
            if self.errors_pending:
                metadata["decode_errors"] = self.errors_pending
                self.errors_pending = 0
            self.number += 1
            yield Document(text=section, metadata=metadata)
        self.line += newlines
        self.byte += size


def _cut(buffer: str, section_chars: int) -> int:
    """Where to end a section: after the last break in buffer[section_chars // 2 : section_chars]."""
    for mark in _BREAKS:
        at = buffer.rfind(mark, section_chars // 2, section_chars)
        if at >= 0:
            return at + len(mark)
    return section_chars


def _decoded_blocks(file: Path) -> Iterator[tuple[str, int, int]]:
    """(text, undecodable sequences replaced, offset of the block) for each block of the file.

    Blocks end on a character boundary, so no character is split between two of them.
    """
    with file.open("rb") as stream:
        offset = 0
        carry = b""
        while True:
            block = stream.read(_BLOCK_BYTES)
            data = carry + block
            if offset == 0 and b"\0" in data[:BINARY_SNIFF_BYTES]:
                raise InvalidInput(binary_error(file))
            if not data:
                return
            cut = len(data) if not block else _char_boundary(data)
            head, carry = data[:cut], data[cut:]
            text = head.decode("utf-8", errors="replace")
            errors = text.count("\ufffd") - head.count(REPLACEMENT_UTF8)
            yield text, errors, offset
            offset += len(head)
            if not block:
                return


def _char_boundary(data: bytes) -> int:
    """The largest n <= len(data) such that data[:n] does not end inside a UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            need = 2 if byte >= 0xC0 else 1
            need = 3 if byte >= 0xE0 else need
            need = 4 if byte >= 0xF0 else need
            return len(data) - back if need > back else len(data)
    return len(data)


def locate_chunks(text: str, chunks: Sequence[str], *, overlapping: bool) -> list[ChunkSpan]:
    """Where each chunk (in order, as a splitter made them from `text`) lies in `text`.

    A chunk is looked for from where the previous one ended (or, when chunks overlap,
    just after where it started); offsets and line/byte counts advance incrementally, so
    the whole document costs one pass.
    """
    spans: list[ChunkSpan] = []
    position = byte = search = 0
    line = 1
    for chunk in chunks:
        found = text.find(chunk, search)
        start = found if found >= 0 else search
        if start < position:  # cannot happen for a splitter's chunks; keep the pass monotonic
            start = position
        line += text.count("\n", position, start)
        byte += len(text[position:start].encode("utf-8", "surrogatepass"))
        position = start
        end = start + len(chunk)
        last_line = line + chunk.count("\n") - (1 if chunk.endswith("\n") else 0)
        size = len(chunk.encode("utf-8", "surrogatepass"))
        spans.append(ChunkSpan(start, line, max(line, last_line), byte, byte + size))
        search = start + 1 if overlapping else end
    return spans
