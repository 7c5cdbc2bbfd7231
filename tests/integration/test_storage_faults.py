"""Storage that fails under a dataset: a full disk (a small tmpfs) and a read-only folder.

Each scenario runs in a child process with its own mounts (see `sandbox`); the child
prints what a user would see as JSON, and the test checks it: a one-line ShoalError that
says what to do, the dataset still at its previous version (or the new one, if the commit
landed), everything committed still readable and searchable, and the same operation
succeeding once the fault is gone.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from sandbox import run_child

import shoal
from fakes.texts import WORDS

DIM = 64
# Shared by the child scripts: a disk filled up to `leave` free bytes, and file listings.
COMMON = """
import datetime, json, logging, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

import shoal
from shoal.errors import ShoalError

SHOAL = [sys.executable, "-c", "from shoal.cli import main; main()"]


def fill(disk, leave):
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with open(Path(disk) / "filler", "wb") as out:
        out.write(b"\\0" * max(free - leave, 0))


def free(disk):
    (Path(disk) / "filler").unlink()


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def temporary(folder):
    return [f for f in files(folder) if ".tmp" in f or "_tmp" in f or f.endswith("~")]


def vectors(seed, rows=100, dims=64):
    return np.random.default_rng(seed).normal(size=(rows, dims))


def failure(call):
    try:
        call()
    except ShoalError as exc:
        return [type(exc).__name__, str(exc)]
    return None


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []
        logging.getLogger().addHandler(self)

    def emit(self, record):
        self.lines.append(record.getMessage())
"""

FULL = re.compile(
    r"cannot (?P<action>[a-z ]+) (?P<uri>\S+): no space left on the disk that holds it"
    r"(?P<state>; nothing was written \(it is still at version \d+\))?; free some space "
    r"\(or move the dataset to a larger disk\) and run it again"
)


# ------------------------------------------------------------------------------ full disk
ADD_ON_A_FULL_DISK = (
    COMMON
    + """
disk = sys.argv[1]
results = []
for leave in range(0, 45_000, 4_096):
    path = f"{disk}/ds{leave}"
    ds = shoal.open(path, embedder="hash:64")
    ids = [f"a{i}" for i in range(100)]
    ds.add([f"text {i}" for i in ids], ids=ids, embeddings=vectors(1))
    before = set(files(path))
    version, rows = ds.version, len(ds)
    fill(disk, leave)
    new = [f"b{i}" for i in range(100)]
    error = failure(lambda: ds.add([f"text {i}" for i in new], ids=new, embeddings=vectors(2)))
    written = sorted(set(files(path)) - before)
    reopened = shoal.open(path)
    seen = {
        "version": reopened.version,
        "rows": len(reopened),
        "handle": [ds.version, len(ds)],
        "found": [h.id for h in reopened.search(vectors(1)[7], k=1)],
    }
    free(disk)
    ds.add([f"text {i}" for i in new], ids=new, embeddings=vectors(2))  # the same call again
    after = {
        "version": ds.version,
        "rows": len(ds),
        "found": [h.id for h in ds.search(vectors(2)[5], k=1)],
        "temporary": temporary(path),
    }
    ds.cleanup(older_than=datetime.timedelta(0))
    data = len([f for f in files(path) if f.startswith("data/")])
    used = sum(len(frag.data_files()) for frag in ds._current().get_fragments())
    results.append(
        {"leave": leave, "before": [version, rows], "error": error, "written": written,
         "seen": seen, "after": after, "orphans": data - used}
    )
    if error is None:
        break  # enough space from here on
