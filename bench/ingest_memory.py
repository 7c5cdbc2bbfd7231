"""Peak memory ingesting one large text file: streamed in sections vs read whole, same run.

    .venv/bin/python bench/ingest_memory.py [--mb 50] [--model hash:16]

Writes a text file of --mb megabytes (generated prose: paragraphs of 20-200 words, mostly
separated by blank lines), then ingests it into a new dataset in a fresh process twice:
with Shoal's default (files over 8 MiB are read and split in ~1 MiB sections) and with
streaming off (stream_above past the file size: the whole text is read, then split). Each
child reports its own peak RSS. The embedder is the hash fake by default, so the figures
are the pipeline's and the store's, not a model's. Also measured: the peak Python
allocation (tracemalloc) of just reading the file through `shoal.text.iter_documents`.
Writes bench/results/ingest_memory.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "dogs",
    "ran",
    "over",
    "yards",
    "and",
    "rivers",
    "under",
    "mountains",
]


def write_file(path: Path, megabytes: int) -> None:
    """Generated prose of at least `megabytes` MiB."""
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as out:
        while out.tell() < megabytes * 2**20:
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200)))
            out.write(words + ("\n\n" if rng.random() < 0.7 else "\n"))


def child(folder: Path, into: Path, model: str, stream_above: int) -> dict[str, Any]:
    """One ingest in this process; its time, chunks and peak RSS."""
    import shoal

    start = time.perf_counter()
    report = shoal.ingest(
        folder, into=str(into), embedder=model, cache=False, stream_above=stream_above
    )
    return {
        "seconds": time.perf_counter() - start,
        "chunks": report.chunks_added,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def reader_peak(file: Path) -> float:
    """Peak traced allocation (MB) while iterating the file's documents."""
    from shoal.text import iter_documents

    tracemalloc.start()
    try:
        for _ in iter_documents(file):
            pass
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    """Run both ingests in child processes and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--model", default="hash:16")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, into, stream_above = args.child
        print(json.dumps(child(Path(folder), Path(into), args.model, int(stream_above))))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="shoal-bench-memory-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        file = folder / "large.txt"
        write_file(file, args.mb)
        size_mb = file.stat().st_size / 2**20
        for label, stream_above in (("streamed (default)", 8 * 2**20), ("read whole", 2**62)):
            into = Path(tmp) / label.split()[0]
            done = subprocess.run(
                [sys.executable, __file__, "--model", args.model,
                 "--child", str(folder), str(into), str(stream_above)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append({"mode": label, **result})
            print(f"{label:20} {result}", flush=True)
        peak = reader_peak(file)
    print(f"reading the file through iter_documents: {peak:.1f} MB peak traced")
    save_report(
        "ingest_memory", "ingest_memory", file_mb=round(size_mb, 1), model=args.model,
        reader_peak_traced_mb=round(peak, 1), results=results,
    )  # fmt: skip
    print_table(
        ("mode", "file MB", "chunks", "seconds", "peak RSS MB"),
        (
            (r["mode"], f"{size_mb:.0f}", f"{r['chunks']:,}", f"{r['seconds']:.1f}",
             f"{r['peak_rss_mb']:.0f}")
            for r in results
        ),
    )  # fmt: skip


if __name__ == "__main__":
    main()
