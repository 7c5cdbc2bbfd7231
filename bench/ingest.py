"""Ingest on SciFact: `shoal.ingest` vs LangChain's splitter + sentence-transformers + Chroma, same run.

    .venv/bin/pip install -e '.[dev,bench]' torch==2.13.0
    .venv/bin/python bench/ingest.py [--n 5183] [--systems shoal,shoal-fp32,langchain] [--quick]
    .venv/bin/python bench/ingest.py --window      # LangChain's chunks against MiniLM's window
    .venv/bin/python bench/ingest.py --profile 300  # where Shoal's ingest spends its time

Data: the first n SciFact documents (../shared/data/scifact/corpus.jsonl, read in place),
each written to a temporary folder as <id>.txt holding its title, a blank line and its
abstract (the BEIR document), so that every system reads the same files. Shoal's ONNX graphs
are built and cached before the clock starts (once per machine, as any user's first use).

Systems, each in a process of its own (model loading and memory kept apart), one after
the other on the same files, all with the machine's default threads:

- shoal: `shoal.ingest(folder, into=<new dataset>)` with its defaults: all-MiniLM-L6-v2
  int8 on ONNX Runtime, LangChain's chunks of 1000 characters without overlap (a chunk
  past the model's 256-token window split further), a new embedding cache.
- shoal-fp32: the same with `LocalEmbedder(quantize=False)`: the baseline's exact weights.
- langchain: the files read into `Document`s, `RecursiveCharacterTextSplitter(1000, 0)`,
  `HuggingFaceEmbeddings` (sentence-transformers, the same all-MiniLM-L6-v2 folder, CPU)
  and a persistent `Chroma` collection, written through LangChain's indexing API
  (`index(..., cleanup="incremental")` with an in-memory record manager), which is what
  makes a LangChain re-run idempotent as Shoal's is.

Each system then runs again on the unchanged folder (Shoal: a new process, as a second
`shoal ingest` would be; LangChain: the same process, since its in-memory record manager
does not outlive it) and, for Shoal, once more into a new dataset with the warm embedding
cache. Reported: documents/s and chunks/s of the first run, the rerun's seconds, peak RSS,
and ratios to LangChain. Writes bench/results/ingest.json (--quick: ingest_quick.json).

--window splits the whole corpus with `RecursiveCharacterTextSplitter(1000, 0)` and counts
the chunks longer than all-MiniLM-L6-v2's 256-token window (which sentence-transformers
truncates) and the tokens cut off (results/ingest_window.json). --profile N runs
`shoal.ingest` on N documents under cProfile, the model loaded and warmed first, and
reports the share of time in ONNX Runtime (results/ingest_profile.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report, spawn_worker  # noqa: E402
from _texts import DATA  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
SCIFACT_DOCS = 5_183


def write_corpus(folder: Path, n: int) -> int:
    """The first n SciFact documents as <id>.txt files (title, blank line, abstract)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with (DATA / "scifact" / "corpus.jsonl").open(encoding="utf-8") as corpus:
        for line in corpus:
            doc = json.loads(line)
            text = f"{doc['title']}\n\n{doc['text']}".strip()
            (folder / f"{doc['_id']}.txt").write_text(text + "\n", encoding="utf-8")
            count += 1
            if count >= n:
                break
    return count


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_shoal(folder: Path, work: Path, phase: str, quantize: bool) -> dict[str, Any]:
    """One Shoal ingest: `first` into a new dataset, `rerun` on it, `cached` into another."""
    import shoal
    from shoal.embeddings.local import LocalEmbedder

    model = LocalEmbedder(MODEL, quantize=quantize)
    cache = shoal.EmbeddingCache(work / "cache.sqlite3")
    into = work / ("cached" if phase == "cached" else "kb")
    start = time.perf_counter()
    before = len(shoal.open(into).log()) if (into / "_versions").is_dir() else 0
    report = shoal.ingest(folder, into=str(into), embedder=model, cache=cache)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        # Versions this run wrote (the dataset's creation included), and what one version a
        # batch plus a commit, the design before staging, would have written for it.
        "versions": len(shoal.open(into).log()) - before,
        "versions_one_per_batch": report.batches + 1 if report.batches else 0,
        "batches": report.batches,
        "files": report.files,
        "chunks": report.chunks_added,
        "embedded": report.embedded,
        "cached": report.cached,
        "unchanged": len(report.unchanged),
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_langchain(folder: Path, work: Path) -> dict[str, Any]:
    """LangChain: load, split, embed with sentence-transformers, index into Chroma; then again."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.indexing import InMemoryRecordManager, index
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from shoal.embeddings.local._resolve import resolve_model_dir

    embeddings = HuggingFaceEmbeddings(
        model_name=str(resolve_model_dir(MODEL)), model_kwargs={"device": "cpu"}
    )
    store = Chroma(
        collection_name="bench",
        embedding_function=embeddings,
        persist_directory=str(work / "chroma"),
    )
    records = InMemoryRecordManager(namespace="chroma/bench")
    records.create_schema()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        docs = [
            Document(page_content=path.read_text(encoding="utf-8"), metadata={"source": str(path)})
            for path in sorted(folder.glob("*.txt"))
        ]
        chunks = splitter.split_documents(docs)
        result = index(chunks, records, store, cleanup="incremental", source_id_key="source")
        return {
            "seconds": time.perf_counter() - start,
            "files": len(docs),
            "chunks": result["num_added"],
            "skipped": result["num_skipped"],
        }

    first = run()
    first["peak_rss_mb"] = _peak_rss_mb()
    again = run()
    return {"first": first, "rerun": again}


def worker_warmup() -> dict[str, Any]:
    """Build and cache both ONNX graphs once (a one-time cost per machine, not an ingest's)."""
    from shoal.embeddings.local import LocalEmbedder

    start = time.perf_counter()
    for quantize in (True, False):
        LocalEmbedder(MODEL, quantize=quantize).embed_query("warm up")
    return {"seconds": time.perf_counter() - start}


def window_check() -> dict[str, Any]:
    """LangChain's 1000/0 chunks of the corpus: how many pass MiniLM's window, tokens cut off."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from shoal.embeddings.local import LocalEmbedder

    model = LocalEmbedder(MODEL)
    window = model.max_seq_length
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
    with tempfile.TemporaryDirectory(prefix="shoal-bench-window-") as tmp:
        folder = Path(tmp)
        write_corpus(folder, SCIFACT_DOCS)
        texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))]
    sizes = [model.count_tokens(chunk) for text in texts for chunk in splitter.split_text(text)]
    over = [size for size in sizes if size > window]
    return {
        "window": window,
        "chunks": len(sizes),
        "over_window": len(over),
        "tokens": sum(sizes),
        "tokens_cut_off": sum(size - window for size in over),
    }


def profile(n: int) -> dict[str, Any]:
    """cProfile of one `shoal.ingest` of n documents (model warm): total and ONNX Runtime seconds."""
    import cProfile
    import pstats

    import shoal
    from shoal.embeddings.local import LocalEmbedder

    model = LocalEmbedder(MODEL)
    model.embed_query("warm up")
    with tempfile.TemporaryDirectory(prefix="shoal-bench-profile-") as tmp:
        folder = Path(tmp) / "docs"
        write_corpus(folder, n)
        profiler = cProfile.Profile()
        profiler.enable()
        shoal.ingest(folder, into=str(Path(tmp) / "kb"), embedder=model, cache=False)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    onnx = sum(
        entry[2]  # tottime
        for (_file, _line, name), entry in stats.stats.items()  # type: ignore[attr-defined]
        if "onnxruntime" in name and name.rstrip(">}").endswith(".run")
    )
    stats.sort_stats("cumulative").print_stats(15)
    return {"documents": n, "seconds": total, "onnx_seconds": onnx, "onnx_share": onnx / total}


def _spawn(args: list[str]) -> dict[str, Any]:
    return spawn_worker(__file__, args)


def run_system(system: str, folder: Path, work: Path) -> dict[str, Any]:
    """The first run, the rerun (and for Shoal the warm-cache run) of one system."""
    base = ["--worker", system, "--folder", str(folder), "--work", str(work)]
    if system == "langchain":
        out = _spawn(base)
        return {"system": system, "first": out["first"], "rerun": out["rerun"]}
    first = _spawn([*base, "--phase", "first"])
    rerun = _spawn([*base, "--phase", "rerun"])
    cached = _spawn([*base, "--phase", "cached"])
    return {"system": system, "first": first, "rerun": rerun, "cached": cached}


def main() -> None:
    """Write the corpus, run each system in turn, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=SCIFACT_DOCS, help="SciFact documents")
    parser.add_argument("--systems", default="shoal,shoal-fp32,langchain")
    parser.add_argument("--quick", action="store_true", help="smoke test: 300 documents")
    parser.add_argument("--window", action="store_true", help="LangChain chunks vs the window")
    parser.add_argument("--profile", type=int, metavar="N", help="profile an ingest of N docs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        os.environ["ANONYMIZED_TELEMETRY"] = "False"  # Chroma: no network calls
        if args.worker == "warmup":
            result = worker_warmup()
        elif args.worker == "langchain":
            result = worker_langchain(args.folder, args.work)
        else:
            result = worker_shoal(args.folder, args.work, args.phase, args.worker == "shoal")
        print(json.dumps(result))
        return
    if args.window or args.profile:
        name, figures = (
            ("ingest_window", window_check())
            if args.window
            else ("ingest_profile", profile(args.profile))
        )
        save_report(name, name, **figures)
        print(json.dumps(figures))
        return
    n = 300 if args.quick else args.n
    results = []
    with tempfile.TemporaryDirectory(prefix="shoal-bench-ingest-") as tmp:
        folder = Path(tmp) / "scifact"
        docs = write_corpus(folder, n)
        warmup = _spawn(["--worker", "warmup"])
        print(f"ONNX graphs built and cached once: {warmup['seconds']:.1f} s", flush=True)
        for system in args.systems.split(","):
            work = Path(tmp) / system
            work.mkdir()
            result = run_system(system, folder, work)
            first = result["first"]
            first["docs_per_s"] = docs / first["seconds"]
            first["chunks_per_s"] = first["chunks"] / first["seconds"]
            results.append(result)
            print(
                f"{system:12} {docs} docs, {first['chunks']} chunks: {first['seconds']:.1f} s "
                f"({first['docs_per_s']:.1f} docs/s, {first['chunks_per_s']:.1f} chunks/s); "
                f"rerun {result['rerun']['seconds']:.2f} s",
                flush=True,
            )
    baseline = next((r for r in results if r["system"] == "langchain"), None)
    for result in results:
        if baseline is not None:
            result["docs_per_s_vs_langchain"] = (
                result["first"]["docs_per_s"] / baseline["first"]["docs_per_s"]
            )
            result["rerun_speedup_vs_langchain"] = (
                baseline["rerun"]["seconds"] / result["rerun"]["seconds"]
            )
    name = "ingest_quick" if args.quick else "ingest"
    save_report(name, "ingest", documents=docs, results=results)
    header = (
        "system", "docs", "chunks", "first run s", "docs/s", "chunks/s", "vs LangChain",
        "unchanged rerun s", "warm-cache new dataset s", "peak RSS MB",
        "versions (one a batch)",
    )  # fmt: skip
    print_table(
        header,
        (
            (r["system"], docs, f"{r['first']['chunks']:,}", f"{r['first']['seconds']:.1f}",
             f"{r['first']['docs_per_s']:.1f}", f"{r['first']['chunks_per_s']:.1f}",
             f"{r['docs_per_s_vs_langchain']:.2f}x" if baseline else "-",
             f"{r['rerun']['seconds']:.2f}",
             f"{r['cached']['seconds']:.1f}" if "cached" in r else "-",
             f"{r['first']['peak_rss_mb']:.0f}",
             f"{r['first']['versions']} ({r['first']['versions_one_per_batch']})"
             if "versions" in r["first"] else "-")
            for r in results
        ),
    )  # fmt: skip


if __name__ == "__main__":
    main()
