"""Does embedding a chunk with its title and headings in front help retrieval? XQuAD-en
recall@4 and SciFact nDCG@10, ingested with the context (as `shoal.ingest` does now) and
without it, in the same run.

    .venv/bin/python bench/heading_context.py [--scifact-docs 5183]

Both corpora are written as Markdown files, a document's title as its `# heading`, and
ingested with `shoal.ingest` (all-MiniLM-L6-v2 int8, chunks of 1,000 characters, no
overlap, no embedding cache), once as shipped (each chunk embedded as "Title\\n\\n<chunk>")
and once with the context left out (the chunk alone, as before issue 18). The stored texts
are the same; only the vectors differ.

- XQuAD-en (../shared/data/xquad: 12 articles, 60 paragraphs, 322 questions): one file
  per article, its paragraphs in order; a question is found when one of the top 4 chunks
  is part of its gold paragraph and holds a gold answer.
- SciFact (../shared/data/scifact, BEIR): one file per document, the abstract under its
  title; a document scores as its best chunk; nDCG@10 and recall@100 over the 809 judged
  train queries.
Writes bench/results/heading_context.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import shoal  # noqa: E402
import shoal.ingestion._pipeline as pipeline  # noqa: E402
from _report import print_table, save_report  # noqa: E402
from retrieval_quality import evaluate  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
MODEL = "local:all-MiniLM-L6-v2"


def _no_context(
    text: str, metadata: Mapping[str, Any], *, fits: Callable[[str], bool] | None = None
) -> str:
    return text


def _ingest(folder: Path, into: Path, context: bool) -> float:
    pipeline.with_context = pipeline_with_context if context else _no_context  # type: ignore[assignment]
    start = time.perf_counter()
    shoal.ingest(folder, into=str(into), embedder=MODEL, cache=False)
    return time.perf_counter() - start


pipeline_with_context = pipeline.with_context


def xquad(work: Path) -> dict[str, dict[str, float]]:
    """recall@4 of the gold paragraph (with a gold answer) over every XQuAD-en question."""
    data = json.loads((DATA / "xquad" / "xquad.en.dev.json").read_text())["data"]
    folder = work / "xquad-docs"
    folder.mkdir()
    questions = []
    for article in data:
        title = article["title"].replace("_", " ")
        contexts = [p["context"] for p in article["paragraphs"]]
        (folder / f"{article['title']}.md").write_text(
            f"# {title}\n\n" + "\n\n".join(contexts) + "\n", encoding="utf-8"
        )
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                questions.append((qa["question"], paragraph["context"], answers))
    results = {}
    for context in (False, True):
        into = work / f"xquad-{context}"
        seconds = _ingest(folder, into, context)
        ds = shoal.open(into)
        found = 0
        for question, gold, answers in questions:
            hits = ds.search(question, k=4)
            found += any(h.text.strip() in gold and any(a in h.text for a in answers) for h in hits)
        results["with title" if context else "chunk alone"] = {
            "recall@4": found / len(questions),
            "questions": len(questions),
            "chunks": len(ds),
            "ingest_s": seconds,
        }
    return results


def scifact(work: Path, limit: int) -> dict[str, dict[str, float]]:
    """nDCG@10 and recall@100 on SciFact's judged train queries, documents as Markdown."""
    folder = work / "scifact-docs"
    folder.mkdir()
    with (DATA / "scifact" / "corpus.jsonl").open(encoding="utf-8") as corpus:
        for count, line in enumerate(corpus):
            if count >= limit:
                break
            doc = json.loads(line)
            (folder / f"{doc['_id']}.md").write_text(
                f"# {doc['title'].strip()}\n\n{doc['text'].strip()}\n", encoding="utf-8"
            )
    qrels: dict[str, dict[str, int]] = {}
    for line in (DATA / "scifact" / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        query, doc, score = line.split("\t")
        qrels.setdefault(query, {})[doc] = int(score)
    queries = {
        q["_id"]: q["text"] for q in map(json.loads, (DATA / "scifact" / "queries.jsonl").open())
    }
    query_ids = [q for q in queries if q in qrels]
    results = {}
    for context in (False, True):
        into = work / f"scifact-{context}"
        seconds = _ingest(folder, into, context)
        ds = shoal.open(into)
        rankings = []
        for hits in ds.search_batch([queries[q] for q in query_ids], k=300):
            ranking: list[str] = []
            for hit in hits:  # a document ranks by its best chunk
                doc = Path(hit.metadata["source"]).stem
                if doc not in ranking:
                    ranking.append(doc)
            rankings.append(ranking[:100])
        results["with title" if context else "chunk alone"] = {
            **evaluate(rankings, query_ids, qrels),
            "queries": len(query_ids),
            "chunks": len(ds),
            "ingest_s": seconds,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact-docs", type=int, default=5183)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shoal-bench-context-") as tmp:
        work = Path(tmp)
        figures = {"xquad": xquad(work), "scifact": scifact(work, args.scifact_docs)}
    save_report("heading_context", "heading context in embedded chunks", **figures)
    rows = [
        (corpus, setup, ", ".join(f"{k} {v:.3f}" for k, v in r.items() if "@" in k),
         f"{r['chunks']:,}", f"{r['ingest_s']:.0f}")
        for corpus, setups in figures.items()
        for setup, r in setups.items()
    ]  # fmt: skip
    print_table(["corpus", "embedded", "retrieval", "chunks", "ingest s"], rows)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
