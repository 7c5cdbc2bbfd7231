"""A fake OpenAI-compatible chat server: POST /v1/chat/completions, streamed or not.

It checks what OpenAI's API reference requires (method, path, bearer key, JSON body with
only documented fields, at most 4 stop strings, not both token limits) and answers with
the documented shapes: server-sent ``chat.completion.chunk`` events ending in
``data: [DONE]``, or one ``chat.completion``. `reply` decides the answer's text from the
messages; stop strings and `max_tokens` (words stand in for tokens) apply as on the real
server. `script` queues failures before the normal answers: `status(...)` and `timeout()`
from `fakes.hosted`, and `malformed()`, `dropped()` and `truncated()` here. Use
`.transport()` for `httpx.MockTransport`, or `serve(fake)` from `fakes.hosted` for a real
server on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from fakes.hosted import KEY, Reply, _Fake, _openai_error, openai_body

__all__ = ["KEY", "FakeChat", "dropped", "malformed", "sse", "truncated"]

_FIELDS = {
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stop",
    "stream", "stream_options", "top_p", "n", "seed", "user",
}  # fmt: skip
_ROLES = {"system", "developer", "user", "assistant"}


def _default_reply(messages: Sequence[dict[str, Any]]) -> str:
    return "Michael Jordan was born on 17 February 1963 [1]."


def chunk(content: str | None, *, finish: str | None = None, model: str = "fake") -> dict[str, Any]:
    """One ``chat.completion.chunk`` carrying `content`."""
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(events: Sequence[Any], *, done: bool = True) -> bytes:
    """`events` as server-sent events (``data: <json>`` and a blank line each), then [DONE]."""
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


def _sse_response(events: Sequence[Any], *, done: bool = True) -> httpx.Response:
    return httpx.Response(
        200, content=sse(events, done=done), headers={"content-type": "text/event-stream"}
    )


def malformed(body: bytes = b"data: {this is not json\n\n") -> Reply:
    """A scripted answer: 200 with an event stream whose data is not JSON."""

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return reply


def truncated(pieces: Sequence[str] = ("Michael ", "Jordan")) -> Reply:
    """A scripted answer: some pieces, then the stream ends cleanly without [DONE]."""

    def reply(request: httpx.Request) -> httpx.Response:
        return _sse_response([chunk(p) for p in pieces], done=False)

    return reply


def dropped(pieces: Sequence[str] = ("Michael ", "Jordan")) -> Reply:
    """A scripted answer: some pieces, then the connection breaks (an httpx transport only)."""

    def reply(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            for piece in pieces:
                yield sse([chunk(piece)], done=False)
            raise httpx.ReadError("connection reset by peer", request=request)

        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    return reply


@dataclass
class FakeChat(_Fake):
    """POST /v1/chat/completions as documented in OpenAI's API reference."""

    path: str = "/v1/chat/completions"
    models: set[str] | None = None  # None: any model name is served
    reply: Callable[[Sequence[dict[str, Any]]], str] = _default_reply
    piece_size: int = 4  # characters per streamed chunk
    ignore_stream: bool = False  # answer one JSON completion even when asked to stream
    sent: list[str] = field(default_factory=list)  # chunks in the order they were produced

    def answer(self, request: httpx.Request) -> httpx.Response:
        """Check the request like OpenAI does, then answer."""
        body = openai_body(request, path=self.path, key=self.key)
        if isinstance(body, httpx.Response):
            return body
        problem = _check(body, self.models)
        if problem:
            return _openai_error(*problem)
        self.bodies.append(body)
        text, finish = self._complete(body)
        if not body.get("stream") or self.ignore_stream:
            return httpx.Response(200, json=_completion(body["model"], text, finish))
        return httpx.Response(
            200,
            content=self._stream(body["model"], text, finish),
            headers={"content-type": "text/event-stream"},
        )

    def _complete(self, body: dict[str, Any]) -> tuple[str, str]:
        text = self.reply(body["messages"])
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
        if cuts:
            return text[: min(cuts)], "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        words = text.split(" ")
        if limit is not None and len(words) > limit:
            return " ".join(words[:limit]), "length"
        return text, "stop"

    def _stream(self, model: str, text: str, finish: str) -> Iterator[bytes]:
        yield sse([{**chunk("", model=model), "choices": [_role_delta()]}], done=False)
        for start in range(0, len(text), self.piece_size):
            piece = text[start : start + self.piece_size]
            self.sent.append(piece)
            yield sse([chunk(piece, model=model)], done=False)
        yield sse([chunk(None, finish=finish, model=model)], done=False)
        # The usage chunk OpenAI sends last when asked: no choices.
        yield sse([{**chunk(None, model=model), "choices": []}])


def _role_delta() -> dict[str, Any]:
    return {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}


def _completion(model: str, text: str, finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _check(body: Any, models: set[str] | None) -> tuple[int, str] | None:
    """(status, message) of OpenAI's answer to an invalid body, or None when it is valid."""
    if not isinstance(body, dict):
        return 400, "The body must be a JSON object."
    unknown = set(body) - _FIELDS
    if unknown:
        return 400, f"Unrecognized request argument supplied: {min(unknown)}"
    if models is not None and body.get("model") not in models:
        return 404, f"The model `{body.get('model')}` does not exist"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "'messages' must be a non-empty array"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return 400, "each message needs a valid 'role'"
        if not isinstance(message.get("content"), str):
            return 400, "each message needs a string 'content'"
    if "max_tokens" in body and "max_completion_tokens" in body:
        return 400, "max_tokens and max_completion_tokens cannot both be set"
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            return 400, f"'{name}' must be a positive integer"
    temperature = body.get("temperature", 1)
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        return 400, "'temperature' must be between 0 and 2"
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            return 400, "'stop' must be a string or an array of strings"
        if len(stop) > 4:
            return 400, "'stop' may hold at most 4 sequences"
    if not isinstance(body.get("stream", False), bool):
        return 400, "'stream' must be a boolean"
    return None
