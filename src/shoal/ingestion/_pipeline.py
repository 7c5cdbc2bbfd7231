"""`shoal.ingest`: files into a dataset, incrementally and idempotently, in atomic batches.

For each file it compares the SHA-256 of its bytes and the splitter with what the
dataset's rows say (see `_files`): an unchanged file costs one read and nothing more. A
new or changed file is loaded, split, and its chunks are queued; the queue is written in
batches, each embedded (through the embedding cache) and added in one version. Chunk ids
are content hashes, so a chunk already stored is never embedded or written again: a
rerun after a crash, a kill or a provider outage finishes the job without repeating it.
Once all of a changed file's new chunks are written, its old ones are deleted (so a
search in between may see both, never neither). `sync` deletes the chunks of files that
no longer exist under the folders walked. A commit naming what was ingested ends a run
that changed anything.

Each chunk is embedded with its context in front (the file's title and the headings it
lies under, `shoal.text.with_context`), shortened or left out when the model's window
cannot take it; the stored text is the chunk alone. A dataset that does not exist yet is
created at the first write, so an ingest that writes nothing leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.embeddings import CachedEmbedder, Embedder, EmbeddingCache
from shoal.errors import InvalidInput
from shoal.ingestion._chunks import Chunker
from shoal.ingestion._files import (
    CHUNK,
    CHUNKS,
    HASH,
    SPLITTER,
    Found,
    Stored,
    discover,
    file_status,
    gone,
    stored_sources,
)
from shoal.ingestion._report import IngestProgress, IngestReport, ProgressCallback
from shoal.ingestion._target import Target
from shoal.store import Dataset, row_id
from shoal.text import (
    STREAM_ABOVE,
    RecursiveCharacterSplitter,
    count_skipped,
    file_digest,
    unreadable,
    with_context,
)
from shoal.types import Document

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_CHUNK_OVERLAP", "DEFAULT_CHUNK_SIZE", "ingest"]

_log = logging.getLogger("shoal.ingest")

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 0
DEFAULT_BATCH_SIZE = 256
# Ids deleted per call: keeps each delete predicate a reasonable size.
_DELETE_CHUNK = 2000


def ingest(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    into: Dataset | str | os.PathLike[str],
    glob: str = "**/*",
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    gitignore: bool = True,
    chunk_size: int | None = None,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
    tokens: bool = False,
    splitter: RecursiveCharacterSplitter | None = None,
    embedder: Embedder | str | None = None,
    sync: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: EmbeddingCache | bool = True,
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
    stream_above: int = STREAM_ABOVE,
    message: str | None = None,
    on_progress: ProgressCallback | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> IngestReport:
    """Load, split, embed and store files and folders into a dataset; rerunning does only what changed.

    Chunks are LangChain's `RecursiveCharacterTextSplitter` chunks (`chunk_size` 1000
    characters, no overlap, by default); a chunk longer than the model's window is
    split further rather than cut off. `tokens=True` measures chunks in the model's own
    tokens instead (default size: the whole window). Each chunk's metadata holds the
    loader's (`source`, `type`, `lines`/`bytes`, `page`, `row`, `language`, ...), its
    context (`title`, and `headings`: the path of headings over it), and the ingest's
    (`source_hash`, `chunk`, `chunks`, `splitter`). The embedder sees each chunk after
    its context (``"Title > Install > From source\\n\\n<chunk>"``); the stored text is the
    chunk alone.

    Args:
        paths: files and folders; folders are walked with `glob`, skipping hidden files,
            `.git`, what `.gitignore` files exclude, and binary or unsupported files
            (each listed in `report.skipped` with the reason).
        into: a Dataset, or a URI to open with `embedder` (a new one is created at the
            first write: an ingest that writes nothing creates nothing).
        include: gitignore-style patterns (`*.md`, `docs/**`); only files they match are read.
        exclude: gitignore-style patterns (`*.log`, `build/`) of files and folders to skip.
        gitignore: False to read what `.gitignore` files exclude.
        sync: also delete the chunks of files under these folders that no longer exist.
        batch_size: chunks embedded and written per version.
        cache: reuse vectors of texts embedded before (any dataset, any run); False for none.
        on_progress: called with running counts after each file and batch.
        storage_options: for a URI on S3 (see `shoal.open`).

    Raises:
        InvalidInput: a path that does not exist, or bad settings.
        EmbedderMismatch: `embedder` is not the one that made the dataset's vectors.
        ProviderError: the model or a hosted provider failed (`EmbeddingError`,
            `ProviderUnavailable`, `RateLimited`...); the batches written stay, and a
            rerun resumes (the cache keeps every provider batch that returned).
    """
    started = time.monotonic()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
    found = discover(paths, glob, include=include, exclude=exclude, gitignore=gitignore)
    target = Target(into, embedder, storage_options)
    model = target.model
    chunker = Chunker(
        splitter or _splitter(model, chunk_size, chunk_overlap, tokens),
        text_columns,
        text_field,
        stream_above,
    )
    if cache is False:
        encoder: Embedder = model
    else:
        encoder = CachedEmbedder(model, cache if isinstance(cache, EmbeddingCache) else None)
    run = _Run(target, encoder, chunker, batch_size, found, on_progress, started)
    run.ingest_files(sync=sync)
    run.commit(message)
    return run.report


def _splitter(
    model: Embedder, chunk_size: int | None, chunk_overlap: int, tokens: bool
) -> RecursiveCharacterSplitter:
    counts = hasattr(model, "count_tokens") and hasattr(model, "max_seq_length")
    if tokens:
        if not counts:
            raise InvalidInput(
                f"{model.spec.name} cannot count its tokens, so chunks cannot be measured in "
                "them; leave tokens off to measure chunks in characters"
            )
        return RecursiveCharacterSplitter.for_embedder(
            model,  # type: ignore[arg-type]
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
        )
    splitter = RecursiveCharacterSplitter(chunk_size or DEFAULT_CHUNK_SIZE, chunk_overlap)
    return splitter.fitted_to(model) if counts else splitter  # type: ignore[arg-type]


def _fits(model: Embedder) -> Callable[[str], bool] | None:
    """Whether a text fits the model's window, for models that count their tokens."""
    count, window = getattr(model, "count_tokens", None), getattr(model, "max_seq_length", None)
    if not callable(count) or not isinstance(window, int):
        return None
    return lambda text: bool(count(text) <= window)


