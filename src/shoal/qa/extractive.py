"""`extractive`: answers by quoting the source sentence that answers the question. No LLM.

Every sentence of the sources is scored by its meaning (cosine of the question's and
the sentence's embeddings) and by the question's words it contains, rare words and
names counting most. The best sentence is the answer, quoted verbatim with its
citation; for "when", "how many" and "how much" questions it is cut after the clause
that holds the date or number. When no sentence has the question's key words, or the
best score is low, the answer is the agreed "I don't know".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from shoal.embeddings import DEFAULT_EMBEDDER, Embedder, embedder
from shoal.errors import ConfigurationError
from shoal.qa._llm import LLM, Message
from shoal.qa._prompt import QAPrompt, Source, parse_chat_prompt
from shoal.qa._spans import ENGLISH_OPENING, answer_span, asked_in, question_type, typed_span
from shoal.store import analyzer, detect_language, function_words

__all__ = [
    "Extract",
    "ExtractiveLLM",
    "best_sentence",
    "crosses_languages",
    "question_language",
    "ranked_sentences",
    "sentences",
]

# Sentence ends: . ! ? (and CJK ones) followed by space and a capital, digit or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=[\"'“(\[A-Z0-9À-ÖØ-Þ])|\n{2,}|(?<=[。！？])")
_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d")
_DATE = re.compile(
    r"\b(\d{1,2}\s+)?(January|February|March|April|May|June|July|August|September|October|"
    r"November|December)(\s+\d{1,2})?,?\s+\d{3,4}\b|\b\d{3,4}\b",
    re.I,
)
_QUANTITY = re.compile(r"\b\d[\d,.]*\b")
_WHEN = ("when", "what year", "in what year", "in which year", "what date", "on what date")
_HOW_MUCH = ("how many", "how much", "how long", "how old", "how tall", "how far", "how big")
_STOPWORD_TEXT = (
    "a about above after again against all am an and any are as at be because been "
    "before being below between both but by can could did do does doing down during each "
    "few for from further had has have having he her here hers herself him himself his "
    "how i if in into is it its itself just me more most my myself no nor not now of off "
    "on once only or other our ours ourselves out over own same she should so some such "
    "than that the their theirs them themselves then there these they this those through "
    "to too under until up very was we were what when where which while who whom why "
    "will with would you your yours yourself yourselves also many much whose"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# How far below the best sentence a runner-up may score and still answer, if it holds
# what the question asks for and the best does not.
_RUNNER_UP_MARGIN = 0.15


@dataclass(frozen=True)
class Extract:
    """The chosen sentence: its text, the source number it came from, and its score."""

    text: str
    source: int
    score: float
    key_words_found: float


def sentences(text: str) -> list[str]:
    """`text` cut into sentences (a light rule: end punctuation then a capital or digit)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    return [" ".join(p.split()) for p in parts]


# Words as every language's keyword analyser sees them, unstemmed: lower-cased words, and
# character bigrams in Chinese, Japanese, Korean and Thai, so "北京" is found in "北京市".
_ANALYSE = analyzer("standard")


def _words(text: str) -> list[str]:
    # The analyser keeps "manning's" and "u.s" whole; the question says "Manning".
    return [w for token in _ANALYSE(text) for w in _WORD.findall(token)]


# Question words of Chinese and Japanese ("where", "what", "who", "how many", ...): a
# bigram holding one is the question's own phrasing, which an answer does not repeat.
_ASKING = re.compile("[哪什谁誰吗嗎呢怎几幾何]|いつ|どこ|だれ|なに|ですか")


def _key_words(question: str, stop: frozenset[str] = _STOPWORDS) -> list[str]:
    return [
        w
        for w in _words(question)
        if w not in stop and (len(w) > 1 or not w.isascii()) and not _ASKING.search(w)
    ]


def _stop_words(question: str, sources: dict[int, str]) -> frozenset[str]:
    """English's stop words and those of the language the question and sources are in."""
    return _STOPWORDS | function_words(detect_language([question, *sources.values()]))


def question_language(question: str) -> str:
    """The language `question` is asked in: its question word's, else as detected."""
    if ENGLISH_OPENING.match(" ".join(question.lower().split())):
        return "english"
    asked = asked_in(question)
    return asked[0] if asked is not None else detect_language([question])


def crosses_languages(question: str, sources: dict[int, str]) -> bool:
    """Whether `question` is asked in another language than the sources are written in:
    so detected, and most of its words other than names are not in them (short texts
    are easily misdetected; shared words are not)."""
    if question_language(question) == detect_language(sources.values()):
        return False
    words = set(_key_words(question, _stop_words(question, sources))) - question_names(question)
    present = set().union(*(_words(text) for text in sources.values()))
    return len(words & present) * 2 < len(words) or not words


def question_names(question: str) -> set[str]:
    """The question's names and numbers (capitalised words after the first, lower-cased)."""
    tokens = _WORD.findall(question)
    found = {t.lower() for t in tokens[1:] if t[:1].isupper() and t.lower() not in _STOPWORDS}
    return found | {t.lower() for t in tokens if _NUMBER.search(t)}


