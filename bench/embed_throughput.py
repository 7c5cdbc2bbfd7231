"""Texts/s and CPU-seconds: Shoal's local embedder vs sentence-transformers, same texts, same run.

    .venv/bin/python bench/embed_throughput.py [--n 2000] [--models all-MiniLM-L6-v2,all-mpnet-base-v2]

Each engine runs in its own subprocess (so torch's and ONNX Runtime's thread pools
never share a process), with its default thread count (all cores), after a warm-up
batch. Cosine is measured against sentence-transformers' vectors for the same texts.
Writes bench/results/embed_throughput.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import RESULTS, save_report  # noqa: E402
from _texts import benchmark_texts  # noqa: E402


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_engine(engine: str, model: str, n: int, out: Path) -> dict[str, float]:
    """Embed the texts with one engine in this process and save the vectors to `out`."""
    texts = benchmark_texts(n)
    load_start = time.perf_counter()
    if engine == "sentence-transformers":
        from sentence_transformers import SentenceTransformer

        from shoal.embeddings.local._resolve import resolve_model_dir

        st = SentenceTransformer(str(resolve_model_dir(model)), device="cpu")

        def embed(batch: list[str]) -> np.ndarray:
            return np.asarray(st.encode(batch, batch_size=32, convert_to_numpy=True))
    else:
        from shoal.embeddings.local import LocalEmbedder

        local = LocalEmbedder(model, quantize=engine == "shoal-int8")
        embed = local.embed_documents
    embed(texts[:32])  # warm-up: loads the model / builds the session
    load_seconds = time.perf_counter() - load_start
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    vectors = embed(texts)
    wall = time.perf_counter() - wall0
    cpu = _cpu_seconds() - cpu0
    np.save(out, vectors.astype(np.float32))
    return {"texts_per_s": len(texts) / wall, "wall_s": wall, "cpu_s": cpu, "load_s": load_seconds}


def main() -> None:
    """Run every engine for every model and report ratios to sentence-transformers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--models", default="all-MiniLM-L6-v2,all-mpnet-base-v2")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds; engines alternate, medians kept"
    )
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, args.model, args.n, Path(args.out))))
        return

    engines = {
        "all-MiniLM-L6-v2": ["sentence-transformers", "shoal-int8", "shoal-fp32"],
        # int8 is refused for mpnet (its vectors lose their meaning: LocalEmbedder).
        "all-mpnet-base-v2": ["sentence-transformers", "shoal-fp32"],
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            results[model] = {}
            runs: dict[str, list[dict[str, float]]] = {e: [] for e in engines[model]}
            for _round in range(args.repeat):
                for engine in engines[model]:
                    out = Path(tmp) / f"{model}-{engine}.npy"
                    cmd = [sys.executable, __file__, "--engine", engine, "--model", model]
                    cmd += ["--n", str(args.n), "--out", str(out)]
                    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    stats = json.loads(proc.stdout.strip().splitlines()[-1])
                    runs[engine].append(stats)
                    print(
                        f"{model:18} {engine:22} {stats['texts_per_s']:7.1f} texts/s  "
                        f"cpu {stats['cpu_s']:.1f}s",
                        flush=True,
                    )
            for engine, per_round in runs.items():
                results[model][engine] = {
                    key: float(np.median([r[key] for r in per_round])) for key in per_round[0]
                }
                results[model][engine]["rounds"] = len(per_round)
            reference = np.load(Path(tmp) / f"{model}-sentence-transformers.npy")
            base = results[model]["sentence-transformers"]
            for engine, stats in results[model].items():
                vectors = np.load(Path(tmp) / f"{model}-{engine}.npy")
                cos = (vectors * reference).sum(1) / (
                    np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1)
                )
                stats["cos_mean"] = float(cos.mean())
                stats["cos_min"] = float(cos.min())
                stats["speedup"] = stats["texts_per_s"] / base["texts_per_s"]
                stats["cpu_ratio"] = base["cpu_s"] / stats["cpu_s"]
    path = RESULTS / "embed_throughput.json"
    kept = results
    if path.is_file():  # keep the other models' latest figures
        kept = {**json.loads(path.read_text()).get("results", {}), **results}
    save_report("embed_throughput", "embed_throughput", n_texts=args.n, results=kept)
    print("\n| model | engine | texts/s | CPU s | speed-up vs ST | cosine mean / min |")
    print("|---|---|---|---|---|---|")
    for model, per_engine in results.items():
        for engine, s in per_engine.items():
            print(
                f"| {model} | {engine} | {s['texts_per_s']:.1f} | {s['cpu_s']:.1f} | "
                f"{s['speedup']:.2f}x | {s['cos_mean']:.4f} / {s['cos_min']:.4f} |"
            )


if __name__ == "__main__":
    main()
