"""Store fixtures: a fresh dataset location on each back-end (local folder, memory://, S3 on moto)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import shoal.store as st
from fakes.embedders import CountingEmbedder
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
def failing_embedder() -> CountingEmbedder:
    """A hash:64 embedder (batches of 2) whose `fail_at` a test sets to make a later batch fail."""
    return CountingEmbedder(batch_size=2)


@pytest.fixture
def ds(make_dataset: Callable[..., st.Dataset]) -> st.Dataset:
    """A new, empty hash:64 dataset on the back-end of this run."""
    return make_dataset()
