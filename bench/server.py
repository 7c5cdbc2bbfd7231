"""Search through `shoal serve` against the in-process Dataset and Chroma's own HTTP server,
and the cold-start saving of `shoal search --url`.

    .venv/bin/python bench/server.py [--dataset PATH] [--queries 200] [--chroma-venv PATH]
        [--cold-dataset PATH] [--repeat 3]

Warm search: the same 100k rows (bench/scale.py's WordNet workload: its cached vectors,
texts and queries) searched for the top 10 with each query vector, 200 queries after a
first pass: in-process `Dataset.search`; `shoal.connect(url).open(name).search` against a
`shoal serve` process on loopback; and Chroma (`chroma run`, its Python `HttpClient`, a
collection with cosine HNSW, loaded with the same vectors), run from a separate virtualenv
(`--chroma-venv`, with `pip install chromadb==1.5.9`) so its dependencies stay out of
Shoal's. p50 and p99 per system, same run. Cold start: a new `shoal search URI TEXT`
process against `shoal --url URL search NAME TEXT` with the dataset already open in a
server (`--cold-dataset`, e.g. bench/scale.py's 1M dataset), median wall of `--repeat`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report, start_server  # noqa: E402

CACHE = Path.home() / ".cache" / "shoal-bench"
WORKLOAD = CACHE / "scale-100000-200"
QUERY_TEXT = "a small domesticated carnivorous mammal with soft fur"

CHROMA = """
import json, sys, time
import numpy as np
import chromadb
port, folder, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = chromadb.HttpClient(host="127.0.0.1", port=port)
vectors = np.load(folder + "/vectors.npy", mmap_mode="r")[:count]
texts = json.load(open(folder + "/texts.json"))[:count]
queries = np.load(folder + "/queries.npy")
collection = client.get_or_create_collection("bench", metadata={"hnsw:space": "cosine"})
start = time.perf_counter()
if collection.count() < count:
    for s in range(0, count, 5000):
        e = min(count, s + 5000)
        collection.add(ids=[f"r{i}" for i in range(s, e)], embeddings=np.asarray(vectors[s:e]),
                       documents=texts[s:e])
load = time.perf_counter() - start
def run():
    times = []
    for q in queries:
        t = time.perf_counter()
        collection.query(query_embeddings=[q.tolist()], n_results=10)
        times.append(time.perf_counter() - t)
    return times
run()
times = sorted(run())
print(json.dumps({"load": load, "p50": times[len(times) // 2], "p99": times[int(0.99 * (len(times) - 1))]}))
"""


def _percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"p50": statistics.median(times), "p99": times[int(0.99 * (len(times) - 1))]}


def _warm(search: Any, queries: np.ndarray) -> dict[str, float]:
    for query in queries:
        search(query)
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - start)
    return _percentiles(times)


def _serve(dataset: Path, port: int) -> subprocess.Popen[bytes]:
    return start_server(
        [sys.executable, "-c", "from shoal.cli import main; main()", "serve", str(dataset),
         "--port", str(port)],
        port,
    )  # fmt: skip


def _stop(process: subprocess.Popen[Any]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def _cli_wall(args: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from shoal.cli import main; main()", *args],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    """Measure and print the BENCHMARKS.md tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a 100k-row Shoal dataset")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--chroma-venv", type=Path, default=None)
    parser.add_argument("--cold-dataset", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import shoal

    queries = np.load(WORKLOAD / "queries.npy")[: args.queries]
    results: dict[str, Any] = {}
    local = shoal.open(args.dataset)
    local.wait_for_index()
    results["in_process"] = _warm(lambda q: local.search(q, k=10), queries)
    port = 8765
    server = _serve(args.dataset, port)
    try:
        remote = shoal.connect(f"http://127.0.0.1:{port}").open(args.dataset.name, create=False)
        results["client"] = _warm(lambda q: remote.search(q, k=10), queries)
    finally:
        _stop(server)
    if args.chroma_venv is not None:
        folder = Path(tempfile.mkdtemp(prefix="chroma-"))
        chroma = subprocess.Popen(
            [str(args.chroma_venv / "bin" / "chroma"), "run", "--path", str(folder), "--port", "8766"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(5)
            done = subprocess.run(
                [str(args.chroma_venv / "bin" / "python"), "-c", CHROMA, "8766", str(WORKLOAD),
                 str(len(local))],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode:
                raise RuntimeError(done.stderr[-3000:])
            results["chroma"] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            _stop(chroma)
    if args.cold_dataset is not None:
        path = args.cold_dataset
        cold = [
            _cli_wall(["search", str(path), QUERY_TEXT, "-k", "10"]) for _ in range(args.repeat)
        ]
        server = _serve(path, port)
        try:
            url = f"http://127.0.0.1:{port}"
            _cli_wall(["--url", url, "search", path.name, QUERY_TEXT, "-k", "10"])  # opens it
            env = {**os.environ, "SHOAL_URL": url}
            served = [
                _cli_wall(["search", path.name, QUERY_TEXT, "-k", "10"], env)
                for _ in range(args.repeat)
            ]
        finally:
            _stop(server)
        results["cold"] = {"local": statistics.median(cold), "served": statistics.median(served),
                           "rows": len(shoal.open(path))}  # fmt: skip
    save_report(
        "server", "search through shoal serve vs in-process vs Chroma", rows=len(local), **results
    )
    rows = [
        (name, f"{r['p50'] * 1e3:.2f}", f"{r['p99'] * 1e3:.2f}")
        for name, r in (("Shoal in-process Dataset", results["in_process"]),
                        ("Shoal client -> shoal serve", results["client"]),
                        ("Chroma HttpClient -> chroma run", results.get("chroma")))
        if r is not None
    ]  # fmt: skip
    print(f"\n{len(local):,} rows, {len(queries)} queries, top 10:")
    print_table(["system", "p50 ms", "p99 ms"], rows)
    if "cold" in results:
        c = results["cold"]
        print_table(
            ["command", f"wall s ({c['rows']:,} rows)"],
            [("shoal search URI (a new process opens the dataset)", f"{c['local']:.2f}"),
             ("shoal --url URL search NAME (the server holds it open)", f"{c['served']:.2f}")],
        )  # fmt: skip


if __name__ == "__main__":
    main()
