"""What the commands share: Rich consoles made per call, plain-text input, common options.

Consoles are built when a command runs, not at import, so they write to whatever
`sys.stdout` / `sys.stderr` are at that moment (a pipe, a terminal, a test runner).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["ModelOption", "non_blank_lines", "stderr_console", "stdin_lines", "stdout_console"]

ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Embedder to use, as provider:model (e.g. local:all-mpnet-base-v2, hash:64).",
        metavar="NAME",
    ),
]
"""The --model option of every command that embeds."""


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
