"""Which files an ingest reads, and how each stands against what the dataset already holds.

The dataset is its own record manager: every chunk an ingest writes carries its file's
path (`source`), the SHA-256 of the file's bytes (`source_hash`), its place among the
file's chunks (`chunk`, `chunks`) and how it was cut (`splitter`). A file is unchanged
when its rows carry one hash and one splitter equal to the current ones and there are
`chunks` of them; rows of the right hash but too few are an interrupted ingest.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shoal.errors import InvalidInput
from shoal.ingestion._media import MediaReader
from shoal.store import Dataset
from shoal.text import Patterns, Skipped, detect, walk

__all__ = [
    "CHUNK",
    "CHUNKS",
    "HASH",
    "SOURCE",
    "SPLITTER",
    "Found",
    "Stored",
    "discover",
    "file_status",
    "gone",
    "in_scope",
    "stored_sources",
]

# Metadata keys the ingest writes on every chunk, besides the loader's own.
SOURCE, HASH, CHUNK, CHUNKS, SPLITTER = "source", "source_hash", "chunk", "chunks", "splitter"


@dataclass
class Found:
    """The files to ingest (readable, sorted, unique), the skipped ones (with why) and the scope
    for sync."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    named: list[Path] = field(default_factory=list)


@dataclass
class Stored:
    """What the dataset holds of one source: its row ids, hashes, splitters and chunk counts."""

    ids: list[str] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    splitters: set[str] = field(default_factory=set)
    counts: set[int] = field(default_factory=set)


def discover(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    glob: str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    gitignore: bool = True,
    accept: Callable[[Path], bool] | None = None,
    media: MediaReader | None = None,
) -> Found:
    """The files to read under the folders in `paths` and among the files named, and the skipped.

    Folders are walked (see `shoal.text.walk`: `glob`, `include`, `exclude`, hidden files
    and `.gitignore`); a file named is read whatever `.gitignore` says, unless `include`
    or `exclude` rule it out by its name. Each file's type is then detected: binary and
    unsupported files are skipped too, with the reason, except those `accept` takes (images,
    for a dataset whose embedder embeds them), which another reader handles. Audio and
    image files are read when `media` reads them (their extras are installed), else
    skipped as binary.

    Raises:
        InvalidInput: no paths, a path that does not exist, or an invalid glob or pattern.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise InvalidInput("ingest needs at least one file or folder")
    for name, value in (("include", include), ("exclude", exclude)):
        if isinstance(value, str):
            raise InvalidInput(f"{name} takes a list of patterns, not one str: wrap it in [...]")
    found = Found()
    seen: set[Path] = set()
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            if path.is_symlink():
                found.skipped.append(
                    Skipped(str(path), "broken_symlink", "it points to a file that is missing")
                )
                continue
            raise InvalidInput(f"no such file or folder: {path}; check the path")
        path = path.resolve()
        if path.is_dir():
            found.folders.append(path)
            walked = walk(path, glob=glob, include=include, exclude=exclude, gitignore=gitignore)
            candidates = walked.files
            found.skipped.extend(walked.skipped)
        elif not stat.S_ISREG(path.stat().st_mode):
            # A named pipe, socket or device: reading it would block or never end.
            found.skipped.append(
                Skipped(
                    str(path), "special_file", "a pipe, socket or device, which could block a read"
                )
            )
            continue
        else:
            found.named.append(path)
            why = _ruled_out(path.name, include, exclude)
            if why:
                found.skipped.append(Skipped(str(path), "excluded", why))
                continue
            candidates = [path]
        for file in candidates:
            if file in seen:
                continue
            seen.add(file)
            if accept is not None and accept(file):
                found.files.append(file)
                continue
            detected = detect(file)
            if isinstance(detected, Skipped) and media is not None and media.kind(file):
                found.files.append(file)
            elif isinstance(detected, Skipped):
                found.skipped.append(media.explain(detected) if media else detected)
            else:
                found.files.append(file)
    # A file named and also found in a folder walked is reported once.
    unique = {entry.path: entry for entry in found.skipped}
    found.skipped = sorted(unique.values(), key=lambda s: Path(s.path).parts)
    return found


def _ruled_out(
    name: str, include: Sequence[str] | None, exclude: Sequence[str] | None
) -> str | None:
    """Why `include`/`exclude` leave out a file named on its own (matched by its name), or None."""
    rule = Patterns.parse(exclude or [], origin="--exclude").match(name, is_dir=False)
    if rule is not None and not rule.negated:
        return f"--exclude {rule.pattern}"
    if include:
        rule = Patterns.parse(include, origin="--include").match(name, is_dir=False)
        if rule is None or rule.negated:
            return "not matched by --include"
    return None


def stored_sources(dataset: Dataset) -> tuple[dict[str, Stored], set[str]]:
    """The ingested sources the dataset holds (rows that carry a source hash), and all its ids."""
    sources: dict[str, Stored] = {}
    ids: set[str] = set()
    for row in dataset.select(["id", SOURCE, HASH, CHUNKS, SPLITTER]):
        ids.add(row["id"])
        source, digest = row[SOURCE], row[HASH]
        if not isinstance(source, str) or not isinstance(digest, str):
            continue  # not written by an ingest: never managed by one
        entry = sources.setdefault(source, Stored())
        entry.ids.append(row["id"])
        entry.hashes.add(digest)
        entry.splitters.add(str(row[SPLITTER]))
        count = row[CHUNKS]
        entry.counts.add(count if isinstance(count, int) else -1)
    return sources, ids


def file_status(stored: Stored | None, digest: str, splitter: str) -> str:
    """new, unchanged, resumed (same file, rows missing) or changed."""
    if stored is None or not stored.ids:
        return "new"
    if stored.hashes == {digest} and stored.splitters == {splitter}:
        return "unchanged" if stored.counts == {len(stored.ids)} else "resumed"
    return "changed"


def in_scope(source: str, found: Found) -> bool:
    """True if `source` was named, or lies under a folder that was walked."""
    path = Path(source)
    return path in found.named or any(path.is_relative_to(folder) for folder in found.folders)


def gone(sources: Iterable[str], found: Found) -> list[str]:
    """The sources in scope whose file no longer exists (what `sync` deletes)."""
    return sorted(s for s in sources if in_scope(s, found) and not Path(s).exists())
