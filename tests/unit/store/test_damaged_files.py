"""Damaged and foreign files in a local dataset's folder.

Foreign files are ignored; a damaged derived file (the vector index) is rebuilt; a damaged
Lance file is a DatasetDamaged error that names it and says what to do, never a Rust
panic or Lance's raw text, and following its advice gets the dataset working again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import shoal.store as st
from shoal.errors import DatasetDamaged, StoreError
from shoal.store import _view
from shoal.store._index import IndexFile

DIM = 16
ROWS = 300


def _vectors(seed: int, rows: int = ROWS) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, DIM)).astype(np.float32)


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local dataset: version 2 adds rows a*, 3 commits, 4 adds rows b*; its index saved."""
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 100)
    monkeypatch.setattr(_view, "TAIL_MAX", 10)
    folder = tmp_path / "ds"
    ds = st.open(folder, embedder=f"hash:{DIM}")
    ids = [f"a{i}" for i in range(ROWS)]
    ds.add([f"alpha {i}" for i in ids], ids=ids, embeddings=_vectors(1))
    ds.commit("the a rows")
    ids = [f"b{i}" for i in range(ROWS)]
    ds.add([f"beta {i}" for i in ids], ids=ids, embeddings=_vectors(2))
    ds.refresh_index()
    assert ds.version == 4
    return folder


def _manifest(path: Path, version: int) -> Path:
    """Lance's manifest of `version` (v2 names count down from 2**64 - 1)."""
    return path / "_versions" / f"{2**64 - 1 - version:020d}.manifest"


def _data_file_of_version(path: Path, version: int) -> Path:
    """The data file that `version` added."""
    before = {f for frag in st.open(path).checkout(version - 1)._current().get_fragments()
              for f in (d.path for d in frag.data_files())}  # fmt: skip
    now = [d.path for frag in st.open(path).checkout(version)._current().get_fragments()
           for d in frag.data_files() if d.path not in before]  # fmt: skip
    [name] = now
    return path / "data" / name


def _usable(ds: st.Dataset, rows: int) -> None:
    """Reads, searches and writes all work."""
    assert len(ds) == rows
    assert [h.id for h in ds.search(_vectors(1)[5], k=1)] == ["a5"]
    assert [h.id for h in ds.search("alpha a7", k=1, mode="keyword")] == ["a7"]
    assert ds.get(["a9"])[0].text == "alpha a9"
    assert len(ds.select(["id"])) == rows
    assert ds.log()[-1].version == ds.version
    ds.add(["one more"], ids=[f"extra{rows}"], embeddings=_vectors(3, rows=1))
    assert len(ds) == rows + 1


def _clean(message: str) -> None:
    """Our words only: no Rust source path, no raw Lance error, no traceback text."""
    assert ".rs:" not in message and "LanceError" not in message and "panicked" not in message


# ------------------------------------------------------------------------ foreign files
@pytest.mark.parametrize(
    "where",
    ["", "_shoal", "_shoal/index", "data", "_versions", "_transactions", "_versions/x.manifest"],
)
def test_foreign_files_in_the_folder_are_ignored(path: Path, where: str) -> None:
    if where.endswith(".manifest"):
        (path / where).write_text("not a manifest")  # no version number: Lance skips it
    else:
        (path / where / "NOTES.txt").write_text("the user's own notes")
        (path / where / "copy.npz").write_bytes(b"\x00" * 100)
    ds = st.open(path)
    assert ds.version == 4
    _usable(ds, 2 * ROWS)
    assert ds.cleanup(older_than=dt.timedelta(0)) >= 1
    _usable(st.open(path), 2 * ROWS + 1)
    leftover = path / where if where.endswith(".manifest") else path / where / "NOTES.txt"
    assert leftover.exists()  # cleanup deletes only Lance's own unreferenced files


