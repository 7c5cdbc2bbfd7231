"""Where an ingest writes: the dataset `into` names, opened at the start if it exists (and
checked against the embedder asked for), or created at the first write, so an ingest that
writes nothing leaves no empty dataset behind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shoal.embeddings import DEFAULT_EMBEDDER, Embedder
from shoal.embeddings import embedder as build_embedder
from shoal.errors import DatasetNotFound, EmbedderMismatch, InvalidInput, ReadOnlyDataset
from shoal.store import Dataset
from shoal.store import open as open_dataset
from shoal.store._reembed import reembed_way

__all__ = ["Target"]


class Target:
    """The dataset an ingest writes to: opened at the start, or created at its first write."""

    def __init__(
        self,
        into: Dataset | str | os.PathLike[str],
        embedder: Embedder | str | None,
        storage_options: Mapping[str, str] | None,
        language: str | None = None,
    ) -> None:
        self.into = into
        self.storage_options = storage_options
        self.language = language
        self.created = False
        self.dataset: Dataset | None = _existing(into, embedder, storage_options, language)
        if self.dataset is not None:
            self.model = self.dataset.embedder
            self.uri = self.dataset.uri
        else:
            assert not isinstance(into, Dataset)
            self.model = (
                embedder
                if isinstance(embedder, Embedder)
                else build_embedder(embedder or DEFAULT_EMBEDDER)
            )
            self.uri = _shown_uri(into)

    def ensure(self) -> Dataset:
        """The dataset, created now (with the ingest's embedder) if it does not exist yet."""
        if self.dataset is None:
            assert not isinstance(self.into, Dataset)  # a Dataset handle is never None here
            self.dataset = open_dataset(
                self.into,
                embedder=self.model,
                language=self.language,
                storage_options=self.storage_options,
            )
            self.uri, self.created = self.dataset.uri, True
        return self.dataset


def _existing(
    into: Dataset | str | os.PathLike[str],
    embedder: Embedder | str | None,
    storage_options: Mapping[str, str] | None,
    language: str | None,
) -> Dataset | None:
    """The dataset `into` names, checked against `embedder` and `language`, or None if
    there is none yet."""
    if not isinstance(into, Dataset):
        try:
            return open_dataset(
                into,
                embedder=embedder,
                language=language,
                create=False,
                storage_options=storage_options,
            )
        except DatasetNotFound:
            return None
    if into.read_only:
        raise ReadOnlyDataset(
            f"version {into.version} of {into.uri} is checked out read-only; ingest into the "
            "latest version (shoal.open again) or into a branch (ds.branch(name))"
        )
    if embedder is not None:
        if isinstance(embedder, Embedder):
            name, same = embedder.spec.name, embedder.spec == into.spec
        else:
            name, same = embedder, embedder == into.spec.name
        if not same:
            raise EmbedderMismatch(
                f"{into.uri} holds vectors made by {into.spec.name}, not by {name}; "
                f"leave embedder out to use the dataset's own, or {reembed_way(embedder)} first"
            )
    if language is not None and language != "auto" and into.language not in (language, "auto"):
        raise InvalidInput(
            f"{into.uri} analyses keywords as {into.language}, not {language}; leave "
            "language out to use the dataset's own"
        )
    return into


def _shown_uri(into: str | os.PathLike[str]) -> str:
    """The URI as `Dataset.uri` will give it once the dataset exists (a path made absolute)."""
    text = os.fspath(into)
    if "://" in text and not text.startswith("file://"):
        return text
    return str(Path(text.removeprefix("file://")).expanduser().resolve())
