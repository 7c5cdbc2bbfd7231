"""Adds/s of writer processes sharing one S3 dataset (moto on loopback), for each way of
keeping ids unique without a lock, in the same run.

    .venv/bin/python bench/s3_writers.py [--writers 1 4] [--adds 30] [--rounds 1]

Each writer process makes `--adds` calls of `ds.add` (6 texts with their vectors, 16-d: 3
texts every writer adds, so the same new ids race, and 3 of its own) into a fresh dataset
on a moto S3 server in this process. Ways (`SHOAL_S3_WRITES`): `keys`, Lance's key
conflicts (the default); `cleanup`, appends then deleting the later copies of the ids
written (Shoal before this change, the baseline); `unsafe`, appends alone (what the
others cost over nothing; it stores copies). Alternates the ways round by round; reports
adds/s summed over writers, copies left, and each way against `cleanup`.
Writes bench/results/s3_writers.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
MODES = ("cleanup", "keys", "unsafe")

WRITER = """
import json, sys, time
from pathlib import Path
import numpy as np
import shoal
uri, me, adds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
ds = shoal.open(uri)
rng = np.random.default_rng(abs(hash(me)) % 2**32)
(go.parent / f"ready-{me}").touch()
while not go.exists():
    time.sleep(0.001)
start = time.perf_counter()
for batch in range(adds):
    texts = [f"shared {batch}-{r}" for r in range(3)] + [f"{me} {batch}-{r}" for r in range(3)]
    ds.add(texts, embeddings=rng.normal(size=(6, 16)))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def run(endpoint: str, mode: str, writers: int, adds: int) -> dict[str, float]:
    """One race: `writers` processes, `adds` adds each; adds/s summed and copies stored."""
    import lance

    import shoal

    options = _options(endpoint)
    uri = f"s3://bench/{uuid.uuid4().hex}"
    shoal.open(uri, embedder="hash:16", storage_options=options)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "SHOAL_S3_WRITES": mode,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    with tempfile.TemporaryDirectory() as folder:
        go = Path(folder) / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, uri, f"w{i}", str(adds), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(writers)
        ]
        while not all((Path(folder) / f"ready-w{i}").exists() for i in range(writers)):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(procs[0].communicate()[1][-3000:])
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(err[-3000:])
    slowest = max(json.loads(out.strip().splitlines()[-1])["seconds"] for out, _ in outputs)
    ids = lance.dataset(uri, storage_options=options).to_table(columns=["id"]).column("id")
    return {"adds_per_s": writers * adds / slowest, "copies": len(ids) - len(set(ids.to_pylist()))}


def _options(endpoint: str) -> dict[str, str]:
    return {
        "aws_endpoint": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_region": "us-east-1",
        "allow_http": "true",
    }


def main() -> None:
    """Alternate the ways round by round for each writer count; report medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--adds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(SRC))
    import boto3
    from moto.server import ThreadedMotoServer

    from _report import print_table, save_report

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="testing",
            aws_secret_access_key="testing", region_name="us-east-1",
        ).create_bucket(Bucket="bench")  # fmt: skip
        results: dict[str, dict[str, list[dict[str, float]]]] = {}
        for writers in args.writers:
            per_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            for _ in range(args.rounds):
                for mode in MODES:
                    per_mode[mode].append(run(endpoint, mode, writers, args.adds))
            results[str(writers)] = per_mode
    finally:
        server.stop()
    rows = []
    for writers, per_mode in results.items():
        base = statistics.median(r["adds_per_s"] for r in per_mode["cleanup"])
        for mode, runs in per_mode.items():
            rate = statistics.median(r["adds_per_s"] for r in runs)
            copies = max(int(r["copies"]) for r in runs)
            rows.append((writers, mode, f"{rate:.2f}", copies, f"{rate / base:.2f}x"))
    save_report("s3_writers", "s3_writers", args={k: str(v) for k, v in vars(args).items()},
                results=results)  # fmt: skip
    print_table(["writers", "way", "adds/s (median)", "copies left", "vs cleanup"], rows)


if __name__ == "__main__":
    main()
