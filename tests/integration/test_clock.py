"""A wall clock that jumps: versions written while it was set back, and Shoal's own timers.

Lance stamps each version with the wall clock (Rust's SystemTime, read through libc's
clock_gettime), so libfaketime (LD_PRELOAD, FAKETIME="-3d") in a child process moves
those stamps: verified below by the stamps themselves. Shoal orders versions by number,
never by time; only `cleanup(older_than=)` reads the stamps, and Lance never deletes the
latest or a tagged version whatever they say. Shoal's own timers use the monotonic clock
(the write lock's timeout) or stamps that never go backwards (the embedding cache's LRU).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shoal
from shoal.errors import RefNotFound, WriteConflict

FAKETIME = next(
    iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))),
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
)

WRITE = """
import json, sys, time
import shoal

ds = shoal.open(sys.argv[1], embedder="hash:16")
ds.add([f"row {sys.argv[2]}"], ids=[sys.argv[2]])
version = ds.commit(f"wrote {sys.argv[2]}")
if len(sys.argv) > 3:
    ds.tag(sys.argv[3])
print(json.dumps({"version": version, "clock": time.time()}))
"""

CLEANUP = """
import datetime, json, sys
import shoal

ds = shoal.open(sys.argv[1])
removed = ds.cleanup(older_than=datetime.timedelta(days=1))
print(json.dumps({"removed": removed, "versions": [v.version for v in ds.log()]}))
"""


def _faked(offset: str | None) -> dict[str, str]:
    if offset is None:
        return dict(os.environ)
    if not FAKETIME.exists():
        if os.environ.get("SHOAL_REQUIRE_FAKETIME") == "1":
            pytest.fail(
                f"SHOAL_REQUIRE_FAKETIME=1 but {FAKETIME} is missing (apt-get install libfaketime)"
            )
        pytest.skip(f"libfaketime is not installed ({FAKETIME}): apt-get install libfaketime")
    return {**os.environ, "LD_PRELOAD": str(FAKETIME), "FAKETIME": offset}


def _run(script: str, *args: str, offset: str | None = None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_faked(offset),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def jumped(tmp_path: Path) -> Path:
    """Versions 1-9: a (2, 3), b (4, 5, tagged "back") and d (8, 9, the latest) written
    while the clock was 3 days behind; c (6, 7) at the right time."""
    uri = tmp_path / "kb"
    for row, offset, tag in (("a", None, None), ("b", "-3d", "back"), ("c", None, None), ("d", "-3d", None)):  # fmt: skip
        written = _run(WRITE, str(uri), row, *([tag] if tag else []), offset=offset)
        if offset is not None:
            assert float(written["clock"]) < time.time() - 2.9 * 86_400  # type: ignore[arg-type]
    return uri


@pytest.mark.slow
def test_versions_written_while_the_clock_was_back_keep_their_order_and_refs(
    jumped: Path,
) -> None:
    ds = shoal.open(jumped)
    log = ds.log()
    assert [v.version for v in log] == list(range(1, 10))  # by number, not by time
    stamps = {v.version: v.timestamp for v in log}
    back = [v for v in range(1, 10) if stamps[v] < stamps[1] - dt.timedelta(days=2.9)]
    assert back == [4, 5, 8, 9], "libfaketime did not move Lance's version stamps"
    assert [v.message for v in log][2::2] == ["wrote a", "wrote b", "wrote c", "wrote d"]
    assert {v.version: v.tags for v in log}[5] == ("back",)
    assert sorted(r.id for r in ds.checkout("back").get(["a", "b", "c", "d"])) == ["a", "b"]
    assert sorted(r.id for r in ds.checkout(7).get(["a", "b", "c", "d"])) == ["a", "b", "c"]
    assert ds.diff(3, 7).added == ["b", "c"] and ds.diff("back").added == ["c", "d"]
    assert [h.id for h in ds.search("row d", k=1, mode="keyword")] == ["d"]
    restored = ds.restore("back")
    assert restored == 10 and sorted(r["id"] for r in ds.select(["id"])) == ["a", "b"]
    assert ds.log()[-1].message == "restore"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("offset", "removed"),
    [(None, [4, 8]), ("+10d", [1, 2, 3, 4, 6, 7, 8])],
    ids=["right clock", "clock jumped forward"],
)
def test_cleanup_by_age_never_removes_the_latest_or_a_tagged_version(
    jumped: Path, offset: str | None, removed: list[int]
) -> None:
    # Version 9, the latest, looks 3 days old; version 5 is tagged and looks as old.
    result = _run(CLEANUP, str(jumped), offset=offset)
    kept = [v for v in range(1, 10) if v not in removed]
    assert result == {"removed": len(removed), "versions": kept}
    ds = shoal.open(jumped)
    assert ds.version == 9 and sorted(r["id"] for r in ds.select(["id"])) == ["a", "b", "c", "d"]
    assert len(ds.checkout("back")) == 2
    with pytest.raises(RefNotFound):
        ds.checkout(4)


def test_the_write_lock_times_out_by_the_monotonic_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = tmp_path / "kb"
    ds = shoal.open(uri, embedder="hash:16", write_timeout=0.3)
    ds.add(["one"])
    wall = iter(range(10**9, 0, -86_400))  # the wall clock goes back a day at every look
    monkeypatch.setattr(time, "time", lambda: float(next(wall)))
    fd = os.open(uri / "_shoal" / "write.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(WriteConflict, match=r"busy for more than 0\.3 s"):
            ds.add(["two"])
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert len(ds) == 1
