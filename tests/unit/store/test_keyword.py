"""Keyword (BM25) and hybrid search: exact words, filters, consistency with every write, options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import shoal.store as st
from fakes.embedders import CountingEmbedder
from shoal.errors import InvalidInput
from shoal.store import _view

MakeDataset = Callable[..., st.Dataset]
Place = Any  # conftest.Place

ANIMALS = [
    "The quick brown fox jumps over the lazy dog",
    "A zebra grazes on the savanna",
    "Dogs are running in the park",
    "Cats sleep most of the day",
]


def _ids(hits: list[st.Hit]) -> list[str]:
    return [hit.id for hit in hits]


@pytest.fixture
def animals(ds: st.Dataset) -> st.Dataset:
    """Four short texts with ids fox, zebra, dogs, cats and a `kind` in their metadata."""
    kinds = [{"kind": "wild"}, {"kind": "wild"}, {"kind": "pet"}, {"kind": "pet"}]
    ds.add(ANIMALS, ids=["fox", "zebra", "dogs", "cats"], metadatas=kinds)
    return ds


def test_keyword_search_finds_rows_by_their_words(animals: st.Dataset) -> None:
    assert _ids(animals.search("zebra", mode="keyword")) == ["zebra"]
    # Lower case, stems and stop words: "the running dogs" matches "Dogs are running" first.
    hits = animals.search("the RUNNING dogs", mode="keyword", k=4)
    assert _ids(hits) == ["dogs", "fox"]  # the fox text has "dog" but not "run"
    assert hits[0].text == ANIMALS[2] and hits[0].metadata == {"kind": "pet"}


def test_keyword_scores_are_bm25_best_first(animals: st.Dataset) -> None:
    hits = animals.search("lazy dog", mode="keyword", k=4)
    assert _ids(hits) == ["fox", "dogs"]  # fox has both words
    assert hits[0].score > hits[1].score > 0


def test_keyword_search_returns_only_matching_rows(animals: st.Dataset) -> None:
    assert animals.search("giraffe", mode="keyword", k=4) == []
    assert animals.search("the of", mode="keyword") == []  # stop words only
    assert len(animals.search("zebra", mode="keyword", k=10)) == 1


def test_keyword_search_calls_no_embedder(make_dataset: MakeDataset) -> None:
    counting = CountingEmbedder()
    ds = make_dataset(embedder=counting)
    ds.add(ANIMALS)
    before = counting.batches
    ds.search("zebra", mode="keyword")
    ds.search_batch(["zebra", "fox"], mode="keyword")
    assert counting.batches == before
    ds.search("zebra", mode="hybrid")
    assert counting.batches == before + 1


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_filters_apply_in_every_mode(animals: st.Dataset, mode: st.SearchMode) -> None:
    hits = animals.search("dog", mode=mode, k=4, where={"kind": "pet"})
    assert set(_ids(hits)) <= {"dogs", "cats"}
    assert "dogs" in _ids(hits)
    assert animals.search("zebra", mode=mode, where={"kind": "none"}) == []


def test_keyword_search_sees_every_write_before_it(animals: st.Dataset) -> None:
    assert animals.search("okapi", mode="keyword") == []
    animals.add(["An okapi hides in the forest"], ids=["okapi"])
    assert _ids(animals.search("okapi", mode="keyword")) == ["okapi"]
    animals.upsert(["A zebra now sleeps in the forest"], ids=["zebra"])
    assert _ids(animals.search("savanna", mode="keyword")) == []
    assert _ids(animals.search("forest", mode="keyword", k=4)) == [
        "okapi",
        "zebra",
    ]  # shorter first
    animals.delete(ids=["okapi"])
    assert _ids(animals.search("okapi forest", mode="keyword", k=4)) == ["zebra"]
    animals.update(where={"kind": "pet"}, set={"text": "A parrot talks"})
    assert set(_ids(animals.search("parrot", mode="keyword", k=4))) == {"dogs", "cats"}
    assert animals.search("running", mode="keyword") == []


def test_keyword_search_sees_rows_written_by_another_handle(
    make_dataset: MakeDataset, place: Place
) -> None:
    first = make_dataset()
    first.add(ANIMALS[:2], ids=["fox", "zebra"])
    assert _ids(first.search("zebra", mode="keyword")) == ["zebra"]
    other = place.open()
    other.add(["A second zebra runs"], ids=["zebra2"])
    other.delete(ids=["zebra"])
    assert _ids(first.search("zebra", mode="keyword")) == ["zebra2"]


def test_keyword_search_sees_a_text_changed_with_the_same_vector(ds: st.Dataset) -> None:
    vector = np.ones((1, 64), dtype=np.float32)
    ds.add(["old words"], ids=["a"], embeddings=vector)
    assert _ids(ds.search("old", mode="keyword")) == ["a"]
    ds.upsert(["new words"], ids=["a"], embeddings=vector)
    assert ds.search("old", mode="keyword") == []
    assert _ids(ds.search("new", mode="keyword")) == ["a"]


def test_keyword_search_on_a_checked_out_version(animals: st.Dataset) -> None:
    past = animals.version
    animals.upsert(["A zebra sleeps"], ids=["zebra"])
    animals.add(["An okapi"], ids=["okapi"])
    old = animals.checkout(past)
    assert _ids(old.search("savanna", mode="keyword")) == ["zebra"]
    assert old.search("okapi", mode="keyword") == []
    assert _ids(animals.search("okapi", mode="keyword")) == ["okapi"]
    assert animals.search("savanna", mode="keyword") == []


def test_keyword_search_after_a_restore(animals: st.Dataset) -> None:
    past = animals.version
    animals.upsert(["A zebra sleeps"], ids=["zebra"])
    assert animals.search("savanna", mode="keyword") == []
    animals.restore(past)
    assert _ids(animals.search("savanna", mode="keyword")) == ["zebra"]


def test_keyword_search_on_a_branch(make_dataset: MakeDataset, backend: str) -> None:
    if backend == "memory":
        pytest.skip("memory:// cannot branch")
    ds = make_dataset()
    ds.add(ANIMALS, ids=["fox", "zebra", "dogs", "cats"])
    branch = ds.branch("experiment")
    branch.add(["An okapi"], ids=["okapi"])
    branch.delete(ids=["zebra"])
    assert _ids(branch.search("okapi zebra", mode="keyword", k=4)) == ["okapi"]
    assert _ids(ds.search("okapi zebra", mode="keyword", k=4)) == ["zebra"]


def test_keyword_search_survives_a_compacted_index(
    monkeypatch: pytest.MonkeyPatch, make_dataset: MakeDataset, backend: str
) -> None:
    if backend == "s3":
        pytest.skip("the snapshot logic is the same on every back-end")
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 50)
    monkeypatch.setattr(_view, "TAIL_MAX", 8)
    ds = make_dataset()
    ids = ds.add([f"row {i} word{i % 10}" for i in range(100)], ids=[str(i) for i in range(100)])
    assert len(ds.search("word3", mode="keyword", k=100)) == 10
    ds.search("row", k=1)  # builds the vector index
    ds.delete(ids=ids[:40])  # more than the rebuild share: the next vector search compacts
    ds.search("row", k=1)
    expected = ["43", "53", "63", "73", "83", "93"]
    assert sorted(_ids(ds.search("word3", mode="keyword", k=100))) == expected


def test_keyword_search_after_reopening(make_dataset: MakeDataset, place: Place) -> None:
    make_dataset().add(ANIMALS, ids=["fox", "zebra", "dogs", "cats"])
    assert _ids(place.open().search("zebra", mode="keyword")) == ["zebra"]


def test_search_batch_matches_single_searches_in_every_mode(animals: st.Dataset) -> None:
    queries = ["dog", "zebra savanna", "sleep"]
    for mode in ("keyword", "hybrid"):
        batch = animals.search_batch(queries, k=2, mode=mode)
        assert batch == [animals.search(q, k=2, mode=mode) for q in queries]


def test_hybrid_scores_are_reciprocal_rank_fusion(animals: st.Dataset) -> None:
    vector = _ids(animals.search("zebra", k=4))
    hits = animals.search("zebra", mode="hybrid", k=4, rrf_k=10)
    expected = 1 / (10 + 1 + vector.index("zebra")) + 1 / (10 + 1)  # keyword: zebra first
    assert hits[0].id == "zebra"
    assert hits[0].score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_weights_choose_between_the_lists(animals: st.Dataset) -> None:
    vector_only = animals.search("lazy dog", mode="hybrid", k=4, weights=(1.0, 0.0))
    assert _ids(vector_only) == _ids(animals.search("lazy dog", k=4))
    keyword_only = animals.search("lazy dog", mode="hybrid", k=2, weights=(0.0, 2.0))
    assert _ids(keyword_only) == _ids(animals.search("lazy dog", mode="keyword", k=2))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "fuzzy"}, "'vector', 'keyword', 'hybrid'"),
        ({"mode": "keyword", "metric": "dot"}, "not to keyword search"),
        ({"mode": "hybrid", "rrf_k": -1}, "rrf_k"),
        ({"mode": "hybrid", "weights": (1.0,)}, "weights"),
        ({"mode": "hybrid", "weights": (0, 0)}, "not both 0"),
        ({"mode": "hybrid", "weights": (1, float("nan"))}, "weights"),
        ({"k": 0, "mode": "keyword"}, "k must be a positive int"),
        ({"metric": "manhattan"}, "metric must be"),
    ],
)
def test_bad_search_options_say_what_is_allowed(
    animals: st.Dataset, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        animals.search("dog", **options)


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_text_modes_refuse_vector_queries(animals: st.Dataset, mode: st.SearchMode) -> None:
    with pytest.raises(InvalidInput, match="takes text queries"):
        animals.search(np.ones(64, dtype=np.float32), mode=mode)
