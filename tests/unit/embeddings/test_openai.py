"""`openai:` against a fake of OpenAI's documented HTTP API (and OpenAI-compatible servers)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import httpx
import numpy as np
import pytest

import shoal
from fakes.hosted import KEY, FakeOpenAI, fake_vector, serve, status, timeout
from shoal import (
    AuthenticationError,
    ConfigurationError,
    EmbeddingError,
    EmptyText,
    InvalidInput,
    MalformedResponse,
    OpenAIEmbedder,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    RetryPolicy,
)

FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def make(
    fake: FakeOpenAI, model: str = "text-embedding-3-small", **options: object
) -> OpenAIEmbedder:
    options.setdefault("retry", FAST)
    return OpenAIEmbedder(model, http_client=fake.client(), **options)  # type: ignore[arg-type]


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_request_is_the_documented_one_and_vectors_come_back_in_order(key: str) -> None:
    fake = FakeOpenAI()
    texts = ["The cat sat on the mat", "A dog", "Stocks fell"]
    vectors = make(fake).embed_documents(texts)
    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body == {"model": "text-embedding-3-small", "input": texts, "encoding_format": "base64"}
    assert vectors.dtype == np.float32 and vectors.shape == (3, 1536)
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(
            vector, fake_vector(text, 1536, "text-embedding-3-small"), atol=1e-6
        )


def test_queries_embed_like_documents_and_the_spec_describes_the_model(key: str) -> None:
    model = make(FakeOpenAI(), "text-embedding-ada-002")
    query = model.embed_query("A dog")
    np.testing.assert_allclose(query, model.embed_documents(["A dog"])[0])
    spec = model.spec
    assert (spec.name, spec.dimensions, spec.normalized, spec.metric) == (
        "openai:text-embedding-ada-002",
        1536,
        True,
        "cosine",
    )
    assert spec.options == {}


def test_dimensions_shorten_text_embedding_3_vectors(key: str) -> None:
    fake = FakeOpenAI()
    model = make(fake, "text-embedding-3-large", dimensions=256)
    vectors = model.embed_documents(["one", "two"])
    assert json.loads(fake.requests[0].content)["dimensions"] == 256
    assert vectors.shape == (2, 256) and model.spec.dimensions == 256
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    expected = unit(fake_vector("one", 3072, "text-embedding-3-large")[:256])
    np.testing.assert_allclose(vectors[0], expected, atol=1e-6)
    assert model.spec.options == {"dimensions": 256}
    with pytest.raises(ConfigurationError, match="only text-embedding-3"):
        OpenAIEmbedder("text-embedding-ada-002", dimensions=256)


def test_a_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigurationError, match=r"set OPENAI_API_KEY in the environment or in a \.env"
    ):
        OpenAIEmbedder()
    with pytest.raises(ConfigurationError, match="MY_KEY"):
        OpenAIEmbedder(api_key_env="MY_KEY")


def test_the_key_comes_from_a_dotenv_file_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / ".env").write_text(f'# keys\nexport OPENAI_API_KEY="{KEY}"\n')
    monkeypatch.chdir(project / "src")  # found in a parent folder, as python-dotenv does
    fake = FakeOpenAI()
    make(fake).embed_query("hello")
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    with pytest.raises(AuthenticationError):
        make(fake).embed_query("hello")


def test_the_key_is_never_stored_printed_or_written_to_a_dataset(key: str, tmp_path: Path) -> None:
    fake = FakeOpenAI()
    model = make(fake)
    assert KEY not in repr(model) and KEY not in json.dumps(model.spec.to_dict())
    ds = shoal.open(str(tmp_path / "kb"), embedder=model)
    ds.add(["a stored text"])
    ds.commit("one")
    stored = b"".join(p.read_bytes() for p in (tmp_path / "kb").rglob("*") if p.is_file())
    assert KEY.encode() not in stored and b"OPENAI_API_KEY" not in stored


def test_401_is_an_authentication_error_without_the_key(key: str) -> None:
    fake = FakeOpenAI(key="sk-the-right-one-000000")
    with pytest.raises(AuthenticationError) as caught:
        make(fake).embed_documents(["x"])
    assert caught.value.status == 401 and KEY not in str(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value) and len(fake.requests) == 1


def test_429_with_retry_after_waits_then_succeeds(key: str) -> None:
    fake = FakeOpenAI(
        script=[status(429, {"error": {"message": "Rate limit"}}, {"Retry-After": "2"})]
    )
    model = make(fake)
    waits: list[float] = []
    model._service._sleep = waits.append  # record the wait instead of sleeping it
    vectors = model.embed_documents(["a", "b"])
    assert vectors.shape == (2, 1536) and len(fake.requests) == 2
    assert len(waits) == 1 and 2.0 <= waits[0] <= 2.2


def test_429_past_the_budget_is_rate_limited(key: str) -> None:
    fake = FakeOpenAI(script=[status(429, {"error": {"message": "Rate limit"}})] * 5)
    with pytest.raises(RateLimited, match="gave up after 3"):
        make(fake).embed_documents(["a"])


def test_repeated_500_gives_up_after_the_bound(key: str) -> None:
    fake = FakeOpenAI(script=[status(500, {"error": {"message": "The server had an error"}})] * 9)
    with pytest.raises(ProviderUnavailable, match=r"500 \(The server had an error\)") as caught:
        make(fake).embed_documents(["a"])
    assert len(fake.requests) == 3 and "gave up after 3 attempt(s)" in str(caught.value)


def test_malformed_json_and_missing_fields_are_malformed_responses(key: str) -> None:
    with pytest.raises(MalformedResponse, match="not JSON"):
        make(FakeOpenAI(script=[status(200, "{not json")])).embed_documents(["a"])
    with pytest.raises(MalformedResponse, match="'data'"):
        make(FakeOpenAI(script=[status(200, {"object": "list"})])).embed_documents(["a"])
    bad_item = {"data": [{"index": 0, "embedding": "***not base64***"}]}
    with pytest.raises(MalformedResponse, match="documented shape"):
        make(FakeOpenAI(script=[status(200, bad_item)])).embed_documents(["a"])


def test_the_wrong_number_of_vectors_is_an_error_not_a_partial_result(key: str) -> None:
    one = [{"object": "embedding", "index": 0, "embedding": [0.1] * 1536}]
    fake = FakeOpenAI(script=[status(200, {"object": "list", "data": one})])
    with pytest.raises(EmbeddingError, match="returned 1 vectors for 2 texts"):
        make(fake).embed_documents(["a", "b"])
    wrong_size = [{"object": "embedding", "index": 0, "embedding": [0.1] * 10}]
    with pytest.raises(EmbeddingError, match="shape"):
        make(FakeOpenAI(script=[status(200, {"data": wrong_size})])).embed_documents(["a"])


def test_a_timeout_is_retried_then_reported(key: str) -> None:
    fake = FakeOpenAI(script=[timeout()] * 5)
    with pytest.raises(ProviderUnavailable, match="did not answer"):
        make(fake).embed_documents(["a"])
    assert len(fake.requests) == 3


def test_a_real_server_that_hangs_hits_the_request_timeout(key: str) -> None:
    fake = FakeOpenAI(script=[timeout(), timeout()])
    policy = RetryPolicy(attempts=2, initial_backoff=0.01, request_timeout=0.3)
    with serve(fake) as url:
        model = OpenAIEmbedder(base_url=f"{url}/v1", api_key_env="OPENAI_API_KEY", retry=policy)
        with pytest.raises(ProviderUnavailable, match="did not answer within"):
            model.embed_documents(["a"])


def test_a_bad_request_is_not_retried(key: str) -> None:
    with pytest.raises(RequestRejected, match="does not exist") as caught:
        make(FakeOpenAI(), "text-embedding-4-imaginary", dimensions=8).embed_documents(["a"])
    assert caught.value.status == 404


def test_requests_stay_within_the_inputs_and_tokens_limits(key: str) -> None:
    fake = FakeOpenAI()
    texts = [f"text number {i} " + "x" * 990 for i in range(700)]  # ~700 KB: over 300k per request
    vectors = make(fake).embed_documents(texts + [f"short {i}" for i in range(3000)])
    assert vectors.shape == (3700, 1536)
    sizes = [len(body["input"]) for body in fake.bodies]
    assert max(sizes) <= 2048 and sum(sizes) == 3700
    assert all(sum(len(t.encode()) for t in body["input"]) <= 300_000 for body in fake.bodies)


def test_requests_run_concurrently_up_to_the_limit(key: str) -> None:
    fake = FakeOpenAI(delay=0.05)
    make(fake, batch_size=10, max_concurrency=3).embed_documents([f"t{i}" for i in range(100)])
    assert len(fake.requests) == 10 and fake.peak == 3
    serial = FakeOpenAI(delay=0.01)
    make(serial, batch_size=10, max_concurrency=1).embed_documents([f"t{i}" for i in range(30)])
    assert serial.peak == 1


def test_a_long_text_is_split_into_windows_and_averaged(key: str) -> None:
    fake = FakeOpenAI()
    long = " ".join(f"word{i}" for i in range(4000))  # ~35 KB: five windows of <= 8,191 bytes
    model = make(fake)
    vector = model.embed_documents([long, "short"])[0]
    windows = [t for t in fake.texts() if t != "short"]
    assert len(windows) == 5 and "".join(windows) == long
    # Bytes only bound the tokens, so the text was first sent whole, and split once refused.
    sent = [json.loads(r.content)["input"] for r in fake.requests]
    assert [long] in sent and len(fake.requests) == 3
    weights = np.array([len(w.encode()) for w in windows], dtype=np.float64)
    parts = np.stack([fake_vector(w, 1536, "text-embedding-3-small") for w in windows])
    expected = unit((parts * weights[:, None]).sum(axis=0) / weights.sum())
    np.testing.assert_allclose(vector, expected, atol=1e-5)
    truncated = make(FakeOpenAI(), long_texts="truncate").embed_documents([long])[0]
    np.testing.assert_allclose(truncated, parts[0], atol=1e-6)
    with pytest.raises(InvalidInput, match="long_texts='split'"):
        make(FakeOpenAI(), long_texts="error").embed_documents(["short", long])


def test_a_long_text_the_service_accepts_is_embedded_whole(key: str) -> None:
    fake = FakeOpenAI(max_input_bytes=10**6)  # as OpenAI with ~4 bytes a token
    long = " ".join(f"word{i}" for i in range(4000))
    vector = make(fake).embed_documents([long])[0]
    np.testing.assert_allclose(vector, fake_vector(long, 1536, "text-embedding-3-small"), atol=1e-6)
    assert len(fake.requests) == 1


def test_exact_token_windows_with_tiktoken(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Words:  # stands in for cl100k_base: a token per word
        def encode(self, text: str, disallowed_special: tuple[()] = ()) -> list[str]:
            return text.split(" ")

        def decode(self, tokens: list[str]) -> str:
            return " ".join(tokens)

    import shoal.embeddings.openai as module

    monkeypatch.setattr(module, "_tiktoken_counter", lambda: module._Tiktoken(Words()))
    fake = FakeOpenAI(max_input_bytes=10**6)  # this fake counts tokens as bytes: lift it
    model = make(fake)
    text = " ".join(["w"] * 9000)  # 9,000 tokens by this count, 17,999 bytes
    model.embed_documents([text])
    assert [len(t.split(" ")) for t in fake.texts()] == [8191, 809]


def test_empty_text_is_refused_before_any_request(key: str) -> None:
    fake = FakeOpenAI()
    with pytest.raises(EmptyText):
        make(fake).embed_documents(["ok", "  "])
    assert fake.requests == []


def test_base64_vectors_decode_exactly(key: str) -> None:
    vector = np.arange(1536, dtype="<f4") / 1536
    body = {"data": [{"index": 0, "embedding": base64.b64encode(vector.tobytes()).decode()}]}
    got = make(FakeOpenAI(script=[status(200, body)])).embed_documents(["a"])[0]
    np.testing.assert_array_equal(got, vector)


def test_an_openai_compatible_server_needs_no_key_and_is_asked_its_dimensions_once() -> None:
    fake = FakeOpenAI(key=None, models={"nomic-embed-text": 768})
    model = OpenAIEmbedder(
        "nomic-embed-text", base_url="http://localhost:11434/v1", http_client=fake.client()
    )
    assert model.spec.dimensions == 768 and len(fake.requests) == 1
    model.embed_documents(["a", "b"])
    assert len(fake.requests) == 2 and "authorization" not in fake.requests[1].headers
    assert json.loads(fake.requests[1].content)["encoding_format"] == "base64"
    assert model.spec.options == {"base_url": "http://localhost:11434/v1"}
    assert model.fingerprint.endswith("|http://localhost:11434/v1")
    assert not model.spec.normalized  # not promised by an unknown model


def test_a_server_that_refuses_base64_is_asked_for_floats_from_then_on(key: str) -> None:
    fake = FakeOpenAI(key=None)
    refused = status(400, {"error": {"message": "encoding_format base64 is not supported"}})
    fake.script = [refused]
    model = OpenAIEmbedder(base_url="http://localhost:8000/v1", http_client=fake.client())
    first = model.embed_documents(["a"])
    model.embed_documents(["b"])
    formats = [json.loads(r.content)["encoding_format"] for r in fake.requests]
    assert formats == ["base64", "float", "float"]
    np.testing.assert_allclose(
        first[0], fake_vector("a", 1536, "text-embedding-3-small"), atol=1e-6
    )
    with pytest.raises(RequestRejected):  # OpenAI itself: a 400 is the request's fault
        make(FakeOpenAI(script=[refused])).embed_documents(["a"])


def test_azure_deployments_use_their_url_and_api_key_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    seen: list[httpx.Request] = []

    def azure(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        texts = json.loads(request.content)["input"]
        data = [{"index": i, "embedding": [0.5] * 1536} for i in range(len(texts))]
        return httpx.Response(200, json={"object": "list", "data": data})

    model = OpenAIEmbedder(
        "text-embedding-3-small",
        base_url="https://myres.openai.azure.com",
        api_version="2024-10-21",
        http_client=httpx.Client(transport=httpx.MockTransport(azure)),
    )
    model.embed_documents(["a"])
    (request,) = seen
    assert request.url.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert request.url.params["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == KEY and "authorization" not in request.headers


def test_a_dataset_rebuilds_its_embedder_from_the_stored_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeOpenAI(key=None, models={"nomic-embed-text": 768})
    with serve(fake) as url:
        model = OpenAIEmbedder("nomic-embed-text", base_url=f"{url}/v1", dimensions=768)
        ds = shoal.open(str(tmp_path / "kb"), embedder=model)
        ds.add(["cats purr", "stocks fell"])
        ds.commit("two")
        again = shoal.open(str(tmp_path / "kb"))  # no embedder given: rebuilt from the spec
        assert again.embedder.spec.options == {"base_url": f"{url}/v1", "dimensions": 768}
        assert again.search("cats purr", k=1)[0].text == "cats purr"


def test_debug_logs_of_every_library_never_show_the_key(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG
    fake = FakeOpenAI(script=[status(429, {"error": {"message": "slow"}}, {"retry-after-ms": "1"})])
    make(fake).embed_documents(["a"])
    with pytest.raises(AuthenticationError):
        make(FakeOpenAI(key="sk-other-0000000000")).embed_documents(["a"])
    with serve(FakeOpenAI()) as url:  # a real connection logs more (httpcore)
        OpenAIEmbedder(base_url=f"{url}/v1", api_key_env="OPENAI_API_KEY").embed_query("a")
    assert "HTTP Request" in caplog.text and KEY not in caplog.text
