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
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    """Run every mode, print the BENCHMARKS.md tables, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm,mpnet", help="of: " + ",".join(MODELS))
    parser.add_argument("--quick", action="store_true", help="smoke test: 100 queries")
    args = parser.parse_args()
    doc_ids, texts, query_ids, queries, qrels = load(args.quick)
    print(f"{len(texts)} documents, {len(queries)} judged train queries")
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
