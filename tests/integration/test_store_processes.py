"""Writers in other processes: killed with SIGKILL mid-write, racing each other, or locked out."""

from __future__ import annotations

import fcntl
import json
import os
import random
import runpy
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pytest

import shoal.store as st
from gated_writers import run_gated
from shoal.errors import WriteConflict
from shoal.store import _view
from shoal.store._index import IndexFile

DIM = 16
EMBEDDER = f"hash:{DIM}"

# Shared by the writer processes and the test: the vectors of batch b, so the test can
# recompute every stored vector from its id ("b{batch}-{row}").
COMMON = f"""
import numpy as np

DIM = {DIM}
ROWS = 200


def batch_vectors(batch):
    return np.random.default_rng([20240601, batch]).normal(size=(ROWS, DIM)).astype(np.float32)


def batch_ids(batch):
    return [f"b{{batch}}-{{row}}" for row in range(ROWS)]
"""

ADDER = """
import sys

import shoal.store as st
from shoal.store import _view

_view.INDEX_MIN_ROWS, _view.TAIL_MAX = 1_000, 300  # an index early on, extended often

ds = st.open(sys.argv[1], embedder=f"hash:{DIM}")
firsts = [f"b{batch}-0" for batch in range(len(ds) // ROWS + 2)]
present = {record.id for record in ds.get(firsts)}
batch = next(b for b, first in enumerate(firsts) if first not in present)  # the first missing
print("writing", flush=True)
while True:
    vectors = batch_vectors(batch)
    ds.add([f"text {i}" for i in batch_ids(batch)], ids=batch_ids(batch), embeddings=vectors)
    if batch % 3 == 0:
        ds.search(vectors[0], k=5)  # extends and saves the index when its tail is long
    if batch % 4 == 1:
        ds.refresh_index()  # indexes and saves the index file now
    batch += 1
"""

RACER = """
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import shoal.store as st

path, me, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
ds = st.open(path)
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
start = time.time()
for batch in range(BATCHES):
    ids = [f"{me}-b{batch}-{row}" for row in range(PER_BATCH)]
    vectors = np.random.default_rng([len(me), batch]).normal(size=(PER_BATCH, DIM))
    ds.add([f"text {i}" for i in ids], ids=ids, embeddings=vectors)
    if batch % SHARED_EVERY == 0:
        # The same texts in both processes, without ids: content-hash ids must dedupe them.
        ds.add([f"shared text {batch}-{row}" for row in range(PER_BATCH)])
print(json.dumps({"start": start, "end": time.time()}), flush=True)
"""
BATCHES, PER_BATCH, SHARED_EVERY = 50, 20, 5


def write_script(folder: Path, name: str, body: str, **constants: Any) -> Path:
    header = "".join(f"{key} = {value!r}\n" for key, value in constants.items())
    script = folder / name
    script.write_text(COMMON + header + textwrap.dedent(body))
    return script


@pytest.fixture
def batches(tmp_path: Path) -> Callable[[int], np.ndarray]:
    helpers = runpy.run_path(str(write_script(tmp_path, "common.py", "")))
    return helpers["batch_vectors"]  # type: ignore[no-any-return]


def stored_ids(path: Path) -> list[str]:
    """Every id in the latest version, read with Lance itself (duplicates included)."""
    return lance.dataset(str(path)).to_table(columns=["id"]).column("id").to_pylist()


def recall_at_10(ds: st.Dataset, vectors: np.ndarray, ids: list[str], seed: int) -> float:
    rng = np.random.default_rng(seed)
    units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = units[rng.choice(len(units), 50, replace=False)]
    queries = queries + 0.1 * rng.normal(size=queries.shape).astype(np.float32)
    found = 0
    for query, hits in zip(queries, ds.search_batch(queries, k=10), strict=True):
        exact = {ids[p] for p in np.argsort(-(units @ query))[:10].tolist()}
        found += len(exact & {hit.id for hit in hits})
    return found / 500


