"""`shoal` with one step made long, for tests that signal a command while it works.

Run as ``python slow_shoal.py ARGS...``. SHOAL_TEST_SLOW names the step: ``embed`` (every
hash-embedder batch), ``vectors`` or ``neighbors`` (the analysis reads), or ``delete``
(after the rows are deleted). When the step starts, the file SHOAL_TEST_MARKER appears,
and the step waits until the test creates the same path with ``.go`` appended (or
60 seconds pass), so the test knows the command is in its long work when it signals it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.cli import main
from shoal.embeddings.hashing import HashEmbedder
from shoal.store import Dataset

MARKER = Path(os.environ["SHOAL_TEST_MARKER"])
GO = Path(f"{MARKER}.go")


def _long_step() -> None:
    MARKER.touch()
    deadline = time.monotonic() + 60
    while not GO.exists() and time.monotonic() < deadline:
        time.sleep(0.005)  # the simulated work; a signal interrupts it like any Python code


def _before(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def slow(*args: Any, **kwargs: Any) -> Any:
        _long_step()
        return method(*args, **kwargs)

    return slow


def _after(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def slow(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        _long_step()
        return result

    return slow


STEPS: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "embed": (HashEmbedder, "embed_batch", _before),
    "vectors": (Dataset, "vectors", _before),
    "neighbors": (Dataset, "neighbors", _before),
    "delete": (Dataset, "delete", _after),
}

owner, name, wrap = STEPS[os.environ["SHOAL_TEST_SLOW"]]
setattr(owner, name, wrap(getattr(owner, name)))
main()
