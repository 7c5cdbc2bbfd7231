"""Rerankers: the interface's ordering, the registry, and the Retriever's rerank= and rerank_k=."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import shoal
import shoal.store as st
from shoal.errors import ConfigurationError, InvalidInput, ProviderError, UnknownProvider
from shoal.store import _rerank


class WordReranker(st.Reranker):
    """Scores a text by how many times it says `word`; records what it was asked."""

    def __init__(self, word: str = "butter") -> None:
        self.word = word
        self.asked: list[tuple[str, list[str]]] = []

    @property
    def name(self) -> str:
        return f"words:{self.word}"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        self.asked.append((query, list(texts)))
        return [float(text.split().count(self.word)) for text in texts]


class BrokenReranker(WordReranker):
    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores = scores

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return self.scores


def _hits(*texts: str) -> list[st.Hit]:
    return [
        st.Hit(id=f"h{i}", text=t, metadata={"n": i}, score=1.0 - i / 10)
        for i, t in enumerate(texts)
    ]


@pytest.fixture
def no_registrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rerankers registered by a test vanish after it."""
    monkeypatch.setattr(_rerank._RERANKERS, "_registered", {})


def test_rerank_orders_by_the_rerankers_score_which_replaces_the_search_score() -> None:
    hits = _hits("plain bread", "butter and butter", "bread and butter")
    ranked = WordReranker().rerank("what goes with bread?", hits)
    assert [h.id for h in ranked] == ["h1", "h2", "h0"]
    assert [h.score for h in ranked] == [2.0, 1.0, 0.0]
    assert ranked[0].metadata == {"n": 1} and ranked[0].text == "butter and butter"


def test_ties_keep_the_search_order_and_k_keeps_the_best() -> None:
    hits = _hits("a", "butter", "b", "butter", "c")
    ranked = WordReranker().rerank("q", hits, k=3)
    assert [h.id for h in ranked] == ["h1", "h3", "h0"]
    assert WordReranker().rerank("q", []) == []


def test_hit_like_objects_from_other_retrievers_come_back_as_hits() -> None:
    class Row:
        def __init__(self, text: str) -> None:
            self.id, self.text, self.metadata, self.score = text, text, {"x": 1}, 0.5

    ranked = WordReranker().rerank("q", [Row("no"), Row("butter")])
    assert all(isinstance(h, st.Hit) for h in ranked)
    assert [(h.id, h.score, h.metadata) for h in ranked] == [
        ("butter", 1.0, {"x": 1}),
        ("no", 0.0, {"x": 1}),
    ]


