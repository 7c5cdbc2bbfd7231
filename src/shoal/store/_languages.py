"""Keyword analysers per language, and telling a text's language from its letters.

A dataset's keyword index, its ``$match`` filter and the keyword half of hybrid search all
read text through the dataset's analyser, chosen by language when the dataset is made.

- ``english`` is `_keyword.Tokenizer`, unchanged (Elasticsearch's ``english`` analyser),
  so datasets made before languages existed keep their index and scores.
- Every other analyser reads text in runs of one kind of script, as Lucene's do:
  runs of Han, Hiragana, Katakana and Hangul become overlapping character bigrams (a lone
  character stays a unigram), as Lucene's CJKAnalyzer does, so a word inside a longer run
  is found without a dictionary; Thai, Lao, Khmer and Myanmar runs (no spaces between
  words either, and no segmenter here) become bigrams of their grapheme clusters; any other
  run is split into Unicode words (combining marks kept inside them: Arabic vowels,
  Devanagari matras), NFKC-normalised and case-folded, elided articles dropped
  (French ``l'``, Arabic ``وال``), and stemmed by the language's Snowball stemmer
  (PyStemmer).
- ``chinese``, ``japanese``, ``korean``, ``thai`` and ``standard`` (a dataset of many
  languages) stem nothing.

Unlike Lucene's language analysers, these keep stop words: `bench/keyword_languages.py`
measured Lucene-style stop lists (`_stopwords`, now used to detect languages) costing
recall@4 on Tatoeba keyword queries 0.08-0.18 (German 0.987 -> 0.835), since a query of
a few words loses most of them, while BM25's idf already weighs such words near zero.
The same benchmark measures every analyser against the English one.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable

import Stemmer

from shoal.errors import InvalidInput
from shoal.store._keyword import Tokenizer
from shoal.store._stopwords import ENGLISH_MARKERS, STOPWORDS

__all__ = [
    "ANALYSIS_VERSION",
    "AUTO",
    "LANGUAGES",
    "Analyzer",
    "analyzer",
    "check_language",
    "detect_language",
    "function_words",
]

ANALYSIS_VERSION = 1
"""Bumped when a non-English analyser changes its terms: saved keyword indexes made by an
older one are rebuilt (English's never change)."""
AUTO = "auto"
_SNOWBALL = (
    "arabic", "armenian", "basque", "catalan", "czech", "danish", "dutch", "english",
    "esperanto", "estonian", "finnish", "french", "german", "greek", "hindi", "hungarian",
    "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian", "persian",
    "polish", "portuguese", "romanian", "russian", "serbian", "sesotho", "spanish",
    "swedish", "tamil", "turkish", "yiddish",
)  # fmt: skip
"""The Snowball stemmers of PyStemmer 3.1 (less ``porter`` and ``dutch_porter``)."""
_UNSTEMMED = ("chinese", "japanese", "korean", "thai", "standard")
LANGUAGES = tuple(sorted(_SNOWBALL + _UNSTEMMED))
"""The languages a dataset's keyword analyser can be made for (and ``auto``)."""

_CJK = (
    "\u1100-\u11ff\u3005\u3007\u3040-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3130-\u318f"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
"""Hangul Jamo, 々 〇, Hiragana, Katakana (less ・), compatibility Jamo, Han, Hangul syllables."""
_SOUTHEAST = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
"""Thai, Lao, Myanmar, Khmer: written without spaces between words."""
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u0900-\u0963\u0966-\u0dff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
"""Combining marks that `\\w` misses but that belong inside words (and all of the Indic
blocks but their dandas, whose vowel signs are marks)."""
_LETTER = f"[\\w{_MARKS}]"
_WORD = re.compile(f"{_LETTER}+(?:[.,'\u2019]{_LETTER}+)*")
_ELISIONS = {
    "french": "c d j l m n qu s t jusqu lorsqu puisqu quoiqu",
    "italian": "c l all dall dell nell sull coll pell gl agl dagl degl negl sugl un m t s v d",
    "catalan": "d l m n s t",
    "irish": "b d m",
}
"""Articles and pronouns written onto the next word with an apostrophe (Lucene's ElisionFilter)."""
_ARABIC_PREFIX = re.compile("^(?:وال|بال|كال|فال|لل)(?=..)")
""""and the", "with the", "as the", "so the", "for the": the Snowball stemmer strips a bare
"the" (ال) only; Lucene's ArabicStemmer strips these too."""


class Analyzer:
    """Text to index terms for one language other than English (see the module's docstring).

    `cjk_unigrams` also emits each CJK character alone (Lucene's ``outputUnigrams``): a
    one-character query then matches, at the cost of an index twice the size; `stop_words`
    drops the language's stop words (`_stopwords`). The datasets' analysers do neither
    (see the module's docstring); `bench/keyword_languages.py` measures both.
    """

    def __init__(
        self, language: str, *, cjk_unigrams: bool = False, stop_words: bool = False
    ) -> None:
        if language not in LANGUAGES or language == "english":
            raise ValueError(f"no Analyzer for {language!r}: see LANGUAGES (english: Tokenizer)")
        self.language = language
        self._unigrams = cjk_unigrams
        # A Stemmer is not thread-safe: each index has its own, used under the view's lock.
        self._stem: Callable[[list[str]], list[str]] | None = (
            Stemmer.Stemmer(language).stemWords if language in _SNOWBALL else None
        )
        self._stop = STOPWORDS.get(language, frozenset()) if stop_words else frozenset()
        elided = _ELISIONS.get(language)
        self._elision = re.compile(f"^(?:{'|'.join(elided.split())})['\u2019]") if elided else None

    def __call__(self, text: str) -> list[str]:
        """The terms of one text, in order, repeats kept."""
        if self.language == "turkish":  # dotted and dotless i case-fold their own way
            text = text.replace("I", "ı").replace("İ", "i")
        terms: list[str] = []
        folded = unicodedata.normalize("NFKC", text).casefold()
        for cjk, southeast, other in _runs().findall(folded):
            if cjk:
                terms.extend(self._bigrams(list(cjk)))
            elif southeast:
                terms.extend(self._bigrams(_clusters(southeast)))
            else:
                terms.extend(self._words(other))
        return terms

    def _bigrams(self, units: list[str]) -> list[str]:
        if len(units) == 1:
            return units
        pairs = [a + b for a, b in itertools.pairwise(units)]
        if not self._unigrams:
            return pairs
        mixed = [units[0]]
        for unit, pair in zip(units[1:], pairs, strict=True):
            mixed.extend((pair, unit))
        return mixed

    def _words(self, text: str) -> list[str]:
        words = _WORD.findall(text)
        if self._elision is not None:
            words = [self._elision.sub("", w) for w in words]
        elif self.language == "arabic":
            words = [_ARABIC_PREFIX.sub("", w) for w in words]
        if self._stop:
            words = [w for w in words if w not in self._stop]
        return self._stem(words) if self._stem is not None else words


@functools.cache
def _runs() -> re.Pattern[str]:
    """Runs of CJK, of Southeast Asian scripts, and of anything else (compiled on first use:
    its astral ranges take milliseconds, and `import shoal` compiles nothing it need not)."""
    return re.compile(f"([{_CJK}]+)|([{_SOUTHEAST}]+)|([^{_CJK}{_SOUTHEAST}]+)")


@functools.cache
def _scripts() -> re.Pattern[str]:
    """One letter of each script `detect_language` counts, as a named group."""
    return re.compile("|".join(f"(?P<{name}>[{chars}])" for name, chars in _SCRIPTS.items()))


def _clusters(run: str) -> list[str]:
    """A run of letters as grapheme clusters: each letter with the marks that follow it."""
    clusters: list[str] = []
    for char in run:
        if clusters and unicodedata.category(char).startswith("M"):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def check_language(language: object) -> str:
    """`language` if a dataset's analyser can be made for it (or it is "auto").

    Raises:
        InvalidInput: it names no supported language.
    """
    if isinstance(language, str) and (language in LANGUAGES or language == AUTO):
        return language
    raise InvalidInput(
        f"no keyword analyser for language {language!r}: use one of {', '.join(LANGUAGES)}, "
        f"or {AUTO!r} to detect it from the first rows written"
    )


def analyzer(language: str) -> Callable[[str], list[str]]:
    """A new analyser for `language` (English's is `Tokenizer`, exactly as before)."""
    return Tokenizer() if language == "english" else Analyzer(language)


def function_words(language: str) -> frozenset[str]:
    """`language`'s common function words (case-folded; empty for one without a list)."""
    return ENGLISH_MARKERS if language == "english" else STOPWORDS.get(language, frozenset())


# ------------------------------------------------------------------------ detection
_SCRIPTS = {
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "kana": "\u3040-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff",
    "han": "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f",
    "southeast": _SOUTHEAST,
    "arabic": "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff",
    "cyrillic": "\u0400-\u052f",
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
    "hebrew": "\u0590-\u05ff",
    "devanagari": "\u0900-\u097f",
    "armenian": "\u0530-\u058f",
    "tamil": "\u0b80-\u0bff",
    "latin": "a-zA-Z\u00c0-\u024f\u1e00-\u1eff",
}
_BY_SCRIPT = {
    "southeast": "thai",
    "greek": "greek",
    "armenian": "armenian",
    "tamil": "tamil",
    "hebrew": "standard",
    "devanagari": "hindi",
}
_SERBIAN = frozenset("ђјљњћџ")
_SAMPLE_CHARS = 20_000


def detect_language(texts: Iterable[str]) -> str:
    """The analyser language that fits `texts` best ("english" when nothing else does).

    The script with most letters decides among scripts (kana among Han: Japanese; Hangul:
    Korean); within Latin, Arabic and Cyrillic text, the language whose stop words occur
    most. Reads at most the first 20,000 characters.
    """
    sample, size = [], 0
    for text in texts:
        sample.append(text)
        size += len(text)
        if size >= _SAMPLE_CHARS:
            break
    joined = unicodedata.normalize("NFKC", " ".join(sample))[:_SAMPLE_CHARS].casefold()
    counts = Counter(match.lastgroup for match in _scripts().finditer(joined))
    if not counts:
        return "english"
    cjk = counts["han"] + counts["kana"] + counts["hangul"]
    script = max(counts, key=lambda name: (counts[name], name))
    if cjk >= max(counts[script], 1) or cjk > 0.3 * sum(counts.values()):
        if counts["hangul"] >= counts["han"] + counts["kana"]:
            return "korean"
        return "japanese" if counts["kana"] >= 0.1 * (counts["han"] + counts["kana"]) else "chinese"
    if script in _BY_SCRIPT:
        return _BY_SCRIPT[script]
    words = Counter(_WORD.findall(joined))
    if script == "cyrillic":
        return (
            "serbian"
            if sum(joined.count(c) for c in _SERBIAN) > 0.01 * counts[script]
            else "russian"
        )
    candidates = ("arabic", "persian") if script == "arabic" else _LATIN_LISTED
    hits = {name: _hits(words, _markers(name)) for name in candidates}
    best = max(hits, key=lambda name: (hits[name], -candidates.index(name)))
    if hits[best] == 0:
        return "arabic" if script == "arabic" else "english"
    return best


_LATIN_LISTED = ("english", *(name for name in STOPWORDS if name not in (
    "russian", "arabic", "persian", "greek", "hindi",
)))  # fmt: skip


def _markers(language: str) -> frozenset[str]:
    return ENGLISH_MARKERS if language == "english" else STOPWORDS[language]


def _hits(words: Counter[str], markers: frozenset[str]) -> int:
    return sum(count for word, count in words.items() if word in markers)
