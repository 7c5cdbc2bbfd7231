"""The compressed vector index (8-bit codes, candidates rescored with Lance's vectors): the
HNSW index's own tests run again over codes, plus what is particular to it: exact scores,
smaller files and no rows file, the storage recorded per dataset and followed by every
handle, the choice by size, and `shoal index`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_index import (  # the index's behaviour, run here again over codes
    DIM,
    K,
    Truth,
    big,
    build,
    check_search,
    clustered,
    index_path,
    queries_near,
    small_thresholds,
    test_a_block_of_identical_vectors_keeps_self_lookups_exact,
    test_deleted_rows_never_appear,
    test_filtered_search_returns_k_matching_rows,
    test_filters_over_indexed_rows_and_the_tail_after_writes,
    test_index_search_agrees_with_exact_numpy_top_k,
    test_many_deletions_rebuild_the_index_without_the_deleted_rows,
    test_reopen_catches_up_with_writes_made_while_closed,
    test_reopened_dataset_uses_the_saved_index,
    test_restore_rebuilds_the_index_for_the_restored_rows,
    test_rows_added_after_the_index_are_found_at_once,
    test_stale_index_file_catches_up,
    test_upserted_rows_return_their_new_text_and_vector,
)
from typer.testing import CliRunner

import shoal.store as st
from shoal import settings
from shoal.cli import app
from shoal.errors import InvalidInput, ReadOnlyDataset

__all__ = [
    "big",
    "small_thresholds",
    "test_a_block_of_identical_vectors_keeps_self_lookups_exact",
    "test_deleted_rows_never_appear",
    "test_filtered_search_returns_k_matching_rows",
    "test_filters_over_indexed_rows_and_the_tail_after_writes",
    "test_index_search_agrees_with_exact_numpy_top_k",
    "test_many_deletions_rebuild_the_index_without_the_deleted_rows",
    "test_reopen_catches_up_with_writes_made_while_closed",
    "test_reopened_dataset_uses_the_saved_index",
    "test_restore_rebuilds_the_index_for_the_restored_rows",
    "test_rows_added_after_the_index_are_found_at_once",
    "test_stale_index_file_catches_up",
    "test_upserted_rows_return_their_new_text_and_vector",
]


@pytest.fixture(scope="module", autouse=True)
def _compressed(_session_environment: None) -> Iterator[None]:
    """Every index built in this module compresses (the size threshold is one byte)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOAL_INDEX_COMPRESS_MB", "0.000001")
        yield


def _files(path: Path) -> dict[str, int]:
    """The index folder's files by suffix ('faiss', 'arrow', 'npz') and their sizes."""
    return {f.name.rsplit(".", 1)[1]: f.stat().st_size for f in index_path(path).parent.iterdir()}


def test_hits_carry_exact_scores_from_a_smaller_index_without_a_rows_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 3_000)
    assert ds.index_storage == "compressed"
    queries = queries_near(truth, rng)
    assert check_search(ds, truth, queries) >= 0.9  # check_search asserts exact scores
    compressed = _files(tmp_path / "ds")
    assert "arrow" not in compressed, "a compressed index keeps no rows file: hits come from Lance"
    monkeypatch.setenv("SHOAL_INDEX_COMPRESS_MB", "1000")
    flat, flat_truth, _ = build(tmp_path / "flat", 3_000)
    assert flat.index_storage == "flat"
    # Per vector: 32 one-byte codes instead of 32 floats, beside the same graph.
    assert compressed["faiss"] < 0.7 * _files(tmp_path / "flat")["faiss"]
    assert check_search(flat, flat_truth, queries) >= 0.9


def test_a_metadata_update_keeps_the_indexed_position(
    tmp_path: Path, small_thresholds: None, added: list[int]
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_000)
    text, vector, _ = truth.rows["r5"]
    # The rescoring read r5's row with its vector: the next version's hits must not reuse it.
    assert ds.search(vector, k=1)[0].metadata == {"g": 5}
    added.clear()
    ds.set_metadata({"r5": {"g": 1000}, "r6": {"g": 1001}})
    assert ds.search(vector, k=1)[0].metadata == {"g": 1000}
    truth.rows["r5"] = (text, vector, {"g": 1000})
    truth.rows["r6"] = (truth.rows["r6"][0], truth.rows["r6"][1], {"g": 1001})
    hits = ds.search(vector, k=1, where={"g": 1000})
    assert [h.id for h in hits] == ["r5"] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert check_search(ds, truth, queries_near(truth, rng)) >= 0.9
    assert added == [], "same vector, same code: the rows keep their graph nodes"


