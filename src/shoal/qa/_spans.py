"""Answer spans: the shortest part of a sentence that answers what the question asks for.

The question's type comes from its wh-words ("when" asks for a date, "how many" for a
number, "who" for a person, "where" for a place, "what" / "which" for a thing) and its
head noun ("what year", "which city"). Candidates of that type are found in the sentence
(dates, numbers with their unit, capitalised names, or else the stretches of words the
question does not already say), and the one nearest the question's words in the sentence
wins: answers sit beside what the question restates. The span is always verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ENGLISH_OPENING",
    "QuestionType",
    "answer_span",
    "asked_in",
    "question_type",
    "typed_span",
]

_TOKEN = re.compile(r"[$£€]?\d+(?::\d\d|[–-]\d+)|[$£€]?\d[\d,.]*%?|\w+(?:['’.-]\w+)*\.?|[^\w\s]")
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b(?:(?:\d{{1,2}}(?:st|nd|rd|th)?\s+)?(?:{_MONTHS})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?,?"
    rf"\s+\d{{3,4}}|(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{3,4}}s?"
    rf"(?:\s*(?:–|-|to|and)\s*\d{{2,4}})?(?:\s+(?:BC|BCE|AD|CE))?"
    rf"|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)\s+century|(?:early|mid|late)[- ]\d{{3,4}}s)\b",
    re.I,
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    "eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion|billions|"
    "dozen|dozens|half|several|many"
)
_NUMBER = re.compile(
    rf"(?:\b(?:about|around|approximately|over|nearly|almost|more than|less than|some)\s+)?"
    rf"(?:[$£€]\s?)?(?:\d+(?::\d\d|[–-]\d+)\b|\d[\d,.]*|\b(?:{_NUMBER_WORDS})\b)"
    rf"(?:[-\s](?:{_NUMBER_WORDS})\b)*"
    r"(?:\s?(?:%|percent|per cent))?"
    r"(?:\s+(?!(?:and|or|the|of|in|on|at|to|by|for|from|with|as|a|an|was|were|is|are|which|that|"
    r"who)\b)[a-z][\w-]*)?",
    re.I,
)
_NAME = re.compile(
    r"\b[A-Z][\w'’.-]*(?:\s+(?:(?:of|the|de|la|von|van|der|and|du|da|del|di|dos|das|do|for)\s+)*[A-Z][\w'’.-]*)*"
)
_STOP_TEXT = (
    "a an the of in on at to by for from with as and or but is was were are be been being "
    "it its this that these those which who whom whose what when where why how did do does "
    "has have had he she they his her their there than then so such not no also into onto "
    "upon over under about after before during while since until between among through "
    "would could should can may might will shall must one ones"
)
_STOP = frozenset(_STOP_TEXT.split())


_CALENDAR = re.compile(
    rf"(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\.?", re.I
)


@dataclass(frozen=True)
class QuestionType:
    """What a question asks for: "date", "number", "person", "place" or "thing"."""

    kind: str


_PLACE_NOUNS = (
    "city|country|state|continent|region|location|town|place|area|island|river|county|"
    "province|nation|village|capital|street|building|mountain|ocean|sea|lake"
)
_PERSON_NOUNS = "person|man|woman|king|queen|president|leader|scientist|artist|author|emperor"
_TIME_NOUNS = "year|years|decade|century|date|day|month|era|period|time"


# Other languages' question words, by the kind of answer they ask for. Latin, Greek and
# Cyrillic ones open the question (after an inverted mark); Chinese, Japanese, Korean and
# Thai ones may stand anywhere in it, as those languages place them.
_ASKS: dict[str, dict[str, str]] = {
    "german": {
        "date": r"wann|seit wann|bis wann|in welchem jahr|welches jahr|an welchem tag",
        "number": r"wie (?:viele?|alt|lange|hoch|weit|groß|gross|oft|schwer|tief)|wieviele?",
        "person": r"wer|wem|wen|wessen",
        "place": r"wo|woher|wohin|in welcher stadt|in welchem land",
    },
    "french": {
        "date": r"quand|depuis quand|en quelle année|quelle année|à quelle date|quel jour",
        "number": r"combien|quel âge|quelle (?:hauteur|taille|distance|longueur)",
        "person": r"qui|à qui|de qui",
        "place": r"où|d'où|dans quelle ville|dans quel pays",
    },
    "spanish": {
        "date": r"cuándo|cuando|en qué año|qué año|en qué fecha|qué día",
        "number": r"cuánt[oa]s?|cuant[oa]s?|qué edad|a qué distancia",
        "person": r"quién(?:es)?|quien(?:es)?|a quién|de quién",
        "place": r"dónde|donde|adónde|de dónde|en qué (?:ciudad|país)",
    },
    "italian": {
        "date": r"quando|in che anno|in quale anno|che anno",
        "number": r"quant[oaie]|che età",
        "person": r"chi|a chi|di chi",
        "place": r"dove|da dove|in quale (?:città|paese)",
    },
    "portuguese": {
        "date": r"quando|em que ano|em qual ano|que ano",
        "number": r"quant[oa]s?|que idade",
        "person": r"quem|a quem|de quem",
        "place": r"onde|aonde|de onde|em que (?:cidade|país)",
    },
    "dutch": {
        "date": r"wanneer|in welk jaar|welk jaar",
        "number": r"hoeveel|hoe (?:oud|lang|hoog|ver|groot|vaak)",
        "person": r"wie|van wie|aan wie",
        "place": r"waar|waarheen|vanwaar",
    },
    "russian": {
        "date": r"когда|в каком году|какого числа|в какой день",
        "number": r"сколько|какой (?:высоты|длины)|как (?:долго|далеко)",
        "person": r"кто|кого|кому|кем|чей|чья|чьё|чьи",
        "place": r"где|откуда|куда|в каком (?:городе|стране)",
    },
    "turkish": {
        "date": r"ne zaman|hangi yıl",
        "number": r"kaç|ne kadar",
        "person": r"kim",
        "place": r"nerede|nereye|nereden|nere",
    },
    "greek": {
        "date": r"πότε|ποτε",
        "number": r"πόσ[οαεη]ι?|ποσ[οαεη]ι?",
        "person": r"ποιος|ποια|ποιον|ποιου",
        "place": r"πού|που",
    },
    "arabic": {"date": r"متى", "number": r"كم", "person": r"من هو|من هي|من", "place": r"أين|اين"},
    "hindi": {"date": r"कब", "number": r"कितन[ाीे]", "person": r"कौन", "place": r"कहाँ|कहां"},
}
_ASKS_ANYWHERE: dict[str, dict[str, str]] = {
    "chinese": {
        "date": r"什么时候|什麼時候|何时|何時|哪一?年|哪天|几月|幾月|哪个月|哪個月",
        "number": r"多少|几|幾|多大|多长|多長|多高|多远|多遠|多久",
        "person": r"谁|誰",
        "place": r"哪里|哪裡|哪儿|哪兒|在哪|何处|何處",
    },
    "japanese": {
        "date": r"いつ|何年|何月|何日",
        "number": r"いくつ|いくら|何人|何歳|何個|どのくらい|どれくらい",
        "person": r"誰|だれ|どなた",
        "place": r"どこ",
    },
    "korean": {"date": r"언제", "number": r"몇|얼마", "person": r"누구|누가", "place": r"어디"},
    "thai": {"date": r"เมื่อไร|เมื่อไหร่", "number": r"เท่าไร|เท่าไหร่|กี่", "person": r"ใคร",
             "place": r"ที่ไหน"},
}  # fmt: skip
_KINDS = ("date", "number", "person", "place", "thing")
_THINGS = {
    "german": r"was|welche[rsmn]?", "french": r"que|quoi|quel(?:le)?s?|qu'est-ce|qu’est-ce",
    "spanish": r"qué|cuál(?:es)?|cual(?:es)?", "italian": r"cosa|che cosa|qual[ei]",
    "portuguese": r"o que|qual|quais", "dutch": r"wat|welke?", "turkish": r"ne|hangi",
    "russian": r"что|как(?:ой|ая|ое|ие|им|ую|ого)", "greek": r"τι|τί", "arabic": r"ما|ماذا",
    "hindi": r"क्या", "chinese": r"什么|什麼|哪个|哪個|哪些", "japanese": r"何|なに|どれ|どの",
    "korean": r"무엇|뭐|어떤|어느", "thai": r"อะไร",
}  # fmt: skip
for _language, _words_of in _THINGS.items():
    (_ASKS_ANYWHERE if _language in _ASKS_ANYWHERE else _ASKS)[_language]["thing"] = _words_of


ENGLISH_OPENING = re.compile(
    r"[\s\"'“(]*(?:(?:in|on|at|from|by|for|to|of|during|with|since|until)\s+)?"
    r"(?:what|which|who|whom|whose|when|where|why|how)\b"
)


def _opening(question: str) -> str:
    return re.sub(r"^[\s¿¡\"'“«„(]+", "", question.casefold())


def asked_in(question: str) -> tuple[str, str] | None:
    """(language, kind) of a question opened by (or, in CJK and Thai, holding) another
    language's question word; None for English and for questions none of them fits."""
    q = _opening(question)
    for language, kinds in _ASKS_ANYWHERE.items():
        for kind in _KINDS:
            if re.search(kinds[kind], q):
                return language, kind
    for language, kinds in _ASKS.items():
        for kind in _KINDS:
            if re.match(rf"(?:{kinds[kind]})(?!\w)", q):
                return language, kind
    return None


