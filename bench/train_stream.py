"""Rows a second a training loop gets: Shoal's `to_torch` against LanceDB's and Deep Lake's
PyTorch datasets and a plain Lance read of the same file, all in the same run.

    .venv/bin/pip install -e '.[dev,bench]' deeplake==4.7.4
    nice -n 5 .venv/bin/python bench/train_stream.py [--rows 100000] [--batch-size 256]
        [--systems shoal,lancedb,deeplake,lance] [--seconds 60]

Data: `--rows` rows of a short text (8-16 words) and a random 384-d float32 vector, written
once into a Shoal dataset (a Lance dataset in a folder), a LanceDB table and a Deep Lake 4
dataset, each on the local disk.

Each (system, DataLoader workers, shuffle) runs in a fresh process: one epoch of batches of
`--batch-size` rows of both columns (text as str, the vector as a float32 tensor) through
`torch.utils.data.DataLoader`, timed from creating the DataLoader's iterator (worker start
included) to its last batch, or to `--seconds` if sooner (then the rows read so far count).

- shoal: ``ds.to_torch(columns=["text", "embedding"], batch_size=B, shuffle=S)`` in
  ``DataLoader(stream, batch_size=None, num_workers=W, multiprocessing_context="forkserver")``
  (the README's setup: the forkserver has imported shoal.integrations.torch). Shuffled:
  blocks of 256 rows permuted, rows mixed within windows of 8192. The row "shoal, row
  shuffle" permutes single rows instead (BLOCK_ROWS = 1; 0 workers only).
- lancedb: a `lancedb.permutation.Permutation` of the table (identity, or
  ``permutation_builder(table).shuffle(seed=0, clump_size=256)``: the same 256-row
  clumps), in ``DataLoader(permutation, batch_size=B, collate_fn=one_batch, num_workers=W,
  multiprocessing_context="forkserver")``: each batch is one `__getitems__` call (one take),
  converted by the same transform as Shoal's batches.
- deeplake: ``DataLoader(ds.pytorch(), batch_size=B, shuffle=S, num_workers=W)`` as Deep
  Lake 4's documentation shows (fork start method, a row per `__getitem__`).
- lance (baseline): ``lance.dataset(path).to_batches(columns=["text", "embedding"],
  batch_size=B)`` over the Shoal dataset's Lance files, each batch converted the same
  way (text to str, vector to a tensor), no DataLoader, no shuffle.

Writes bench/results/train_stream.json and prints the table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report, spawn_worker  # noqa: E402

DIM = 384
WORDS = [
    "the",
    "a",
    "of",
    "river",
    "model",
    "train",
    "cat",
    "data",
    "vector",
    "stream",
    "search",
    "quiet",
    "fast",
    "green",
    "lamp",
    "window",
    "paper",
    "index",
    "shard",
    "epoch",
    "batch",
    "small",
    "large",
    "north",
    "south",
    "music",
]


def build(folder: Path, rows: int, systems: list[str]) -> None:
    """Write the same rows into each system's store under `folder`."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    texts = [
        " ".join(rng.choice(WORDS, size=int(rng.integers(8, 17)))) + f" {i}" for i in range(rows)
    ]
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    import shoal

    ds = shoal.open(folder / "shoal", embedder=f"hash:{DIM}")
    for start in range(0, rows, 25_000):
        stop = start + 25_000
        ds.add(texts[start:stop], embeddings=vectors[start:stop])
    if "lancedb" in systems:
        import lancedb

        table = pa.table(
            {
                "text": pa.array(texts),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
            }
        )
        lancedb.connect(folder / "lancedb").create_table("rows", table)
    if "deeplake" in systems:
        import deeplake

        dl = deeplake.create(str(folder / "deeplake"))
        dl.add_column("text", deeplake.types.Text())
        dl.add_column("embedding", deeplake.types.Embedding(DIM))
        dl.append({"text": texts, "embedding": vectors})
        dl.commit()


def one_batch(batch: Any) -> Any:
    """The DataLoader's collate_fn where the dataset already returns whole batches."""
    return batch


def arrow_batch(batch: Any) -> dict[str, Any]:
    """An Arrow batch as Shoal's stream gives it: text as str, the vector as a tensor."""
    import numpy as np
    import torch

    vectors = batch.column("embedding").flatten().to_numpy(zero_copy_only=False)
    return {
        "text": batch.column("text").to_pylist(),
        "embedding": torch.from_numpy(np.array(vectors).reshape(len(batch), DIM)),
    }


