"""Files the tests write: a minimal valid PDF and a damaged one; DOCX, EPUB, notebook, e-mail."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

__all__ = [
    "DOC_TREE_READ",
    "DOC_TREE_SKIPPED",
    "MAN_PAGE",
    "broken_pdf",
    "docx_bytes",
    "email_bytes",
    "epub_bytes",
    "notebook_text",
    "pdf_bytes",
    "write_doc_tree",
]

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF with one page per text (an empty text gives a blank page)."""
    n = len(pages)
    page_ids = [4 + 2 * i for i in range(n)]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % i for i in page_ids), n),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for page_id, text in zip(page_ids, pages, strict=True):
        stream = b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1") if text else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def broken_pdf() -> bytes:
    """A PDF cut off after its first object: a header and no cross-reference table."""
    return pdf_bytes(["Some text"])[:60]


def docx_bytes(
    paragraphs: list[tuple[str, str]],
    *,
    title: str | None = None,
    table: list[list[str]] | None = None,
    heading_style: tuple[str, str] = ("Heading", "heading"),
) -> bytes:
    """A minimal Word document: (style id or "", text) paragraphs, an optional table and title.

    Styles `Heading1`..`Heading3` carry outline levels 0..2 (as Word writes them);
    `heading_style` names their ids and names (a localized Word uses other words).
    """
    prefix, name = heading_style
    styles = "".join(
        f'<w:style w:type="paragraph" w:styleId="{prefix}{n}"><w:name w:val="{name} {n}"/>'
        f'<w:pPr><w:outlineLvl w:val="{n - 1}"/></w:pPr></w:style>'
        for n in (1, 2, 3)
    )
    styles += '<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>'
    body = "".join(
        "<w:p>"
        + (f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else "")
        + f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'
        for style, text in paragraphs
    )
    if table:
        rows = "".join(
            "<w:tr>"
            + "".join(f"<w:tc><w:p><w:r><w:t>{cell}</w:t></w:r></w:p></w:tc>" for cell in row)
            + "</w:tr>"
            for row in table
        )
        body += f"<w:tbl>{rows}</w:tbl>"
    members = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types '
        'xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        "word/document.xml": f'<?xml version="1.0"?><w:document xmlns:w="{_W}">'
        f"<w:body>{body}</w:body></w:document>",
        "word/styles.xml": f'<?xml version="1.0"?><w:styles xmlns:w="{_W}">{styles}</w:styles>',
    }
    if title is not None:
        members["docProps/core.xml"] = (
            '<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
            'package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{title}</dc:title></cp:coreProperties>"
        )
    return _zip(members)


def epub_bytes(title: str, chapters: list[str], *, nav: str | None = None) -> bytes:
    """A minimal EPUB 3: `chapters` are XHTML bodies, in reading order; `nav` a navigation page."""
    manifest = "".join(
        f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    members = {
        "mimetype": "application/epub+zip",
        "META-INF/container.xml": '<?xml version="1.0"?><container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>",
    }
    if nav is not None:
        manifest += (
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        )
        spine = '<itemref idref="nav"/>' + spine
        members["OEBPS/nav.xhtml"] = _xhtml("Contents", nav)
    members["OEBPS/content.opf"] = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{title}</dc:title></metadata><manifest>{manifest}</manifest>"
        f"<spine>{spine}</spine></package>"
    )
    for i, body in enumerate(chapters):
        members[f"OEBPS/text/ch{i}.xhtml"] = _xhtml(title, body)
    return _zip(members)


def notebook_text(cells: list[tuple[str, str]], *, language: str = "python") -> str:
    """An .ipynb (nbformat 4) of (cell type, source) cells; code cells get an output."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "k", "language": language}},
            "cells": [
                {
                    "cell_type": kind,
                    "metadata": {},
                    "source": source.splitlines(keepends=True),
                    **(
                        {"outputs": [{"output_type": "stream", "text": ["OUTPUT-TEXT\n"]}]}
                        if kind == "code"
                        else {}
                    ),
                }
                for kind, source in cells
            ],
        }
    )


def email_bytes(subject: str, body: str, *, html: str | None = None) -> bytes:
    """An RFC 5322 message: a text/plain body, or multipart/alternative with an HTML part too,
    and an attachment."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Ada Lovelace <ada@example.org>"
    message["To"] = "team@example.org"
    message["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    message.add_attachment(b"ATTACHED-BYTES", maintype="application", subtype="octet-stream")
    return message.as_bytes()


def _xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        f"<head><title>{title}</title></head><body>{body}</body></html>"
    )


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


