"""`shoal ingest` in real processes: killed with SIGKILL, interrupted with Ctrl-C, run twice at
once, and fed a 50 MB file; every time the final dataset is what one clean run stores."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lance
import pytest

import shoal
from fakes.texts import WORDS

MODEL = "hash:16"
SHOAL = [sys.executable, "-c", "from shoal.cli import main; main()"]


def write_corpus(folder: Path, files: int) -> None:
    """`files` text files of four paragraphs each (a few chunks apiece)."""
    folder.mkdir(parents=True)
    for i in range(files):
        paragraphs = [
            " ".join(WORDS[(i * 7 + p * 3 + w) % len(WORDS)] for w in range(60 + 13 * p))
            for p in range(4)
        ]
        (folder / f"doc{i:03d}.txt").write_text(f"Document {i}.\n\n" + "\n\n".join(paragraphs))


def ingest_process(folder: Path, uri: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SHOAL, "ingest", str(folder), "--into", uri, "-m", MODEL, "--batch-size", "3", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def staged_parts(uri: str) -> int:
    """How many batches the live (or killed) ingest has staged, by its records."""
    total = 0
    for record in (Path(uri) / "_shoal" / "staged" / "main").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):  # being replaced: seen next time
            total += len(json.loads(record.read_text()))
    return total


def wait_for_staged(process: subprocess.Popen[str], uri: str, count: int) -> bool:
    """Wait until `count` batches are staged; False if the process ended first."""
    deadline = time.monotonic() + 120
    while staged_parts(uri) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return process.poll() is None


def rows(uri: str) -> dict[str, tuple[str, str]]:
    ds = shoal.open(uri)
    records = ds.get([r["id"] for r in ds.select(["id"])])
    return {r.id: (r.text, json.dumps(r.metadata, sort_keys=True)) for r in records}


def raw_ids(uri: str) -> list[str]:
    """Every id in the latest version, read by Lance itself (duplicates included)."""
    return lance.dataset(uri).to_table(columns=["id"]).column("id").to_pylist()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """80 files, and what one clean ingest of them stores."""
    folder = tmp_path_factory.mktemp("corpus") / "docs"
    write_corpus(folder, 80)
    clean = str(tmp_path_factory.mktemp("clean") / "kb")
    shoal.ingest(folder, into=clean, embedder=MODEL, batch_size=3, cache=False)
    return folder, rows(clean)


@pytest.mark.slow
def test_sigkilled_ingests_resume_to_exactly_a_clean_run(
    corpus: tuple[Path, dict[str, tuple[str, str]]], tmp_path: Path
) -> None:
    folder, clean = corpus
    uri = str(tmp_path / "kb")
    killed_midway = 0
    for target in (3, 8, 15, 24, 36):  # batches staged so far (a killed run's are adopted)
        process = ingest_process(folder, uri, "--no-cache")
        if wait_for_staged(process, uri, target):
            process.send_signal(signal.SIGKILL)
            killed_midway += 1
        process.wait(60)
        # Nothing committed yet (a run is one version), and what is staged waits on disk.
        assert len(raw_ids(uri)) == len(set(raw_ids(uri))) < len(clean)
        assert staged_parts(uri) >= target
    assert killed_midway >= 4
    final = ingest_process(folder, uri)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert "resumed" in out or "new" in out
    assert rows(uri) == clean
    assert sorted(raw_ids(uri)) == sorted(clean)  # no duplicates, nothing missing
    assert [v.message.split(":")[0] for v in shoal.open(uri).log()] == [
        "create dataset",
        "ingest " + str(folder),
    ]
    assert staged_parts(uri) == 0, "the adopted records are gone once committed"
    again = ingest_process(folder, uri)
    out, _ = again.communicate(timeout=60)
    assert "80 unchanged; +0 -0 chunks" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "name", "verb"),
    [(signal.SIGINT, "Ctrl-C", "interrupted"), (signal.SIGTERM, "SIGTERM", "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_cleanly_after_the_batch_and_a_rerun_finishes_the_job(
    corpus: tuple[Path, dict[str, tuple[str, str]]],
    tmp_path: Path,
    signum: int,
    name: str,
    verb: str,
) -> None:
    folder, clean = corpus
    uri = str(tmp_path / "kb")
    process = ingest_process(folder, uri)
    assert wait_for_staged(process, uri, 6)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err and out == ""
    asked, report = err.strip().splitlines()
    assert asked == f"{name}: stopping after the current batch ({name} again to stop now)"
    assert re.fullmatch(
        rf"{verb}: (\d+) batch\(es\), (\d+) chunk\(s\) written; run the same command to resume",
        report,
    )
    assert 0 < len(rows(uri)) < len(clean)
    assert len(raw_ids(uri)) == len(set(raw_ids(uri)))  # whole batches only, none twice
    rerun = ingest_process(folder, uri)
    _out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert rows(uri) == clean


@pytest.mark.slow
def test_two_ingests_at_once_store_each_chunk_once(
    corpus: tuple[Path, dict[str, tuple[str, str]]], tmp_path: Path
) -> None:
    folder, clean = corpus
    uri = str(tmp_path / "kb")
    shoal.open(uri, embedder=MODEL)
    first, second = ingest_process(folder, uri), ingest_process(folder, uri)
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert rows(uri) == clean
    assert sorted(raw_ids(uri)) == sorted(clean)


@pytest.mark.slow
def test_a_50_mb_text_file_is_ingested_streamed(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    file = folder / "huge.txt"
    block = "\n\n".join(
        " ".join(WORDS[(p * 5 + w) % len(WORDS)] for w in range(40 + p % 90)) for p in range(200)
    )
    with file.open("w", encoding="utf-8") as out:
        while out.tell() < 50 * 2**20:
            out.write(block + "\n\n")
    uri = str(tmp_path / "kb")
    # The parent measures the child's peak memory, for the record (BENCHMARKS.md has figures).
    probe = (
        "import resource, subprocess, sys; "
        "code = subprocess.call(sys.argv[1:]); "
        "print('peak_rss_mb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); "
        "sys.exit(code)"
    )
    args = [*SHOAL, "ingest", str(folder), "--into", uri, "-m", MODEL, "--json", "--no-cache"]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert report["new"] == [str(file)] and report["chunks_added"] > 50_000
    ds = shoal.open(uri)
    assert len(ds) == report["chunks_added"]
    [first] = ds.select(["lines", "bytes", "chunks"], where={"chunk": 0})
    assert first["lines"][0] == 1 and first["bytes"][0] == 0
    assert first["chunks"] == report["chunks_added"]
    print(done.stdout.splitlines()[-1], "for", os.path.getsize(file) // 2**20, "MB")
