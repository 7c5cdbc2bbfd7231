"""`RetrievalQA`: retrieve chunks, pack them into the model's window, ask, check, cite.

The retrieved chunks become numbered sources, packed in rank order until the model's
window (less the prompt and the answer's room) is full: a chunk that does not fit is
left out and counted, never silently cut off by the model. The answers of the models
that need it (completion models and the small local ones, `LLM.small`) are
guarded: when no source sentence holds the question's key words (the extractive
answerer's bar) the answer is "I don't know" and the model is not asked; otherwise the
model's answer is checked against the sources before anyone sees it, and one that the
sources do not support (or that echoes the question) is replaced by the extractive answer.
A guarded answer therefore comes as one piece; an unguarded one streams as it is written.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shoal.embeddings import Embedder
from shoal.errors import ConfigurationError, InvalidInput
from shoal.qa._llm import LLM
from shoal.qa._llm import llm as build_llm
from shoal.qa._prompt import QAPrompt, Source, default_prompt
from shoal.qa.extractive import (
    Extract,
    ExtractiveLLM,
    question_names,
    ranked_sentences,
    sentences,
)
from shoal.store import Reranker, Retriever
from shoal.store._rerank import as_reranker

__all__ = ["Answer", "AnswerStream", "RetrievalQA", "Retrieves", "supported"]

_CITATION = re.compile(r"\s*\[(\d+)\]")
_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to show that an answer came from its sources.
_COMMON = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "and",
        "or",
        "is",
        "was",
        "were",
        "be",
        "been",
        "by",
        "for",
        "with",
        "from",
        "as",
        "that",
        "this",
        "it",
        "he",
        "she",
        "they",
        "his",
        "her",
        "their",
        "its",
        "i",
        "you",
        "we",
        "not",
        "no",
        "yes",
    ]
)


class Retrieves(Protocol):
    """What RetrievalQA needs of a retriever: `retrieve(question)` giving ranked hits."""

    def retrieve(self, query: str) -> Sequence[Any]:
        """Hits with `id`, `text`, `metadata` and `score`, best first."""
        ...


@dataclass(frozen=True)
class Answer:
    """An answer: its text with [n] citations, the numbered sources it was given, and how."""

    question: str
    text: str
    sources: tuple[Source, ...]
    llm: str
    known: bool = True
    fallback: bool = False
    left_out: int = 0
    context: str = ""
    """The sentence of the first cited source that holds the answer (the answer may be a
    few words of it); "" when nothing is cited."""

    def __str__(self) -> str:
        return self.text

    @property
    def cited(self) -> tuple[Source, ...]:
        """The sources the text cites, in citation order."""
        numbers = [int(n) for n in _CITATION.findall(self.text)]
        by_number = {s.number: s for s in self.sources}
        seen: dict[int, Source] = {}
        for number in numbers:
            if number in by_number:
                seen.setdefault(number, by_number[number])
        return tuple(seen.values())


class AnswerStream:
    """The pieces of an answer as they are generated; `.answer` once they are all read."""

    def __init__(self, pieces: Iterator[str], finish: Any) -> None:
        self._pieces = pieces
        self._finish = finish
        self._text: list[str] = []
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self._text.append(piece)
            yield piece
        self.answer = self._finish("".join(self._text))


def supported(answer: str, sources: Sequence[Source], question: str = "") -> bool:
    """Whether the sources hold the answer's words and numbers, and it is not the question echoed.

    Numbers must appear in the sources the answer cites (in any source if it cites none),
    so a date stitched together from two sources does not pass; and when the question
    names someone or something, a cited source must name it too, so an answer taken
    from a paragraph about someone else does not pass.
    """
    plain = _CITATION.sub("", answer).strip()
    words = [w.lower() for w in _WORD.findall(plain) if w.lower() not in _COMMON]
    if not words:
        return False
    context = {w.lower() for s in sources for w in _WORD.findall(s.text)}
    asked = {w.lower() for w in _WORD.findall(question)}
    if not [w for w in words if w not in asked]:  # nothing beyond the question's own words
        return False
    numbers = [w for w in words if any(c.isdigit() for c in w)]
    cited = {int(n) for n in _CITATION.findall(answer)}
    quoted = [s for s in sources if s.number in cited] or list(sources)
    near = {w.lower() for s in quoted for w in _WORD.findall(s.text)}
    if any(n not in near for n in numbers):
        return False
    named = question_names(question)
    if named and not named & near:
        return False
    return sum(w in context for w in words) / len(words) >= 0.75


class RetrievalQA:
    """Answers questions from a retriever's chunks, citing them.

    Args:
        retriever: e.g. ``dataset.as_retriever(k=4)``.
        llm: an `LLM`, a name for `shoal.llm()` (``extractive``, ``openai:<model>``,
            ``local:<name or .gguf>``), or None for ``extractive``.
        prompt: the chat prompt and the "I don't know" text.
        max_context_tokens: room for sources; default the model's window less the
            prompt and `max_tokens`.
        max_tokens: the longest answer to generate.
        guard: for models that need it (`LLM.small`, completion models), say
            "I don't know" without asking the model when no source sentence holds the
            question's key words, and replace an answer the sources do not support by
            the extractive one; a guarded answer is checked whole before it is shown.
        rerank: a `Reranker` or a name for `shoal.reranker()` (``cross-encoder:<model>``,
            ``llm:<answerer>``). With a `Retriever` it fetches `rerank_k` candidates
            (default ``max(k, 20)``) and keeps the reranker's k best; any other retriever's
            hits are reordered as they are. The sources then carry the reranker's scores.
        rerank_k: candidates for the reranker (a `Retriever` only).
        focus: give the model only this many sentences of the sources, those the
            extractive answerer ranks best (each under its source's number, in its
            order); None gives whole chunks. ``"auto"``: 1 for small models (they read
            less and answer better: bench/qa.py), whole chunks for others. The answer's
            sources stay the whole chunks.
    """

    def __init__(
        self,
        retriever: Retrieves,
        llm: LLM | str | None = None,
        *,
        prompt: QAPrompt | None = None,
        max_context_tokens: int | None = None,
        max_tokens: int = 128,
        guard: bool = True,
        rerank: Reranker | str | None = None,
        rerank_k: int | None = None,
        focus: int | Literal["auto"] | None = "auto",
    ) -> None:
        if not callable(getattr(retriever, "retrieve", None)):
            raise ConfigurationError(
                "retriever must have a retrieve(question) method; use dataset.as_retriever()"
            )
        self.reranker: Reranker | None = None
        if rerank is None and rerank_k is not None:
            raise ConfigurationError("rerank_k= applies only with rerank=")
        if rerank is not None and isinstance(retriever, Retriever):
            if retriever.rerank is not None:
                raise ConfigurationError(
                    f"the retriever already reranks with {retriever.rerank!r}; pass rerank= "
                    "to one of the two"
                )
            retriever = dataclasses.replace(retriever, rerank=rerank, rerank_k=rerank_k)
            assert isinstance(retriever.rerank, Reranker)
            self.reranker = retriever.rerank
        elif rerank is not None:
            if rerank_k is not None:
                raise ConfigurationError(
                    "rerank_k= needs a shoal Retriever (dataset.as_retriever()); this retriever "
                    "chooses its own hits, which the reranker reorders"
                )
            self.reranker = as_reranker(rerank)
        self._reorders = rerank is not None and not isinstance(retriever, Retriever)
        self.retriever = retriever
        self.llm = llm if isinstance(llm, LLM) else build_llm(llm or "extractive")
        self.prompt = prompt or default_prompt(self.llm)
        if max_context_tokens is not None and max_context_tokens < 1:
            raise ConfigurationError(f"max_context_tokens must be >= 1, got {max_context_tokens}")
        self.max_context_tokens = max_context_tokens
        self.max_tokens = max_tokens
        self.guard = guard
        if focus == "auto":
            focus = _SMALL_MODEL_FOCUS if self.llm.small else None
        if focus is not None and (
            isinstance(focus, bool) or not isinstance(focus, int) or focus < 1
        ):
            raise ConfigurationError(
                f"focus must be a number of sentences >= 1, None or 'auto', got {focus!r}"
            )
        self.focus: int | None = None if isinstance(self.llm, ExtractiveLLM) else focus
        local = _local_embedder(retriever)
        if isinstance(self.llm, ExtractiveLLM) and local is not None:
            self.llm = self.llm.with_embedder(local)
        self._extractive: ExtractiveLLM | None = (
            self.llm
            if isinstance(self.llm, ExtractiveLLM)
            else None
            if local is None
            else ExtractiveLLM(embedder=local)
        )

    @classmethod
    def from_llm(
        cls, llm: LLM | str | None = None, *, retriever: Retrieves, **options: Any
    ) -> RetrievalQA:
        """LangChain's spelling: ``RetrievalQA.from_llm(llm, retriever=retriever)``."""
        return cls(retriever, llm, **options)

    def ask(self, question: str) -> Answer:
        """Retrieve, ask the model, check and cite: the whole `Answer`."""
        stream = self.stream(question)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def run(self, question: str) -> str:
        """The answer's text alone (LangChain's ``qa_chain.run``)."""
        return self.ask(question).text

    def stream(self, question: str) -> AnswerStream:
        """The answer as it is generated; the finished `Answer` is on `.answer` afterwards."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("the question is empty; ask something, e.g. 'When was X born?'")
        hits = list(self.retriever.retrieve(question))
        if self._reorders:
            assert self.reranker is not None
            hits = self.reranker.rerank(question, hits)
        sources, left_out = self._pack(question, hits)
        guarded = self.guard and (self.llm.small or self.llm.kind == "completion")
        quoted: str | None = None
        by_number = {s.number: s.text for s in sources}
        ranked = (
            ranked_sentences(question, by_number, self._extractor().embedder)
            if sources and (guarded or self.focus)
            else []
        )
        if guarded and sources:
            found = self._extractor().extract(question, by_number, ranked=ranked)
            quoted = None if found is None else f"{found.text.rstrip('.')} [{found.source}]"
        fell_back = False
        if not sources or (guarded and quoted is None):
            pieces: Iterator[str] = iter([self.prompt.dont_know])
        else:
            given = _focused(sources, ranked[: self.focus]) if self.focus else sources
            pieces = self._ask_model(question, given)
            if guarded and quoted is not None:
                checked, fell_back = self._checked(question, "".join(pieces), sources, quoted)
                pieces = iter([checked])

        def finish(text: str) -> Answer:
            return self._answer(question, text, sources, left_out, fell_back)

        return AnswerStream(pieces, finish)

    # ----------------------------------------------------------------- private
    def _ask_model(self, question: str, sources: list[Source]) -> Iterator[str]:
        # The question and sources as data: each answerer puts them to its model its way.
        return self.llm.answer(question, sources, prompt=self.prompt, max_tokens=self.max_tokens)

    def _extractor(self) -> ExtractiveLLM:
        if self._extractive is None:
            self._extractive = _shared_extractive()
        return self._extractive

    def _pack(self, question: str, hits: Sequence[Any]) -> tuple[list[Source], int]:
        """Number the hits and keep those that fit the window, in rank order."""
        room = self.max_context_tokens
        if room is None:
            overhead = self.llm.count_tokens(self.prompt.overhead(question))
            room = self.llm.context_window - self.max_tokens - overhead - 64
        sources: list[Source] = []
        used = 0
        for hit in hits:
            cost = self.llm.count_tokens(hit.text) + 8  # the [n] mark and spacing
            if used + cost > room:
                continue
            used += cost
            sources.append(
                Source(
                    number=len(sources) + 1,
                    id=str(hit.id),
                    text=str(hit.text),
                    metadata=dict(hit.metadata),
                    score=float(hit.score),
                )
            )
        return sources, len(hits) - len(sources)

    def _checked(
        self, question: str, text: str, sources: list[Source], quoted: str
    ) -> tuple[str, bool]:
        """(answer, fell back?): the model's answer if the sources support it, else `quoted`."""
        clean = _clean(text)
        if _is_dont_know(clean, self.prompt.dont_know):
            return self.prompt.dont_know, False
        if supported(clean, sources, question):
            return clean, False
        return quoted, True

    def _answer(
        self, question: str, text: str, sources: list[Source], left_out: int, fell_back: bool
    ) -> Answer:
        text = text.strip()
        known = not _is_dont_know(text, self.prompt.dont_know)
        if known and not _CITATION.search(text) and sources:
            text = f"{text} [{_best_source(text, sources)}]"
        return Answer(
            question=question,
            text=text if known else self.prompt.dont_know,
            sources=tuple(sources),
            llm=self.llm.name,
            known=known,
            fallback=fell_back,
            left_out=left_out,
            context=_context(text, sources) if known else "",
        )


