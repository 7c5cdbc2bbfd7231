"""The store at scale, beside LanceDB and raw faiss: cold start, memory, ingest, warm search, disk.

    PYTHONPATH=path/to/shoal/src nice -n 10 .venv/bin/python bench/scale.py
        [--rows 100000 1000000] [--queries 200] [--cold-repeat 3] [--reuse]
        [--systems shoal lancedb faiss] [--label NAME] [--src PATH]
        [--index-storage auto|flat|compressed] [--index-every ROWS]

The Shoal tree measured is the one `import shoal` finds here (so `PYTHONPATH` picks it;
`--src` overrides): run it once with a worktree of an older commit as the baseline, once
with the new code, and both land in bench/results/scale.json under their `--label`, with
the tree's git commit. Rows are WordNet glosses (../shared/data/wordnet, read in place)
with their MiniLM int8 vectors (the cache `bench/embed_throughput.py` fills,
~/.cache/shoal-bench/wordnet-minilm-int8), metadata {"shard": i % 10}; above the 117k
glosses, rows repeat with Gaussian noise (sigma 0.02, renormalised) and their texts get a
" (n)" suffix. Queries: `--queries` vectors of held-out glosses (or, where none are left,
dataset rows plus noise of sigma 0.05), ground truth by exact cosine top-10 (numpy).

Cold figures are new processes, medians of `--cold-repeat`; peak RSS is the child's maxrss
(/usr/bin/time -f %M). Warm figures are a second pass over the queries in one process (the
first reads the mapped files' pages); "engine" is Shoal's ranking alone, without fetching
the hits' rows. LanceDB is measured without a vector index (brute force,
`bypass_vector_index`) and with its IVF_PQ index (defaults, cosine; nprobes 20, refine
factor 10); raw faiss is IndexHNSWFlat (M 16, efConstruction 64, efSearch 64 and a sweep).
`--index-storage` records that vector index storage on Shoal's new dataset before the
rows are added (`Dataset.refresh_index(storage=...)`; trees before it know only flat).
`--index-every N` calls `wait_for_index()` after every N rows (a multiple of the 20,000-row
adds), so the rows not yet in the graph, which a handle keeps in memory, stay under N (a
10M-row load on a 24 GB machine); the ingest's "added" time is then the adds' own.
Datasets are built once per size in ~/.cache/shoal-bench/scale/ (Shoal's per commit, since
the format changes with the code) and `--reuse` opens them again instead of rebuilding;
their build figures are then the ones saved when they were built ("reused": true).
Prints a BENCHMARKS.md table of this run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
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
BUILT = CACHE / "scale"
DIM = 384
K = 10
QUERY_TEXT = "a small domesticated carnivorous mammal with soft fur"
SYSTEMS = ("shoal", "lancedb", "faiss")
LANCE_NPROBES, LANCE_REFINE = 20, 10


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
        vectors = np.empty((rows, DIM), dtype=np.float32)  # filled in place: 3M rows are 4.6 GB
        for repeat in range(repeats):
            start = repeat * len(base)
            part = vectors[start : start + len(base)]
            if repeat == 0:
                part[...] = base[: len(part)]
            else:  # the same draws, in the same order, as when the copies were concatenated
                noise = rng.normal(scale=0.02, size=base.shape).astype(np.float32)
                part[...] = (base + noise)[: len(part)]
        for start in range(0, rows, 1_000_000):  # in blocks: norm() makes a temporary copy
            block = vectors[start : start + 1_000_000]
            block /= np.linalg.norm(block, axis=1, keepdims=True)
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
    del vectors, texts, base  # 10M rows: 17 GB, freed before the files are mapped back
    return workload(rows, queries)


def _exact(vectors: np.ndarray, queries: np.ndarray, subset: np.ndarray | None) -> np.ndarray:
    """Each query's exact cosine top-K rows (among `subset`), a block of rows at a time."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    rows = np.arange(len(vectors)) if subset is None else subset
    best = np.zeros((len(q), 0), dtype=np.int64)
    best_scores = np.zeros((len(q), 0), dtype=np.float32)
    for start in range(0, len(rows), 200_000):
        ids = rows[start : start + 200_000]
        block = vectors[ids]
        scores = q @ (block / np.linalg.norm(block, axis=1, keepdims=True)).T
        keep = min(K, len(ids))
        top = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
        best = np.concatenate([best, ids[top]], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")[:, :K]
        best = np.take_along_axis(best, order, 1)
        best_scores = np.take_along_axis(best_scores, order, 1)
    return best


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


def _cold(code: str, src: Path, argv: list[str], repeat: int) -> dict[str, float]:
    """Medians over `repeat` new processes of each figure `code` prints, and of peak RSS."""
    runs, walls = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        runs.append(_child(code, src, argv))
        walls.append(time.perf_counter() - start)
    out = {key: statistics.median(r[0][key] for r in runs) for key in runs[0][0]}
    out["rss"] = statistics.median(r[1] for r in runs)
    out["process_wall"] = statistics.median(walls)  # the whole process, start to exit
    return out


INGEST = """
import json, sys, time
import numpy as np
import shoal
path, rows = sys.argv[1], int(sys.argv[2])
folder = sys.argv[3]
vectors = np.load(folder + "/vectors.npy", mmap_mode="r")
texts = json.load(open(folder + "/texts.json"))
make = getattr(shoal, "create", shoal.open)
ds = make(path, embedder="local:all-MiniLM-L6-v2")
if sys.argv[4] != "auto":
    ds.refresh_index(storage=sys.argv[4])
every = int(sys.argv[5])  # > 0: index every so many rows (the unindexed rows stay in memory)
start = time.perf_counter()
adding = 0.0
for s in range(0, rows, 20_000):
    e = min(rows, s + 20_000)
    a = time.perf_counter()
    ds.add(texts[s:e], ids=[f"r{i}" for i in range(s, e)], embeddings=np.asarray(vectors[s:e]),
           metadatas=[{"shard": i % 10} for i in range(s, e)])
    adding += time.perf_counter() - a
    if every and e % every == 0 and e < rows:
        ds.wait_for_index()
added = time.perf_counter() - start if not every else adding
ds.search(np.asarray(vectors[0]), k=10)
searchable = time.perf_counter() - start
if hasattr(ds, "wait_for_index"):
    ds.wait_for_index()
else:  # before issue 16: the index and the keyword index are built by the first searches
    ds.refresh_index()
    ds.search("warm", mode="keyword", k=1)
indexed = time.perf_counter() - start
print(json.dumps({"added": added, "searchable": searchable, "indexed": indexed}))
"""

COLD_PYTHON = """
import json, sys, time
import numpy as np
query = np.load(sys.argv[2])[0]
t0 = time.perf_counter()
import shoal
t1 = time.perf_counter()
ds = shoal.open(sys.argv[1])
hits = ds.search(query, k=10)
t2 = time.perf_counter()
assert hits, "no hits"
print(json.dumps({"import": t1 - t0, "open_search": t2 - t1}))
"""

COLD_LANCEDB = """
import json, sys, time
import numpy as np
query = np.load(sys.argv[2])[0]
t0 = time.perf_counter()
import lancedb
t1 = time.perf_counter()
search = lancedb.connect(sys.argv[1]).open_table("t").search(query)
if sys.argv[3] == "flat":
    search = search.bypass_vector_index()
hits = search.limit(10).to_list()
t2 = time.perf_counter()
assert hits, "no hits"
print(json.dumps({"import": t1 - t0, "open_search": t2 - t1}))
"""

COLD_LANCEDB_FTS = """
import json, sys, time
t0 = time.perf_counter()
import lancedb
table = lancedb.connect(sys.argv[1]).open_table("t")
hits = table.search(sys.argv[2], query_type="fts").limit(10).to_list()
assert hits, "no hits"
print(json.dumps({"wall": time.perf_counter() - t0}))
"""

WARM = """
import json, sys, time
import numpy as np
import shoal
ds = shoal.open(sys.argv[1])
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
engine = None
view = getattr(ds, "_view", None)  # the ranking alone, without fetching the hits' rows
if view is not None and hasattr(view, "lock") and hasattr(view, "search"):
    times = []
    for q in queries:
        s = time.perf_counter()
        with view.lock:
            view.search(q, 10, positions=None, metric="cosine", key=None)
        times.append(time.perf_counter() - s)
    engine = float(np.median(times))
fp50, fp95, frecall = run({"shard": 3}, truth_f)
print(json.dumps({"p50": p50, "p95": p95, "recall": recall, "engine_p50": engine,
                  "filtered_p50": fp50, "filtered_p95": fp95, "filtered_recall": frecall}))
"""

WARM_LANCEDB = """
import json, sys, time
import numpy as np
import lancedb
table = lancedb.connect(sys.argv[1]).open_table("t")
queries = np.load(sys.argv[2])
truth, truth_f = np.load(sys.argv[3]), np.load(sys.argv[4])
nprobes, refine = int(sys.argv[5]), int(sys.argv[6])
def query(q, indexed, where):
    search = table.search(q).distance_type("cosine").select(["id", "text", "shard"]).limit(10)
    search = search.nprobes(nprobes).refine_factor(refine) if indexed else search.bypass_vector_index()
    if where:
        search = search.where("shard = 3", prefilter=True)
    return search.to_list()
def run(indexed, where, truth):
    for q in queries if indexed else queries[:20]:  # warm: read the pages once
        query(q, indexed, where)
    times, found = [], 0
    for q, t in zip(queries, truth):
        s = time.perf_counter()
        hits = query(q, indexed, where)
        times.append(time.perf_counter() - s)
        found += len({int(h["id"][1:]) for h in hits} & set(t.tolist()))
    return {"p50": float(np.median(times)), "p95": float(np.percentile(times, 95)),
            "recall": found / truth.size}
out = {"flat": run(False, False, truth), "flat_filtered": run(False, True, truth_f)}
if any(i.columns == ["vector"] for i in table.list_indices()):
    out["ivf_pq"] = run(True, False, truth)
    out["ivf_pq_filtered"] = run(True, True, truth_f)
print(json.dumps(out))
"""


# ----------------------------------------------------------------------- builders
def _built(name: str, reuse: bool) -> tuple[Path, dict[str, Any] | None]:
    """The cache folder for dataset `name`, and its saved build figures when it is reused."""
    folder, record = BUILT / name, BUILT / f"{name}.json"
    if reuse and record.exists() and folder.exists():
        return folder, {**json.loads(record.read_text()), "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    record.unlink(missing_ok=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder, None


def _save_built(name: str, figures: dict[str, Any]) -> None:
    (BUILT / f"{name}.json").write_text(json.dumps(figures))


def _lancedb_build(path: Path, work: dict[str, Any]) -> dict[str, Any]:
    import lancedb
    import pyarrow as pa
    from lancedb.index import IvfPq

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
    disk_plain = _size(path)
    start = time.perf_counter()
    table.create_index("vector", config=IvfPq(distance_type="cosine"))
    ivf_pq = time.perf_counter() - start
    index = next(i for i in table.list_indices() if i.columns == ["vector"])
    return {
        "append": append,
        "fts_build": fts,
        "ivf_pq_build": ivf_pq,
        "ivf_pq": {"type": index.index_type, **index.index_details.get("compression", {})},
        "disk_without_vector_index": disk_plain,
    }


def _faiss(folder: Path, reused: dict[str, Any] | None, work: dict[str, Any]) -> dict[str, Any]:
    import faiss

    file = folder / "hnsw.faiss"
    if reused is not None:
        index = faiss.read_index(str(file))
        figures = reused
    else:
        vectors = np.asarray(work["vectors"])
        unit = np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        start = time.perf_counter()
        index.add(unit)
        figures = {"build": time.perf_counter() - start}
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(file))
        _save_built(folder.name, figures)
    queries, truth = work["queries"], work["truth"]
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
        sweep[ef] = {
            "p50": float(np.median(times)),
            "p95": float(np.percentile(times, 95)),
            "recall": found / truth.size,
        }
    return {**figures, **sweep[64], "ef_sweep": sweep}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _tree(src: Path) -> dict[str, Any]:
    """The git commit of the Shoal source tree measured (and whether it has local changes)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(src), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))
    return {"src": str(src), "commit": commit or "unknown", "dirty": dirty}


def _versions() -> dict[str, str]:
    """Versions of the other systems and the libraries under them."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("lancedb", "pylance", "faiss-cpu", "pyarrow", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def _measured_src() -> Path:
    """The source tree `import shoal` finds in this process (what PYTHONPATH selects)."""
    import shoal

    return Path(shoal.__file__).resolve().parent.parent


# ----------------------------------------------------------------------- one size
def _shoal(rows: int, args: argparse.Namespace, tree: dict[str, Any]) -> dict[str, Any]:
    folder = str(CACHE / f"scale-{rows}-{args.queries}")
    queries = f"{folder}/queries.npy"
    storage = "" if args.index_storage == "auto" else f"-{args.index_storage}"
    name = f"shoal-{tree['commit'][:12]}{'-dirty' if tree['dirty'] else ''}{storage}-{rows}"
    path, reused = _built(name, args.reuse and not tree["dirty"])
    if reused is None:
        argv = [str(path), str(rows), folder, args.index_storage, str(args.index_every)]
        ingest, _ = _child(INGEST, args.src, argv)
        _save_built(name, {"ingest": ingest})
        reused = {"ingest": ingest}
    shoal: dict[str, Any] = {**reused, "path": str(path), "disk": _size(path)}
    cold = _cold(COLD_PYTHON, args.src, [str(path), queries], args.cold_repeat)
    shoal["open_search"], shoal["import"] = cold["open_search"], cold["import"]
    shoal["python_rss"], shoal["python_wall"] = cold["rss"], cold["process_wall"]
    for mode in ("vector", "keyword", "hybrid"):
        runs = [
            _cli(["search", str(path), QUERY_TEXT, "-k", "10", "--mode", mode], args.src)
            for _ in range(args.cold_repeat)
        ]
        shoal[f"cli_{mode}"] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
    shoal["warm"], _ = _child(
        WARM, args.src, [str(path), queries, f"{folder}/truth.npy", f"{folder}/truth_filtered.npy"]
    )
    return shoal


def _lancedb(rows: int, args: argparse.Namespace, work: dict[str, Any]) -> dict[str, Any]:
    folder = str(CACHE / f"scale-{rows}-{args.queries}")
    queries = f"{folder}/queries.npy"
    name = f"lancedb-{rows}"
    path, reused = _built(name, args.reuse)
    if reused is None:
        reused = _lancedb_build(path, work)
        _save_built(name, reused)
    lance: dict[str, Any] = {**reused, "path": str(path), "disk": _size(path)}
    for kind in ("flat", "index"):
        cold = _cold(COLD_LANCEDB, args.src, [str(path), queries, kind], args.cold_repeat)
        lance[f"cold_{kind}"] = {
            key: cold[key] for key in ("import", "open_search", "rss", "process_wall")
        }
    fts = _cold(COLD_LANCEDB_FTS, args.src, [str(path), QUERY_TEXT], args.cold_repeat)
    lance["fts_cold"], lance["fts_rss"] = fts["wall"], fts["rss"]
    lance["warm"], _ = _child(
        WARM_LANCEDB,
        args.src,
        [
            str(path),
            queries,
            f"{folder}/truth.npy",
            f"{folder}/truth_filtered.npy",
            str(LANCE_NPROBES),
            str(LANCE_REFINE),
        ],
    )
    lance["warm"]["params"] = {"nprobes": LANCE_NPROBES, "refine_factor": LANCE_REFINE}
    return lance


def _one(rows: int, args: argparse.Namespace, tree: dict[str, Any]) -> dict[str, Any]:
    work = workload(rows, args.queries)
    result: dict[str, Any] = {"rows": rows, "raw_bytes": rows * DIM * 4}
    if "shoal" in args.systems:
        result["shoal"] = _shoal(rows, args, tree)
    if "lancedb" in args.systems:
        result["lancedb"] = _lancedb(rows, args, work)
    if "faiss" in args.systems:
        folder, reused = _built(f"faiss-{rows}", args.reuse)
        result["faiss"] = _faiss(folder, reused, work)
    return result


# ----------------------------------------------------------------------- report
def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f} ms"


