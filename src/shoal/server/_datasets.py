"""The datasets one `shoal serve` process serves, by name, opened once and kept open."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

from shoal.errors import DatasetNotFound, InvalidInput
from shoal.store import Dataset
from shoal.store import open as open_dataset

__all__ = ["Datasets", "last_part"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Datasets:
    """The datasets one server serves, by name, each opened once and then kept open.

    A source is a dataset (a folder holding `_versions`, or an `s3://` or `memory://` URI),
    served under its last path component, or a folder of datasets, each subfolder served
    under its name; new datasets are created in the first such folder.
    """

    def __init__(self, sources: Sequence[str | Path]) -> None:
        self._uris: dict[str, str] = {}
        self._root: Path | None = None
        for source in sources:
            text = str(source)
            if "://" in text or (Path(text) / "_versions").is_dir():
                self._uris[last_part(text)] = text
            else:
                folder = Path(text)
                if not folder.is_dir():
                    raise DatasetNotFound(
                        f"{text} is neither a dataset nor a folder of datasets; create the "
                        "folder first (datasets are then created in it through the API)"
                    )
                self._root = self._root or folder
                for child in sorted(folder.iterdir()):
                    if (child / "_versions").is_dir():
                        self._uris.setdefault(child.name, str(child))
        # (name, branch or None for main, whether it is the writer's handle) -> handle
        self._open: dict[tuple[str, str | None, bool], Dataset] = {}
        self._guard = threading.Lock()

    def names(self) -> list[str]:
        """The datasets served, sorted (a folder's new subfolders included)."""
        if self._root is not None:
            for child in self._root.iterdir():
                if (child / "_versions").is_dir():
                    self._uris.setdefault(child.name, str(child))
        return sorted(self._uris)

    def get(self, name: str, branch: str | None = None, *, writer: bool = False) -> Dataset:
        """The open handle of dataset `name` on `branch` (main if None): the readers' one, or
        with `writer` the writers' one. DatasetNotFound if no such dataset is served,
        RefNotFound if it has no such branch.

        Two handles, so that searches do not wait while a write commits (threads sharing a
        handle take turns); the readers' handle sees each write at its next search, as a
        second process would. The writers' handle never loads the vector index.
        """
        if branch is not None and not isinstance(branch, str):
            raise InvalidInput(f"branch must be a branch's name, got {branch!r}")
        with self._guard:
            return self._get(name, None if branch == "main" else branch, writer)

    def _get(self, name: str, branch: str | None, writer: bool) -> Dataset:
        handle = self._open.get((name, branch, writer))
        if handle is not None:
            return handle
        if branch is None:
            if name not in self._uris and name not in self.names():
                raise DatasetNotFound(
                    f"no dataset named {name!r} here; list them with GET /v1/datasets"
                )
            handle = open_dataset(self._uris[name], create=False)
        else:
            handle = self._get(name, None, writer).checkout(branch)
            if handle.read_only:  # a tag or a version, not a branch
                raise InvalidInput(
                    f"{branch!r} is not a branch of {name} (see its branches); "
                    "read a tag or version with ref"
                )
        self._open[name, branch, writer] = handle
        return handle

    def known(self, name: str) -> bool:
        """Whether `name` is a dataset served here (as of the last listing)."""
        return name in self._uris

    def opened(self) -> list[tuple[str, Dataset]]:
        """One open handle on the main branch of each dataset opened so far, by name."""
        with self._guard:
            main: dict[str, Dataset] = {}
            for (name, branch, writer), handle in self._open.items():
                if branch is None and (not writer or name not in main):  # the readers' first
                    main[name] = handle
            return sorted(main.items(), key=lambda item: item[0])

    def create(self, name: str, embedder: str | None, language: str | None = None) -> Dataset:
        """Create dataset `name` in the served folder, with `embedder` and keyword `language`
        (InvalidInput if the name is taken)."""
        if not _NAME.fullmatch(name):
            raise InvalidInput(
                f"dataset name {name!r} is not allowed: 1 to 64 letters, digits, '.', '-' and "
                "'_', starting with a letter or digit"
            )
        if self._root is None:
            raise InvalidInput(
                "this server serves named datasets, not a folder: start it with a folder "
                "(shoal serve FOLDER) to create datasets through the API"
            )
        with self._guard:
            if name in self._uris:
                raise InvalidInput(f"a dataset named {name!r} exists already; pick another name")
            uri = str(self._root / name)
            handle = open_dataset(uri, embedder=embedder, language=language, create=True)
            self._uris[name], self._open[name, None, False] = uri, handle
            return handle


def last_part(uri: str) -> str:
    """The last component of a path or URI: the name a dataset is served under."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return name or uri
