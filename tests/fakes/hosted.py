"""Fakes of the OpenAI and Cohere embedding APIs at the HTTP layer.

Each fake checks what the real API requires (method, path, bearer key, JSON body with
only documented fields, its limits) and answers with the documented shape, or with the
documented error body. `script` queues answers to give before the normal ones
(429s, 500s, malformed bodies...). Use `.transport()` for `httpx.MockTransport`, or
`serve(fake)` for a real server on 127.0.0.1 (the CLI and timeouts need one).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np

KEY = "sk-test-0123456789abcdef"
Reply = Callable[[httpx.Request], httpx.Response]


def fake_vector(text: str, dims: int, salt: str = "") -> np.ndarray:
    """A deterministic unit vector for `text`: equal texts, equal vectors."""
    seed = int.from_bytes(hashlib.blake2b((salt + text).encode(), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """A scripted answer: `code` with a JSON body (or raw text) and headers."""

    def reply(request: httpx.Request) -> httpx.Response:
        if isinstance(body, (str, bytes)):
            return httpx.Response(code, content=body, headers=headers)
        return httpx.Response(code, json=body if body is not None else {}, headers=headers)

    return reply


def timeout() -> Reply:
    """A scripted answer: the request times out."""

    def reply(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    return reply


@dataclass
class _Fake:
    key: str | None = KEY  # None: a local server that asks for no key
    script: list[Reply] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    fail_after: int | None = None  # answer `outage` to every request after this many
    outage: Reply | None = None
    in_flight: int = 0
    peak: int = 0  # most requests in flight at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            scripted = self.script.pop(0) if self.script else None
            if self.fail_after is not None and len(self.requests) > self.fail_after:
                scripted = self.outage or status(503, {"message": "service unavailable"})
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            if scripted is not None:
                return scripted(request)
            return self.answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def answer(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def transport(self) -> httpx.MockTransport:
        """This fake as an httpx transport."""
        return httpx.MockTransport(self)

    def client(self) -> httpx.Client:
        """An httpx client that sends to this fake."""
        return httpx.Client(transport=self.transport())

    def texts(self) -> list[str]:
        """Every text the fake embedded, in request order."""
        out: list[str] = []
        for body in self.bodies:
            out.extend(body.get("input") or body.get("texts") or [])
        return out


@dataclass
class FakeOpenAI(_Fake):
    """POST /v1/embeddings as documented in OpenAI's API reference."""

    path: str = "/v1/embeddings"
    max_input_bytes: int = 8191  # bytes stand in for tokens: a stricter limit the client must meet
    max_request_bytes: int = 300_000
    models: dict[str, int] = field(
        default_factory=lambda: {
            "text-embedding-ada-002": 1536,
            "text-embedding-3-small": 1536,
            "text-embedding-3-large": 3072,
        }
    )

    def answer(self, request: httpx.Request) -> httpx.Response:
        """Check the request like OpenAI does, then embed."""
        body = openai_body(request, path=self.path, key=self.key)
        if isinstance(body, httpx.Response):
            return body
        unknown = set(body) - {"model", "input", "encoding_format", "dimensions", "user"}
        if unknown:
            return _openai_error(400, f"Unrecognized request argument supplied: {min(unknown)}")
        model, inputs = body.get("model"), body.get("input")
        sizes = self.models
        if model not in sizes:
            return _openai_error(404, f"The model `{model}` does not exist", code="model_not_found")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or len(inputs) > 2048:
            return _openai_error(400, "'input' must be a string or an array of 1 to 2048 strings")
        if any(not isinstance(t, str) or not t for t in inputs):
            return _openai_error(400, "'input' items must be non-empty strings")
        # The real limit is 8,191 tokens; bytes are a stricter stand-in the client must meet.
        if any(len(t.encode()) > self.max_input_bytes for t in inputs):
            return _openai_error(400, "This model's maximum context length is 8192 tokens")
        if sum(len(t.encode()) for t in inputs) > self.max_request_bytes:
            return _openai_error(400, "Requested 300001 tokens, max 300000 tokens per request")
        dims = body.get("dimensions", sizes[model])
        if "dimensions" in body and model == "text-embedding-ada-002":
            return _openai_error(400, "This model does not support specifying dimensions.")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return _openai_error(400, "encoding_format must be 'float' or 'base64'")
        self.bodies.append(body)
        data = []
        for index, text in enumerate(inputs):
            vector = fake_vector(text, sizes[model], model)[:dims]
            vector = vector / np.linalg.norm(vector)  # shortened vectors come back normalised
            embedding: Any = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if encoding == "base64"
                else vector.tolist()
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(t.split()) for t in inputs)
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def openai_body(
    request: httpx.Request, *, path: str, key: str | None
) -> dict[str, Any] | httpx.Response:
    """The JSON body of a request OpenAI would accept (method, path, key, content type), or its error."""
    if request.method != "POST" or request.url.path != path:
        return _openai_error(404, f"Invalid URL ({request.method} {request.url.path})")
    if key is not None and request.headers.get("authorization") != f"Bearer {key}":
        given = request.headers.get("authorization", "")[7:]
        return _openai_error(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")
    if request.headers.get("content-type") != "application/json":
        return _openai_error(400, "content-type must be application/json")
    try:
        body = json.loads(request.content)
    except ValueError:
        return _openai_error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return _openai_error(400, "the request body must be a JSON object")
    return body


def _openai_error(http_status: int, message: str, *, code: str | None = None) -> httpx.Response:
    """OpenAI's documented error body."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return httpx.Response(http_status, json={"error": error})


COHERE_MODELS = {
    "embed-multilingual-v2.0": 768,
    "embed-english-v3.0": 1024,
    "embed-multilingual-v3.0": 1024,
    "embed-v4.0": 1536,
}


@dataclass
class FakeCohere(_Fake):
    """POST /v2/embed as documented in Cohere's API reference."""

    def answer(self, request: httpx.Request) -> httpx.Response:
        """Check the request like Cohere does, then embed (the input type changes the vector)."""
        if request.method != "POST" or request.url.path != "/v2/embed":
            return httpx.Response(404, json={"message": f"no route {request.url.path}"})
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return httpx.Response(401, json={"message": "invalid api token"})
        try:
            body = json.loads(request.content)
        except ValueError:
            return httpx.Response(400, json={"message": "invalid request: body is not JSON"})
        allowed = {"model", "texts", "images", "inputs", "input_type", "embedding_types",
                   "truncate", "output_dimension", "max_tokens"}  # fmt: skip
        if set(body) - allowed:
            return httpx.Response(
                400, json={"message": f"unknown field: {sorted(set(body) - allowed)}"}
            )
        model, texts = body.get("model"), body.get("texts")
        if model not in COHERE_MODELS:
            return httpx.Response(404, json={"message": f"model '{model}' not found"})
        if body.get("input_type") not in (
            "search_document",
            "search_query",
            "classification",
            "clustering",
        ):
            return httpx.Response(400, json={"message": "invalid request: input_type is required"})
        if not isinstance(texts, list) or not 1 <= len(texts) <= 96:
            return httpx.Response(
                400, json={"message": "invalid request: texts must have 1 to 96 items"}
            )
        if body.get("truncate", "END") not in ("NONE", "START", "END"):
            return httpx.Response(400, json={"message": "invalid truncate"})
        if body.get("embedding_types", ["float"]) != ["float"]:
            return httpx.Response(400, json={"message": "this fake serves float only"})
        dims = body.get("output_dimension") or COHERE_MODELS[model]
        self.bodies.append(body)
        salt = f"{model}|{body['input_type']}"
        vectors = [fake_vector(t, dims, salt).tolist() for t in texts]
        return httpx.Response(
            200,
            json={
                "id": "a-request-id",
                "embeddings": {"float": vectors},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 1}},
                "response_type": "embeddings_by_type",
            },
        )


@contextlib.contextmanager
def serve(fake: Callable[[httpx.Request], httpx.Response], port: int = 0) -> Iterator[str]:
    """Run `fake` behind a real HTTP server on 127.0.0.1 (`port`, else a free one); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = httpx.Request(
                "POST",
                f"http://127.0.0.1{self.path}",
                headers=dict(self.headers.items()),
                content=self.rfile.read(length),
            )
            try:
                response = fake(request)
                payload = response.read()
            except httpx.TimeoutException:
                time.sleep(3)  # the client's timeout fires first
                return
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