print(json.dumps(results))
"""
)


def test_add_on_a_full_disk_fails_cleanly_at_every_point_and_succeeds_once_freed(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    results = run_child(ADD_ON_A_FULL_DISK, str(disk), tmpfs={disk: 4 * 2**20})
    failed = [r for r in results if r["error"] is not None]
    assert len(failed) >= 3 and results[0]["error"] is not None
    points = {bool([f for f in r["written"] if f.startswith("data/")]) for r in failed}
    assert points == {False, True}, "the failures did not hit both the data file and the commit"
    for result in results:
        version, rows = result["before"]
        if result["error"] is None:  # enough space: the write went through whole
            assert result["seen"]["version"] == version + 1 and result["seen"]["rows"] == rows + 100
            continue
        kind, message = result["error"]
        assert kind == "StorageFull", result
        match = FULL.fullmatch(message)
        assert match, message
        assert match["action"] == "add rows to" and match["uri"].endswith(f"ds{result['leave']}")
        assert match["state"] == f"; nothing was written (it is still at version {version})"
        assert ".rs:" not in message and "LanceError" not in message
        # Nothing of the failed write is visible: same version, same rows, still searchable.
        assert result["seen"] == {
            "version": version,
            "rows": rows,
            "handle": [version, rows],
            "found": ["a7"],
        }
        # Run again once there is space: it succeeds, and leaves no temporary file.
        assert result["after"] == {
            "version": version + 1,
            "rows": rows + 100,
            "found": ["b5"],
            "temporary": [],
        }
        assert result["orphans"] == 0, "cleanup left a data file of the failed write"


INDEX_ON_A_FULL_DISK = (
    COMMON
    + """
from shoal.store import _view

_view.INDEX_MIN_ROWS, _view.TAIL_MAX = 100, 10  # an index, saved by searches, at 300 rows
disk, path = sys.argv[1], sys.argv[1] + "/ds"
ds = shoal.open(path, embedder="hash:64")
ids = [f"r{i}" for i in range(300)]
ds.add([f"text {i}" for i in ids], ids=ids, embeddings=vectors(3, rows=300))
index = Path(path) / "_shoal" / "index"
fill(disk, 0)
warnings = Warnings()
found = [h.id for h in ds.search(vectors(3, rows=300)[42], k=1)]  # builds the index, saves it
searched = {
    "found": found,
    "warnings": list(warnings.lines),
    "files": files(index) if index.exists() else [],
}
refresh = failure(ds.refresh_index)
after_refresh = files(index) if index.exists() else []
reopened = shoal.open(path)
again = [h.id for h in reopened.search(vectors(3, rows=300)[99], k=1)]
free(disk)
ds.refresh_index()
saved = files(index)
print(json.dumps({
    "searched": searched, "refresh": refresh, "after_refresh": after_refresh,
    "again": again, "saved": saved, "version": [ds.version, len(ds)],
}))
"""
)


def test_a_full_disk_while_saving_the_vector_index(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    result = run_child(INDEX_ON_A_FULL_DISK, str(disk), tmpfs={disk: 2**20})
    # A search has its answer from the index in memory: it warns and goes on.
    assert result["searched"]["found"] == ["r42"]
    [warning] = result["searched"]["warnings"]
    assert warning.startswith(f"could not save the vector index {disk}/ds/_shoal/index/main.npz")
    assert "No space left on device" in warning
    assert warning.endswith(
        "searches go on with the index in memory, and a later one saves it again "
        "(free some space on that disk)"
    )
    assert result["searched"]["files"] == []  # no half-written file left behind
    # Asking for the save is a write: it raises, and leaves nothing half-written either.
    kind, message = result["refresh"]
    assert kind == "StorageFull"
    assert message == (
        f"cannot save the vector index of {disk}/ds: no space left on the disk that holds it; "
        f"nothing was written (it is still at version {result['version'][0]}); free some "
        "space (or move the dataset to a larger disk) and run it again"
    )
    assert result["after_refresh"] == []
    assert result["again"] == ["r99"]
    token = result["saved"][0].split(".")[1]  # the pointer file and the files it names
    assert result["saved"] == [f"main.{token}.faiss", f"main.{token}.rows.arrow", "main.npz"]
    assert result["version"][1] == 300


INGEST_ON_A_FULL_DISK = (
    COMMON
    + """
