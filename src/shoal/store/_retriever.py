"""`Retriever`: a dataset search with fixed options, as question answering uses it.

Three search types, named as LangChain names them: ``similarity`` (the k best hits),
``mmr`` (maximal marginal relevance: fetch `fetch_k` hits, then pick k that are relevant
and unlike each other) and ``threshold`` (the k best hits scoring at least
`score_threshold`).

With ``rerank=`` (a `Reranker` or a name for `shoal.reranker`), the search fetches
`rerank_k` candidates (default ``max(k, 20)``) and the reranker picks the k best of them;
their scores are then the reranker's (see `shoal.store.Reranker`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from shoal.errors import InvalidInput
from shoal.store._records import validate_vectors
from shoal.store._rerank import DEFAULT_RERANK_K, Reranker, as_reranker
from shoal.store._search import Hit, SearchMode, SearchOptions
from shoal.store.filters import Filter

if TYPE_CHECKING:  # the Dataset makes Retrievers, so it imports this module
    from shoal.store._dataset import Dataset

__all__ = ["Retriever", "SearchType", "diverse_hits", "maximal_marginal_relevance"]

SearchType = Literal["similarity", "mmr", "threshold"]
"""How a Retriever picks its hits: the best, the best diverse set, or the best above a score."""
_SEARCH_TYPES: tuple[str, ...] = get_args(SearchType)


@dataclass(frozen=True)
class Retriever:
    """Retrieves the rows of `dataset` that answer a query; make one with `Dataset.as_retriever`.

    `mode` ranks by vector, keyword (BM25) or hybrid search; `search_type` picks among
    the ranked rows (see the module docs). Hits keep the mode's score (see `Hit`); MMR
    returns them in the order it picked them. `rerank` (a `Reranker`, or a name such as
    ``cross-encoder:ms-marco-MiniLM-L6-v2``) reorders `rerank_k` candidates (default
    ``max(k, 20)``) and keeps its k best, scored by the reranker.
    """

    dataset: Dataset
    _: KW_ONLY
    k: int = 4
    mode: SearchMode = "vector"
    search_type: SearchType = "similarity"
    where: Filter | None = None
    fetch_k: int = 20
    lambda_mult: float = 0.5
    score_threshold: float | None = None
    rrf_k: float = 60
    weights: tuple[float, float] = (1.0, 1.0)
    rerank: Reranker | str | None = None
    rerank_k: int | None = None

    def __post_init__(self) -> None:
        SearchOptions.build(
            k=self.k, mode=self.mode, rrf_k=self.rrf_k, weights=self.weights, metric=None
        )
        if self.search_type not in _SEARCH_TYPES:
            raise InvalidInput(
                f"search_type must be one of {', '.join(map(repr, _SEARCH_TYPES))}; "
                f"got {self.search_type!r}"
            )
        if self.where is not None and not isinstance(self.where, Mapping):
            raise InvalidInput(
                f"where must be a filter dict, e.g. {{'lang': 'en'}}; got {self.where!r}"
            )
        if self.search_type == "mmr":
            if isinstance(self.fetch_k, bool) or not isinstance(self.fetch_k, int):
                raise InvalidInput(f"fetch_k must be an int, got {self.fetch_k!r}")
            if self.fetch_k < self.k:
                raise InvalidInput(
                    f"fetch_k ({self.fetch_k}) must be at least k ({self.k}): MMR picks k of "
                    "the fetch_k best hits"
                )
            if not _finite(self.lambda_mult) or not 0 <= self.lambda_mult <= 1:
                raise InvalidInput(
                    "lambda_mult must be a number from 0 (diversity only) to 1 (relevance "
                    f"only); got {self.lambda_mult!r}"
                )
        if self.search_type == "threshold" and not _finite(self.score_threshold):
            raise InvalidInput(
                "search_type='threshold' needs score_threshold=, a number: hits scoring at "
                f"least that are kept; got {self.score_threshold!r}"
            )
        if self.search_type != "threshold" and self.score_threshold is not None:
            raise InvalidInput("score_threshold= applies only with search_type='threshold'")
        self._check_rerank()

    def _check_rerank(self) -> None:
        if self.rerank is None:
            if self.rerank_k is not None:
                raise InvalidInput(
                    "rerank_k= applies only with rerank= (a Reranker, or a name such as "
                    "'cross-encoder:ms-marco-MiniLM-L6-v2')"
                )
            return
        if self.search_type == "mmr":
            raise InvalidInput(
                "search_type='mmr' picks hits for diversity and rerank= reorders them for "
                "relevance alone; use one of the two"
            )
        if self.rerank_k is not None:
            if isinstance(self.rerank_k, bool) or not isinstance(self.rerank_k, int):
                raise InvalidInput(f"rerank_k must be an int, got {self.rerank_k!r}")
            if self.rerank_k < self.k:
                raise InvalidInput(
                    f"rerank_k ({self.rerank_k}) must be at least k ({self.k}): the reranker "
                    "keeps k of the rerank_k best search hits"
                )
        # Built once here, so a bad name fails when the retriever is made, not at a query.
        object.__setattr__(self, "rerank", as_reranker(self.rerank))

    @property
    def candidates(self) -> int:
        """Hits the search fetches: k, or with a reranker `rerank_k` (default ``max(k, 20)``)."""
        if self.rerank is None:
            return self.k
        return self.rerank_k if self.rerank_k is not None else max(self.k, DEFAULT_RERANK_K)

    def retrieve(self, query: str) -> list[Hit]:
        """The hits for `query`, best first (MMR: in the order picked)."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput(f"query must be a non-empty str, got {query!r}")
        if self.search_type == "mmr":
            return self._mmr(query)
        hits = self._kept(self._search(query, self.candidates))
        if isinstance(self.rerank, Reranker):
            return self.rerank.rerank(query, hits, k=self.k)
        return hits

    def retrieve_by_vector(self, vector: Any) -> list[Hit]:
        """The hits for a query vector, as `retrieve` finds them for a text (vector mode only)."""
        if self.mode != "vector":
            raise InvalidInput(f"mode={self.mode!r} needs a text query; use retrieve(text)")
        if self.rerank is not None:
            raise InvalidInput("a reranker reads the query's text; use retrieve(text)")
        dimensions = self.dataset.spec.dimensions
        query = validate_vectors(np.reshape(vector, (1, -1)), rows=1, dimensions=dimensions)[0]
        if self.search_type == "mmr":
            hits = self._search(query, self.fetch_k)
            return diverse_hits(self.dataset, query, hits, k=self.k, lambda_mult=self.lambda_mult)
        return self._kept(self._search(query, self.k))

    def _kept(self, hits: list[Hit]) -> list[Hit]:
        """`hits` less those under the score threshold (threshold search only)."""
        if self.search_type == "threshold":
            assert self.score_threshold is not None
            threshold = self.score_threshold
            if self.mode == "vector" and self.dataset.spec.metric == "l2":
                return [hit for hit in hits if hit.score <= threshold]  # distances
            return [hit for hit in hits if hit.score >= threshold]
        return hits

    def _search(self, query: str | np.ndarray, k: int) -> list[Hit]:
        return self.dataset.search(
            query, k=k, where=self.where, mode=self.mode, rrf_k=self.rrf_k, weights=self.weights
        )

    def _mmr(self, query: str) -> list[Hit]:
        vector = self.dataset.embedder.embed_query(query)
        # Vector mode searches with the vector embedded here, not embedding the query twice.
        hits = self._search(vector if self.mode == "vector" else query, self.fetch_k)
        return diverse_hits(self.dataset, vector, hits, k=self.k, lambda_mult=self.lambda_mult)


