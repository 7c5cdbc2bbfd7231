"""Document loaders: `load_file` reads a file of any supported type into `Document`s.

`detect` (see `_formats`) says how to read a file; this module holds the loaders of plain
text (text, Markdown, reStructuredText, AsciiDoc, LaTeX, source code: the text as it is,
with line and byte spans), HTML, PDF, CSV and JSON Lines, and dispatches the others (man
pages, DOCX, EPUB, notebooks, e-mail) to their modules. Every problem with a file is
raised as `InvalidInput` naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.errors import InvalidInput, MissingDependency
from shoal.text._formats import SUPPORTED_SUFFIXES, Skipped, detect
from shoal.text._html import html_text
from shoal.text._mail import load_email
from shoal.text._notebook import load_notebook
from shoal.text._ocr import ocr_available, page_image_text
from shoal.text._office import load_docx, load_epub
from shoal.text._roff import load_man
from shoal.text._source import Source, read_text, unreadable
from shoal.types import Document

__all__ = ["SUPPORTED_SUFFIXES", "load_file", "skip_error", "unreadable"]

_DEFAULT_TEXT_COLUMNS = ("text", "content", "body")


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
    """Load one file into Documents, choosing how to read it by its name, else by its content.

    Plain text kinds (`.txt`, README/NEWS/... and any file that sniffs as text, `.md`,
    `.rst`, `.adoc`, `.tex`, source code) give one Document with `lines` and `bytes`
    spans (and `language` for code); `.html` its visible text; `.pdf` one per page with
    text; `.csv` one per row with text (`text_columns` picks the columns, default those
    named text/content/body, else all); `.jsonl` one per line with text (`text_field`
    names the key); `.docx` one; `.epub` one per chapter; `.ipynb` its markdown and code
    cells; `.eml` its body, with `subject`/`from`/`date`; man pages their text. A `.gz`,
    `.bz2` or `.xz` file is read as the file inside it (`compression` in the metadata).
    The loader's own metadata keys take precedence over columns or keys of the same
    name. An empty file gives `[]`.

    Raises:
        InvalidInput: the file is of a type Shoal does not read, binary, unreadable,
            malformed, encrypted, or lacks the requested column or field.
    """
    file = Path(path)
    found = detect(file)
    if isinstance(found, Skipped):
        raise InvalidInput(skip_error(found))
    return load_source(Source(file, found), text_columns=text_columns, text_field=text_field)


def load_source(
    source: Source, *, text_columns: Sequence[str] | None = None, text_field: str = "text"
) -> list[Document]:
    """Load a file whose format is already known (what `load_file` does after `detect`).

    Raises:
        InvalidInput: as `load_file`.
    """
    file = source.path
    try:
        if file.stat().st_size == 0:
            return []
        return _LOADERS[source.format.kind](
            source, _Options(text_columns=text_columns, text_field=text_field)
        )
    except OSError as exc:
        raise unreadable(file, exc) from exc


def skip_error(skipped: Skipped) -> str:
    """Why a file cannot be loaded, and what to do, for a file `detect` skipped."""
    file = skipped.path
    if skipped.reason == "unreadable":
        advice = (
            "the file may be damaged or truncated"
            if skipped.detail.startswith("cannot decompress")
            else "check that it exists and is readable"
        )
        return f"cannot read {file}: {skipped.detail}; {advice}"
    if skipped.reason == "binary":
        return (
            f"{file} looks binary, not text ({skipped.detail}); convert it to text, or give "
            "it the suffix of its real format"
        )
    return (
        f"unsupported file type '{Path(file).suffix or Path(file).name}' ({file}): {skipped.detail}"
    )


def _load_plain(source: Source, options: _Options) -> list[Document]:
    text, extra = read_text(source)
    if not text.strip():
        return []
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    metadata = source.base_metadata()
    metadata["lines"] = [1, lines]
    if not source.compressed:
        size = source.path.stat().st_size
        start = size - len(text.encode("utf-8", "surrogatepass")) if not extra else 0  # a BOM
        metadata["bytes"] = [max(0, start), size]
    metadata.update(extra)
    return [Document(text=text, metadata=metadata)]


def _load_html(source: Source, options: _Options) -> list[Document]:
    raw, extra = read_text(source)
    text, title = html_text(raw)
    if not text:
        return []
    metadata = source.base_metadata()
    if title is not None:
        metadata["title"] = title
    metadata.update(extra)
    return [Document(text=text, metadata=metadata)]


def _load_pdf(source: Source, options: _Options) -> list[Document]:
    file = source.path
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
            reader = PdfReader(source.open() if source.compressed else file)
            # Many PDFs are encrypted with an empty user password and open in any viewer.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise InvalidInput(
                    f"{file} is an encrypted PDF that needs a password; "
                    "save a decrypted copy (e.g. `qpdf --decrypt`) and load that"
                )
            total = len(reader.pages)
            texts = [page.extract_text() for page in reader.pages]
            # A scanned page has no text layer, only an image: read its text (OCR).
            scanned = {
                number: page_image_text(page, f"{file} page {number}")
                for number, (page, text) in enumerate(zip(reader.pages, texts, strict=True), 1)
                if not text.strip() and ocr_available()
            }
    except (InvalidInput, OSError):
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on malformed files
        raise InvalidInput(
            f"cannot read PDF {file}: {type(exc).__name__}: {exc}; "
            "the file may be damaged, truncated or not a PDF"
        ) from exc
    documents = []
    for number, text in enumerate(texts, start=1):
        metadata = {**source.base_metadata(), "page": number, "pages": total}
        if number in scanned:
            text = scanned[number]
            metadata["ocr"] = True
        if text.strip():
            documents.append(Document(text=text, metadata=metadata))
    return documents


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


def _text_lines(source: Source) -> Iterator[str]:
    """The file's lines, streamed, with a clear error if it is not UTF-8."""
    file = source.path
    with source.open() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
        try:
            yield from stream
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{file} is not valid UTF-8 ({exc.reason} at byte {exc.start} of a read block); "
                "re-save it as UTF-8"
            ) from exc


def _load_csv(source: Source, options: _Options) -> list[Document]:
    file = source.path
    reader = csv.DictReader(_text_lines(source))
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
            metadata.update(source.base_metadata(), row=number)
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


def _load_jsonl(source: Source, options: _Options) -> list[Document]:
    file = source.path
    field = options.text_field
    documents = []
    for number, line in enumerate(_text_lines(source), start=1):
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
        record.update(source.base_metadata(), line=number)
        documents.append(Document(text=text, metadata=record))
    return documents


_LOADERS: dict[str, Callable[[Source, _Options], list[Document]]] = {
    **dict.fromkeys(("text", "markdown", "rst", "asciidoc", "tex", "code"), _load_plain),
    "html": _load_html,
    "pdf": _load_pdf,
    "csv": _load_csv,
    "jsonl": _load_jsonl,
    # These read whole files and take no options.
    "man": lambda source, _: load_man(source),
    "docx": lambda source, _: load_docx(source),
    "epub": lambda source, _: load_epub(source),
    "notebook": lambda source, _: load_notebook(source),
    "email": lambda source, _: load_email(source),
}
