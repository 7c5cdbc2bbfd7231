"""Near-duplicate scoring on PAWS: average precision of the cosine score for paraphrase pairs.

    .venv/bin/python bench/dedup_paws.py [--models minilm,mpnet] [--limit 8000]

Data: PAWS-Wiki dev (../shared/data/paws/dev.tsv, read in place; no header, columns id,
sentence1, sentence2, label; 8,000 pairs, 44% paraphrases). PAWS pairs share almost all their words
(word swaps, "flights from New York to Florida" vs "from Florida to New York"), so it is
the adversarial case for any similarity score; a near-duplicate finder meets easier pairs.

Scores, in one run: the cosine similarity of the two sentences' embeddings by
`shoal.embedder(...)` (what `shoal.analysis.near_duplicates` thresholds: both sides as
documents), and two baselines with no model: TF-IDF cosine (word unigrams and bigrams, idf
over the 16,000 sentences) and token Jaccard. Reported: average precision of each score
for label=1 (scikit-learn's definition), ROC AUC, the rate of positives, and for the
embedding scores the precision and recall of "score >= t" at the thresholds
`near_duplicates` might default to. Writes bench/results/dedup_paws.json and prints the
BENCHMARKS.md table.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from _report import print_table, save_report

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "paws" / "dev.tsv"
MODELS = {"minilm": "local:all-MiniLM-L6-v2", "mpnet": "local:all-mpnet-base-v2"}
THRESHOLDS = (0.8, 0.85, 0.9, 0.95, 0.98)
_WORD = re.compile(r"\w+")


def pairs(limit: int) -> tuple[list[str], list[str], np.ndarray]:
    """The first `limit` dev pairs: left sentences, right sentences, labels (1: paraphrase)."""
    left, right, labels = [], [], []
    with DATA.open(encoding="utf-8", newline="") as handle:
        for _, first, second, label in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            left.append(first)
            right.append(second)
            labels.append(int(label))
            if len(labels) == limit:
                break
    return left, right, np.asarray(labels)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the precision at each positive, ranked by score (ties broken pessimistically)."""
    order = np.lexsort((labels, -scores))  # among equal scores, negatives first
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits == 1].mean())


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    ranks = _average_ranks(scores)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return float(
        (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks


def tokens(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


def jaccard(left: list[str], right: list[str]) -> np.ndarray:
    """Token-set Jaccard similarity of each pair."""
    scores = []
    for a, b in zip(left, right, strict=True):
        x, y = set(tokens(a)), set(tokens(b))
        scores.append(len(x & y) / max(len(x | y), 1))
    return np.asarray(scores)


def tfidf_cosine(left: list[str], right: list[str]) -> np.ndarray:
    """Cosine of TF-IDF vectors (unigrams and bigrams, smooth idf over all sentences)."""

    def grams(text: str) -> Counter[str]:
        words = tokens(text)
        return Counter(words + [f"{a} {b}" for a, b in itertools.pairwise(words)])

    bags = [grams(t) for t in left + right]
    document_frequency: Counter[str] = Counter()
    for bag in bags:
        document_frequency.update(bag.keys())
    n = len(bags)
    idf = {t: math.log((1 + n) / (1 + df)) + 1 for t, df in document_frequency.items()}

    def weighted(bag: Counter[str]) -> dict[str, float]:
        vector = {t: c * idf[t] for t, c in bag.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {t: v / norm for t, v in vector.items()}

    half = len(left)
    scores = []
    for i in range(half):
        a, b = weighted(bags[i]), weighted(bags[half + i])
        scores.append(sum(v * b.get(t, 0.0) for t, v in a.items()))
    return np.asarray(scores)


def embedding_cosine(name: str, left: list[str], right: list[str]) -> tuple[np.ndarray, float]:
    """Cosine of the two sides' document embeddings, and the seconds embedding took."""
    import shoal

    model = shoal.embedder(name)
    start = time.perf_counter()
    vectors = model.embed_documents(left + right)
    seconds = time.perf_counter() - start
    a, b = vectors[: len(left)], vectors[len(left) :]
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", a, b), seconds


def at_threshold(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision and recall of `score >= threshold` as the paraphrase decision."""
    chosen = scores >= threshold
    true = int((chosen & (labels == 1)).sum())
    return {
        "threshold": threshold,
        "precision": round(true / max(int(chosen.sum()), 1), 3),
        "recall": round(true / max(int(labels.sum()), 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="minilm", help="comma-separated: minilm, mpnet")
    parser.add_argument("--limit", type=int, default=8000)
    args = parser.parse_args()
    left, right, labels = pairs(args.limit)
    results: dict[str, dict[str, object]] = {}
    for name, scores in (
        ("token Jaccard", jaccard(left, right)),
        ("TF-IDF cosine", tfidf_cosine(left, right)),
    ):
        results[name] = {"ap": average_precision(scores, labels), "auc": roc_auc(scores, labels)}
    for key in args.models.split(","):
        scores, seconds = embedding_cosine(MODELS[key], left, right)
        results[f"{MODELS[key]} cosine"] = {
            "ap": average_precision(scores, labels),
            "auc": roc_auc(scores, labels),
            "embed_seconds": round(seconds, 1),
            "thresholds": [at_threshold(scores, labels, t) for t in THRESHOLDS],
        }
    positives = float(labels.mean())
    save_report(
        "dedup_paws", "dedup_paws", pairs=len(labels), positive_rate=positives, results=results
    )
    print(f"{len(labels)} pairs, {positives:.1%} paraphrases (the AP of a random score)")
    print_table(
        ["score", "average precision", "ROC AUC"],
        [(name, f"{r['ap']:.3f}", f"{r['auc']:.3f}") for name, r in results.items()],
    )
    for name, r in results.items():
        if "thresholds" in r:
            print_table(
                [f"{name}: score >=", "precision", "recall"],
                [(t["threshold"], t["precision"], t["recall"]) for t in r["thresholds"]],  # type: ignore[attr-defined]
            )


if __name__ == "__main__":
    main()
