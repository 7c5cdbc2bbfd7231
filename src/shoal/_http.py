"""Calls to hosted APIs: JSON over httpx, retried with backoff, and failures mapped to Shoal errors.

Written once for every hosted provider (embeddings, and chat models that stream). A call is
retried on 408/409/429/5xx, timeouts and connection failures, waiting the server's
`Retry-After` (or `retry-after-ms`) when it sends one and an exponential backoff with
jitter otherwise, within a bound on attempts and on total time; anything else fails at
once. The API key travels only in a request header: every message that leaves this
module is scrubbed of it.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)
from shoal.settings import api_key

if TYPE_CHECKING:  # httpx loads in ~0.1 s: imported when a hosted provider first calls
    import httpx

__all__ = ["OPENAI_BASE_URL", "JSONService", "RetryPolicy", "openai_service", "redact"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
"""Where OpenAI requests go unless `base_url=` or $OPENAI_BASE_URL says otherwise."""

_RETRIED = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}
_AUTH = {401, 403, 498}  # 498: Cohere's "invalid token"
# Key-like strings that a server may echo in an error ("Incorrect API key provided: sk-...").
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+\S+)")


@dataclass(frozen=True)
class RetryPolicy:
    """How a hosted call is retried: attempts, backoff with jitter, and time bounds in seconds.

    `attempts` counts the first try. Backoff doubles from `initial_backoff` up to
    `max_backoff`, each wait drawn between half and all of it (jitter). A `Retry-After`
    from the server replaces the backoff. No call, waits included, runs past
    `total_timeout`; each HTTP request gets at most `request_timeout`.
    """

    attempts: int = 6
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    request_timeout: float = 60.0
    total_timeout: float = 180.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        for name in ("initial_backoff", "max_backoff", "request_timeout", "total_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"RetryPolicy.{name} must be > 0 seconds")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), with jitter."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return float(ceiling * rng.uniform(0.5, 1.0))


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret` and anything shaped like an API key replaced by '***'."""
    if secret:
        text = text.replace(secret, "***")
    return _KEYLIKE.sub("***", text)


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, or `Retry-After` in seconds or as a date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class JSONService:
    """One hosted API: a base URL, auth headers and a retried JSON POST; safe across threads."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        secret: str | None,
        key_hint: str,
        retry: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        from shoal._version import __version__  # importlib.metadata: paid by hosted calls only

        self._headers = {"User-Agent": f"shoal/{__version__}", **headers}
        self._secret = secret
        self._key_hint = key_hint
        self._client = client
        self._own_client = client is None
        self._lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"JSONService({self.provider!r}, {self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP connections this service opened (not an injected client)."""
        with self._lock:
            if self._own_client and self._client is not None:
                self._client.close()
                self._client = None

    def post(
        self, path: str, body: Mapping[str, Any], *, params: Mapping[str, str] | None = None
    ) -> Any:
        """POST `body` as JSON to `path` and return the decoded JSON answer.

        Raises:
            AuthenticationError, RequestRejected, MalformedResponse: at once.
            RateLimited, ProviderUnavailable: when the retry budget is spent.
        """
        url = self._url(path)
        response = self._attempt(
            lambda timeout: self._http().post(
                url, json=body, params=params, headers=self._headers, timeout=timeout
            )
        )
        return self._decode(response)

    def stream_lines(self, path: str, body: Mapping[str, Any]) -> Iterator[str]:
        """POST `body` as JSON to `path` and yield the answer's lines as they arrive.

        Failures before the answer starts are retried and mapped exactly as `post` does;
        once lines have been yielded nothing is retried, and a connection that drops (or
        a pause longer than `RetryPolicy.request_timeout`) raises ProviderUnavailable.

        Raises:
            AuthenticationError, RequestRejected: at once.
            RateLimited, ProviderUnavailable: when the retry budget is spent, or mid-answer.
        """
        import httpx

        url = self._url(path)

        def send(timeout: float) -> httpx.Response:
            client = self._http()
            request = client.build_request(
                "POST", url, json=body, headers=self._headers, timeout=timeout
            )
            return client.send(request, stream=True)

        response = self._attempt(send)
        try:
            yield from response.iter_lines()
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(
                f"{self.provider} stopped sending in the middle of its answer "
                f"({type(exc).__name__}); try again",
                provider=self.provider,
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"the connection to {self.provider} dropped in the middle of its answer "
                f"({self._clean(str(exc))}); try again",
                provider=self.provider,
            ) from exc
        finally:
            response.close()

    # ----------------------------------------------------------------- private
    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _attempt(self, send: Callable[[float], httpx.Response]) -> httpx.Response:
        """The first successful response of `send(timeout)`, retried by the policy."""
        import httpx

        policy = self.retry
        started = self._clock()
        deadline = started + policy.total_timeout
        attempt = 0
        while True:
            attempt += 1
            timeout = max(0.001, min(policy.request_timeout, deadline - self._clock()))
            wait: float | None = None
            cause: Exception | None = None
            try:
                response = send(timeout)
                if not response.is_success:
                    response.read()  # a streamed error body, for its message
                    response.close()
            except httpx.TimeoutException as exc:
                cause = exc
                failure: ProviderError = ProviderUnavailable(
                    f"{self.provider} did not answer within {timeout:.0f} s ({type(exc).__name__})",
                    provider=self.provider,
                )
            except httpx.TransportError as exc:
                cause = exc
                failure = ProviderUnavailable(
                    f"cannot reach {self.provider} at {self.base_url} ({self._clean(str(exc))}); "
                    "check the network and the base URL",
                    provider=self.provider,
                )
            else:
                if response.is_success:
                    return response
                failure = self._failure(response)
                if response.status_code not in _RETRIED or _quota_exhausted(response):
                    raise failure
                wait = retry_after(response.headers)
            if wait is None:
                wait = policy.backoff(attempt, self._rng)
            else:
                wait += self._rng.uniform(0, min(1.0, 0.1 * wait))  # no herd at the boundary
            spent = self._clock() - started
            if attempt >= policy.attempts or self._clock() + wait > deadline:
                raise self._give_up(failure, attempt, spent, wait) from cause
            self._sleep(wait)

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=True)
            return self._client

    def _clean(self, text: str) -> str:
        return redact(text, self._secret)

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            start = self._clean(response.text[:80])
            raise MalformedResponse(
                f"{self.provider} answered {response.status_code} with a body that is not JSON "
                f"(it starts {start!r}); check that the base URL {self.base_url} is the API's",
                provider=self.provider,
                status=response.status_code,
            ) from exc

    def _failure(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        said = self._clean(_server_message(response))
        where = f"{self.provider} answered {status} ({said})"
        if status in _AUTH:
            action = (
                f"the key lacks access to this model or endpoint; {self._key_hint}"
                if status == 403
                else f"the API key was refused; {self._key_hint}"
            )
            return AuthenticationError(f"{where}: {action}", provider=self.provider, status=status)
        if status == 429:
            hint = (
                "the account's quota is used up; check the plan and billing"
                if _quota_exhausted(response)
                else "too many requests; lower max_concurrency or try again later"
            )
            return RateLimited(
                f"{where}: {hint}",
                provider=self.provider,
                status=status,
                retry_after=retry_after(response.headers),
            )
        if status in _RETRIED or status >= 500:
            return ProviderUnavailable(
                f"{where}: the service is failing; try again later",
                provider=self.provider,
                status=status,
            )
        hint = "check the model name and the base URL" if status == 404 else "fix the request"
        return RequestRejected(f"{where}: {hint}", provider=self.provider, status=status)

    def _give_up(
        self, failure: ProviderError, attempts: int, spent: float, wait: float
    ) -> ProviderError:
        why = (
            f"the next wait ({wait:.1f} s) would pass RetryPolicy.total_timeout "
            f"({self.retry.total_timeout:.0f} s)"
            if attempts < self.retry.attempts
            else f"RetryPolicy.attempts ({self.retry.attempts}) is spent"
        )
        message = f"{failure} [gave up after {attempts} attempt(s) in {spent:.1f} s: {why}]"
        if isinstance(failure, RateLimited):
            return RateLimited(
                message,
                provider=self.provider,
                status=failure.status,
                retry_after=failure.retry_after,
            )
        return type(failure)(message, provider=self.provider, status=failure.status)


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        return text[:200] if text else response.reason_phrase or "no message"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for field in ("message", "detail", "error"):
            if isinstance(body.get(field), str):
                return str(body[field])
    return json.dumps(body)[:200]


def _quota_exhausted(response: httpx.Response) -> bool:
    # OpenAI answers 429 with code "insufficient_quota" when billing, not pace, is the limit.
    if response.status_code != 429:
        return False
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == "insufficient_quota"


def openai_service(
    *,
    base_url: str | None,
    api_key_env: str | None,
    azure: bool = False,
    retry: RetryPolicy | None = None,
    client: httpx.Client | None = None,
    offline: str = "",
) -> JSONService:
    """A service for OpenAI's API or a server that speaks it (embeddings and chat alike).
    `offline` names what works without a key, for the missing-key message.

    The base URL is `base_url`, else $OPENAI_BASE_URL, else OpenAI's. The key comes from
    `api_key_env` (default ``OPENAI_API_KEY``, or ``AZURE_OPENAI_API_KEY`` on Azure) in
    the environment or `.env`; it is required by OpenAI and Azure, and by any server when
    `api_key_env` is named, and optional elsewhere (local servers need none). Azure takes
    it in an ``api-key`` header, everyone else as a bearer token.

    Raises:
        ConfigurationError: the key is required and missing.
    """
    root = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
    hosted = root == OPENAI_BASE_URL
    variable = api_key_env or ("AZURE_OPENAI_API_KEY" if azure else "OPENAI_API_KEY")
    key = api_key(variable)
    if key is None and (hosted or azure or api_key_env is not None):
        raise ConfigurationError(
            f"no API key for {root}: set {variable} in the environment or in a .env file"
            + (f"; offline, with no key, {offline}" if offline else "")
        )
    headers: dict[str, str] = {}
    if key:
        headers = {"api-key": key} if azure else {"Authorization": f"Bearer {key}"}
    return JSONService(
        provider="OpenAI" if hosted else f"OpenAI-compatible server {root}",
        base_url=root,
        headers=headers,
        secret=key,
        key_hint=f"check {variable}",
        retry=retry,
        client=client,
    )
