"""The Retriever: similarity, MMR and threshold over every search mode; hybrid on a labelled set."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

import shoal
import shoal.store as st
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import InvalidInput

# Three near-duplicate recipes and three other texts about apples (or not).
RECIPES = {
    "pie1": "apple pie recipe with cinnamon and butter",
    "pie2": "apple pie recipe with cinnamon and sugar",
    "pie3": "easy apple pie recipe with cinnamon and butter",
    "orchard": "apple orchard harvest in the autumn",
    "juice": "fresh apple juice recipe for breakfast",
    "bread": "banana bread recipe with walnuts",
}
NEAR_DUPLICATE = 0.75  # cosine of hash:64 vectors: the pies are 0.80-0.94, the rest below 0.4


@pytest.fixture
def recipes() -> st.Dataset:
    """The recipes in a memory:// hash:64 dataset, each with a `source` in its metadata."""
    ds = st.open(f"memory://recipes-{uuid.uuid4().hex}", embedder="hash:64")
    ds.add(
        list(RECIPES.values()),
        ids=list(RECIPES),
        metadatas=[{"source": f"{name}.txt", "fruit": name != "bread"} for name in RECIPES],
    )
    return ds


def _ids(hits: list[st.Hit]) -> list[str]:
    return [hit.id for hit in hits]


def _max_pair_cosine(ds: st.Dataset, hits: list[st.Hit]) -> float:
    vectors = np.stack([record.embedding for record in ds.get(_ids(hits))])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -1)
    return float(similarity.max())


def test_similarity_retriever_returns_the_search_hits(recipes: st.Dataset) -> None:
    retriever = recipes.as_retriever(k=3)
    assert isinstance(retriever, shoal.Retriever)
    assert retriever.k == 3 and retriever.dataset is recipes
    hits = retriever.retrieve("apple pie recipe")
    assert hits == recipes.search("apple pie recipe", k=3)
    assert hits[0].metadata["source"] == f"{hits[0].id}.txt"


def test_similarity_returns_near_duplicates_and_mmr_avoids_them(recipes: st.Dataset) -> None:
    query = "apple pie recipe"
    similar = recipes.as_retriever(k=3).retrieve(query)
    assert set(_ids(similar)) == {"pie1", "pie2", "pie3"}
    assert _max_pair_cosine(recipes, similar) > NEAR_DUPLICATE
    diverse = recipes.as_retriever(k=3, search_type="mmr").retrieve(query)
    assert diverse[0].id == similar[0].id  # the most relevant hit is picked first
    assert len([h for h in diverse if h.id.startswith("pie")]) == 1
    assert _max_pair_cosine(recipes, diverse) < NEAR_DUPLICATE


def test_mmr_with_lambda_one_is_relevance_only(recipes: st.Dataset) -> None:
    mmr = recipes.as_retriever(k=4, search_type="mmr", lambda_mult=1.0, fetch_k=6)
    assert _ids(mmr.retrieve("apple pie recipe")) == _ids(recipes.search("apple pie recipe", k=4))


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_mmr_works_in_every_mode(recipes: st.Dataset, mode: st.SearchMode) -> None:
    hits = recipes.as_retriever(k=3, mode=mode, search_type="mmr").retrieve("apple pie recipe")
    assert len(hits) == 3
    assert _max_pair_cosine(recipes, hits) < NEAR_DUPLICATE


def test_retriever_applies_its_filter(recipes: st.Dataset) -> None:
    for search_type in ("similarity", "mmr"):
        retriever = recipes.as_retriever(
            k=6, where={"fruit": False}, search_type=search_type, fetch_k=6
        )
        assert _ids(retriever.retrieve("recipe")) == ["bread"]


def test_threshold_keeps_only_hits_scoring_at_least_it(recipes: st.Dataset) -> None:
    everything = recipes.search("apple pie recipe", k=6)
    cut = everything[2].score
    kept = recipes.as_retriever(k=6, search_type="threshold", score_threshold=cut).retrieve(
        "apple pie recipe"
    )
    assert kept == [hit for hit in everything if hit.score >= cut]
    assert 3 <= len(kept) < 6
    none = recipes.as_retriever(k=6, search_type="threshold", score_threshold=1.01)
    assert none.retrieve("apple pie recipe") == []


def test_threshold_uses_the_modes_score(recipes: st.Dataset) -> None:
    bm25 = recipes.search("cinnamon butter", mode="keyword", k=6)
    retriever = recipes.as_retriever(
        k=6, mode="keyword", search_type="threshold", score_threshold=bm25[0].score
    )
    assert _ids(retriever.retrieve("cinnamon butter")) == [bm25[0].id]


