"""The default model's int8 graph: accuracy per scheme and per CPU kernel path, speed, and cross-build retrieval.

    .venv/bin/python bench/int8_accuracy.py [--emulated 24] [--cross-queries 809] [--repeat 3]

1. Accuracy: cosine to sentence-transformers (fp32 torch) on the 500 varied test texts
   and 300 SciFact/WordNet texts, for fp32 and each int8 scheme: "v1" (every MatMul and
   Attention int8; Shoal before issue 15) and "v2" (the FFN output MatMuls of the first
   half of the layers kept fp32, Shoal's default now), each run batched (16 texts a call,
   padded) or one text a call (the default now), and v2 with ONNX Runtime's u8u8 option
   (`session.x64quantprecision`): exact integer products on AVX2, as AVX-512 VNNI computes.
2. Kernel paths: the same graphs run under qemu-user on an emulated AVX2-only Haswell and
   SSE4.2-only Nehalem (`--emulated N` short texts; emulation costs tens of ms a token).
3. Speed: texts/s of v1 batched (the old default) and v2 one text a call, 1 thread and
   all cores, interleaved, median of `--repeat` runs.
4. Cross-build retrieval: SciFact corpus embedded by the default build; the judged queries
   embedded by each build; nDCG@10 and recall@10, and the overlap of each build's top 10
   with the same build's.

Writes bench/results/int8_accuracy.json and prints BENCHMARKS.md tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _report import print_table, save_report  # noqa: E402
from _texts import DATA, benchmark_texts  # noqa: E402
from fakes.varied import varied_texts  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
CHILD = HERE.parent / "tests" / "integration" / "embed_onnx.py"
QEMU_CPUS = {"avx2 (qemu Haswell)": "Haswell-noTSX", "sse4.2 (qemu Nehalem)": "Nehalem"}


class Graphs:
    """The fp32 graph, and the int8 graphs of both schemes, built in a scratch cache."""

    def __init__(self, scratch: Path) -> None:
        os.environ["SHOAL_CACHE_DIR"] = str(scratch / "cache")
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from shoal.embeddings.local._onnx_cache import ModelLayout, onnx_path
        from shoal.embeddings.local._resolve import resolve_model_dir

        self.layout = ModelLayout(resolve_model_dir(MODEL))
        self.fp32 = str(onnx_path(self.layout, name=MODEL, quantize=False))
        self.v2 = str(onnx_path(self.layout, name=MODEL, quantize=True))
        self.v1 = str(scratch / "v1-int8.onnx")
        quantize_dynamic(
            self.fp32,
            self.v1,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": 1},
        )
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(self.layout.folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.layout.max_seq_length)
        self.tokenizer.no_padding()  # tokenizer.json may pad to a fixed length


def session(graph: str, *, threads: int, u8u8: bool = False) -> Any:
    """An ONNX Runtime session with LocalEmbedder's options."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if u8u8:
        options.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(
        graph,
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=["SkipLayerNormFusion"],
    )


