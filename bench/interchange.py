"""Rows a second out to Arrow / pandas and in from Arrow: Shoal against Lance's own reads
and writes of the same rows, in the same run.

    nice -n 5 .venv/bin/python bench/interchange.py [--rows 100000] [--repeat 3]

Data: `--rows` rows of a short text, a random 384-d float32 vector and a small metadata
object (topic, year), written into a Shoal dataset in a temporary folder.

- export: ``ds.to_arrow()`` (id, text, embedding, metadata as JSON text) against
  ``lance.dataset(path).to_table(columns=[...])`` of the same Lance files (the floor:
  Shoal adds the pinned version, the metadata's JSON text and the schema's metadata);
  ``ds.to_arrow(columns=["id", "topic", "year"])`` (metadata fields, typed) against
  Lance's own JSON projection of them; ``ds.to_pandas()`` against the Lance table's
  ``to_pandas()``.
- import: ``shoal.from_arrow(table, new_folder)`` of the exported table (vectors given,
  nothing embedded; ids checked against stored ones, staged, one commit) against
  ``lance.write_dataset(table, new_folder)``.

Each figure is the median of `--repeat` runs after one untimed run (exports). Writes bench/results/interchange.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import lance
import numpy as np

import shoal
from _report import print_table, save_report

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "market",
    "river",
    "data",
    "model",
    "stream",
    "vector",
    "index",
    "query",
    "answer",
]


def _median_seconds(work: Callable[[], Any], repeat: int, *, warm: bool = True) -> float:
    if warm:  # the first read pays for the page cache and lazy imports: not timed
        work()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    texts = [
        " ".join(rng.choice(WORDS, size=int(rng.integers(8, 16)))) + f" {i}"
        for i in range(args.rows)
    ]
    vectors = rng.standard_normal((args.rows, 384), dtype=np.float32)
    metas = [{"topic": f"t{i % 7}", "year": 2000 + i % 25} for i in range(args.rows)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        ds = shoal.open(f"{folder}/source", embedder="hash:384")
        ds.add(texts, metadatas=metas, embeddings=vectors)
        path = ds._location.lance_uri  # the Lance dataset inside the Shoal folder
        plain = lance.dataset(path)
        base = ["id", "text", "embedding", "metadata"]

        def add(what: str, shoal_seconds: float, lance_seconds: float) -> None:
            rows.append(
                {
                    "what": what,
                    "shoal_rows_per_s": round(args.rows / shoal_seconds),
                    "lance_rows_per_s": round(args.rows / lance_seconds),
                    "ratio": round(lance_seconds / shoal_seconds, 2),
                }
            )
            print(rows[-1], flush=True)

        add(
            "export all columns to Arrow",
            _median_seconds(ds.to_arrow, args.repeat),
            _median_seconds(lambda: plain.to_table(columns=base), args.repeat),
        )
        fields = {
            "id": "id",
            "topic": "json_extract(metadata, '$.topic')",
            "year": "json_extract(metadata, '$.year')",
        }
        add(
            "export metadata fields (typed) to Arrow",
            _median_seconds(lambda: ds.to_arrow(columns=["id", "topic", "year"]), args.repeat),
            _median_seconds(lambda: plain.to_table(columns=fields), args.repeat),
        )
        add(
            "export all columns to pandas",
            _median_seconds(ds.to_pandas, args.repeat),
            _median_seconds(lambda: plain.to_table(columns=base).to_pandas(), args.repeat),
        )
        table = ds.to_arrow()
        count = iter(range(10 * args.repeat))

        def shoal_import() -> None:
            shoal.from_arrow(table, f"{folder}/copy-{next(count)}")

        def lance_write() -> None:
            lance.write_dataset(table, f"{folder}/plain-{next(count)}")

        add(
            "import an exported table (vectors given)",
            _median_seconds(shoal_import, args.repeat, warm=False),
            _median_seconds(lance_write, args.repeat, warm=False),
        )
        assert len(shoal.open(f"{folder}/copy-0")) == args.rows
    save_report(
        "interchange",
        "Arrow/pandas export and Arrow import rows/s, Shoal vs Lance alone",
        rows_per_run=args.rows,
        repeat=args.repeat,
        dimensions=384,
        results=rows,
    )
    print_table(
        ["what", "Shoal rows/s", "Lance alone rows/s", "Shoal / Lance"],
        [[r["what"], r["shoal_rows_per_s"], r["lance_rows_per_s"], r["ratio"]] for r in rows],
    )


if __name__ == "__main__":
    main()
