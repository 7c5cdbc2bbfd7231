"""Folders: all the files under one loaded (`load_directory`), with what was skipped and why.

`load_directory` reports, rather than hides, the files it skipped or could not load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shoal.errors import InvalidInput
from shoal.text._formats import Skipped, count_skipped, detect
from shoal.text._loaders import load_source
from shoal.text._source import Source
from shoal.text._walk import walk
from shoal.types import Document

__all__ = ["LoadReport", "load_directory"]

_log = logging.getLogger("shoal.text")


@dataclass(frozen=True)
class LoadReport:
    """What `load_directory` loaded, skipped (with why) and failed to load (with why)."""

    documents: list[Document]
    skipped: list[Skipped]
    failed: list[tuple[str, str]]


def load_directory(
    path: str | os.PathLike[str],
    *,
    glob: str = "**/*",
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    gitignore: bool = True,
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
) -> LoadReport:
    """Load every readable file under `path` (see `walk` for which), in sorted order.

    Files and folders not read are listed in `skipped` with the reason (binary,
    unsupported, hidden, ignored by .gitignore, excluded, ...); files that cannot be
    loaded are listed in `failed` with the error, and the other files are still loaded.

    Raises:
        InvalidInput: `path` is not a directory, or `glob` is not a valid pattern.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory; pass a folder, or use load_file for a file")
    found = walk(root, glob=glob, include=include, exclude=exclude, gitignore=gitignore)
    documents: list[Document] = []
    skipped = list(found.skipped)
    failed: list[tuple[str, str]] = []
    for file in found.files:
        detected = detect(file)
        if isinstance(detected, Skipped):
            skipped.append(detected)
            continue
        try:
            documents.extend(
                load_source(
                    Source(file, detected), text_columns=text_columns, text_field=text_field
                )
            )
        except InvalidInput as exc:
            failed.append((str(file), str(exc)))
    if skipped:
        _log.warning(
            "skipped %d file(s) under %s (%s): %s",
            len(skipped),
            root,
            count_skipped(skipped),
            "; ".join(str(s) for s in skipped),
        )
    if failed:
        _log.warning(
            "could not load %d file(s) under %s: %s",
            len(failed),
            root,
            "; ".join(f"{name}: {reason}" for name, reason in failed),
        )
    return LoadReport(documents=documents, skipped=skipped, failed=failed)
