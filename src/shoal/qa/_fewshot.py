"""A few-shot completion prompt for base (not instruction-tuned) models.

A base model continues text; it follows no instructions, but it copies a pattern well,
and a small one copies far better than it paraphrases. So the prompt is a page of worked
examples in one fixed layout: the sources one sentence a line, each ending with its
source's ``[n]``; a question; and as the answer, the one sentence that answers it,
copied with its ``[n]`` (or the refusal, when no sentence does). Copying a sentence then
brings its citation along. Sources are listed best-ranked *last*, next to the question,
because small models lean on what they read most recently. The real sources and
question come last, ending where the answer goes; generation stops at the end of the
line (`COMPLETION_STOP`).

Tuned on gemma-3-270m (Q4_K_M, greedy): on 17 questions over three small source sets
(names, dates, places, numbers, 3 without an answer) this layout answered 14 (10 of
them with the right citation); a short-answer layout answered 5 to 8, a chat-style
prompt 2 of 6.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shoal.qa._prompt import DONT_KNOW, Source

__all__ = ["COMPLETION_STOP", "completion_prompt"]

COMPLETION_STOP: list[str] = ["\n"]
"""Where a completion model's answer ends: the end of its line."""

_HEADER = (
    "Answer each question by copying the one source sentence that answers it, with its "
    "source number. If no sentence answers it, answer: {dont_know}"
)
# (sources, question, (number, sentence) copied as the answer, or None: "the sources do
# not say"). Look-alike sources teach picking the one about the question's subject; the
# first asks with a shorter name than the source gives; answers come from every position.
_EXAMPLES: tuple[tuple[tuple[str, ...], str, tuple[int, str] | None], ...] = (
    (
        (
            "Serena Jameka Williams was born 26 September 1981 in Saginaw, Michigan, "
            "United States.",
            "Roger Federer was born on 8 August 1981 in Basel, Switzerland. "
            "He won 20 Grand Slam titles.",
            "Usain St Leo Bolt was born 21 August 1986 in Sherwood Content, Jamaica.",
        ),
        "When was Serena Williams born?",
        (
            1,
            "Serena Jameka Williams was born 26 September 1981 in Saginaw, Michigan, "
            "United States.",
        ),
    ),
    (
        (
            "Marie Curie was born 7 November 1867 in Warsaw, Poland.",
            "Wolfgang Amadeus Mozart was born 27 January 1756 in Salzburg, Austria.",
        ),
        "When was Isaac Newton born?",
        None,
    ),
    (
        (
            "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
            "Python was created by Guido van Rossum. It was first released in 1991.",
            "The Golden Gate Bridge opened to traffic on 28 May 1937.",
        ),
        "When did the Golden Gate Bridge open?",
        (3, "The Golden Gate Bridge opened to traffic on 28 May 1937."),
    ),
    (
        (
            "The Amazon rainforest covers much of Brazil.",
            "Honey bees live in colonies led by a queen.",
            "The violin has four strings tuned in fifths.",
        ),
        "What is the capital of Italy?",
        None,
    ),
    (
        (
            "Lisbon is the capital of Portugal.",
            "Ada Lovelace wrote the first computer program in 1843.",
            "The Moon orbits the Earth every 27 days.",
        ),
        "Who wrote the first computer program?",
        (2, "Ada Lovelace wrote the first computer program in 1843."),
    ),
)
# A sentence ends at . ! or ? followed by space and a capital, digit, quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def completion_prompt(
    question: str, sources: Sequence[Source], *, dont_know: str = DONT_KNOW
) -> str:
    """The few-shot prompt whose continuation (up to `COMPLETION_STOP`) answers `question`."""
    blocks = [_HEADER.format(dont_know=dont_know)]
    for texts, asked, answer in _EXAMPLES:
        numbered = list(enumerate(texts, 1))
        reply = _cited(*answer) if answer else dont_know
        blocks.append(f"{_block(numbered, asked)} {reply}")
    blocks.append(_block([(s.number, s.text) for s in sources], question))
    return "\n\n".join(blocks)


def _block(sources: Sequence[tuple[int, str]], question: str) -> str:
    lines = ["Sources:"]
    for number, text in reversed(sources):  # the best-ranked source next to the question
        lines += [_cited(number, sentence) for sentence in _sentences(text)]
    lines.append(f"Question: {_one_line(question)}")
    lines.append("Answer:")
    return "\n".join(lines)


def _cited(number: int, sentence: str) -> str:
    return f"{sentence} [{number}]"


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(_one_line(text)) if s]


def _one_line(text: str) -> str:
    # The layout is line-based: a source's own line breaks would end a sentence early.
    return " ".join(text.split())
