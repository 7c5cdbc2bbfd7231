"""Text analysis and BM25 constants of the keyword index (`_bm25.py` holds the index).

Analysis follows Elasticsearch's ``english`` analyzer, the setting of BEIR's published
BM25 numbers: Unicode word tokens, possessive ``'s`` dropped, lower case, Lucene's English
stop words, then the Porter stemmer (PyStemmer). Scoring is Lucene's BM25 (k1=1.2,
b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))); ``bench/retrieval_quality.py``
measured it on SciFact against the published 0.665 nDCG@10.
"""

from __future__ import annotations

import re

import Stemmer

__all__ = ["K1", "B", "Tokenizer"]

K1 = 1.2
B = 0.75
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
))  # fmt: skip
"""Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET)."""
# Words as Lucene's standard tokenizer finds them, closely enough: "3.1.3", "1,000" and
# "u.s.a" stay whole, hyphens split.
_WORD = re.compile(r"\w+(?:[.,'\u2019]\w+)*")
_POSSESSIVE = re.compile(r"['\u2019]s\b")


class Tokenizer:
    """Text to index terms: words, lower case, no stop words, Porter stems."""

    def __init__(self) -> None:
        # A Stemmer is not thread-safe: each index has its own, used under the view's lock.
        self._stemmer = Stemmer.Stemmer("porter")

    def __call__(self, text: str) -> list[str]:
        """The terms of one text, in order, repeats kept."""
        return self.stems(self.words(text))

    def words(self, text: str) -> list[str]:
        """The words of one text before stemming: lower case, no stop words, in order."""
        return [w for w in _WORD.findall(_POSSESSIVE.sub("", text.lower())) if w not in STOPWORDS]

    def stems(self, words: list[str]) -> list[str]:
        """The Porter stems of `words`, in order."""
        stems: list[str] = self._stemmer.stemWords(words)
        return stems
