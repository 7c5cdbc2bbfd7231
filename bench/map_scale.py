"""Maps at scale: 100k rows x 384-d projected, drawn as PNG and HTML, loaded in Chromium.

    .venv/bin/python bench/map_scale.py [--rows 100000] [--dims 384] [--umap] [--no-browser]

Every step runs in a fresh process, --repeat times in whole rounds (the median time and
the largest peak are reported), on the same synthetic data (unit vectors around 20
Gaussian cluster centres, seed 0; texts of ~100 characters; a "cluster" label per row)
and reports its seconds and the process's peak RSS. "data only" makes the vectors and
nothing else: a step's own memory is its peak minus that line. Same-run baselines for the
projection: numpy's thin SVD of the centred matrix (what a textbook PCA does) and
scikit-learn's PCA (svd_solver="full", and its default "auto") when scikit-learn is
installed. UMAP (umap-learn) runs with --umap. "map_dataset" is the whole user path:
open a 100k-row Lance dataset on disk, read ids, texts, labels and vectors, project, write
the HTML page. The browser step loads that page in headless Chromium (Playwright driving
/usr/bin/chromium) and reports the time until every point is drawn, console errors, and
the cost of one hover (the page's grid) against a linear scan over all points, in the same
page. Writes bench/results/map_scale.json.
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

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report, spawn_worker  # noqa: E402

CLUSTERS = 20
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def make_data(rows: int, dims: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Unit vectors around CLUSTERS centres, their texts and cluster labels."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLUSTERS, dims)).astype(np.float32)
    which = rng.integers(0, CLUSTERS, size=rows)
    vectors = np.empty((rows, dims), dtype=np.float32)
    for start in range(0, rows, 10_000):  # in blocks: no float64 copy of the whole matrix
        block = which[start : start + 10_000]
        noise = rng.standard_normal(size=(len(block), dims), dtype=np.float32) * 0.6
        block_vectors = centres[block] + noise
        block_vectors /= np.linalg.norm(block_vectors, axis=1, keepdims=True)
        vectors[start : start + len(block)] = block_vectors
    labels = [f"topic-{k:02d}" for k in which.tolist()]
    texts = [
        f"row {i} about {labels[i]}: the quick brown fox jumps over the lazy dog, again and again"
        for i in range(rows)
    ]
    return vectors, texts, labels


def peak_mb() -> float:
    """The peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The resident set size of this process now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(step: str, rows: int, dims: int, folder: Path) -> dict[str, Any]:
    """Run one step in this process: its seconds, peak RSS and what else it measured."""
    from shoal.analysis import map_dataset, map_vectors, project

    # map_dataset reads everything from the dataset: it makes no data of its own.
    vectors, texts, labels = make_data(rows, dims) if step != "map_dataset" else (None, [], [])
    extra: dict[str, Any] = {"rss_before_mb": round(rss_mb())}
    start = time.perf_counter()
    if step == "data only":
        pass
    elif step == "shoal PCA":
        project(vectors, method="pca")
    elif step == "shoal UMAP":
        project(vectors, method="umap")
    elif step == "numpy thin SVD":
        centred = vectors - vectors.mean(axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        _ = u[:, :2] * s[:2]
    elif step.startswith("sklearn PCA"):
        from sklearn.decomposition import PCA

        solver = step.split()[-1]
        PCA(n_components=2, svd_solver=solver, random_state=0).fit_transform(vectors)
    elif step in ("write PNG", "write HTML"):
        chart = map_vectors(vectors, texts=texts, colors=labels, color_by="cluster", method="pca")
        extra["rss_before_mb"] = round(rss_mb())
        start = time.perf_counter()
        if step == "write PNG":
            out = chart.write_png(folder / "map.png")
        else:
            out = chart.write_html(folder / "map.html")
        extra["file_mb"] = round(out.stat().st_size / 2**20, 1)
    elif step == "build dataset":
        import shoal

        ds = shoal.open(str(folder / "ds"), embedder=f"hash:{dims}")
        ds.add(texts, embeddings=vectors, metadatas=[{"cluster": label} for label in labels])
    elif step == "map_dataset":
        import shoal

        ds = shoal.open(str(folder / "ds"))
        chart = map_dataset(ds, out=folder / "dataset.html", color_by="cluster", method="pca")
        extra["points"] = len(chart)
        extra["file_mb"] = round((folder / "dataset.html").stat().st_size / 2**20, 1)
    else:
        raise ValueError(step)
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(peak_mb()),
        **extra,
    }