def _table(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Figure, Shoal, LanceDB, faiss and goal rows for one size."""
    raw = result["raw_bytes"]
    s, lance, fx = result.get("shoal"), result.get("lancedb"), result.get("faiss")
    out: list[tuple[str, str, str, str, str]] = []

    def row(figure: str, shoal: str, lancedb: str = "-", raw_faiss: str = "-", goal: str = ""):
        out.append((figure, shoal, lancedb, raw_faiss, goal))

    def mib(kib: float) -> str:
        return f"{kib / 1024:,.0f} MiB ({kib * 1024 / raw:.2f}x raw)"

    if s:
        row(
            "cold CLI vector: wall / peak RSS",
            f"{s['cli_vector'][0]:.2f} s / {s['cli_vector'][1] / 1024:,.0f} MiB",
            f"{lance['cold_index']['process_wall']:.2f} s / "
            f"{lance['cold_index']['rss'] / 1024:,.0f} MiB (process: import, open, search)"
            if lance
            else "-",
            goal="<= 1.0 s, <= LanceDB",
        )
        row(
            "cold Python open + 1 vector search (beyond import)",
            f"{s['open_search']:.3f} s",
            f"{lance['cold_index']['open_search']:.3f} s IVF_PQ / "
            f"{lance['cold_flat']['open_search']:.3f} s flat"
            if lance
            else "-",
        )
        row(
            "peak RSS of that process",
            mib(s["python_rss"]),
            mib(lance["cold_index"]["rss"]) if lance else "-",
            goal="<= 1.5x raw",
        )
        row(
            "cold keyword / hybrid",
            f"{s['cli_keyword'][0]:.2f} / {s['cli_hybrid'][0]:.2f} s (CLI)",
            f"FTS {lance['fts_cold']:.2f} s (Python)" if lance else "-",
            goal="<= 1.5 s",
        )
        ingest = s["ingest"]
        row(
            "ingest rows/s: searchable / indexed",
            f"{result['rows'] / ingest['searchable']:,.0f} / "
            f"{result['rows'] / ingest['indexed']:,.0f}",
            f"append {result['rows'] / lance['append']:,.0f}; IVF_PQ build "
            f"{lance['ivf_pq_build']:.1f} s"
            if lance
            else "-",
            f"HNSW build {fx['build']:.1f} s" if fx else "-",
            ">= 100k",
        )
        w = s["warm"]
        row(
            "warm vector p50 / p95 @ recall@10",
            f"{_ms(w['p50'])} / {_ms(w['p95'])} @ {w['recall']:.3f}",
            f"IVF_PQ {_ms(lance['warm']['ivf_pq']['p50'])} @ "
            f"{lance['warm']['ivf_pq']['recall']:.3f}; flat "
            f"{_ms(lance['warm']['flat']['p50'])} @ {lance['warm']['flat']['recall']:.3f}"
            if lance and "ivf_pq" in lance["warm"]
            else "-",
            f"{_ms(fx['p50'])} / {_ms(fx['p95'])} @ {fx['recall']:.3f}" if fx else "-",
            "p50 <= 2x faiss @ >= 0.95",
        )
        row("Shoal's ranking alone, p50", _ms(w.get("engine_p50")))
        row(
            "filtered 10% p50 @ recall@10",
            f"{_ms(w['filtered_p50'])} @ {w['filtered_recall']:.3f}",
            f"IVF_PQ {_ms(lance['warm']['ivf_pq_filtered']['p50'])} @ "
            f"{lance['warm']['ivf_pq_filtered']['recall']:.3f}; flat "
            f"{_ms(lance['warm']['flat_filtered']['p50'])}"
            if lance and "ivf_pq" in lance["warm"]
            else "-",
            goal="<= 2 ms",
        )
        row(
            "disk",
            f"{s['disk'] / 2**20:,.0f} MiB",
            f"{lance['disk'] / 2**20:,.0f} MiB ({s['disk'] / lance['disk']:.2f}x)"
            if lance
            else "-",
            goal="<= 1.5x LanceDB",
        )
    return out


def main() -> None:
    """Measure one Shoal tree beside LanceDB and faiss at each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cold-repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="open datasets built before")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--src", type=Path, default=None, help="default: what PYTHONPATH picks")
    parser.add_argument("--label", default="current")
    parser.add_argument("--index-storage", choices=("auto", "flat", "compressed"), default="auto")
    parser.add_argument(
        "--index-every", type=int, default=0, help="wait_for_index() every so many rows"
    )
    args = parser.parse_args()
    args.src = (args.src or _measured_src()).resolve()
    tree = _tree(args.src)
    results = {str(rows): _one(rows, args, tree) for rows in args.rows}
    path = HERE / "results" / "scale.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    runs = previous.get("runs", {})
    earlier = runs.get(args.label, {}).get("sizes", {})
    sizes = {**earlier}
    for size, result in results.items():  # a run of some systems keeps the others' figures
        sizes[size] = {**earlier.get(size, {}), **result}
    runs[args.label] = {**tree, "versions": _versions(), "sizes": sizes}
    save_report("scale", "store at scale vs LanceDB and faiss", runs=runs)
    for size, result in results.items():
        print(f"\n{args.label} ({tree['commit'][:7]}), {int(size):,} rows:")
        lancedb = f"LanceDB {runs[args.label]['versions'].get('lancedb', '')}"
        print_table(["figure", "Shoal", lancedb, "raw faiss HNSW", "goal"], _table(result))


if __name__ == "__main__":
    main()