@pytest.mark.parametrize(
    ("scores", "message"),
    [([1.0], "gave 1 scores for 2 texts"), ([1.0, float("nan")], "not a finite number")],
)
def test_a_provider_that_scores_wrongly_is_an_error(scores: list[float], message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        BrokenReranker(scores).rerank("q", _hits("a", "b"))


@pytest.mark.parametrize(
    ("query", "k"), [("", None), ("  ", None), ("q", 0), ("q", True), ("q", 1.5)]
)
def test_bad_query_or_k_is_invalid_input(query: str, k: Any) -> None:
    with pytest.raises(InvalidInput):
        WordReranker().rerank(query, _hits("a"), k=k)


def test_the_registry_knows_the_builtins_and_builds_by_name() -> None:
    assert {"cross-encoder", "llm"} <= set(st.reranker_providers())
    built = shoal.reranker("cross-encoder:ms-marco-MiniLM-L6-v2")  # loads nothing yet
    assert isinstance(built, st.CrossEncoderReranker)
    assert built.name == "cross-encoder:ms-marco-MiniLM-L6-v2"
    assert (
        shoal.reranker("cross-encoder").name == "cross-encoder:cross-encoder/ms-marco-MiniLM-L6-v2"
    )


def test_registry_errors_name_the_fix() -> None:
    with pytest.raises(
        UnknownProvider, match=r"no reranker provider named 'nope'.*shoal.register_reranker"
    ):
        shoal.reranker("nope:x")
    with pytest.raises(
        ConfigurationError, match="'cross-encoder' reranker takes no option 'colour'"
    ):
        shoal.reranker("cross-encoder:x", colour="red")
    with pytest.raises(ConfigurationError, match="reranker name looks like"):
        shoal.reranker("")
    with pytest.raises(ConfigurationError, match="activation must be one of"):
        shoal.reranker("cross-encoder:x", activation="relu")


def test_register_reranker_and_plugins_by_entry_point(
    monkeypatch: pytest.MonkeyPatch, no_registrations: None
) -> None:
    shoal.register_reranker("words", WordReranker)
    assert shoal.reranker("words:jam").name == "words:jam"
    plugin = EntryPoint(name="plugged", value=f"{__name__}:WordReranker", group="shoal.rerankers")
    monkeypatch.setattr(
        "shoal._registry.entry_points",
        lambda *, group: [plugin] if group == "shoal.rerankers" else [],
    )
    assert {"plugged", "words", "cross-encoder", "llm"} <= set(st.reranker_providers())
    assert shoal.reranker("plugged:milk").name == "words:milk"


def test_builtins_are_declared_as_entry_points_in_pyproject() -> None:
    from pathlib import Path

    import tomllib

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["shoal.rerankers"]
    assert declared == _rerank._RERANKERS._builtins


# ------------------------------------------------------------------ Retriever


@pytest.fixture
def kitchen() -> st.Dataset:
    ds = st.open(f"memory://kitchen-{uuid.uuid4().hex}", embedder="hash:64")
    texts = [f"bread recipe number {i}" for i in range(25)] + ["bread with butter and butter"]
    ds.add(texts, ids=[f"r{i}" for i in range(len(texts))])
    return ds


def test_retriever_reranks_more_candidates_and_keeps_k(kitchen: st.Dataset) -> None:
    reranker = WordReranker()
    retriever = kitchen.as_retriever(k=2, mode="keyword", rerank=reranker, rerank_k=26)
    assert retriever.candidates == 26
    hits = retriever.retrieve("bread recipe")
    assert len(reranker.asked[0][1]) == 26  # every candidate was scored
    assert hits[0].id == "r25" and len(hits) == 2
    assert hits[0].score == 2.0
    # Without a reranker, the same search does not put it first.
    assert kitchen.as_retriever(k=2, mode="keyword").retrieve("bread recipe")[0].id != "r25"


def test_default_candidates_are_max_k_20(kitchen: st.Dataset) -> None:
    assert kitchen.as_retriever(k=4, rerank=WordReranker()).candidates == 20
    assert kitchen.as_retriever(k=30, rerank=WordReranker()).candidates == 30
    assert kitchen.as_retriever(k=4).candidates == 4


def test_retriever_builds_a_reranker_from_a_name(
    kitchen: st.Dataset, no_registrations: None
) -> None:
    shoal.register_reranker("words", WordReranker)
    retriever = kitchen.as_retriever(k=1, mode="keyword", rerank="words:butter", rerank_k=26)
    assert isinstance(retriever.rerank, WordReranker)
    assert retriever.retrieve("bread")[0].id == "r25"


def test_threshold_applies_to_the_search_scores_before_reranking(kitchen: st.Dataset) -> None:
    retriever = kitchen.as_retriever(
        k=3, mode="keyword", search_type="threshold", score_threshold=1e9, rerank=WordReranker()
    )
    assert retriever.retrieve("bread") == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rerank_k": 10}, "rerank_k= applies only with rerank="),
        (
            {"rerank": WordReranker(), "rerank_k": 2, "k": 4},
            r"rerank_k \(2\) must be at least k \(4\)",
        ),
        ({"rerank": WordReranker(), "rerank_k": "20"}, "rerank_k must be an int"),
        ({"rerank": WordReranker(), "search_type": "mmr"}, "use one of the two"),
    ],
)
def test_retriever_rerank_options_are_checked(
    kitchen: st.Dataset, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        kitchen.as_retriever(**options)


def test_retriever_rejects_what_is_not_a_reranker(kitchen: st.Dataset) -> None:
    with pytest.raises(ConfigurationError, match="rerank= takes a Reranker or a name"):
        kitchen.as_retriever(rerank=42)  # type: ignore[arg-type]
    with pytest.raises(UnknownProvider):
        kitchen.as_retriever(rerank="nope:x")


def test_retrieve_by_vector_cannot_rerank(kitchen: st.Dataset) -> None:
    retriever = kitchen.as_retriever(rerank=WordReranker())
    with pytest.raises(InvalidInput, match="reads the query's text"):
        retriever.retrieve_by_vector(kitchen.embedder.embed_query("bread"))
