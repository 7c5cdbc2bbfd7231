"""`openai:` answers from OpenAI or any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp).

The request is the documented streaming one: ``POST {base_url}/chat/completions`` with a
bearer key and ``{"model", "messages", "max_tokens", "temperature", "stop", "stream": true}``;
the answer is server-sent events, ``data: {chunk}`` lines whose
``choices[0].delta.content`` are the pieces, ending with ``data: [DONE]``. A server that
ignores ``stream`` and answers one JSON completion is read too.

OpenAI itself gets ``max_completion_tokens`` in place of ``max_tokens`` (which its
reasoning models refuse), at most 4 stop strings (its limit; the rest are applied here),
and for reasoning models (o1, o3, o4, gpt-5) neither ``temperature`` nor ``stop``, which
they reject; stop strings are then applied here. Other servers get the fields that every
compatible server implements. Retries and error mapping are the embedding providers'
(`shoal._http`): failures before the answer starts are retried; a connection that drops
mid-answer raises `ProviderUnavailable`.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from shoal._http import OPENAI_BASE_URL, RetryPolicy, openai_service, redact
from shoal.errors import ConfigurationError, MalformedResponse, ProviderUnavailable
from shoal.qa._llm import LLM, Message

if TYPE_CHECKING:  # httpx loads in ~0.1 s: only a hosted provider's first call pays it
    import httpx

__all__ = ["DEFAULT_CONTEXT_WINDOW", "OPENAI_BASE_URL", "OpenAIChat"]


DEFAULT_CONTEXT_WINDOW = 8192
"""The context window assumed for a model this module does not know; pass `context_window=`."""

# Longest matching prefix wins. From OpenAI's model pages.
_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.5": 128_000,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
}
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_OPENAI_MAX_STOP = 4


class OpenAIChat(LLM):
    """`openai:<model>`: OpenAI's chat completions API, or any server that speaks it.

    Args:
        model: e.g. ``gpt-4o-mini``; for Ollama or vLLM, the model name the server knows.
        base_url: the API root (``http://localhost:11434/v1`` for Ollama); default
            $OPENAI_BASE_URL, else OpenAI's.
        api_key_env: the variable that holds the key (environment or `.env`); only its
            name is kept. Default ``OPENAI_API_KEY``; required for OpenAI, optional elsewhere.
        retry: retries and time bounds (`RetryPolicy`); `request_timeout` also bounds the
            pause between two pieces of a streamed answer.
        http_client: an httpx client to send with (tests inject a fake transport).
        context_window: the model's window in tokens; known for OpenAI's models, else
            8192 unless given.
    """

    kind = "chat"

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        context_window: int | None = None,
    ) -> None:
        if not model:
            raise ConfigurationError(
                "name the chat model: 'openai:gpt-4o-mini', or the name your server knows"
            )
        if context_window is not None and (isinstance(context_window, bool) or context_window <= 0):
            raise ConfigurationError(
                f"context_window must be a positive int, got {context_window!r}"
            )
        self.model = model
        self._service = openai_service(
            base_url=base_url,
            api_key_env=api_key_env,
            retry=retry,
            client=http_client,
            offline="'extractive' answers (or a GGUF model: 'local:<file or name>')",
        )
        self._hosted_by_openai = self._service.base_url == OPENAI_BASE_URL
        self._reasoning = self._hosted_by_openai and model.startswith(_REASONING_PREFIXES)
        self._window = context_window or _known_window(model) or DEFAULT_CONTEXT_WINDOW
        self._encoding: Any = None

    @property
    def name(self) -> str:
        """``openai:<model>``."""
        return f"openai:{self.model}"

    @property
    def context_window(self) -> int:
        """Tokens the model reads at once: `context_window=`, OpenAI's figure, or 8192."""
        return self._window

    def count_tokens(self, text: str) -> int:
        """Exact for OpenAI's models when tiktoken has its file, else an estimate."""
        if self._hosted_by_openai and self._encoding is None:
            self._encoding = _tiktoken_encoding(self.model) or False
        if self._encoding:
            return max(1, len(self._encoding.encode(text, disallowed_special=())))
        return super().count_tokens(text)

    def close(self) -> None:
        """Close the HTTP connections this model opened (not an injected client)."""
        self._service.close()

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer to `messages`, piece by piece as the server streams it.

        Raises:
            AuthenticationError, RequestRejected, RateLimited, ProviderUnavailable,
            MalformedResponse: as for every hosted provider (see `shoal._http`).
        """
        stops = [s for s in (stop or ()) if s]
        body = self._body(messages, max_tokens=max_tokens, temperature=temperature, stops=stops)
        lines = self._service.stream_lines("chat/completions", body)
        pieces = _pieces(lines, self._service.provider, self._service.base_url)
        # Stops the server was not sent (or may ignore) are applied here.
        if len(stops) > len(body.get("stop") or ()):
            return _cut_at(pieces, stops)
        return pieces

    def _body(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stops: list[str],
    ) -> dict[str, Any]:
        if max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be >= 1, got {max_tokens}")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        body["max_completion_tokens" if self._hosted_by_openai else "max_tokens"] = max_tokens
        if not self._reasoning:
            body["temperature"] = temperature
            if stops:
                body["stop"] = stops[:_OPENAI_MAX_STOP] if self._hosted_by_openai else stops
        return body


def _known_window(model: str) -> int | None:
    matches = [prefix for prefix in _CONTEXT_WINDOWS if model.startswith(prefix)]
    return _CONTEXT_WINDOWS[max(matches, key=len)] if matches else None


def _tiktoken_encoding(model: str) -> Any:
    try:
        import tiktoken  # optional: exact token counts

        return tiktoken.encoding_for_model(model)
    except Exception:  # not installed, unknown model, or its file cannot be fetched offline
        return None


def _pieces(lines: Iterator[str], provider: str, base_url: str) -> Generator[str, None, None]:
    """The text pieces of a server-sent-events chat stream (or of one JSON completion)."""
    try:
        yield from _events(lines, provider, base_url)
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            close()  # the connection goes back now, not when the generator is collected


def _events(lines: Iterator[str], provider: str, base_url: str) -> Iterator[str]:
    data: list[str] = []
    other: list[str] = []
    events = 0
    finished = False
    for line in _with_end(lines):
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line and not line.startswith((":", "event:", "id:", "retry:")):
            other.append(line)
            continue
        if line or not data:
            continue
        payload = "\n".join(data)
        data = []
        events += 1
        if payload.strip() == "[DONE]":
            return
        chunk = _json(payload, provider)
        text, done = _delta(chunk, provider)
        finished = finished or done
        if text:
            yield text
    if events == 0 and other:
        # A server that ignored "stream": true and sent one completion.
        text = _message(_json("\n".join(other), provider, base_url), provider)
        if text:
            yield text
        return
    if not finished:
        raise ProviderUnavailable(
            f"the answer from {provider} ended before it was complete (no [DONE]); try again",
            provider=provider,
        )


def _with_end(lines: Iterator[str]) -> Iterator[str]:
    yield from lines
    yield ""  # the last event needs no blank line after it


def _json(payload: str, provider: str, base_url: str | None = None) -> Any:
    try:
        return json.loads(payload)
    except ValueError as exc:
        where = f"; check that {base_url} is an OpenAI-compatible API" if base_url else ""
        raise MalformedResponse(
            f"{provider} streamed an event that is not JSON "
            f"(it starts {redact(payload[:80], None)!r}){where}",
            provider=provider,
        ) from exc


def _delta(chunk: Any, provider: str) -> tuple[str, bool]:
    """(text, finished) of one ``chat.completion.chunk``."""
    if isinstance(chunk, dict) and "error" in chunk:
        error = chunk["error"]
        said = error.get("message") if isinstance(error, dict) else error
        raise ProviderUnavailable(
            f"{provider} failed in the middle of its answer ({redact(str(said), None)}); try again",
            provider=provider,
        )
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list):
        raise MalformedResponse(
            f"{provider} streamed a chunk without a 'choices' list; is the base URL a chat API?",
            provider=provider,
        )
    if not choices:  # e.g. the usage chunk at the end
        return "", False
    first = choices[0]
    delta = first.get("delta") if isinstance(first, dict) else None
    if not isinstance(delta, dict):
        raise MalformedResponse(
            f"{provider} streamed a choice without a 'delta' object", provider=provider
        )
    content = delta.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"{provider} streamed non-text content", provider=provider)
    return content or "", first.get("finish_reason") is not None


def _message(completion: Any, provider: str) -> str:
    """``choices[0].message.content`` of a whole (non-streamed) chat completion."""
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedResponse(
            f"{provider} answered with a body that is not a chat completion", provider=provider
        ) from exc
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"{provider} answered with non-text content", provider=provider)
    return content or ""


def _cut_at(pieces: Generator[str, None, None], stops: Sequence[str]) -> Iterator[str]:
    """`pieces` up to the first stop string, holding back text that may start one."""
    held = ""
    longest = max(len(s) for s in stops)
    try:
        for piece in pieces:
            held += piece
            found = [i for i in (held.find(s) for s in stops) if i >= 0]
            if found:
                held = held[: min(found)]
                break
            safe = len(held) - (longest - 1)
            if safe > 0:
                yield held[:safe]
                held = held[safe:]
        if held:
            yield held
    finally:
        pieces.close()
