"""Folders: the files under one (`list_files`), and all of them loaded (`load_directory`).

`load_directory` reports, rather than hides, the files it skipped or could not load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shoal.errors import InvalidInput
from shoal.text._loaders import SUPPORTED_SUFFIXES, load_file
from shoal.types import Document

__all__ = ["LoadReport", "list_files", "load_directory"]

_log = logging.getLogger("shoal.text")


@dataclass(frozen=True)
class LoadReport:
    """What `load_directory` loaded, skipped (unsupported type) and failed to load (with why)."""

    documents: list[Document]
    skipped: list[str]
    failed: list[tuple[str, str]]


def load_directory(
    path: str | os.PathLike[str],
    *,
    glob: str = "**/*",
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
) -> LoadReport:
    """Load every supported file matching `glob` under `path`, in sorted order, skipping hidden ones.

    Files of unsupported types are listed in `skipped`; files that cannot be loaded are
    listed in `failed` with the reason, and the other files are still loaded.

    Raises:
        InvalidInput: `path` is not a directory, or `glob` is not a valid pattern.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory; pass a folder, or use load_file for a file")
    files = list_files(root, glob)
    documents: list[Document] = []
    skipped: list[str] = []
    failed: list[tuple[str, str]] = []
    for file in files:
        if file.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append(str(file))
            continue
        try:
            documents.extend(load_file(file, text_columns=text_columns, text_field=text_field))
        except InvalidInput as exc:
            failed.append((str(file), str(exc)))
    if skipped:
        _log.warning(
            "skipped %d file(s) of unsupported type under %s (supported: %s): %s",
            len(skipped),
            root,
            ", ".join(sorted(SUPPORTED_SUFFIXES)),
            ", ".join(skipped),
        )
    if failed:
        _log.warning(
            "could not load %d file(s) under %s: %s",
            len(failed),
            root,
            "; ".join(f"{name}: {reason}" for name, reason in failed),
        )
    return LoadReport(documents=documents, skipped=skipped, failed=failed)


def list_files(root: Path, glob: str = "**/*") -> list[Path]:
    """The files under `root` matching `glob`, sorted, without hidden ones (a part starting with '.').

    Raises:
        InvalidInput: `glob` is empty or absolute.
    """
    try:
        matches = list(root.glob(glob))
    except (ValueError, NotImplementedError) as exc:  # empty, or absolute (not relative)
        raise InvalidInput(
            f"invalid glob pattern {glob!r}: {exc}; give one relative to the folder, like '**/*.md'"
        ) from exc
    return sorted(
        (f for f in matches if f.is_file() and not _is_hidden(f.relative_to(root))),
        key=lambda f: f.relative_to(root).parts,
    )


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