def _expected(question: str) -> re.Pattern[str] | None:
    """What an answer to a when / how-many question must contain: a date or a number."""
    asked = question.strip().lower()
    if asked.startswith(_WHEN):
        return _DATE
    if asked.startswith(_HOW_MUCH):
        return _QUANTITY
    return None


def best_sentence(
    question: str,
    sources: dict[int, str],
    model: Embedder,
    *,
    semantic_weight: float = 0.5,
) -> Extract | None:
    """The source sentence that best answers `question`, or None if the sources have none.

    A sentence scores by meaning (cosine to the question) and by the question's words:
    the rare words other than names that it holds itself (60%), and all the question's
    words, names included, that its source holds (40%: the answer sentence often says
    "it" or "he" for the subject its paragraph named earlier). A sentence holding the
    date or number that a when / how-many question asks for gains 0.15.
    """
    ranked = ranked_sentences(question, sources, model, semantic_weight=semantic_weight)
    return ranked[0] if ranked else None


def ranked_sentences(
    question: str,
    sources: dict[int, str],
    model: Embedder,
    *,
    semantic_weight: float = 0.5,
) -> list[Extract]:
    """Every source sentence scored as `best_sentence` scores them, best first."""
    candidates = [(n, s) for n, text in sorted(sources.items()) for s in sentences(text)]
    if not candidates:
        return []
    if crosses_languages(question, sources):
        return _ranked_across(question, sources, candidates, model)
    keys = set(_key_words(question, _stop_words(question, sources)))
    names = question_names(question)
    document_frequency = Counter(w for _, s in candidates for w in set(_words(s)))
    total = len(candidates)

    def weight(word: str) -> float:
        return math.log(1 + total / (1 + document_frequency.get(word, 0)))

    content = (keys - names) or keys
    key_weight = sum(weight(w) for w in keys) or 1.0
    content_weight = sum(weight(w) for w in content) or 1.0
    paragraph_words = {n: set(_words(text)) for n, text in sources.items()}
    expected = _expected(question)
    vectors = model.embed_documents([s for _, s in candidates])
    query = model.embed_query(question)
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    cosines = (vectors @ query) / np.maximum(norms, 1e-12)
    scored: list[Extract] = []
    for (number, sentence), cosine in zip(candidates, cosines, strict=True):
        present = set(_words(sentence))
        around = paragraph_words[number]
        alone = sum(weight(w) for w in content if w in present) / content_weight
        with_source = sum(weight(w) for w in keys if w in around) / key_weight
        overlap = 0.6 * alone + 0.4 * with_source
        named = 1.0 if not names else len(names & around) / len(names)
        score = semantic_weight * float(cosine) + (1 - semantic_weight) * overlap
        if expected is not None and expected.search(sentence):
            score += 0.15
        scored.append(Extract(sentence, number, score, min(with_source, named)))
    return sorted(scored, key=lambda e: -e.score)


# Across languages the question's words are not the sources' words: a sentence is
# supported by the question's names (Latin-script ones survive translation), or else by
# standing out in meaning: its cosine at least this far above the mean of the others'.
# With multilingual-e5-small on tests/unit/qa/test_crosslingual.py's birth pages, the
# answerable questions stood 0.050-0.085 above, the unanswerable 0.017-0.036: the middle.
_STANDS_OUT = 0.043


def _ranked_across(
    question: str, sources: dict[int, str], candidates: list[tuple[int, str]], model: Embedder
) -> list[Extract]:
    """`ranked_sentences` for a question in another language than its sources: by meaning
    (the embedder must be multilingual) and the names the question shares with them."""
    vectors = model.embed_documents([s for _, s in candidates])
    query = model.embed_query(question)
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    cosines = (vectors @ query) / np.maximum(norms, 1e-12)
    # Names written in the sources' script must be found there ("Wann wurde Franz
    # Beckenbauer geboren?" over other players' pages is not answered); names in another
    # script (Cyrillic "Роналду" for "Ronaldo") and unwritten ones leave it to meaning.
    latin_sources = _latin(" ".join(sources.values()))
    names = {n for n in question_names(question) if _latin(n) == latin_sources}
    found = {n: len(names & set(_words(text))) for n, text in sources.items()}
    others = len(candidates) - 1
    total = float(cosines.sum())
    scored: list[Extract] = []
    for (number, sentence), cosine in zip(candidates, cosines, strict=True):
        named = found[number] / len(names) if names else 0.0
        if names:
            support = named
        else:
            mean_others = (total - float(cosine)) / others if others else 1.0
            support = 1.0 if float(cosine) - mean_others >= _STANDS_OUT else 0.0
        scored.append(Extract(sentence, number, float(cosine) + 0.1 * named, support))
    return sorted(scored, key=lambda e: -e.score)