def question_type(question: str) -> QuestionType:
    """The kind of answer `question` asks for, from its wh-word and head noun (English),
    or the question words of the languages in `_ASKS`."""
    q = " ".join(question.lower().split())
    if not ENGLISH_OPENING.match(q):
        other = asked_in(question)
        if other is not None:
            return QuestionType(other[1])
    if re.search(rf"\b(?:what|which|in what|in which)\s+(?:{_TIME_NOUNS})\b", q) or re.match(
        r"(?:when|since when|until when)\b", q
    ):
        return QuestionType("date")
    if re.search(
        r"\bhow (?:many|much|long|old|far|big|large|tall|high|deep|wide|often|fast)\b"
        r"|\bwhat (?:percentage|percent|proportion|fraction|number|amount|size|population)\b"
        r"|\bwhat (?:was|is|were) the (?:final )?(?:score|population|total|cost|price)\b",
        q,
    ):
        return QuestionType("number")
    if re.search(rf"\b(?:who|whom|whose)\b|\b(?:what|which)\s+(?:{_PERSON_NOUNS})\b", q):
        return QuestionType("person")
    if re.match(r"where\b", q) or re.search(rf"\b(?:what|which)\s+(?:{_PLACE_NOUNS})\b", q):
        return QuestionType("place")
    return QuestionType("thing")


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text)}


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def typed_span(question: str, sentence: str) -> str | None:
    """The date, number or name in `sentence` that answers `question`; None if it has none
    (or the question asks for something else)."""
    kind = question_type(question).kind
    return None if kind == "thing" else _best(question, sentence, kind, typed_only=True)


