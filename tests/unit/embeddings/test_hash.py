"""The hash embedder: deterministic, normalised, word overlap shows in cosine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import shoal
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import ConfigurationError


def test_same_text_same_vector_across_instances_and_processes() -> None:
    text = "The quick brown fox"
    vector = HashEmbedder("64").embed_query(text)
    np.testing.assert_array_equal(vector, HashEmbedder("64").embed_query(text))
    # blake2b, not Python's salted hash(): another interpreter agrees.
    code = (
        "import shoal; v = shoal.embedder('hash:64').embed_query('The quick brown fox'); "
        "print(','.join(repr(float(x)) for x in v))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    np.testing.assert_array_equal(np.array([float(x) for x in out.split(",")], np.float32), vector)


def test_vectors_are_unit_length() -> None:
    texts = ["a", "cat", "the cat sat on the mat", "word " * 200, "!!!", "日本語 テキスト"]
    vectors = HashEmbedder("16").embed_documents(texts)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_case_and_punctuation_do_not_matter() -> None:
    embedder = HashEmbedder("64")
    np.testing.assert_array_equal(
        embedder.embed_query("The CAT, sat!"), embedder.embed_query("the cat sat")
    )


def test_punctuation_only_text_gets_a_fixed_unit_vector() -> None:
    vectors = HashEmbedder("8").embed_documents(["!!!", "?"])
    expected = np.zeros(8, np.float32)
    expected[0] = 1.0
    np.testing.assert_array_equal(vectors, [expected, expected])


def test_shared_words_give_a_higher_cosine() -> None:
    embedder = HashEmbedder("256")
    query = embedder.embed_query("the cat sat on the mat")
    close, far = embedder.embed_documents(["a cat on a mat", "stock markets fell sharply today"])
    assert float(query @ close) > float(query @ far) + 0.3


def test_different_dimensions_give_different_lengths() -> None:
    assert HashEmbedder("8").embed_query("cat").shape == (8,)
    assert shoal.embedder("hash:3").embed_query("cat").shape == (3,)


@pytest.mark.parametrize("model", ["0", "-4", "x", "", "1.5", "64d"])
def test_non_positive_or_non_integer_dimensions_are_rejected(model: str) -> None:
    with pytest.raises(ConfigurationError, match="positive dimension count"):
        HashEmbedder(model)


@pytest.mark.parametrize("name", ["hash:0", "hash:x"])
def test_bad_names_are_rejected_through_the_registry(name: str) -> None:
    with pytest.raises(ConfigurationError, match=repr(name.split(":")[1])):
        shoal.embedder(name)


def test_spec_values() -> None:
    spec = HashEmbedder("48").spec
    assert spec.provider == "hash"
    assert spec.model == "48"
    assert spec.dimensions == 48
    assert spec.normalized is True
    assert spec.metric == "cosine"
    assert spec.name == "hash:48"
    assert shoal.embedder(spec.name).spec == spec
