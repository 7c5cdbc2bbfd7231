"""Datasets as wholes: listing a folder's datasets, deleting one, and measuring one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shoal.store as st
from shoal.errors import ConfigurationError, DatasetNotFound


def test_datasets_lists_a_folders_datasets_and_a_dataset_itself(tmp_path: Path) -> None:
    for name in ("b", "a"):
        st.open(str(tmp_path / name), embedder="hash:8").add(["x"])
    (tmp_path / "not-a-dataset").mkdir()
    (tmp_path / "file.txt").write_text("hi")
    assert st.datasets(tmp_path) == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert st.datasets(tmp_path / "a") == [str(tmp_path / "a")]
    assert st.datasets(tmp_path / "not-a-dataset") == []
    with pytest.raises(DatasetNotFound, match="no folder at"):
        st.datasets(tmp_path / "missing")


def test_datasets_lists_memory_datasets_and_refuses_s3() -> None:
    uri = f"memory://listed-{uuid.uuid4().hex}"
    st.open(uri, embedder="hash:8")
    assert uri in st.datasets("memory://")
    assert st.datasets(uri) == [uri]
    with pytest.raises(ConfigurationError, match="aws s3 ls s3://bucket/prefix/"):
        st.datasets("s3://bucket/prefix")


def test_drop_deletes_the_dataset_and_every_version(
    place: Any, make_dataset: Callable[..., st.Dataset]
) -> None:
    ds = make_dataset()
    ds.add(["one", "two"])
    ds.commit("two rows", tag="v1")
    st.drop(place.uri, storage_options=place.storage_options)
    with pytest.raises(DatasetNotFound):
        place.open(create=False)
    with pytest.raises(DatasetNotFound, match="nothing to delete"):
        st.drop(place.uri, storage_options=place.storage_options)
    assert len(make_dataset()) == 0  # the place can hold a new dataset


def test_drop_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DatasetNotFound):
        st.drop(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_stats_counts_rows_history_bytes_index_and_metadata_keys(tmp_path: Path) -> None:
    ds = st.open(str(tmp_path / "kb"), embedder="hash:8")
    ds.add(
        ["a", "b", "c"],
        metadatas=[{"source": "x", "lang": "en"}, {"source": "y"}, {"source": "z", "n": 1}],
    )
    ds.commit("three", tag="v1")
    ds.branch("exp")
    before = ds.stats()
    assert (before.rows, before.version, before.branch) == (3, ds.version, "main")
    assert (before.versions, before.tags, before.branches) == (len(ds.log()), 1, 1)
    assert before.metadata_keys == {"source": 3, "lang": 1, "n": 1}
    assert list(before.metadata_keys) == ["source", "lang", "n"]  # most common, then by name
    assert before.bytes_on_disk is not None and before.bytes_on_disk > 1000
    assert (before.index_version, before.index_rows, before.index_storage) == (None, 0, "auto")
    ds.refresh_index()  # saves a vector index beside the data
    after = ds.stats()
    assert (after.index_version, after.index_rows) == (ds.version, 3)
    assert after.bytes_on_disk is not None and after.bytes_on_disk > before.bytes_on_disk


def test_stats_of_a_memory_dataset_has_no_size_on_disk() -> None:
    ds = st.open(f"memory://stats-{uuid.uuid4().hex}", embedder="hash:8")
    ds.add(["a"])
    measured = ds.stats()
    assert measured.bytes_on_disk is None and measured.rows == 1 and measured.metadata_keys == {}
