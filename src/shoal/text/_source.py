"""A file being loaded (`Source`: path, format, bytes decompressed) and its text, decoded.

Compressed files are decompressed in memory, up to `MAX_DECOMPRESSED` bytes; a larger
one is refused with what to do, so a small `.gz` cannot fill the memory.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from shoal.errors import InvalidInput
from shoal.text._formats import FileFormat
from shoal.text._sniff import SNIFF_BYTES

__all__ = [
    "BINARY_SNIFF_BYTES",
    "MAX_DECOMPRESSED",
    "REPLACEMENT_UTF8",
    "Source",
    "binary_error",
    "decode_text",
    "read_text",
    "unreadable",
    "warn_undecodable",
]

_log = logging.getLogger("shoal.text")

# A NUL byte this early means a binary file; real text files never contain one.
BINARY_SNIFF_BYTES = SNIFF_BYTES
REPLACEMENT_UTF8 = "\ufffd".encode()
MAX_DECOMPRESSED = 256 * 2**20
"""The most bytes a compressed file may decompress to."""

_DECOMPRESSORS: dict[str, Callable[[BinaryIO], io.BufferedIOBase]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw),
    "bzip2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}
_DECOMPRESSION_ERRORS = (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile, OSError)


@dataclass(frozen=True)
class Source:
    """A file to load: where it is, how to read it, and its (decompressed) bytes on demand."""

    path: Path
    format: FileFormat

    @property
    def compressed(self) -> bool:
        """True if the file is compressed (its bytes are decompressed in memory)."""
        return self.format.compression is not None

    def read_bytes(self) -> bytes:
        """The file's bytes, decompressed.

        Raises:
            OSError: the file cannot be opened or read.
            InvalidInput: it is damaged, or decompresses to more than `MAX_DECOMPRESSED`.
        """
        compression = self.format.compression
        if compression is None:
            return self.path.read_bytes()
        with self.path.open("rb") as raw:
            try:
                with _DECOMPRESSORS[compression](raw) as stream:
                    data: bytes = stream.read(MAX_DECOMPRESSED + 1)
            except _DECOMPRESSION_ERRORS as exc:
                raise InvalidInput(
                    f"cannot decompress {self.path} ({compression}): {exc or type(exc).__name__}; "
                    "the file may be damaged or truncated"
                ) from exc
        if len(data) > MAX_DECOMPRESSED:
            raise InvalidInput(
                f"{self.path} decompresses to more than {MAX_DECOMPRESSED // 2**20} MiB; "
                "decompress it and ingest the file itself (large text files are streamed)"
            )
        return data

    def open(self) -> BinaryIO:
        """The (decompressed) bytes as a stream: the file itself when it is not compressed."""
        if self.format.compression is None:
            return self.path.open("rb")
        return io.BytesIO(self.read_bytes())

    def base_metadata(self) -> dict[str, Any]:
        """`source`, `type`, and `language` or `compression` when they apply."""
        metadata: dict[str, Any] = {"source": str(self.path), "type": self.format.kind}
        if self.format.language is not None:
            metadata["language"] = self.format.language
        if self.format.compression is not None:
            metadata["compression"] = self.format.compression
        return metadata


def unreadable(file: Path, exc: OSError) -> InvalidInput:
    """The error for a file the system will not let us read (missing, a folder, no permission)."""
    return InvalidInput(
        f"cannot read {file}: {exc.strerror or exc}; check that it exists and is readable"
    )


def binary_error(file: Path) -> str:
    """The message for a file named as text that holds binary data."""
    return (
        f"{file} looks binary, not text; it has NUL bytes near its start. "
        "Convert it to plain text first, or give it the suffix of its real format"
    )


def read_text(source: Source) -> tuple[str, dict[str, Any]]:
    """The file's text (UTF-8, bad bytes replaced) and the metadata that decoding adds.

    Raises:
        InvalidInput: the file has NUL bytes near its start (binary), or is damaged.
    """
    data = source.read_bytes()
    return decode_text(source.path, data)


def decode_text(file: Path, data: bytes) -> tuple[str, dict[str, Any]]:
    """`data` as text (UTF-8, bad bytes replaced, counted in `decode_errors`)."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise InvalidInput(binary_error(file))
    try:
        return data.decode("utf-8-sig"), {}
    except UnicodeDecodeError:
        text = data.decode("utf-8-sig", errors="replace")
    # "replace" puts one U+FFFD per undecodable sequence; U+FFFDs already in the file are
    # valid UTF-8 (EF BF BD) and can never be swallowed by an error, so subtract them.
    errors = text.count("\ufffd") - data.count(REPLACEMENT_UTF8)
    warn_undecodable(file, errors)
    return text, {"decode_errors": errors}


def warn_undecodable(file: Path, errors: int) -> None:
    """Log that `errors` undecodable byte sequences of `file` were replaced with U+FFFD."""
    _log.warning(
        "%s is not valid UTF-8: replaced %d undecodable byte sequence(s) with U+FFFD; "
        "re-save it as UTF-8 to keep those characters",
        file,
        errors,
    )