def _latin(text: str) -> bool:
    """Whether most of `text`'s letters are Latin ones."""
    letters = [c for c in text[:2000] if c.isalpha()]
    latin = sum(1 for c in letters if c.isascii() or "LATIN" in unicodedata.name(c, ""))
    return latin * 2 > len(letters)


def _trim(question: str, sentence: str) -> str:
    """Cut a sentence after the clause holding the date or number a when/how-many question asks."""
    pattern = _expected(question)
    if pattern is None:
        return sentence
    match = pattern.search(sentence)
    if match is None:
        return sentence
    comma = sentence.find(",", match.end())
    return sentence[:comma] if comma != -1 else sentence


class ExtractiveLLM(LLM):
    """`extractive`: quotes the sentence of the sources that answers the question, with its [n].

    Args:
        model: unused (the name has no model part); kept for the registry's call.
        embedder: what scores sentences by meaning; default the dataset's embedder when it
            runs locally (RetrievalQA passes it; no API call per sentence), else the local
            MiniLM model. A question in another language than its sources needs a
            multilingual one (``local:multilingual-e5-small``).
        min_score: below this combined score (0-1) the answer is "I don't know".
        min_key_words: the share of the question's names and rare words the chosen
            sentence must contain, else "I don't know".
        spans: answer with the part of the sentence that answers the question (a date,
            a number, a name, a phrase); False quotes the whole sentence.
    """

    def __init__(
        self,
        model: str = "",
        *,
        embedder: Embedder | str | None = None,
        min_score: float = 0.35,
        min_key_words: float = 0.3,
        spans: bool = True,
    ) -> None:
        if model:
            raise ConfigurationError(f"the extractive answerer takes no model name, got {model!r}")
        for label, value in (("min_score", min_score), ("min_key_words", min_key_words)):
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"{label} must be between 0 and 1, got {value!r}")
        self._embedder_option = embedder
        self._model: Embedder | None = embedder if isinstance(embedder, Embedder) else None
        self.min_score = min_score
        self.min_key_words = min_key_words
        self.spans = spans

    @property
    def name(self) -> str:
        """Always ``extractive``."""
        return "extractive"

    @property
    def context_window(self) -> int:
        """No model window: sentences are scored one by one; 32k tokens of sources at most."""
        return 32_768

    def with_embedder(self, model: Embedder) -> ExtractiveLLM:
        """This answerer scoring with `model`, unless an embedder was chosen for it: RetrievalQA
        passes a dataset's local embedder (multilingual-e5 for a question in another language)."""
        if self._embedder_option is not None:
            return self
        return ExtractiveLLM(
            embedder=model,
            min_score=self.min_score,
            min_key_words=self.min_key_words,
            spans=self.spans,
        )

    @property
    def embedder(self) -> Embedder:
        """The embedder that scores sentences (built on first use)."""
        if self._model is None:
            name = self._embedder_option if isinstance(self._embedder_option, str) else None
            self._model = embedder(name or DEFAULT_EMBEDDER)
        return self._model

    def extract(
        self, question: str, sources: dict[int, str], *, ranked: list[Extract] | None = None
    ) -> Extract | None:
        """The best sentence for `question` (or its answering span), or None when it does
        not clear the bars; `ranked` is `ranked_sentences`' list when the caller has it."""
        if ranked is None:
            ranked = ranked_sentences(question, sources, self.embedder)
        if not ranked or ranked[0].score < self.min_score:
            return None
        found = ranked[0]
        if found.key_words_found < self.min_key_words:
            return None
        if not self.spans or (
            question_type(question).kind == "thing" and crosses_languages(question, sources)
        ):  # which words of a sentence answer "what" asked in another language is unknowable
            return Extract(
                _trim(question, found.text), found.source, found.score, found.key_words_found
            )
        # A close runner-up that holds what the question asks for (a date, a number, a
        # name) answers better than the best sentence without one.
        for candidate in ranked[:3]:
            if candidate.score < found.score - _RUNNER_UP_MARGIN:
                break
            span = typed_span(question, candidate.text)
            if span is not None and candidate.key_words_found >= self.min_key_words:
                return Extract(span, candidate.source, candidate.score, candidate.key_words_found)
        return Extract(
            answer_span(question, found.text), found.source, found.score, found.key_words_found
        )

    def answer(
        self,
        question: str,
        sources: Sequence[Source],
        *,
        prompt: QAPrompt,
        max_tokens: int = 128,
    ) -> Iterator[str]:
        """Quote the sentence of `sources` that answers `question`, or `prompt.dont_know`."""
        found = self.extract(question, {s.number: s.text for s in sources})
        yield prompt.dont_know if found is None else f"{found.text.rstrip('.')} [{found.source}]"

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Read the question and sources from chat messages (`QAPrompt.chat`'s form, as
        LangChain's chat model adapter passes them) and quote the answer."""
        question, sources, dont_know = parse_chat_prompt(messages)
        found = self.extract(question, sources)
        yield dont_know if found is None else f"{found.text.rstrip('.')} [{found.source}]"
