"""`$match`: rows whose text holds every word, through the keyword index, kept current as
rows are added and deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

import shoal.store as st
from shoal.errors import FilterError


def _ids(ds: st.Dataset, where: dict) -> list[str]:
    return sorted(r["id"] for r in ds.select(["id"], where=where))


def test_match_finds_every_word_and_follows_writes(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:16")
    ds.add(["The cats are running in the park", "A cat sleeps", "Dogs run in parks", "zzz"],
           ids=list("abcd"))  # fmt: skip
    assert _ids(ds, {"text": {"$match": "cat"}}) == ["a", "b"]
    assert _ids(ds, {"text": {"$match": "running parks"}}) == ["a", "c"], "stemmed"
    assert _ids(ds, {"text": {"$not": {"$match": "cat"}}}) == ["c", "d"]
    assert _ids(ds, {"text": {"$match": "zebra"}}) == []
    assert _ids(ds, {"text": {"$match": "cat"}, "id": {"$ne": "a"}}) == ["b"]
    ds.add(["one more cat"], ids=["e"])
    ds.delete(ids=["b"])
    assert _ids(ds, {"text": {"$match": "CAT"}}) == ["a", "e"]
    hits = ds.search("cat", k=5, where={"text": {"$match": "park"}})
    assert sorted(h.id for h in hits) == ["a", "c"]
    assert ds.delete(where={"text": {"$match": "dogs"}}) == 1 and len(ds) == 3


def test_match_is_bounded_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:16")
    ds.add([f"common word {i}" for i in range(30)])
    monkeypatch.setenv("SHOAL_FILTER_MAX_VALUES", "10")
    with pytest.raises(FilterError, match="matches 30 rows, more than the 10"):
        ds.select(["id"], where={"text": {"$match": "common"}})
    with pytest.raises(FilterError, match="holds no word"):
        ds.select(["id"], where={"text": {"$match": "the of"}})
    with pytest.raises(FilterError, match="goes on 'text'"):
        ds.select(["id"], where={"source": {"$match": "common"}})