def loader_of(system: str, folder: Path, workers: int, shuffle: bool, batch: int) -> Any:
    """`system`'s loader of batches: a DataLoader (a generator for the plain Lance read),
    with `set_epoch(epoch)` where it has one."""
    from torch.utils.data import DataLoader

    context = multiprocessing.get_context("forkserver")
    workers_on = {"num_workers": workers, "multiprocessing_context": context} if workers else {}
    if system in ("shoal", "shoal-rows"):
        import shoal
        import shoal.store._stream as streams

        multiprocessing.set_forkserver_preload(["shoal.integrations.torch"])
        if system == "shoal-rows":
            streams.BLOCK_ROWS = 1
        ds = shoal.open(folder / "shoal")
        stream = ds.to_torch(columns=["text", "embedding"], batch_size=batch, shuffle=shuffle)
        loader: Any = DataLoader(stream, batch_size=None, **workers_on)
        loader.set_epoch = stream.set_epoch
        return loader
    if system == "lancedb":
        import lancedb
        from lancedb.permutation import Permutation, permutation_builder

        multiprocessing.set_forkserver_preload(["lancedb", "torch"])
        table = lancedb.connect(folder / "lancedb").open_table("rows")
        if shuffle:
            order = permutation_builder(table).shuffle(seed=0, clump_size=256).execute()
            permutation = Permutation.from_tables(table, order)
        else:
            permutation = Permutation.identity(table)
        permutation = permutation.with_transform(arrow_batch)
        return DataLoader(permutation, batch_size=batch, collate_fn=one_batch, **workers_on)
    if system == "deeplake":
        import deeplake

        dl = deeplake.open_read_only(str(folder / "deeplake"))
        fork = {"multiprocessing_context": multiprocessing.get_context("fork")}
        options = {"num_workers": workers, **fork} if workers else {}
        return DataLoader(dl.pytorch(), batch_size=batch, shuffle=shuffle, **options)
    import lance  # the plain read

    files = lance.dataset(str(folder / "shoal"))

    class Plain:
        def __iter__(self) -> Any:
            scan = files.to_batches(columns=["text", "embedding"], batch_size=batch)
            return (arrow_batch(b) for b in scan)

    return Plain()


def run(
    system: str, folder: Path, workers: int, shuffle: bool, batch: int, epochs: int, cap: float
) -> dict[str, Any]:
    """Up to `epochs` epochs of `system` (fewer once `cap` seconds have passed; a first
    epoch longer than `cap` is cut there): the median epoch's rows a second, and more."""
    loader = loader_of(system, folder, workers, shuffle, batch)
    runs = []
    began = time.perf_counter()
    for epoch in range(epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        rows = 0
        start = time.perf_counter()
        first = first_rows = None
        for item in loader:
            rows += len(item["text"])
            if first is None:
                first, first_rows = time.perf_counter() - start, rows
            if time.perf_counter() - began > cap and epoch == 0:
                break
        seconds = time.perf_counter() - start
        after = seconds - (first or 0.0)
        runs.append(
            {
                "rows": rows,
                "seconds": round(seconds, 3),
                "rows_per_s": round(rows / seconds),
                "first_batch_s": round(first or 0.0, 3),
                # The pace once the first batch is in (worker start-up left out).
                "rows_per_s_after_first": round((rows - (first_rows or 0)) / after),
            }
        )
        if time.perf_counter() - began > cap:
            break
    middle = sorted(runs, key=lambda r: r["rows_per_s"])[len(runs) // 2]
    return {**middle, "epochs": len(runs), "epoch_rows_per_s": [r["rows_per_s"] for r in runs]}


CONFIGS = [
    (system, workers, shuffle)
    for system in ("shoal", "lancedb", "deeplake")
    for workers in (0, 4)
    for shuffle in (False, True)
] + [("shoal-rows", 0, True), ("lance", 0, False)]


def main() -> None:
    """Build the stores, run every configuration in its own process, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--systems", default="shoal,lancedb,deeplake,lance")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shuffle", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = run(
            args.worker,
            args.folder,
            args.workers,
            bool(args.shuffle),
            args.batch_size,
            args.epochs,
            args.seconds,
        )
        print(json.dumps(result))
        return
    systems = args.systems.split(",")
    folder = Path(tempfile.mkdtemp(prefix="train-stream-"))
    try:
        started = time.perf_counter()
        build(folder, args.rows, systems)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        results = []
        for system, workers, shuffle in CONFIGS:
            if system.split("-")[0] not in systems:
                continue
            result = spawn_worker(
                __file__,
                [
                    f"--worker={system}",
                    f"--folder={folder}",
                    f"--workers={workers}",
                    f"--shuffle={int(shuffle)}",
                    f"--batch-size={args.batch_size}",
                    f"--epochs={args.epochs}",
                    f"--seconds={args.seconds}",
                ],
            )
            results.append({"system": system, "workers": workers, "shuffle": shuffle, **result})
            print(results[-1], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(
        ["system", "workers", "shuffle", "rows read", "rows/s", "first batch s", "rows/s after it"],
        [
            (
                r["system"],
                r["workers"],
                r["shuffle"],
                r["rows"],
                f"{r['rows_per_s']:,}",
                r["first_batch_s"],
                f"{r['rows_per_s_after_first']:,}",
            )
            for r in results
        ],
    )
    path = save_report(
        "train_stream",
        "rows a second into a DataLoader: shoal to_torch vs LanceDB, Deep Lake, a plain Lance read",
        rows=args.rows,
        dimensions=DIM,
        batch_size=args.batch_size,
        epochs=args.epochs,
        cap_seconds=args.seconds,
        results=results,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
