"""DOCX and EPUB: zip files of XML, read with the standard library.

A `.docx` gives one Document: its paragraphs in order (headings as `#` lines, by their
style's outline level: `Heading 2` is `##`, in any language), table rows as cells joined
with ` | `, and the core properties' title. An `.epub` gives one Document per chapter of
its reading order (the spine), each chapter's HTML as `.html` files are read, with the
book's title and the chapter's number.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from shoal.errors import InvalidInput
from shoal.text._html import html_text
from shoal.text._source import Source, decode_text
from shoal.types import Document

__all__ = ["load_docx", "load_epub"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_OPF = "{http://www.idpf.org/2007/opf}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
# A member of the zip may not inflate past this (a zip bomb would fill the memory).
_MAX_MEMBER = 256 * 2**20
_HEADING_NAME = re.compile(r"^(?:heading|titre|überschrift|título|titolo|kop)\s*(\d)$", re.I)
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def load_docx(source: Source) -> list[Document]:
    """A Word document (`.docx`) as one Document: paragraphs, headings as `#` lines, tables."""
    with _opened(source, "DOCX", "save it again from Word (an old .doc? save it as .docx)") as zf:
        body = _xml(zf, "word/document.xml", source).find(f"{_W}body")
        levels = _style_levels(zf, source)
        core_title = _core_title(zf, source)
    blocks: list[str] = []
    title_style: str | None = None
    for element in body if body is not None else []:
        if element.tag == f"{_W}p":
            text, level, is_title = _paragraph(element, levels)
            if is_title and title_style is None and text:
                title_style = text
            if text:
                blocks.append(f"{'#' * level} {text}" if level else text)
        elif element.tag == f"{_W}tbl":
            blocks.extend(_table(element, levels))
    text = "\n\n".join(blocks)
    if not text.strip():
        return []
    metadata = source.base_metadata()
    title = core_title or title_style
    if title:
        metadata["title"] = title
    return [Document(text=text + "\n", metadata=metadata)]


def _style_levels(zf: zipfile.ZipFile, source: Source) -> dict[str, int]:
    """Heading level of each paragraph style: its outline level, else a `Heading N` name."""
    if "word/styles.xml" not in zf.namelist():
        return {}
    levels: dict[str, int] = {}
    for style in _xml(zf, "word/styles.xml", source).iter(f"{_W}style"):
        style_id = style.get(f"{_W}styleId") or ""
        outline = style.find(f"{_W}pPr/{_W}outlineLvl")
        name = style.find(f"{_W}name")
        label = name.get(f"{_W}val", "") if name is not None else style_id
        by_name = _HEADING_NAME.match(label.strip()) or _HEADING_NAME.match(style_id)
        if outline is not None and (outline.get(f"{_W}val") or "").isdigit():
            level = int(outline.get(f"{_W}val") or 0) + 1
        elif by_name:
            level = int(by_name.group(1))
        elif label.strip().lower() == "title":
            level = -1  # the document's title
        else:
            continue
        levels[style_id] = level
    return levels


def _paragraph(element: ElementTree.Element, levels: dict[str, int]) -> tuple[str, int, bool]:
    """(text, heading level or 0, whether it is styled as the title) of a `w:p`."""
    pieces: list[str] = []
    for node in element.iter():
        if node.tag == f"{_W}t" and node.text:
            pieces.append(node.text)
        elif node.tag == f"{_W}tab":
            pieces.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            pieces.append("\n")
    text = "".join(pieces).strip()
    style = element.find(f"{_W}pPr/{_W}pStyle")
    level = levels.get(style.get(f"{_W}val", "") if style is not None else "", 0)
    direct = element.find(f"{_W}pPr/{_W}outlineLvl")
    if direct is not None and (direct.get(f"{_W}val") or "").isdigit():
        level = int(direct.get(f"{_W}val") or 0) + 1
    if level == -1:
        return text, 1, True
    return text, min(level, 6) if level > 0 and "\n" not in text else 0, False


def _table(table: ElementTree.Element, levels: dict[str, int]) -> Iterator[str]:
    for row in table.iter(f"{_W}tr"):
        cells = [
            " ".join(_paragraph(p, levels)[0] for p in cell.iter(f"{_W}p")).strip()
            for cell in row.iter(f"{_W}tc")
        ]
        if any(cells):
            yield " | ".join(cells)


def _core_title(zf: zipfile.ZipFile, source: Source) -> str | None:
    if "docProps/core.xml" not in zf.namelist():
        return None
    title = _xml(zf, "docProps/core.xml", source).find(f"{_DC}title")
    return title.text.strip() if title is not None and title.text and title.text.strip() else None


def load_epub(source: Source) -> list[Document]:
    """An e-book (`.epub`) as one Document per chapter with text, in reading order."""
    with _opened(source, "EPUB", "the file may be damaged or DRM-protected") as zf:
        container = _xml(zf, "META-INF/container.xml", source)
        rootfile = container.find(f".//{_CONTAINER}rootfile")
        package_path = rootfile.get("full-path") if rootfile is not None else None
        if not package_path:
            raise InvalidInput(
                f"{source.path} is not a valid EPUB: META-INF/container.xml names no package "
                "file; the file may be damaged"
            )
        package = _xml(zf, package_path, source)
        book_title = package.find(f"{_OPF}metadata/{_DC}title")
        title = (book_title.text or "").strip() if book_title is not None else ""
        chapters = [
            (href, _member_text(zf, href, source)) for href in _spine(package, package_path)
        ]
    documents: list[Document] = []
    for href, markup in chapters:
        text, _ = html_text(markup)
        if not text.strip():
            continue
        metadata: dict[str, Any] = source.base_metadata()
        if title:
            metadata["title"] = title
        metadata.update(chapter=len(documents) + 1, part=href)
        documents.append(Document(text=text, metadata=metadata))
    return documents


def _spine(package: ElementTree.Element, package_path: str) -> list[str]:
    """The zip paths of the package's HTML chapters, in reading order (navigation left out)."""
    base = posixpath.dirname(package_path)
    items: dict[str, tuple[str, str, str]] = {}
    for item in package.iter(f"{_OPF}item"):
        item_id, href = item.get("id"), item.get("href")
        if item_id and href:
            items[item_id] = (href, item.get("media-type", ""), item.get("properties", ""))
    paths = []
    for ref in package.iter(f"{_OPF}itemref"):
        href, media, properties = items.get(ref.get("idref", ""), ("", "", ""))
        if href and media in _HTML_TYPES and "nav" not in properties.split():
            paths.append(posixpath.normpath(posixpath.join(base, unquote(href))))
    return paths