disk, corpus, clean = sys.argv[1], sys.argv[2], sys.argv[3]
uri = f"{disk}/kb"
command = [*SHOAL, "ingest", corpus, "--into", uri, "-m", "hash:64", "--batch-size", "4"]
subprocess.run([*SHOAL, "add", uri, "--doc", "first", "-m", "hash:64"], check=True)
fill(disk, 48 * 1024)
first = subprocess.run(command, capture_output=True, text=True)
ds = shoal.open(uri)
middle = {"version": ds.version, "rows": len(ds), "found": len(ds.search("first", k=1))}
free(disk)
second = subprocess.run(command, capture_output=True, text=True)
ds = shoal.open(uri)
rows = {r["id"]: r["text"] for r in ds.select(["id", "text"])}
print(json.dumps({
    "first": [first.returncode, first.stdout, first.stderr], "middle": middle,
    "second": [second.returncode, second.stdout, second.stderr],
    "rows": rows, "temporary": temporary(uri),
}))
"""
)


def _corpus(folder: Path, files: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(files):
        words = [WORDS[(i * 7 + w) % len(WORDS)] for w in range(400)]
        (folder / f"doc{i:02d}.txt").write_text(f"Document {i}. " + " ".join(words))
    return folder


def test_ingest_on_a_full_disk_stops_with_one_line_and_a_rerun_finishes(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", 40)
    clean = tmp_path / "clean"
    shoal.open(clean, embedder="hash:64").add(["first"])
    shoal.ingest(corpus, into=str(clean), batch_size=4, cache=False)
    disk = tmp_path / "disk"
    result = run_child(
        INGEST_ON_A_FULL_DISK, str(disk), str(corpus), str(clean), tmpfs={disk: 2**20}
    )
    code, _out, err = result["first"]
    assert code == 1
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 2, err
    written, error = lines
    assert re.fullmatch(
        r"\d+ batch\(es\), \d+ chunk\(s\) written before the error; a rerun resumes from there",
        written,
    )
    assert error.startswith("error: ")
    match = FULL.fullmatch(error.removeprefix("error: "))
    assert match and match["action"] == "add rows to" and match["uri"] == f"{disk}/kb", error
    # The dataset is intact and searchable (the run's batches were staged, not committed:
    # its commit failed on the full disk too, and the rerun adopts them).
    assert result["middle"]["rows"] >= 1 and result["middle"]["found"] == 1
    code, out, err = result["second"]
    assert code == 0, err
    assert "resumed" in out or "new" in out
    expected = {r["id"]: r["text"] for r in shoal.open(clean).select(["id", "text"])}
    assert result["rows"] == expected
    assert result["temporary"] == []


CACHE_ON_A_FULL_DISK = (
    COMMON
    + """
cache, corpus, uri = sys.argv[1], sys.argv[2], sys.argv[3]
command = [*SHOAL, "ingest", corpus, "--into", uri, "-m", "hash:64", "--batch-size", "4"]
warm = subprocess.run([*SHOAL, "embed", "-m", "hash:64", "warm the cache"], capture_output=True)
fill(cache, int(sys.argv[4]))
done = subprocess.run(command, capture_output=True, text=True)
ds = shoal.open(uri)
print(json.dumps({"ingest": [done.returncode, done.stdout, done.stderr], "rows": len(ds),
                  "cache": files(cache)}))
"""
)


@pytest.mark.parametrize(
    ("leave", "failing"), [(0, "open"), (96 * 1024, "write")], ids=["when opened", "mid-run"]
)
def test_a_full_cache_disk_does_not_fail_the_ingest_and_says_so(
    tmp_path: Path, leave: int, failing: str
) -> None:
    corpus = _corpus(tmp_path / "corpus", 60)
    clean = tmp_path / "clean"
    shoal.ingest(corpus, into=str(clean), embedder="hash:64", batch_size=4, cache=False)
    cache = tmp_path / "cache"
    uri = tmp_path / "kb"
    result = run_child(
        CACHE_ON_A_FULL_DISK,
        str(cache),
        str(corpus),
        str(uri),
        str(leave),
        tmpfs={cache: 2**20},
        env={"SHOAL_CACHE_DIR": str(cache)},
    )
    code, out, err = result["ingest"]
    assert code == 0, err
    assert "60 new" in out
    [warning] = err.strip().splitlines()  # said once, then the ingest goes on without it
    assert warning.startswith(
        f"embedding cache {cache}/embeddings.sqlite3: cannot {failing} (database or disk is full)"
    )
    assert warning.endswith(
        f"going on without the cache (check the disk space and permissions of {cache}, or "
        "set SHOAL_CACHE_DIR)"
    )
    assert result["rows"] == len(shoal.open(clean))


# -------------------------------------------------------------------------- read-only
READ_ONLY = (
    COMMON
    + """
