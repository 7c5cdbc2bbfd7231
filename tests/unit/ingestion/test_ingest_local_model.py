"""Ingest with the real default model: no chunk longer than its window, and search finds chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

import shoal
from shoal import EmbeddingCache
from shoal.embeddings.local import LocalEmbedder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "jordan.txt").write_text(
        "Michael Jeffrey Jordan was born in 17 February 1963.\n\n"
        "He played fifteen seasons in the NBA, winning six championships with the Bulls.\n"
    )
    (docs / "einstein.md").write_text("# Einstein\n\nAlbert Einstein was born on 14 March 1879.\n")
    # Dense tokens: 1000 characters of these are about 650 word pieces, past the 256 window.
    (docs / "codes.txt").write_text(" ".join(f"x{i}y{i % 7}" for i in range(900)))
    return docs


@pytest.mark.slow
def test_default_ingest_keeps_langchain_chunks_and_splits_what_the_model_would_cut(
    folder: Path, tmp_path: Path, minilm: LocalEmbedder, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    report = shoal.ingest(folder, into=uri, embedder=minilm, cache=cache)
    assert len(report.new) == 3
    ds = shoal.open(uri, embedder=minilm)
    rows = ds.select(["text", "source", "splitter"])
    assert {r["splitter"] for r in rows} == {"chars 1000/0 fit 256"}
    assert all(minilm.count_tokens(r["text"]) <= 256 for r in rows)
    codes = (folder / "codes.txt").read_text()
    langchain = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0).split_text(codes)
    stored = [r["text"] for r in rows if r["source"].endswith("codes.txt")]
    assert len(stored) > len(langchain)  # each 1000-character chunk was too long: split again
    assert " ".join(stored) == " ".join(langchain)
    [hit] = ds.search("When was Michael Jordan born?", k=1)
    assert hit.text.startswith("Michael Jeffrey Jordan was born in 17 February 1963.")
    assert hit.metadata["source"] == str(folder / "jordan.txt")
    assert hit.metadata["lines"] == [1, 3]


@pytest.mark.slow
def test_token_chunks_fit_the_window(
    folder: Path, tmp_path: Path, minilm: LocalEmbedder, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    shoal.ingest(folder, into=uri, embedder=minilm, tokens=True, chunk_overlap=10, cache=cache)
    rows = shoal.open(uri, embedder=minilm).select(["text", "splitter"])
    assert {r["splitter"] for r in rows} == {"tokens 254/10 fit 256"}
    sizes = [minilm.count_tokens(r["text"]) for r in rows]
    assert max(sizes) <= 256 and max(sizes) > 200  # filled close to the window
    with pytest.raises(shoal.InvalidInput, match="more than the model reads"):
        shoal.ingest(folder, into=uri, embedder=minilm, tokens=True, chunk_size=300, cache=cache)
