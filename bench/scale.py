"""The store at scale, beside LanceDB and raw faiss: cold start, memory, ingest, warm search, disk.

    nice -n 10 .venv/bin/python bench/scale.py [--rows 100000] [--cold-repeat 3]
        [--src PATH] [--label NAME]

`--src` picks the Shoal source tree measured (default: this checkout's `src`): run it once
with a worktree of an older commit as the baseline, once with this one, in the same
session. Rows are WordNet glosses (../shared/data/wordnet) with their MiniLM int8 vectors
(the cache `bench/embed_throughput.py` fills, ~/.cache/shoal-bench/wordnet-minilm-int8),
metadata {"shard": i % 10}; above the 117k glosses, rows repeat with Gaussian noise
(sigma 0.02, renormalised). Queries: 200 vectors of held-out glosses (or perturbed rows),
ground truth by exact cosine top-10 (numpy). Cold figures are new processes, medians of
`--cold-repeat`; peak RSS is the child's maxrss (/usr/bin/time -f %M). Warm figures are
a second pass over the queries in one process (the first reads the mapped files' pages);
"engine" is the ranking alone, without fetching the hits' rows.
Writes bench/results/scale.json (keyed by label) and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

from _report import print_table, save_report  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data" / "wordnet" / "wordnet30_synsets.jsonl"
VECTORS = Path.home() / ".cache" / "shoal-bench" / "wordnet-minilm-int8"
CACHE = Path.home() / ".cache" / "shoal-bench"
DIM = 384
K = 10
QUERY_TEXT = "a small domesticated carnivorous mammal with soft fur"


def workload(rows: int, queries: int) -> dict[str, Any]:
    """Vectors, texts, queries and exact truth for `rows` rows (cached per size)."""
    folder = CACHE / f"scale-{rows}-{queries}"
    if (folder / "truth_filtered.npy").exists():
        return {
            "vectors": np.load(folder / "vectors.npy", mmap_mode="r"),
            "texts": json.loads((folder / "texts.json").read_text()),
            "queries": np.load(folder / "queries.npy"),
            "truth": np.load(folder / "truth.npy"),
            "truth_filtered": np.load(folder / "truth_filtered.npy"),
        }
    glosses = [json.loads(line)["text"] for line in DATA.open()]
    chunks = sorted(VECTORS.glob("*.npy"))
    base = np.concatenate([np.load(c) for c in chunks]).astype(np.float32)
    base = base[: len(glosses)]
    held = min(queries, max(0, len(base) - rows))
    rng = np.random.default_rng(0)
    if rows + held <= len(base):
        vectors, query_vectors = base[:rows], base[rows : rows + held]
        texts = glosses[:rows]
    else:
        repeats = -(-rows // len(base))
        noisy = [base] + [
            base + rng.normal(scale=0.02, size=base.shape).astype(np.float32)
            for _ in range(repeats - 1)
        ]
        vectors = np.concatenate(noisy)[:rows]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [f"{glosses[i % len(glosses)]} ({i // len(glosses)})" for i in range(rows)]
        query_vectors = np.empty((0, DIM), np.float32)
    if len(query_vectors) < queries:
        picks = rng.choice(rows, queries - len(query_vectors), replace=False)
        extra = vectors[picks] + rng.normal(scale=0.05, size=(len(picks), DIM)).astype(np.float32)
        query_vectors = np.concatenate([query_vectors, extra]).astype(np.float32)
    truth = _exact(vectors, query_vectors, None)
    truth_filtered = _exact(vectors, query_vectors, np.arange(3, rows, 10))
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", vectors)
    (folder / "texts.json").write_text(json.dumps(texts))
    np.save(folder / "queries.npy", query_vectors)
    np.save(folder / "truth.npy", truth)
    np.save(folder / "truth_filtered.npy", truth_filtered)
    return workload(rows, queries)


def _exact(vectors: np.ndarray, queries: np.ndarray, subset: np.ndarray | None) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    rows = np.arange(len(vectors)) if subset is None else subset
    out = np.zeros((len(q), K), dtype=np.int64)
    for start in range(0, len(q), 50):
        scores = q[start : start + 50] @ unit[rows].T
        best = np.argsort(-scores, axis=1)[:, :K]
        out[start : start + 50] = rows[best]
    return out


# ----------------------------------------------------------------------- child processes
def _child(code: str, src: Path, argv: list[str]) -> tuple[dict[str, Any], int]:
    """Run Python `code` with `argv` in a new process; its JSON output and peak RSS (KiB)."""
    full = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=full,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    rss = int(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1]), rss


def _cli(args: list[str], src: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of `shoal ARGS` in a new process."""
    code = f"import sys; sys.argv = ['shoal', *{args!r}]; from shoal.cli import main; main()"
    start = time.perf_counter()
    full = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return wall, int(done.stderr.strip().splitlines()[-1])


