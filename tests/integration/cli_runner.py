"""Running `shoal` in-process for tests, and reading its output without colour codes."""

from __future__ import annotations

import re

from typer.testing import CliRunner, Result

from shoal.cli import app

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(*args: str, input: str | None = None) -> Result:
    """Invoke `shoal ARGS...` with Typer's runner."""
    return CliRunner().invoke(app, list(args), input=input)


def plain(text: str) -> str:
    """`text` without ANSI escape codes."""
    return ANSI.sub("", text)
