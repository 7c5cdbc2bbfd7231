"""Metadata written as a column: `set_metadata` (what `cluster` and `dedup` write) rewrites the
metadata column of the fragments it touches, not the rows' vectors and texts again."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lance.bitmap import Bitmap

import shoal.store as st
from shoal.store import _lance

N = 600
DIM = 64


def _filled(make_dataset: Callable[..., st.Dataset]) -> tuple[st.Dataset, np.ndarray]:
    """N rows in one fragment, and one more in a second."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    ds = make_dataset(embedder=f"hash:{DIM}")
    ds.add(
        [f"row {i} text" for i in range(N)],
        ids=[f"r{i}" for i in range(N)],
        embeddings=vectors,
        metadatas=[{"i": i} for i in range(N)],
    )
    ds.add(  # a second fragment
        ["late row"], ids=["late"], embeddings=vectors[:1] * 2, metadatas=[{"i": -1}]
    )
    return ds, vectors


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_set_metadata_changes_the_rows_it_names_and_keeps_the_rest(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    ds, vectors = _filled(make_dataset)
    ds.delete(ids=["r3"])  # a deleted row inside the fragment: physical offsets shift
    before = ds.version
    changed = ds.set_metadata({"r5": {"cluster": 2}, "r4": {"i": None}, "gone": {"x": 1}})
    assert changed == 2
    got = {r.id: r.metadata for r in ds.get(["r4", "r5", "r6", "late"])}
    assert got == {"r4": {}, "r5": {"i": 5, "cluster": 2}, "r6": {"i": 6}, "late": {"i": -1}}
    assert len(ds) == N
    assert ds.search(vectors[5], k=1)[0].metadata == {"i": 5, "cluster": 2}
    assert [r["id"] for r in ds.select(["id"], where={"cluster": 2})] == ["r5"]
    diff = ds.diff(before, ds.version)
    assert diff.changed == ["r4", "r5"] and not diff.added and not diff.removed
    assert ds.version == before + 1, "one version"
    assert ds.checkout(before).get(["r5"])[0].metadata == {"i": 5}, "the past stays"
    reopened = make_dataset(embedder=None)
    assert reopened.get(["r5"])[0].metadata == {"i": 5, "cluster": 2}
    assert reopened.search(vectors[7], k=1)[0].id == "r7"


def test_set_metadata_over_every_row_writes_the_metadata_column_only(tmp_path: Path) -> None:
    ds, _ = _filled(lambda **options: st.open(tmp_path / "ds", **options))
    ds.refresh_index()
    grown_by_rows = _size(tmp_path / "ds")
    data = tmp_path / "ds" / "data"
    files = {p.name for p in data.iterdir()}
    ds.set_metadata({f"r{i}": {"cluster": i % 5} for i in range(N)})
    new = {p.name for p in data.iterdir()} - files
    assert len(new) == 1, "one new file, for the one fragment changed"
    [name] = new
    assert (data / name).stat().st_size < 0.2 * sum(os.path.getsize(data / f) for f in files)
    assert _size(tmp_path / "ds") - grown_by_rows < 0.25 * grown_by_rows
    counts: dict[int | None, int] = {}
    for record in ds.select(["cluster"]):
        counts[record["cluster"]] = counts.get(record["cluster"], 0) + 1
    assert counts == {0: 120, 1: 120, 2: 120, 3: 120, 4: 120, None: 1}
    ds.compact()
    assert ds.get(["r9"])[0].metadata == {"i": 9, "cluster": 4}


def test_a_branch_writes_its_own_metadata_column(tmp_path: Path) -> None:
    ds, _ = _filled(lambda **options: st.open(tmp_path / "ds", **options))
    branch = ds.branch("try")
    branch.set_metadata({"r1": {"label": "b"}})
    assert branch.get(["r1"])[0].metadata == {"i": 1, "label": "b"}
    assert ds.get(["r1"])[0].metadata == {"i": 1}
    reopened = st.open(tmp_path / "ds").checkout("try")  # a handle read from the root
    assert reopened.get(["r1"])[0].metadata["label"] == "b"
    reopened.set_metadata({"r2": {"label": "c"}})
    assert st.open(tmp_path / "ds").checkout("try").get(["r2"])[0].metadata["label"] == "c"
    assert ds.get(["r2"])[0].metadata == {"i": 2}


@pytest.mark.parametrize(
    "values", [[0], [1, 2, 3, 70_000], list(range(0, 20_000, 2)), [5, 65_535, 65_536, 2**31]]
)
def test_portable_bitmap_reads_back_in_lance(values: list[int]) -> None:
    assert list(Bitmap._from_bytes(_lance.portable_bitmap(values))) == sorted(values)
