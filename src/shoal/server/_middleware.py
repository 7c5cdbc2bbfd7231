"""ASGI middleware of `shoal serve`: a token bucket per token (its rate limit), and one
structured access log line a request."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "TokenBuckets"]

_log = logging.getLogger("shoal.server")


class TokenBuckets:
    """A token bucket per token id: `rate` requests a second, bursts of twice that."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._state: dict[str, tuple[float, float]] = {}
        self._guard = threading.Lock()

    def take(self, key: str) -> float | None:
        """None if a request may go now, else the seconds until one may."""
        if self.rate <= 0:
            return None
        capacity = 2 * self.rate
        now = time.monotonic()
        with self._guard:
            level, then = self._state.get(key, (capacity, now))
            level = min(capacity, level + (now - then) * self.rate)
            if level < 1:
                self._state[key] = (level, now)
                return (1 - level) / self.rate
            self._state[key] = (level - 1, now)
        return None


class AccessLog:
    """ASGI middleware: one JSON line a request on the `shoal.server` logger, when it ends
    (a streamed answer when its last event is sent): time, client, method, path, status,
    milliseconds, bytes sent and the token's id. Never a header, a body or a query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, sent = 500, 0

        async def sending(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            line = {
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "client": client[0] if client else None,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round(1e3 * (time.perf_counter() - started), 2),
                "bytes": sent,
                "token": (scope.get("state") or {}).get("token"),
            }
            _log.info(json.dumps(line))