@dataclass
class _Pending:
    """Chunks queued for the next batch, and changed files waiting for their old rows' deletion."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)


class _Run:
    """One ingest: the plan, the queue, the counts."""

    def __init__(
        self,
        target: Target,
        encoder: Embedder,
        chunker: Chunker,
        batch_size: int,
        found: Found,
        on_progress: ProgressCallback | None,
        started: float,
    ) -> None:
        self.target = target
        self.encoder = encoder
        self.fits = _fits(target.model)
        self.chunker = chunker
        self.splitter_key = chunker.fingerprint
        self.batch_size = batch_size
        self.found = found
        self.on_progress = on_progress
        self.started = started
        self.report = IngestReport(uri=target.uri, skipped=list(found.skipped))
        self.progress = IngestProgress(files_total=len(found.files))
        self.pending = _Pending()
        self.stored: dict[str, Stored] = {}
        self.stored_ids: set[str] = set()
        if found.skipped:
            _log.warning(
                "skipped %d file(s) (%s): %s",
                len(found.skipped),
                count_skipped(found.skipped),
                "; ".join(str(entry) for entry in found.skipped),
            )

    def ingest_files(self, *, sync: bool) -> None:
        """Plan and ingest every file, write the last batch, then delete what sync removes."""
        dataset = self.target.dataset
        if dataset is not None:
            self.stored, self.stored_ids = stored_sources(dataset)
            if sum(len(entry.ids) for entry in self.stored.values()) > len(
                {row_id for entry in self.stored.values() for row_id in entry.ids}
            ):  # copies of ids, left by two ingests at once on S3: keep the first of each
                self.report.copies_removed = dataset.drop_duplicate_ids()
                self.stored, self.stored_ids = stored_sources(dataset)
        self._tell()
        for file in self.found.files:
            self.progress.current = str(file)
            self._ingest_file(file)
            self.progress.files_done += 1
            self._tell()
        self._flush()
        self._delete_obsolete()
        if sync:
            removed = gone(self.stored, self.found)
            for source in removed:
                self.pending.obsolete.extend(self.stored[source].ids)
            self._delete_obsolete()
            self.report.removed = removed
        self.progress.current = None
        self._tell()

    def _ingest_file(self, file: Path) -> None:
        source = str(file)
        try:
            digest = file_digest(file)
            size = file.stat().st_size
        except OSError as exc:
            self._failed(source, str(unreadable(file, exc)))
            return
        stored = self.stored.get(source)
        status = file_status(stored, digest, self.splitter_key)
        if status == "unchanged":
            self.report.unchanged.append(source)
            return
        errors: list[int] = []

        def count_errors(document: Document) -> None:
            value = document.metadata.get("decode_errors")
            if isinstance(value, int):
                errors.append(value)

        try:
            if self.chunker.streamed(file, size):
                total = self.chunker.count(file)  # a first pass: every chunk carries the total
                chunks: Any = self.chunker.chunks(file, on_document=count_errors)
            else:
                chunks = list(self.chunker.chunks(file, on_document=count_errors))
                total = len(chunks)
            ids = self._queue(chunks, total, digest, source)
        except InvalidInput as exc:
            self._failed(source, str(exc))
            return
        if errors:
            self.report.decode_errors[source] = sum(errors)
        if stored is not None:
            self.pending.obsolete.extend(i for i in stored.ids if i not in ids)
        if total == 0 and status == "new":
            self.report.empty.append(source)
        else:
            getattr(self.report, status).append(source)

    def _queue(self, chunks: Any, total: int, digest: str, source: str) -> set[str]:
        """Queue the chunks not stored yet (writing full batches); return all the file's ids."""
        ids: set[str] = set()
        for index, chunk in enumerate(chunks):
            metadata = {
                **chunk.metadata,
                HASH: digest,
                CHUNK: index,
                CHUNKS: total,
                SPLITTER: self.splitter_key,
            }
            chunk_id = row_id(chunk.text, metadata)
            ids.add(chunk_id)
            if chunk_id in self.stored_ids:
                continue
            self.pending.ids.append(chunk_id)
            self.pending.texts.append(chunk.text)
            self.pending.embedded.append(with_context(chunk.text, metadata, fits=self.fits))
            self.pending.metadatas.append(metadata)
            if len(self.pending.ids) >= self.batch_size:
                self._flush()
        if len(ids) != total:
            raise InvalidInput(
                f"{source} changed while it was being read ({len(ids)} chunks, then {total}); "
                "run the ingest again"
            )
        return ids

    def _flush(self) -> None:
        """Embed and write the queued chunks as one version."""
        pending = self.pending
        if not pending.ids:
            return
        vectors = self.encoder.embed_documents(pending.embedded)
        dataset = self.target.ensure()
        dataset.add(pending.texts, metadatas=pending.metadatas, embeddings=vectors)
        self.stored_ids.update(pending.ids)
        self.report.chunks_added += len(pending.ids)
        self.report.batches += 1
        self.progress.chunks_written += len(pending.ids)
        self.progress.batches_written += 1
        self._count_embeddings(len(pending.ids))
        self.pending = _Pending(obsolete=pending.obsolete)
        # Every chunk queued so far is written, so every file that listed obsolete rows
        # (after queueing all of its chunks) is complete: its old rows can go.
        self._delete_obsolete()
        self._tell()

    def _count_embeddings(self, texts: int) -> None:
        if isinstance(self.encoder, CachedEmbedder):
            self.report.embedded, self.report.cached = self.encoder.embedded, self.encoder.hits
        else:
            self.report.embedded += texts
        self.progress.embedded, self.progress.cached = self.report.embedded, self.report.cached

    def _delete_obsolete(self) -> None:
        obsolete = self.pending.obsolete
        self.pending.obsolete = []
        if not obsolete:
            return
        dataset = self.target.ensure()  # obsolete rows were read from it: it exists
        for start in range(0, len(obsolete), _DELETE_CHUNK):
            part = obsolete[start : start + _DELETE_CHUNK]
            self.report.chunks_removed += dataset.delete(ids=part)
            self.stored_ids.difference_update(part)

    def _failed(self, source: str, reason: str) -> None:
        _log.warning("could not ingest %s: %s", source, reason)
        self.report.failed.append((source, reason))

    def _tell(self) -> None:
        self.progress.elapsed = time.monotonic() - self.started
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def commit(self, message: str | None) -> None:
        """Commit what this run changed, with a message naming it; record the final version."""
        report = self.report
        dataset = self.target.dataset
        if dataset is not None and report.wrote:
            report.version = dataset.commit(message or self._message())
            report.committed = True
        elif dataset is not None:
            report.version = dataset.version
        report.created = self.target.created
        report.seconds = time.monotonic() - self.started
        if report.ingested_nothing:
            _log.warning(
                "nothing was ingested into %s: %s", report.uri, report.nothing_ingested_reason()
            )

    def _message(self) -> str:
        where = [str(p) for p in self.found.folders + self.found.named]
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        return f"ingest {shown}: {self.report.summary()}"