@pytest.mark.parametrize(
    "options",
    [
        {"search_type": "similarity"},
        {"search_type": "mmr", "fetch_k": 6},
        {"search_type": "threshold", "score_threshold": 0.3},
        {"search_type": "mmr", "where": {"fruit": True}},
    ],
)
def test_retrieving_by_vector_matches_retrieving_by_text(
    recipes: st.Dataset, options: dict[str, Any]
) -> None:
    retriever = recipes.as_retriever(k=3, **options)
    vector = recipes.embedder.embed_query("apple pie recipe")
    by_vector = retriever.retrieve_by_vector(vector.tolist())
    assert by_vector == retriever.retrieve("apple pie recipe")
    assert by_vector  # the threshold keeps some


def test_retrieving_by_vector_needs_vector_mode(recipes: st.Dataset) -> None:
    with pytest.raises(InvalidInput, match="needs a text query"):
        recipes.as_retriever(mode="hybrid").retrieve_by_vector(np.ones(64))


def test_retriever_sees_rows_added_after_it_was_made(recipes: st.Dataset) -> None:
    retriever = recipes.as_retriever(k=1, mode="keyword")
    recipes.add(["quince jelly"], ids=["quince"])
    assert _ids(retriever.retrieve("quince")) == ["quince"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "k must be a positive int"),
        ({"mode": "semantic"}, "'vector', 'keyword', 'hybrid'"),
        ({"search_type": "similarity_score_threshold"}, "'similarity', 'mmr', 'threshold'"),
        ({"search_type": "threshold"}, "needs score_threshold"),
        ({"search_type": "threshold", "score_threshold": "high"}, "needs score_threshold"),
        ({"score_threshold": 0.5}, "only with search_type='threshold'"),
        ({"search_type": "mmr", "k": 5, "fetch_k": 3}, r"fetch_k \(3\) must be at least k"),
        ({"search_type": "mmr", "fetch_k": 2.5}, "fetch_k must be an int"),
        ({"search_type": "mmr", "lambda_mult": 1.5}, "lambda_mult must be a number from 0"),
        ({"where": "fruit = true"}, "where must be a filter dict"),
        ({"mode": "hybrid", "weights": (1, -1)}, "weights must be two numbers"),
        ({"mode": "hybrid", "rrf_k": "sixty"}, "rrf_k must be a number"),
    ],
)
def test_bad_retriever_options_say_what_is_allowed(
    recipes: st.Dataset, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        recipes.as_retriever(**options)


def test_retrieve_refuses_an_empty_query(recipes: st.Dataset) -> None:
    with pytest.raises(InvalidInput, match="non-empty str"):
        recipes.as_retriever().retrieve("  ")


# A labelled set where each single mode misses something: embeddings blur version numbers,
# BM25 cannot match a paraphrase that shares no word with its answer.
LABELLED_DOCS = {
    "y1987": "In 1987 the company moved its head office to Oslo.",
    "y1978": "In 1978 the company moved its first factory to Bergen.",
    "y1997": "In 1997 the company moved into software and opened an office in Tromsø.",
    "v311": "Firmware 3.1.1 changed the default baud rate of the serial port.",
    "v313": "Firmware 3.1.3 changed the default timeout of the serial port.",
    "v331": "Firmware 3.3.1 changed the default parity of the serial port.",
    "brakes": "Worn pads lengthen the distance a car needs to halt.",
    "sleep": "Adults need seven to nine hours of rest each night.",
    "jordan": "Michael Jordan was born in Brooklyn in 1963.",
    "bulls": "The Chicago Bulls won six championships in the nineties.",
}
LABELLED_QUERIES = {
    "where did the company move in 1987": "y1987",
    "what changed in firmware 3.1.3": "v313",
    "serial port timeout": "v313",
    "why does my vehicle take longer to stop": "brakes",
    "how much slumber does a grown-up require": "sleep",
    "birthplace of the basketball legend": "jordan",
}


@pytest.mark.slow
def test_hybrid_beats_or_equals_each_single_mode(minilm: LocalEmbedder) -> None:
    ds = st.open(f"memory://labelled-{uuid.uuid4().hex}", embedder=minilm)
    ds.add(list(LABELLED_DOCS.values()), ids=list(LABELLED_DOCS))
    k = 2
    found: dict[str, set[str]] = {}
    reciprocal_rank: dict[str, float] = {}
    for mode in ("vector", "keyword", "hybrid"):
        ranked = {q: _ids(ds.search(q, k=len(LABELLED_DOCS), mode=mode)) for q in LABELLED_QUERIES}
        found[mode] = {q for q, ids in ranked.items() if LABELLED_QUERIES[q] in ids[:k]}
        reciprocal_rank[mode] = sum(
            1 / (ids.index(LABELLED_QUERIES[q]) + 1) if LABELLED_QUERIES[q] in ids else 0.0
            for q, ids in ranked.items()
        ) / len(LABELLED_QUERIES)
    assert found["vector"] < found["hybrid"]  # hybrid finds what vector misses...
    assert found["keyword"] < found["hybrid"]  # ...and what keyword misses
    assert found["hybrid"] == set(LABELLED_QUERIES)
    assert reciprocal_rank["hybrid"] >= max(reciprocal_rank["vector"], reciprocal_rank["keyword"])