def embedder(
    graphs: Graphs, graph: str, *, batched: bool, threads: int = 1, u8u8: bool = False
) -> Callable[[list[str]], np.ndarray]:
    """Batched: 16 length-sorted texts a call, padded, intra-op threads (Shoal before issue 15).
    Otherwise one text a call on `threads` workers (Shoal now)."""
    tokenizer = graphs.tokenizer
    run = session(graph, threads=threads if batched else 1, u8u8=u8u8).run

    def one(text: str) -> np.ndarray:
        ids = np.array([tokenizer.encode(text.strip()).ids], dtype=np.int64)
        return np.asarray(run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0])

    workers = ThreadPoolExecutor(threads) if threads > 1 and not batched else None

    def embed(texts: list[str]) -> np.ndarray:
        if not batched:
            return np.stack(list(workers.map(one, texts) if workers else map(one, texts)))
        out = np.zeros((len(texts), graphs.layout.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        tokenizer.enable_padding(pad_id=int(graphs.layout.config.get("pad_token_id", 0)))
        try:
            for start in range(0, len(order), 16):
                rows = order[start : start + 16]
                encodings = tokenizer.encode_batch([texts[i].strip() for i in rows])
                ids = np.array([e.ids for e in encodings], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
                out[rows] = run(None, {"input_ids": ids, "attention_mask": mask})[0]
        finally:
            tokenizer.no_padding()
        return out

    return embed


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def reference(texts: list[str]) -> np.ndarray:
    """sentence-transformers' fp32 vectors (torch), the reference every scheme is measured by."""
    from sentence_transformers import SentenceTransformer

    from shoal.embeddings.local._resolve import resolve_model_dir

    model = SentenceTransformer(str(resolve_model_dir(MODEL)), device="cpu")
    return np.asarray(model.encode(texts, batch_size=32, convert_to_numpy=True), dtype=np.float32)


def emulated(graphs: Graphs, graph: str, cpu: str, texts: list[str], scratch: Path) -> np.ndarray:
    """Vectors from `graph` under qemu-user emulating `cpu` (tests/integration/embed_onnx.py)."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit(
            "qemu-user is not installed: apt-get install qemu-user, or pass --emulated 0"
        )
    texts_file, out = scratch / "emulated.json", scratch / "emulated.npy"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    command = [qemu, "-cpu", cpu, sys.executable, str(CHILD), graph]
    command += [str(graphs.layout.folder / "tokenizer.json"), str(graphs.layout.max_seq_length)]
    command += [str(texts_file), str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return np.load(out)


def accuracy(graphs: Graphs, varied: list[str], corpus: list[str]) -> list[dict[str, Any]]:
    """Cosine to the reference for every scheme on this machine's kernels."""
    ref = reference(varied + corpus)
    schemes = [
        ("fp32", graphs.fp32, False, False),
        ("int8 v1, batched (old default)", graphs.v1, True, False),
        ("int8 v1, one text a call", graphs.v1, False, False),
        ("int8 v2, batched", graphs.v2, True, False),
        ("int8 v2, one text a call (default)", graphs.v2, False, False),
        ("int8 v2, one text a call, u8u8 (VNNI-exact)", graphs.v2, False, True),
    ]
    rows = []
    for label, graph, batched, u8u8 in schemes:
        vectors = embedder(graphs, graph, batched=batched, u8u8=u8u8)(varied + corpus)
        c = cosines(vectors, ref)
        wordy = np.array([len(t.split()) >= 3 for t in varied])
        rows.append(
            {
                "scheme": label,
                "varied_mean": round(float(c[: len(varied)].mean()), 5),
                "varied_min": round(float(c[: len(varied)].min()), 4),
                "varied_wordy_min": round(float(c[: len(varied)][wordy].min()), 4),
                "corpus_mean": round(float(c[len(varied) :].mean()), 5),
                "corpus_min": round(float(c[len(varied) :].min()), 4),
            }
        )
        print(rows[-1], flush=True)
    return rows


def kernel_paths(graphs: Graphs, varied: list[str], n: int, scratch: Path) -> list[dict[str, Any]]:
    """The short texts' accuracy on emulated AVX2 and SSE4.2 kernels, and agreement with native."""
    wordy = [t for t in varied if 3 <= len(t.split()) <= 8 and "\n" not in t][:n]
    ref = reference(wordy)
    rows = []
    for scheme, graph in (("v1", graphs.v1), ("v2", graphs.v2)):
        native = embedder(graphs, graph, batched=False)(wordy)
        paths = {"native": native}
        for label, cpu in QEMU_CPUS.items():
            paths[label] = emulated(graphs, graph, cpu, wordy, scratch)
        for label, vectors in paths.items():
            c = cosines(vectors, ref)
            rows.append(
                {
                    "scheme": scheme,
                    "kernels": label,
                    "texts": len(wordy),
                    "mean": round(float(c.mean()), 5),
                    "min": round(float(c.min()), 4),
                    "min_to_native": round(float(cosines(vectors, native).min()), 5),
                }
            )
            print(rows[-1], flush=True)
    return rows


def speed(graphs: Graphs, texts: list[str], repeat: int) -> list[dict[str, Any]]:
    """Texts/s of the old default (v1 batched) and the new one (v2 one text a call), interleaved."""
    cores = len(os.sched_getaffinity(0))
    configs = {
        (label, threads): embedder(graphs, graph, batched=batched, threads=threads)
        for threads in sorted({1, cores})
        for label, graph, batched in (
            ("fp32, batched", graphs.fp32, True),
            ("int8 v1, batched (old default)", graphs.v1, True),
            ("int8 v2, one text a call (default)", graphs.v2, False),
        )
    }
    rates: dict[tuple[str, int], list[float]] = {key: [] for key in configs}
    for _ in range(repeat):
        for key, embed in configs.items():
            start = time.perf_counter()
            embed(texts)
            rates[key].append(len(texts) / (time.perf_counter() - start))
    old = {t: statistics.median(rates[("int8 v1, batched (old default)", t)]) for t in {1, cores}}
    return [
        {
            "engine": label,
            "threads": threads,
            "texts_per_s": round(statistics.median(values), 1),
            "vs_old_default": round(statistics.median(values) / old[threads], 2),
        }
        for (label, threads), values in rates.items()
    ]


def _ndcg_recall(
    ranked: np.ndarray, qids: list[str], doc_ids: list[str], qrels: dict[str, set[str]]
) -> tuple[float, float]:
    ndcg, recall = [], []
    for row, qid in enumerate(qids):
        relevant = qrels[qid]
        found = [doc_ids[i] for i in ranked[row]]
        dcg = sum(1 / math.log2(rank + 2) for rank, d in enumerate(found) if d in relevant)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), 10)))
        ndcg.append(dcg / ideal)
        recall.append(len(relevant & set(found)) / len(relevant))
    return float(np.mean(ndcg)), float(np.mean(recall))


