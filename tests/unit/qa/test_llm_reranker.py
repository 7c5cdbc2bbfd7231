"""The LLM reranker against scripted answerers, and RetrievalQA's rerank=."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Literal

import pytest

import shoal
import shoal.store as st
from fakes.llms import ScriptedLLM
from shoal.errors import ConfigurationError, MalformedResponse
from shoal.qa import LLM, LLMReranker, Message, RetrievalQA, _llm, register_llm
from shoal.qa._rerank import parse_grades
from shoal.store import Hit

PASSAGES = [
    "Bananas are yellow.",
    "Michael Jordan was born on 17 February 1963 in Brooklyn.",
    "Jordan played basketball for the Chicago Bulls.",
]


class RepliesLLM(LLM):
    """Answers each call with the next of `replies`, recording the messages."""

    def __init__(
        self, *replies: str, kind: Literal["chat", "completion"] = "chat", window: int = 4096
    ) -> None:
        self.replies = list(replies)
        self.kind = kind
        self.window = window
        self.calls: list[list[Message]] = []
        self.stops: list[Sequence[str] | None] = []

    @property
    def name(self) -> str:
        return "replies"

    @property
    def context_window(self) -> int:
        return self.window

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        self.calls.append(list(messages))
        self.stops.append(stop)
        yield self.replies.pop(0)


class JordanJudge(RepliesLLM):
    """Grades 10 the passages that name Jordan, 1 the others."""

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        self.calls.append(list(messages))
        lines = [line for line in messages[-1].content.splitlines() if line.startswith("[")]
        for line in lines:
            number = line[1 : line.index("]")]
            yield f"[{number}] {10 if 'Jordan' in line else 1}\n"


def _hits(texts: list[str]) -> list[Hit]:
    return [Hit(id=f"p{i}", text=t, metadata={}, score=1 - i / 10) for i, t in enumerate(texts)]


@pytest.mark.parametrize(
    ("reply", "grades"),
    [
        ("[1] 0\n[2] 10\n[3] 6", {1: 0.0, 2: 10.0, 3: 6.0}),
        ("[1] 0 [2] 10 [3] 6", {1: 0.0, 2: 10.0, 3: 6.0}),
        ("1: 2\n2) 9\nPassage 3 - 7.5/10", {1: 2.0, 2: 9.0, 3: 7.5}),
        ("[1]: grade 3\n[2] 42\n[3] - 0.5", {1: 3.0, 2: 10.0, 3: 0.5}),  # 42: kept within 0..10
        ("[2] 8\n[2] 1\n[7] 9\nno idea", {2: 8.0}),  # first wins; unknown numbers ignored
        ("I cannot grade these.", {}),
    ],
)
def test_grades_are_read_leniently(reply: str, grades: dict[int, float]) -> None:
    assert parse_grades(reply, 3) == grades


def test_a_chat_model_grades_a_batch_and_the_hits_are_reordered() -> None:
    model = RepliesLLM("[1] 0\n[2] 10\n[3] 6")
    ranked = LLMReranker(model).rerank("When was Michael Jordan born?", _hits(PASSAGES))
    assert [h.id for h in ranked] == ["p1", "p2", "p0"]
    assert [h.score for h in ranked] == [10.0, 6.0, 0.0]
    system, user = model.calls[0]
    assert system.role == "system" and "0 (unrelated) to 10" in system.content
    assert user.content.startswith("Query: When was Michael Jordan born?\n[1] Bananas are yellow.")
    assert user.content.endswith("Grades:\n")


def test_a_completion_model_continues_a_worked_example() -> None:
    model = RepliesLLM(" 1\n[2] 9\n[3] 4", kind="completion")
    scores = LLMReranker(model).score("When was Jordan born?", PASSAGES)
    assert scores == [1.0, 9.0, 4.0]
    (prompt,) = model.calls[0]
    assert "Query: what is the capital of France?" in prompt.content  # the example
    assert prompt.content.endswith("Grades:\n[1]") and model.stops[0] == ["\n\n", "Query:"]


def test_passages_are_batched_and_a_missing_grade_is_asked_again_alone() -> None:
    model = RepliesLLM("[1] 3", "[1] 5", "[1] 7")  # the first batch's reply leaves out b
    reranker = LLMReranker(model, batch_size=2)
    assert reranker.score("q", ["a", "b", "c"]) == [3.0, 7.0, 5.0]
    batches = [call[1].content for call in model.calls]
    assert "[1] a\n[2] b\n" in batches[0] and "[1] c\n" in batches[1]
    assert "[1] b\n" in batches[2] and "[2]" not in batches[2]


def test_an_ungraded_passage_is_an_error_not_a_made_up_grade() -> None:
    model = RepliesLLM("[1] 3", "no grade here")
    with pytest.raises(MalformedResponse, match="no 0-10 grade for passage 2 of 2"):
        LLMReranker(model).score("q", ["a", "b"])


def test_long_passages_are_cut_and_batches_fit_the_window() -> None:
    model = RepliesLLM(*(["[1] 1"] * 3), window=200)
    reranker = LLMReranker(model, batch_size=10, max_passage_tokens=50)
    long = " ".join(["word"] * 500)
    assert reranker.score("q", [long, long, long]) == [1.0, 1.0, 1.0]
    assert len(model.calls) == 3  # two 50-token passages and the rules overfill 200 tokens
    for call in model.calls:
        assert call[1].content.count("word") <= 31 and "word ...\n" in call[1].content


def test_llm_reranker_by_name_and_its_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_llm._ANSWERERS, "_registered", {})  # the registration ends with the test
    register_llm("scripted", lambda model: ScriptedLLM("[1] 9"))
    built = shoal.reranker("llm:scripted:any", batch_size=4)
    assert isinstance(built, LLMReranker) and built.name == "llm:scripted" and built.batch_size == 4
    with pytest.raises(ConfigurationError, match="cannot grade relevance"):
        shoal.reranker("llm:extractive")
    with pytest.raises(ConfigurationError, match="needs an answerer to ask"):
        shoal.reranker("llm")
    with pytest.raises(ConfigurationError, match="batch_size must be a positive int"):
        LLMReranker(ScriptedLLM("x"), batch_size=0)
    with pytest.raises(ConfigurationError, match="max_passage_tokens"):
        LLMReranker(ScriptedLLM("x"), max_passage_tokens=2)


# ------------------------------------------------------------------ RetrievalQA


class ListRetriever:
    def __init__(self, texts: list[str]) -> None:
        self.hits = _hits(texts)

    def retrieve(self, query: str) -> list[Hit]:
        return list(self.hits)


def test_retrieval_qa_reorders_another_retrievers_hits() -> None:
    grader = LLMReranker(RepliesLLM("[1] 0\n[2] 10\n[3] 6"))
    answerer = ScriptedLLM("Born on 17 February 1963 [1].")
    qa = RetrievalQA(ListRetriever(PASSAGES), answerer, rerank=grader)
    answer = qa.ask("When was Michael Jordan born?")
    assert [s.id for s in answer.sources] == ["p1", "p2", "p0"]
    assert [s.score for s in answer.sources] == [10.0, 6.0, 0.0]
    assert answer.cited[0].text == PASSAGES[1]


def test_retrieval_qa_gives_a_shoal_retriever_more_candidates() -> None:
    ds = st.open(f"memory://qa-rerank-{uuid.uuid4().hex}", embedder="hash:64")
    texts = [f"basketball story number {i}" for i in range(24)] + [PASSAGES[1]]
    ds.add(texts, ids=[f"r{i}" for i in range(len(texts))])
    grader = LLMReranker(JordanJudge(), batch_size=25)
    qa = RetrievalQA(
        ds.as_retriever(k=2, mode="keyword"), ScriptedLLM("x [1]"), rerank=grader, rerank_k=25
    )
    assert qa.reranker is grader and qa.retriever.rerank is grader  # type: ignore[attr-defined]
    answer = qa.ask("basketball story or when was Michael Jordan born")
    assert len(answer.sources) == 2 and answer.sources[0].id == "r24"


def test_retrieval_qa_rerank_options_are_checked() -> None:
    ds = st.open(f"memory://qa-rerank-{uuid.uuid4().hex}", embedder="hash:64")
    grader = LLMReranker(ScriptedLLM("[1] 1"))
    with pytest.raises(ConfigurationError, match="rerank_k= applies only with rerank="):
        RetrievalQA(ListRetriever(PASSAGES), "extractive", rerank_k=5)
    with pytest.raises(ConfigurationError, match="needs a shoal Retriever"):
        RetrievalQA(ListRetriever(PASSAGES), "extractive", rerank=grader, rerank_k=5)
    with pytest.raises(ConfigurationError, match="already reranks"):
        RetrievalQA(ds.as_retriever(rerank=grader), "extractive", rerank=grader)
    with pytest.raises(ConfigurationError, match="rerank= takes a Reranker or a name"):
        RetrievalQA(ListRetriever(PASSAGES), "extractive", rerank=3)  # type: ignore[arg-type]
