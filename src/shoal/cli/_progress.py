"""One progress display for the long commands (embed, dedup, outliers, cluster, map, index,
compact): a bar with the stage, items done, rate, elapsed time and ETA while the library
reports counts (`shoal.progress`), a spinner with the elapsed time for a stage it cannot
count; on stderr, only on a terminal, gone when the command ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from shoal.cli._console import stderr_console
from shoal.progress import watching

__all__ = ["showing"]

_LABELS = {
    "embed": "embedding",
    "neighbours": "finding neighbours",
    "index": "indexing vectors",
}


@contextlib.contextmanager
def showing(what: str) -> Iterator[None]:
    """Show the progress of the library work in the block, under the heading `what`."""
    console = stderr_console()
    display = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int | None, total: int | None) -> None:
        label = f"{what}: {_LABELS.get(stage, stage)}"
        task = tasks.get(stage)
        if task is None:
            task = tasks[stage] = display.add_task(label, total=total, rate="")
        if done is None or total is None:
            return
        elapsed = display.tasks[task].elapsed or 0.0
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 else ""
        display.update(task, completed=done, total=total, rate=rate)

    with display, watching(update):
        yield