def answer_span(question: str, sentence: str) -> str:
    """The part of `sentence` that answers `question`, verbatim; the sentence when none is found."""
    kind = question_type(question).kind
    return _best(question, sentence, kind, typed_only=False) or sentence


def _best(question: str, sentence: str, kind: str, *, typed_only: bool) -> str | None:
    asked = {_stem(w) for w in _words(question) if w not in _STOP}
    anchors = [m.span() for m in re.finditer(r"\w+", sentence) if _stem(m.group()) in asked]
    candidates = _typed(kind, sentence, asked)
    head = _head_noun(question)
    if kind == "thing" and head:  # "what team", "which player": often a name
        candidates = _typed("person", sentence, asked)
    candidates = [
        (start, end)
        for start, end in candidates
        if not {_stem(w) for w in _words(sentence[start:end]) if w not in _STOP} <= asked
    ]
    if not candidates and not typed_only:
        candidates = _untyped(sentence, asked)
    if not candidates:
        return None

    def score(span: tuple[int, int]) -> float:
        start, end = span
        # Answers follow what the question restates more often than they precede it.
        gap = min(
            (start - a_end if a_end <= start else a_start - end + 8 for a_start, a_end in anchors),
            default=0,
        )
        length = len(sentence[start:end].split())
        new_words = {_stem(w) for w in _words(sentence[start:end]) if w not in _STOP} - asked
        named_head = head is not None and _stem(head) in {
            _stem(w) for w in _words(sentence[start:end])
        }
        full_name = kind == "person" and length > 1
        return (
            -gap / 40
            - 0.08 * max(0, length - 4)
            + 0.2 * min(len(new_words), 2)
            + 0.3 * named_head
            + 0.25 * full_name
        )

    start, end = max(candidates, key=score)
    return _tidy(sentence[start:end])