def browse(page_file: Path, rows: int) -> dict[str, Any]:
    """Load the page in headless Chromium: time to draw every point, errors, hover cost."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 800}, offline=True,
        )  # fmt: skip
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        start = time.perf_counter()
        page.goto(page_file.as_uri(), timeout=120_000)
        page.wait_for_function("() => document.body.dataset.points !== undefined", timeout=120_000)
        loaded = time.perf_counter() - start
        drawn = int(page.evaluate("document.body.dataset.points"))
        # 2,000 nearest-point lookups at points' positions: the page's grid, then a linear
        # scan over all points, in the same page; then one mouse move through the handler.
        hover = page.evaluate(
            """() => {
            const canvas = document.getElementById("map");
            const m = window.shoalMap, p = [...Array(m.points).keys()].map(i => m.screenPosition(i));
            const at = [...Array(2000).keys()].map(k => p[(k * 7919) % p.length]);
            let t = performance.now(), hits = 0;
            for (const q of at) hits += m.nearest(q.x, q.y) >= 0;
            const grid = (performance.now() - t) / at.length;
            t = performance.now();
            for (const q of at.slice(0, 200)) canvas.dispatchEvent(new MouseEvent("mousemove",
                {clientX: q.x, clientY: q.y, bubbles: true}));
            const handler = (performance.now() - t) / 200;
            let found = 0;
            t = performance.now();
            for (const q of at) {
                let best = -1, bestD = 49;
                for (let i = 0; i < p.length; i++) {
                    const dx = p[i].x - q.x, dy = p[i].y - q.y, d = dx * dx + dy * dy;
                    if (d <= bestD) { bestD = d; best = i; }
                }
                found += best >= 0;
            }
            return {grid_ms: grid, scan_ms: (performance.now() - t) / at.length, found: found,
                    hits: hits, handler_ms: handler};
        }"""
        )
        context.close()
    return {
        "load_to_drawn_s": round(loaded, 2),
        "points_drawn": drawn,
        "expected": rows,
        "console_errors": problems,
        "nearest_ms_grid": round(hover["grid_ms"], 4),
        "nearest_ms_linear_scan": round(hover["scan_ms"], 4),
        "lookups_found": [hover["hits"], hover["found"]],
        "mousemove_handler_ms": round(hover["handler_ms"], 3),
    }


def main() -> None:
    """Run each step in a fresh process and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--umap", action="store_true", help="also time UMAP (slow)")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        step, folder = args.worker
        print(json.dumps(worker(step, args.rows, args.dims, Path(folder))))
        return
    steps = ["data only", "shoal PCA", "numpy thin SVD"]
    try:
        import sklearn  # noqa: F401

        steps += ["sklearn PCA full", "sklearn PCA auto"]
    except ImportError:
        print("scikit-learn is not installed: no sklearn baseline")
    if args.umap:
        steps.append("shoal UMAP")
    steps += ["write PNG", "write HTML", "build dataset", "map_dataset"]
    runs: dict[str, list[dict[str, Any]]] = {step: [] for step in steps}
    browser: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="shoal-bench-map-") as tmp:
        # Whole rounds, one after another, so a burst of load elsewhere hits every step alike.
        for round_ in range(args.repeat):
            for step in steps:
                if step == "build dataset" and round_ > 0:
                    continue
                sizes = ["--rows", str(args.rows), "--dims", str(args.dims)]
                result = spawn_worker(__file__, [*sizes, "--worker", step, tmp])
                runs[step].append(result)
                print(f"round {round_ + 1} {step:18} {result}", flush=True)
        if not args.no_browser and os.path.exists("/usr/bin/chromium"):
            browser = browse(Path(tmp) / "dataset.html", args.rows)
            print(f"browser            {browser}", flush=True)
    results = [
        {
            **found[-1],
            "step": step,
            "seconds": float(np.median([r["seconds"] for r in found])),
            "all_seconds": [r["seconds"] for r in found],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in found),
        }
        for step, found in runs.items()
    ]
    save_report(
        "map_scale", "map_scale", rows=args.rows, dims=args.dims, repeat=args.repeat,
        results=results, browser=browser,
    )  # fmt: skip
    print_table(
        ("step", "median seconds", "RSS before MB", "peak RSS MB", "file MB"),
        (
            (r["step"], r["seconds"], r["rss_before_mb"], r["peak_rss_mb"], r.get("file_mb", ""))
            for r in results
        ),
    )


if __name__ == "__main__":
    main()
