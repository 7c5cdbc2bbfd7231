"""Cold-start costs: `import shoal` wall time and the first query of `shoal similar` from a new process.

    .venv/bin/python bench/startup.py [--repeat 5]

Baselines in the same run: `python -c pass`, `import numpy`, and the same cat/mat
ranking done by sentence-transformers in a new process. "First ever" is the one-time
cost with an empty Shoal cache (building and quantising the ONNX graph).
Writes bench/results/startup.json and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402

BIN = Path(sys.executable).parent
DOCS = [
    "The cat is on the mat.",
    "There is a cat on the mat.",
    "The dog is in the yard.",
    "There is a dog in the yard.",
]
QUERY = "A cat is sitting on a mat."

ST_SCRIPT = f"""
from sentence_transformers import SentenceTransformer
from shoal.embeddings.local._resolve import resolve_model_dir
m = SentenceTransformer(str(resolve_model_dir("all-MiniLM-L6-v2")), device="cpu")
d = m.encode({DOCS!r}, normalize_embeddings=True)
q = m.encode({QUERY!r}, normalize_embeddings=True)
print({DOCS!r}[int((d @ q).argmax())])
"""


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def _median(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    return statistics.median(_time(cmd, env) for _ in range(repeat))


def main() -> None:
    """Time each start-up path `repeat` times and report medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    similar = [str(BIN / "shoal"), "similar", QUERY] + [x for d in DOCS for x in ("--doc", d)]
    rows: dict[str, float] = {
        "python -c pass": _median([py, "-c", "pass"], args.repeat),
        "import numpy": _median([py, "-c", "import numpy"], args.repeat),
        "import shoal": _median([py, "-c", "import shoal"], args.repeat),
        "shoal --help": _median([str(BIN / "shoal"), "--help"], args.repeat),
    }
    _time(similar)  # make sure the ONNX graph is cached
    rows["shoal similar (cold process, cached graph)"] = _median(similar, args.repeat)
    rows["sentence-transformers same ranking (cold process)"] = _median(
        [py, "-c", ST_SCRIPT], args.repeat
    )
    with tempfile.TemporaryDirectory() as empty:
        env = dict(os.environ, SHOAL_CACHE_DIR=empty)
        rows["shoal similar, first ever (empty cache: build + quantise graph)"] = _time(
            similar, env
        )
    save_report("startup", "startup", repeat=args.repeat, median_seconds=rows)
    print_table(("what", "median wall s"), ((name, f"{s:.3f}") for name, s in rows.items()))


if __name__ == "__main__":
    main()