def cross_build(
    graphs: Graphs, n_queries: int, emulate: int, scratch: Path
) -> list[dict[str, Any]]:
    """SciFact: corpus by the default build, queries by each build; retrieval and top-10 overlap."""
    corpus = [
        json.loads(line) for line in (DATA / "scifact" / "corpus.jsonl").open(encoding="utf-8")
    ]
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (DATA / "scifact" / "queries.jsonl").open(encoding="utf-8"))
    }
    qrels: dict[str, set[str]] = {}
    for line in (DATA / "scifact" / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        qid, doc, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(doc)
    qids = sorted(qrels, key=int)[:n_queries]
    texts = [queries[q] for q in qids]
    doc_ids = [d["_id"] for d in corpus]
    cores = len(os.sched_getaffinity(0))
    default = embedder(graphs, graphs.v2, batched=False, threads=cores)
    documents = default([f"{d['title']} {d['text']}".strip() for d in corpus])
    builds = {
        "int8 v2 (the corpus's build)": default(texts),
        "int8 v2, u8u8 (VNNI-exact)": embedder(graphs, graphs.v2, batched=False, u8u8=True)(texts),
        "int8 v1, batched (older Shoal)": embedder(graphs, graphs.v1, batched=True)(texts),
        "fp32": embedder(graphs, graphs.fp32, batched=True)(texts),
    }
    if emulate:
        label = "int8 v2 on sse4.2 (qemu Nehalem)"
        builds[label] = emulated(graphs, graphs.v2, "Nehalem", texts[:emulate], scratch)
    same = np.argsort(-(builds["int8 v2 (the corpus's build)"] @ documents.T), axis=1)[:, :10]
    rows = []
    for label, vectors in builds.items():
        count = len(vectors)
        ranked = np.argsort(-(vectors @ documents.T), axis=1)[:, :10]
        ndcg, recall = _ndcg_recall(ranked, qids[:count], doc_ids, qrels)
        overlap = np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(ranked, same[:count], strict=True)]
        )
        base_ndcg, base_recall = _ndcg_recall(same[:count], qids[:count], doc_ids, qrels)
        rows.append(
            {
                "queries_by": label,
                "queries": count,
                "ndcg10": round(ndcg, 4),
                "recall10": round(recall, 4),
                "same_build_ndcg10": round(base_ndcg, 4),
                "same_build_recall10": round(base_recall, 4),
                "top10_overlap_with_same_build": round(float(overlap), 4),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run the four measurements and save them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--emulated", type=int, default=24, help="short texts per emulated CPU (0: skip)"
    )
    parser.add_argument("--cross-queries", type=int, default=809, help="judged SciFact queries")
    parser.add_argument(
        "--cross-emulated",
        type=int,
        default=200,
        help="of them, embedded on emulated SSE4.2 (0: skip)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="speed runs per engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        graphs = Graphs(scratch)
        varied, corpus = varied_texts(), benchmark_texts(300)
        results: dict[str, Any] = {"accuracy": accuracy(graphs, varied, corpus)}
        if args.emulated:
            results["kernel_paths"] = kernel_paths(graphs, varied, args.emulated, scratch)
        results["speed"] = speed(graphs, benchmark_texts(400), args.repeat)
        results["cross_build"] = cross_build(
            graphs, args.cross_queries, args.cross_emulated, scratch
        )
    path = save_report(
        "int8_accuracy", "int8 schemes x kernel paths, speed, cross-build retrieval", **results
    )
    for name, rows in results.items():
        print(f"\n{name}")
        print_table(list(rows[0]), [list(r.values()) for r in rows])
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
