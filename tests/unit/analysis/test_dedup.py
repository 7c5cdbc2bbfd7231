"""near_duplicates and remove_duplicates: planted groups with the real model, exact-text
duplicates, the index path against the exact path, errors, and a reversible removal."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_data import DIM, MakeDataset, clustered
from planted import GROUPS, SINGLES

from shoal.analysis import near_duplicates, normalized_text, remove_duplicates
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import InvalidInput
from shoal.store import _view
from shoal.types import EmbedderSpec


def test_every_planted_group_is_found_and_nothing_else(
    make_dataset: MakeDataset, minilm: LocalEmbedder
) -> None:
    texts = [text for group in GROUPS for text in group] + SINGLES
    ds = make_dataset(texts=texts, embedder=minilm)
    rows = iter(range(len(texts)))
    planted = [[f"r{next(rows)}" for _ in group] for group in GROUPS]
    assert near_duplicates(ds) == planted


def test_a_stricter_threshold_keeps_only_the_closest(
    make_dataset: MakeDataset, minilm: LocalEmbedder
) -> None:
    texts = [text for group in GROUPS for text in group] + SINGLES
    ds = make_dataset(texts=texts, embedder=minilm)
    strict = near_duplicates(ds, threshold=0.999)
    # Exact and case/whitespace variants always group (the same text once normalised).
    assert strict[:2] == [["r0", "r1"], ["r2", "r3", "r4"]]
    assert len(strict) < len(GROUPS)


def test_equal_texts_group_whatever_their_vectors(make_dataset: MakeDataset) -> None:
    vectors = clustered(6, centres=6)
    texts = ["Hello  World", "other", "hello world", "third", "HELLO WORLD ", "fourth"]
    ds = make_dataset(vectors, texts=texts)
    assert near_duplicates(ds, threshold=0.999) == [["r0", "r2", "r4"]]
    assert normalized_text("  A\tb\nC ") == "a b c"


def test_chains_of_close_rows_form_one_group_and_where_limits_rows(
    make_dataset: MakeDataset,
) -> None:
    base = clustered(1, centres=1)[0]
    step = np.random.default_rng(5).normal(size=DIM).astype(np.float32)
    chain = np.stack([base + 0.12 * i * step / np.linalg.norm(step) for i in range(4)])
    far = clustered(4, centres=4, seed=9) * -1
    vectors = np.concatenate([chain, far]).astype(np.float32)
    metadatas = [{"keep": i != 2} for i in range(8)]
    ds = make_dataset(vectors, metadatas=metadatas)
    first_last = float(chain[0] @ chain[3] / np.linalg.norm(chain[0]) / np.linalg.norm(chain[3]))
    assert first_last < 0.97  # the ends are not close; the chain links them
    assert near_duplicates(ds, threshold=0.98) == [["r0", "r1", "r2", "r3"]]
    assert near_duplicates(ds, threshold=0.98, where={"keep": True}) == [["r0", "r1"]]


def test_the_index_path_finds_what_the_exact_path_finds(
    make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    vectors = clustered(1_200, centres=300, spread=2.0, seed=4)
    copies = rng.choice(1_200, 40, replace=False)
    noisy = vectors[copies] + 0.01 * rng.normal(size=(40, DIM)).astype(np.float32)
    ds_vectors = np.concatenate([vectors, noisy]).astype(np.float32)
    exact = near_duplicates(make_dataset(ds_vectors), threshold=0.99)
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 200)
    monkeypatch.setattr(_view, "TAIL_MAX", 64)
    indexed_ds = make_dataset(ds_vectors)
    indexed = near_duplicates(indexed_ds, threshold=0.99)
    assert indexed_ds._view.index is not None and indexed_ds._view.index.count > 1_000
    assert indexed == exact
    assert sum(len(g) for g in exact) >= 80  # every copy found its original


def test_an_empty_dataset_has_no_groups(make_dataset: MakeDataset) -> None:
    assert near_duplicates(make_dataset()) == []


def test_bad_thresholds_and_k_say_what_is_allowed(make_dataset: MakeDataset) -> None:
    ds = make_dataset(clustered(4))
    for bad in (1.5, -2, float("nan"), "0.9", True):
        with pytest.raises(InvalidInput, match="threshold"):
            near_duplicates(ds, threshold=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="k must be"):
        near_duplicates(ds, k=0)


def test_l2_datasets_need_an_explicit_threshold(
    make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = make_dataset(clustered(4))
    spec = EmbedderSpec("test", "l2", DIM, False, "l2")
    monkeypatch.setattr(type(ds), "spec", property(lambda self: spec))
    with pytest.raises(InvalidInput, match="pass threshold="):
        near_duplicates(ds)


def test_removal_keeps_one_per_group_in_a_committed_version_that_checkout_reverses(
    make_dataset: MakeDataset,
) -> None:
    texts = ["same text", "Same  text", "other", "Other", "OTHER", "alone"]
    ds = make_dataset(clustered(6, centres=6), texts=texts)
    before = ds.version
    groups = near_duplicates(ds, threshold=0.9999)
    assert groups == [["r0", "r1"], ["r2", "r3", "r4"]]
    version = remove_duplicates(ds, groups)
    assert version == ds.version > before
    assert ds.log()[-1].message == "dedup: removed 3 near-duplicate rows, kept 2"
    assert sorted(r["id"] for r in ds.select(["id"])) == ["r0", "r2", "r5"]
    assert len(ds.checkout(before)) == 6
    assert near_duplicates(ds, threshold=0.9999) == []
    with pytest.raises(InvalidInput, match="list of id lists"):
        remove_duplicates(ds, ["r0", "r1"])  # type: ignore[list-item]
