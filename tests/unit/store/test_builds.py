"""Datasets record the embedder builds (precision, runtime, CPU kernels) that wrote their vectors."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from typer.testing import CliRunner

import shoal.store as st
from shoal.cli import app
from shoal.embeddings.hashing import HashEmbedder

pytestmark = pytest.mark.parametrize("backend", ["local", "memory"], indirect=True)


class BuiltHash(HashEmbedder):
    """hash:64 that says it ran on some build: the spec is the same, so datasets accept it."""

    def __init__(self, **build: str) -> None:
        super().__init__("64")
        self._build = dict(build)

    @property
    def build(self) -> dict[str, str]:
        """The build given."""
        return self._build


AVX2 = {"precision": "int8", "runtime": "onnxruntime 1.32.0", "cpu": "avx2"}
VNNI = {"precision": "int8", "runtime": "onnxruntime 1.32.0", "cpu": "avx512-vnni"}


def _builds(ds: st.Dataset) -> list[dict[str, object]]:
    return list(ds.info().builds)


def test_a_new_dataset_records_the_build_that_created_it(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    ds = make_dataset(embedder=BuiltHash(**AVX2))
    ds.add(["a cat on a mat"])
    assert _builds(ds) == [{"since_version": 1, **AVX2}]
    assert ds.version == 2  # the record cost no version of its own


def test_another_build_writing_vectors_is_recorded_once_from_its_first_write(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    make_dataset(embedder=BuiltHash(**AVX2)).add(["first"])
    other = make_dataset(embedder=BuiltHash(**VNNI))
    other.add(["second"])
    written = other.version - 1  # the add; the record is the version after it
    assert _builds(other) == [{"since_version": 1, **AVX2}, {"since_version": written, **VNNI}]
    assert other.log()[-1].message == "record a new embedder build"
    before = other.version
    other.add(["third"])
    assert other.version == before + 1  # known build: nothing more to record
    assert len(_builds(other)) == 2


def test_vectors_passed_in_record_no_build(make_dataset: Callable[..., st.Dataset]) -> None:
    make_dataset(embedder=BuiltHash(**AVX2)).add(["first"])
    other = make_dataset(embedder=BuiltHash(**VNNI))
    other.add(["mine"], embeddings=np.ones((1, 64), np.float32))
    assert _builds(other) == [{"since_version": 1, **AVX2}]


def test_a_text_update_records_the_build_that_embedded_it(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    make_dataset(embedder=BuiltHash(**AVX2)).add(["first"], metadatas=[{"n": 1}])
    other = make_dataset(embedder=BuiltHash(**VNNI))
    other.update(where={"n": 1}, set={"n": 2})  # metadata only: no new vectors
    assert len(_builds(other)) == 1
    other.update(where={"n": 2}, set={"text": "rewritten"})
    assert _builds(other)[-1] == {"since_version": other.version - 1, **VNNI}


def test_embedders_that_do_not_depend_on_the_machine_record_nothing(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    ds = make_dataset(embedder="hash:64")
    ds.add(["a cat"])
    assert _builds(ds) == []
    assert "vectors since" not in str(ds.info())


def test_info_shows_the_builds(make_dataset: Callable[..., st.Dataset], backend: str) -> None:
    ds = make_dataset(embedder=BuiltHash(**AVX2))
    ds.add(["a cat"])
    assert "vectors since version 1: precision int8, runtime onnxruntime 1.32.0, cpu avx2" in str(
        ds.info()
    )
    if backend == "local":
        result = CliRunner().invoke(app, ["info", ds.uri, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["embedder_builds"] == [{"since_version": 1, **AVX2}]