# ---------------------------------------------------------------------------- kill -9
def run_and_kill(script: Path, dataset: Path, delay: float) -> None:
    """Start a writer, wait until it is writing, let it run `delay` seconds, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, str(script), str(dataset)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the writer has opened the dataset
        assert line == "writing\n", f"the writer failed to start: {line!r} {proc.stderr.read()}"
        time.sleep(delay)
        assert proc.poll() is None, f"the writer died on its own: {proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_writer_killed_at_random_points_leaves_whole_batches_and_a_usable_dataset(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batches: Callable[[int], np.ndarray],
    added: list[int],
) -> None:
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 1_000)
    monkeypatch.setattr(_view, "TAIL_MAX", 300)
    script = write_script(tmp_path, "adder.py", ADDER)
    dataset = tmp_path / "ds"
    index_file = IndexFile(dataset / "_shoal" / "index" / "main.npz")
    st.open(dataset, embedder=EMBEDDER)
    rng = random.Random(20240601)
    checked_version = 0  # the version the index file covered after the last round of checks
    writer_saves = 0
    for kill in range(20):
        run_and_kill(script, dataset, rng.uniform(0.0, 0.6))

        saved = index_file.load(DIM, "cosine")
        assert saved is not None or not index_file.path.exists(), f"kill {kill}: damaged index"
        covered = saved.index.count if saved is not None else 0
        writer_saves += saved is not None and saved.version > checked_version
        added.clear()
        ds = st.open(dataset, write_timeout=5)
        rows = len(ds)
        assert rows % 200 == 0, f"kill {kill}: {rows} rows is not a whole number of batches"
        ids = stored_ids(dataset)
        assert len(ids) == len(set(ids)) == rows, f"kill {kill}: duplicate ids"
        count = rows // 200
        expected = [f"b{b}-{r}" for b in range(count) for r in range(200)]
        assert sorted(ids) == sorted(expected), f"kill {kill}: batches are not 0..{count - 1}"
        if count:
            vectors = np.concatenate([batches(b) for b in range(count)])
            records = ds.get(expected)
            assert [r.id for r in records] == expected
            np.testing.assert_array_equal(np.stack([r.embedding for r in records]), vectors)
            assert recall_at_10(ds, vectors, expected, seed=kill) >= 0.95
            assert sum(added) <= rows - covered, f"kill {kill}: the saved index was not reused"
        ds.refresh_index()
        checked_version = ds.version

        # The dead writer's lock is gone: a write goes through at once.
        assert ds.add(["probe"], ids=["probe"], embeddings=np.ones((1, DIM))) == ["probe"]
        assert ds.delete(ids=["probe"]) == 1
        assert len(ds) == rows
    assert writer_saves >= 5, "the killed writers rarely saved an index to catch up from"
    assert len(st.open(dataset)) >= 20 * 200, "the writers made too little progress to test"


DIES_SAVING = """
import os
import signal
import sys

import shoal.store as st

replace = os.replace


def die_before_replacing_the_index(source, target):
    if str(target).endswith("main.npz"):
        os.kill(os.getpid(), signal.SIGKILL)  # the temporary file is written, not yet renamed
    replace(source, target)


