"""`ShoalVectorStore`: a Shoal dataset as a LangChain `VectorStore`, constructed like Deep Lake's.

``ShoalVectorStore(dataset_path="./kb", embedding_function=embeddings)`` opens (or
creates) the dataset at a path, ``memory://name`` or ``s3://bucket/prefix``. Documents
added here are rows of that dataset, so ``shoal search ./kb "..."`` finds them, and rows
added by ``shoal ingest`` come back as Documents.

Ids: a Document without an id gets Shoal's content hash of its text and metadata, so
adding the same Document again adds nothing; a given id (``ids=`` or ``Document.id``)
replaces the row with that id. Scores: `similarity_search_with_score` returns the
dataset's own score (cosine or dot similarity, higher is better; l2 distance, lower is
better); relevance scores are in [0, 1], higher is better (see
`ShoalVectorStore._select_relevance_score_fn`). The async methods are LangChain's:
each runs its sync twin in a thread.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast, get_args

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

import shoal
from shoal._checks import check_count
from shoal.client import RemoteDataset
from shoal.errors import ConfigurationError, DatasetNotFound, InvalidInput
from shoal.integrations.langchain._embeddings import (
    LANGCHAIN_PROVIDER,
    ShoalEmbeddings,
    as_shoal_embedder,
)
from shoal.store import Dataset, Filter, Hit, Retriever, SearchMode, row_id
from shoal.types import Metric

__all__ = ["ShoalVectorStore"]

# LangChain's filters name metadata keys; these names are Shoal's own columns.
_COLUMNS = frozenset({"id", "text", "embedding", "metadata"})
_METRICS: dict[str, Metric] = {
    "cos": "cosine",
    "cosine": "cosine",
    "l2": "l2",
    "euclidean": "l2",
    "dot": "dot",
    "ip": "dot",
    "max_inner_product": "dot",
}
_SEARCH_OPTIONS = frozenset({"filter", "where", "mode"})


class ShoalVectorStore(VectorStore):
    """A Shoal dataset as a LangChain `VectorStore`.

    Args:
        dataset_path: where the dataset lives: a path, ``memory://name`` or ``s3://...``.
        embedding_function: the LangChain `Embeddings` (Deep Lake's argument name);
            `ShoalEmbeddings` stores the Shoal embedder's own spec, so the CLI can search
            the dataset; any other `Embeddings` works from Python. None: the dataset's
            stored embedder, or the offline MiniLM model for a new dataset.
        embedding: the same as `embedding_function` (the newer LangChain name).
        dataset: an open `shoal.Dataset` to use instead of `dataset_path`.
        distance_metric: for a new dataset made with a LangChain `Embeddings`: ``cos``
            (default), ``l2`` or ``dot``.
        **open_options: passed to `shoal.open` (``storage_options``, ``write_timeout``).
    """

    def __init__(
        self,
        dataset_path: str | os.PathLike[str] | None = None,
        embedding_function: Embeddings | None = None,
        *,
        embedding: Embeddings | None = None,
        dataset: Dataset | RemoteDataset | None = None,
        distance_metric: str | None = None,
        **open_options: Any,
    ) -> None:
        if embedding is not None and embedding_function is not None:
            raise ConfigurationError("pass embedding= or embedding_function=, not both")
        chosen = embedding if embedding is not None else embedding_function
        if (dataset is None) == (dataset_path is None):
            raise ConfigurationError(
                "pass dataset_path= (a path, memory://name or s3://...) or dataset=, one of them"
            )
        if dataset is not None and (open_options or distance_metric):
            raise ConfigurationError("dataset= is already open: open options do not apply")
        metric = _metric(distance_metric)
        self._dataset = (
            dataset
            if dataset is not None
            else _open(str(dataset_path), chosen, metric, open_options)
        )
        if dataset is not None and chosen is not None:
            given = as_shoal_embedder(
                chosen, dimensions=dataset.spec.dimensions, metric=metric or dataset.spec.metric
            )
            if given.spec != dataset.spec:
                raise ConfigurationError(
                    f"the dataset's vectors were made by {dataset.spec.name}, not by "
                    f"{given.spec.name}; pass the same embeddings or none"
                )
        if chosen is None and self._dataset.spec.provider == LANGCHAIN_PROVIDER:
            raise ConfigurationError(
                f"{self._dataset.uri} holds vectors made by the LangChain embeddings "
                f"{self._dataset.spec.model}; pass embedding_function= with the same one"
            )
        self._embeddings = chosen or ShoalEmbeddings(self._dataset.embedder)

    # ------------------------------------------------------------------ properties
    @property
    def dataset(self) -> Dataset | RemoteDataset:
        """The Shoal dataset behind this store (versions, summary, hybrid search, ...): local,
        or served (`shoal.connect(url).open(name)`)."""
        return self._dataset

    @property
    def embeddings(self) -> Embeddings:
        """The LangChain embeddings this store embeds with."""
        return self._embeddings

    def __repr__(self) -> str:
        return f"ShoalVectorStore({self._dataset.uri!r})"

    # ---------------------------------------------------------------------- writes
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Add texts and return their ids: given ids replace their rows, others are content hashes.

        ``batch_size=`` (LangChain's indexing API passes it) writes that many rows per
        version; by default the whole call is one version.
        """
        batch_size = kwargs.pop("batch_size", None)
        _no_more(kwargs, "add_texts")
        items = list(texts)
        rows = _metadatas(metadatas, len(items))
        if ids is not None and len(ids) != len(items):
            raise InvalidInput(f"got {len(ids)} ids for {len(items)} texts; give one id per text")
        size = len(items) if batch_size is None else check_count(batch_size, "batch_size")
        written: list[str] = []
        for start in range(0, len(items), max(size, 1)):
            part, meta = items[start : start + size], rows[start : start + size]
            given = None if ids is None else ids[start : start + size]
            if given is None or not any(given):
                written += self._dataset.add(part, metadatas=meta)
            else:
                filled = [
                    i if i else row_id(t, m) for i, t, m in zip(given, part, meta, strict=True)
                ]
                written += self._dataset.upsert(part, metadatas=meta, ids=filled)
        return written

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete rows by id, by ``filter=``, or all of them with ``delete_all=True``.

        Ids that are not stored are ignored. Returns True. Deleting needs one of the three:
        a bare ``delete()`` deletes nothing and raises, as Deep Lake's does.
        """
        where = _filter_option(kwargs)
        delete_all = bool(kwargs.pop("delete_all", False))
        _no_more(kwargs, "delete")
        if sum([ids is not None, where is not None, delete_all]) != 1:
            raise InvalidInput(
                "delete takes exactly one of ids=[...], filter={...} or delete_all=True"
            )
        if ids is not None:
            if ids:
                self._dataset.delete(ids=list(ids))
        else:
            self._dataset.delete(where=where or {})
        return True

    # ----------------------------------------------------------------------- reads
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The Documents with these ids, in the order given; ids not stored are skipped."""
        return [
            Document(page_content=r.text, metadata=r.metadata, id=r.id)
            for r in self._dataset.get(list(ids))
        ]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The k Documents most similar to `query` (``filter=``, ``mode=`` vector|keyword|hybrid)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The k best Documents with Shoal's score (cosine/dot similarity, l2 distance, BM25, RRF)."""
        where, mode = _search_options(kwargs, "similarity_search")
        hits = self._dataset.search(query, k=k, where=where, mode=mode)
        return [(_document(hit), hit.score) for hit in hits]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """The k Documents nearest to a vector (``filter=`` applies)."""
        return [
            doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, **kwargs)
        ]

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The k Documents nearest to a vector, with the dataset's metric score."""
        where, _ = _search_options(kwargs, "similarity_search_by_vector", vector=True)
        hits = self._dataset.search(_vector(embedding), k=k, where=where)
        return [(_document(hit), hit.score) for hit in hits]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """k Documents among the `fetch_k` most similar, picked for relevance and variety."""
        retriever = self._mmr(k, fetch_k, lambda_mult, kwargs, "max_marginal_relevance_search")
        return [_document(hit) for hit in retriever.retrieve(query)]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """`max_marginal_relevance_search` from a vector."""
        method = "max_marginal_relevance_search_by_vector"
        retriever = self._mmr(k, fetch_k, lambda_mult, kwargs, method)
        return [_document(hit) for hit in retriever.retrieve_by_vector(_vector(embedding))]

    def _mmr(
        self, k: int, fetch_k: int, lambda_mult: float, options: dict[str, Any], method: str
    ) -> Retriever:
        where, _ = _search_options(options, method, vector=True)
        return self._dataset.as_retriever(
            k=k, search_type="mmr", fetch_k=fetch_k, lambda_mult=lambda_mult, where=where
        )

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Relevance in [0, 1], higher is better, from the vector score.

        cosine (and dot or l2 on unit vectors): the cosine similarity, negatives as 0, so a
        threshold means what it means for other LangChain stores; dot on other vectors:
        the logistic function of the dot product; l2 on other vectors: 1 / (1 + distance).
        """
        spec = self._dataset.spec
        if spec.metric == "cosine" or (spec.metric == "dot" and spec.normalized):
            return _clip
        if spec.metric == "l2" and spec.normalized:
            return lambda distance: _clip(1.0 - distance * distance / 2.0)
        if spec.metric == "dot":
            return lambda score: 1.0 / (1.0 + math.exp(-max(min(score, 700.0), -700.0)))
        return lambda distance: 1.0 / (1.0 + max(distance, 0.0))

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        if kwargs.get("mode", "vector") != "vector":
            raise InvalidInput(
                "relevance scores come from vector similarity; keyword and hybrid scores are "
                "not similarities: use similarity_search_with_score for those modes"
            )
        return super()._similarity_search_with_relevance_scores(query, k, **kwargs)

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> ShoalVectorStore:
        """A store holding `texts`: at ``dataset_path=`` if given, else a new in-memory dataset."""
        path = kwargs.pop("dataset_path", None) or f"memory://langchain-{uuid.uuid4().hex}"
        store = cls(dataset_path=path, embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store


def _open(
    uri: str, chosen: Embeddings | None, metric: Metric | None, options: Mapping[str, Any]
) -> Dataset:
    """Open or create the dataset at `uri` with the Shoal embedder behind `chosen`."""
    if chosen is None:
        return shoal.open(uri, **options)
    if isinstance(chosen, ShoalEmbeddings):
        return shoal.open(uri, embedder=chosen.embedder, **options)
    try:
        stored = shoal.open(uri, **{**options, "create": False}).spec
    except DatasetNotFound:
        if not options.get("create", True):
            raise
        built = as_shoal_embedder(chosen, metric=metric or "cosine")
    else:
        # An existing dataset: its vector size is known, so the embeddings are not probed.
        built = as_shoal_embedder(chosen, dimensions=stored.dimensions, metric=stored.metric)
    return shoal.open(uri, embedder=built, **options)


def _metric(name: str | None) -> Metric | None:
    if name is None:
        return None
    metric = _METRICS.get(str(name).lower())
    if metric is None:
        raise ConfigurationError(
            f"distance_metric {name!r} is not supported; use one of {', '.join(_METRICS)}"
        )
    return metric


def _metadatas(metadatas: list[dict[str, Any]] | None, count: int) -> list[dict[str, Any]]:
    if metadatas is None:
        return [{} for _ in range(count)]
    rows = list(metadatas)
    if len(rows) != count:
        raise InvalidInput(f"got {len(rows)} metadatas for {count} texts; give one per text")
    return [dict(m or {}) for m in rows]


def _filter_option(options: dict[str, Any]) -> Filter | None:
    """LangChain's ``filter=`` (or Shoal's ``where=``), its metadata keys made explicit."""
    given = options.pop("filter", None)
    where = options.pop("where", None)
    if given is not None and where is not None:
        raise InvalidInput("pass filter= or where=, not both")
    chosen = given if given is not None else where
    return None if chosen is None else _metadata_filter(chosen)


def _metadata_filter(where: Any) -> Any:
    """A filter whose keys named like Shoal's columns (id, text) mean metadata, as in LangChain."""
    if isinstance(where, Mapping):
        return {
            (f"metadata.{key}" if key in _COLUMNS else key): _metadata_filter(value)
            if str(key).startswith("$")
            else value
            for key, value in where.items()
        }
    if isinstance(where, (list, tuple)):
        return [_metadata_filter(item) for item in where]
    return where


def _search_options(
    options: dict[str, Any], method: str, *, vector: bool = False
) -> tuple[Filter | None, SearchMode]:
    where = _filter_option(options)
    mode = options.pop("mode", "vector")
    if mode not in get_args(SearchMode):
        raise InvalidInput(f"mode must be 'vector', 'keyword' or 'hybrid', got {mode!r}")
    if vector and mode != "vector":
        raise InvalidInput(f"{method} ranks by vector; mode={mode!r} needs a text query")
    _no_more(options, method)
    return where, cast("SearchMode", mode)


def _no_more(options: Mapping[str, Any], method: str) -> None:
    if options:
        raise InvalidInput(
            f"{method} got unexpected options {sorted(options)}; it takes "
            f"{', '.join(sorted(_SEARCH_OPTIONS))} for searches (filter is a Mongo-style dict)"
        )


def _vector(embedding: Sequence[float]) -> np.ndarray:
    return np.asarray(embedding, dtype=np.float32)


def _document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata=hit.metadata, id=hit.id)


def _clip(score: float) -> float:
    return min(max(score, 0.0), 1.0)
