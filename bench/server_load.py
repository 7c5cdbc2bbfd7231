"""`shoal serve` under 16 concurrent clients: search latency while others write, with the
server's two handles per dataset (searches on the readers' handle, writes on the writers')
against one handle shared by both (the server before that change), in the same run.

    .venv/bin/python bench/server_load.py [--clients 16] [--seconds 20] [--rows 20000]

A dataset of `--rows` rows (384-d, the `hash:384` embedder, so the server's embedding costs
little and the store is what is measured) is served on loopback by a uvicorn process; 16
client threads (`shoal.connect`) then run for `--seconds` each phase: searches only (top 5
by a random vector), then a mix of 60% searches, 30% adds of 5 new rows and 10% `ask`
(hybrid retrieval, the extractive answerer). Each phase runs against the server as shipped
("two handles") and against the same app with every call on one handle ("one handle").
p50/p99 and calls a second per kind; results in bench/results/server_load.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report, start_server  # noqa: E402

SERVER = """
import sys
import uvicorn
from shoal.server._app import Datasets, create_app

class OneHandle(Datasets):
    def get(self, name, branch=None, *, writer=False):
        return super().get(name, branch, writer=False)

folder, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
datasets = (OneHandle if mode == "one" else Datasets)([folder])
uvicorn.run(create_app(datasets), host="127.0.0.1", port=port, log_level="warning")
"""


def _serve(folder: Path, port: int, mode: str) -> subprocess.Popen[bytes]:
    return start_server([sys.executable, "-c", SERVER, str(folder), str(port), mode], port)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _phase(url: str, clients: int, seconds: float, mixed: bool, tag: str) -> dict[str, Any]:
    import shoal

    times: dict[str, list[float]] = {"search": [], "add": [], "ask": []}
    errors: list[BaseException] = []
    guard = threading.Lock()
    stop = time.monotonic() + seconds

    def work(number: int) -> None:
        rng = np.random.default_rng(number)
        ds = shoal.connect(url, timeout=120).open("load", create=False)
        sequence = 0
        try:
            while time.monotonic() < stop:
                draw = rng.random() if mixed else 1.0
                started = time.perf_counter()
                if draw < 0.3:
                    ids = [f"{tag}-{number}-{sequence + i}" for i in range(5)]
                    sequence += 5
                    ds.add([f"note {i} about item {rng.integers(1000)}" for i in ids], ids=ids)
                    kind = "add"
                elif draw < 0.4:
                    ds.ask(f"What is item {rng.integers(1000)} about?", k=3, mode="hybrid")
                    kind = "ask"
                else:
                    vector = rng.normal(size=384).astype(np.float32)
                    ds.search(vector, k=5)
                    kind = "search"
                with guard:
                    times[kind].append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    result = {}
    for kind, values in times.items():
        if values:
            values.sort()
            result[kind] = {
                "calls_per_s": len(values) / seconds,
                "p50_ms": 1e3 * statistics.median(values),
                "p99_ms": 1e3 * values[int(0.99 * (len(values) - 1))],
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    import shoal.store as st

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shoal-load-") as tmp:
        folder = Path(tmp)
        ds = st.open(folder / "load", embedder="hash:384")
        rng = np.random.default_rng(0)
        for start in range(0, args.rows, 10_000):
            count = min(10_000, args.rows - start)
            vectors = rng.normal(size=(count, 384)).astype(np.float32)
            ds.add([f"item {start + i} is about topic {i % 97}" for i in range(count)],
                   ids=[f"seed-{start + i}" for i in range(count)], embeddings=vectors)  # fmt: skip
        ds.wait_for_index()
        del ds
        for mode in ("one", "two"):
            port = _free_port()
            server = _serve(folder, port, mode)
            url = f"http://127.0.0.1:{port}"
            try:
                _phase(url, 2, 2, mixed=False, tag=f"{mode}-warm")  # the index loaded
                for phase, mixed in (("search only", False), ("mixed", True)):
                    key = f"{mode} handle{'s' if mode == 'two' else ''}, {phase}"
                    results[key] = _phase(url, args.clients, args.seconds, mixed, tag=key[:3])
                    print(key, results[key], flush=True)
            finally:
                server.terminate()
                server.wait(30)
    save_report("server_load", f"{args.clients} clients against shoal serve", **results)
    rows = [
        (setup, kind, f"{r['calls_per_s']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}")
        for setup, kinds in results.items()
        for kind, r in kinds.items()
    ]
    print_table(["server, load", "call", "calls/s", "p50 ms", "p99 ms"], rows)


if __name__ == "__main__":
    main()
