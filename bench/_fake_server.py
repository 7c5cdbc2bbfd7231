"""A fake OpenAI embeddings server in its own process, so its CPU time is not the client's.

    python bench/_fake_server.py LATENCY THROTTLE STATS_PATH

prints its base URL on one line, serves until SIGTERM, then writes {requests, peak} to STATS_PATH.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.hosted import FakeOpenAI, serve, status


def main() -> None:
    latency, throttle, stats = float(sys.argv[1]), sys.argv[2] == "1", Path(sys.argv[3])
    # Bytes stand in for tokens in the fake; the bench lifts those limits to OpenAI's real
    # ones in effect (no text here is near 8,191 tokens).
    fake = FakeOpenAI(delay=latency, max_input_bytes=10**6, max_request_bytes=10**9)
    if throttle:  # one request in five: 429 with Retry-After 0.5 s
        limited = status(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0.5"})
        fake.script = [limited if i % 5 == 1 else fake.answer for i in range(1000)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(fake) as url:
        print(url, flush=True)
        stop.wait()
    report: dict[str, Any] = {"requests": len(fake.requests), "peak": fake.peak}
    stats.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
