"""shoal.ingest on a real-shaped documentation tree: what is read, what is skipped and why, and
an ingest that finds nothing to read leaves no dataset behind."""

from __future__ import annotations

from pathlib import Path

import pytest

import shoal
from fakes.files import DOC_TREE_READ, DOC_TREE_SKIPPED, write_doc_tree
from shoal import EmbeddingCache


def relative(root: Path, paths: list[str]) -> list[str]:
    return sorted(Path(p).relative_to(root).as_posix() for p in paths)


def test_a_documentation_tree_is_read_except_what_cannot_be(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    root = tmp_path / "docs"
    write_doc_tree(root)
    uri = str(tmp_path / "kb")
    report = shoal.ingest(root, into=uri, embedder="hash:64", cache=cache)

    assert relative(root, report.new) == DOC_TREE_READ
    assert report.failed == [] and report.empty == []
    assert [
        (Path(s.path).relative_to(root).as_posix(), s.reason) for s in report.skipped
    ] == DOC_TREE_SKIPPED
    assert report.skipped_summary() == (
        "2 binary, 2 ignored by .gitignore, 1 broken symlink, 1 hidden, 1 unsupported"
    )
    assert not report.ingested_nothing and report.created and report.committed
    types = {
        Path(r["source"]).relative_to(root).as_posix(): r["type"]
        for r in shoal.open(uri).select(["source", "type"])
    }
    assert types == {
        "NEWS": "text", "README": "text", "analysis.ipynb": "notebook", "announce.eml": "email",
        "book.epub": "epub", "git.1.gz": "man", "guide/install.rst": "rst", "keep.log": "text",
        "manual.docx": "docx", "notes.md.gz": "markdown", "tool.py": "code",
        "x.txt/inner.txt": "text",
    }  # fmt: skip
    data = report.to_dict()
    assert data["skipped_counts"] == {
        "hidden": 1, "binary": 2, "gitignored": 2, "broken_symlink": 1, "unsupported": 1,
    }  # fmt: skip
    assert {
        "path": str(root / "build"),
        "reason": "gitignored",
        "detail": f"{root / '.gitignore'}:1: build/",
        "folder": True,
    } in data["skipped"]  # type: ignore[operator]


def test_include_exclude_and_gitignore_options(tmp_path: Path, cache: EmbeddingCache) -> None:
    root = tmp_path / "docs"
    write_doc_tree(root)
    only = shoal.ingest(
        root, into=str(tmp_path / "a"), embedder="hash:64", cache=cache,
        include=["*.rst", "x.txt/"], exclude=["inner.txt"],
    )  # fmt: skip
    assert relative(root, only.new) == ["guide/install.rst"]
    reasons = {Path(s.path).name: (s.reason, s.detail) for s in only.skipped}
    assert reasons["inner.txt"] == ("excluded", "--exclude inner.txt")
    assert reasons["README"] == ("excluded", "not matched by --include")
    everything = shoal.ingest(
        root, into=str(tmp_path / "b"), embedder="hash:64", cache=cache, gitignore=False
    )
    assert {"build/generated.md", "debug.log"} <= set(relative(root, everything.new))
    assert not any(s.reason == "gitignored" for s in everything.skipped)


def test_named_files_are_read_whatever_gitignore_says(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    root = tmp_path / "docs"
    write_doc_tree(root)
    report = shoal.ingest(
        [root / "debug.log", root / "logo.bmp", root / "dangling.md"],
        into=str(tmp_path / "kb"),
        embedder="hash:64",
        cache=cache,
    )
    assert relative(root, report.new) == ["debug.log"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("dangling.md", "broken_symlink"),
        ("logo.bmp", "binary"),
    ]


def test_nothing_to_ingest_creates_no_dataset_and_says_why(
    tmp_path: Path, cache: EmbeddingCache, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "binaries"
    root.mkdir()
    (root / "a.bmp").write_bytes(b"BM\x00")
    (root / "blob").write_bytes(b"\x00" * 100)
    (root / "empty.md").write_text("")
    uri = tmp_path / "kb"
    report = shoal.ingest(root, into=str(uri), embedder="hash:64", cache=cache)
    assert report.ingested_nothing and not report.created and not report.committed
    assert report.version == 0 and report.uri == str(uri)
    assert not uri.exists()
    with pytest.raises(shoal.DatasetNotFound):
        shoal.open(uri, create=False)
    assert report.nothing_ingested_reason() == (
        "found 1 readable file(s), but 1 had no text; skipped 2 (2 binary)"
    )
    assert "nothing was ingested into" in caplog.text
    memory = shoal.ingest(root, into="memory://nothing-here", embedder="hash:64", cache=cache)
    assert memory.ingested_nothing
    with pytest.raises(shoal.DatasetNotFound):
        shoal.open("memory://nothing-here", create=False)


def test_nothing_to_ingest_into_an_existing_dataset_leaves_it_as_it_was(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    ds = shoal.open(uri, embedder="hash:64")
    ds.add(["kept"])
    version = ds.version
    empty = tmp_path / "empty"
    empty.mkdir()
    report = shoal.ingest(empty, into=uri, cache=cache)
    assert report.ingested_nothing and not report.created
    assert report.version == version and report.nothing_ingested_reason() == (
        "found no file of a type Shoal reads"
    )
    assert [r["text"] for r in shoal.open(uri).select(["text"])] == ["kept"]


def test_a_rerun_with_nothing_new_is_not_nothing_ingested(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    root = tmp_path / "docs"
    write_doc_tree(root)
    uri = str(tmp_path / "kb")
    shoal.ingest(root, into=uri, embedder="hash:64", cache=cache)
    again = shoal.ingest(root, into=uri, cache=cache)
    assert not again.wrote and not again.ingested_nothing and len(again.unchanged) == 12
