"""Rich consoles and plain-text input for the commands, made per call.

Consoles are built when a command runs, not at import, so they write to whatever
`sys.stdout` / `sys.stderr` are at that moment (a pipe, a terminal, a test runner).
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["non_blank_lines", "stderr_console", "stdin_lines", "stdout_console"]


def stdout_console() -> Console:
    """A console on standard output, for tables; no automatic highlighting of user text."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """A console on standard error, for errors, progress and notes."""
    return Console(stderr=True, highlight=False)


def non_blank_lines(text: str) -> list[str]:
    """The lines of `text` with surrounding whitespace removed, blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def stdin_lines() -> list[str]:
    """Standard input read to its end, one text per non-blank line."""
    return non_blank_lines(sys.stdin.read())