# Sentences a small model reads by default (bench/qa.py --every 4 --focus 1,2,none, XQuAD,
# Qwen2.5-Coder 0.5B: token F1 0.37 with whole chunks, 0.49 with the best 2 sentences,
# 0.52 with the best one, at a sixth of the seconds per answer).
_SMALL_MODEL_FOCUS = 1


def _focused(sources: Sequence[Source], best: Sequence[Extract]) -> list[Source]:
    """`sources` cut to the `best` sentences, each kept under its source's number in the
    source's own order; sources with none of them are left out."""
    chosen: dict[int, set[str]] = {}
    for extract in best:
        chosen.setdefault(extract.source, set()).add(extract.text)
    return [
        dataclasses.replace(
            source, text=" ".join(s for s in sentences(source.text) if s in chosen[source.number])
        )
        for source in sources
        if source.number in chosen
    ]


def _local_embedder(retriever: object) -> Embedder | None:
    """The embedder of a shoal retriever's dataset when it runs on this machine, else None."""
    dataset = getattr(retriever, "dataset", None) if isinstance(retriever, Retriever) else None
    spec = getattr(dataset, "spec", None)
    if spec is None or spec.provider != "local":
        return None
    model = getattr(dataset, "embedder", None)
    return model if isinstance(model, Embedder) else None