def _head_noun(question: str) -> str | None:
    """The noun after "how many" or "what"/"which" ("how many tackles" -> "tackles")."""
    found = re.search(r"\b(?:how many|how much|what|which)\s+([a-z]+)", question.lower())
    if found is None or found.group(1) in _STOP or found.group(1) in ("kind", "type", "sort"):
        return None
    return found.group(1)


def _typed(kind: str, sentence: str, asked: set[str]) -> list[tuple[int, int]]:
    if kind == "date":
        return [m.span() for m in _DATE.finditer(sentence)]
    if kind == "number":
        found = [m.span() for m in _NUMBER.finditer(sentence) if re.search(r"\w", m.group())]
        return [_unit(sentence, *_trim_stop(sentence, s, e), asked) for s, e in found]
    if kind in ("person", "place"):
        return [
            m.span()
            for m in _NAME.finditer(sentence)
            if (m.start() > 0 or kind == "person") and not _CALENDAR.fullmatch(m.group())
        ]
    return []


def _unit(sentence: str, start: int, end: int, asked: set[str]) -> tuple[int, int]:
    """A number's span less a last word that is not its unit: one the question already
    says ("how many points": "308", not "308 points"), a name ("four Pro"), an adverb."""
    words = list(re.finditer(r"\S+", sentence[start:end]))
    if len(words) < 2:
        return start, end
    last = words[-1].group().strip(",.;:")
    if _stem(last) in asked or last[:1].isupper() or last.lower().endswith("ly"):
        return start, start + words[-2].end()
    return start, end


def _untyped(sentence: str, asked: set[str]) -> list[tuple[int, int]]:
    """Stretches of the sentence between punctuation and the question's own words."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    last_end = 0
    for m in _TOKEN.finditer(sentence):
        token = m.group()
        breaks = not re.match(r"\w|[$£€]", token) or _stem(token) in asked
        if breaks:
            if start is not None:
                spans.append(_trim_stop(sentence, start, last_end))
            start = None
        else:
            if start is None:
                start = m.start()
            last_end = m.end()
    if start is not None:
        spans.append(_trim_stop(sentence, start, last_end))
    return [(s, e) for s, e in spans if e > s]


def _trim_stop(sentence: str, start: int, end: int) -> tuple[int, int]:
    """`start`-`end` less the function words at either edge."""
    words = list(re.finditer(r"\S+", sentence[start:end]))
    while words and words[0].group().lower().strip(",.;:") in _STOP:
        words.pop(0)
    while words and words[-1].group().lower().strip(",.;:") in _STOP:
        words.pop()
    if not words:
        return start, start
    return start + words[0].start(), start + words[-1].end()


def _tidy(span: str) -> str:
    return span.strip().strip(",;:").strip()