# -------------------------------------------------------------------------- the index
@pytest.mark.parametrize("damage", ["truncated", "zeroed", "garbage"])
def test_a_damaged_index_file_is_ignored_and_rebuilt(
    path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    file = path / "_shoal" / "index" / "main.npz"
    size = file.stat().st_size
    if damage == "truncated":
        with file.open("r+b") as handle:
            handle.truncate(size // 2)
    elif damage == "zeroed":
        file.write_bytes(b"\x00" * size)
    else:
        file.write_bytes(b"not an index at all")
    with caplog.at_level(logging.WARNING, logger="shoal.store"):
        ds = st.open(path)
        _usable(ds, 2 * ROWS)
    assert f"ignoring damaged vector index {file}" in caplog.text and "rebuilding it" in caplog.text
    ds.refresh_index()
    saved = IndexFile(file).load(DIM, "cosine")
    assert saved is not None and saved.version == ds.version
    # The pointer file and the faiss and rows files it names: the old ones are gone.
    faiss_file, rows_file, pointer = sorted(p.name for p in file.parent.iterdir())
    token = faiss_file.split(".")[1]
    assert (faiss_file, rows_file, pointer) == (
        f"main.{token}.faiss",
        f"main.{token}.rows.arrow",
        "main.npz",
    )


# ------------------------------------------------------------------------ manifests
@pytest.mark.parametrize("damage", ["truncated", "empty", "zeroed", "garbled"])
def test_a_damaged_latest_manifest_names_the_file_and_the_intact_version(
    path: Path, damage: str
) -> None:
    manifest = _manifest(path, 4)
    data = manifest.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "zeroed": b"\x00" * len(data),
        "garbled": data[:40] + bytes(255 - b for b in data[40:-40]) + data[-40:],
    }[damage]
    manifest.write_bytes(damaged)
    with pytest.raises(DatasetDamaged) as caught:
        st.open(path)
    assert str(caught.value) == (
        f"cannot open the dataset at {path}: the manifest of its latest version, version 4 "
        f"(_versions/{manifest.name}), is damaged (truncated or corrupt); version 3 is intact: "
        "move that file out of the _versions folder to make version 3 the latest again (what "
        "later versions wrote is then lost), or restore the folder from a backup"
    )
    _clean(str(caught.value))
    assert caught.value.__cause__ is not None or damage == "zeroed"
    # Following the advice: the dataset opens at version 3, and works.
    shutil.move(manifest, path.parent / manifest.name)
    ds = st.open(path)
    assert ds.version == 3
    _usable(ds, ROWS)


def test_a_damaged_older_manifest_breaks_only_what_reads_it(path: Path) -> None:
    manifest = _manifest(path, 3)
    manifest.write_bytes(manifest.read_bytes()[:50])
    ds = st.open(path)
    assert [h.id for h in ds.search(_vectors(2)[3], k=1)] == ["b3"]  # the latest works
    assert len(ds.checkout(2)) == ROWS
    expected = (
        f"the manifest of version 3 (_versions/{manifest.name}) is damaged (truncated or "
        "corrupt); the other versions still work (check them out by number); restore the "
        "folder from a backup to get version 3 back"
    )
    for call, action in ((ds.log, "list the versions of"), (lambda: ds.checkout(3), "check out a version of")):  # fmt: skip
        with pytest.raises(DatasetDamaged) as caught:
            call()
        assert str(caught.value) == f"cannot {action} {path}: {expected}"
        _clean(str(caught.value))


# ------------------------------------------------------------------------ data files
DataDamage = Callable[[Path], str]


def _truncate(file: Path) -> str:
    size = file.stat().st_size
    with file.open("r+b") as handle:
        handle.truncate(size // 2)
    return rf"is truncated or overwritten \({size // 2} bytes, not the {size} written\)"


def _remove(file: Path) -> str:
    file.unlink()
    return "is missing"


def _zero(file: Path) -> str:
    file.write_bytes(b"\x00" * file.stat().st_size)
    return r"cannot be read \(.*\)"


@pytest.mark.parametrize(
    "damage", [_truncate, _remove, _zero], ids=["truncated", "missing", "zeroed"]
)
def test_a_damaged_data_file_is_named_with_the_version_to_restore(
    path: Path, damage: DataDamage
) -> None:
    file = _data_file_of_version(path, 4)
    problem = damage(file)
    ds = st.open(path)  # the manifest is fine: opening works
    assert len(ds) == 2 * ROWS  # and so does counting, from the manifest
    pattern = (
        rf"cannot (?P<action>[a-z ]+) {re.escape(str(path))}: data file data/{file.name}, used "
        rf"by version 4, {problem}; version 3 is the latest that does without it: "
        r"Dataset\.restore\(3\) makes it the latest again \(dropping what later versions "
        r"wrote\), or restore the folder from a backup"
    )
    calls = {
        "search": lambda: ds.search(_vectors(1)[5], k=1),
        "read rows of": lambda: ds.get(["b1"]),
        "add rows to": lambda: ds.add(["new"], ids=["new"], embeddings=_vectors(4, rows=1)),
    }
    for action, call in calls.items():
        with pytest.raises(DatasetDamaged) as caught:
            call()
        match = re.fullmatch(pattern, str(caught.value))
        assert match and match["action"] == action, str(caught.value)
        _clean(str(caught.value))
        assert caught.value.__cause__ is not None  # Lance's own error, for a bug report
    assert st.open(path).version == 4  # the failed add wrote nothing
    # Following the advice brings the dataset back, without version 4's rows.
    restored = ds.restore(3)
    assert restored == 5
    _usable(st.open(path), ROWS)


def test_a_damaged_data_file_shared_by_every_version_says_to_restore_a_backup(
    path: Path,
) -> None:
    file = _data_file_of_version(path, 2)
    _truncate(file)
    ds = st.open(path)
    with pytest.raises(DatasetDamaged) as caught:
        ds.search(_vectors(1)[5], k=1)
    message = str(caught.value)
    assert f"data file data/{file.name}, used by version 4, is truncated" in message
    assert message.endswith(
        "version 1 is the latest that does without it: Dataset.restore(1) makes it the latest "
        "again (dropping what later versions wrote), or restore the folder from a backup"
    )


def test_storage_errors_are_store_errors_with_the_cause_kept(path: Path) -> None:
    _remove(_data_file_of_version(path, 4))
    with pytest.raises(StoreError) as caught:
        st.open(path).select(["id", "text"])
    assert isinstance(caught.value, DatasetDamaged)
    cause = caught.value.__cause__
    assert cause is not None and "Not found" in str(cause)  # Lance's words stay in the cause


def test_a_truncated_transaction_file_only_loses_messages(path: Path) -> None:
    newest = max((path / "_transactions").iterdir(), key=os.path.getmtime)
    newest.write_bytes(newest.read_bytes()[:10])
    ds = st.open(path)
    _usable(ds, 2 * ROWS)
