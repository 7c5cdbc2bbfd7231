"""Which loader reads a file, or why none does: `detect(path)` -> `FileFormat` or `Skipped`.

The name decides first: a compression suffix (`.gz`, `.bz2`, `.xz`) is looked through,
so `notes.md.gz` is Markdown; then a known suffix (`.md`, `.rst`, `.py`...), a well-known
name (`README`, `NEWS`, `Makefile`...), a man page section (`git.1`, if it is roff), or a
known format Shoal does not read (`.xlsx`: export it as CSV). Anything else is sniffed
(see `_sniff`): text is read as plain text (as code if it starts with a `#!` line naming
a language), binary data is skipped.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from shoal.text._code import CODE_SUFFIXES, code_language, shebang_language
from shoal.text._sniff import SNIFF_BYTES, is_roff, not_text

__all__ = [
    "COMPRESSIONS",
    "SKIP_REASONS",
    "SUPPORTED_SUFFIXES",
    "FileFormat",
    "SkipReason",
    "Skipped",
    "count_skipped",
    "detect",
    "open_decompressed",
    "supported_kinds",
]

SkipReason = Literal[
    "binary",
    "unreadable",
    "broken_symlink",
    "excluded",
    "gitignored",
    "unsupported",
    "hidden",
    "special_file",
    "symlinked_folder",
]
SKIP_REASONS: dict[str, str] = {
    "binary": "binary",
    "unreadable": "unreadable",
    "broken_symlink": "broken symlink",
    "excluded": "excluded",
    "gitignored": "ignored by .gitignore",
    "unsupported": "unsupported",
    "hidden": "hidden",
    "special_file": "not a regular file",
    "symlinked_folder": "symlinked folder",
}
"""Each reason a file is skipped, and how a report names it."""

COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}
"""Compression suffixes looked through: the name inside decides the type."""

_BY_SUFFIX: dict[str, str] = {
    **dict.fromkeys((".txt", ".text"), "text"),
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd"), "markdown"),
    **dict.fromkeys((".rst", ".rest"), "rst"),
    **dict.fromkeys((".adoc", ".asciidoc"), "asciidoc"),
    **dict.fromkeys((".tex", ".ltx"), "tex"),
    **dict.fromkeys((".html", ".htm", ".xhtml"), "html"),
    ".pdf": "pdf",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".docx": "docx",
    ".epub": "epub",
    ".ipynb": "notebook",
    ".eml": "email",
    ".man": "man",
}
_TEXT_NAMES = frozenset(
    {
        *("readme", "news", "changelog", "changes", "history", "license", "licence"),
        *("copying", "copyright", "authors", "contributors", "install", "thanks", "todo"),
        *("notice", "maintainers", "credits", "bugs", "hacking", "faq", "releasenotes"),
    }
)
_MAN_SECTION = re.compile(r"\.[1-9n][a-z]{0,4}$")
_UNSUPPORTED: dict[str, str] = {
    ".doc": "an old binary Word document: save it as .docx",
    ".rtf": "a Rich Text document: save it as .docx or plain text",
    ".odt": "an OpenDocument text: save it as .docx",
    **dict.fromkeys(
        (".xls", ".xlsx", ".ods", ".numbers"), "a spreadsheet: export its sheets as CSV"
    ),
    **dict.fromkeys((".ppt", ".pptx", ".odp", ".key"), "a presentation: export it as PDF"),
    ".pages": "a Pages document: export it as .docx or PDF",
    **dict.fromkeys(
        (".zip", ".tar", ".tgz", ".tbz2", ".txz", ".7z", ".rar"), "an archive: extract it first"
    ),
    **dict.fromkeys((".mobi", ".azw", ".azw3"), "an e-book format: convert it to EPUB"),
    ".msg": "an Outlook message: save it as .eml",
    ".svg": "an SVG image",
}
_BINARY: dict[str, str] = {
    **dict.fromkeys(
        (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".ico", ".webp", ".heic"),
        "an image",
    ),
    **dict.fromkeys((".psd", ".xcf", ".ai", ".eps"), "an image"),
    **dict.fromkeys((".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aac", ".opus"), "audio"),
    **dict.fromkeys((".mp4", ".mkv", ".avi", ".mov", ".webm", ".wmv"), "a video"),
    **dict.fromkeys((".ttf", ".otf", ".woff", ".woff2", ".eot"), "a font"),
    **dict.fromkeys(
        (".exe", ".dll", ".so", ".dylib", ".a", ".o", ".obj", ".class", ".jar", ".pyc"),
        "a compiled program or library",
    ),
    **dict.fromkeys((".pyo", ".wasm", ".bin", ".iso", ".dmg", ".deb", ".rpm"), "a binary file"),
    **dict.fromkeys((".db", ".sqlite", ".sqlite3"), "a database"),
    **dict.fromkeys(
        (".npy", ".npz", ".pkl", ".pickle", ".parquet", ".arrow", ".feather", ".h5", ".hdf5"),
        "binary data",
    ),
    **dict.fromkeys((".onnx", ".pt", ".safetensors", ".gguf"), "model weights"),
}
_OPENERS: dict[str, Callable[[Path, str], BinaryIO]] = {
    "gzip": gzip.open,  # type: ignore[dict-item]
    "bzip2": bz2.open,  # type: ignore[dict-item]
    "xz": lzma.open,  # type: ignore[dict-item]
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({*_BY_SUFFIX, *CODE_SUFFIXES})
"""Suffixes with a loader (`.md`, `.rst`, `.py`...); their `.gz`/`.bz2`/`.xz` forms are read too."""


@dataclass(frozen=True)
class FileFormat:
    """How to read a file: its kind of content (`markdown`, `code`...), language, compression."""

    kind: str
    language: str | None = None
    compression: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file (or folder) not read, why (one of `SKIP_REASONS`) and, in words, what it is."""

    path: str
    reason: SkipReason
    detail: str = ""
    folder: bool = False

    def __str__(self) -> str:
        shown = self.path + ("/" if self.folder else "")
        label = SKIP_REASONS[self.reason]
        return f"{shown} ({label}: {self.detail})" if self.detail else f"{shown} ({label})"

    def to_dict(self) -> dict[str, object]:
        """The skipped entry as JSON-ready data."""
        return {
            "path": self.path,
            "reason": self.reason,
            "detail": self.detail,
            "folder": self.folder,
        }