@functools.cache
def _shared_extractive() -> ExtractiveLLM:
    # One fallback answerer per process: each chain building its own would load MiniLM again.
    return ExtractiveLLM()


def _clean(text: str) -> str:
    # A base model may run on into another example: keep the first line.
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _is_dont_know(text: str, dont_know: str) -> bool:
    def norm(value: str) -> str:
        return re.sub(r"[^\w]+", " ", value.lower().replace("’", "'")).strip()

    return bool(text) and norm(_CITATION.sub("", text)) == norm(dont_know)


def _context(text: str, sources: Sequence[Source]) -> str:
    """The sentence of the first cited source holding `text` (verbatim, else most of its words)."""
    cited = [int(n) for n in _CITATION.findall(text)]
    source = next((s for s in sources if cited and s.number == cited[0]), None)
    if source is None:
        return ""
    plain = " ".join(_CITATION.sub("", text).split()).rstrip(".")
    candidates = sentences(source.text) or [source.text]
    verbatim = [c for c in candidates if plain and plain in c]
    if verbatim:
        return verbatim[0]
    words = {w.lower() for w in _WORD.findall(plain)}
    return max(candidates, key=lambda c: len(words & {w.lower() for w in _WORD.findall(c)}))


def _best_source(text: str, sources: Sequence[Source]) -> int:
    words = {w.lower() for w in _WORD.findall(text)}
    return max(
        sources, key=lambda s: len(words & {w.lower() for w in _WORD.findall(s.text)})
    ).number
