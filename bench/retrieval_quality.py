"""Retrieval quality on SciFact: nDCG@10 and recall@100 of keyword, vector and hybrid search.

    .venv/bin/python bench/retrieval_quality.py [--models minilm,mpnet] [--quick]

Data: BEIR SciFact in ../shared/data/scifact (read in place): 5,183 documents, each
`title + " " + text` as BEIR builds it, and the 809 queries of the TRAIN judgements
(qrels/train.tsv; the test judgements are not available here). The published anchors are
on the test split (BM25 0.665, all-MiniLM-L6-v2 0.645, all-mpnet-base-v2 0.656), so they
are a guide, not the same measurement.

Everything runs through Shoal's public API: `shoal.open("memory://...", embedder=...)`,
`Dataset.add(texts, ids=...)`, `Dataset.search_batch(queries, k=100, mode=...)`. The
documents are embedded through `shoal.CachedEmbedder` (the default embedding cache), so a
rerun skips the model. Models: local:all-MiniLM-L6-v2 (the default, int8) and
local:all-mpnet-base-v2 (fp32).

Hybrid is reciprocal rank fusion of the two top-100 lists. The rows use the defaults of
`Dataset.search` (rrf_k=60, weights (1, 1)); a grid over rrf_k and the keyword weight is
computed here from the same two lists with the same formula (no extra search) and reported
beside them: tuned on the train judgements, so it overstates what a tuned setting gives
on unseen queries. The baseline in the same run is Lance's own full-text index
(`create_scalar_index("text", "INVERTED")`, English stemming and stop words) over the same
documents, the alternative DESIGN.md names. Writes bench/results/retrieval_quality.json.

Rerankers (``--rerank``): the first stage is hybrid search of the first model + BM25
(defaults), its top `--rerank-k` (20) candidates per query reranked to a top 10; each
row gives nDCG@10 with and without the reranker on the same queries (the first
`--rerank-queries`, 100; `--llm-queries`, 20, for ``llm:`` rerankers, which are slow),
and the reranking cost per query (wall time, model loading excluded and reported apart).
``stand-in`` is a cross-encoder with ms-marco-MiniLM-L6-v2's exact shapes (6 layers,
384 wide, 512 tokens) made from all-MiniLM-L6-v2's encoder and a seeded random
classifier: its cost is a real cross-encoder's, its nDCG@10 means nothing (no
cross-encoder's weights are on PyPI, and this machine has no hub). Writes
bench/results/retrieval_rerank.json (retrieval_rerank_llm.json with an llm: reranker).

    .venv/bin/python bench/retrieval_quality.py --models minilm --rerank stand-in,llm:local:<gguf>
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lance  # noqa: E402
import pyarrow as pa  # noqa: E402

import shoal  # noqa: E402
from _report import print_table, save_report  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data" / "scifact"
MODELS = {"minilm": "local:all-MiniLM-L6-v2", "mpnet": "local:all-mpnet-base-v2"}
DEPTH = 100
GRID_RRF_K = (10, 30, 60, 100)
GRID_KEYWORD_WEIGHT = (0.5, 0.75, 1.0, 1.5, 2.0)

Ranking = list[str]
Qrels = dict[str, dict[str, int]]


def load(quick: bool) -> tuple[list[str], list[str], list[str], list[str], Qrels]:
    """Document ids and texts, judged query ids and texts, and the train judgements."""
    docs = [json.loads(line) for line in (DATA / "corpus.jsonl").open()]
    qrels: Qrels = {}
    for line in (DATA / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        query, doc, score = line.split("\t")
        qrels.setdefault(query, {})[doc] = int(score)
    queries = {q["_id"]: q["text"] for q in map(json.loads, (DATA / "queries.jsonl").open())}
    query_ids = [q for q in queries if q in qrels]
    if quick:
        query_ids = query_ids[:100]
    doc_ids = [d["_id"] for d in docs]
    texts = [f"{d['title']} {d['text']}" for d in docs]
    return doc_ids, texts, query_ids, [queries[q] for q in query_ids], qrels


def ndcg_at(ranking: Ranking, relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (as pytrec_eval's ndcg_cut, which BEIR reports)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    best = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / best if best else 0.0


def recall_at(ranking: Ranking, relevant: dict[str, int], k: int = 100) -> float:
    """Share of the relevant documents in the top k."""
    wanted = {doc for doc, gain in relevant.items() if gain > 0}
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0


def evaluate(
    rankings: Sequence[Ranking], query_ids: Sequence[str], qrels: Qrels
) -> dict[str, float]:
    """Mean nDCG@10 and recall@100 over the queries."""
    n = len(query_ids)
    return {
        "ndcg@10": sum(ndcg_at(r, qrels[q]) for r, q in zip(rankings, query_ids, strict=True)) / n,
        "recall@100": sum(recall_at(r, qrels[q]) for r, q in zip(rankings, query_ids, strict=True))
        / n,
    }


def fuse(vector: Ranking, keyword: Ranking, *, rrf_k: float, keyword_weight: float) -> Ranking:
    """Reciprocal rank fusion, the formula of Dataset.search(mode="hybrid")."""
    scores: dict[str, float] = {}
    for ranking, weight in ((vector, 1.0), (keyword, keyword_weight)):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (rrf_k + rank)
    return sorted(scores, key=scores.__getitem__, reverse=True)[:DEPTH]


def search(
    ds: shoal.Dataset, queries: list[str], mode: str, **options: Any
) -> tuple[list[Ranking], float]:
    """Top-100 ids per query through the public API, and queries per second."""
    start = time.perf_counter()
    hits = ds.search_batch(queries, k=DEPTH, mode=mode, **options)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return [[hit.id for hit in row] for row in hits], len(queries) / seconds


def lance_fts(
    doc_ids: list[str], texts: list[str], queries: list[str]
) -> tuple[list[Ranking], float]:
    """The baseline: Lance's INVERTED (full-text) index, English stemming and stop words."""
    with tempfile.TemporaryDirectory() as folder:
        table = pa.table({"id": doc_ids, "text": texts})
        ds = lance.write_dataset(table, f"{folder}/fts.lance")
        ds.create_scalar_index(
            "text", "INVERTED", language="English", stem=True, remove_stop_words=True
        )
        start = time.perf_counter()
        rankings = []
        for query in queries:
            found = ds.to_table(columns=["id", "_score"], full_text_query=query, limit=DEPTH)
            rankings.append(found.column("id").to_pylist())
        return rankings, len(queries) / (time.perf_counter() - start)


