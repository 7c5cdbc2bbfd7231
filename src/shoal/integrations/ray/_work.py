"""What a Ray worker of a distributed ingest does: one actor = one model session.

An actor is given files (a batch of paths); for each it reads the bytes' SHA-256, compares
it with what the dataset holds (as the single-process ingest does), loads and splits a new
or changed file with Shoal's own loaders and splitter, embeds the chunks not stored or
staged yet (through the embedding cache, if any), and writes them as Lance data files that
no version lists yet. It returns one small row per batch: the files' outcomes and the data
files' metadata, which the driver stages and, at the end, commits as one version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from lance.fragment import write_fragments

from shoal.embeddings import CachedEmbedder, Embedder, EmbeddingCache, fits_window
from shoal.embeddings import embedder as build_embedder
from shoal.errors import InvalidInput
from shoal.ingestion._chunks import Chunker
from shoal.ingestion._files import CHUNK, CHUNKS, HASH, SPLITTER, Stored, file_status
from shoal.ingestion._pipeline import splitter_for
from shoal.store import row_id
from shoal.store._writes import Batch
from shoal.text import RecursiveCharacterSplitter, file_digest, unreadable, with_context
from shoal.types import Document, EmbedderSpec, Metric

__all__ = ["IngestPlan", "IngestWorker", "ModelRecipe", "SplitRecipe"]


@dataclass(frozen=True)
class ModelRecipe:
    """How a worker builds its model: by name and options, or a picklable Embedder given."""

    spec: EmbedderSpec
    given: Embedder | None = None

    def build(self) -> Embedder:
        """The model, checked against the spec the driver uses."""
        model = (
            self.given
            if self.given is not None
            else build_embedder(self.spec.name, **self.spec.options)
        )
        if model.spec != self.spec:
            raise InvalidInput(
                f"the worker built {model.spec.name}, not {self.spec.name}: install the same "
                "Shoal and models on every node of the cluster"
            )
        return model


@dataclass(frozen=True)
class SplitRecipe:
    """How a worker splits: the ingest's options (the splitter is fitted to the worker's model)."""

    splitter: RecursiveCharacterSplitter | None
    chunk_size: int | None
    chunk_overlap: int
    tokens: bool
    text_columns: Sequence[str] | None
    text_field: str
    stream_above: int

    def chunker(self, model: Embedder) -> Chunker:
        """The chunker, as the single-process ingest makes it for `model`."""
        splitter = self.splitter or splitter_for(
            model, self.chunk_size, self.chunk_overlap, self.tokens
        )
        return Chunker(splitter, self.text_columns, self.text_field, self.stream_above)


@dataclass(frozen=True)
class IngestPlan:
    """Everything a worker needs besides its files: where to write and what is there already."""

    model: ModelRecipe
    split: SplitRecipe
    splitter_key: str
    lance_uri: str
    schema: pa.Schema
    metric: Metric
    storage_options: Mapping[str, str]
    cache_path: str | None
    stored: Mapping[str, Stored]
    staged: frozenset[str]
    threads: int
    """CPUs Ray reserved for each actor: its model's threads."""


class IngestWorker:
    """A Ray Data actor: files in, Lance data files (not yet a version) out."""

    def __init__(self, plan: IngestPlan) -> None:
        # This process is the actor's own: its model runs on the CPUs Ray reserved for it.
        os.environ["SHOAL_NUM_THREADS"] = str(plan.threads)
        self.plan = plan
        self.model = plan.model.build()
        self.chunker = plan.split.chunker(self.model)
        if self.chunker.fingerprint != plan.splitter_key:
            raise InvalidInput(
                f"the worker splits as {self.chunker.fingerprint!r}, the driver as "
                f"{plan.splitter_key!r}: install the same Shoal and models on every node"
            )
        self.fits = fits_window(self.model)
        self.encoder: Embedder = self.model
        if plan.cache_path is not None:
            self.encoder = CachedEmbedder(self.model, EmbeddingCache(plan.cache_path))

    def __call__(self, files_batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        """Ingest one batch of files; one summary row (files, data files, ids, counts)."""
        files: list[dict[str, Any]] = []
        ids: list[str] = []
        texts: list[str] = []
        embedded: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for path in files_batch["path"]:
            outcome, rows = self._file(Path(str(path)))
            files.append(outcome)
            for chunk_id, chunk, metadata in rows:
                ids.append(chunk_id)
                texts.append(chunk)
                embedded.append(with_context(chunk, metadata, fits=self.fits))
                metadatas.append(metadata)
        fragments: list[dict[str, Any]] = []
        hits_before, model_before = self._counts()
        if ids:
            vectors = self.encoder.embed_documents(embedded)
            batch_rows = Batch.build(
                texts, metadatas, None, vectors, None, self.plan.model.spec.dimensions
            )
            everything = list(range(len(batch_rows.ids)))
            batch_rows.check_searchable(everything, self.plan.metric)
            table = batch_rows.table(self.plan.schema, everything)
            written = write_fragments(
                table,
                self.plan.lance_uri,
                schema=self.plan.schema,
                storage_options=dict(self.plan.storage_options) or None,
            )
            fragments = [fragment.to_json() for fragment in written]
            ids = list(batch_rows.ids)
        hits_after, model_after = self._counts()
        return {
            "files": [json.dumps(files)],
            "fragments": [json.dumps(fragments)],
            "ids": [json.dumps(ids)],
            "build": [json.dumps(self.model.build)],
            "embedded": [model_after - model_before if self._cached else len(ids)],
            "cached": [hits_after - hits_before],
        }

    @property
    def _cached(self) -> bool:
        return isinstance(self.encoder, CachedEmbedder)

    def _counts(self) -> tuple[int, int]:
        if isinstance(self.encoder, CachedEmbedder):
            return self.encoder.hits, self.encoder.embedded
        return 0, 0

    def _file(self, file: Path) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
        """One file's outcome, and its chunks to write (id, text, metadata)."""
        source = str(file)
        outcome: dict[str, Any] = {"source": source, "obsolete": []}
        try:
            digest = file_digest(file)
        except OSError as exc:
            outcome.update(status="failed", reason=str(unreadable(file, exc)))
            return outcome, []
        stored = self.plan.stored.get(source)
        status = file_status(stored, digest, self.plan.splitter_key)
        outcome["status"] = status
        if status == "unchanged":
            return outcome, []
        errors: list[int] = []

        def count_errors(document: Document) -> None:
            value = document.metadata.get("decode_errors")
            if isinstance(value, int):
                errors.append(value)

        try:
            chunks = list(self.chunker.chunks(file, on_document=count_errors))
        except InvalidInput as exc:
            outcome.update(status="failed", reason=str(exc))
            return outcome, []
        skip = self.plan.staged | set(stored.ids if stored is not None else ())
        rows: list[tuple[str, str, dict[str, Any]]] = []
        every: set[str] = set()
        for index, chunk in enumerate(chunks):
            metadata = {
                **chunk.metadata,
                HASH: digest,
                CHUNK: index,
                CHUNKS: len(chunks),
                SPLITTER: self.plan.splitter_key,
            }
            chunk_id = row_id(chunk.text, metadata)
            every.add(chunk_id)
            if chunk_id not in skip:
                rows.append((chunk_id, chunk.text, metadata))
        if stored is not None:
            outcome["obsolete"] = [i for i in stored.ids if i not in every]
        if errors:
            outcome["decode_errors"] = sum(errors)
        if not chunks and status == "new":
            outcome["status"] = "empty"
        return outcome, rows
