"""The question-answering prompt: numbered sources, the question, and how answers cite them.

Chat models get a system message with the rules and a user message holding the sources
as ``[n] text`` blocks, then the question. Small chat models (`LLM.small`) get
`SMALL_MODEL_PROMPT`: short answers, and three worked exchanges over two made-up
sources before the real question (one of them a refusal), because a model of half a
billion parameters copies a shown answer's form far better than it follows a rule.
Completion (base) models get a few-shot prompt (`_fewshot.py`). The extractive
answerer reads the sources and the question back from the chat form, so every
answerer is driven by the same prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.qa._llm import LLM, Message

__all__ = [
    "DONT_KNOW",
    "SMALL_MODEL_PROMPT",
    "QAPrompt",
    "Source",
    "default_prompt",
    "parse_chat_prompt",
    "read_context_prompt",
]

DONT_KNOW = "I don't know."
"""What an answerer says when the sources do not hold the answer."""

_SOURCES_HEADER = "Sources:"
_QUESTION_HEADER = "Question:"
_SOURCE_LINE = re.compile(r"^\[(\d+)\] ", re.M)


@dataclass(frozen=True)
class Source:
    """A retrieved chunk as the answer cites it: ``[number]``, with its row id and metadata."""

    number: int
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0


@dataclass(frozen=True)
class QAPrompt:
    """How questions and sources are put to a chat model; `dont_know` is the agreed refusal."""

    system: str = (
        "You answer questions using only the numbered sources given. Answer in one or two "
        "short sentences and cite the sources you used as [1], [2]. If the sources do not "
        "contain the answer, reply exactly: {dont_know}"
    )
    dont_know: str = DONT_KNOW
    #: Worked exchanges shown before the question, over `example_sources`:
    #: (question, answer), the answer None where it is `dont_know`.
    examples: tuple[tuple[str, str | None], ...] = ()
    example_sources: tuple[str, ...] = ()

    def chat(self, question: str, sources: Sequence[Source]) -> list[Message]:
        """System rules, the worked examples if any, then the sources and the question."""
        shown = [Source(n, f"example-{n}", t) for n, t in enumerate(self.example_sources, 1)]
        worked: list[Message] = []
        for asked, answer in self.examples:
            worked.append(Message("user", _user_message(asked, shown)))
            worked.append(Message("assistant", self.dont_know if answer is None else answer))
        return [
            Message("system", self.system.format(dont_know=self.dont_know)),
            *worked,
            Message("user", _user_message(question, sources)),
        ]

    def overhead(self, question: str) -> str:
        """The prompt's text without sources, for measuring what room the sources have."""
        return "\n".join(m.content for m in self.chat(question, [])) + _SOURCES_HEADER


SMALL_MODEL_PROMPT = QAPrompt(
    system=(
        "You answer questions using only the numbered sources given. Answer with the few "
        "words from the sources that answer the question, not a sentence, and cite the "
        "source as [n]. If the sources do not contain the answer, reply exactly: {dont_know}"
    ),
    examples=(
        ("Who gave the Statue of Liberty to the United States?", "the people of France [2]"),
        ("How tall is the Eiffel Tower?", "330 metres [1]"),
        ("Who designed the Sydney Opera House?", None),
    ),
    example_sources=(
        "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 "
        "metres tall and was designed by the company of Gustave Eiffel.",
        "The Statue of Liberty was dedicated on October 28, 1886. It was a gift from the "
        "people of France to the United States.",
    ),
)
"""The prompt of small chat models: the few words that answer, shown by worked examples."""


def default_prompt(llm: LLM) -> QAPrompt:
    """The prompt `RetrievalQA` gives `llm` unless told otherwise: `SMALL_MODEL_PROMPT` for
    small chat models, else the plain `QAPrompt()`."""
    return SMALL_MODEL_PROMPT if llm.small and llm.kind == "chat" else QAPrompt()