def _member_text(zf: zipfile.ZipFile, name: str, source: Source) -> str:
    return decode_text(source.path, _member(zf, name, source))[0]


@contextlib.contextmanager
def _opened(source: Source, kind: str, advice: str) -> Iterator[zipfile.ZipFile]:
    """The file as a zip, with errors that say which file, what is wrong and what to do."""
    try:
        with source.open() as raw, zipfile.ZipFile(raw) as zf:
            yield zf
    except (zipfile.BadZipFile, ElementTree.ParseError, EOFError, zlib.error) as exc:
        raise InvalidInput(f"cannot read {kind} {source.path}: {exc}; {advice}") from exc


def _member(zf: zipfile.ZipFile, name: str, source: Source) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError as exc:
        raise InvalidInput(
            f"{source.path} has no {name}; it is damaged or not the format its name says"
        ) from exc
    if info.file_size > _MAX_MEMBER:
        raise InvalidInput(
            f"{source.path}: {name} inflates to {info.file_size // 2**20} MiB, more than "
            f"{_MAX_MEMBER // 2**20} MiB; Shoal does not read it"
        )
    return zf.read(info)


def _xml(zf: zipfile.ZipFile, name: str, source: Source) -> ElementTree.Element:
    return ElementTree.fromstring(_member(zf, name, source))