def diverse_hits(
    dataset: Dataset, query: np.ndarray, hits: list[Hit], *, k: int, lambda_mult: float
) -> list[Hit]:
    """k of `hits` picked by maximal marginal relevance to the `query` vector, in pick order."""
    if not hits:
        return []
    stored = {record.id: record.embedding for record in dataset.get([h.id for h in hits])}
    hits = [hit for hit in hits if hit.id in stored]  # a row deleted meanwhile
    if not hits:
        return []
    chosen = maximal_marginal_relevance(
        query, np.stack([stored[hit.id] for hit in hits]), k=k, lambda_mult=lambda_mult
    )
    return [hits[i] for i in chosen]


def maximal_marginal_relevance(
    query: np.ndarray, candidates: np.ndarray, *, k: int, lambda_mult: float
) -> list[int]:
    """Indices of k candidates picked one by one for relevance minus redundancy (cosine).

    Each pick maximises ``lambda_mult * cos(query, c) - (1 - lambda_mult) * max cos(c, s)``
    over the picks s so far; the first pick is the most relevant.
    """
    unit = _unit(candidates)
    relevance = unit @ _unit(query[None, :])[0]
    similarity = unit @ unit.T
    chosen: list[int] = []
    redundancy = np.full(len(unit), -np.inf, dtype=np.float32)
    while len(chosen) < min(k, len(unit)):
        if chosen:
            score = lambda_mult * relevance - (1 - lambda_mult) * redundancy
            score[chosen] = -np.inf
        else:
            score = relevance
        best = int(np.argmax(score))
        chosen.append(best)
        redundancy = np.maximum(redundancy, similarity[best])
    return chosen


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