INGEST = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
import shoal.store as st
path, rows = sys.argv[1], int(sys.argv[2])
folder = sys.argv[3]
vectors = np.load(folder + "/vectors.npy", mmap_mode="r")
texts = json.load(open(folder + "/texts.json"))
ds = st.open(path, embedder="local:all-MiniLM-L6-v2")
start = time.perf_counter()
for s in range(0, rows, 20_000):
    e = min(rows, s + 20_000)
    ds.add(texts[s:e], ids=[f"r{i}" for i in range(s, e)], embeddings=np.asarray(vectors[s:e]),
           metadatas=[{"shard": i % 10} for i in range(s, e)])
added = time.perf_counter() - start
ds.search(np.asarray(vectors[0]), k=10)
searchable = time.perf_counter() - start
if hasattr(ds, "wait_for_index"):
    ds.wait_for_index()
else:
    ds.refresh_index()
    ds.search("warm", mode="keyword", k=1)
indexed = time.perf_counter() - start
print(json.dumps({"added": added, "searchable": searchable, "indexed": indexed}))
"""

COLD_PYTHON = """
import json, sys, time, resource
import numpy as np
query = np.load(sys.argv[2])[0]
t0 = time.perf_counter()
import shoal.store as st
t1 = time.perf_counter()
ds = st.open(sys.argv[1])
hits = ds.search(query, k=10)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open_search": t2 - t1, "top": hits[0].id}))
"""

COLD_LANCEDB = """
import json, sys, time
import numpy as np
query = np.load(sys.argv[2])[0]
t0 = time.perf_counter()
import lancedb
t1 = time.perf_counter()
table = lancedb.connect(sys.argv[1]).open_table("t")
hits = table.search(query).limit(10).to_list()
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open_search": t2 - t1, "top": hits[0]["id"]}))
"""

COLD_LANCEDB_FTS = """
import json, sys, time
t0 = time.perf_counter()
import lancedb
table = lancedb.connect(sys.argv[1]).open_table("t")
hits = table.search(sys.argv[2], query_type="fts").limit(10).to_list()
print(json.dumps({"wall": time.perf_counter() - t0, "hits": len(hits)}))
"""

WARM = """
import json, sys, time
import numpy as np
import shoal.store as st
ds = st.open(sys.argv[1])
queries = np.load(sys.argv[2])
truth, truth_f = np.load(sys.argv[3]), np.load(sys.argv[4])
def run(where, truth):
    ds.search_batch(queries, k=10, where=where)  # warm: the mapped files' pages are read once
    times, found = [], 0
    for q, t in zip(queries, truth):
        s = time.perf_counter()
        hits = ds.search(q, k=10, where=where)
        times.append(time.perf_counter() - s)
        found += len({int(h.id[1:]) for h in hits} & set(t.tolist()))
    return float(np.median(times)), float(np.percentile(times, 95)), found / truth.size
p50, p95, recall = run(None, truth)
engine = []  # the ranking alone, without fetching the hits' rows
for q in queries:
    s = time.perf_counter()
    with ds._view.lock:
        ds._view.search(q, 10, positions=None, metric="cosine", key=None)
    engine.append(time.perf_counter() - s)
fp50, fp95, frecall = run({"shard": 3}, truth_f)
print(json.dumps({"p50": p50, "p95": p95, "recall": recall, "engine_p50": float(np.median(engine)),
                  "filtered_p50": fp50, "filtered_recall": frecall}))