def stand_in_cross_encoder(folder: Path) -> Path:
    """A folder with ms-marco-MiniLM-L6-v2's shapes: all-MiniLM-L6-v2's encoder, a random classifier."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from shoal.embeddings.local._resolve import resolve_model_dir

    source = resolve_model_dir("all-MiniLM-L6-v2")
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "config.json").read_text())
    config |= {"architectures": ["BertForSequenceClassification"], "id2label": {"0": "LABEL_0"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    weights = load_file(str(source / "model.safetensors"))
    rng = np.random.default_rng(0)
    weights["classifier.weight"] = rng.normal(0, 0.02, (1, config["hidden_size"])).astype("float32")
    weights["classifier.bias"] = np.zeros(1, "float32")
    save_file(weights, str(folder / "model.safetensors"))
    return folder


def rerank_rows(
    ds: shoal.Dataset,
    name: str,
    query_ids: list[str],
    queries: list[str],
    qrels: Qrels,
    args: argparse.Namespace,
    folder: Path,
) -> list[dict[str, Any]]:
    """nDCG@10 of hybrid search's top 10 and of each reranker's top 10 of its top rerank_k."""
    rows: list[dict[str, Any]] = []
    longest = max(args.rerank_queries, args.llm_queries)
    start = time.perf_counter()
    candidates = ds.search_batch(queries[:longest], k=args.rerank_k, mode="hybrid")
    first_ms = (time.perf_counter() - start) / longest * 1000
    for spec in args.rerank.split(","):
        n = args.llm_queries if spec.startswith("llm:") else args.rerank_queries
        ids, texts, pools = query_ids[:n], queries[:n], candidates[:n]
        start = time.perf_counter()
        if spec == "stand-in":
            reranker: shoal.Reranker = shoal.store.CrossEncoderReranker(
                str(stand_in_cross_encoder(folder / "stand-in"))
            )
            label = "stand-in cross-encoder (MiniLM-L6 shapes, RANDOM classifier: cost only)"
        else:
            reranker = shoal.reranker(spec)
            label = reranker.name
        with contextlib.suppress(shoal.MalformedResponse):  # a bad grade here is counted below
            reranker.rerank(texts[0], pools[0][:1])  # loads the model (and builds its graph)
        load_s = time.perf_counter() - start
        rankings, failed = [], 0
        start = time.perf_counter()
        for query, hits in zip(texts, pools, strict=True):
            try:
                ranked = reranker.rerank(query, hits, k=10)
            except shoal.MalformedResponse:
                failed += 1  # counted and reported; the query keeps the search's order
                ranked = hits[:10]
            rankings.append([hit.id for hit in ranked])
        ms = (time.perf_counter() - start) / n * 1000
        before = evaluate([[h.id for h in hits[:10]] for hits in pools], ids, qrels)
        after = evaluate(rankings, ids, qrels)
        row = {
            "system": label,
            "queries": n,
            "candidates": args.rerank_k,
            "first_stage": f"hybrid {name} + BM25",
            "ndcg@10 without": before["ndcg@10"],
            "ndcg@10 with": after["ndcg@10"],
            "rerank ms/query": ms,
            "first stage ms/query": first_ms,
            "load s": load_s,
            "failed queries": failed,
        }
        rows.append(row)
        print(
            f"{label}: nDCG@10 {before['ndcg@10']:.3f} -> {after['ndcg@10']:.3f} on {n} queries, "
            f"{ms:.0f} ms/query reranking {args.rerank_k} (search {first_ms:.1f} ms), "
            f"load {load_s:.1f} s, {failed} failed"
        )
    return rows


def main() -> None:
    """Run every mode, print the BENCHMARKS.md tables, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm,mpnet", help="of: " + ",".join(MODELS))
    parser.add_argument("--quick", action="store_true", help="smoke test: 100 queries")
    parser.add_argument(
        "--rerank",
        default="",
        help="rerankers to measure instead of the search table: names for shoal.reranker, "
        "or 'stand-in' (a random cross-encoder of MiniLM-L6's shapes: cost only)",
    )
    parser.add_argument("--rerank-k", type=int, default=20, help="candidates reranked")
    parser.add_argument("--rerank-queries", type=int, default=100)
    parser.add_argument("--llm-queries", type=int, default=20, help="queries for llm: rerankers")
    args = parser.parse_args()
    doc_ids, texts, query_ids, queries, qrels = load(args.quick)
    print(f"{len(texts)} documents, {len(queries)} judged train queries")
    if args.rerank:
        name = args.models.split(",")[0]
        model = shoal.CachedEmbedder(shoal.embedder(MODELS[name]))
        ds = shoal.open(f"memory://scifact-{name}", embedder=model)
        ds.add(texts, ids=doc_ids)
        with tempfile.TemporaryDirectory() as folder:
            rows = rerank_rows(ds, name, query_ids, queries, qrels, args, Path(folder))
        print_table(
            ["reranker", "queries", "nDCG@10 without", "nDCG@10 with", "ms/query", "failed"],
            [
                [
                    r["system"],
                    str(r["queries"]),
                    f"{r['ndcg@10 without']:.3f}",
                    f"{r['ndcg@10 with']:.3f}",
                    f"{r['rerank ms/query']:.0f}",
                    str(r["failed queries"]),
                ]
                for r in rows
            ],
        )
        llm = any(spec.startswith("llm:") for spec in args.rerank.split(","))
        path = save_report(
            "retrieval_rerank_llm" if llm else "retrieval_rerank",
            "retrieval_quality",
            judgements="train",
            rows=rows,
        )
        print(f"\nwrote {path}")
        return
    rows: list[dict[str, Any]] = []

    def record(system: str, rankings: list[Ranking], qps: float, **extra: Any) -> None:
        scores = evaluate(rankings, query_ids, qrels)
        rows.append({"system": system, **scores, "queries/s": qps, **extra})
        print(f"{system}: nDCG@10 {scores['ndcg@10']:.3f}, recall@100 {scores['recall@100']:.3f}")

    baseline, qps = lance_fts(doc_ids, texts, queries)
    record("Lance FTS index (baseline)", baseline, qps)
    grids: dict[str, list[dict[str, float]]] = {}
    keyword: list[Ranking] | None = None
    for name in args.models.split(","):
        model = shoal.CachedEmbedder(shoal.embedder(MODELS[name]))
        ds = shoal.open(f"memory://scifact-{name}", embedder=model)
        start = time.perf_counter()
        ds.add(texts, ids=doc_ids)
        added = time.perf_counter() - start
        print(f"{name}: {len(ds)} rows in {added:.1f} s ({model.hits} vectors from the cache)")
        if keyword is None:
            keyword, qps = search(ds, queries, "keyword")
            record("shoal keyword (BM25)", keyword, qps)
        vector, qps = search(ds, queries, "vector")
        record(f"shoal vector, {name}", vector, qps)
        hybrid, qps = search(ds, queries, "hybrid")
        record(f"shoal hybrid, {name} + BM25 (rrf_k=60, weights 1:1)", hybrid, qps)
        grids[name] = [
            {
                "rrf_k": rrf_k,
                "keyword_weight": weight,
                **evaluate(
                    [
                        fuse(v, kw, rrf_k=rrf_k, keyword_weight=weight)
                        for v, kw in zip(vector, keyword, strict=True)
                    ],
                    query_ids,
                    qrels,
                ),
            }
            for rrf_k in GRID_RRF_K
            for weight in GRID_KEYWORD_WEIGHT
        ]
        best = max(grids[name], key=lambda g: g["ndcg@10"])
        tuned, qps = search(
            ds, queries, "hybrid", rrf_k=best["rrf_k"], weights=(1.0, best["keyword_weight"])
        )
        record(
            f"shoal hybrid, {name} + BM25 (train-tuned: rrf_k={best['rrf_k']:g}, "
            f"weights 1:{best['keyword_weight']:g})",
            tuned,
            qps,
        )
    print_table(
        ["system", "nDCG@10", "recall@100", "queries/s"],
        [
            [r["system"], f"{r['ndcg@10']:.3f}", f"{r['recall@100']:.3f}", f"{r['queries/s']:.0f}"]
            for r in rows
        ],
    )
    for name, grid in grids.items():
        print(f"\nnDCG@10 of hybrid {name} + BM25 by rrf_k (rows) and keyword weight (columns)")
        print_table(
            ["rrf_k", *(f"{w:g}" for w in GRID_KEYWORD_WEIGHT)],
            [
                [f"{k:g}", *(f"{g['ndcg@10']:.3f}" for g in grid if g["rrf_k"] == k)]
                for k in GRID_RRF_K
            ],
        )
    path = save_report(
        "retrieval_quality_quick" if args.quick else "retrieval_quality",
        "retrieval_quality",
        documents=len(texts),
        queries=len(queries),
        judgements="train",
        rows=rows,
        grids=grids,
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
