"""`openai:` chat answers against a fake OpenAI-compatible chat server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from fakes.chat import KEY, FakeChat, chunk, dropped, malformed, sse, truncated
from fakes.hosted import serve, status, timeout
from shoal import (
    AuthenticationError,
    ConfigurationError,
    MalformedResponse,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    RetryPolicy,
)
from shoal.qa._llm import Message, llm
from shoal.qa.openai import OpenAIChat

FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02)
QUESTION = [
    Message("system", "Answer from the sources."),
    Message("user", "Sources:\n[1] Michael Jordan was born in 1963.\n\nQuestion: When?"),
]


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def make(fake: FakeChat, model: str = "gpt-4o-mini", **options: object) -> OpenAIChat:
    options.setdefault("retry", FAST)
    return OpenAIChat(model, http_client=fake.client(), **options)  # type: ignore[arg-type]


def test_the_request_is_the_documented_streaming_one(key: str) -> None:
    fake = FakeChat()
    answer = make(fake).generate(QUESTION, max_tokens=50, temperature=0.0, stop=["\n\n"])
    assert answer == "Michael Jordan was born on 17 February 1963 [1]."
    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer from the sources."},
            {"role": "user", "content": QUESTION[1].content},
        ],
        "max_completion_tokens": 50,
        "temperature": 0.0,
        "stop": ["\n\n"],
        "stream": True,
    }


def test_a_compatible_server_gets_max_tokens_and_needs_no_key() -> None:
    fake = FakeChat(key=None)
    model = make(fake, "llama3.2", base_url="http://localhost:11434/v1")
    assert model.generate(QUESTION, max_tokens=3) == "Michael Jordan was"
    (body,) = fake.bodies
    assert body["max_tokens"] == 3 and "max_completion_tokens" not in body
    assert "authorization" not in fake.requests[0].headers
    assert model.name == "openai:llama3.2" and model.kind == "chat"


def test_pieces_arrive_in_order_as_the_server_sends_them(key: str) -> None:
    fake = FakeChat(piece_size=5)
    received: list[tuple[int, str]] = []
    for piece in make(fake).stream(QUESTION):
        received.append((len(fake.sent), piece))
    pieces = [p for _, p in received]
    assert "".join(pieces) == "Michael Jordan was born on 17 February 1963 [1]."
    assert pieces == fake.sent
    # Each piece reached the caller before the server had produced the next one.
    assert [sent for sent, _ in received] == list(range(1, len(pieces) + 1))


def test_stop_strings_end_the_answer(key: str) -> None:
    fake = FakeChat()
    assert make(fake).generate(QUESTION, stop=[" born"]) == "Michael Jordan was"


def test_more_than_four_stop_strings_are_applied_by_the_client(key: str) -> None:
    fake = FakeChat()
    stops = ["zz1", "zz2", "zz3", "zz4", " born"]
    assert make(fake).generate(QUESTION, stop=stops) == "Michael Jordan was"
    assert fake.bodies[0]["stop"] == stops[:4]


def test_reasoning_models_get_no_temperature_or_stop_and_stops_still_apply(key: str) -> None:
    fake = FakeChat()
    assert make(fake, "o4-mini").generate(QUESTION, stop=[" born"]) == "Michael Jordan was"
    assert "temperature" not in fake.bodies[0] and "stop" not in fake.bodies[0]


def test_429_is_retried_after_the_wait_the_server_asks_then_succeeds(key: str) -> None:
    fake = FakeChat(
        script=[status(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "10"})]
    )
    assert make(fake).generate(QUESTION).endswith("1963 [1].")
    assert len(fake.requests) == 2


def test_repeated_500_gives_up_after_the_attempt_bound(key: str) -> None:
    fake = FakeChat(fail_after=0, outage=status(500, {"error": {"message": "boom"}}))
    with pytest.raises(ProviderUnavailable, match=r"answered 500 .*gave up after 3 attempt") as e:
        make(fake).generate(QUESTION)
    assert len(fake.requests) == 3 and e.value.status == 500


def test_429_past_the_budget_is_rate_limited(key: str) -> None:
    fake = FakeChat(fail_after=0, outage=status(429, {"error": {"message": "slow down"}}))
    with pytest.raises(RateLimited):
        make(fake).generate(QUESTION)
    assert len(fake.requests) == 3


def test_401_is_an_authentication_error_that_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "sk-wrong-key-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    fake = FakeChat()
    with pytest.raises(AuthenticationError, match="check OPENAI_API_KEY") as caught:
        make(fake).generate(QUESTION)
    assert wrong not in str(caught.value) and len(fake.requests) == 1
    assert caught.value.status == 401


def test_an_unknown_model_is_rejected_at_once(key: str) -> None:
    fake = FakeChat(models={"gpt-4o-mini"})
    with pytest.raises(RequestRejected, match="check the model name"):
        make(fake, "gpt-imaginary").generate(QUESTION)
    assert len(fake.requests) == 1


def test_an_event_that_is_not_json_is_a_malformed_response(key: str) -> None:
    fake = FakeChat(script=[malformed()])
    with pytest.raises(MalformedResponse, match="not JSON"):
        make(fake).generate(QUESTION)


def test_a_chunk_without_choices_is_a_malformed_response(key: str) -> None:
    fake = FakeChat(script=[malformed(sse([{"object": "list", "data": []}]))])
    with pytest.raises(MalformedResponse, match="'choices'"):
        make(fake).generate(QUESTION)


def test_a_connection_dropped_mid_answer_is_unavailable_after_the_pieces_so_far(
    key: str,
) -> None:
    fake = FakeChat(script=[dropped(["Michael ", "Jordan"])])
    pieces: list[str] = []
    with pytest.raises(ProviderUnavailable, match="dropped in the middle"):
        pieces.extend(make(fake).stream(QUESTION))
    assert pieces == ["Michael ", "Jordan"] and len(fake.requests) == 1  # never retried


def test_an_error_event_mid_answer_is_unavailable(key: str) -> None:
    body = sse([chunk("Mich"), {"error": {"message": "overloaded"}}])
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        make(FakeChat(script=[malformed(body)])).generate(QUESTION)


def test_a_server_that_ignores_stream_is_read_as_one_completion(key: str) -> None:
    assert make(FakeChat(ignore_stream=True)).generate(QUESTION).endswith("1963 [1].")


def test_a_real_server_streams_and_retries_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    fake = FakeChat(script=[status(503, {"error": {"message": "loading"}})])
    with serve(fake) as url:
        model = OpenAIChat("qwen", base_url=f"{url}/v1", api_key_env="LOCAL_KEY", retry=FAST)
        assert model.generate(QUESTION) == "Michael Jordan was born on 17 February 1963 [1]."
    assert len(fake.requests) == 2


def test_a_stream_that_ends_before_done_is_unavailable_on_loopback() -> None:
    fake = FakeChat(key=None, script=[truncated(["Michael ", "Jordan"])])
    with serve(fake) as url:
        model = OpenAIChat("qwen", base_url=f"{url}/v1", retry=FAST)
        with pytest.raises(ProviderUnavailable, match="ended before it was complete"):
            model.generate(QUESTION)


def test_a_timeout_before_the_answer_is_retried(key: str) -> None:
    fake = FakeChat(script=[timeout()])
    assert make(fake).generate(QUESTION).endswith("[1].")
    assert len(fake.requests) == 2


def test_openai_needs_a_key_and_the_error_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="set OPENAI_API_KEY"):
        OpenAIChat("gpt-4o-mini")


def test_the_registry_builds_it_and_the_key_comes_from_a_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={KEY}\n")
    monkeypatch.chdir(tmp_path)
    fake = FakeChat()
    model = llm("openai:gpt-4o-mini", http_client=fake.client(), retry=FAST)
    assert isinstance(model, OpenAIChat) and model.generate(QUESTION).endswith("[1].")
    assert KEY not in repr(model) and KEY not in repr(vars(model))


def test_context_windows_are_known_for_openai_models_and_overridable(key: str) -> None:
    assert OpenAIChat("gpt-4o-mini").context_window == 128_000
    assert OpenAIChat("gpt-4.1-mini").context_window == 1_047_576
    assert OpenAIChat("llama3", base_url="http://localhost:1/v1").context_window == 8192
    assert OpenAIChat("llama3", base_url="http://x/v1", context_window=4096).context_window == 4096
    with pytest.raises(ConfigurationError, match="context_window"):
        OpenAIChat("gpt-4o", context_window=0)


def test_tokens_are_counted_or_estimated(key: str) -> None:
    hosted = OpenAIChat("gpt-4o-mini")
    other = OpenAIChat("llama3", base_url="http://localhost:1/v1")
    text = "When was Michael Jordan born? " * 20
    for model in (hosted, other):
        assert 100 <= model.count_tokens(text) <= len(text)


def test_the_key_never_reaches_the_logs(key: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve(FakeChat()) as url:
        OpenAIChat("gpt-4o-mini", base_url=f"{url}/v1", api_key_env="OPENAI_API_KEY").generate(
            QUESTION
        )
    assert "HTTP Request" in caplog.text and KEY not in caplog.text


def test_an_injected_client_is_used_as_is(key: str) -> None:
    fake = FakeChat()
    client = httpx.Client(transport=fake.transport())
    model = OpenAIChat("gpt-4o-mini", http_client=client, retry=FAST)
    model.generate(QUESTION)
    model.close()
    assert not client.is_closed
