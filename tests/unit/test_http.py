"""The shared hosted-call machinery: retries, Retry-After, time bounds, error mapping, secrets."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from fakes.hosted import KEY, status, timeout
from shoal import (
    AuthenticationError,
    ConfigurationError,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    RetryPolicy,
)
from shoal._http import JSONService, redact, retry_after


class Clock:
    """A fake monotonic clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def service(replies: list, *, policy: RetryPolicy | None = None, clock: Clock | None = None):
    """A JSONService whose server gives `replies` in turn, then 200 {"ok": true}."""
    queue = list(replies)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if queue:
            return queue.pop(0)(request)
        return httpx.Response(200, json={"ok": True})

    clock = clock or Clock()
    svc = JSONService(
        provider="Example",
        base_url="https://api.example.test/v1/",
        headers={"Authorization": f"Bearer {KEY}"},
        secret=KEY,
        key_hint="check EXAMPLE_API_KEY",
        retry=policy,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=clock.sleep,
        clock=clock,
    )
    return svc, seen, clock


def test_a_success_posts_json_with_the_key_and_a_user_agent() -> None:
    svc, seen, clock = service([])
    assert svc.post("embeddings", {"a": 1}) == {"ok": True}
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "https://api.example.test/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("shoal/")
    assert request.content == b'{"a":1}' and clock.waits == []


def test_429_with_retry_after_waits_that_long_then_succeeds() -> None:
    svc, seen, clock = service([status(429, {"message": "slow down"}, {"Retry-After": "3"})])
    assert svc.post("x", {}) == {"ok": True}
    assert len(seen) == 2 and len(clock.waits) == 1
    assert 3.0 <= clock.waits[0] <= 3.3  # the server's wait, plus at most 10% jitter


def test_retry_after_ms_and_http_dates_are_honoured() -> None:
    assert retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    seconds = retry_after(httpx.Headers({"retry-after": format_datetime(later, usegmt=True)}))
    assert seconds is not None and 28 <= seconds <= 30
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_backoff_grows_exponentially_with_jitter_when_no_retry_after() -> None:
    policy = RetryPolicy(attempts=5, initial_backoff=1.0, max_backoff=4.0, total_timeout=600)
    svc, _seen, clock = service([status(503)] * 4, policy=policy)
    assert svc.post("x", {}) == {"ok": True}
    ceilings = [1.0, 2.0, 4.0, 4.0]
    assert len(clock.waits) == 4
    for wait, ceiling in zip(clock.waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_repeated_500_gives_up_after_the_attempt_bound_with_a_clear_error() -> None:
    policy = RetryPolicy(attempts=3, initial_backoff=0.1, total_timeout=600)
    svc, seen, clock = service([status(500, {"message": "boom"})] * 10, policy=policy)
    with pytest.raises(ProviderUnavailable) as caught:
        svc.post("x", {})
    assert len(seen) == 3 and len(clock.waits) == 2
    message = str(caught.value)
    assert "500" in message and "boom" in message and "gave up after 3 attempt(s)" in message
    assert caught.value.status == 500 and caught.value.provider == "Example"


def test_total_time_is_bounded_even_with_attempts_left() -> None:
    policy = RetryPolicy(attempts=100, initial_backoff=10, max_backoff=10, total_timeout=25)
    clock = Clock()
    svc, seen, clock = service([status(502)] * 100, policy=policy, clock=clock)
    with pytest.raises(ProviderUnavailable, match="total_timeout"):
        svc.post("x", {})
    assert sum(clock.waits) <= 25 and 2 <= len(seen) <= 5


def test_a_retry_after_past_the_bound_fails_at_once_and_reports_it() -> None:
    policy = RetryPolicy(total_timeout=60)
    svc, seen, clock = service([status(429, {}, {"Retry-After": "3600"})], policy=policy)
    with pytest.raises(RateLimited) as caught:
        svc.post("x", {})
    assert caught.value.retry_after == 3600 and clock.waits == [] and len(seen) == 1


def test_quota_exhaustion_is_not_retried() -> None:
    body = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
    svc, seen, _clock = service([status(429, body)])
    with pytest.raises(RateLimited, match="quota"):
        svc.post("x", {})
    assert len(seen) == 1


def test_timeouts_are_retried_then_reported_as_unavailable() -> None:
    policy = RetryPolicy(attempts=2, initial_backoff=0.1)
    svc, seen, _clock = service([timeout(), timeout()], policy=policy)
    with pytest.raises(ProviderUnavailable, match="did not answer") as caught:
        svc.post("x", {})
    assert isinstance(caught.value.__cause__, httpx.TimeoutException) and len(seen) == 2
    svc, seen, _clock = service([timeout()])
    assert svc.post("x", {}) == {"ok": True}


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (400, RequestRejected),
        (404, RequestRejected),
        (422, RequestRejected),
    ],
)
def test_client_errors_fail_at_once_mapped_into_the_tree(code: int, error: type) -> None:
    svc, seen, clock = service([status(code, {"error": {"message": "nope"}})])
    with pytest.raises(error) as caught:
        svc.post("x", {})
    assert isinstance(caught.value, ProviderError) and caught.value.status == code
    assert len(seen) == 1 and clock.waits == [] and "nope" in str(caught.value)


def test_a_key_echoed_by_the_server_never_reaches_the_message() -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}. Bearer {KEY}"}}
    svc, _seen, _clock = service([status(401, body)])
    with pytest.raises(AuthenticationError) as caught:
        svc.post("x", {})
    text = str(caught.value)
    assert KEY not in text and KEY[:12] not in text and "EXAMPLE_API_KEY" in text
    assert "***" in text


def test_redact_hides_key_shaped_strings() -> None:
    assert redact("key sk-abcdef123456 and secret", "secret") == "key *** and ***"


def test_malformed_json_is_a_clear_error_not_retried() -> None:
    svc, seen, _clock = service([status(200, "<html>gateway</html>")])
    with pytest.raises(MalformedResponse, match="not JSON"):
        svc.post("x", {})
    assert len(seen) == 1


def test_an_unreachable_server_is_unavailable(unused_port: int) -> None:
    svc = JSONService(
        provider="Example",
        base_url=f"http://127.0.0.1:{unused_port}",
        headers={},
        secret=None,
        key_hint="",
        retry=RetryPolicy(attempts=2, initial_backoff=0.01),
    )
    with pytest.raises(ProviderUnavailable, match="cannot reach Example"):
        svc.post("x", {})
    svc.close()


def test_policy_rejects_impossible_settings() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(total_timeout=0)


def test_real_time_wait_for_retry_after_ms() -> None:
    svc = JSONService(
        provider="Example",
        base_url="https://api.example.test",
        headers={},
        secret=None,
        key_hint="",
        client=httpx.Client(transport=httpx.MockTransport(_two_step())),
    )
    started = time.monotonic()
    assert svc.post("x", {}) == [1]
    assert time.monotonic() - started >= 0.2


def _two_step():
    answers = [
        httpx.Response(429, headers={"retry-after-ms": "200"}),
        httpx.Response(200, json=[1]),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    return handler


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
