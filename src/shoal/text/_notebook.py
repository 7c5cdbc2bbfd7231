"""Jupyter notebooks (`.ipynb`): markdown and code cells as one Markdown-like text.

Markdown (and raw) cells are kept as written; code cells become fenced blocks in the
notebook's language, so their `#` comments are never taken for headings. Outputs are left
out: they are what the code printed, often large, and rarely what a reader searches for.
"""

from __future__ import annotations

import json
from typing import Any

from shoal.errors import InvalidInput
from shoal.text._source import Source, read_text
from shoal.types import Document

__all__ = ["load_notebook"]


def load_notebook(source: Source) -> list[Document]:
    """A notebook as one Document: markdown cells, and code cells as fenced blocks."""
    raw, extra = read_text(source)
    try:
        notebook = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source.path} is not a valid notebook: {exc.msg} at line {exc.lineno}; "
            "open and save it again in Jupyter"
        ) from exc
    if not isinstance(notebook, dict):
        raise InvalidInput(f"{source.path} is not a notebook: its JSON is not an object")
    language = _language(notebook)
    blocks = []
    for cell in _cells(notebook):
        text = _source_text(cell.get("source")).strip("\n")
        if not text.strip():
            continue
        kind = cell.get("cell_type")
        blocks.append(f"```{language}\n{text}\n```" if kind == "code" else text)
    if not blocks:
        return []
    metadata = source.base_metadata()
    metadata["language"] = language
    metadata.update(extra)
    return [Document(text="\n\n".join(blocks) + "\n", metadata=metadata)]


def _cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells of a version 4 notebook, or of the first worksheet of a version 3 one."""
    cells = notebook.get("cells")
    if cells is None:
        worksheets = notebook.get("worksheets") or [{}]
        cells = worksheets[0].get("cells", []) if isinstance(worksheets[0], dict) else []
    return [cell for cell in cells if isinstance(cell, dict)] if isinstance(cells, list) else []


def _source_text(value: object) -> str:
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return value if isinstance(value, str) else ""


def _language(notebook: dict[str, Any]) -> str:
    metadata = notebook.get("metadata") or {}
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key) if isinstance(metadata, dict) else None
        if isinstance(section, dict) and isinstance(section.get(field), str):
            return str(section[field]).lower()
    return "python"
