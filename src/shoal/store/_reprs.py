"""Short, safe reprs for rows and hits: binary values by size, long texts and vectors cut.

A notebook or a REPL that prints a `Record` holding a PNG, or a list of hits over long
chunks, shows one readable line per value instead of thousands of characters.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["TEXT_LIMIT", "html_table", "short_repr", "short_text"]

TEXT_LIMIT = 80
"""The longest text (in characters) a repr shows whole; longer ones are cut and counted."""
_ITEMS_LIMIT = 8
_VECTOR_HEAD = 4


def short_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` if it is at most `limit` characters, else its start, '...' and its length."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(text):,} chars)"


def short_repr(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A one-line repr of `value`: bytes as ``<bytes 12,345>``, arrays by dtype and shape with
    their first values, long strings cut, long dicts and lists shortened."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<bytes {len(value):,}>"
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and len(value) > _VECTOR_HEAD:
            head = ", ".join(f"{float(v):.4g}" for v in value[:_VECTOR_HEAD])
            return f"<{value.dtype}[{len(value)}] [{head}, ...]>"
        if value.ndim != 1:
            return f"<{value.dtype}{list(value.shape)}>"
        return repr(value.tolist())
    if isinstance(value, str):
        return repr(short_text(value, limit))
    if isinstance(value, Mapping):
        shown = [f"{key!r}: {short_repr(v, limit)}" for key, v in _first(value.items())]
        more = f", ... ({len(value):,} keys)" if len(value) > _ITEMS_LIMIT else ""
        return "{" + ", ".join(shown) + more + "}"
    if isinstance(value, (list, tuple)):
        shown = [short_repr(v, limit) for v in _first(value)]
        more = f", ... ({len(value):,} items)" if len(value) > _ITEMS_LIMIT else ""
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        return open_ + ", ".join(shown) + more + close
    return repr(value)


def _first(items: Iterable[Any]) -> list[Any]:
    taken = []
    for number, item in enumerate(items):
        if number == _ITEMS_LIMIT:
            break
        taken.append(item)
    return taken


def html_table(rows: Iterable[tuple[str, str]], *, caption: str | None = None) -> str:
    """A two-column HTML table of (label, value) rows, every cell escaped (for `_repr_html_`)."""
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
        f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
        for label, value in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}{cells}</table>"
