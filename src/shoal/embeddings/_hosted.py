"""What hosted embedding providers share: requests packed within the API's limits, sent
concurrently, and texts longer than the model's window handled by one stated rule.

A provider implements `embed_batch` as exactly one HTTP request; this class decides
which texts go into each request, sends up to `max_concurrency` at once, checks every
answer and hands each finished request to `on_batch` (the embedding cache stores it at
once), so a failure mid-run loses only the requests that had not returned.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from shoal.embeddings._base import BatchCallback, Embedder
from shoal.errors import ConfigurationError, InvalidInput, RequestRejected
from shoal.types import TextKind

__all__ = ["ByteCounter", "HostedEmbedder", "LongTexts", "RequestLimits", "TokenCounter"]

LongTexts = Literal["split", "truncate", "error"]
"""What to do with a text over the model's input window: embed its windows and average
them weighted by tokens (then renormalise), keep only the first window, or raise."""

_LONG_TEXTS = ("split", "truncate", "error")


@dataclass(frozen=True)
class RequestLimits:
    """What one request may carry: inputs, tokens per input (None: the server truncates), tokens in all."""

    max_inputs: int
    max_input_tokens: int | None = None
    max_request_tokens: int | None = None


class TokenCounter(Protocol):
    """Counts a text's tokens and cuts it into windows of at most `size` tokens."""

    exact: bool

    def count(self, text: str) -> int:
        """Tokens in `text` (an upper bound when `exact` is False)."""
        ...

    def windows(self, text: str, size: int) -> list[str]:
        """`text` cut, in order, into pieces of at most `size` tokens each."""
        ...


class ByteCounter:
    """Counts UTF-8 bytes: never fewer than a byte-level BPE's tokens, as each token is >= 1 byte."""

    exact = False

    def count(self, text: str) -> int:
        """UTF-8 bytes of `text`."""
        return len(text.encode("utf-8"))

    def windows(self, text: str, size: int) -> list[str]:
        """Pieces of at most `size` bytes, cut after whitespace where one is near the end."""
        pieces: list[str] = []
        rest = text
        while len(rest.encode("utf-8")) > size:
            cut = len(rest.encode("utf-8")[:size].decode("utf-8", "ignore"))
            space = max(rest.rfind(" ", 0, cut), rest.rfind("\n", 0, cut))
            if space > cut // 2:
                cut = space + 1
            pieces.append(rest[:cut])
            rest = rest[cut:]
        if rest.strip() or not pieces:
            pieces.append(rest)
        return [piece for piece in pieces if piece.strip()] or [text[:1]]


