"""The store's memory and start-up design: vectors held once, texts fetched for hits only,
opening from the saved files without a table scan, the background index builder, and the
persistent keyword index (stale, damaged, restored)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pytest

import shoal.store as st
from shoal.store import _bm25, _lance, _view
from shoal.store._bm25 import KeywordIndex
from shoal.store._index import IndexFile
from shoal.store._location import VersionWatch

DIM = 16
WORDS = [
    "apple",
    "banana",
    "cherry",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
]


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _texts(rng: np.random.Generator, n: int, start: int = 0) -> list[str]:
    return [f"row{start + i} " + " ".join(rng.choice(WORDS, 4)) for i in range(n)]


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index from 200 rows, extend past a 64-row tail, a builder chunk of 100 rows."""
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 200)
    monkeypatch.setattr(_view, "TAIL_MAX", 64)
    monkeypatch.setattr(_view, "BUILD_CHUNK", 100)


def _filled(path: Path, n: int, seed: int = 0) -> tuple[st.Dataset, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    ds = st.open(path, embedder=f"hash:{DIM}")
    vectors, texts = _vectors(rng, n), _texts(rng, n)
    ds.add(
        texts,
        ids=[f"r{i}" for i in range(n)],
        embeddings=vectors,
        metadatas=[{"i": i} for i in range(n)],
    )
    return ds, vectors, texts


def _top1(ds: st.Dataset, vectors: np.ndarray) -> list[str]:
    return [hits[0].id for hits in ds.search_batch(vectors, k=1)]


# ------------------------------------------------------------------ vectors held once
def test_indexed_vectors_live_once_in_the_index(tmp_path: Path, small: None) -> None:
    ds, vectors, _ = _filled(tmp_path / "ds", 500)
    ds.refresh_index()
    view = ds._view
    assert view.index is not None and view.snapshot is not None
    assert view.snapshot.indexed == 500 and len(view.snapshot._tail) == 0
    assert np.shares_memory(view.snapshot.base, view.index.vectors())
    assert _top1(ds, vectors[:20]) == [f"r{i}" for i in range(20)]


def test_a_reopened_dataset_maps_the_saved_index_and_scans_no_table(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, vectors, texts = _filled(tmp_path / "ds", 500)
    ds.refresh_index()
    del ds
    scans: list[object] = []
    real = _view.Snapshot.append_batches
    monkeypatch.setattr(
        _view.Snapshot, "append_batches", lambda s, b: scans.append(b) or real(s, b)
    )
    reopened = st.open(tmp_path / "ds")
    hits = reopened.search(vectors[7], k=3)
    assert hits[0].id == "r7" and hits[0].text == texts[7] and hits[0].metadata == {"i": 7}
    assert scans == [], "the reopened dataset read every vector from Lance"
    index = reopened._view.index
    assert index is not None and index.mapped and index.count == 500
    # Adding to the mapped index works on an owned copy (faiss aborts on a mapped one).
    rng = np.random.default_rng(9)
    more = _vectors(rng, 100)
    reopened.add(_texts(rng, 100, 500), ids=[f"r{i}" for i in range(500, 600)], embeddings=more)
    reopened.refresh_index()
    index = reopened._view.index
    assert index is not None and not index.mapped and index.count == 600
    assert _top1(reopened, more[:10]) == [f"r{i}" for i in range(500, 510)]


def test_a_saved_index_of_another_dataset_at_the_same_path_is_not_trusted(
    tmp_path: Path, small: None, caplog: pytest.LogCaptureFixture
) -> None:
    ds, _, _ = _filled(tmp_path / "ds", 500, seed=1)
    ds.refresh_index()
    index_folder = tmp_path / "ds" / "_shoal" / "index"
    kept = {f.name: f.read_bytes() for f in index_folder.iterdir()}
    del ds
    shutil.rmtree(tmp_path / "ds")  # a new dataset made at the same path
    other, vectors, _ = _filled(tmp_path / "ds", 500, seed=2)
    other.refresh_index()
    for f in index_folder.iterdir():
        f.unlink()
    for name, data in kept.items():  # the first dataset's files, as a backup restore might leave
        (index_folder / name).write_bytes(data)
    saved = IndexFile(index_folder / "main.npz").load(DIM, "cosine")
    assert saved is not None
    with caplog.at_level(logging.WARNING, logger="shoal.store"):
        reopened = st.open(tmp_path / "ds")
        assert _top1(reopened, vectors[:30]) == [f"r{i}" for i in range(30)]
    assert "does not match its data" in caplog.text


# ------------------------------------------------------- texts fetched for hits only
def test_hits_carry_the_texts_of_the_version_searched(tmp_path: Path, small: None) -> None:
    ds, vectors, texts = _filled(tmp_path / "ds", 300)
    version = ds.version
    other = st.open(tmp_path / "ds")
    other.upsert(["a brand new text"], ids=["r5"], embeddings=vectors[5:6], metadatas=[{"i": 5}])
    other.set_metadata({"r6": {"i": 600}})
    # This handle catches up before it searches: the hit is the committed row, fetched now.
    hit = ds.search(vectors[5], k=1)[0]
    assert (hit.id, hit.text) == ("r5", "a brand new text")
    assert ds.search(vectors[6], k=1)[0].metadata == {"i": 600}
    # A checked-out version pins its rows: the old text and metadata, not the latest.
    old = st.open(tmp_path / "ds").checkout(version)
    assert old.search(vectors[5], k=1)[0].text == texts[5]
    assert old.search(vectors[6], k=1)[0].metadata == {"i": 6}
    assert old.search("brand", mode="keyword") == []
    assert [h.id for h in ds.search("brand", mode="keyword")] == ["r5"]


def test_stored_rows_are_found_in_lance_not_in_memory(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "ds", embedder=f"hash:{DIM}")
    texts = [f"text number {i}" for i in range(1_200)]
    ds.add(texts[:10])
    version = ds.version
    ds.add(texts[:10])  # ids are hashes of the texts: all stored, nothing written
    assert ds.version == version and len(ds) == 10
    ds.add(texts)  # past the IN list's size: the id column is read once
    assert ds.version == version + 1 and len(ds) == 1_200
    ds.add(texts[5:700])
    assert ds.version == version + 1


# ------------------------------------------------------------------ background builder
def test_rows_are_searchable_at_once_while_the_index_builds(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_INDEX_BUILD", "background")
    ds, vectors, _ = _filled(tmp_path / "ds", 3_000)
    assert ds._view.background
    # Searches answer (exactly over the unindexed rows) while the builder runs beside them.
    errors: list[BaseException] = []

    def search_from_a_thread(start: int) -> None:
        try:
            for i in range(start, 3_000, 300):
                assert ds.search(vectors[i], k=1)[0].id == f"r{i}"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=search_from_a_thread, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    assert _top1(ds, vectors[::97]) == [f"r{i}" for i in range(0, 3_000, 97)]
    for thread in threads:
        thread.join()
    assert errors == []
    ds.wait_for_index()
    index = ds._view.index
    assert index is not None and index.count == 3_000
    saved = IndexFile(tmp_path / "ds" / "_shoal" / "index" / "main.npz").load(DIM, "cosine")
    assert saved is not None and saved.version == ds.version and saved.index.count == 3_000
    assert _top1(ds, vectors[::101]) == [f"r{i}" for i in range(0, 3_000, 101)]


_KILLED_BUILDER = """
import sys, time
import numpy as np
import pyarrow as pa
import shoal.store as st
from shoal.store import _view
_view.INDEX_MIN_ROWS, _view.TAIL_MAX, _view.BUILD_CHUNK = 200, 64, 50
rng = np.random.default_rng(0)
vectors = rng.normal(size=(20_000, 16)).astype(np.float32)
ds = st.open(sys.argv[1], embedder="hash:16")
ds.add([f"t{i}" for i in range(20_000)], ids=[f"r{i}" for i in range(20_000)], embeddings=vectors)
ds.search(vectors[0], k=1)  # starts the builder
while ds._view.index is None or ds._view.index.count < 2_000:
    time.sleep(0.01)
print("building", flush=True)
time.sleep(60)
"""


def test_a_process_killed_during_a_background_build_leaves_a_usable_dataset(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "SHOAL_INDEX_BUILD": "background"}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_KILLED_BUILDER), str(tmp_path / "ds")],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"building"
    child.send_signal(signal.SIGKILL)
    child.wait()
    vectors = np.random.default_rng(0).normal(size=(20_000, 16)).astype(np.float32)
    ds = st.open(tmp_path / "ds")
    assert len(ds) == 20_000
    assert _top1(ds, vectors[::1_000]) == [f"r{i}" for i in range(0, 20_000, 1_000)]
    ds.wait_for_index()
    assert ds._view.index is not None and ds._view.index.count == 20_000


# ------------------------------------------------------------- persistent keyword index
@pytest.fixture(autouse=True)
def _keyword_saves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Save the keyword index as soon as a tenth of it changed, however small the dataset."""
    monkeypatch.setattr(_view, "KEYWORD_SAVE_MIN", 0)


def _keyword_ids(ds: st.Dataset, query: str, k: int = 5) -> list[str]:
    return [h.id for h in ds.search(query, mode="keyword", k=k)]


def test_the_keyword_index_is_saved_and_loaded_not_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, _, _ = _filled(tmp_path / "ds", 300)
    first = _keyword_ids(ds, "row17 apple")
    assert first[0] == "r17"
    assert (tmp_path / "ds" / "_shoal" / "keyword" / "main" / "manifest.json").exists()
    indexed: list[int] = []
    real = KeywordIndex._add
    monkeypatch.setattr(
        KeywordIndex, "_add", lambda s, r, t: indexed.append(len(r)) or real(s, r, t)
    )
    reopened = st.open(tmp_path / "ds")
    assert _keyword_ids(reopened, "row17 apple") == first
    assert indexed == [], "the saved keyword index was rebuilt"
    # Rows written since the save are caught up: only those are indexed.
    other = st.open(tmp_path / "ds")
    other.add(["zulu words here"], ids=["z"], embeddings=_vectors(np.random.default_rng(1), 1))
    other.update(where={"id": "r3"}, set={"text": "yankee replaced"})
    other.delete(ids=["r17"])
    assert _keyword_ids(reopened, "zulu") == ["z"]
    assert _keyword_ids(reopened, "yankee") == ["r3"]
    assert "r17" not in _keyword_ids(reopened, "row17 apple", k=300)
    assert sum(indexed) == 2


def test_keyword_scores_after_catching_up_equal_a_rebuilds(tmp_path: Path) -> None:
    ds, _, _ = _filled(tmp_path / "ds", 400)
    ds.search("apple", mode="keyword")
    rng = np.random.default_rng(5)
    ds.add(
        _texts(rng, 50, 400), ids=[f"r{i}" for i in range(400, 450)], embeddings=_vectors(rng, 50)
    )
    ds.delete(where={"i": {"$lt": 40}})
    ds.update(where={"id": "r100"}, set={"text": "apple apple apple"})
    queries = ["apple banana", "cherry", "golf hotel india", "apple"]
    caught_up = [ds.search(q, mode="keyword", k=20) for q in queries]
    (tmp_path / "ds" / "_shoal" / "keyword" / "main" / "manifest.json").unlink()
    fresh = st.open(tmp_path / "ds")
    rebuilt = [fresh.search(q, mode="keyword", k=20) for q in queries]
    for a, b in zip(caught_up, rebuilt, strict=True):
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)


@pytest.mark.parametrize("damage", ["manifest", "truncated", "missing"])
def test_a_damaged_keyword_index_is_ignored_and_rebuilt(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    ds, _, _ = _filled(tmp_path / "ds", 200)
    expected = _keyword_ids(ds, "row42 kilo")
    folder = tmp_path / "ds" / "_shoal" / "keyword" / "main"
    (postings,) = folder.glob("*.slots.npy")
    if damage == "manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "truncated":
        postings.write_bytes(postings.read_bytes()[:100])
    else:
        postings.unlink()
    with caplog.at_level(logging.WARNING, logger="shoal.store"):
        assert _keyword_ids(st.open(tmp_path / "ds"), "row42 kilo") == expected
    assert "ignoring damaged keyword index" in caplog.text
    assert _bm25.KeywordFile(folder).load(analysis="english") is not None, (
        "the rebuilt index was not saved"
    )


def test_a_restore_rebuilds_the_keyword_index(tmp_path: Path) -> None:
    ds, _, _ = _filled(tmp_path / "ds", 100)
    version = ds.version
    watcher = st.open(tmp_path / "ds")
    assert _keyword_ids(watcher, "row5") == ["r5"]
    ds.update(where={"id": "r5"}, set={"text": "quebec romeo"})
    assert _keyword_ids(watcher, "quebec") == ["r5"]
    ds.restore(version)
    assert _keyword_ids(watcher, "quebec") == []
    assert _keyword_ids(watcher, "row5") == ["r5"]
    assert _keyword_ids(st.open(tmp_path / "ds"), "quebec") == []


# ------------------------------------------------------- the rows file beside the index
def test_hits_come_from_the_saved_rows_file_until_a_row_changes(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, vectors, texts = _filled(tmp_path / "ds", 500)
    ds.refresh_index()
    takes: list[int] = []
    real = _lance.take

    def spy(dataset: Any, rowids: np.ndarray, columns: list[str]) -> pa.Table:
        if "text" in columns:  # a read of hits (the open's sample check reads vectors)
            takes.append(len(rowids))
        return real(dataset, rowids, columns)

    monkeypatch.setattr(_lance, "take", spy)
    reopened = st.open(tmp_path / "ds")
    hits = reopened.search_batch(vectors[:20], k=3)
    assert [h[0].id for h in hits] == [f"r{i}" for i in range(20)]
    assert [h[0].text for h in hits] == texts[:20] and hits[3][0].metadata == {"i": 3}
    assert takes == [], "hits of saved rows were read from Lance"
    # Rows changed in place (same vector, same position) are read from Lance, in this
    # handle and in one that opens the older file and catches up.
    writer = st.open(tmp_path / "ds")
    writer.set_metadata({"r3": {"i": 333}})
    writer.upsert(["new text of r4"], ids=["r4"], embeddings=vectors[4:5], metadatas=[{"i": 4}])
    for handle in (reopened, st.open(tmp_path / "ds")):
        takes.clear()
        three, four, five = (handle.search(vectors[i], k=1)[0] for i in (3, 4, 5))
        assert three.metadata == {"i": 333} and four.text == "new text of r4"
        assert five.text == texts[5]
        assert takes == [1, 1], "only the changed rows are read from Lance"


def test_a_damaged_rows_file_leaves_hits_to_lance(
    tmp_path: Path, small: None, caplog: pytest.LogCaptureFixture
) -> None:
    ds, vectors, texts = _filled(tmp_path / "ds", 300)
    ds.refresh_index()
    (rows_file,) = (tmp_path / "ds" / "_shoal" / "index").glob("*.rows.arrow")
    rows_file.write_bytes(b"\0" * rows_file.stat().st_size)
    with caplog.at_level(logging.WARNING, logger="shoal.store"):
        reopened = st.open(tmp_path / "ds")
        hit = reopened.search(vectors[9], k=1)[0]
    assert (hit.id, hit.text) == ("r9", texts[9])
    assert "ignoring damaged rows file" in caplog.text
    assert reopened._view.index is not None and reopened._view.index.mapped


def test_a_small_keyword_index_is_saved_by_wait_for_index_not_by_every_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_view, "KEYWORD_SAVE_MIN", 5_000)
    ds, _, _ = _filled(tmp_path / "ds", 300)
    manifest = tmp_path / "ds" / "_shoal" / "keyword" / "main" / "manifest.json"
    assert _keyword_ids(ds, "row7 apple")[0] == "r7"
    assert not manifest.exists(), "300 rows rebuild faster than their files are written"
    ds.wait_for_index()
    assert json.loads(manifest.read_text())["version"] == ds.version


# ------------------------------------------------------------ watching for new versions
def test_a_version_watch_trusts_only_a_settled_mtime(tmp_path: Path) -> None:
    folder = tmp_path / "_versions"
    folder.mkdir()
    watch = VersionWatch(folder)
    assert watch.changed(), "the first look always checks"
    assert watch.changed(), "a fresh mtime (inside the clock's tick) is not trusted"
    old = time.time() - 5
    os.utime(folder, (old, old))
    assert watch.changed() and not watch.changed(), "a settled, unchanged mtime: no new version"
    (folder / "1.manifest").write_bytes(b"")
    assert watch.changed(), "a commit adds a file: the folder's mtime moves on"
    shutil.rmtree(folder)
    assert watch.changed(), "a folder that cannot be read: check"


def test_searches_skip_the_version_listing_yet_see_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, vectors, _ = _filled(tmp_path / "ds", 50)
    listings: list[int] = []
    original = lance.LanceDataset.latest_version

    def counted(self: Any) -> int:
        listings.append(1)
        return int(original.fget(self))  # type: ignore[attr-defined]

    monkeypatch.setattr(lance.LanceDataset, "latest_version", property(counted))
    old = time.time() - 5
    os.utime(tmp_path / "ds" / "_versions", (old, old))  # as if the last commit were old
    ds.search(vectors[0], k=1)
    listings.clear()
    for vector in vectors[:5]:
        assert ds.search(vector, k=1)
    assert listings == [], "nothing was committed: no listing"
    other = st.open(tmp_path / "ds")  # another handle commits, right away
    other.add(["new"], ids=["new"], embeddings=vectors[:1] * -1)
    assert ds.search(vectors[0] * -1, k=1)[0].id == "new"
    assert listings, "the commit moved the folder's mtime: the search looked"