def test_neighbors_over_codes_are_scored_exactly(tmp_path: Path) -> None:
    ds, truth, _ = build(tmp_path / "ds", 1_500)
    graph = ds.neighbors(k=5)
    ids = list(truth.rows)
    matrix = truth.matrix(ids)
    scores = matrix @ matrix.T
    np.fill_diagonal(scores, -np.inf)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    order = [ids.index(i) for i in graph.ids]
    found = sum(
        len(set(row.tolist()) & set(expected[order[n]].tolist()))
        for n, row in enumerate(graph.indices)
    )
    assert found / (5 * len(ids)) >= 0.97
    for n, row in enumerate(graph.indices[:50]):  # each score is the exact cosine
        exact = matrix[[order[m] for m in row]] @ matrix[order[n]]
        assert graph.scores[n] == pytest.approx(exact, abs=1e-5)
    returned_ids, vectors = ds.vectors()
    assert np.allclose(vectors, truth.matrix(returned_ids), atol=1e-6), "vectors come from Lance"


def test_the_storage_choice_is_recorded_and_every_handle_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_INDEX_COMPRESS_MB", "1000")  # auto would pick flat here
    path = tmp_path / "ds"
    ds, truth, rng = build(path, 2_000)
    assert ds.index_storage == "flat" and ds.info().index_storage == "auto"
    queries = queries_near(truth, rng, 20)
    ds.refresh_index(storage="compressed")
    assert ds.index_storage == "compressed"
    assert ds.log()[-1].message == "vector index storage: compressed"
    assert ds.info().index_storage == "compressed" and "vector index: compressed" in str(ds.info())
    assert check_search(ds, truth, queries) >= 0.9
    # Another handle, its index file gone: it rebuilds compressed, as the dataset records.
    for file in index_path(path).parent.iterdir():
        file.unlink()
    other = st.open(path)
    other.refresh_index()  # 2,000 rows: searched exactly until asked to index
    assert other.index_storage == "compressed"
    assert check_search(other, truth, queries) >= 0.9
    # Back to flat: the saved compressed file is not used by a handle opened after.
    ds.refresh_index(storage="flat")
    assert ds.index_storage == "flat"
    assert st.open(path).info().index_storage == "flat"
    reopened = st.open(path)
    assert check_search(reopened, truth, queries) >= 0.9
    assert reopened.index_storage == "flat", "the saved flat index is loaded"
    version = ds.version
    ds.refresh_index(storage="flat")  # nothing changes: no new version
    assert ds.version == version
    with pytest.raises(InvalidInput, match="'flat', 'compressed', 'auto'"):
        ds.refresh_index(storage="pq")
    with pytest.raises(ReadOnlyDataset):
        ds.checkout(1).refresh_index(storage="compressed")


def test_auto_compresses_above_the_configured_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_INDEX_COMPRESS_MB", "1")
    assert settings.index_compress_bytes() == 2**20
    view = st.open("memory://auto-size", embedder=f"hash:{DIM}")._view
    assert view.storage_for(2**20 // (4 * DIM)) == "flat"
    assert view.storage_for(2**20 // (4 * DIM) + 1) == "compressed"
    monkeypatch.setenv("SHOAL_INDEX_COMPRESS_MB", "not a number")  # the default: memory / 4
    assert settings.index_compress_bytes() > 2**20


def test_shoal_index_records_the_storage_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    ds = st.open(path, embedder=f"hash:{DIM}")
    rng = np.random.default_rng(3)
    truth = Truth()
    truth.add(ds, [f"r{i}" for i in range(300)], clustered(rng, 300))
    runner = CliRunner()
    done = runner.invoke(app, ["index", str(path), "--storage", "compressed"])
    assert done.exit_code == 0, done.output
    assert "300 rows" in done.output and "a compressed vector index" in done.output
    shown = runner.invoke(app, ["info", str(path), "--json"])
    assert json.loads(shown.output)["index_storage"] == "compressed"
    refused = runner.invoke(app, ["index", str(path), "--storage", "tiny"])
    assert refused.exit_code == 2 and "'flat', 'compressed', 'auto'" in refused.output
    hits = st.open(path).search(truth.rows["r7"][1], k=K)
    assert hits[0].id == "r7" and hits[0].score == pytest.approx(1.0, abs=1e-5)
