"""A dataset served by `shoal serve` runs the analyses on its server.

`shoal.connect(url).open(name)` gives a dataset with no local vectors or neighbour graph;
it offers `served_analysis(function, **arguments)`, and the analyses below hand it their
call whole (the server runs the same function on its own handle)."""

from __future__ import annotations

from typing import Any

__all__ = ["served"]


def served(ds: Any, function: str, **arguments: Any) -> tuple[bool, Any]:
    """(True, the server's result) for a served dataset; (False, None) for a local one."""
    run = getattr(ds, "served_analysis", None)
    if not callable(run):
        return False, None
    return True, run(function, **arguments)
