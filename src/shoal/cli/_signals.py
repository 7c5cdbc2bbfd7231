"""Ctrl-C and SIGTERM in every command: one clean line, exit 130 or 143, nothing half-written.

`handling_signals` (entered for every command by the app's error wrapper) turns SIGINT
and SIGTERM into `Interrupted`, which the wrapper reports as one line, ``interrupted: ...``
(Ctrl-C) or ``terminated: ...`` (SIGTERM), saying what the command had done (see
`progress`), and exits 128 + the signal's number: 130 or 143. Every write of the store is
one version, whole or absent, so stopping a command anywhere leaves whole versions only.
Commands that write in many steps stop between them instead (`between_steps`): the first
signal asks them to stop once the step in hand is written, a second one stops them at
once. `held` keeps signals out of a few writes that belong together; they take effect
right after.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from rich.text import Text

from shoal.cli._console import stderr_console

__all__ = [
    "Interrupted",
    "between_steps",
    "dataset_progress",
    "handling_signals",
    "held",
    "interruption_message",
    "progress",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """A command was stopped by SIGINT (Ctrl-C) or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's code for death by this signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


@dataclass
class _State:
    """What the handler does with a signal: raise now, wait for a step's end, or hold it."""

    describe: Callable[[], str] | None = None
    stepping: bool = False
    requested: int | None = None
    holding: int = 0
    pending: int | None = None


_state = _State()


def _handle(signum: int, frame: Any) -> None:
    if _state.holding:
        _state.pending = _state.pending or signum
        return
    if _state.stepping and _state.requested is None:
        _state.requested = signum
        name = _NAMES.get(signal.Signals(signum), f"signal {signum}")
        stderr_console().print(
            Text(f"{name}: stopping after the current batch ({name} again to stop now)")
        )
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def handling_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted` inside the block (main thread only)."""
    global _state
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    _state = _State()
    for sig in _SIGNALS:
        signal.signal(sig, _handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state = _State()


@contextlib.contextmanager
def between_steps() -> Iterator[Callable[[], None]]:
    """Inside, a first signal only asks to stop; the function given raises if one was asked."""

    def check() -> None:
        if _state.requested is not None:
            raise Interrupted(_state.requested)

    _state.stepping = True
    try:
        yield check
    finally:
        _state.stepping = False


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Keep signals out of the block; one that came in stops the command right after it."""
    _state.holding += 1
    try:
        yield
    finally:
        _state.holding -= 1
    if not _state.holding and _state.pending is not None:
        raise Interrupted(_state.pending)


@contextlib.contextmanager
def progress(describe: Callable[[], str]) -> Iterator[None]:
    """While inside, an interruption reports `describe()`: what the command has done so far."""
    outer, _state.describe = _state.describe, describe
    yield
    _state.describe = outer  # not on an interruption: its report still needs this one


class _Versioned(Protocol):
    """A local or remote dataset: what `dataset_progress` reads of it."""

    @property
    def version(self) -> int: ...

    @property
    def uri(self) -> str: ...


def dataset_progress(dataset: _Versioned) -> Callable[[], str]:
    """Describes what a command wrote to `dataset` since now: nothing, or up to which version."""
    before = dataset.version

    def describe() -> str:
        try:
            now = dataset.version
        except Exception:
            return f"check `shoal log {dataset.uri}` for what was written"
        if now == before:
            return f"nothing was written; {dataset.uri} is still at version {before}"
        return (
            f"{dataset.uri} is now at version {now} (it was at {before}); "
            f"`shoal log {dataset.uri}` lists what was written"
        )

    return describe


def interruption_message(exc: KeyboardInterrupt) -> str:
    """The one line that reports an interruption and what was done before it."""
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    verb = "terminated" if signum == signal.SIGTERM else "interrupted"
    try:
        done = _state.describe() if _state.describe is not None else "stopped before it finished"
    except Exception:
        done = "stopped before it finished"
    return f"{verb}: {done}"
