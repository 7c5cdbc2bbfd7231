"""The derived BM25 keyword index over a snapshot's texts, kept in step like the vector index.

Analysis follows Elasticsearch's ``english`` analyzer, the setting of BEIR's published
BM25 numbers: Unicode word tokens, possessive ``'s`` dropped, lower case, Lucene's English
stop words, then the Porter stemmer (PyStemmer). Scoring is Lucene's BM25 (k1=1.2,
b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))); ``bench/retrieval_quality.py``
measured it on SciFact against the published 0.665 nDCG@10.

Like the HNSW index, this is a cache over snapshot positions: new positions are indexed
before each keyword search, dead ones are skipped (and leave the statistics), and a new
snapshot (a reload, a compaction) or a text edited in place rebuilds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import Stemmer

from shoal.store._snapshot import Snapshot

__all__ = ["KeywordIndex", "Tokenizer"]

K1 = 1.2
B = 0.75
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
))  # fmt: skip
"""Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET)."""
# Words as Lucene's standard tokenizer finds them, closely enough: "3.1.3", "1,000" and
# "u.s.a" stay whole, hyphens split.
_WORD = re.compile(r"\w+(?:[.,'\u2019]\w+)*")
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_BATCH = 4_096


class Tokenizer:
    """Text to index terms: words, lower case, no stop words, Porter stems."""

    def __init__(self) -> None:
        # A Stemmer is not thread-safe: each index has its own, used under the view's lock.
        self._stemmer = Stemmer.Stemmer("porter")

    def __call__(self, text: str) -> list[str]:
        """The terms of one text, in order, repeats kept."""
        return self.stems(self.words(text))

    def words(self, text: str) -> list[str]:
        """The words of one text before stemming: lower case, no stop words, in order."""
        return [w for w in _WORD.findall(_POSSESSIVE.sub("", text.lower())) if w not in STOPWORDS]

    def stems(self, words: list[str]) -> list[str]:
        """The Porter stems of `words`, in order."""
        stems: list[str] = self._stemmer.stemWords(words)
        return stems


class KeywordIndex:
    """BM25 postings over positions 0..count-1 of one snapshot."""

    def __init__(self) -> None:
        self.tokenize = Tokenizer()
        self._reset(None)

    def _reset(self, snap: Snapshot | None) -> None:
        self._snap = snap
        self._edits = snap.text_edits if snap is not None else 0
        self.count = 0
        self._terms: dict[str, int] = {}
        # Per term: chunks of (positions, term frequencies), merged when first read.
        self._postings: list[list[tuple[np.ndarray, np.ndarray]]] = []
        self._lengths = np.zeros(0, dtype=np.float32)

    def catch_up(self, snap: Snapshot) -> None:
        """Index the snapshot's positions not indexed yet; start over for another snapshot."""
        if snap is not self._snap or snap.text_edits != self._edits:
            self._reset(snap)
        if self.count == snap.size:
            return
        if len(self._lengths) < snap.size:
            lengths = np.zeros(max(snap.size, 2 * len(self._lengths)), dtype=np.float32)
            lengths[: self.count] = self._lengths[: self.count]
            self._lengths = lengths
        for start in range(self.count, snap.size, _BATCH):
            stop = min(start + _BATCH, snap.size)
            self._add(snap.texts[start:stop], start)
        self.count = snap.size

    def _add(self, texts: Sequence[str], start: int) -> None:
        term_ids: list[int] = []
        owners: list[int] = []
        for offset, text in enumerate(texts):
            terms = self.tokenize(text)
            self._lengths[start + offset] = len(terms)
            for term in terms:
                term_id = self._terms.get(term)
                if term_id is None:
                    term_id = self._terms[term] = len(self._postings)
                    self._postings.append([])
                term_ids.append(term_id)
            owners.extend([start + offset] * len(terms))
        if not term_ids:
            return
        # One (term, position) key per pair; unique() counts term frequencies, sorted by term.
        keys = (np.asarray(term_ids, dtype=np.int64) << 32) | np.asarray(owners, dtype=np.int64)
        unique, counts = np.unique(keys, return_counts=True)
        terms = unique >> 32
        positions = unique & 0xFFFFFFFF
        cuts = np.flatnonzero(np.diff(terms)) + 1
        for begin, end in zip(
            np.concatenate([[0], cuts]).tolist(),
            np.concatenate([cuts, [len(terms)]]).tolist(),
            strict=True,
        ):
            self._postings[int(terms[begin])].append(
                (positions[begin:end], counts[begin:end].astype(np.float32))
            )

    def _posting(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        chunks = self._postings[term_id]
        if len(chunks) > 1:
            chunks[:] = [
                (np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))
            ]
        return chunks[0]

    def scores(self, query: str, alive: np.ndarray) -> np.ndarray:
        """BM25 score of every position for `query` (0 where no term matches or dead).

        `alive` marks the live positions; the statistics (N, df, mean length) count only them.
        """
        scores = np.zeros(self.count, dtype=np.float32)
        live = alive[: self.count]
        total = int(np.count_nonzero(live))
        if total == 0:
            return scores
        lengths = self._lengths[: self.count]
        mean_length = float(lengths[live].sum()) / total or 1.0
        for term in self.tokenize(query):
            term_id = self._terms.get(term)
            if term_id is None:
                continue
            positions, frequencies = self._posting(term_id)
            keep = live[positions]
            positions, frequencies = positions[keep], frequencies[keep]
            if len(positions) == 0:
                continue
            idf = np.log1p((total - len(positions) + 0.5) / (len(positions) + 0.5))
            norm = K1 * (1 - B + B * lengths[positions] / mean_length)
            scores[positions] += np.float32(idf) * frequencies * (K1 + 1) / (frequencies + norm)
        return scores

    def search(
        self, query: str, k: int, *, alive: np.ndarray, positions: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, BM25 scores) among live rows, or among `positions`; only matches."""
        scores = self.scores(query, alive)
        candidates = np.flatnonzero(scores) if positions is None else positions
        candidates = candidates[scores[candidates] > 0]
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        # Best first; ties in position order, so results are deterministic.
        order = np.lexsort((candidates, -scores[candidates]))
        chosen = candidates[order]
        return chosen, scores[chosen]
