"""Store fixtures: a fresh dataset location on each back-end (local folder, memory://, S3 on moto)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal.store as st
from shoal.embeddings import Embedder
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import EmbeddingError
from shoal.types import EmbedderSpec, TextKind
from store_fixtures import S3Settings, added, s3_environment, s3_server

# Fixtures shared with other test folders, imported so pytest sees them here.
__all__ = ["added", "s3_environment", "s3_server"]

BACKENDS = ("local", "memory", "s3")


@dataclass(frozen=True)
class Place:
    """Where a test's dataset lives: its URI and the storage options that reach it."""

    backend: str
    uri: str
    storage_options: Mapping[str, str] | None = None
    s3: S3Settings | None = field(default=None, compare=False)

    def open(self, **options: Any) -> st.Dataset:
        """`shoal.store.open` at this place (no embedder unless given: reopen as stored)."""
        return st.open(self.uri, storage_options=self.storage_options, **options)


class FailingEmbedder(Embedder):
    """hash:64 that raises EmbeddingError from its `fail_at`-th batch on (batches of 2 texts)."""

    batch_size = 2

    def __init__(self, fail_at: int | None = None) -> None:
        self._inner = HashEmbedder("64")
        self.fail_at = fail_at
        self.batches = 0

    @property
    def spec(self) -> EmbedderSpec:
        """The spec of hash:64, so a dataset made with it reopens with hash:64."""
        return self._inner.spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Embed like hash:64, or fail once `fail_at` batches have been asked for."""
        self.batches += 1
        if self.fail_at is not None and self.batches >= self.fail_at:
            raise EmbeddingError(f"fake provider down at batch {self.batches}")
        return self._inner.embed_batch(texts, kind=kind)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each back-end in turn."""
    return str(request.param)


@pytest.fixture
def place(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Place:
    """A location no dataset uses yet, on the back-end of this run."""
    if backend == "local":
        return Place(backend, str(tmp_path / "dataset"))
    if backend == "memory":
        return Place(backend, f"memory://test-{uuid.uuid4().hex}")
    # Started only when an S3 case runs, so `-k "not s3"` needs no server.
    s3: S3Settings = request.getfixturevalue("s3_server")
    return Place(backend, s3.fresh_uri(), s3.storage_options(), s3)


@pytest.fixture
def make_dataset(place: Place) -> Callable[..., st.Dataset]:
    """Open (creating) the dataset at `place`; embedder hash:64 unless told otherwise."""

    def make(**options: Any) -> st.Dataset:
        options.setdefault("embedder", "hash:64")
        return place.open(**options)

    return make


@pytest.fixture
def failing_embedder() -> FailingEmbedder:
    """A hash:64 embedder whose `fail_at` a test sets to make a later batch fail."""
    return FailingEmbedder()


@pytest.fixture
def ds(make_dataset: Callable[..., st.Dataset]) -> st.Dataset:
    """A new, empty hash:64 dataset on the back-end of this run."""
    return make_dataset()
