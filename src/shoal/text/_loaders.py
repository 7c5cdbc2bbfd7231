"""Document loaders: text, Markdown, HTML, PDF, CSV and JSON Lines files into `Document`s.

`load_file` picks the format from the file's suffix. Every problem with a file is raised
as `InvalidInput` naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from shoal.errors import InvalidInput, MissingDependency
from shoal.types import Document

__all__ = [
    "BINARY_SNIFF_BYTES",
    "REPLACEMENT_UTF8",
    "SUPPORTED_SUFFIXES",
    "binary_error",
    "load_file",
    "unreadable",
    "warn_undecodable",
]

_log = logging.getLogger("shoal.text")

# A NUL byte this early means a binary file; real text files never contain one.
BINARY_SNIFF_BYTES = 8192
REPLACEMENT_UTF8 = "\ufffd".encode()
_DEFAULT_TEXT_COLUMNS = ("text", "content", "body")

_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"),
        *("tr", "ul"),
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Options:
    text_columns: Sequence[str] | None
    text_field: str


def load_file(
    path: str | os.PathLike[str],
    *,
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
) -> list[Document]:
    """Load one file into Documents, choosing the format by its suffix (see `SUPPORTED_SUFFIXES`).

    `.txt`/`.md`/`.html`/`.htm` give one Document, `.pdf` one per page with text, `.csv`
    one per row with text (`text_columns` picks the columns, default those named
    text/content/body, else all), `.jsonl` one per line with text (`text_field` names
    the key). The loader's own metadata keys (`source`, `type`, `row`/`line`/`page`)
    take precedence over columns or keys of the same name. An empty file gives `[]`.

    Raises:
        InvalidInput: the suffix is unsupported, or the file is unreadable, binary,
            malformed, encrypted, or lacks the requested column or field.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise InvalidInput(
            f"unsupported file type '{suffix or file.name}' ({file}); supported: "
            f"{', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    try:
        if file.stat().st_size == 0:
            return []
        return loader(file, _Options(text_columns=text_columns, text_field=text_field))
    except OSError as exc:
        raise unreadable(file, exc) from exc


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


def _read_text(file: Path) -> tuple[str, dict[str, Any]]:
    """The file's text (UTF-8, bad bytes replaced) and the metadata that decoding adds."""
    data = file.read_bytes()
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


def _load_plain(file: Path, options: _Options) -> list[Document]:
    text, extra = _read_text(file)
    if not text.strip():
        return []
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    kind = "markdown" if file.suffix.lower() == ".md" else "text"
    size = file.stat().st_size
    start = size - len(text.encode("utf-8", "surrogatepass")) if not extra else 0  # after a BOM
    metadata: dict[str, Any] = {
        "source": str(file),
        "type": kind,
        "lines": [1, lines],
        "bytes": [max(0, start), size],
        **extra,
    }
    return [Document(text=text, metadata=metadata)]


class _VisibleText(HTMLParser):
    """Collects an HTML page's visible text, one line per block element, and its title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.title_pieces: list[str] = []
        self.has_title = False
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Enter an element: start hiding, a title, a new line or a new cell."""
        self._boundary(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        """Leave an element."""
        self._boundary(tag, opening=False)

    def handle_data(self, data: str) -> None:
        """Keep text outside hidden elements, with its whitespace collapsed."""
        if self._skip_depth:
            return
        if self._in_title:
            self.title_pieces.append(data)
        else:
            self.pieces.append(_WHITESPACE.sub(" ", data))

    def _boundary(self, tag: str, *, opening: bool) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = self._skip_depth + 1 if opening else max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = opening
            self.has_title = True
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")
        elif tag in _CELL_TAGS and opening:
            self.pieces.append(" ")

    def text(self) -> str:
        """The visible text: blank lines dropped, each line stripped."""
        lines = (line.strip() for line in "".join(self.pieces).split("\n"))
        return "\n".join(line for line in lines if line)


def _load_html(file: Path, options: _Options) -> list[Document]:
    raw, extra = _read_text(file)
    parser = _VisibleText()
    parser.feed(raw)
    parser.close()
    text = parser.text()
    if not text:
        return []
    metadata: dict[str, Any] = {"source": str(file), "type": "html"}
    if parser.has_title:
        metadata["title"] = _WHITESPACE.sub(" ", "".join(parser.title_pieces)).strip()
    metadata.update(extra)
    return [Document(text=text, metadata=metadata)]


def _load_pdf(file: Path, options: _Options) -> list[Document]:
    try:
        # Optional: PDFs only; importing pypdf would cost every `import shoal` ~60 ms.
        from pypdf import PasswordType, PdfReader
    except ImportError as exc:
        raise MissingDependency(
            f"reading {file} needs pypdf: pip install 'shoal[pdf]' (or pip install pypdf)"
        ) from exc
    try:
        # pypdf logs what it finds wrong in a damaged file; the error below says it for us.
        with _quiet_logger("pypdf"):
            reader = PdfReader(file)
            # Many PDFs are encrypted with an empty user password and open in any viewer.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise InvalidInput(
                    f"{file} is an encrypted PDF that needs a password; "
                    "save a decrypted copy (e.g. `qpdf --decrypt`) and load that"
                )
            total = len(reader.pages)
            texts = [page.extract_text() for page in reader.pages]
    except (InvalidInput, OSError):
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on malformed files
        raise InvalidInput(
            f"cannot read PDF {file}: {type(exc).__name__}: {exc}; "
            "the file may be damaged, truncated or not a PDF"
        ) from exc
    return [
        Document(
            text=text,
            metadata={"source": str(file), "type": "pdf", "page": number, "pages": total},
        )
        for number, text in enumerate(texts, start=1)
        if text.strip()
    ]


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Silence logger `name` (and its children) inside the block; its level is restored after."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _text_lines(file: Path) -> Iterator[str]:
    """The file's lines, streamed, with a clear error if it is not UTF-8."""
    with file.open(encoding="utf-8-sig", newline="") as stream:
        try:
            yield from stream
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{file} is not valid UTF-8 ({exc.reason} at byte {exc.start} of a read block); "
                "re-save it as UTF-8"
            ) from exc


