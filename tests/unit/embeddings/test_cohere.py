"""`cohere:` against a fake of Cohere's documented v2 embed API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import shoal
from fakes.hosted import KEY, FakeCohere, fake_vector, status, timeout
from shoal import (
    AuthenticationError,
    CohereEmbedder,
    ConfigurationError,
    EmbeddingError,
    MalformedResponse,
    ProviderUnavailable,
    RateLimited,
    RetryPolicy,
)

FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02)
GREETINGS = ["Hello from Cohere!", "Hallo von Cohere!", "您好，来自 Cohere！"]


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    return KEY


def make(
    fake: FakeCohere, model: str = "embed-multilingual-v2.0", **options: object
) -> CohereEmbedder:
    options.setdefault("retry", FAST)
    return CohereEmbedder(model, http_client=fake.client(), **options)  # type: ignore[arg-type]


def test_documents_send_the_documented_request(key: str) -> None:
    fake = FakeCohere()
    vectors = make(fake).embed_documents(GREETINGS)
    (request,) = fake.requests
    assert request.method == "POST" and str(request.url) == "https://api.cohere.com/v2/embed"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "embed-multilingual-v2.0",
        "texts": GREETINGS,
        "input_type": "search_document",
        "embedding_types": ["float"],
        "truncate": "END",
    }
    assert vectors.shape == (3, 768) and vectors.dtype == np.float32
    salt = "embed-multilingual-v2.0|search_document"
    np.testing.assert_allclose(vectors[1], fake_vector(GREETINGS[1], 768, salt), atol=1e-6)


def test_queries_send_search_query(key: str) -> None:
    fake = FakeCohere()
    model = make(fake, "embed-multilingual-v3.0")
    query = model.embed_query("Wo ist der Bahnhof?")
    assert json.loads(fake.requests[0].content)["input_type"] == "search_query"
    salt = "embed-multilingual-v3.0|search_query"
    np.testing.assert_allclose(query, fake_vector("Wo ist der Bahnhof?", 1024, salt), atol=1e-6)
    document = model.embed_documents(["Wo ist der Bahnhof?"])[0]
    assert not np.allclose(query, document)  # the input type changes the vector
    model.embed_queries(["a", "b"])
    assert json.loads(fake.requests[-1].content)["input_type"] == "search_query"


def test_requests_carry_at_most_96_texts(key: str) -> None:
    fake = FakeCohere()
    vectors = make(fake, "embed-english-v3.0").embed_documents([f"text {i}" for i in range(200)])
    assert vectors.shape == (200, 1024)
    assert sorted(len(body["texts"]) for body in fake.bodies) == [8, 96, 96]
    with pytest.raises(ConfigurationError, match="between 1 and 96"):
        make(fake, batch_size=97)


def test_embed_v4_output_dimension(key: str) -> None:
    fake = FakeCohere()
    model = make(fake, "embed-v4.0", dimensions=512)
    assert model.embed_documents(["x"]).shape == (1, 512)
    assert json.loads(fake.requests[0].content)["output_dimension"] == 512
    with pytest.raises(ConfigurationError, match="256, 512, 1024, 1536"):
        make(fake, "embed-v4.0", dimensions=300)
    with pytest.raises(ConfigurationError, match="only 768"):
        make(fake, "embed-multilingual-v2.0", dimensions=512)
    with pytest.raises(ConfigurationError, match="pass dimensions="):
        make(fake, "embed-someday-v9")


def test_keys_missing_or_from_co_api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigurationError, match=r"set COHERE_API_KEY.*local:multilingual-e5-small"
    ):
        CohereEmbedder()
    monkeypatch.setenv("CO_API_KEY", KEY)  # the Cohere SDK's own variable also works
    fake = FakeCohere()
    make(fake).embed_query("hi")
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_401_is_an_authentication_error(key: str) -> None:
    with pytest.raises(AuthenticationError, match="invalid api token") as caught:
        make(FakeCohere(key="another-key-123456")).embed_documents(["a"])
    assert caught.value.status == 401 and KEY not in str(caught.value)
    assert "COHERE_API_KEY" in str(caught.value)


def test_429_retry_after_then_success_and_exhaustion(key: str) -> None:
    fake = FakeCohere(script=[status(429, {"message": "too many"}, {"Retry-After": "1"})])
    model = make(fake)
    waits: list[float] = []
    model._service._sleep = waits.append
    assert model.embed_documents(["a"]).shape == (1, 768)
    assert len(fake.requests) == 2 and 1.0 <= waits[0] <= 1.1
    with pytest.raises(RateLimited):
        make(FakeCohere(script=[status(429, {"message": "too many"})] * 5)).embed_documents(["a"])


def test_repeated_500_malformed_and_timeouts(key: str) -> None:
    fake = FakeCohere(script=[status(500, {"message": "internal"})] * 5)
    with pytest.raises(ProviderUnavailable, match="gave up after 3"):
        make(fake).embed_documents(["a"])
    with pytest.raises(MalformedResponse, match=r"embeddings\.float"):
        make(FakeCohere(script=[status(200, {"id": "x"})])).embed_documents(["a"])
    with pytest.raises(MalformedResponse, match="not JSON"):
        make(FakeCohere(script=[status(200, "oops")])).embed_documents(["a"])
    with pytest.raises(ProviderUnavailable, match="did not answer"):
        make(FakeCohere(script=[timeout()] * 3)).embed_documents(["a"])


def test_the_wrong_number_of_vectors_is_an_error(key: str) -> None:
    body = {"embeddings": {"float": [[0.1] * 768]}, "response_type": "embeddings_by_type"}
    with pytest.raises(EmbeddingError, match="1 vectors for 2 texts"):
        make(FakeCohere(script=[status(200, body)])).embed_documents(["a", "b"])


def test_spec_options_rebuild_the_embedder(key: str) -> None:
    model = make(FakeCohere(), "embed-multilingual-v3.0", truncate="START")
    spec = model.spec
    assert spec.name == "cohere:embed-multilingual-v3.0" and spec.options == {"truncate": "START"}
    again = shoal.embedder(spec.name, **spec.options)
    assert isinstance(again, CohereEmbedder) and again.spec == spec
    assert again.fingerprint == model.fingerprint != make(FakeCohere()).fingerprint
