"""detect and not_text: the name decides the type when it can, else the first 8 KiB do."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.files import MAN_PAGE
from shoal import InvalidInput
from shoal.text import FileFormat, Skipped, detect, load_file, not_text

# --- sniffing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"Plain ASCII prose.\n",
        "Caf\u00e9, na\u00efve, \u6771\u4eac, \U0001f44b\n".encode(),
        "Un caf\xe9 cr\xe8me, s'il vous pla\xeet, avec un g\xe2teau.\n".encode("latin-1"),
        b"\x1b[31mred\x1b[0m log line with colours\n",
        "\u00e9".encode() * 4095 + "\u00e9".encode()[:1],  # a character cut by the sniff window
    ],
    ids=["empty", "ascii", "utf8", "latin1", "ansi-log", "cut-character"],
)
def test_text_sniffs_as_text(head: bytes) -> None:
    assert not_text(head) is None


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(64), "NUL bytes"),
        (bytes(range(128, 256)) * 8, "neither UTF-8 nor mostly printable"),
        (b"\x01\x02\x03\x04\x05\x06 text" * 50, "control characters"),
        ("UTF-16 text".encode("utf-16"), "re-save it as UTF-8"),
    ],
    ids=["nul", "high-bytes", "controls", "utf16"],
)
def test_binary_sniffs_as_binary_with_the_reason(head: bytes, why: str) -> None:
    reason = not_text(head)
    assert reason is not None and why in reason


# --- the name decides ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.txt", FileFormat("text")),
        ("README", FileFormat("text")),
        ("CHANGELOG", FileFormat("text")),
        ("COPYING.LIB", FileFormat("text")),
        ("NEWS.Debian.gz", FileFormat("text", compression="gzip")),
        ("guide.rst", FileFormat("rst")),
        ("book.adoc", FileFormat("asciidoc")),
        ("paper.tex", FileFormat("tex")),
        ("notes.md.gz", FileFormat("markdown", compression="gzip")),
        ("notes.markdown.bz2", FileFormat("markdown", compression="bzip2")),
        ("rows.csv.xz", FileFormat("csv", compression="xz")),
        ("page.xhtml", FileFormat("html")),
        ("a.docx", FileFormat("docx")),
        ("b.epub", FileFormat("epub")),
        ("c.ipynb", FileFormat("notebook")),
        ("d.eml", FileFormat("email")),
        ("setup.py", FileFormat("code", language="python")),
        ("main.go", FileFormat("code", language="go")),
        ("lib.rs.gz", FileFormat("code", language="rust", compression="gzip")),
        ("Makefile", FileFormat("code", language="make")),
        ("Makefile.am", FileFormat("code", language="make")),
        ("Dockerfile.dev", FileFormat("code", language="dockerfile")),
        ("CMakeLists.txt", FileFormat("code", language="cmake")),
        ("Dockerfile.md", FileFormat("markdown")),  # a document about a Dockerfile
    ],
)
def test_the_name_decides_without_reading(tmp_path: Path, name: str, expected: FileFormat) -> None:
    # The file does not exist: a type decided by the name needs no read.
    assert detect(tmp_path / name) == expected


@pytest.mark.parametrize(
    ("name", "reason", "detail"),
    [
        ("photo.png", "binary", "an image (.png)"),
        ("weights.onnx", "binary", "model weights"),
        ("sheet.xlsx", "unsupported", "export its sheets as CSV"),
        ("old.doc", "unsupported", "save it as .docx"),
        ("docs.zip", "unsupported", "extract it first"),
        ("src.tar.gz", "unsupported", "a compressed tar archive: extract it first"),
    ],
)
def test_known_binaries_and_unsupported_formats_are_skipped_by_name(
    tmp_path: Path, name: str, reason: str, detail: str
) -> None:
    skipped = detect(tmp_path / name)
    assert isinstance(skipped, Skipped)
    assert (skipped.path, skipped.reason) == (str(tmp_path / name), reason)
    assert detail in skipped.detail


# --- else the content decides --------------------------------------------------------------


def test_unknown_names_are_sniffed(tmp_path: Path) -> None:
    (tmp_path / "notes.xyz").write_text("words\n")
    (tmp_path / "config.local").write_bytes(b"\x00\x01binary")
    (tmp_path / "deploy").write_text("#!/usr/bin/env bash\necho deploy\n")
    (tmp_path / "tool").write_text("#!/usr/bin/python3.12\nprint('hi')\n")
    assert detect(tmp_path / "notes.xyz") == FileFormat("text")
    binary = detect(tmp_path / "config.local")
    assert isinstance(binary, Skipped) and binary.reason == "binary"
    assert binary.detail == "it has NUL bytes near its start"
    assert detect(tmp_path / "deploy") == FileFormat("code", language="shell")
    assert detect(tmp_path / "tool") == FileFormat("code", language="python")


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [("", lambda b: b), (".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_a_man_section_suffix_is_a_man_page_only_if_it_is_roff(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    compression = {"": None, ".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}[suffix]
    (tmp_path / f"git.1{suffix}").write_bytes(compress(MAN_PAGE.encode()))
    (tmp_path / f"notes.2{suffix}").write_bytes(compress(b"Release notes, part 2.\n"))
    (tmp_path / f"libz.so.1{suffix}").write_bytes(compress(b"\x7fELF\x00\x00"))
    assert detect(tmp_path / f"git.1{suffix}") == FileFormat("man", compression=compression)
    assert detect(tmp_path / f"notes.2{suffix}") == FileFormat("text", compression=compression)
    library = detect(tmp_path / f"libz.so.1{suffix}")
    assert isinstance(library, Skipped) and library.reason == "binary"


def test_a_file_that_cannot_be_read_or_decompressed_is_unreadable(tmp_path: Path) -> None:
    missing = detect(tmp_path / "gone.xyz")
    assert isinstance(missing, Skipped) and missing.reason == "unreadable"
    assert "No such file or directory" in missing.detail
    (tmp_path / "data.gz").write_bytes(b"not gzip at all")
    broken = detect(tmp_path / "data.gz")
    assert isinstance(broken, Skipped) and broken.reason == "unreadable"
    assert broken.detail.startswith("cannot decompress it (gzip): Not a gzipped file")
    with pytest.raises(InvalidInput, match=r"data\.gz: cannot decompress it .*may be damaged"):
        load_file(tmp_path / "data.gz")
    with pytest.raises(InvalidInput, match=r"gone\.xyz: No such file or directory; check that"):
        load_file(tmp_path / "gone.xyz")


def test_skipped_reads_as_path_reason_and_detail(tmp_path: Path) -> None:
    assert str(Skipped("/d/logo.png", "binary", "an image (.png)")) == (
        "/d/logo.png (binary: an image (.png))"
    )
    assert str(Skipped("/d/build", "gitignored", folder=True)) == (
        "/d/build/ (ignored by .gitignore)"
    )
    assert Skipped("/d/x", "hidden").to_dict() == {
        "path": "/d/x",
        "reason": "hidden",
        "detail": "",
        "folder": False,
    }