def _load_csv(file: Path, options: _Options) -> list[Document]:
    reader = csv.DictReader(_text_lines(file))
    try:
        columns = list(reader.fieldnames or [])
        if not columns:
            return []
        text_columns = _choose_columns(file, columns, options.text_columns)
        documents = []
        for number, row in enumerate(reader, start=1):
            parts = [row[c] for c in text_columns if row.get(c) and row[c].strip()]
            if not parts:
                continue
            metadata: dict[str, Any] = {
                str(key): "" if value is None else str(value)
                for key, value in row.items()
                if key is not None and key not in text_columns
            }
            metadata.update(source=str(file), type="csv", row=number)
            documents.append(Document(text="\n".join(parts), metadata=metadata))
    except csv.Error as exc:
        raise InvalidInput(
            f"cannot parse CSV {file} near line {reader.line_num}: {exc}; fix the file's quoting"
        ) from exc
    return documents


def _choose_columns(file: Path, columns: list[str], requested: Sequence[str] | None) -> list[str]:
    if requested is not None:
        if isinstance(requested, str):
            requested = [requested]
        missing = [c for c in requested if c not in columns]
        if missing:
            raise InvalidInput(
                f"{file} has no column {', '.join(repr(c) for c in missing)}; "
                f"available columns: {', '.join(repr(c) for c in columns)}"
            )
        return list(requested)
    named = [c for c in columns if c.strip().lower() in _DEFAULT_TEXT_COLUMNS]
    return named or columns


def _load_jsonl(file: Path, options: _Options) -> list[Document]:
    field = options.text_field
    documents = []
    for number, line in enumerate(_text_lines(file), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{file} line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "fix or remove that line"
            ) from exc
        if not isinstance(record, dict):
            raise InvalidInput(
                f"{file} line {number} is a JSON {type(record).__name__}, not an object; "
                "each line must be an object with a text field"
            )
        if field not in record:
            keys = ", ".join(repr(k) for k in record) or "none"
            raise InvalidInput(
                f"{file} line {number} has no {field!r} field (its keys: {keys}); "
                "pass text_field= to name the field that holds the text"
            )
        text = record.pop(field)
        if not isinstance(text, str):
            raise InvalidInput(
                f"{file} line {number}: field {field!r} is a {type(text).__name__}, "
                "not a string; the text field must hold text"
            )
        if not text.strip():
            continue
        record.update(source=str(file), type="jsonl", line=number)
        documents.append(Document(text=text, metadata=record))
    return documents


_LOADERS: dict[str, Callable[[Path, _Options], list[Document]]] = {
    ".txt": _load_plain,
    ".md": _load_plain,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".csv": _load_csv,
    ".jsonl": _load_jsonl,
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_LOADERS)
