"""RecursiveCharacterSplitter gives LangChain's chunks, for the same parameters, on varied texts."""

from __future__ import annotations

import random
from typing import Any

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

from fakes.texts import WORDS
from shoal import Document, InvalidInput, RecursiveCharacterSplitter

CJK = "今天天气很好我们去公园散步吧小猫在垫子上睡觉股票市场今天大幅下跌"


def _prose(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 6)):
        sentences = []
        for _ in range(rng.randint(1, 8)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 25))]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", "..."]))
        paragraphs.append(" ".join(sentences) if rng.random() < 0.7 else "\n".join(sentences))
    return rng.choice(["\n\n", "\n\n\n", "\n \n"]).join(paragraphs)


def _code(rng: random.Random) -> str:
    lines = []
    for f in range(rng.randint(1, 5)):
        lines.append(f"def function_{f}(value, other=None):")
        for _ in range(rng.randint(1, 6)):
            indent = "    " * rng.randint(1, 3)
            lines.append(f"{indent}value = value + {rng.randint(0, 99)}  # {rng.choice(WORDS)}")
        lines.append("    return value\n")
    return "\n".join(lines)


def _markdown(rng: random.Random) -> str:
    parts = [f"# {rng.choice(WORDS).title()} notes"]
    for _ in range(rng.randint(1, 4)):
        parts.append(f"## {' '.join(rng.choices(WORDS, k=3))}")
        parts.append(
            "\n".join(f"- {' '.join(rng.choices(WORDS, k=rng.randint(1, 9)))}" for _ in range(3))
        )
        parts.append("```python\nprint('hi')\n```")
    return "\n\n".join(parts)


def _cjk(rng: random.Random) -> str:
    sentences = [
        "".join(rng.choices(CJK, k=rng.randint(5, 40))) + "。" for _ in range(rng.randint(1, 10))
    ]
    return "".join(sentences) if rng.random() < 0.5 else "\n".join(sentences)


def _no_separators(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyzé0123456789", k=rng.randint(0, 400)))


def _odd(rng: random.Random) -> str:
    pieces = ["", " ", "\n", "\n\n", "\t", "  \n  ", "word", "👋🏽", "a\u00a0b", "x" * 120]
    return "".join(rng.choices(pieces, k=rng.randint(0, 40)))


GENERATORS = [_prose, _code, _markdown, _cjk, _no_separators, _odd]
TEXTS = [GENERATORS[i % len(GENERATORS)](random.Random(i)) for i in range(300)]

SETTINGS: list[dict[str, Any]] = [
    {"chunk_size": 1000, "chunk_overlap": 0},  # the seed's parameters
    {"chunk_size": 100, "chunk_overlap": 20},
    {"chunk_size": 40, "chunk_overlap": 10},
    {"chunk_size": 10, "chunk_overlap": 0},
    {"chunk_size": 25, "chunk_overlap": 25},
    {"chunk_size": 60, "chunk_overlap": 5, "keep_separator": False},
    {"chunk_size": 60, "chunk_overlap": 5, "keep_separator": "end"},
    {"chunk_size": 60, "chunk_overlap": 5, "keep_separator": "start"},
    {"chunk_size": 50, "chunk_overlap": 10, "separators": ["\n\n", "\n", "。", " ", ""]},
    {
        "chunk_size": 50,
        "chunk_overlap": 0,
        "separators": [r"\n#{1,2} ", r"\n+", r"\s+", ""],
        "is_separator_regex": True,
    },
    {"chunk_size": 30, "chunk_overlap": 0, "strip_whitespace": False},
    {"chunk_size": 80, "chunk_overlap": 15, "length_function": lambda t: len(t.encode())},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=[str(i) for i in range(len(SETTINGS))])
def test_same_chunks_as_langchain(settings: dict[str, Any]) -> None:
    ours = RecursiveCharacterSplitter(**settings)
    theirs = RecursiveCharacterTextSplitter(**settings)
    for number, text in enumerate(TEXTS):
        assert ours.split_text(text) == theirs.split_text(text), f"text {number}: {text[:80]!r}"


def test_the_comparison_covers_real_splitting() -> None:
    chunks = RecursiveCharacterSplitter(chunk_size=40, chunk_overlap=10).split_text(TEXTS[0])
    assert len(chunks) > 3 and all(len(c) <= 40 for c in chunks)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in TEXTS)
    assert any(text and " " not in text and "\n" not in text for text in TEXTS)