def count_skipped(skipped: Sequence[Skipped]) -> str:
    """Skipped entries counted by reason, most first (then by name): ``"3 binary, 1 hidden"``."""
    counts = Counter(SKIP_REASONS[s.reason] for s in skipped)
    ordered = sorted(counts.items(), key=lambda c: (-c[1], c[0]))
    return ", ".join(f"{n} {label}" for label, n in ordered)


def supported_kinds() -> str:
    """The kinds of file Shoal reads, in words, for messages that say what would be read."""
    return (
        "text (also README, NEWS, CHANGELOG... and any file that sniffs as text), Markdown, "
        "reStructuredText, AsciiDoc, LaTeX, source code, man pages, HTML, PDF, CSV, JSONL, "
        "DOCX, EPUB, Jupyter notebooks and .eml e-mails, each also as .gz, .bz2 or .xz"
    )


def open_decompressed(path: Path, compression: str | None) -> BinaryIO:
    """The file opened for reading bytes, decompressed if `compression` names a format."""
    if compression is None:
        return path.open("rb")
    opened: BinaryIO = _OPENERS[compression](path, "rb")
    return opened


def detect(path: str | Path) -> FileFormat | Skipped:
    """The format Shoal reads `path` as, or why it is skipped (binary, unsupported, unreadable).

    Only files whose name does not decide are read (their first 8 KiB, decompressed).
    """
    file = Path(path)
    name = file.name
    lower = name.lower()
    compression = None
    for suffix, method in COMPRESSIONS.items():
        if lower.endswith(suffix) and len(lower) > len(suffix):
            compression, name, lower = method, name[: -len(suffix)], lower[: -len(suffix)]
            break
    dot = lower.rfind(".")
    suffix = lower[dot:] if dot > 0 else ""
    if compression is not None and suffix == ".tar":
        return Skipped(str(file), "unsupported", "a compressed tar archive: extract it first")
    named = code_language(name, by_suffix=False)  # CMakeLists.txt is CMake, not text
    if suffix in _BY_SUFFIX and named is None:
        return FileFormat(_BY_SUFFIX[suffix], compression=compression)
    language = named or code_language(name)
    if language is not None:
        return FileFormat("code", language=language, compression=compression)
    if suffix in _UNSUPPORTED:
        return Skipped(str(file), "unsupported", _UNSUPPORTED[suffix])
    if suffix in _BINARY:
        return Skipped(str(file), "binary", f"{_BINARY[suffix]} ({suffix})")
    if lower.split(".", 1)[0] in _TEXT_NAMES:
        return FileFormat("text", compression=compression)
    return _sniffed(file, compression, man=bool(_MAN_SECTION.search(lower)))


def _sniffed(file: Path, compression: str | None, *, man: bool) -> FileFormat | Skipped:
    try:
        with open_decompressed(file, compression) as stream:
            head = stream.read(SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        detail = f"cannot decompress it ({compression}): {why}" if compression else why
        return Skipped(str(file), "unreadable", detail)
    if man and is_roff(head):
        return FileFormat("man", compression=compression)
    why = not_text(head)
    if why is not None:
        return Skipped(str(file), "binary", why)
    language = shebang_language(head)
    if language is not None:
        return FileFormat("code", language=language, compression=compression)
    return FileFormat("text", compression=compression)