def _user_message(question: str, sources: Sequence[Source]) -> str:
    blocks = "\n\n".join(f"[{s.number}] {_one_paragraph(s.text)}" for s in sources)
    return f"{_SOURCES_HEADER}\n{blocks}\n\n{_QUESTION_HEADER} {question.strip()}"


def parse_chat_prompt(messages: Sequence[Message]) -> tuple[str, dict[int, str], str]:
    """(question, {number: source text}, dont_know) read back from `QAPrompt.chat` messages."""
    user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    system = next((m.content for m in messages if m.role == "system"), "")
    sources_part, _, question = user.rpartition(f"\n\n{_QUESTION_HEADER} ")
    if not _:
        return user.strip(), {}, DONT_KNOW
    body = sources_part.removeprefix(_SOURCES_HEADER).strip()
    found: dict[int, str] = {}
    marks = list(_SOURCE_LINE.finditer(body))
    for mark, after in zip(marks, [*marks[1:], None][: len(marks)], strict=True):
        end = after.start() if after is not None else len(body)
        found[int(mark.group(1))] = body[mark.end() : end].strip()
    refusal = system.rpartition("reply exactly: ")[2].strip() or DONT_KNOW
    return question.strip(), found, refusal


def _one_paragraph(text: str) -> str:
    # A source keeps its line breaks, but never a line that looks like another source's mark.
    return _SOURCE_LINE.sub(lambda m: f"({m.group(1)}) ", text.strip())


_LABEL = re.compile(r"^[ \t]*(question|context|helpful answer|answer)[ \t]*:[ \t]*", re.I | re.M)
_SEPARATOR = re.compile(r"^[ \t]*[-=_*]{4,}[ \t]*$", re.M)
_PARAGRAPHS = re.compile(r"\n[ \t]*\n")


def read_context_prompt(messages: Sequence[Message]) -> tuple[str, list[str]] | None:
    """(question, passages) from a retrieval prompt another library wrote; None if it has none.

    Reads `QAPrompt.chat` exactly, and by their shape the prompts of LangChain's stuff
    chains: the context under ``Context:`` labels, after a ``----`` line, or between the
    instructions and a ``Question:`` label; the question after the last ``Question:``
    label, else the last user message. Passages are the context's paragraphs (LangChain
    joins documents with a blank line).
    """
    question, sources, _ = parse_chat_prompt(messages)
    if sources:
        return question, [sources[n] for n in sorted(sources)]
    texts = [m for m in messages if m.role != "assistant"]
    users = [m for m in texts if m.role == "user"]
    if not users:
        return None
    labelled = _sections("\n\n".join(m.content for m in texts))
    if "question" in labelled:
        asked = labelled["question"][-1].strip()
    else:  # the question is the last user message; the context is in the others
        asked = users[-1].content.strip()
        texts = [m for m in texts if m is not users[-1]]
        labelled = _sections("\n\n".join(m.content for m in texts))
    if "context" in labelled:
        context = "\n\n".join(labelled["context"])
    else:
        separated = [_SEPARATOR.split(m.content)[-1] for m in texts if _SEPARATOR.search(m.content)]
        context = (
            _LABEL.split(separated[-1])[0] if separated else _after_instructions(labelled[""][0])
        )
    passages = [" ".join(p.split()) for p in _PARAGRAPHS.split(context) if p.strip()]
    if not asked or not passages:
        return None
    return asked, passages


def _sections(text: str) -> dict[str, list[str]]:
    """The text before any label (key ""), then the sections under each label, in order."""
    parts = _LABEL.split(text)
    found: dict[str, list[str]] = {"": [parts[0]]}
    for label, body in zip(parts[1::2], parts[2::2], strict=True):
        found.setdefault(label.lower(), []).append(body)
    return found


def _after_instructions(text: str) -> str:
    """`text` less its first paragraph, which gives the instructions (a lone one is no context)."""
    paragraphs = [p for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
    return "\n\n".join(paragraphs[1:])
