"""ShoalVectorStore against langchain-chroma's Chroma, both driven through LangChain's API.

Both stores get the same documents (WordNet glosses, with metadata) and the same
embeddings object, LangChain's `DeterministicFakeEmbedding` (384-d), so the figures
measure the stores, not a model. Each system runs in its own process (peak RSS is its
own). Measured: adding the documents in batches of 500, adding the same documents again
(Shoal: content ids, nothing written; Chroma: it embeds and upserts them again with the
same ids), k=4 similarity searches one at a time, the same with a metadata filter, and
get_by_ids. The raw `shoal.Dataset` with the same vectors is the adapter's baseline.

    .venv/bin/python bench/langchain_store.py [--docs 20000] [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from _report import print_table, save_report, spawn_worker
from _texts import wordnet_glosses

SYSTEMS = ("shoal-dataset", "shoal-langchain", "chroma-langchain")
BATCH = 500


def _documents(n: int) -> tuple[list[str], list[dict[str, object]], list[str]]:
    texts = wordnet_glosses(n)
    metadatas: list[dict[str, object]] = [{"n": i, "part": i % 10} for i in range(len(texts))]
    queries = wordnet_glosses(n + 2000)[n:]
    return texts, metadatas, queries


def _worker(system: str, n: int, queries_n: int) -> dict[str, object]:
    import numpy as np
    from langchain_core.documents import Document
    from langchain_core.embeddings import DeterministicFakeEmbedding

    texts, metadatas, queries = _documents(n)
    queries = queries[:queries_n]
    embeddings = DeterministicFakeEmbedding(size=384)
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{system}-"))
    docs = [Document(t, metadata=m) for t, m in zip(texts, metadatas, strict=True)]
    try:
        if system == "shoal-dataset":
            import shoal
            from shoal.integrations.langchain import LangChainEmbedder

            dataset = shoal.open(folder / "kb", embedder=LangChainEmbedder(embeddings))

            def add(batch: list[Document]) -> list[str]:
                return dataset.add(
                    [d.page_content for d in batch], metadatas=[d.metadata for d in batch]
                )

            def search(query: str, where: dict[str, object] | None) -> list[str]:
                return [hit.id for hit in dataset.search(query, k=4, where=where)]

            def get(ids: list[str]) -> int:
                return len(dataset.get(ids))

        else:
            if system == "shoal-langchain":
                from shoal.integrations.langchain import ShoalVectorStore

                store = ShoalVectorStore(dataset_path=folder / "kb", embedding_function=embeddings)
            else:
                from langchain_chroma import Chroma

                store = Chroma(
                    collection_name="bench",
                    embedding_function=embeddings,
                    persist_directory=str(folder / "chroma"),
                    collection_metadata={"hnsw:space": "cosine"},
                )

            def add(batch: list[Document]) -> list[str]:
                if system == "chroma-langchain":  # Chroma needs ids to be idempotent
                    return store.add_documents(batch, ids=[str(d.metadata["n"]) for d in batch])
                return store.add_documents(batch)

            def search(query: str, where: dict[str, object] | None) -> list[str]:
                return [str(d.id) for d in store.similarity_search(query, k=4, filter=where)]

            def get(ids: list[str]) -> int:
                return len(store.get_by_ids(ids))

        start = time.perf_counter()
        ids: list[str] = []
        for i in range(0, len(docs), BATCH):
            ids += add(docs[i : i + BATCH])
        add_s = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            add(docs[i : i + BATCH])
        readd_s = time.perf_counter() - start
        search(queries[0], None)  # first query: index built or loaded
        start = time.perf_counter()
        found = [search(q, None) for q in queries]
        search_ms = (time.perf_counter() - start) / len(queries) * 1000
        start = time.perf_counter()
        filtered = [search(q, {"part": 3}) for q in queries]
        filter_ms = (time.perf_counter() - start) / len(queries) * 1000
        sample = [ids[i] for i in np.random.default_rng(0).choice(len(ids), 100, replace=False)]
        start = time.perf_counter()
        got = get(sample)
        get_ms = (time.perf_counter() - start) * 1000
        return {
            "system": system,
            "docs": len(docs),
            "queries": len(queries),
            "add_docs_per_s": round(len(docs) / add_s, 1),
            "readd_s": round(readd_s, 2),
            "search_ms": round(search_ms, 2),
            "filtered_search_ms": round(filter_ms, 2),
            "get_100_ms": round(get_ms, 2),
            "got": got,
            "hits_per_query": round(sum(map(len, found)) / len(found), 2),
            "filtered_hits_per_query": round(sum(map(len, filtered)) / len(filtered), 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    """Run each system in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--worker", choices=SYSTEMS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.docs, args.queries)))
        return
    rows = []
    for system in SYSTEMS:
        result = spawn_worker(
            __file__,
            ["--worker", system, "--docs", str(args.docs), "--queries", str(args.queries)],
        )
        print(result, flush=True)
        rows.append(result)
    chroma = rows[-1]
    print_table(
        [
            "system",
            "add docs/s",
            "re-add s",
            "search ms",
            "filtered ms",
            "get_by_ids(100) ms",
            "peak RSS MB",
        ],
        [
            [
                r["system"],
                r["add_docs_per_s"],
                r["readd_s"],
                r["search_ms"],
                r["filtered_search_ms"],
                r["get_100_ms"],
                r["peak_rss_mb"],
            ]
            for r in rows
        ],
    )
    save_report(
        "langchain_store",
        "ShoalVectorStore vs langchain-chroma, same fake embeddings",
        results=rows,
        baseline=chroma["system"],
    )


if __name__ == "__main__":
    main()
