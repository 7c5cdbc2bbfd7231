"""What the commands share: Rich consoles made per call, plain-text input, common options.

Consoles are built when a command runs, not at import, so they write to whatever
`sys.stdout` / `sys.stderr` are at that moment (a pipe, a terminal, a test runner).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = [
    "DocsOption",
    "FileOption",
    "ModelOption",
    "non_blank_lines",
    "stderr_console",
    "stdin_lines",
    "stdout_console",
]

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

DocsOption = Annotated[
    list[str] | None,
    typer.Option("--doc", "-d", help="A text; repeat for more.", show_default=False),
]
"""Texts given on the command line (commands that take several)."""

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="A UTF-8 file with one text per non-blank line ('-' for standard input).",
        dir_okay=False,
        metavar="FILE",
        show_default=False,
    ),
]
"""Texts read from a file, one per line (instead of --doc)."""


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
