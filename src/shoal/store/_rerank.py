"""Rerankers: a second, costlier judgement of a search's best candidates, and the registry that builds them.

A `Reranker` scores each candidate's text against the query (`score`, the one method a
provider writes) and `rerank` orders the hits by that score, best first. A reranked hit's
`score` is the reranker's score, not the search's: a cross-encoder's is its activated
logit (0..1 with the default sigmoid), the LLM reranker's a 0..10 grade.

Rerankers are found by name in one `Registry` (group ``shoal.rerankers``): built-ins
``cross-encoder:<model>`` (`shoal.store.CrossEncoderReranker`, ONNX Runtime) and
``llm:<answerer>`` (`shoal.qa.LLMReranker`, any answerer `shoal.llm()` builds). The
interface lives here, beside `Hit`, so that the `Retriever` can rerank; the LLM reranker
lives in `shoal.qa` with the answerers it drives and is found by its "module:attr" name
on first use, the way a plugin is, so this layer never imports the one above it.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shoal._registry import Registry
from shoal.errors import ConfigurationError, InvalidInput, ProviderError
from shoal.store._search import Hit

__all__ = [
    "DEFAULT_RERANK_K",
    "Reranker",
    "RerankerFactory",
    "as_reranker",
    "register_reranker",
    "reranker",
    "reranker_providers",
]

DEFAULT_RERANK_K = 20
"""Candidates a retriever hands its reranker when `rerank_k` is not given (or k, if larger)."""


class Reranker(ABC):
    """Orders a query's hits by a relevance score of its own; providers implement `score` and `name`."""

    @property
    @abstractmethod
    def name(self) -> str:
        """What `shoal.reranker()` accepts to build this reranker again, e.g. ``cross-encoder:<model>``."""

    @abstractmethod
    def score(self, query: str, texts: Sequence[str]) -> Sequence[float] | np.ndarray:
        """One relevance score per text for `query`, higher is more relevant."""

    def rerank(self, query: str, hits: Sequence[Any], *, k: int | None = None) -> list[Hit]:
        """`hits` best first by this reranker's score (which replaces each hit's), the top `k` if given.

        Hits that score the same keep the order they came in.

        Raises:
            InvalidInput: an empty query, or k not a positive int.
            ProviderError: the provider gave a score count that differs from the texts', or
                a score that is not a finite number.
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput(f"query must be a non-empty str, got {query!r}")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InvalidInput(f"k must be a positive int, got {k!r}")
        hits = list(hits)
        if not hits:
            return []
        raw = self.score(query, [hit.text for hit in hits])
        scores = [float(s) for s in np.asarray(raw, dtype=np.float64).reshape(-1)]
        if len(scores) != len(hits):
            raise ProviderError(
                f"reranker {self.name} gave {len(scores)} scores for {len(hits)} texts",
                provider=self.name,
            )
        if not all(math.isfinite(s) for s in scores):
            raise ProviderError(
                f"reranker {self.name} gave a score that is not a finite number: {scores}",
                provider=self.name,
            )
        order = sorted(range(len(hits)), key=lambda i: -scores[i])  # stable: ties keep order
        ranked = [_rescored(hits[i], scores[i]) for i in order]
        return ranked if k is None else ranked[:k]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _rescored(hit: Any, score: float) -> Hit:
    """`hit` with the reranker's score (a `Hit`, or any hit-like object another retriever gives)."""
    if isinstance(hit, Hit):
        return dataclasses.replace(hit, score=score)
    return Hit(id=hit.id, text=hit.text, metadata=dict(hit.metadata), score=score)


RerankerFactory = Callable[..., Reranker]
"""Called as ``factory(model, **options)`` (``model`` is "" for a bare provider name)."""

ENTRY_POINT_GROUP = "shoal.rerankers"

_RERANKERS: Registry[Reranker] = Registry(
    "reranker",
    ENTRY_POINT_GROUP,
    {
        "cross-encoder": "shoal.store._cross_encoder:CrossEncoderReranker",
        "llm": "shoal.qa._rerank:LLMReranker",
    },
    register_with="shoal.register_reranker",
)
_EXAMPLE = "'cross-encoder:cross-encoder/ms-marco-MiniLM-L6-v2', 'llm:openai:gpt-4o-mini'"


def register_reranker(name: str, factory: RerankerFactory) -> None:
    """Register `factory` under `name` for this process (plugins use entry points instead)."""
    _RERANKERS.register(name, factory)


def reranker_providers() -> list[str]:
    """Names of every reranker provider `reranker()` can build, sorted."""
    return _RERANKERS.names()


def reranker(name: str, **options: Any) -> Reranker:
    """Build a reranker from ``"provider:model"``: ``cross-encoder:<model or folder>`` or ``llm:<answerer>``.

    Raises:
        UnknownProvider: no reranker provider has that name.
        ConfigurationError: an option the provider does not take.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"a reranker name looks like {_EXAMPLE}; got {name!r}")
    provider, _, model = name.partition(":")
    return _RERANKERS.build(provider, model, options, example=_EXAMPLE)


def as_reranker(value: Reranker | str) -> Reranker:
    """`value` itself if it is a Reranker, else the reranker that name builds.

    Raises:
        ConfigurationError: neither a Reranker nor a name.
    """
    if isinstance(value, Reranker):
        return value
    if isinstance(value, str):
        return reranker(value)
    raise ConfigurationError(
        f"rerank= takes a Reranker or a name like {_EXAMPLE}; got {type(value).__name__}"
    )
