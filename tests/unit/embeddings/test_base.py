"""The shared Embedder code (validation, batching, output checks), driven through the hash embedder."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from shoal.embeddings import Embedder
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import EmbeddingError, EmptyText, InvalidInput
from shoal.types import EmbedderSpec, TextKind

D = 32


@pytest.fixture
def hasher() -> HashEmbedder:
    return HashEmbedder(str(D))


def test_empty_list_gives_an_empty_float32_matrix(hasher: HashEmbedder) -> None:
    out = hasher.embed_documents([])
    assert out.shape == (0, D)
    assert out.dtype == np.float32


def test_documents_are_float32_rows_in_input_order(hasher: HashEmbedder) -> None:
    texts = ["alpha", "beta gamma", "delta"]
    out = hasher.embed_documents(texts)
    assert out.shape == (3, D)
    assert out.dtype == np.float32
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(out[i], hasher.embed_batch([text], kind="document")[0])


@pytest.mark.parametrize("bad", ["", " ", "\t\n  ", "\u3000"])
def test_empty_or_whitespace_text_names_its_index(hasher: HashEmbedder, bad: str) -> None:
    with pytest.raises(EmptyText, match="index 2"):
        hasher.embed_documents(["one", "two", bad, "four"])
    with pytest.raises(EmptyText, match="index 0"):
        hasher.embed_query(bad)


def test_empty_text_is_invalid_input_and_value_error(hasher: HashEmbedder) -> None:
    with pytest.raises(InvalidInput):
        hasher.embed_documents([""])
    with pytest.raises(ValueError):
        hasher.embed_documents([""])


@pytest.mark.parametrize(
    ("bad", "type_name"), [(None, "NoneType"), (3, "int"), (b"bytes", "bytes"), (["x"], "list")]
)
def test_non_str_item_names_its_index_and_type(
    hasher: HashEmbedder, bad: object, type_name: str
) -> None:
    with pytest.raises(InvalidInput, match=rf"index 1 is a {type_name}, not a str"):
        hasher.embed_documents(["ok", bad])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", ["a single string", b"bytes"])
def test_bare_string_passed_to_embed_documents_is_rejected(
    hasher: HashEmbedder, bad: object
) -> None:
    with pytest.raises(InvalidInput, match="not a single string"):
        hasher.embed_documents(bad)  # type: ignore[arg-type]


def test_non_iterable_texts_are_rejected(hasher: HashEmbedder) -> None:
    with pytest.raises(InvalidInput, match="list of strings, got int"):
        hasher.embed_documents(5)  # type: ignore[arg-type]


def test_texts_may_be_any_iterable_of_str(hasher: HashEmbedder) -> None:
    texts = ("cat", "dog")
    from_iterator = hasher.embed_documents(iter(texts))  # type: ignore[arg-type]
    np.testing.assert_array_equal(from_iterator, hasher.embed_documents(texts))


def test_embed_query_is_one_vector_equal_to_the_document_row(hasher: HashEmbedder) -> None:
    query = hasher.embed_query("the cat sat")
    assert query.shape == (D,)
    assert query.dtype == np.float32
    np.testing.assert_array_equal(query, hasher.embed_documents(["the cat sat"])[0])


def test_embed_query_rejects_a_list(hasher: HashEmbedder) -> None:
    with pytest.raises(InvalidInput, match="use embed_documents"):
        hasher.embed_query(["a", "b"])  # type: ignore[arg-type]


class Recording(HashEmbedder):
    """A hash embedder that records the batches it is given."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(str(D))
        self.batch_size = batch_size
        self.batches: list[list[str]] = []
        self.kinds: list[TextKind] = []

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        self.batches.append(list(texts))
        self.kinds.append(kind)
        return super().embed_batch(texts, kind=kind)


def test_batches_are_small_and_the_order_is_restored() -> None:
    texts = [
        "x",
        "a much longer text with many words in it",
        "mid length text",
        "tiny",
        "another fairly long text about cats and dogs",
        "short one",
        "z",
    ]
    recording = Recording(batch_size=2)
    out = recording.embed_documents(texts)
    assert [len(b) for b in recording.batches] == [2, 2, 2, 1]
    assert sorted(t for batch in recording.batches for t in batch) == sorted(texts)
    # Sorted longest first, so texts of similar length share a batch.
    assert set(recording.batches[0]) == {texts[1], texts[4]}
    expected = HashEmbedder(str(D)).embed_batch(texts, kind="document")
    np.testing.assert_array_equal(out, expected)
    assert set(recording.kinds) == {"document"}


def test_query_is_embedded_with_the_query_kind() -> None:
    recording = Recording(batch_size=4)
    recording.embed_query("hello")
    assert recording.kinds == ["query"]


class Bad(Embedder):
    """An embedder whose provider returns whatever the test tells it to."""

    def __init__(self, make: Callable[[int], np.ndarray]) -> None:
        self.make = make

    @property
    def spec(self) -> EmbedderSpec:
        return EmbedderSpec(provider="bad", model="m", dimensions=4, normalized=False)

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        return self.make(len(texts))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda n: np.zeros((n, 3), np.float32), r"shape \(2, 3\).*expected \(2, 4\)"),
        (lambda n: np.zeros((n + 1, 4), np.float32), r"shape \(3, 4\)"),
        (lambda n: np.zeros((n * 4,), np.float32), r"shape \(8,\)"),
        (lambda n: np.full((n, 4), np.nan, np.float32), "NaN or infinite"),
        (lambda n: np.array([[0, 0, 0, np.inf]] * n, np.float32), "NaN or infinite"),
    ],
)
def test_wrong_provider_output_raises_embedding_error(
    make: Callable[[int], np.ndarray], message: str
) -> None:
    bad = Bad(make)
    with pytest.raises(EmbeddingError, match=message) as info:
        bad.embed_documents(["a", "b"])
    assert "bad:m" in str(info.value)


def test_provider_float64_output_is_returned_as_float32() -> None:
    bad = Bad(lambda n: np.ones((n, 4), np.float64))
    out = bad.embed_documents(["a", "b"])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.ones((2, 4), np.float32))


def test_repr_names_the_embedder(hasher: HashEmbedder) -> None:
    assert repr(hasher) == f"HashEmbedder('hash:{D}')"