from shoal.store import _view

_view.INDEX_MIN_ROWS, _view.TAIL_MAX = 100, 10  # searches build (and would save) an index
path = sys.argv[1]
warnings = Warnings()
ds = shoal.open(path)
query = vectors(4, rows=300)[17]
reads = {
    "rows": len(ds),
    "vector": [h.id for h in ds.search(query, k=1)],
    "text": len(ds.search("text r5", k=3)),
    "keyword": [h.id for h in ds.search("r5", k=1, mode="keyword")],
    "hybrid": len(ds.search("text r5", k=3, mode="hybrid")),
    "filtered": [h.id for h in ds.search(query, k=1, where={"n": {"$gte": 10}})],
    "log": [v.message for v in ds.log()][-1],
    "tagged": len(ds.checkout("v1").search(query, k=5)),
    "info": ds.info().rows,
    "neighbors": len(ds.neighbors(k=2)),
}
version = ds.version
writes = {
    "add": lambda: ds.add(["new text"]),
    "add vectors": lambda: ds.add(["x"], ids=["x"], embeddings=vectors(5, rows=1)),
    "upsert": lambda: ds.upsert(["r1 again"], ids=["r1"]),
    "update": lambda: ds.update(where={"n": 1}, set={"n": 2}),
    "delete": lambda: ds.delete(ids=["r1"]),
    "commit": lambda: ds.commit("a message"),
    "tag": lambda: ds.tag("v2"),
    "branch": lambda: ds.branch("b2"),
    "restore": lambda: ds.restore(ds.version - 1),
    "index_field": lambda: ds.index_field("n"),
    "refresh_index": ds.refresh_index,
    "compact": ds.compact,
    "cleanup": lambda: ds.cleanup(keep_last=1),
    "create": lambda: shoal.open(path + "/inner", embedder="hash:64"),
}
errors = {name: failure(write) for name, write in writes.items()}
cli = []
for args in (
    ["search", path, "text r5", "-k", "2", "--json"],
    ["search", path, "r5", "--mode", "keyword", "--json"],
    ["info", path], ["log", path], ["checkout", path, "v1"],
    ["add", path, "--doc", "from the command line"],
    ["commit", path, "-m", "named"],
    ["ingest", sys.argv[2], "--into", path],
):
    done = subprocess.run(
        [sys.executable, "-c", "from shoal.store import _view; _view.INDEX_MIN_ROWS = 100; "
         "_view.TAIL_MAX = 10; from shoal.cli import main; main()", *args],
        capture_output=True, text=True,
    )
    cli.append([args[0], done.returncode, done.stderr])
print(json.dumps({"reads": reads, "version": [version, ds.version, len(ds)],
                  "errors": errors, "cli": cli, "warnings": warnings.lines}))
