"""`Dataset.staging(message)`: rows added in many calls become one version.

Each `Stage.add` embeds its rows and writes them as Lance data files that no version lists
yet, so nothing is visible and no version is made; `commit` (the end of a ``with`` block)
appends every staged file in one commit carrying `message`, under the write lock. A block
that raises commits nothing. Rows already stored, or staged before in this stage, are
skipped, as `add` skips them.

A stage on a local folder records what it staged in ``_shoal/staged/<branch>/`` (the
fragments' metadata and their ids, rewritten after each `add`), holding a lock on its
record while it lives. A process killed before its commit leaves the record unlocked, and the next stage
on the dataset adopts it: those rows are staged already (their ids are in `staged_ids`),
and they become part of its own commit, so a killed ingest resumes without embedding or
writing them again. A record whose columns no longer match the dataset's, or whose files
are gone, is dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lance.fragment import FragmentMetadata

from shoal._atomic import atomic_write
from shoal.errors import InvalidInput
from shoal.store._writes import Batch, Staged, columns_shape

if TYPE_CHECKING:
    from shoal.store._dataset import Dataset

__all__ = ["Stage"]

_log = logging.getLogger("shoal.store")


class Stage:
    """Rows staged for one version of a dataset: ``with ds.staging("import") as stage``."""

    def __init__(self, dataset: Dataset, message: str) -> None:
        if not isinstance(message, str) or not message.strip():
            raise InvalidInput("a staged write needs a non-empty message")
        self.dataset = dataset
        self.message = message
        self._parts: list[Staged] = []
        self._ids: set[str] = set()
        self._record: _Record | None = None
        self._adopted: list[_Record] = []
        folder = dataset._location.sidecar_dir
        if folder is not None and dataset._location.kind == "local":
            self._adopt(self._folder(folder), columns_shape(dataset.schema))

    @property
    def rows(self) -> int:
        """How many rows are staged (not visible until `commit`)."""
        return len(self._ids)

    @property
    def staged_ids(self) -> frozenset[str]:
        """The ids of the staged rows (a killed run's included, once adopted)."""
        return frozenset(self._ids)

    def add(
        self,
        texts: Sequence[str],
        *,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        embeddings: Any = None,
        columns: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Stage rows (as `Dataset.add` takes them); returns their ids in input order.
        Rows whose id is stored or staged already are skipped. `columns` must be columns
        the dataset has already (a staged write cannot add columns)."""
        batch = Batch.build(
            texts, metadatas, ids, embeddings, columns, self.dataset.spec.dimensions
        )
        staged = self.dataset._stage(batch, self._ids)
        if staged is not None:
            self._parts.append(staged)
            self._ids.update(staged.ids)
            self._save()
        return list(batch.ids)

    def add_written(
        self, fragments: Sequence[FragmentMetadata], ids: Sequence[str], *, build: Mapping[str, str]
    ) -> None:
        """Stage data files written elsewhere (by `lance.fragment.write_fragments`, in a worker
        process or on another machine) in the dataset's columns, holding rows `ids`; `build`
        is the embedder's build that made their vectors.

        Raises:
            InvalidInput: an id is staged already (a part is staged whole, or not at all).
        """
        ids = list(ids)
        twice = self._ids.intersection(ids)
        if twice or len(set(ids)) != len(ids):
            raise InvalidInput(
                f"{len(twice) or len(ids) - len(set(ids))} of these ids are staged already: "
                "stage each row once"
            )
        shape = columns_shape(self.dataset.schema)
        self._parts.append(Staged(list(fragments), ids, shape, dict(build)))
        self._ids.update(ids)
        self._save()

    def release(self) -> None:
        """Stop without committing or dropping: a stage on a folder leaves its record for
        the next stage on the dataset to adopt (as a killed process would)."""
        for record in [*self._adopted, *([self._record] if self._record else [])]:
            record.release()
        self._parts, self._ids = [], set()
        self._adopted, self._record = [], None

    def commit(self, message: str | None = None) -> int | None:
        """Make the staged rows one version (with `message`, default the stage's); returns
        its number, or None if nothing was staged."""
        if not self._parts:
            self._close()
            return None
        version = self.dataset._commit_staged(self._parts, message or self.message)
        self._parts, self._ids = [], set()
        self._close()
        return version

    def discard(self) -> None:
        """Drop the staged rows: nothing is committed (their files wait for `cleanup`)."""
        self._parts, self._ids = [], set()
        self._close()

    def __enter__(self) -> Stage:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    # ------------------------------------------------------------------ the record
    def _save(self) -> None:
        folder = self.dataset._location.sidecar_dir
        if folder is None or self.dataset._location.kind != "local":
            return
        if self._record is None:
            self._record = _Record.create(self._folder(folder))
        self._record.save(self._parts)

    def _folder(self, sidecar: Path) -> Path:
        """Where this branch's stages keep their records (a branch's rows stay on it)."""
        return sidecar / "staged" / self.dataset.branch_name

    def _close(self) -> None:
        """The parts are committed or dropped: their records (ours, adopted ones) go."""
        for record in [*self._adopted, *([self._record] if self._record else [])]:
            record.remove()
        self._adopted, self._record = [], None

    def _adopt(self, folder: Path, shape: str) -> None:
        if not folder.is_dir():
            return
        root = Path(self.dataset._location.lance_uri)
        branch = self.dataset.branch_name
        data = root / "data" if branch == "main" else root / "tree" / branch / "data"
        for lock in sorted(folder.glob("*.lock")):
            record = _Record.claim(lock)
            if record is None:  # its stage is alive, in this process or another
                continue
            parts = record.load()
            usable = [
                part
                for part in parts
                if part.shape == shape and all(_files_exist(f, data) for f in part.fragments)
            ]
            if len(usable) < len(parts):
                _log.warning(
                    "dropped %d staged part(s) of a stopped write to %s: its columns changed "
                    "or its files are gone",
                    len(parts) - len(usable),
                    self.dataset.uri,
                )
            for part in usable:
                fresh = [i for i in part.ids if i not in self._ids]
                if len(fresh) == len(part.ids):  # a part is taken whole, or not at all
                    self._parts.append(part)
                    self._ids.update(part.ids)
            self._adopted.append(record)
        if self._adopted:
            self._save()


class _Record:
    """One stage's record: ``<id>.json`` (its parts) and ``<id>.lock`` (held while it lives)."""

    def __init__(self, lock: Path, fd: int) -> None:
        self.lock, self.fd = lock, fd
        self.data = lock.with_suffix(".json")

    @classmethod
    def create(cls, folder: Path) -> _Record:
        """A new record in `folder`, locked by this process."""
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / f"{uuid.uuid4().hex}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(lock, fd)

    @classmethod
    def claim(cls, lock: Path) -> _Record | None:
        """The record of a stage that stopped without committing, now locked by this
        process; None if its stage still holds it."""
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(lock, fd)

    def save(self, parts: Sequence[Staged]) -> None:
        """Rewrite the record with `parts` (atomically: a kill leaves the old or the new)."""
        payload = [
            {
                "fragments": [fragment.to_json() for fragment in part.fragments],
                "ids": part.ids,
                "shape": part.shape,
                "build": dict(part.build),
            }
            for part in parts
        ]
        text = json.dumps(payload)
        atomic_write(self.data, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def load(self) -> list[Staged]:
        """The parts recorded (none if the record is missing or unreadable)."""
        try:
            payload = json.loads(self.data.read_text(encoding="utf-8"))
            return [
                Staged(
                    [FragmentMetadata.from_json(json.dumps(f)) for f in part["fragments"]],
                    list(part["ids"]),
                    str(part["shape"]),
                    dict(part["build"]),
                )
                for part in payload
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def release(self) -> None:
        """Release the lock and keep the record (for the next stage to adopt)."""
        os.close(self.fd)

    def remove(self) -> None:
        """Delete the record and release its lock."""
        for path in (self.data, self.lock):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        os.close(self.fd)


def _files_exist(fragment: Any, data: Path) -> bool:
    return all((data / file.path).is_file() for file in fragment.files)
