"""`Dataset.staging`: many adds, one version; nothing on failure; a stopped stage's rows
adopted by the next one."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import shoal.store as st
from shoal.errors import InvalidInput, ReadOnlyDataset
from shoal.store._writes import Batch


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)


def test_staged_rows_become_one_version_when_the_block_ends(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    ds.add(["stored before"])
    before = ds.version
    with ds.staging("bulk import") as stage:
        first = stage.add(["one", "two", "stored before"])
        stage.add(["three", "one"], metadatas=[{"n": 3}, None])
        assert stage.rows == 3 and len(ds) == 1 and ds.version == before, "nothing visible yet"
        assert set(first[:2]) <= stage.staged_ids
    assert ds.version == before + 1 and len(ds) == 4
    assert ds.log()[-1].message == "bulk import" and ds.log()[-1].rows == 4
    assert ds.search("three", k=1, mode="keyword")[0].metadata == {"n": 3}
    assert ds.search(ds.get([first[1]])[0].embedding, k=1)[0].text == "two", "indexed"


def test_a_block_that_raises_commits_nothing(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    with pytest.raises(RuntimeError), ds.staging("doomed") as stage:
        stage.add(["one"], embeddings=_vectors(1, 0))
        raise RuntimeError("boom")
    assert len(ds) == 0 and [v.message for v in ds.log()] == ["create dataset"]
    assert not list((tmp_path / "kb" / "_shoal" / "staged").rglob("*.json")), "its record is gone"
    assert ds.staging("nothing").commit() is None


def test_a_stopped_stage_is_adopted_by_the_next(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    stopped = ds.staging("killed run")
    ids = stopped.add([f"row {i}" for i in range(5)], embeddings=_vectors(5, 1))
    assert st.open(tmp_path / "kb").staging("live").rows == 0, "a live stage's rows are its own"
    assert stopped._record is not None
    os.close(stopped._record.fd)  # as a killed process would: the lock goes, the record stays
    resumed = st.open(tmp_path / "kb").staging("resumed")
    assert resumed.rows == 5 and resumed.staged_ids == frozenset(ids)
    more = resumed.add([f"row {i}" for i in range(3, 7)], embeddings=_vectors(7, 1)[3:])
    assert resumed.rows == 7, "rows staged by the stopped stage are not staged twice"
    version = resumed.commit()
    reopened = st.open(tmp_path / "kb")
    assert version == reopened.version and len(reopened) == 7
    assert {r["id"] for r in reopened.select(["id"])} == {*ids, *more}
    assert [v.message for v in reopened.log()] == ["create dataset", "resumed"]
    assert not list((tmp_path / "kb" / "_shoal" / "staged").rglob("*.json"))


def test_a_stopped_stage_whose_columns_changed_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    stopped = ds.staging("killed run")
    stopped.add(["a", "b"], embeddings=_vectors(2, 2))
    assert stopped._record is not None
    os.close(stopped._record.fd)
    ds.add(["c"], metadatas=[{"lang": "en"}], columns={"year": [2020]})  # a new column
    resumed = st.open(tmp_path / "kb").staging("resumed")
    assert resumed.rows == 0 and "columns changed" in caplog.text
    assert resumed.commit() is None and len(st.open(tmp_path / "kb")) == 1


def test_rows_another_writer_stored_meanwhile_stay_once(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    other = st.open(tmp_path / "kb")
    with ds.staging("mine") as stage:
        stage.add(["shared", "mine only"])
        other.add(["shared"])  # the same content id, committed first
    ids = [r["id"] for r in st.open(tmp_path / "kb").select(["id"])]
    assert len(ids) == len(set(ids)) == 2


def test_a_stopped_stage_on_a_branch_is_adopted_on_that_branch_only(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    ds.add(["on main"], embeddings=_vectors(1, 5))
    exp = ds.branch("exp")
    stopped = exp.staging("killed on exp")
    stopped.add(["exp row"], embeddings=_vectors(1, 6))
    assert stopped._record is not None
    os.close(stopped._record.fd)
    assert st.open(tmp_path / "kb").staging("main run").rows == 0, "not main's to adopt"
    resumed = st.open(tmp_path / "kb").checkout("exp").staging("exp run")
    assert resumed.rows == 1 and resumed.commit() is not None
    assert len(st.open(tmp_path / "kb").checkout("exp")) == 2 and len(st.open(tmp_path / "kb")) == 1


def test_cleanup_leaves_a_stages_files_alone(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    ds.add(["a"])
    with ds.staging("while cleaning") as stage:
        stage.add([f"row {i}" for i in range(10)], embeddings=_vectors(10, 7))
        ds.add(["b"])
        ds.cleanup(keep_last=1)  # unreferenced files would go, but a stage holds some
    assert (
        len(ds) == 12
        and len(st.open(tmp_path / "kb").get([r["id"] for r in ds.select(["id"])])) == 12
    )
    ds.add(["c"])
    assert ds.cleanup(keep_last=1) >= 1 and len(ds) == 13


def test_staging_checks_its_handle_and_message(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "kb", embedder="hash:8")
    ds.add(["x"])
    ds.commit("one row", tag="v1")
    with pytest.raises(ReadOnlyDataset):
        ds.checkout("v1").staging("no")
    with pytest.raises(InvalidInput, match="non-empty message"):
        ds.staging(" ")
    with pytest.raises(InvalidInput, match="cannot add columns"), ds.staging("cols") as stage:
        stage.dataset._stage(Batch.build(["z"], None, None, None, {"year": [1]}, 8), set())
    assert len(ds) == 1


def test_memory_datasets_stage_too() -> None:
    ds = st.open("memory://staging-test", embedder="hash:8")
    with ds.staging("in memory") as stage:
        stage.add(["a", "b"])
    assert len(ds) == 2 and ds.log()[-1].message == "in memory"


def test_data_files_written_elsewhere_are_staged_and_a_released_stage_is_adopted(
    tmp_path: Path,
) -> None:
    from lance.fragment import write_fragments

    ds = st.open(tmp_path / "kb", embedder="hash:8")
    ds.add(["stored before"])
    batch = Batch.build(["one", "two"], None, None, _vectors(2, 1), None, 8)
    table = batch.table(ds.schema, [0, 1])
    fragments = write_fragments(table, str(tmp_path / "kb"), schema=ds.schema)
    stage = ds.staging("from a worker")
    stage.add_written(fragments, batch.ids, build={})
    with pytest.raises(InvalidInput, match="staged already"):
        stage.add_written(fragments, batch.ids[:1], build={})
    assert stage.rows == 2 and len(ds) == 1
    stage.release()  # as a failed job does: nothing committed, the record kept
    assert len(st.open(tmp_path / "kb")) == 1
    again = st.open(tmp_path / "kb").staging("the rerun")
    assert again.staged_ids == frozenset(batch.ids)
    again.commit()
    reopened = st.open(tmp_path / "kb")
    assert len(reopened) == 3 and reopened.log()[-1].message == "the rerun"
    assert reopened.get([batch.ids[1]])[0].text == "two"