def test_create_documents_matches_langchain_with_start_indexes() -> None:
    metadatas = [{"source": f"doc{i}.txt", "nested": {"n": i}} for i in range(len(TEXTS))]
    ours = RecursiveCharacterSplitter(chunk_size=70, chunk_overlap=20, add_start_index=True)
    theirs = RecursiveCharacterTextSplitter(chunk_size=70, chunk_overlap=20, add_start_index=True)
    got = ours.create_documents(TEXTS, metadatas=metadatas)
    want = theirs.create_documents(TEXTS, metadatas=metadatas)
    assert [(d.text, d.metadata) for d in got] == [(d.page_content, d.metadata) for d in want]
    got[0].metadata["nested"]["n"] = -1  # each chunk holds its own copy of the metadata
    assert metadatas[0]["nested"]["n"] == 0


def test_split_documents_keeps_each_documents_metadata() -> None:
    splitter = RecursiveCharacterSplitter(chunk_size=20, chunk_overlap=0)
    docs = splitter.split_documents([Document("one two three four five six", {"page": 3})])
    assert [d.text for d in docs] == ["one two three four", "five six"]
    assert all(d.metadata == {"page": 3} for d in docs)


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"chunk_size": 0}, "chunk_size must be a positive int"),
        ({"chunk_size": 10, "chunk_overlap": -1}, "chunk_overlap must be an int >= 0"),
        ({"chunk_size": 10, "chunk_overlap": 11}, "larger than chunk_size"),
        ({"keep_separator": "middle"}, "keep_separator must be"),
    ],
)
def test_bad_settings_say_what_is_allowed(options: dict[str, Any], phrase: str) -> None:
    with pytest.raises(InvalidInput, match=phrase):
        RecursiveCharacterSplitter(**options)


def test_bad_inputs_are_clear_errors() -> None:
    splitter = RecursiveCharacterSplitter(chunk_size=10, chunk_overlap=0)
    with pytest.raises(InvalidInput, match="takes a str"):
        splitter.split_text(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not one str"):
        splitter.create_documents("a text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="one per text"):
        splitter.create_documents(["a", "b"], metadatas=[{}])
    assert splitter.split_text("") == []


class WordCounter:
    """Counts words, plus two special tokens, plus one for every 30 characters: a join of
    pieces can take more tokens than the pieces did, as with real subword tokenizers."""

    max_seq_length = 12

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2 + len(text) // 30


def test_for_embedder_measures_in_tokens_and_never_exceeds_the_window() -> None:
    counter = WordCounter()
    splitter = RecursiveCharacterSplitter.for_embedder(counter)
    assert splitter.chunk_size == 10  # the window less the two special tokens
    for text in TEXTS[:120]:
        chunks = splitter.split_text(text)
        assert all(counter.count_tokens(c) <= counter.max_seq_length for c in chunks), text[:80]
    words = " ".join(f"word{i:03d}" for i in range(60))  # 10 words fit, but their join is long
    chunks = splitter.split_text(words)
    assert all(counter.count_tokens(c) <= 12 for c in chunks)
    assert " ".join(chunks) == words


def test_for_embedder_refuses_chunks_longer_than_the_model_reads() -> None:
    with pytest.raises(InvalidInput, match="more than the model reads"):
        RecursiveCharacterSplitter.for_embedder(WordCounter(), chunk_size=11)


@pytest.mark.slow
def test_for_embedder_with_the_local_model_fits_its_window(minilm: Any) -> None:
    splitter = RecursiveCharacterSplitter.for_embedder(minilm, chunk_overlap=20)
    long_text = "\n\n".join(TEXTS[:60])
    chunks = splitter.split_text(long_text)
    assert len(chunks) > 5
    assert all(minilm.count_tokens(c) <= minilm.max_seq_length for c in chunks)
    assert max(minilm.count_tokens(c) for c in chunks) > minilm.max_seq_length // 2  # not tiny
