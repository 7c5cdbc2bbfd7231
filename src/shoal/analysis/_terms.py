"""Top terms per group of texts by class-based TF-IDF (c-TF-IDF, as BERTopic labels topics).

A term's weight in class c is ``tf(t, c) / |c| * log(1 + A / f(t))``: its share of the
class's words, times how rare it is over all classes (A is the mean number of words per
class, f(t) the term's count over all classes). Words are those of the keyword index
(lower case, Lucene's stop words out) minus common function words; inflections share
one stem and are shown as their most frequent form (the shorter on a tie).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from shoal.store import Tokenizer

__all__ = ["LABEL_STOPWORDS", "top_terms"]

LABEL_STOPWORDS = frozenset((
    "about", "above", "after", "again", "all", "also", "am", "any", "been", "before", "being",
    "below", "between", "both", "can", "could", "did", "do", "does", "doing", "down", "during",
    "each", "etc", "few", "from", "further", "had", "has", "have", "having", "he", "her", "here",
    "hers", "him", "his", "how", "i", "its", "just", "may", "me", "more", "most", "must", "my",
    "nor", "now", "off", "once", "one", "only", "other", "our", "out", "over", "own", "same",
    "she", "should", "so", "some", "than", "them", "those", "through", "too", "under", "until",
    "up", "us", "very", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "would", "you", "your", "s", "t",
))  # fmt: skip
"""Function words that Lucene's short stop list keeps but a topic label should not show."""


def top_terms(classes: Mapping[int, Iterable[str]], *, count: int = 5) -> dict[int, list[str]]:
    """The `count` highest c-TF-IDF terms of each class's texts, best first."""
    tokenize = Tokenizer()
    frequencies: dict[int, Counter[str]] = {}
    forms: dict[str, Counter[str]] = {}
    for label, texts in classes.items():
        counts: Counter[str] = Counter()
        for text in texts:
            words = [w for w in tokenize.words(text) if w not in LABEL_STOPWORDS and _wordy(w)]
            for word, stem in zip(words, tokenize.stems(words), strict=True):
                counts[stem] += 1
                forms.setdefault(stem, Counter())[word] += 1
        frequencies[label] = counts
    overall: Counter[str] = Counter()
    for counts in frequencies.values():
        overall.update(counts)
    average = sum(overall.values()) / max(len(frequencies), 1)
    result = {}
    for label, counts in frequencies.items():
        size = sum(counts.values()) or 1
        weights = {t: c / size * math.log(1 + average / overall[t]) for t, c in counts.items()}
        best = sorted(weights, key=lambda t: (-weights[t], t))[:count]
        result[label] = [_shown(forms[t]) for t in best]
    return result


def _shown(forms: Counter[str]) -> str:
    """The form a stem is shown as: its most frequent word, the shorter on a tie."""
    return min(forms.items(), key=lambda item: (-item[1], len(item[0]), item[0]))[0]


def _wordy(word: str) -> bool:
    """True for a word worth showing: not a number, at least two characters."""
    return len(word) > 1 and not word.replace(".", "").replace(",", "").isdigit()
