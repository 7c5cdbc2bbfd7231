"""The varied texts the real models are checked on (tests) and measured on (bench/int8_accuracy.py)."""

from __future__ import annotations

import random

__all__ = ["varied_texts"]

_WORDS = (
    "cat", "dog", "mat", "yard", "house", "river", "mountain", "city", "car", "train", "bread",
    "coffee", "music", "book", "window", "garden", "computer", "network", "database", "query",
    "vector", "search", "model", "language", "running", "sleeping", "quickly", "slowly",
    "bright", "dark", "ancient", "modern", "small", "enormous", "the", "a", "an", "of", "on",
    "in", "under", "over", "with", "without", "because", "although",
)  # fmt: skip
_ACCENTED = (
    "café", "déjà vu", "naïve", "façade", "São Paulo", "Zürich", "Ærøskøbing", "crème brûlée",
    "Gdańsk", "Dvořák", "señor", "Björk", "Ελληνικά", "Москва", "नमस्ते",
)  # fmt: skip
_CJK = (
    "東京は日本の首都です。", "我喜欢机器学习。", "한국어 문장입니다.", "猫がマットの上にいる。",
    "今天天气很好", "向量数据库", "ラーメンを食べたい",
)  # fmt: skip
_EMOJI = ("🍕", "🚀", "👍🏽", "🐈", "❤️", "🎉", "👨‍👩‍👧", "🇯🇵", "🙂")
_CODE = (
    "def square(x):\n    return x ** 2",
    "SELECT id, name FROM users WHERE age > 30 ORDER BY name;",
    "<div class=\"card\"><a href='/x'>link</a></div>",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "const f = async (a, b) => await fetch(`/api/${a}?b=${b}`);",
    "{\"key\": [1, 2, 3], \"nested\": {\"ok\": true, \"value\": null}}",
    "$ pip install --no-deps shoal && shoal embed 'hello'",
    "x = np.linalg.norm(v, axis=-1, keepdims=True)  # normalise",
)  # fmt: skip
_URLS = (
    "https://example.com/path/to/page?q=vector+search&page=2#results",
    "http://127.0.0.1:8080/api/v1/items/42",
    "ftp://files.example.org/pub/data.tar.gz",
    "mailto:someone@example.com",
    "www.example.co.uk/index.html",
)
_PUNCTUATION = (
    "Wait... what?!", "(a), [b], {c}; d: e — f", "!!!???", "Hello, world.", "--- *** ---",
    "\"quoted\" 'single' «guillemets» „low“", "C'est l'été !", "e.g., i.e., etc.", "...", "@#$%^&*",
)  # fmt: skip
_SINGLE = ("a", "Z", "7", "?", ".", "é", "中", "🙂", "ß", "!")


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _paragraph(rng: random.Random, sentences: int) -> str:
    parts = []
    for _ in range(sentences):
        sentence = _phrase(rng, rng.randint(8, 16))
        parts.append(sentence[0].upper() + sentence[1:] + rng.choice([".", "!", "?", ";"]))
    return " ".join(parts)


def varied_texts() -> list[str]:
    """500 deterministic texts: phrases, long paragraphs, punctuation, numbers, scripts, emoji, code."""
    rng = random.Random(20240601)
    texts: list[str] = []
    texts += list(_SINGLE) + list(_PUNCTUATION) + list(_CODE) + list(_URLS) + list(_CJK)
    texts += list(_ACCENTED) + list(_EMOJI)
    # Long paragraphs: 30+ sentences, well beyond 256 (and 384) tokens, so they are truncated.
    texts += [_paragraph(rng, rng.randint(30, 45)) for _ in range(8)]
    makers = (
        lambda: _phrase(rng, rng.randint(1, 4)),
        lambda: _paragraph(rng, rng.randint(1, 3)),
        lambda: (
            f"In {rng.randint(1900, 2030)}, {_phrase(rng, 3)} grew {rng.uniform(0, 99):.2f}% "
            f"to ${rng.randint(1, 10**7):,}"
        ),
        lambda: "".join(c.upper() if rng.random() < 0.5 else c for c in _phrase(rng, 5)),
        lambda: f"{_phrase(rng, 3)} {rng.choice(_ACCENTED)} {_phrase(rng, 2)}",
        lambda: f"{rng.choice(_CJK)} {_phrase(rng, 3)}",
        lambda: f"{_phrase(rng, 4)} {rng.choice(_EMOJI)}{rng.choice(_EMOJI)}",
        lambda: f"{rng.choice(_CODE)}\n# {_phrase(rng, 4)}",
        lambda: f"See {rng.choice(_URLS)} for {_phrase(rng, 3)}",
        lambda: (
            f"{_phrase(rng, 2)}{' ' * rng.randint(2, 8)}{_phrase(rng, 2)}\t\t{_phrase(rng, 1)}\n\n"
        ),
        lambda: f"{' ' * rng.randint(1, 5)}{_phrase(rng, 4)}{' ' * rng.randint(1, 5)}",
        lambda: f"{_phrase(rng, 3)}{rng.choice(_PUNCTUATION)}{rng.choice(_SINGLE)}",
        lambda: (
            f"+1 ({rng.randint(100, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}; "
            f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(1990, 2030)}"
        ),
    )
    while len(texts) < 500:
        text = rng.choice(makers)()
        if text not in texts:
            texts.append(text)
    return texts