"""
)


def test_a_read_only_dataset_folder_reads_and_searches_and_refuses_writes_clearly(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ro"
    path = folder / "ds"
    ds = shoal.open(path, embedder="hash:64")
    ids = [f"r{i}" for i in range(300)]
    rows = np.random.default_rng(4).normal(size=(300, DIM))
    ds.add(
        [f"text {i}" for i in ids],
        ids=ids,
        embeddings=rows,
        metadatas=[{"n": i} for i in range(300)],
    )
    ds.commit("three hundred rows", tag="v1")
    shutil.rmtree(path / "_shoal")  # no lock file and no index file yet: reads must not make them
    corpus = _corpus(tmp_path / "corpus", 2)
    result = run_child(READ_ONLY, str(path), str(corpus), read_only=[folder])

    assert result["reads"] == {
        "rows": 300,
        "vector": ["r17"],
        "text": 3,
        "keyword": ["r5"],
        "hybrid": 3,
        "filtered": ["r17"],
        "log": "three hundred rows",
        "tagged": 5,
        "info": 300,
        "neighbors": 300,
    }
    assert result["warnings"] == []  # no failed attempt to save the index or take the lock
    version = result["version"][0]
    assert result["version"] == [version, version, 300]
    for name, error in result["errors"].items():
        assert error is not None, f"{name} wrote to a read-only folder"
        kind, message = error
        assert kind == "StorageReadOnly", (name, message)
        where = f"{path}/inner" if name == "create" else str(path)
        assert message.startswith("cannot ") and f" {where}: its folder is read-only " in message
        assert "make the folder writable or copy the dataset to a writable folder" in message
        assert ".rs:" not in message and "Errno" not in message
    assert result["errors"]["add"][1] == (
        f"cannot add rows to {path}: its folder is read-only (a read-only mount) or not "
        f"writable by this user; nothing was written (it is still at version {version}); "
        "reading and searching it still work; to write, make the folder writable or copy the "
        "dataset to a writable folder"
    )
    for command, code, err in result["cli"]:
        if command in ("search", "info", "log", "checkout"):
            assert code == 0, (command, err)
            continue
        assert code == 1, (command, err)
        lines = err.strip().splitlines()
        assert "Traceback" not in err and lines[-1].startswith("error: cannot "), (command, err)
        assert f"{path}: its folder is read-only" in lines[-1]


LARGE_WITHOUT_AN_INDEX = (
    COMMON
    + """
import shutil

path, disk = sys.argv[1], sys.argv[2]
query = vectors(6, rows=12_000)[17]
warnings = Warnings()
read_only = shoal.open(path)
found = {"read-only": [h.id for h in read_only.search(query, k=1)]}
found["read-only text"] = len(read_only.search("text r17", k=2))
cli = subprocess.run([*SHOAL, "search", path, "text r17", "-k", "1", "--json"],
                     capture_output=True, text=True)
shutil.copytree(path, f"{disk}/ds")
fill(disk, 0)
full = shoal.open(f"{disk}/ds")
found["full"] = [[h.id for h in full.search(query, k=1)] for _ in range(3)]
print(json.dumps({"found": found, "warnings": warnings.lines,
                  "cli": [cli.returncode, cli.stdout, cli.stderr]}))
"""
)


def test_a_large_dataset_without_an_index_file_searches_on_read_only_and_full_disks(
    tmp_path: Path,
) -> None:
    # Default thresholds: 12,000 rows get an HNSW index, which a search builds and would
    # save; neither a read-only folder nor a full disk may fail the search.
    folder, disk = tmp_path / "ro", tmp_path / "disk"
    path = folder / "ds"
    ds = shoal.open(path, embedder="hash:64")
    ids = [f"r{i}" for i in range(12_000)]
    rows = np.random.default_rng(6).normal(size=(12_000, DIM))
    ds.add([f"text {i}" for i in ids], ids=ids, embeddings=rows)
    ds.wait_for_index()
    shutil.rmtree(path / "_shoal")
    size = 3 * sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) + 2**20
    result = run_child(
        LARGE_WITHOUT_AN_INDEX, str(path), str(disk), read_only=[folder], tmpfs={disk: size}
    )
    assert result["found"] == {
        "read-only": ["r17"],
        "read-only text": 2,
        "full": [["r17"], ["r17"], ["r17"]],
    }
    code, out, err = result["cli"]
    assert code == 0 and "Traceback" not in err, err
    assert len(json.loads(out)) == 1
    # Read-only: nothing to say (the index is a cache kept in memory). Full: said once.
    [warning] = result["warnings"]
    assert warning.startswith(f"could not save the vector index {disk}/ds/_shoal/index/main.npz")
