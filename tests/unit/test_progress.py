"""Progress reports from long library work, and the command line's display of them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import shoal
import shoal.store as st
from shoal.cli import _progress
from shoal.progress import stage_started, step, watching


def _recorded() -> tuple[list[tuple[str, int | None, int | None]], object]:
    seen: list[tuple[str, int | None, int | None]] = []
    return seen, lambda stage, done, total: seen.append((stage, done, total))


def test_reports_go_nowhere_unless_watched_and_only_inside_the_block() -> None:
    step("embed", 1, 2)  # no watcher: nothing happens, nothing fails
    seen, callback = _recorded()
    with watching(callback):  # type: ignore[arg-type]
        step("embed", 1, 2)
        stage_started("compact")
    step("embed", 2, 2)
    assert seen == [("embed", 1, 2), ("compact", None, None)]


def test_embedding_neighbours_index_and_compaction_report(tmp_path: Path) -> None:
    seen, callback = _recorded()
    ds = st.open(tmp_path / "kb", embedder="hash:16")
    vectors = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    with watching(callback):  # type: ignore[arg-type]
        embedder = shoal.embedder("hash:16")
        embedder.batch_size = 64
        embedder.embed_documents([f"t {i}" for i in range(200)])
        ds.add([f"row {i}" for i in range(300)], embeddings=vectors)
        ds.neighbors(k=3)
        ds.refresh_index()  # `shoal index`: built now, whatever the size
        ds.compact()
    embed = [(d, t) for s, d, t in seen if s == "embed"]
    assert embed[-1] == (200, 200) and len(embed) == 4, "one report a batch of 64"
    neighbours = [(d, t) for s, d, t in seen if s == "neighbours"]
    assert neighbours and neighbours[-1] == (300, 300)
    assert [d for d, _ in neighbours] == sorted(d for d, _ in neighbours)
    index = [(d, t) for s, d, t in seen if s == "index"]
    assert index and index[-1][0] == index[-1][1]
    assert ("compact", None, None) in seen


def test_the_command_line_shows_a_bar_with_the_stage_rate_and_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    monkeypatch.setattr(_progress, "stderr_console", lambda: console)
    with _progress.showing("dedup"):
        for done in (100, 200, 300):
            step("neighbours", done, 300)
        stage_started("k-means")
    shown = screen.getvalue()
    assert "dedup: finding neighbours" in shown and "300/300" in shown and "ETA" in shown
    assert "dedup: k-means" in shown


def test_off_a_terminal_nothing_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(_progress, "stderr_console", lambda: Console(file=screen))
    with _progress.showing("embed"):
        step("embed", 1, 1)
    assert screen.getvalue() == ""
