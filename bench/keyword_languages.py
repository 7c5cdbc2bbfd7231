"""Keyword search in other languages (issue 19): same-language recall@4 on Tatoeba, per language.

    .venv/bin/python bench/keyword_languages.py [--limit 1000] [--langs deu,fra,spa,cmn,ara,rus,eng]
        [--no-vector]

About 4 minutes on 2 cores with the vector systems (multilingual-e5-small embeds 1,000
sentences and 1,000 queries per language, and the English translations for the
cross-language table); seconds with --no-vector.

Data: the Tatoeba test pairs (../shared/data/tatoeba/tatoeba.XXX-eng.{XXX,eng}, read in
place), the first --limit sentences of each language as the documents of one dataset per
language and system; ``eng`` is the English side of the German pairs (a control: its two
keyword analysers are the same one).

The task, same-language retrieval: each query is made from one document, and recall@4 is
the share of queries whose document (or a line with the same text) is among the top 4.
Tatoeba has no queries of its own, so they are made, seeded, the way a person types a
keyword query: for a language written with spaces, 40% of the sentence's words (at least
2; sentences of fewer than 3 words make none), in their order and forms; for Chinese, which
has no spaces, a contiguous 40% of the sentence's characters (at least 2), which cuts
across words as often as a two-character word does not. Queries keep the words' forms, so
they measure tokenising, case folding, marks and stop words more than stemming (a stem
helps only when a query word's form differs from the document's); the unit tests show
what stemming does. It is a lexical task by construction: keyword search is meant to do
well on it, and the vector model meets text pieces that are not sentences.

Systems, all through `shoal.open(...).search_batch` on memory:// datasets (vectors
computed once and passed in):

- keyword, english analyser: what every dataset had before issue 19 (the baseline);
- keyword, the language's analyser (`language=` at creation);
- keyword, a variant of it that datasets do not use (the bench swaps it in): with the
  language's stop words dropped, as Lucene's analysers do; for Chinese, with unigrams
  beside the bigrams (Lucene's ``outputUnigrams``);
- vector: `local:multilingual-e5-small` (queries as queries, documents as passages);
- hybrid, both keyword analysers: reciprocal rank fusion of vector and keyword, weights 1:1.

Also: the language "auto" detects from the first 50 documents; the analysers' speed
(sentences analysed per second, one thread, each analyser over the same texts in turn);
and a cross-language table: the English translation as the query against the language's
documents (multilingual QA's case), vector against hybrid, to see what the keyword half
costs when it cannot match.

Writes bench/results/keyword_languages.json (keyword_languages_<limit>.json for another
--limit, with _keyword for --no-vector) and prints BENCHMARKS.md tables.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import shoal  # noqa: E402
import shoal.store as st  # noqa: E402
from _report import print_table, save_report  # noqa: E402
from _texts import DATA  # noqa: E402
from shoal.embeddings import Embedder  # noqa: E402
from shoal.store import _bm25  # noqa: E402
from shoal.store._languages import Analyzer, analyzer, detect_language  # noqa: E402
from shoal.types import EmbedderSpec, TextKind  # noqa: E402

LANGS = {
    "deu": "german",
    "fra": "french",
    "spa": "spanish",
    "cmn": "chinese",
    "ara": "arabic",
    "rus": "russian",
    "eng": "english",
}
K = 4
SHARE = 0.4
MODEL = "local:multilingual-e5-small"
_WORD = re.compile(r"[\w\u0610-\u061a\u064b-\u065f\u0670]+(?:['\u2019][\w]+)*")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def tatoeba(lang: str, limit: int) -> tuple[list[str], list[str]]:
    """The first `limit` (sentences, English translations) of one language (eng: deu's English)."""
    pair = "deu" if lang == "eng" else lang
    folder = DATA / "tatoeba"
    sides = []
    for suffix in (lang, "eng"):
        path = folder / f"tatoeba.{pair}-eng.{suffix}"
        sides.append([line.strip() for line in path.read_text("utf-8").splitlines()[:limit]])
    return sides[0], sides[1]


def make_query(sentence: str, lang: str, rng: random.Random) -> str | None:
    """A keyword query made from `sentence` (see the module's docstring), or None."""
    if lang == "cmn":
        chars = _CJK_CHAR.findall(sentence)
        if len(chars) < 3:
            return None
        size = max(2, round(SHARE * len(chars)))
        start = rng.randrange(len(chars) - size + 1)
        return "".join(chars[start : start + size])
    words = _WORD.findall(sentence)
    if len(words) < 3:
        return None
    size = max(2, round(SHARE * len(words)))
    picked = sorted(rng.sample(range(len(words)), size))
    return " ".join(words[i] for i in picked)


class _Memo(Embedder):
    """An embedder that remembers every vector it made (each text is embedded once a run)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.memory: dict[tuple[str, str], np.ndarray] = {}

    @property
    def spec(self) -> EmbedderSpec:
        return self.inner.spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if (kind, t) not in self.memory]
        if missing:
            made = self.inner.embed_batch(missing, kind=kind)
            self.memory.update({(kind, t): v for t, v in zip(missing, made, strict=True)})
        return np.stack([self.memory[kind, t] for t in texts])


def recall(hits: list[list[st.Hit]], golds: list[str]) -> float:
    """Share of queries whose gold text is among their hits."""
    found = sum(any(h.text == gold for h in row) for row, gold in zip(hits, golds, strict=True))
    return found / max(len(golds), 1)


def dataset(docs: list[str], vectors: np.ndarray, embedder: Embedder, language: str) -> st.Dataset:
    ds = st.open(f"memory://bench-{uuid.uuid4().hex}", embedder=embedder, language=language)
    ds.add(docs, ids=[str(i) for i in range(len(docs))], embeddings=vectors)
    return ds


@contextlib.contextmanager
def _analysers(make: Callable[[str], Callable[[str], list[str]]]) -> Iterator[None]:
    """Keyword indexes made meanwhile analyse with `make(language)` (a variant)."""
    saved = _bm25.analyzer
    _bm25.analyzer = make
    try:
        yield
    finally:
        _bm25.analyzer = saved


def analyser_speed(texts: list[str], language: str, rounds: int = 5) -> dict[str, float]:
    """Sentences per second of the English and the language's analyser, alternating rounds."""
    best = {"english": math.inf, language: math.inf}
    for _ in range(rounds):
        for name in best:
            tokenize = analyzer(name)
            started = time.perf_counter()
            for text in texts:
                tokenize(text)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def run_language(lang: str, limit: int, model: Embedder | None) -> dict[str, Any]:
    docs, english = tatoeba(lang, limit)
    language = LANGS[lang]
    rng = random.Random(f"keyword-languages-{lang}")
    made = [(i, make_query(doc, lang, rng)) for i, doc in enumerate(docs)]
    pairs = [(i, q) for i, q in made if q]
    queries, golds = [q for _, q in pairs], [docs[i] for i, _ in pairs]
    row: dict[str, Any] = {
        "language": language,
        "documents": len(docs),
        "queries": len(queries),
        "example_query": queries[0],
        "detected": detect_language(docs[:50]),
        "speed": analyser_speed(docs, language),
    }
    dummy = shoal.embedder("hash:8")
    empty = np.zeros((len(docs), 8), dtype=np.float32)
    empty[:, 0] = 1.0
    for name in dict.fromkeys(("english", language)):
        ds = dataset(docs, empty, dummy, name)
        row[f"keyword_{name}"] = recall(ds.search_batch(queries, k=K, mode="keyword"), golds)
    if language != "english":
        options = {"cjk_unigrams": True} if lang == "cmn" else {"stop_words": True}
        row["variant"] = ", ".join(options)
        with _analysers(functools.partial(Analyzer, **options)):
            ds = dataset(docs, empty, dummy, language)
            row["keyword_variant"] = recall(ds.search_batch(queries, k=K, mode="keyword"), golds)
    if model is None:
        return row
    vectors = model.embed_documents(docs)
    for name in dict.fromkeys(("english", language)):
        ds = dataset(docs, vectors, model, name)
        if "vector" not in row:
            row["vector"] = recall(ds.search_batch(queries, k=K, mode="vector"), golds)
            kept = [(q, docs[i]) for i, q in enumerate(english) if q]
            cross_queries, cross_golds = [q for q, _ in kept], [g for _, g in kept]
            row["cross_vector"] = recall(
                ds.search_batch(cross_queries, k=K, mode="vector"), cross_golds
            )
        row[f"hybrid_{name}"] = recall(ds.search_batch(queries, k=K, mode="hybrid"), golds)
        row[f"cross_hybrid_{name}"] = recall(
            ds.search_batch(cross_queries, k=K, mode="hybrid"), cross_golds
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--langs", default=",".join(LANGS))
    parser.add_argument("--no-vector", action="store_true", help="keyword systems only")
    args = parser.parse_args()
    langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]
    model = None if args.no_vector else _Memo(shoal.embedder(MODEL))
    started = time.perf_counter()
    rows = []
    for lang in langs:
        rows.append({"code": lang, **run_language(lang, args.limit, model)})
        print(rows[-1], flush=True)
    seconds = time.perf_counter() - started

    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        return "-" if value is None else f"{value:.3f}"

    print_table(
        [
            "language", "queries", "auto detects", "keyword, english analyser",
            "keyword, own analyser", "keyword, own + variant", "vector (e5)",
            "hybrid, english analyser", "hybrid, own analyser",
        ],
        [
            [
                f"{r['code']} ({r['language']})", r["queries"], r["detected"],
                cell(r, "keyword_english"), cell(r, f"keyword_{r['language']}"),
                f"{cell(r, 'keyword_variant')} ({r.get('variant', '-')})",
                cell(r, "vector"), cell(r, "hybrid_english"), cell(r, f"hybrid_{r['language']}"),
            ]
            for r in rows
        ],
    )  # fmt: skip
    print_table(
        ["language", "english analyser, sentences/s", "own analyser, sentences/s"],
        [
            [r["code"], f"{r['speed']['english']:,.0f}", f"{r['speed'][r['language']]:,.0f}"]
            for r in rows
        ],
    )
    if model is not None:
        print_table(
            ["documents", "vector (e5)", "hybrid, english analyser", "hybrid, own analyser"],
            [
                [
                    r["code"], cell(r, "cross_vector"), cell(r, "cross_hybrid_english"),
                    cell(r, f"cross_hybrid_{r['language']}"),
                ]
                for r in rows
            ],
        )  # fmt: skip
    name = "keyword_languages" if args.limit == 1000 else f"keyword_languages_{args.limit}"
    name += "_keyword" if args.no_vector else ""
    path = save_report(
        name,
        "keyword_languages",
        k=K,
        query_share=SHARE,
        model=None if model is None else MODEL,
        limit=args.limit,
        seconds=round(seconds, 1),
        languages=rows,
    )
    print(f"\nwrote {path} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
