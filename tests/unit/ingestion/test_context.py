"""Chunks keep their title and heading path as metadata, and the embedder sees them in front of
the chunk; the stored text is the chunk alone. Code is cut at top-level definitions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import shoal
from fakes.embedders import CountingEmbedder
from fakes.files import docx_bytes
from fakes.texts import prose
from shoal.embeddings.hashing import HashEmbedder

RST = (
    "=====\nShoal\n=====\n\n"
    "Install\n-------\n\n" + prose(1, 2) + "\n\n"
    "From source\n~~~~~~~~~~~\n\n" + prose(2, 2) + "\n\n"
    "Usage\n-----\n\n" + prose(3, 2) + "\n"
)


def stored(uri: str) -> list[dict[str, object]]:
    """Each row's text, title and headings, in chunk order."""
    rows = shoal.open(uri).select(["text", "title", "headings", "chunk"])
    return sorted(rows, key=lambda r: int(r["chunk"]))  # type: ignore[call-overload]


def test_rst_chunks_carry_their_heading_path_and_the_embedder_sees_it(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.rst").write_text(RST)
    uri = str(tmp_path / "kb")
    model = CountingEmbedder()
    shoal.ingest(folder, into=uri, embedder=model, cache=False, chunk_size=200)

    rows = stored(uri)
    assert len(rows) > 4
    paths = [(r["title"], r["headings"]) for r in rows]
    assert paths[0] == ("Shoal", None)  # the first chunk starts above every section
    assert ("Shoal", ["Install"]) in paths and ("Shoal", ["Install", "From source"]) in paths
    assert paths[-1] == ("Shoal", ["Usage"])
    expected = []
    for row in rows:
        text = str(row["text"])
        assert text in RST  # stored as it is in the file
        context = " > ".join(["Shoal", *(row["headings"] or [])])  # type: ignore[list-item]
        expected.append(f"{context}\n\n{text}")
    assert sorted(model.texts) == sorted(expected)
    # The vector is the embedding of the text with its context, not of the bare chunk.
    ds = shoal.open(uri)
    record = ds.get([r["id"] for r in ds.select(["id"], where={"chunk": 3})])[0]
    hasher = HashEmbedder("64")
    assert record.embedding is not None
    assert np.allclose(record.embedding, hasher.embed_documents([expected[3]])[0])
    assert not np.allclose(record.embedding, hasher.embed_documents([record.text])[0])


def test_markdown_docx_and_html_chunks_get_title_and_headings(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text("# Guide\n\n## Install\n\nPip it.\n")
    (folder / "manual.docx").write_bytes(
        docx_bytes([("Heading1", "Setup"), ("", "Plug it in.")], title="Manual")
    )
    (folder / "page.html").write_text(
        "<title>Cats</title><h1>Cats</h1><h2>Sleeping</h2><p>Cats sleep a lot.</p>"
    )
    (folder / "plain.txt").write_text("No headings at all.\n")
    uri = str(tmp_path / "kb")
    model = CountingEmbedder()
    shoal.ingest(folder, into=uri, embedder=model, cache=False)
    rows = {
        Path(str(r["source"])).name: (r["title"], r["headings"], r["text"])
        for r in shoal.open(uri).select(["source", "title", "headings", "text"])
    }
    assert rows == {
        "guide.md": ("Guide", None, "# Guide\n\n## Install\n\nPip it."),
        "manual.docx": ("Manual", ["Setup"], "# Setup\n\nPlug it in."),
        "page.html": ("Cats", None, "# Cats\n## Sleeping\nCats sleep a lot."),
        "plain.txt": (None, None, "No headings at all."),
    }
    assert sorted(model.texts) == sorted(
        [
            "Guide\n\n# Guide\n\n## Install\n\nPip it.",
            "Manual > Setup\n\n# Setup\n\nPlug it in.",
            "Cats\n\n# Cats\n## Sleeping\nCats sleep a lot.",
            "No headings at all.",
        ]
    )


def test_headings_carry_across_the_sections_of_a_streamed_file(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    parts = ["# Handbook\n\n## Part one\n\n"]
    parts += [prose(i, 3) + "\n\n" for i in range(12)]
    parts += ["## Part two\n\n"] + [prose(i, 3) + "\n\n" for i in range(12, 24)]
    (folder / "handbook.md").write_text("".join(parts))
    uri = str(tmp_path / "kb")
    shoal.ingest(
        folder, into=uri, embedder="hash:64", cache=False, stream_above=1000, chunk_size=500
    )
    rows = stored(uri)
    sections = {
        json.dumps(r["headings"])
        for r in shoal.open(uri).select(["headings", "lines"])
        if r["headings"] is not None
    }
    assert sections == {'["Part one"]', '["Part two"]'}
    assert all(r["title"] == "Handbook" for r in rows)
    first_two = next(i for i, r in enumerate(rows) if r["headings"] == ["Part two"])
    assert all(r["headings"] == ["Part one"] for r in rows[1:first_two])
    assert all(r["headings"] == ["Part two"] for r in rows[first_two:])


def test_the_context_shrinks_when_the_model_window_cannot_take_it(tmp_path: Path) -> None:
    class Words(CountingEmbedder):
        """Counts words as tokens, with a window of 11."""

        max_seq_length = 11

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(
        "# Title\n\n## Section\n\n### Subsection\n\n" + "one two three four five six seven\n"
    )
    model = Words()
    uri = str(tmp_path / "kb")
    shoal.ingest(folder, into=uri, embedder=model, cache=False, chunk_size=60)
    rows = stored(uri)
    assert [(r["text"], r["headings"]) for r in rows] == [
        ("# Title\n\n## Section\n\n### Subsection", None),
        ("one two three four five six seven", ["Section", "Subsection"]),
    ]
    # 7 words and an 11-token window: "Title > Section > Subsection" (5 words) does not fit,
    # "Title > Subsection" (3) does.
    assert sorted(model.texts) == sorted(
        [
            "Title > Subsection\n\none two three four five six seven",
            "Title\n\n# Title\n\n## Section\n\n### Subsection",
        ]
    )


def test_code_is_cut_at_top_level_definitions_and_keeps_its_language(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    functions = [
        f"def function_{i}(value):\n"
        f'    """Function {i}."""\n'
        f"    total = value + {i}\n\n"
        f"    return total * {i}\n"
        for i in range(6)
    ]
    code = "import os\n\n\n" + "\n\n".join(functions) + "\n\n@decorated\nclass Last:\n    pass\n"
    (folder / "module.py").write_text(code)
    uri = str(tmp_path / "kb")
    shoal.ingest(folder, into=uri, embedder="hash:64", cache=False, chunk_size=200)
    rows = shoal.open(uri).select(["text", "language", "type", "chunk"])
    texts = [str(r["text"]) for r in sorted(rows, key=lambda r: int(r["chunk"]))]  # type: ignore[call-overload]
    assert {(r["type"], r["language"]) for r in rows} == {("code", "python")}
    # Every chunk after the first starts at a definition: no function is cut in its middle.
    assert all(text.startswith(("def function_", "@decorated")) for text in texts[1:])
    assert texts[-1] == "@decorated\nclass Last:\n    pass"
    for i in range(6):
        assert sum(f"def function_{i}(" in t and f"return total * {i}" in t for t in texts) == 1
