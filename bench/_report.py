"""How every benchmark records itself: a JSON file in bench/results and a markdown table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from shoal._machine import cpu_flags, cpu_model, simd_level

RESULTS = Path(__file__).resolve().parent / "results"
# Variables that force other kernels than the CPU's own choice (CI's second numeric run).
_KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "FAISS_SIMD_LEVEL", "ATEN_CPU_CAPABILITY")


def kernels() -> dict[str, Any]:
    """The kernels this process runs: BLAS core types, faiss's build, ONNX Runtime, and overrides."""
    found: dict[str, Any] = {"simd": simd_level()}
    try:
        from importlib.metadata import version

        found["onnxruntime"] = version("onnxruntime")
    except Exception:  # not installed: nothing of it ran
        pass
    try:
        import faiss

        found["faiss"] = (
            f"{faiss.get_compile_options()} running {faiss.SIMDConfig.get_level_name()}"
        )
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        found["blas"] = sorted(
            {
                f"{i['prefix']} {i.get('architecture', '?')}"
                for i in threadpool_info()
                if i["user_api"] == "blas"
            }
        )
    except ImportError:  # threadpoolctl comes with scikit-learn (the dev extra)
        pass
    overrides = {name: os.environ[name] for name in _KERNEL_VARIABLES if name in os.environ}
    if overrides:
        found["overrides"] = overrides
    return found


def save_report(name: str, benchmark: str, **fields: Any) -> Path:
    """Write results/<name>.json: the benchmark's name, today's date, the machine and its
    CPU flags and kernels, then `fields`."""
    report = {
        "benchmark": benchmark,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {len(os.sched_getaffinity(0))} cores",
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "kernels": kernels(),
        **fields,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a markdown table, ready for BENCHMARKS.md."""
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def spawn_worker(script: str, args: list[str]) -> dict[str, Any]:
    """Run `script ARGS` in a fresh Python process; its last stdout line is a JSON result."""
    done = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_T = TypeVar("_T")


def add_tree_options(parser: argparse.ArgumentParser) -> None:
    """--rounds, --base-src and --base-label: this checkout against another source tree."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-src", type=Path, help="another checkout's src folder")
    parser.add_argument("--base-label", default="base")


def alternate_trees(args: argparse.Namespace, run: Callable[[Path], _T]) -> dict[str, list[_T]]:
    """`run(src)` for the base tree (if given) and this checkout's src, alternating round by
    round (`args.rounds`), printing each result; the results by tree label."""
    trees = {"head": RESULTS.parent.parent / "src"}
    if args.base_src:
        trees = {args.base_label: args.base_src, **trees}
    results: dict[str, list[_T]] = {label: [] for label in trees}
    for _ in range(args.rounds):
        for label, src in trees.items():
            results[label].append(run(src))
            print(label, results[label][-1], flush=True)
    return results


def run_snippet(code: str, args: list[str], src: Path, **env: str) -> dict[str, Any]:
    """Run Python `code` with `args` in a fresh process importing Shoal from `src` (and
    these extra environment variables); its last stdout line, parsed as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src), **env},
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def start_server(command: list[str], port: int) -> subprocess.Popen[bytes]:
    """Start a Shoal server process (`command`) and return once it answers on `port`."""
    import shoal
    from shoal.errors import ProviderUnavailable

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = shoal.connect(f"http://127.0.0.1:{port}")
    while True:
        try:
            client.datasets()
            return process
        except ProviderUnavailable:
            if process.poll() is not None:
                raise RuntimeError(f"the server did not start: {command}") from None
            time.sleep(0.1)
