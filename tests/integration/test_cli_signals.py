"""Ctrl-C (SIGINT) and SIGTERM in every long command: one clean line, exit 130 or 143, no
traceback, nothing half-written, and a rerun does the job.

The commands run as real processes (`slow_shoal.py`: the real CLI with one step made
long), signalled once they are demonstrably in their long work.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import shoal
from shoal.cli import _signals

SLOW_SHOAL = [sys.executable, str(Path(__file__).with_name("slow_shoal.py"))]
SIGNALS = [signal.SIGINT, signal.SIGTERM]
VERB = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


# ----------------------------------------------------------------------- the mechanism
@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_first_signal_asks_for_a_stop_between_steps_and_a_second_stops_at_once(
    signum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    with _signals.handling_signals():
        with _signals.between_steps() as stop_if_asked:
            stop_if_asked()  # nothing asked yet
            os.kill(os.getpid(), signum)
            name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            assert capsys.readouterr().err == (
                f"{name}: stopping after the current batch ({name} again to stop now)\n"
            )
            with pytest.raises(_signals.Interrupted) as caught:
                stop_if_asked()
            assert caught.value.exit_code == 128 + signum
            with pytest.raises(_signals.Interrupted):
                os.kill(os.getpid(), signum)  # the second one stops at once
        with pytest.raises(_signals.Interrupted):  # outside a stepped command: at once
            os.kill(os.getpid(), signum)
    assert {sig: signal.getsignal(sig) for sig in SIGNALS} == before


def test_held_signals_take_effect_right_after_the_block() -> None:
    done = []
    with _signals.handling_signals(), pytest.raises(_signals.Interrupted) as caught:
        with _signals.held():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("the writes that belong together")
        done.append("not reached")
    assert done == ["the writes that belong together"]
    assert caught.value.exit_code == 143


def test_the_report_says_what_was_done(tmp_path: Path) -> None:
    ds = shoal.open(tmp_path / "kb", embedder="hash:16")
    with _signals.handling_signals():
        describe = _signals.dataset_progress(ds)
        with pytest.raises(KeyboardInterrupt), _signals.progress(describe):
            raise _signals.Interrupted(signal.SIGTERM)
        assert _signals.interruption_message(_signals.Interrupted(signal.SIGTERM)) == (
            f"terminated: nothing was written; {ds.uri} is still at version 1"
        )
        ds.add(["one row"])
        assert _signals.interruption_message(KeyboardInterrupt()) == (
            f"interrupted: {ds.uri} is now at version 2 (it was at 1); "
            f"`shoal log {ds.uri}` lists what was written"
        )


# --------------------------------------------------------------------- real processes
def _start(tmp_path: Path, slow: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / f"started-{slow}"
    marker.unlink(missing_ok=True)
    Path(f"{marker}.go").unlink(missing_ok=True)
    env = {**os.environ, "SHOAL_TEST_SLOW": slow, "SHOAL_TEST_MARKER": str(marker)}
    process = subprocess.Popen(
        [*SLOW_SHOAL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    return process, marker


def _wait_for(process: subprocess.Popen[str], marker: Path) -> None:
    """Wait until the command is in its long step."""
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the command ended before its long step: {err}")
        assert time.monotonic() < deadline, "the command never reached its long step"
        time.sleep(0.005)


def _signalled(tmp_path: Path, slow: str, signum: int, *args: str) -> tuple[int, str, str]:
    """Run a command, signal it in its long step; its exit code, stdout and stderr."""
    process, marker = _start(tmp_path, slow, *args)
    try:
        _wait_for(process, marker)
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


def _one_line(err: str, signum: int) -> str:
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith(f"{VERB[signum]}: ")
    return line


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """A dataset of 120 rows: 40 texts, each three times, the copies slightly moved."""
    uri = tmp_path / "kb"
    ds = shoal.open(uri, embedder="hash:32")
    rng = np.random.default_rng(7)
    base = rng.normal(size=(40, 32))
    ids, texts, vectors = [], [], []
    for copy in range(3):
        for row in range(40):
            ids.append(f"r{row}-{copy}")
            texts.append(f"text number {row} copy {copy}")
            vectors.append(base[row] + 0.01 * copy * rng.normal(size=32))
    ds.add(texts, ids=ids, embeddings=np.asarray(vectors))
    ds.commit("120 rows")
    return uri


@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_add_of_a_big_file_stopped_while_embedding_writes_nothing(
    tmp_path: Path, kb: Path, signum: int
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"line {i} of a big file" for i in range(5_000)))
    version = shoal.open(kb).version
    code, out, err = _signalled(tmp_path, "embed", signum, "add", str(kb), "--file", str(big))
    assert code == 128 + signum
    assert out == ""
    assert _one_line(err, signum) == (
        f"{VERB[signum]}: nothing was written; {kb} is still at version {version}"
    )
    assert (shoal.open(kb).version, len(shoal.open(kb))) == (version, 120)
    rerun = subprocess.run(
        [
            sys.executable,
            "-c",
            "from shoal.cli import main; main()",
            "add",
            str(kb),
            "--file",
            str(big),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert len(shoal.open(kb)) == 5_120


ANALYSES = {
    "dedup": ("neighbors", ["dedup", "{kb}", "--threshold", "0.99", "--apply"]),
    "outliers": ("neighbors", ["outliers", "{kb}", "-k", "3"]),
    "cluster": ("vectors", ["cluster", "{kb}", "-n", "4"]),
    "map": ("vectors", ["map", "{kb}", "--out", "{tmp}/map.html"]),
    "ask": ("embed", ["ask", "{kb}", "which text is number 3?"]),
    "search": ("embed", ["search", "{kb}", "text number 3"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", list(ANALYSES))
def test_long_commands_stop_with_one_line_and_write_nothing(
    tmp_path: Path, kb: Path, command: str, signum: int
) -> None:
    slow, args = ANALYSES[command]
    filled = [a.format(kb=kb, tmp=tmp_path) for a in args]
    version = shoal.open(kb).version
    code, _out, err = _signalled(tmp_path, slow, signum, *filled)
    assert code == 128 + signum, err
    line = _one_line(err, signum)
    if command in ("dedup", "cluster"):
        assert line == f"{VERB[signum]}: nothing was written; {kb} is still at version {version}"
    else:
        assert line == f"{VERB[signum]}: stopped before it finished"
    assert (shoal.open(kb).version, len(shoal.open(kb))) == (version, 120)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("map")) == []
    # Run again without the signal: the job gets done.
    again = subprocess.run(
        [sys.executable, "-c", "from shoal.cli import main; main()", *filled],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
def test_dedup_apply_holds_a_signal_until_its_deletion_is_committed(
    tmp_path: Path, kb: Path
) -> None:
    version = shoal.open(kb).version
    process, marker = _start(
        tmp_path, "delete", "dedup", str(kb), "--threshold", "0.99", "--apply", "--json"
    )
    try:
        _wait_for(process, marker)  # the rows are deleted, the commit naming it not made yet
        process.send_signal(signal.SIGTERM)
        Path(f"{marker}.go").touch()  # let the held step go on
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143
    line = _one_line(err, signal.SIGTERM)
    ds = shoal.open(kb)
    assert line == (
        f"terminated: {kb} is now at version {ds.version} (it was at {version}); "
        f"`shoal log {kb}` lists what was written"
    )
    assert out == ""  # stopped before printing its report
    assert ds.version == version + 2 and len(ds) == 40  # the deletion and its commit, both
    assert ds.log()[-1].message == "dedup: removed 80 near-duplicate rows, kept 40"
    listing = json.loads(
        subprocess.run(
            [sys.executable, "-c", "from shoal.cli import main; main()", "log", str(kb), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert [e["message"] for e in listing][-2:] == [
        "delete",
        "dedup: removed 80 near-duplicate rows, kept 40",
    ]
