"""`shoal serve`: datasets held open behind an HTTP API that calls the library's own methods.

`POST /v1/datasets/{name}/{method}` with the method's keyword arguments as a JSON object
runs `Dataset.<method>` on a handle the server keeps open (so searches are warm and every
write goes through the library's one writer path, locks and versions); the answer is
``{"result": ...}`` in the form `shoal.client._wire` reads back. A library error becomes
its HTTP status (`_wire.STATUS`) and ``{"error": {"type", "message"}}``, the message the
library wrote. Reads take an optional ``ref`` (a version, tag or branch); any call takes an
optional ``branch``, the branch whose handle it runs on (main by default).

With a tokens file (`_tokens`), every request but the health probes needs a bearer token
holding the method's scope on the dataset: 401 without a valid one, 403 without the scope,
decided before the dataset is looked up, so neither says which datasets exist; each token
may make `rate` requests a second (bursts of twice that), then gets 429 and Retry-After.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from shoal.analysis import DatasetMap
from shoal.client._wire import (
    ANALYSES,
    WRITING_ANALYSES,
    error_payload,
    status_of,
    to_json,
    warnings_payload,
)
from shoal.errors import (
    AuthenticationError,
    InvalidInput,
    RateLimited,
    ShoalError,
)
from shoal.server._api import METHODS, on_writer, openapi_document, scope_of
from shoal.server._calls import binary_value, collecting, run_analysis, run_method
from shoal.server._datasets import Datasets
from shoal.server._metrics import Metrics
from shoal.server._middleware import AccessLog, TokenBuckets
from shoal.server._tokens import Grant, TokenStore
from shoal.server._ui import PAGE
from shoal.store import Dataset

__all__ = ["ANALYSES", "MAX_BODY_BYTES", "METHODS", "Datasets", "create_app"]

_log = logging.getLogger("shoal.server")

MAX_BODY_BYTES = 64 * 2**20
"""The largest request body taken (64 MiB: about 40,000 384-d vectors as JSON)."""


class _Denied(Exception):
    """A request refused before it reaches a dataset: 401, 403 or 429."""

    def __init__(self, status: int, error: ShoalError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.status, self.error, self.retry_after = status, error, retry_after

    def response(self) -> JSONResponse:
        headers = (
            {"Retry-After": str(max(1, round(self.retry_after)))} if self.retry_after else None
        )
        return JSONResponse(error_payload(self.error), status_code=self.status, headers=headers)


class _Answerer:
    """The server's one answerer (`shoal serve --llm`), built on first use; one answer at a
    time (llama.cpp's model is not thread-safe)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._llm: Any = None
        self.lock = threading.Lock()

    def chain(self, handle: Dataset, options: dict[str, Any]) -> Any:
        from shoal.qa import RetrievalQA, llm

        if self._llm is None:
            self._llm = llm(self.name)
        retriever = handle.as_retriever(**options)
        return RetrievalQA(retriever, self._llm)


_ASK_OPTIONS = {"k", "mode", "where", "search_type", "fetch_k", "lambda_mult", "score_threshold"}


def create_app(
    datasets: Datasets,
    *,
    tokens: TokenStore | None = None,
    rate: float = 0,
    llm: str = "extractive",
    cors_origins: Sequence[str] = (),
) -> Starlette:
    """The ASGI app serving `datasets` (with `tokens`: every request needs one; `rate`:
    requests a second per token, 0 for no limit; `llm`: the answerer `ask` uses;
    `cors_origins`: the web origins whose pages may call it, none by default)."""
    buckets = TokenBuckets(rate)
    metrics = Metrics()
    answerer = _Answerer(llm)

    def grant_of(request: Request) -> Grant | None:
        """The request's verified token (None when the server takes no tokens)."""
        if tokens is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        grant = tokens.verify(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            raise _Denied(
                401,
                AuthenticationError(
                    "this server needs a valid token: send 'Authorization: Bearer <token>' "
                    "(shoal.connect(url, token=...); tokens come from `shoal token create`)"
                ),
            )
        request.state.token = grant.id  # for the access log: the id, never the token
        wait = buckets.take(grant.id)
        if wait is not None:
            raise _Denied(
                429, RateLimited(f"too many requests for this token; retry in {wait:.1f} s"), wait
            )
        return grant

    def need(grant: Grant | None, dataset: str, scope: str) -> None:
        if grant is not None and not grant.allows(dataset, scope):
            raise _Denied(
                403, AuthenticationError(f"this token has no {scope} scope on dataset {dataset!r}")
            )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> JSONResponse:
        names = await run_in_threadpool(datasets.names)
        return JSONResponse(
            {"status": "ready", "datasets": len(names), "tokens": tokens is not None}
        )

    async def page(request: Request) -> HTMLResponse:
        # The page calls only this server; the policy makes the browser hold it to that.
        policy = (
            "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src 'self' data: blob:; media-src blob:; "
            "base-uri 'none'; form-action 'none'"
        )
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": policy})

    async def list_datasets(request: Request) -> JSONResponse:
        try:
            grant = grant_of(request)
        except _Denied as denied:
            return denied.response()
        names = await run_in_threadpool(datasets.names)
        visible = [n for n in names if grant is None or grant.allows(n, "read")]
        return JSONResponse({"datasets": visible})

    async def create_dataset(request: Request) -> JSONResponse:
        try:
            grant = grant_of(request)
            body = await _body(request)
            name, embedder = body.get("name"), body.get("embedder")
            language = body.get("language")
            if not isinstance(name, str):
                raise InvalidInput('a new dataset needs a name: {"name": "docs"}')
            need(grant, name, "admin")
            if embedder is not None and not isinstance(embedder, str):
                raise InvalidInput("embedder must be a name such as 'local:all-MiniLM-L6-v2'")
            if language is not None and not isinstance(language, str):
                raise InvalidInput("language must be a name such as 'german' or 'auto'")
            handle = await run_in_threadpool(datasets.create, name, embedder, language)
            return JSONResponse({"result": to_json(handle.info())}, status_code=201)
        except _Denied as denied:
            return denied.response()
        except ShoalError as exc:
            return _error(exc)

    async def respond(
        request: Request,
        action: str,
        served: Mapping[str, Any],
        what: str,
        scope: Callable[[str], str],
        work: Callable[[Dataset, str, dict[str, Any]], Any],
        writer: Callable[[str], bool] = lambda _: False,
    ) -> JSONResponse:
        """Answer one call of `action` (a method or an analysis) on the request's dataset."""
        name = request.path_params["name"]
        started = time.perf_counter()
        try:
            grant = grant_of(request)
            if action not in served:
                raise InvalidInput(
                    f"unknown {what} {action!r}; the ones served are {', '.join(sorted(served))}"
                )
            need(grant, name, scope(action))
            body = await _body(request)
            handle = await run_in_threadpool(
                functools.partial(datasets.get, writer=writer(action)),
                name,
                body.pop("branch", None),
            )
            result, given = await run_in_threadpool(collecting, work, handle, action, body)
            answer = {"result": to_json(result)}
            if given:  # e.g. a filter naming a field no row has: the client warns again
                answer["warnings"] = warnings_payload(given)
            response = JSONResponse(answer)
        except _Denied as denied:
            response = denied.response()
        except ShoalError as exc:
            response = _error(exc)
        except Exception:  # a bug: the traceback goes to the log, not to the client
            _log.exception("%s/%s failed", name, action)
            response = _error(ShoalError("the server failed on this request; see its log"))
        seconds = time.perf_counter() - started
        # Unknown datasets and actions count as "other": labels stay few whatever clients send.
        label = name if datasets.known(name) else "other"
        metrics.observe(
            label, action if action in served else "other", response.status_code, seconds
        )
        return response

    async def call(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        return await respond(request, method, METHODS, "method", scope_of, run_method, on_writer)

    async def analysis(request: Request) -> JSONResponse:
        function = request.path_params["function"]

        def scope(name: str) -> str:
            return "write" if name in WRITING_ANALYSES else "read"

        return await respond(request, function, ANALYSES, "analysis", scope, run_analysis)

    async def ask(request: Request) -> Response:
        """Server-sent events: `piece` (JSON text) as the answer is written, then `answer`
        (the whole Answer with its sources), or `error`."""
        name = request.path_params["name"]
        started = time.perf_counter()
        try:
            grant = grant_of(request)
            need(grant, name, "read")
            body = await _body(request)
            question = body.pop("question", None)
            if not isinstance(question, str):
                raise InvalidInput('ask needs a question: {"question": "When was X born?"}')
            unknown = sorted(set(body) - _ASK_OPTIONS)
            if unknown:
                raise InvalidInput(
                    f"ask takes no argument {', '.join(map(repr, unknown))}; it takes question, "
                    f"{', '.join(sorted(_ASK_OPTIONS))}"
                )
            handle = await run_in_threadpool(datasets.get, name, body.pop("branch", None))
            # Retrieval and its errors (a bad filter) happen now, before the stream starts.
            chain = await run_in_threadpool(answerer.chain, handle, body)
            stream = await run_in_threadpool(chain.stream, question)
        except _Denied as denied:
            return denied.response()
        except ShoalError as exc:
            return _error(exc)
        metrics.observe(name, "ask", 200, time.perf_counter() - started)

        def events() -> Iterator[str]:
            with answerer.lock:
                try:
                    for piece in stream:
                        yield f"event: piece\ndata: {json.dumps(piece)}\n\n"
                    yield f"event: answer\ndata: {json.dumps(to_json(stream.answer))}\n\n"
                except ShoalError as exc:  # the model failed mid-answer
                    yield f"event: error\ndata: {json.dumps(error_payload(exc))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def media(request: Request) -> Response:
        """The bytes of one row's binary column (an image, a clip), as its content type, so a
        page can show them; ``?ref=`` reads a past version or tag, ``?branch=`` a branch."""
        name, row_id = request.path_params["name"], request.path_params["row_id"]
        column = request.path_params["column"]
        try:
            grant = grant_of(request)
            need(grant, name, "read")
            params = request.query_params
            ref: str | int | None = params.get("ref")
            if isinstance(ref, str) and ref.isdigit():
                ref = int(ref)
            handle = await run_in_threadpool(datasets.get, name, params.get("branch"))
            found = await run_in_threadpool(binary_value, handle, row_id, column, ref)
        except _Denied as denied:
            return denied.response()
        except ShoalError as exc:
            return _error(exc)
        if found is None:
            missing = InvalidInput(f"dataset {name!r} has no row {row_id!r} with a {column} value")
            return JSONResponse(error_payload(missing), status_code=404)
        data, kind = found
        headers = {
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        }
        return Response(data, media_type=kind, headers=headers)

    async def map_page(request: Request) -> JSONResponse:
        """The dataset's embedding map as one HTML page (`project_dataset`'s points drawn as
        `map_dataset` draws them), in a JSON string."""

        def draw(handle: Dataset, _: str, body: dict[str, Any]) -> str:
            chart: DatasetMap = run_analysis(handle, "project_dataset", body)
            with tempfile.TemporaryDirectory(prefix="shoal-map-") as folder:
                return chart.write_html(Path(folder) / "map.html").read_text(encoding="utf-8")

        return await respond(request, "map", {"map": "html"}, "view", lambda _: "read", draw)

    async def metrics_text(request: Request) -> Response:
        try:
            grant = grant_of(request)
            need(grant, "*", "read")
        except _Denied as denied:
            return denied.response()
        rows = [(name, handle.__len__) for name, handle in datasets.opened()]
        text = await run_in_threadpool(metrics.render, rows)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())

    routes = [
        Route("/", page),
        Route("/health", health),
        Route("/ready", ready),
        Route("/v1/datasets", list_datasets, methods=["GET"]),
        Route("/v1/datasets", create_dataset, methods=["POST"]),
        Route("/v1/datasets/{name}/ask", ask, methods=["POST"]),
        Route("/v1/datasets/{name}/map", map_page, methods=["POST"]),
        Route("/v1/datasets/{name}/rows/{row_id}/{column}", media, methods=["GET"]),
        Route("/v1/datasets/{name}/analysis/{function}", analysis, methods=["POST"]),
        Route("/v1/datasets/{name}/{method}", call, methods=["POST"]),
        Route("/metrics", metrics_text),
        Route("/openapi.json", openapi),
    ]
    middleware = [Middleware(AccessLog)]
    if cors_origins:  # off by default: a browser page from elsewhere may not call the API
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            )
        )
    return Starlette(routes=routes, middleware=middleware)


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object (InvalidInput if too large, not JSON, or not an object)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise InvalidInput(
            f"the request body is over {MAX_BODY_BYTES // 2**20} MiB: send less at a time"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidInput(
                f"the request body is over {MAX_BODY_BYTES // 2**20} MiB: send less at a time"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object of the method's arguments")
    return body


def _error(error: ShoalError) -> JSONResponse:
    return JSONResponse(error_payload(error), status_code=status_of(error))
