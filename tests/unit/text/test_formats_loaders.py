"""The loaders for what documentation trees hold: well-known names, markup, code, man pages,
compressed files, DOCX, EPUB, notebooks and e-mail."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.files import MAN_PAGE, docx_bytes, email_bytes, epub_bytes, notebook_text
from shoal import InvalidInput
from shoal.text import _source as source_module
from shoal.text import load_file
from shoal.types import Document

# --- plain text kinds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "extra"),
    [
        ("README", "text", {}),
        ("NEWS", "text", {}),
        ("ChangeLog", "text", {}),
        ("LICENSE", "text", {}),
        ("notes.unknown", "text", {}),
        ("guide.rst", "rst", {}),
        ("book.adoc", "asciidoc", {}),
        ("paper.tex", "tex", {}),
        ("Makefile", "code", {"language": "make"}),
        ("tool.py", "code", {"language": "python"}),
        ("deploy", "code", {"language": "shell"}),
    ],
)
def test_plain_kinds_keep_their_text_and_spans(
    tmp_path: Path, name: str, kind: str, extra: dict[str, str]
) -> None:
    text = "#!/bin/sh\necho ünïcode\n" if name == "deploy" else "Title\n=====\n\nBody — ü\n"
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    assert load_file(file) == [
        Document(
            text,
            {
                "source": str(file),
                "type": kind,
                **extra,
                "lines": [1, text.count("\n")],
                "bytes": [0, len(text.encode())],
            },
        )
    ]


def test_a_binary_file_with_an_unknown_name_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "blob"
    file.write_bytes(b"\x7fELF\x00\x01")
    with pytest.raises(InvalidInput, match=r"blob looks binary, not text \(it has NUL bytes"):
        load_file(file)


# --- compressed files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress", "method"),
    [(".gz", gzip.compress, "gzip"), (".bz2", bz2.compress, "bzip2"), (".xz", lzma.compress, "xz")],
)
def test_a_compressed_file_is_read_as_the_file_inside(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes], method: str
) -> None:
    text = "# Notes\n\nCompressed, and still Markdown.\n"
    file = tmp_path / f"notes.md{suffix}"
    file.write_bytes(compress(text.encode()))
    # `bytes` would point into the decompressed text, not the file: it is left out.
    assert load_file(file) == [
        Document(
            text,
            {"source": str(file), "type": "markdown", "compression": method, "lines": [1, 3]},
        )
    ]
    rows = tmp_path / f"rows.csv{suffix}"
    rows.write_bytes(compress(b"text,lang\nHello,en\n"))
    [row] = load_file(rows)
    assert (row.text, row.metadata["lang"], row.metadata["compression"]) == ("Hello", "en", method)


def test_a_damaged_or_huge_compressed_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gzip.compress(b"some text " * 1000)[:40])
    with pytest.raises(InvalidInput, match=r"cannot decompress .*cut\.txt\.gz \(gzip\).*truncated"):
        load_file(cut)
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip.compress(b"a" * 5000))
    monkeypatch.setattr(source_module, "MAX_DECOMPRESSED", 4096)
    with pytest.raises(InvalidInput, match=r"decompresses to more than .* MiB; decompress it"):
        load_file(bomb)


# --- man pages -------------------------------------------------------------------------------


def test_a_man_page_is_read_without_its_macros(tmp_path: Path) -> None:
    file = tmp_path / "git.1.gz"
    file.write_bytes(gzip.compress(MAN_PAGE.encode()))
    [doc] = load_file(file)
    assert doc.metadata == {
        "source": str(file),
        "type": "man",
        "compression": "gzip",
        "title": "git - the stupid content tracker",
    }
    assert doc.text == (
        "# NAME\n\ngit - the stupid content tracker\n\n"
        "# SYNOPSIS\n\n```\ngit [--version] [-C <path>] <command> [<args>]\n```\n\n"
        "# DESCRIPTION\n\nGit is a fast, scalable, distributed revision control system.\n\n"
        "## Options\n\n-v, --version\nPrints the Git suite version—and exits.\n"
    )


def test_an_mdoc_page_gives_its_headings_and_words(tmp_path: Path) -> None:
    file = tmp_path / "ls.1"
    file.write_text(
        ".Dd March 1, 2024\n.Dt LS 1\n.Os\n.Sh NAME\n.Nm ls\n.Nd list directory contents\n"
        ".Sh DESCRIPTION\nFor each operand,\n.Nm\nlists it.\n.Pp\n.Fl a\nshows hidden files.\n"
    )
    [doc] = load_file(file)
    assert doc.metadata["title"] == "ls"
    assert doc.text == (
        "# NAME\n\nls\n- list directory contents\n\n"
        "# DESCRIPTION\n\nFor each operand,\nls\nlists it.\n\n-a\nshows hidden files.\n"
    )


# --- DOCX and EPUB ---------------------------------------------------------------------------


def test_docx_paragraphs_headings_tables_and_title(tmp_path: Path) -> None:
    file = tmp_path / "manual.docx"
    file.write_bytes(
        docx_bytes(
            [
                ("Heading1", "Install"),
                ("", "Run the installer."),
                ("Heading2", "From source"),
                ("", "Build it &amp; run it."),
                ("", ""),
            ],
            title="The Manual",
            table=[["Option", "Meaning"], ["-v", "verbose"]],
        )
    )
    assert load_file(file) == [
        Document(
            "# Install\n\nRun the installer.\n\n## From source\n\nBuild it & run it.\n\n"
            "Option | Meaning\n\n-v | verbose\n",
            {"source": str(file), "type": "docx", "title": "The Manual"},
        )
    ]


def test_docx_headings_in_any_language_and_a_title_styled_paragraph(tmp_path: Path) -> None:
    file = tmp_path / "handbuch.docx"
    paragraphs = [("Title", "Handbuch"), ("berschrift1", "Einleitung"), ("", "Text.")]
    file.write_bytes(docx_bytes(paragraphs, heading_style=("berschrift", "Überschrift")))
    [doc] = load_file(file)
    assert doc.metadata["title"] == "Handbuch"
    assert doc.text == "# Handbuch\n\n# Einleitung\n\nText.\n"


def test_a_broken_docx_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    file = tmp_path / "old.docx"
    file.write_bytes(b"\xd0\xcf\x11\xe0 an old binary .doc renamed")
    with pytest.raises(InvalidInput, match=r"cannot read DOCX .*old\.docx: .*save it as \.docx"):
        load_file(file)
    empty_zip = tmp_path / "empty.docx"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("other.xml", "<x/>")
    with pytest.raises(InvalidInput, match=r"empty\.docx has no word/document\.xml"):
        load_file(empty_zip)


def test_epub_chapters_in_reading_order_without_the_navigation(tmp_path: Path) -> None:
    file = tmp_path / "book.epub"
    file.write_bytes(
        epub_bytes(
            "A Book",
            ["<h1>One</h1><p>It begins.</p>", "<p>  </p>", "<h1>Two</h1><h2>Later</h2><p>End.</p>"],
            nav="<nav><ol><li>One</li><li>Two</li></ol></nav>",
        )
    )
    docs = load_file(file)
    assert [d.text for d in docs] == ["# One\nIt begins.", "# Two\n## Later\nEnd."]
    assert [d.metadata for d in docs] == [
        {
            "source": str(file),
            "type": "epub",
            "title": "A Book",
            "chapter": 1,
            "part": "OEBPS/text/ch0.xhtml",
        },
        {
            "source": str(file),
            "type": "epub",
            "title": "A Book",
            "chapter": 2,
            "part": "OEBPS/text/ch2.xhtml",
        },
    ]


def test_an_epub_without_a_package_is_invalid(tmp_path: Path) -> None:
    file = tmp_path / "bad.epub"
    with zipfile.ZipFile(file, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
    with pytest.raises(InvalidInput, match=r"bad\.epub has no META-INF/container\.xml"):
        load_file(file)


# --- notebooks and e-mail ----------------------------------------------------------------------


def test_a_notebook_gives_markdown_and_fenced_code_without_outputs(tmp_path: Path) -> None:
    file = tmp_path / "analysis.ipynb"
    file.write_text(
        notebook_text(
            [
                ("markdown", "# Analysis\n\nWe count."),
                ("code", "# a comment\nprint(1)"),
                ("code", "   "),
                ("raw", "raw text"),
            ],
            language="R",
        )
    )
    [doc] = load_file(file)
    assert doc.text == ("# Analysis\n\nWe count.\n\n```r\n# a comment\nprint(1)\n```\n\nraw text\n")
    assert "OUTPUT-TEXT" not in doc.text
    assert doc.metadata == {"source": str(file), "type": "notebook", "language": "r"}


def test_a_broken_notebook_says_so(tmp_path: Path) -> None:
    file = tmp_path / "broken.ipynb"
    file.write_text('{"cells": [')
    with pytest.raises(InvalidInput, match=r"broken\.ipynb is not a valid notebook"):
        load_file(file)


def test_an_email_gives_its_plain_body_and_headers(tmp_path: Path) -> None:
    file = tmp_path / "announce.eml"
    file.write_bytes(
        email_bytes("Release  2.0", "Hello team,\n\nWe shipped.\n", html="<p>HTML twin</p>")
    )
    assert load_file(file) == [
        Document(
            "Hello team,\n\nWe shipped.\n",
            {
                "source": str(file),
                "type": "email",
                "subject": "Release 2.0",
                "from": "Ada Lovelace <ada@example.org>",
                "date": "Mon, 01 Jan 2024 10:00:00 +0000",
                "title": "Release 2.0",
            },
        )
    ]


def test_an_html_only_email_gives_its_visible_text(tmp_path: Path) -> None:
    file = tmp_path / "html.eml"
    file.write_bytes(
        b"Subject: HTML only\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><style>p{}</style><body><h1>News</h1><p>Caf\xc3\xa9 opens.</p></body></html>\r\n"
    )
    [doc] = load_file(file)
    assert doc.text == "# News\nCafé opens.\n"
    assert doc.metadata["subject"] == "HTML only" and "from" not in doc.metadata