"""


def _faiss(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    import faiss

    unit = np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    start = time.perf_counter()
    index.add(unit)
    build = time.perf_counter() - start
    q = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    sweep = {}
    for ef in (64, 96, 128, 192):
        index.hnsw.efSearch = ef
        times, found = [], 0
        for row, t in zip(q, truth, strict=True):
            s = time.perf_counter()
            _, labels = index.search(row[None, :], K)
            times.append(time.perf_counter() - s)
            found += len(set(labels[0].tolist()) & set(t.tolist()))
        sweep[ef] = {"p50": float(np.median(times)), "recall": found / truth.size}
    return {"build": build, **sweep[64], "ef_sweep": sweep}


def _lancedb(path: Path, work: dict[str, Any]) -> dict[str, float]:
    import lancedb
    import pyarrow as pa

    vectors, texts = work["vectors"], work["texts"]
    table = None
    start = time.perf_counter()
    for s in range(0, len(texts), 20_000):
        e = min(len(texts), s + 20_000)
        batch = pa.table(
            {
                "id": [f"r{i}" for i in range(s, e)],
                "text": texts[s:e],
                "shard": pa.array([i % 10 for i in range(s, e)], pa.int64()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.asarray(vectors[s:e]).reshape(-1)), DIM
                ),
            }
        )
        if table is None:
            table = lancedb.connect(str(path)).create_table("t", batch)
        else:
            table.add(batch)
    append = time.perf_counter() - start
    assert table is not None
    start = time.perf_counter()
    table.create_fts_index("text")
    fts = time.perf_counter() - start
    return {"append": append, "fts_build": fts}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    """Measure one Shoal tree beside LanceDB and faiss at each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cold-repeat", type=int, default=3)
    parser.add_argument("--src", type=Path, default=HERE.parent / "src")
    parser.add_argument("--label", default="current")
    parser.add_argument("--skip-others", action="store_true", help="measure Shoal only")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    out = Path(tempfile.mkdtemp(prefix="shoal-scale-"))
    try:
        for rows in args.rows:
            results[str(rows)] = _one(rows, args, out / str(rows))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    path = HERE / "results" / "scale.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    runs = previous.get("runs", {})
    earlier = runs.get(args.label, {}).get("sizes", {})
    runs[args.label] = {"src": str(args.src), "sizes": {**earlier, **results}}
    save_report("scale", "store at scale vs LanceDB and faiss", runs=runs)
    rows_out = []
    for label, run in runs.items():
        for size, r in run["sizes"].items():
            s = r["shoal"]
            rows_out.append(
                (
                    label,
                    size,
                    f"{s['cli_vector'][0]:.2f} s / {s['cli_vector'][1] / 1024:.0f} MiB",
                    f"{s['cli_keyword'][0]:.2f} / {s['cli_hybrid'][0]:.2f} s",
                    f"{s['open_search']:.2f} s / {s['python_rss'] / 1024:.0f} MiB "
                    f"({s['python_rss'] * 1024 / r['raw_bytes']:.2f}x)",
                    f"{r['rows'] / s['ingest']['searchable']:,.0f} / "
                    f"{r['rows'] / s['ingest']['indexed']:,.0f}",
                    f"{s['warm']['p50'] * 1e3:.2f} ms @ {s['warm']['recall']:.3f}",
                    f"{s['warm']['filtered_p50'] * 1e3:.2f} ms @ {s['warm']['filtered_recall']:.3f}",
                    f"{s['disk'] / 2**20:.0f} MiB",
                )
            )
    print_table(
        [
            "run",
            "rows",
            "cold CLI vector (wall/RSS)",
            "cold CLI keyword/hybrid",
            "cold open+search (RSS, x raw)",
            "rows/s searchable/indexed",
            "warm p50 @ recall",
            "filtered 10%",
            "disk",
        ],
        rows_out,
    )
    for run in runs.values():
        for size, r in run["sizes"].items():
            if "lancedb" in r:
                lance, fx = r["lancedb"], r["faiss"]
                print(
                    f"{size}: LanceDB cold open+search {lance['open_search']:.2f} s / "
                    f"{lance['rss'] / 1024:.0f} MiB, FTS cold {lance['fts_cold']:.2f} s, "
                    f"append {r['rows'] / lance['append']:,.0f} rows/s, disk "
                    f"{lance['disk'] / 2**20:.0f} MiB; faiss HNSW p50 {fx['p50'] * 1e3:.2f} ms "
                    f"@ {fx['recall']:.3f}"
                )


def _one(rows: int, args: argparse.Namespace, where: Path) -> dict[str, Any]:
    work = workload(rows, args.queries)
    folder = str(CACHE / f"scale-{rows}-{args.queries}")
    result: dict[str, Any] = {"rows": rows, "raw_bytes": rows * DIM * 4}
    shoal_path = where / "shoal"
    ingest, _ = _child(INGEST, args.src, [str(shoal_path), str(rows), folder])
    shoal: dict[str, Any] = {"ingest": ingest, "disk": _size(shoal_path)}
    queries = f"{folder}/queries.npy"
    cold = [
        _child(COLD_PYTHON, args.src, [str(shoal_path), queries]) for _ in range(args.cold_repeat)
    ]
    shoal["open_search"] = statistics.median(c[0]["open_search"] for c in cold)
    shoal["import"] = statistics.median(c[0]["import"] for c in cold)
    shoal["python_rss"] = statistics.median(c[1] for c in cold)
    for mode in ("vector", "keyword", "hybrid"):
        runs = [
            _cli(["search", str(shoal_path), QUERY_TEXT, "-k", "10", "--mode", mode], args.src)
            for _ in range(args.cold_repeat)
        ]
        shoal[f"cli_{mode}"] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
    warm, _ = _child(
        WARM,
        args.src,
        [str(shoal_path), queries, f"{folder}/truth.npy", f"{folder}/truth_filtered.npy"],
    )
    shoal["warm"] = warm
    result["shoal"] = shoal
    if not args.skip_others:
        lance_path = where / "lancedb"
        lance = _lancedb(lance_path, work)
        cold = [
            _child(COLD_LANCEDB, args.src, [str(lance_path), queries])
            for _ in range(args.cold_repeat)
        ]
        lance["open_search"] = statistics.median(c[0]["open_search"] for c in cold)
        lance["rss"] = statistics.median(c[1] for c in cold)
        fts = [
            _child(COLD_LANCEDB_FTS, args.src, [str(lance_path), QUERY_TEXT])
            for _ in range(args.cold_repeat)
        ]
        lance["fts_cold"] = statistics.median(f[0]["wall"] for f in fts)
        lance["disk"] = _size(lance_path)
        result["lancedb"] = lance
        result["faiss"] = _faiss(np.asarray(work["vectors"]), work["queries"], work["truth"])
    return result


if __name__ == "__main__":
    main()
