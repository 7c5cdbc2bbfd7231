"""Progress of long library work, for whoever shows it (the command line's bars).

Work that goes through many items in steps (embedding batches, a neighbour graph's blocks,
an index build) calls `step(stage, done, total)` after each; `stage_started(stage)` names a
step that reports no count (a k-means fit, a projection, a compaction). Both do nothing
unless a `watching(callback)` block is active in this thread, so the library pays one
context-variable read per step and stays silent for everyone else.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

__all__ = ["ProgressCallback", "stage_started", "step", "watching"]

ProgressCallback = Callable[[str, int | None, int | None], None]
"""Called as ``callback(stage, done, total)``; ``done`` and ``total`` None for a stage
whose size is not known."""

_watcher: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar(
    "shoal_progress", default=None
)


def step(stage: str, done: int, total: int) -> None:
    """Report that `done` of `total` items of `stage` are finished."""
    callback = _watcher.get()
    if callback is not None:
        callback(stage, done, total)


def stage_started(stage: str) -> None:
    """Report that `stage`, whose size is not known, has begun."""
    callback = _watcher.get()
    if callback is not None:
        callback(stage, None, None)


@contextlib.contextmanager
def watching(callback: ProgressCallback) -> Iterator[None]:
    """Send this thread's progress reports to `callback` while the block runs."""
    token = _watcher.set(callback)
    try:
        yield
    finally:
        _watcher.reset(token)