MAN_PAGE = r""".\" Generated by a test
.TH GIT 1 "2024-01-01" "Git 2.43" "Git Manual"
.SH NAME
git \- the stupid content tracker
.SH SYNOPSIS
.nf
\fBgit\fR [\-\-version] [\-C <path>] <command> [<args>]
.fi
.SH DESCRIPTION
Git is a \fIfast\fP, scalable, distributed revision control system.
.SS "Options"
.TP
\fB\-v\fR, \fB\-\-version\fR
Prints the Git suite version\(emand exits.
"""


def write_doc_tree(root: Path) -> None:
    """A folder shaped like a real documentation tree: every kind of file Shoal reads (12),
    and one of each kind it skips (7: hidden, binary by name and by content, unsupported,
    a broken symlink, a file and a folder ignored by .gitignore), plus a folder named x.txt.
    """
    (root / "guide").mkdir(parents=True)
    (root / "README").write_text("Shoal documentation.\n\nStart with guide/install.rst.\n")
    (root / "NEWS").write_text("Shoal 2.0\n\n* Faster ingest.\n* Loaders for everything.\n")
    (root / "guide" / "install.rst").write_text(
        "=======\nInstall\n=======\n\nFrom PyPI\n---------\n\nRun pip install shoal.\n\n"
        "From source\n-----------\n\nClone the repository and run make.\n"
    )
    (root / "notes.md.gz").write_bytes(
        gzip.compress(b"# Release notes\n\n## 2.0\n\nCompressed notes are read too.\n")
    )
    (root / "git.1.gz").write_bytes(gzip.compress(MAN_PAGE.encode()))
    (root / "analysis.ipynb").write_text(
        notebook_text([("markdown", "# Analysis\n\nWe count words."), ("code", "print(1)")])
    )
    (root / "manual.docx").write_bytes(
        docx_bytes([("Heading1", "Setup"), ("", "Plug the device in.")], title="Manual")
    )
    (root / "book.epub").write_bytes(
        epub_bytes("The Book", ["<h1>Chapter One</h1><p>It begins.</p>"])
    )
    (root / "announce.eml").write_bytes(email_bytes("Shoal 2.0 is out", "It reads everything.\n"))
    (root / "tool.py").write_text("def main():\n    return 0\n")
    (root / "x.txt").mkdir()  # a folder named like a file: walked, never read as one
    (root / "x.txt" / "inner.txt").write_text("A file inside a folder named x.txt.\n")
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    (root / "build").mkdir()
    (root / "build" / "generated.md").write_text("# Generated\n")
    (root / "debug.log").write_text("ignored by *.log\n")
    (root / "keep.log").write_text("re-included by !keep.log\n")
    (root / "logo.bmp").write_bytes(b"BM\x00\x00")
    (root / "blob").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    (root / "sheet.xlsx").write_bytes(b"PK\x03\x04 a spreadsheet")
    os.symlink(root / "nowhere.md", root / "dangling.md")


DOC_TREE_READ = [
    "NEWS", "README", "analysis.ipynb", "announce.eml", "book.epub", "git.1.gz",
    "guide/install.rst", "keep.log", "manual.docx", "notes.md.gz", "tool.py", "x.txt/inner.txt",
]  # fmt: skip
"""The files of `write_doc_tree` that are read, relative to its root, sorted."""
DOC_TREE_SKIPPED = [
    (".gitignore", "hidden"),
    ("blob", "binary"),
    ("build", "gitignored"),
    ("dangling.md", "broken_symlink"),
    ("debug.log", "gitignored"),
    ("logo.bmp", "binary"),
    ("sheet.xlsx", "unsupported"),
]
"""The entries of `write_doc_tree` that are skipped, and why, sorted by path."""