os.replace = die_before_replacing_the_index
ds = st.open(sys.argv[1], embedder=f"hash:{DIM}")
ds.add([f"text {i}" for i in batch_ids(0)], ids=batch_ids(0), embeddings=batch_vectors(0))
ds.refresh_index()
"""


def test_writer_killed_while_saving_the_index_leaves_nothing_that_is_trusted_or_kept(
    tmp_path: Path, batches: Callable[[int], np.ndarray]
) -> None:
    script = write_script(tmp_path, "dies_saving.py", DIES_SAVING)
    dataset = tmp_path / "ds"
    proc = subprocess.run(
        [sys.executable, str(script), str(dataset)], capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder = dataset / "_shoal" / "index"
    assert not (folder / "main.npz").exists()
    assert len(list(folder.glob("*.tmp"))) == 1, "the writer did not die mid-save"

    ds = st.open(dataset)
    assert len(ds) == 200
    assert [h.id for h in ds.search(batches(0)[7], k=1)] == ["b0-7"]
    ds.refresh_index()
    assert IndexFile(folder / "main.npz").load(DIM, "cosine") is not None
    # The dead writer's files are removed by the next save: its half-written pointer file
    # and the faiss file no pointer names.
    names = sorted(p.name for p in folder.iterdir())
    token = names[0].split(".")[1]
    assert names == [f"main.{token}.faiss", f"main.{token}.rows.arrow", "main.npz"]


# --------------------------------------------------------------------- concurrent writers
@pytest.mark.slow
def test_two_writer_processes_at_once_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    st.open(dataset, embedder=EMBEDDER)
    script = write_script(
        tmp_path,
        "racer.py",
        RACER,
        BATCHES=BATCHES,
        PER_BATCH=PER_BATCH,
        SHARED_EVERY=SHARED_EVERY,
    )
    names = ["alpha", "beta"]
    run_gated(script, str(dataset), names, tmp_path, timeout=120)

    shared = len(range(0, BATCHES, SHARED_EVERY)) * PER_BATCH
    ds = st.open(dataset)
    ids = stored_ids(dataset)
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert len(ds) == len(ids) == 2 * BATCHES * PER_BATCH + shared
    for name in names:
        for batch in range(BATCHES):
            wanted = [f"{name}-b{batch}-{row}" for row in range(PER_BATCH)]
            assert [r.id for r in ds.get(wanted)] == wanted, f"{name} batch {batch} is missing"
    texts = sorted(r.text for r in ds.get([i for i in ids if "-b" not in i]))
    assert texts == sorted(
        f"shared text {b}-{r}" for b in range(0, BATCHES, SHARED_EVERY) for r in range(PER_BATCH)
    )


# ------------------------------------------------------------------- compaction vs writes
WRITER = """
import json
import sys
import time
from pathlib import Path

import shoal.store as st
from shoal.store import _view

_view.INDEX_MIN_ROWS, _view.TAIL_MAX = 500, 100  # an index, extended while compactions run
path, folder = sys.argv[1], Path(sys.argv[2])
ds = st.open(path)
(folder / "ready-writer").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
start = time.time()
misses = []
for batch in range(COMPACT_BATCHES):
    vectors = batch_vectors(batch)[:PER_BATCH]
    ids = [f"w{batch}-{row}" for row in range(PER_BATCH)]
    ds.add([f"text {i}" for i in ids], ids=ids, embeddings=vectors)
    if batch % 5 == 4:  # this handle's view follows the compactions
        found = [h.id for h in ds.search(vectors[3], k=1)]
        if found != [ids[3]]:
            misses.append([ids[3], found])
(folder / "writer-done").touch()
print(json.dumps({"start": start, "end": time.time(), "misses": misses}), flush=True)
"""

COMPACTOR = """
import json
import sys
import time
from pathlib import Path

import shoal.store as st
from shoal.store import _view

_view.INDEX_MIN_ROWS, _view.TAIL_MAX = 500, 100
path, folder = sys.argv[1], Path(sys.argv[2])
ds = st.open(path)
(folder / "ready-compactor").touch()
while not (folder / "go").exists():
    time.sleep(0.001)
