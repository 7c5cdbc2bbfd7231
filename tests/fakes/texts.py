"""Deterministic text for tests: a small vocabulary and paragraphs drawn from it."""

from __future__ import annotations

import random

__all__ = ["WORDS", "prose"]

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "dogs",
    "bark",
    "at",
    "night",
    "and",
    "markets",
    "fell",
    "sharply",
    "today",
]


def prose(seed: int, paragraphs: int = 3, *, words: tuple[int, int] = (10, 120)) -> str:
    """`paragraphs` paragraphs of random words (a seeded choice), separated by blank lines."""
    rng = random.Random(seed)
    return "\n\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words))) + "."
        for _ in range(paragraphs)
    )
