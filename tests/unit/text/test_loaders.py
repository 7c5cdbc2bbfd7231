"""load_file and load_directory turn each supported file type into the right Documents."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from fakes.files import broken_pdf, pdf_bytes
from shoal import Document, InvalidInput, MissingDependency
from shoal.text import SUPPORTED_SUFFIXES, LoadReport, load_directory, load_file

# --- text and Markdown -------------------------------------------------------------------


def test_text_file_is_one_document_with_line_and_byte_spans(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("first line\nsecond line\nthird\n", encoding="utf-8")
    assert load_file(file) == [
        Document(
            text="first line\nsecond line\nthird\n",
            metadata={"source": str(file), "type": "text", "lines": [1, 3], "bytes": [0, 29]},
        )
    ]


def test_markdown_file_keeps_its_markup(tmp_path: Path) -> None:
    file = tmp_path / "README.md"
    file.write_text("# Title\n\nSome *text* — ünïcode", encoding="utf-8")
    [doc] = load_file(str(file))
    assert doc.text == "# Title\n\nSome *text* — ünïcode"
    assert doc.metadata == {
        "source": str(file),
        "type": "markdown",
        "lines": [1, 3],
        "bytes": [0, len(doc.text.encode("utf-8"))],
    }


def test_non_utf8_text_is_decoded_with_replacement_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "latin1.txt"
    file.write_bytes("café crème \ufffd ok".encode("latin-1", errors="ignore") + " \ufffd".encode())
    with caplog.at_level(logging.WARNING, logger="shoal.text"):
        [doc] = load_file(file)
    # Two latin-1 bytes are replaced; the genuine U+FFFD already in the file is not counted.
    assert doc.text == "caf\ufffd cr\ufffdme  ok \ufffd"
    assert doc.metadata["decode_errors"] == 2
    assert "not valid UTF-8" in caplog.text and str(file) in caplog.text


def test_binary_file_named_txt_is_rejected(tmp_path: Path) -> None:
    file = tmp_path / "image.txt"
    file.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(InvalidInput, match=r"image\.txt looks binary, not text"):
        load_file(file)


@pytest.mark.parametrize(
    "name", ["empty.txt", "empty.md", "empty.html", "empty.csv", "empty.jsonl", "empty.pdf"]
)
def test_empty_file_gives_no_documents(tmp_path: Path, name: str) -> None:
    file = tmp_path / name
    file.write_bytes(b"")
    assert load_file(file) == []


def test_a_known_format_shoal_does_not_read_says_what_to_do(tmp_path: Path) -> None:
    # Before loaders sniffed content, every unknown suffix was "unsupported"; now only
    # formats Shoal knows it cannot read are, each with what to do instead.
    file = tmp_path / "sheet.xlsx"
    file.write_bytes(b"PK\x03\x04 not really a spreadsheet")
    with pytest.raises(
        InvalidInput,
        match=r"unsupported file type '\.xlsx'.*a spreadsheet: export its sheets as CSV",
    ):
        load_file(file)
    old = {".txt", ".md", ".html", ".htm", ".pdf", ".csv", ".jsonl"}
    new = {".rst", ".adoc", ".tex", ".docx", ".epub", ".ipynb", ".eml", ".py", ".go", ".rs"}
    assert old | new <= SUPPORTED_SUFFIXES and ".xlsx" not in SUPPORTED_SUFFIXES


def test_an_unknown_suffix_holding_text_is_read_as_text(tmp_path: Path) -> None:
    file = tmp_path / "sheet.xyz"
    file.write_text("data")
    assert load_file(file) == [
        Document("data", {"source": str(file), "type": "text", "lines": [1, 1], "bytes": [0, 4]})
    ]


def test_missing_file_gives_the_os_reason(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read .*nope\.txt: No such file or directory"):
        load_file(tmp_path / "nope.txt")


# --- HTML --------------------------------------------------------------------------------


def test_html_keeps_only_visible_text_one_line_per_block(tmp_path: Path) -> None:
    file = tmp_path / "page.html"
    file.write_text(
        """<!DOCTYPE html><html><head><title> The   Page </title>
        <style>body { color: red }</style><script>var x = "<p>hidden</p>";</script></head>
        <body><!-- a comment -->
        <h1>Heading</h1>
        <p>First    paragraph
           wraps here &amp; continues.</p>
        <div>A div<br>after a break</div>
        <noscript>enable JS</noscript><template><p>tpl</p></template>
        <ul><li>one</li><li>two</li></ul>
        <table><tr><td>a</td><td>b</td></tr></table>
        </body></html>""",
        encoding="utf-8",
    )
    assert load_file(file) == [
        Document(
            # Headings are marked as in Markdown, so chunks can be given their heading path.
            text="# Heading\nFirst paragraph wraps here & continues.\nA div\nafter a break\n"
            "one\ntwo\na b",
            metadata={"source": str(file), "type": "html", "title": "The Page"},
        )
    ]


def test_htm_without_title_has_no_title_key(tmp_path: Path) -> None:
    file = tmp_path / "bare.htm"
    file.write_text("<p>just text</p>")
    assert load_file(file) == [
        Document(text="just text", metadata={"source": str(file), "type": "html"})
    ]


# --- PDF ---------------------------------------------------------------------------------


def test_pdf_gives_one_document_per_page_with_text(tmp_path: Path) -> None:
    file = tmp_path / "report.pdf"
    file.write_bytes(pdf_bytes(["Hello page one", "", "Page three text"]))
    assert len(PdfReader(file).pages) == 3  # the fixture itself is a valid PDF
    assert load_file(file) == [
        Document(
            text="Hello page one",
            metadata={"source": str(file), "type": "pdf", "page": 1, "pages": 3},
        ),
        Document(
            text="Page three text",
            metadata={"source": str(file), "type": "pdf", "page": 3, "pages": 3},
        ),
    ]


def test_pdf_without_pypdf_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "report.pdf"
    file.write_bytes(pdf_bytes(["Hello page one"]))
    monkeypatch.setitem(sys.modules, "pypdf", None)  # as if it were not installed
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[pdf\]'"):
        load_file(file)


def test_broken_pdf_is_invalid_input_naming_the_file(tmp_path: Path) -> None:
    file = tmp_path / "broken.pdf"
    file.write_bytes(b"this is not a pdf at all \x01\x02\x03" * 20)
    with pytest.raises(InvalidInput, match=r"cannot read PDF .*broken\.pdf: .*damaged"):
        load_file(file)


@pytest.mark.parametrize("content", [b"this is not a pdf", broken_pdf()], ids=["garbage", "cut"])
def test_a_broken_pdf_logs_nothing_and_leaves_the_pypdf_logger_as_it_was(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "broken.pdf"
    file.write_bytes(content)
    logger = logging.getLogger("pypdf")
    assert logger.level == logging.NOTSET  # importing shoal configured nothing
    logger.setLevel(logging.INFO)  # an application's own setting
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(InvalidInput, match="damaged"):
            load_file(file)
        assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(logging.NOTSET)
    # Outside a load, pypdf's own warnings reach the application as before.
    with caplog.at_level(logging.WARNING), pytest.raises(Exception):  # noqa: B017 - pypdf's own
        PdfReader(io.BytesIO(b"this is not a pdf"))
    assert any(r.name.startswith("pypdf") for r in caplog.records)


def test_encrypted_pdf_is_invalid_input(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    file = tmp_path / "locked.pdf"
    with file.open("wb") as out:
        writer.write(out)
    with pytest.raises(InvalidInput, match=r"locked\.pdf is an encrypted PDF"):
        load_file(file)


# --- CSV ---------------------------------------------------------------------------------


def test_csv_default_uses_text_columns_and_keeps_others_as_metadata(tmp_path: Path) -> None:
    file = tmp_path / "rows.csv"
    file.write_bytes(
        '\ufeffid,title,text,score\n1,First,hello there,0.5\n2,Empty,,1\n3,Third,"multi\nline",2\n'.encode()
    )
    assert load_file(file) == [
        Document(
            text="hello there",
            metadata={
                "id": "1",
                "title": "First",
                "score": "0.5",
                "source": str(file),
                "type": "csv",
                "row": 1,
            },
        ),
        Document(
            text="multi\nline",
            metadata={
                "id": "3",
                "title": "Third",
                "score": "2",
                "source": str(file),
                "type": "csv",
                "row": 3,
            },
        ),
    ]


def test_csv_text_columns_are_joined_with_newlines(tmp_path: Path) -> None:
    file = tmp_path / "rows.csv"
    file.write_text("title,body,tag\nT1,B1,x\n,B2,y\n", encoding="utf-8")
    assert load_file(file, text_columns=["title", "body"]) == [
        Document(
            text="T1\nB1", metadata={"tag": "x", "source": str(file), "type": "csv", "row": 1}
        ),
        Document(text="B2", metadata={"tag": "y", "source": str(file), "type": "csv", "row": 2}),
    ]


def test_csv_without_text_like_columns_uses_all_columns(tmp_path: Path) -> None:
    file = tmp_path / "plain.csv"
    file.write_text("question,answer\nWhy?,Because.\n", encoding="utf-8")
    assert load_file(file) == [
        Document(text="Why?\nBecause.", metadata={"source": str(file), "type": "csv", "row": 1})
    ]


def test_csv_missing_column_lists_the_available_ones(tmp_path: Path) -> None:
    file = tmp_path / "rows.csv"
    file.write_text("title,body\nT,B\n", encoding="utf-8")
    with pytest.raises(
        InvalidInput, match=r"no column 'summary'; available columns: 'title', 'body'"
    ):
        load_file(file, text_columns=["body", "summary"])


# --- JSON Lines --------------------------------------------------------------------------


def test_jsonl_one_document_per_line_with_other_keys_as_metadata(tmp_path: Path) -> None:
    file = tmp_path / "docs.jsonl"
    file.write_text(
        '{"text": "alpha", "id": 7, "tags": ["a"]}\n\n{"text": "beta", "lang": "en"}\n',
        encoding="utf-8",
    )
    assert load_file(file) == [
        Document(
            text="alpha",
            metadata={"id": 7, "tags": ["a"], "source": str(file), "type": "jsonl", "line": 1},
        ),
        Document(
            text="beta", metadata={"lang": "en", "source": str(file), "type": "jsonl", "line": 3}
        ),
    ]


def test_jsonl_text_field_picks_the_key(tmp_path: Path) -> None:
    file = tmp_path / "docs.jsonl"
    file.write_text('{"content": "gamma", "text": "not this"}\n', encoding="utf-8")
    assert load_file(file, text_field="content") == [
        Document(
            text="gamma",
            metadata={"text": "not this", "source": str(file), "type": "jsonl", "line": 1},
        )
    ]


def test_jsonl_malformed_line_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text('{"text": "ok"}\n{"text": "oops"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.jsonl line 2 is not valid JSON"):
        load_file(file)


def test_jsonl_line_without_the_text_field_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "nofield.jsonl"
    file.write_text('{"text": "ok"}\n{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"line 2 has no 'text' field \(its keys: 'body'\)"):
        load_file(file)


# --- directories -------------------------------------------------------------------------


def test_load_directory_reports_skipped_and_failed_files_in_sorted_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.txt").write_text("bee")
    (tmp_path / "a.md").write_text("ay")
    (tmp_path / "sub" / "c.jsonl").write_text('{"text": "sea"}\n')
    (tmp_path / "sub" / "broken.pdf").write_bytes(b"garbage")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "z.xyz").write_text("?")
    (tmp_path / ".secret.txt").write_text("hidden file")
    (tmp_path / ".hidden" / "inside.txt").write_text("hidden dir")

    with caplog.at_level(logging.WARNING, logger="shoal.text"):
        report = load_directory(tmp_path)

    assert isinstance(report, LoadReport)
    # z.xyz holds text, so it is read as text (it used to be skipped as an unknown type).
    assert [d.text for d in report.documents] == ["ay", "bee", "sea", "?"]
    assert [d.metadata["source"] for d in report.documents] == [
        str(tmp_path / "a.md"),
        str(tmp_path / "b.txt"),
        str(tmp_path / "sub" / "c.jsonl"),
        str(tmp_path / "z.xyz"),
    ]
    # Hidden entries are now reported too (a hidden folder once), each with its reason.
    assert [(s.path, s.reason, s.folder) for s in report.skipped] == [
        (str(tmp_path / ".hidden"), "hidden", True),
        (str(tmp_path / ".secret.txt"), "hidden", False),
        (str(tmp_path / "image.png"), "binary", False),
    ]
    [(failed_path, reason)] = report.failed
    assert failed_path == str(tmp_path / "sub" / "broken.pdf")
    assert "cannot read PDF" in reason
    assert "skipped 3 file(s)" in caplog.text and "(2 hidden, 1 binary)" in caplog.text
    assert "image.png (binary: an image (.png))" in caplog.text


def test_load_directory_glob_narrows_the_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.md").write_text("two")
    report = load_directory(tmp_path, glob="*.md")
    assert [d.text for d in report.documents] == ["two"]
    assert report.skipped == [] and report.failed == []


def test_load_directory_on_a_file_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "a.txt"
    file.write_text("x")
    with pytest.raises(InvalidInput, match="is not a directory"):
        load_directory(file)
