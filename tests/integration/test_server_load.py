"""`shoal serve` under load and killed: 16 concurrent clients searching, asking and writing for 60 s
with no error and no row lost or doubled (checked against a ledger of what each client was
told it wrote), and a `kill -9` during writes that loses nothing committed, the clients
seeing a connection error, never wrong data."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import shoal
from server_fixtures import free_port, serve_process
from shoal.errors import ProviderUnavailable, ShoalError

CLIENTS = 16
SECONDS = float(os.environ.get("SHOAL_LOAD_SECONDS", "60"))
DIM = 16


@contextmanager
def _server(folder: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`shoal serve FOLDER` in its own process, ready when this yields."""
    process = serve_process(folder, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _vector(rng: np.random.Generator) -> np.ndarray:
    vector = rng.normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_sixteen_clients_for_a_minute_lose_and_double_nothing(tmp_path: Path) -> None:
    port = free_port()
    with _server(tmp_path, port):
        url = f"http://127.0.0.1:{port}"
        shoal.connect(url).open("load", embedder=f"hash:{DIM}").add(
            [f"Item {i} was made in the year {1800 + i}." for i in range(200)],
            ids=[f"seed-{i}" for i in range(200)],
        )
        ledgers: list[list[str]] = [[] for _ in range(CLIENTS)]
        errors: list[BaseException] = []
        latencies: dict[str, list[float]] = {"search": [], "add": [], "ask": []}
        guard = threading.Lock()
        stop = time.monotonic() + SECONDS

        def work(number: int) -> None:
            rng = np.random.default_rng(number)
            ds = shoal.connect(url, timeout=60).open("load", create=False)
            sequence = 0
            try:
                while time.monotonic() < stop:
                    started = time.perf_counter()
                    draw = rng.random()
                    if draw < 0.3:
                        ids = [f"c{number}-{sequence + i}" for i in range(5)]
                        sequence += 5
                        assert ds.add([f"text {i}" for i in ids], ids=ids) == ids
                        ledgers[number].extend(ids)
                        kind = "add"
                    elif draw < 0.4:
                        item = int(rng.integers(200))
                        answer = ds.ask(f"In which year was item {item} made?", k=3, mode="hybrid")
                        assert answer.sources and len(answer.sources) <= 3
                        assert all(s.id.startswith(("seed-", "c")) for s in answer.sources)
                        assert "".join(ds.ask_stream("Which year?", k=1)), "pieces stream"
                        kind = "ask"
                    else:
                        hits = ds.search(_vector(rng), k=5)
                        assert len(hits) == 5 and all(h.id for h in hits)
                        kind = "search"
                    with guard:
                        latencies[kind].append(time.perf_counter() - started)
            except BaseException as exc:  # every failure is reported, none hidden
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 120)
        assert not errors, errors[:3]
        written = [row_id for ledger in ledgers for row_id in ledger]
        assert len(written) == len(set(written))
        ds = shoal.connect(url).open("load", create=False)
        assert len(ds) == 200 + len(written), "a row lost or written twice"
        found = {r.id for r in ds.get(written)}
        assert found == set(written)
        for kind, values in latencies.items():
            values.sort()
            print(
                f"{kind}: {len(values)} calls, {len(values) / SECONDS:.0f}/s, p50 "
                f"{1e3 * statistics.median(values):.1f} ms, p99 "
                f"{1e3 * values[int(0.99 * (len(values) - 1))]:.1f} ms"
            )
        assert latencies["search"] and latencies["add"] and latencies["ask"]


def test_a_server_killed_during_writes_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    with _server(tmp_path, port) as process:
        shoal.connect(url).open("crash", embedder=f"hash:{DIM}")

        def write() -> None:
            ds = shoal.connect(url, timeout=30).open("crash", create=False)
            for batch in range(10_000):
                ids = [f"b{batch}-{i}" for i in range(20)]
                try:
                    ds.add([f"row {i}" for i in ids], ids=ids)
                except ShoalError as exc:
                    failures.append(exc)
                    return
                acknowledged.extend(ids)

        writer = threading.Thread(target=write)
        writer.start()
        while len(acknowledged) < 200:
            assert writer.is_alive(), failures
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        writer.join(60)
    assert failures and isinstance(failures[0], ProviderUnavailable), failures
    assert "cannot reach the Shoal server" in str(failures[0])
    with _server(tmp_path, port):
        ds = shoal.connect(url).open("crash", create=False)
        stored = {r.id for r in ds.get(acknowledged)}
        assert stored == set(acknowledged), "an acknowledged row was lost"
        rows = len(ds)
        assert rows in (len(acknowledged), len(acknowledged) + 20), "at most the batch in flight"
        hits = ds.search("row b0-3", k=1, mode="keyword")
        assert hits and hits[0].id.startswith("b")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; loopback must not go through one."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
