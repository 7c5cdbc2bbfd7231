"""Re-embedding an ingested dataset gives what ingesting the same files with the new model
gives: chunks embedded with their title and headings, images from their bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal
from clip_fixtures import tiny_clip
from image_fixtures import base_images, png_bytes
from shoal.errors import InvalidInput
from shoal.ingestion._files import SPLITTER
from shoal.store._reembed import INGESTED_KEY


def _rows(ds: shoal.Dataset) -> dict[str, tuple[str, Any, np.ndarray]]:
    ids = [row["id"] for row in ds.select(["id"])]
    return {r.id: (r.text, r.metadata, np.asarray(r.embedding)) for r in ds.get(ids)}


def _same(a: shoal.Dataset, b: shoal.Dataset) -> None:
    left, right = _rows(a), _rows(b)
    assert sorted(left) == sorted(right)
    for row_id, (text, metadata, vector) in left.items():
        assert (text, metadata) == right[row_id][:2]
        np.testing.assert_allclose(vector, right[row_id][2], atol=2e-5)


def test_the_key_that_marks_ingested_chunks_is_the_ingests_own() -> None:
    assert INGESTED_KEY == SPLITTER


def test_reembedded_chunks_equal_a_fresh_ingest_with_the_new_model(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(4):
        body = "\n\n".join(f"Paragraph {i} of guide {n} about topic {i % 3}." for i in range(6))
        (docs / f"guide{n}.md").write_text(f"# Guide {n}\n\n## Setup\n\n{body}\n")
    (docs / "plain.txt").write_text("A plain text file without headings.\n")
    options: dict[str, Any] = {"chunk_size": 120, "cache": False}
    shoal.ingest([docs], into=tmp_path / "kb", embedder="hash:32", **options)
    shoal.ingest([docs], into=tmp_path / "fresh", embedder="hash:48", **options)
    report = shoal.reembed(tmp_path / "kb", "hash:48", cache=False)
    assert report.committed and report.rows == len(shoal.open(tmp_path / "fresh"))
    _same(shoal.open(tmp_path / "kb"), shoal.open(tmp_path / "fresh"))
    # An ingest after the reembed finds every file unchanged.
    again = shoal.ingest([docs], into=tmp_path / "kb", **options)
    assert again.chunks_added == 0 and len(again.unchanged) == 5


@pytest.mark.slow
def test_image_rows_are_embedded_from_their_bytes(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the tiny CLIP is written with transformers")
    first = tiny_clip(tmp_path / "clip-a", seed=0)
    second = tiny_clip(tmp_path / "clip-b", seed=1)
    folder = tmp_path / "pictures"
    folder.mkdir()
    pictures = base_images()
    for name in ("red-circle", "blue-bar", "stripes"):
        (folder / f"{name}.png").write_bytes(png_bytes(pictures[name]))
    (folder / "notes.md").write_text("# Notes\n\nThe red circle is the first picture.\n")
    shoal.ingest([folder], into=tmp_path / "kb", embedder=f"local:{first}", cache=False)
    shoal.ingest([folder], into=tmp_path / "fresh", embedder=f"local:{second}", cache=False)
    ds = shoal.open(tmp_path / "kb")
    report = ds.reembed(f"local:{second}", cache=False)
    assert (report.rows, report.images) == (4, 3)
    _same(ds, shoal.open(tmp_path / "fresh"))
    with pytest.raises(InvalidInput, match=r"3 image row\(s\).*embeds no images"):
        ds.reembed("hash:16")
    assert ds.spec.name == f"local:{second}"
