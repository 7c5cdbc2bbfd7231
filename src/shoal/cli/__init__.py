"""The `shoal` command line: a thin edge over the public Python API.

Run ``shoal --help`` for the commands; the console script calls `main`.
"""

from __future__ import annotations

from shoal.cli._app import app, main

__all__ = ["app", "main"]
