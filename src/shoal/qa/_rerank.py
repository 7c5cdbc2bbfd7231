"""`llm:<answerer>`: a reranker that asks a chat or completion model to grade each passage.

The model sees the query and a batch of numbered passages and answers one line per
passage, ``[n] grade``, the grade from 0 (unrelated) to 10 (answers the query). A chat
model gets rules and the batch as messages; a completion (base) model gets the same
layout as a worked example to continue. Replies are read leniently (``[2] 7``,
``2: 7``, ``Passage 2 - 7/10``, several on one line); a passage the reply leaves
ungraded is asked about again on its own, and one still ungraded is an error
(`MalformedResponse`), never a made-up grade.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shoal.errors import ConfigurationError, MalformedResponse
from shoal.qa._llm import LLM, Message
from shoal.qa._llm import llm as build_llm
from shoal.store import Reranker

__all__ = ["GRADE_MAX", "LLMReranker", "grading_messages", "parse_grades"]

GRADE_MAX = 10.0
"""The top grade: a passage that answers the query."""

_RULES = (
    "You grade how relevant passages are to a search query. For each numbered passage give "
    "a grade from 0 (unrelated) to 10 (answers or directly supports the query). Reply with "
    "one line per passage, '[n] grade', for every passage, and nothing else."
)
# A base model follows a pattern, not instructions: one worked example in the same layout.
_EXAMPLE = (
    "Query: what is the capital of France?\n"
    "[1] Bananas are rich in potassium and vitamin B6.\n"
    "[2] Paris is the capital and largest city of France.\n"
    "[3] France borders Spain, Italy, Belgium and Germany.\n"
    "Grades:\n[1] 0\n[2] 10\n[3] 3\n\n"
)
_COMPLETION_STOP = ["\n\n", "Query:"]
# "[2] 7", "[2]: 7/10", "2: 7", "2) 7", "Passage 2 - 7.5": a passage number, then a grade.
_GRADE = re.compile(
    r"(?:\[\s*(\d+)\s*\]\s*[:=\-]?|(?:^|(?<=\s))(?:passage\s*)?(\d+)\s*[:.)=\-])\s*"
    r"(?:grade\s*[:=]?\s*)?(-?\d+(?:\.\d+)?)",
    re.IGNORECASE | re.MULTILINE,
)


def parse_grades(reply: str, count: int) -> dict[int, float]:
    """The grade of each passage number 1..count that `reply` gives (first one wins), within 0..10."""
    grades: dict[int, float] = {}
    for match in _GRADE.finditer(reply):
        number = int(match.group(1) or match.group(2))
        if 1 <= number <= count and number not in grades:
            grades[number] = min(max(float(match.group(3)), 0.0), GRADE_MAX)
    return grades


def grading_messages(query: str, passages: Sequence[str], *, kind: str) -> list[Message]:
    """The prompt that asks for a grade per passage: chat messages, or one completion prompt."""
    listed = "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, 1))
    batch = f"Query: {' '.join(query.split())}\n{listed}\nGrades:\n"
    if kind == "completion":
        return [Message("user", _EXAMPLE + batch + "[1]")]
    return [Message("system", _RULES), Message("user", batch)]


class LLMReranker(Reranker):
    """Reranks by asking an answerer (`shoal.llm`) to grade each passage from 0 to 10.

    Args:
        model: an `LLM`, or a name for `shoal.llm()`: ``local:<name or .gguf>``,
            ``openai:<model>`` (the extractive answerer cannot grade).
        batch_size: passages graded in one call (fewer when the window is full).
        max_passage_tokens: a passage is cut to about this many tokens before grading.

    A hit's score after reranking is its grade (0..10); ties keep the search's order.

    Raises:
        ConfigurationError: no model named, the extractive answerer, or a bad option.
    """

    def __init__(
        self, model: LLM | str = "", *, batch_size: int = 10, max_passage_tokens: int = 200
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive int, got {batch_size!r}")
        if (
            isinstance(max_passage_tokens, bool)
            or not isinstance(max_passage_tokens, int)
            or max_passage_tokens < 8
        ):
            raise ConfigurationError(
                f"max_passage_tokens must be an int of at least 8, got {max_passage_tokens!r}"
            )
        if isinstance(model, str):
            if not model.strip():
                raise ConfigurationError(
                    "the llm reranker needs an answerer to ask: 'llm:local:<name or .gguf>' or "
                    "'llm:openai:<model>'"
                )
            if model.partition(":")[0] == "extractive":
                raise ConfigurationError(
                    "the extractive answerer quotes sentences and cannot grade relevance; "
                    "name a model: 'llm:local:<name or .gguf>' or 'llm:openai:<model>'"
                )
            model = build_llm(model)
        if not isinstance(model, LLM):
            raise ConfigurationError(f"model must be an LLM or its name, got {model!r}")
        self.llm = model
        self.batch_size = batch_size
        self.max_passage_tokens = max_passage_tokens

    @property
    def name(self) -> str:
        """``llm:<the answerer's name>``."""
        return f"llm:{self.llm.name}"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Each text's grade (0..10), asked in batches that fit the model's window.

        Raises:
            MalformedResponse: the model gave no grade for a passage, even asked alone.
        """
        passages = [self._cut(text) for text in texts]
        grades: dict[int, float] = {}
        for batch in self._batches(query, passages):
            found = self._grade(query, [passages[i] for i in batch])
            grades.update({batch[n - 1]: grade for n, grade in found.items()})
        for index in [i for i in range(len(passages)) if i not in grades]:
            found = self._grade(query, [passages[index]])
            if 1 not in found:
                raise MalformedResponse(
                    f"{self.llm.name} gave no 0-10 grade for passage {index + 1} of "
                    f"{len(passages)}, even asked about it alone; try a larger or "
                    "instruction-tuned model",
                    provider=self.name,
                )
            grades[index] = found[1]
        return [grades[i] for i in range(len(passages))]

    def _grade(self, query: str, passages: Sequence[str]) -> dict[int, float]:
        messages = grading_messages(query, passages, kind=self.llm.kind)
        room = 8 * len(passages) + 8  # "[n] grade" lines
        if self.llm.kind == "completion":
            reply = "[1]" + self.llm.generate(
                messages, max_tokens=room, temperature=0.0, stop=_COMPLETION_STOP
            )
        else:
            reply = self.llm.generate(messages, max_tokens=room, temperature=0.0)
        return parse_grades(reply, len(passages))

    def _batches(self, query: str, passages: Sequence[str]) -> list[list[int]]:
        """Indices of the passages, `batch_size` at a time, each batch within the window."""
        overhead = self.llm.count_tokens(
            "".join(m.content for m in grading_messages(query, [], kind=self.llm.kind))
        )
        batches: list[list[int]] = []
        used = 0
        for index, passage in enumerate(passages):
            cost = self.llm.count_tokens(passage) + 16  # its number, its reply line
            full = bool(batches) and (
                len(batches[-1]) >= self.batch_size
                or overhead + used + cost > self.llm.context_window
            )
            if not batches or full:
                batches.append([])
                used = 0
            batches[-1].append(index)
            used += cost
        return batches

    def _cut(self, text: str) -> str:
        """`text` on one line, cut at a word to about `max_passage_tokens` tokens."""
        words = text.split()
        if self.llm.count_tokens(" ".join(words)) <= self.max_passage_tokens:
            return " ".join(words)
        low, high = 0, len(words)  # the most words that fit, by bisection
        while low < high:
            middle = (low + high + 1) // 2
            if self.llm.count_tokens(" ".join(words[:middle])) <= self.max_passage_tokens:
                low = middle
            else:
                high = middle - 1
        return " ".join(words[:low]) + " ..."
