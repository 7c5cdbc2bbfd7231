"""Dataset.select reads ids, texts and metadata paths of every (matching) row; row_id is add's id."""

from __future__ import annotations

import pytest

import shoal.store as st
from shoal import FilterError, InvalidInput
from shoal.errors import UnknownFieldWarning


def test_select_reads_ids_texts_and_metadata_paths(ds: st.Dataset) -> None:
    ids = ds.add(
        ["one", "two", "three"],
        metadatas=[
            {"source": "a.txt", "n": 1, "author": {"name": "Ann"}, "tags": ["x", "y"]},
            {"source": "b.txt", "n": 2},
            None,
        ],
    )
    rows = ds.select(["id", "text", "source", "author.name", "tags.1", "missing.path"])
    assert sorted(rows, key=lambda r: r["text"]) == [
        {"id": ids[0], "text": "one", "source": "a.txt", "author.name": "Ann", "tags.1": "y",
         "missing.path": None},
        {"id": ids[2], "text": "three", "source": None, "author.name": None, "tags.1": None,
         "missing.path": None},
        {"id": ids[1], "text": "two", "source": "b.txt", "author.name": None, "tags.1": None,
         "missing.path": None},
    ]  # fmt: skip


def test_select_with_a_filter_and_after_deletes(ds: st.Dataset) -> None:
    ds.add(["a", "b", "c"], metadatas=[{"n": 1}, {"n": 2}, {"n": 3}])
    assert sorted(r["text"] for r in ds.select(["text"], where={"n": {"$gte": 2}})) == ["b", "c"]
    ds.delete(where={"n": 3})
    assert sorted(r["n"] for r in ds.select(["n"])) == [1, 2]
    with pytest.warns(UnknownFieldWarning, match="'nope'"):
        assert ds.select(["text"], where={"nope": 1}) == []
    with pytest.raises(FilterError):
        ds.select(["text"], where={"n": {"$nope": 1}})


def test_select_sees_rows_written_by_another_handle(place: object, ds: st.Dataset) -> None:
    other = st.open(ds.uri, storage_options=getattr(place, "storage_options", None))
    ds.add(["x"])
    assert other.select(["text"]) == [{"text": "x"}]
    other.add(["y"])
    assert sorted(r["text"] for r in ds.select(["text"])) == ["x", "y"]


def test_select_rejects_a_bare_string(ds: st.Dataset) -> None:
    with pytest.raises(InvalidInput, match="list of names"):
        ds.select("id")
    assert ds.select(["id"]) == []


def test_row_id_is_the_id_add_gives() -> None:
    ds = st.open("memory://row-id", embedder="hash:8")
    [stored] = ds.add(["some text"], metadatas=[{"b": 2, "a": [1, {"c": None}]}])
    assert st.row_id("some text", {"a": [1, {"c": None}], "b": 2}) == stored
    assert st.row_id("some text") != stored
    assert st.row_id("some text", {}) == st.row_id("some text")
    with pytest.raises(InvalidInput):
        st.row_id(3)  # type: ignore[arg-type]