class HostedEmbedder(Embedder):
    """Base of hosted providers: `embed_batch` is one request; packing and concurrency live here.

    The options every hosted provider takes:
        batch_size: inputs per request, at most the API's limit (the default).
        max_concurrency: requests in flight at once (default 4).
        retry: a `RetryPolicy`: attempts, backoff and time bounds.
        http_client: an `httpx.Client` to send through (tests inject a fake transport).
    """

    limits: RequestLimits = RequestLimits(max_inputs=96)
    long_texts: LongTexts = "split"
    max_concurrency: int = 4

    def _configure(
        self, *, batch_size: int | None, max_concurrency: int, long_texts: LongTexts
    ) -> None:
        if batch_size is not None and not 1 <= batch_size <= self.limits.max_inputs:
            raise ConfigurationError(
                f"batch_size must be between 1 and {self.limits.max_inputs} "
                f"(the API's inputs per request), got {batch_size}"
            )
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if long_texts not in _LONG_TEXTS:
            raise ConfigurationError(f"long_texts must be one of {_LONG_TEXTS}, got {long_texts!r}")
        self.batch_size = batch_size or self.limits.max_inputs
        self.max_concurrency = max_concurrency
        self.long_texts = long_texts

    def token_counter(self) -> TokenCounter:
        """How this provider counts tokens; UTF-8 bytes (a safe upper bound) unless overridden."""
        return ByteCounter()

    def _embed(
        self, texts: list[str], *, kind: TextKind, on_batch: BatchCallback | None = None
    ) -> np.ndarray:
        dims = self.spec.dimensions
        out = np.empty((len(texts), dims), dtype=np.float32)
        if not texts:
            return out
        window = self.limits.max_input_tokens
        counter = self.token_counter()
        sizes = [counter.count(text) for text in texts]
        over = [i for i, n in enumerate(sizes) if window is not None and n > window]
        fits = [i for i, n in enumerate(sizes) if window is None or n <= window]

        def done(indexes: list[int], vectors: np.ndarray) -> None:
            out[indexes] = vectors
            if on_batch is not None:
                on_batch([texts[i] for i in indexes], out[indexes])

        self._send([texts[i] for i in fits], [sizes[i] for i in fits], kind, fits, done)
        if over and window is not None:
            jobs = [
                functools.partial(self._embed_long, texts[i], i, window, counter, kind)
                for i in over
            ]
            self._run(jobs, lambda job, vector: done([over[job]], vector))
        return out

    def _embed_long(
        self, text: str, index: int, window: int, counter: TokenCounter, kind: TextKind
    ) -> np.ndarray:
        """One text over the window, as a (1, d) array, by the `long_texts` rule.

        With an exact count the rule applies at once. A byte count only says the text
        *may* be too long, so it is sent whole first, and the rule applies only if the
        service rejects it.
        """
        if not counter.exact:
            try:
                return self._check_batch(self.embed_batch([text], kind=kind), expected=1)
            except RequestRejected as exc:
                if self.long_texts == "error":
                    raise InvalidInput(
                        f"text at index {index} is longer than {self.spec.name} accepts "
                        f"({exc}); split it first, or pass long_texts='split' or 'truncate'"
                    ) from exc
        elif self.long_texts == "error":
            raise InvalidInput(
                f"text at index {index} is longer than {self.spec.name}'s window of "
                f"{window} tokens; split it first, or pass long_texts='split' or 'truncate'"
            )
        pieces = counter.windows(text, window)
        if self.long_texts == "truncate":
            pieces = pieces[:1]
        weights = np.array([counter.count(piece) for piece in pieces], dtype=np.float64)
        vectors = np.empty((len(pieces), self.spec.dimensions), dtype=np.float32)
        for request in self._pack([int(w) for w in weights]):
            got = self.embed_batch([pieces[p] for p in request], kind=kind)
            vectors[request] = self._check_batch(got, expected=len(request))
        combined = (vectors * weights[:, None]).sum(axis=0) / weights.sum()
        if self.spec.normalized:
            combined /= max(float(np.linalg.norm(combined)), 1e-12)
        result: np.ndarray = combined[None, :].astype(np.float32)
        return result

    def _pack(self, sizes: list[int]) -> list[list[int]]:
        """Positions grouped into requests within max inputs and max tokens per request."""
        budget = self.limits.max_request_tokens
        requests: list[list[int]] = []
        current: list[int] = []
        tokens = 0
        for position, size in enumerate(sizes):
            full = len(current) >= self.batch_size or (
                budget is not None and tokens + size > budget
            )
            if current and full:
                requests.append(current)
                current, tokens = [], 0
            current.append(position)
            tokens += size
        if current:
            requests.append(current)
        return requests

    def _send(
        self,
        texts: list[str],
        sizes: list[int],
        kind: TextKind,
        indexes: list[int],
        done: Callable[[list[int], np.ndarray], None],
    ) -> None:
        """Embed `texts` in requests packed within the limits; `done` gets each as it returns."""
        requests = self._pack(sizes)

        def request(positions: list[int]) -> np.ndarray:
            vectors = self.embed_batch([texts[p] for p in positions], kind=kind)
            return self._check_batch(vectors, expected=len(positions))

        jobs = [functools.partial(request, positions) for positions in requests]
        self._run(jobs, lambda job, vectors: done([indexes[p] for p in requests[job]], vectors))

    def _run(
        self,
        jobs: Sequence[Callable[[], np.ndarray]],
        done: Callable[[int, np.ndarray], None],
    ) -> None:
        """Run `jobs`, `max_concurrency` at a time, handing each result to `done` (in this
        thread) as it comes; the first failure is raised once the jobs in flight are done."""
        workers = min(self.max_concurrency, len(jobs))
        if workers <= 1:  # one request (every embed_query) or no concurrency: no thread pool
            for index, run in enumerate(jobs):
                done(index, run())
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shoal-embed")
        pending: dict[Future[np.ndarray], int] = {}
        queue = iter(range(len(jobs)))
        failure: BaseException | None = None
        try:
            while True:
                while failure is None and len(pending) < workers:
                    job = next(queue, None)
                    if job is None:
                        break
                    pending[pool.submit(jobs[job])] = job
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = pending.pop(future)
                    try:
                        done(job, future.result())
                    except Exception as exc:
                        failure = failure or exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if failure is not None:
            raise failure
