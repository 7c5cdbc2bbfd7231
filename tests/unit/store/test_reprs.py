"""Printing rows and hits never dumps binary data, long texts or whole vectors."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

import shoal.store as st
from shoal.store._reprs import short_repr, short_text

PNG = b"\x89PNG\r\n\x1a\n" + bytes(12_337)


def test_a_record_shows_bytes_by_size_and_cuts_long_text_and_vectors(tmp_path: Path) -> None:
    ds = st.open(str(tmp_path / "kb"), embedder="hash:64")
    text = "word " * 400
    [row_id] = ds.add(
        [text],
        metadatas=[{"source": "a.md", "note": "x" * 500}],
        columns={"image": st.Binary([PNG], "image/png")},
    )
    [record] = ds.get([row_id])
    shown = repr(record)
    assert "<bytes 12,345>" in shown
    assert "(2,000 chars)" in shown and text not in shown
    assert "<float32[64] [" in shown
    assert "x" * 100 not in shown and "(500 chars)" in shown
    assert len(shown) < 600
    assert "\\x89PNG" not in shown


def test_a_hit_shows_its_score_and_a_cut_text(tmp_path: Path) -> None:
    ds = st.open(str(tmp_path / "kb"), embedder="hash:64")
    ds.add(["cat " * 100], metadatas=[{"source": "cats.md"}])
    [hit] = ds.search("cat", k=1)
    shown = repr(hit)
    assert shown.startswith(f"Hit(id={hit.id!r}, score={hit.score:.4f}, text='cat cat")
    assert "(400 chars)" in shown and "'source': 'cats.md'" in shown
    page = hit._repr_html_()
    assert page.startswith("<table>") and "cats.md" in page and hit.id in page


def test_short_repr_shortens_containers_and_keeps_small_values() -> None:
    assert short_repr(b"abc") == "<bytes 3>"
    assert short_repr("short") == "'short'"
    assert short_repr([1, 2]) == "[1, 2]"
    assert short_repr(list(range(20))).endswith(", ... (20 items)]")
    assert short_repr({f"k{i}": i for i in range(10)}).endswith(", ... (10 keys)}")
    assert short_repr(np.zeros((3, 4), dtype=np.float32)) == "<float32[3, 4]>"
    assert short_repr(np.arange(3, dtype=np.float32)) == "[0.0, 1.0, 2.0]"
    assert short_text("abc", 3) == "abc" and short_text("abcd", 3).endswith("(4 chars)")


def test_a_dataset_shows_its_summary_as_an_html_table(tmp_path: Path) -> None:
    ds = st.open(str(tmp_path / "a<b"), embedder="hash:64")
    ds.add(["one", "two"])
    page = ds._repr_html_()
    assert page.startswith("<table><caption>") and "2 rows" in page
    assert html.escape(ds.uri) in page and "a<b" not in page
    for column in ("embedding", "metadata", "text", "id"):
        assert f"<td>{column}</td>" in page
