"""The benchmark text mix, read in place from ../shared/data (never copied into the repo)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA = Path(os.environ.get("SHOAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _jsonl(path: Path, limit: int) -> list[dict[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


def benchmark_texts(n: int = 2000) -> list[str]:
    """n varied texts: SciFact queries, titles and abstracts, and WordNet glosses, interleaved."""
    quarter = n // 4
    corpus = _jsonl(DATA / "scifact" / "corpus.jsonl", quarter * 2)
    queries = [r["text"] for r in _jsonl(DATA / "scifact" / "queries.jsonl", quarter)]
    glosses = [r["text"] for r in _jsonl(DATA / "wordnet" / "wordnet30_synsets.jsonl", quarter)]
    titles = [r["title"] for r in corpus[:quarter]]
    abstracts = [r["text"] for r in corpus[quarter:]]
    groups = [queries, titles, abstracts, glosses]
    texts = [t for row in zip(*groups, strict=False) for t in row if t.strip()]
    return texts[:n]


def wordnet_synsets(n: int | None = None) -> list[dict[str, str]]:
    """The first n WordNet 3.0 synsets (all when n is None): `_id`, `pos`, `lemmas`, `text`."""
    return _jsonl(DATA / "wordnet" / "wordnet30_synsets.jsonl", n or 10**9)


def wordnet_glosses(n: int | None = None) -> list[str]:
    """The first n WordNet glosses (all when n is None), in file order: row i is vector i."""
    return [r["text"] for r in wordnet_synsets(n)]
