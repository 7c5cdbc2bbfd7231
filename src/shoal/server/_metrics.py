"""Prometheus text-format metrics of `shoal serve`: requests, latency, rows per dataset."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

__all__ = ["BUCKETS", "Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency histogram bounds, seconds."""


class Metrics:
    """Counters kept by the app, rendered on `GET /metrics`."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[str, float] = defaultdict(float)
        self._guard = threading.Lock()

    def observe(self, dataset: str, method: str, status: int, seconds: float) -> None:
        """Count one request (`dataset` is "" for requests about no dataset)."""
        with self._guard:
            self._requests[(dataset, method, status)] += 1
            counts = self._latency[method]
            slot = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
            counts[slot] += 1
            self._sums[method] += seconds

    def render(self, rows: Iterable[tuple[str, Callable[[], int]]]) -> str:
        """The exposition text; `rows` gives each open dataset's name and a row counter."""
        lines = [
            "# HELP shoal_requests_total Requests answered, by dataset, method and status.",
            "# TYPE shoal_requests_total counter",
        ]
        with self._guard:
            requests = dict(self._requests)
            latency = {m: list(c) for m, c in self._latency.items()}
            sums = dict(self._sums)
        for (dataset, method, status), count in sorted(requests.items()):
            labels = f'dataset="{_label(dataset)}",method="{_label(method)}",status="{status}"'
            lines.append(f"shoal_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP shoal_request_seconds Time to answer a request, by method.",
            "# TYPE shoal_request_seconds histogram",
        ]
        for method, counts in sorted(latency.items()):
            total = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                total += count
                edge = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'shoal_request_seconds_bucket{{method="{method}",le="{edge}"}} {total}'
                )
            lines.append(f'shoal_request_seconds_sum{{method="{method}"}} {sums[method]:.6f}')
            lines.append(f'shoal_request_seconds_count{{method="{method}"}} {total}')
        lines += [
            "# HELP shoal_dataset_rows Rows in each open dataset's latest version.",
            "# TYPE shoal_dataset_rows gauge",
        ]
        for name, counter in rows:
            lines.append(f'shoal_dataset_rows{{dataset="{_label(name)}"}} {counter()}')
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
