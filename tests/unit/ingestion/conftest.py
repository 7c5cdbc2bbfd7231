"""Ingest fixtures: a folder of small files the tests write, and a cache of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.texts import prose
from shoal import EmbeddingCache


def write_files(folder: Path, count: int, *, paragraphs: int = 3) -> list[Path]:
    """`count` text and Markdown files of prose under `folder` (some in a subfolder)."""
    files = []
    for i in range(count):
        sub = folder / ("notes" if i % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        file = sub / f"doc{i:03d}.{'md' if i % 2 else 'txt'}"
        file.write_text(f"# Document {i}\n\n{prose(i, paragraphs)}\n", encoding="utf-8")
        files.append(file)
    return files


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    """An embedding cache no other test shares."""
    return EmbeddingCache(tmp_path / "embeddings.sqlite3")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder of 12 small text and Markdown files."""
    folder = tmp_path / "docs"
    write_files(folder, 12)
    return folder