merged = rounds = 0
misses = []
start = time.time()
while not (folder / "writer-done").exists() or rounds < 3:
    merged += ds.compact()
    rounds += 1
    ids = [r["id"] for r in ds.select(["id"])]
    if ids:
        [record] = ds.get([ids[len(ids) // 2]])
        found = [h.id for h in ds.search(record.embedding, k=1)]
        if found != [record.id]:
            misses.append([record.id, found])
print(json.dumps({"start": start, "end": time.time(), "merged": merged, "rounds": rounds,
                  "misses": misses}), flush=True)
"""
COMPACT_BATCHES = 60


@pytest.mark.slow
def test_compacting_while_another_process_writes_loses_and_duplicates_nothing(
    tmp_path: Path, batches: Callable[[int], np.ndarray]
) -> None:
    dataset = tmp_path / "ds"
    st.open(dataset, embedder=EMBEDDER)
    constants = {"COMPACT_BATCHES": COMPACT_BATCHES, "PER_BATCH": PER_BATCH}
    scripts = {
        "writer": write_script(tmp_path, "writer.py", WRITER, **constants),
        "compactor": write_script(tmp_path, "compactor.py", COMPACTOR, **constants),
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(script), str(dataset), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, script in scripts.items()
    }
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{name}").exists() for name in procs):
            assert all(p.poll() is None for p in procs.values()), "a process died before the start"
            assert time.monotonic() < deadline, "the processes did not get ready"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = {name: p.communicate(timeout=300) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, p in procs.items():
        assert p.returncode == 0, outputs[name][1]  # both finished: no WriteConflict
    writer, compactor = (json.loads(outputs[n][0]) for n in ("writer", "compactor"))
    assert compactor["start"] < writer["end"] and writer["start"] < compactor["end"]
    assert compactor["merged"] > 0 and compactor["rounds"] >= 3, compactor
    assert writer["misses"] == [] and compactor["misses"] == []

    ids = stored_ids(dataset)
    expected = [f"w{b}-{r}" for b in range(COMPACT_BATCHES) for r in range(PER_BATCH)]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(expected)
    ds = st.open(dataset)
    vectors = np.concatenate([batches(b)[:PER_BATCH] for b in range(COMPACT_BATCHES)])
    records = ds.get(expected)
    np.testing.assert_array_equal(np.stack([r.embedding for r in records]), vectors)
    assert recall_at_10(ds, vectors, expected, seed=5) >= 0.95
    ds.refresh_index()
    assert recall_at_10(st.open(dataset), vectors, expected, seed=6) >= 0.95


# ------------------------------------------------------------------------- held lock
@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[Path]:
    """A dataset whose write lock another holder keeps, as a stuck writer would."""
    dataset = tmp_path / "ds"
    ds = st.open(dataset, embedder=EMBEDDER)
    ds.add(["one", "two"], metadatas=[{"n": 1}, {"n": 2}])
    fd = os.open(dataset / "_shoal" / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield dataset
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


WRITES: dict[str, Callable[[st.Dataset], object]] = {
    "add": lambda ds: ds.add(["three"]),
    "add embeddings": lambda ds: ds.add(["three"], ids=["x"], embeddings=np.ones((1, DIM))),
    "upsert": lambda ds: ds.upsert(["one again"], ids=["x"]),
    "delete": lambda ds: ds.delete(where={"n": 1}),
    "update": lambda ds: ds.update(where={"n": 1}, set={"n": 5}),
    "commit": lambda ds: ds.commit("a message"),
    "index_field": lambda ds: ds.index_field("n"),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_write_blocked_by_a_held_lock_raises_write_conflict(held_lock: Path, write: str) -> None:
    ds = st.open(held_lock, write_timeout=0.5)
    version, rows = ds.version, len(ds)
    start = time.monotonic()
    with pytest.raises(WriteConflict) as caught:
        WRITES[write](ds)
    waited = time.monotonic() - start
    assert 0.5 <= waited < 30, f"waited {waited:.2f} s with write_timeout=0.5"
    message = str(caught.value)
    assert str(held_lock) in message
    assert "retry" in message and "write_timeout=" in message
    assert (ds.version, len(ds)) == (version, rows)
    reopened = st.open(held_lock)
    assert (reopened.version, len(reopened)) == (version, rows)
    assert sorted(r.text for r in reopened.get(stored_ids(held_lock))) == ["one", "two"]


def test_write_goes_through_once_the_lock_is_released(tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    ds = st.open(dataset, embedder=EMBEDDER, write_timeout=0.5)
    ds.add(["one"])
    fd = os.open(dataset / "_shoal" / "write.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(WriteConflict):
            ds.add(["two"])
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    ds.add(["two"])
    assert sorted(r.text for r in ds.get(stored_ids(dataset))) == ["one", "two"]
