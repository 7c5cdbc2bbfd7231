"""Re-embedding a dataset with another embedder: every row's vector made again, one new version.

The rows (ids, texts, metadata, every extra column) are read at the version the job starts
from, their vectors made by the new embedder (a row whose binary ``image`` column holds an
image is embedded from the image when the embedder embeds images, every other row from its
text) and written as new data files with the new embedder's spec in the schema. One
Lance ``Overwrite`` commit makes them the next version, so readers see the old rows or the
new ones, never a mix, and every older version keeps its own vectors and spec (time travel
and `restore` still work; a restore brings the old embedder back with the old vectors).

A write another program commits while the vectors are made is not lost: the commit names
the version it read (`read_version`, no retries), Lance refuses it if another version
came first, and the job runs again from the new version. The embedding cache makes that
run (or the rerun of a job that was killed) embed only rows it has not embedded before.
The dimensions may change (a 384-d model for a 768-d one): the vector index and the
keyword index are rebuilt for the new version, as after a restore.

Both the single-process path (`Dataset.reembed`) and the Ray one
(`shoal.distributed.reembed`) use `ReembedPlan`: what to read, how a table of rows
becomes a table of re-embedded rows, and the commit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lance as lance_module
import numpy as np
import pyarrow as pa
from lance.commit import CommitConflictError
from lance.fragment import write_fragments

from shoal.embeddings import CachedEmbedder, Embedder, embeds_images, fits_window
from shoal.errors import InvalidInput, NonFiniteValues, WriteConflict
from shoal.store import _lance
from shoal.store._interchange import content_types
from shoal.store._location import Location
from shoal.text import with_context
from shoal.types import EmbedderSpec

__all__ = [
    "ATTEMPTS",
    "IMAGE_COLUMN",
    "INGESTED_KEY",
    "Counts",
    "ReembedPlan",
    "ReembedReport",
    "Written",
    "cache_counts",
    "commit_reembed",
    "plan_reembed",
    "reembed_attempts",
    "reembed_way",
]

INGESTED_KEY = "splitter"
"""The metadata key every chunk `shoal ingest` writes (`shoal.ingestion`'s SPLITTER)."""
IMAGE_COLUMN = "image"
"""The binary column whose images an image embedder embeds (the one `shoal ingest` fills)."""
_VECTOR = "embedding"
ATTEMPTS = 3
"""How many times a job starts again when other writes keep committing first."""


@dataclass
class ReembedReport:
    """What a re-embedding did: rows, where their vectors came from, the version it made."""

    uri: str
    previous: EmbedderSpec
    spec: EmbedderSpec
    rows: int = 0
    images: int = 0
    """Rows embedded from their image (the rest from their text)."""
    embedded: int = 0
    """Texts and images sent to the model (the rest came from the embedding cache)."""
    cached: int = 0
    version: int | None = None
    """The version holding the new vectors; None if there was nothing to do."""
    from_version: int = 0
    attempts: int = 1
    seconds: float = 0.0

    @property
    def committed(self) -> bool:
        """True if a new version was written."""
        return self.version is not None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (`shoal reembed --json`)."""
        return {
            "uri": self.uri,
            "previous": self.previous.name,
            "embedder": self.spec.name,
            "dimensions": self.spec.dimensions,
            "rows": self.rows,
            "images": self.images,
            "embedded": self.embedded,
            "cached": self.cached,
            "version": self.version,
            "from_version": self.from_version,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class ReembedPlan:
    """One attempt: the version read, the schema written and how rows get their vectors."""

    uri: str
    read_version: int
    schema: pa.Schema
    spec: EmbedderSpec
    previous: EmbedderSpec
    columns: tuple[str, ...]
    """The columns read (every one but the vectors)."""
    image_column: str | None
    """The binary image column embedded instead of the text where it holds a value."""
    message: str
    rows: int

    def embed(self, table: pa.Table, model: Embedder) -> tuple[pa.Table, Counts]:
        """`table` (the read columns) as rows of the new schema, their vectors made by `model`."""
        count = table.num_rows
        vectors = np.zeros((count, self.spec.dimensions), dtype=np.float32)
        images = np.zeros(count, dtype=bool)
        if self.image_column is not None and self.image_column in table.column_names:
            images = np.asarray(table.column(self.image_column).is_valid(), dtype=bool)
        ids = table.column("id").to_pylist()
        if images.any():
            chosen = np.flatnonzero(images)
            data = table.column(self.image_column).take(pa.array(chosen)).to_pylist()
            vectors[chosen] = _checked(model.embed_images(data), len(chosen), self.spec)
        if not images.all():
            chosen = np.flatnonzero(~images)
            if not model.accepts_texts:
                first = ids[int(chosen[0])]
                raise InvalidInput(
                    f"{self.spec.name} embeds only images and row {first!r} has none (it "
                    f"was embedded from its text): re-embed with a model that embeds texts"
                )
            texts = table.column("text").take(pa.array(chosen)).to_pylist()
            metadatas = table.column("metadata").take(pa.array(chosen)).to_pylist()
            fits = fits_window(model)
            seen = [_as_embedded(t or "", m, fits) for t, m in zip(texts, metadatas, strict=True)]
            vectors[chosen] = _checked(model.embed_documents(seen), len(chosen), self.spec)
        _check_searchable(vectors, ids, self.spec)
        arrays = []
        for target in self.schema:
            if target.name == _VECTOR:
                flat = pa.array(vectors.reshape(-1), pa.float32())
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, self.spec.dimensions))
            else:
                arrays.append(table.column(target.name))
        out = pa.Table.from_arrays(arrays, schema=self.schema)
        return out, Counts(rows=count, images=int(images.sum()))

    def write(
        self,
        batches: Iterable[pa.RecordBatch],
        target: Any,
        model: Embedder,
        storage_options: Mapping[str, str],
    ) -> Written:
        """Embed `batches` (rows of the read columns) and write them as new data files of
        `target` (a Lance dataset or its URI) that no version lists until `commit_reembed`."""
        counts = Counts()
        failed: list[BaseException] = []

        def embedded() -> Iterator[pa.RecordBatch]:
            try:
                for batch in batches:
                    if batch.num_rows == 0:
                        continue
                    table, done = self.embed(pa.Table.from_batches([batch]), model)
                    counts.add(done)
                    yield from table.to_batches()
            except BaseException as exc:  # Lance reports it wrapped: the caller gets it as it was
                failed.append(exc)
                raise

        reader = pa.RecordBatchReader.from_batches(self.schema, embedded())
        try:
            fragments = write_fragments(
                reader,
                target,
                schema=self.schema,
                mode="overwrite",
                enable_stable_row_ids=True,
                storage_options=dict(storage_options) or None,
            )
        except Exception:
            if failed:
                raise failed[0] from None
            raise
        return Written(list(fragments), counts)

    def counted(self, written: Written, model: Embedder, before: tuple[int, int]) -> Written:
        """`written` with the texts `model` embedded and the vectors its cache gave since
        `before` (`cache_counts(model)` when the attempt began)."""
        hits, made = cache_counts(model)
        if isinstance(model, CachedEmbedder):
            written.embedded = made - before[1] + written.counts.images  # images skip it
            written.cached = hits - before[0]
        else:
            written.embedded = written.counts.rows
        return written


@dataclass
class Counts:
    """Rows re-embedded, and how many from their image."""

    rows: int = 0
    images: int = 0

    def add(self, other: Counts) -> None:
        """Count `other`'s rows too."""
        self.rows += other.rows
        self.images += other.images


@dataclass
class Written:
    """The data files of one attempt, what they hold, and where their vectors came from."""

    fragments: list[Any] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    embedded: int = 0
    """Texts and images sent to the model."""
    cached: int = 0
    """Vectors the embedding cache gave."""


def plan_reembed(
    lance: Any, uri: str, model: Embedder, *, force: bool = False
) -> ReembedPlan | None:
    """The plan for re-embedding the rows of `lance`'s current version with `model`; None if
    its vectors were made by `model` already (and not `force`).

    Raises:
        InvalidInput: the dataset holds images and `model` embeds none, or the reverse.
    """
    previous = _lance.stored_spec(lance, uri)
    spec = model.spec
    if spec == previous and not force:
        return None
    schema = lance.schema
    image_column = _image_column(schema)
    rows = int(lance.count_rows())
    if image_column is not None and rows and not embeds_images(model):
        held = lance.count_rows(filter=f"{image_column} IS NOT NULL")
        if held:
            raise InvalidInput(
                f"{uri} holds {held} image row(s) (column {image_column!r}) and {spec.name} "
                "embeds no images: re-embed with an image model (local:clip-vit-b-32, "
                "phash:v1), or delete the image rows first"
            )
    metadata = dict(schema.metadata or {})
    metadata[_lance.SPEC_KEY.encode()] = json.dumps(spec.to_dict()).encode()
    builds = _lance.recorded_builds(lance)
    if model.build:
        builds.append({"since_version": int(lance.version) + 1, **model.build})
    metadata[_lance.BUILDS_KEY.encode()] = json.dumps(builds).encode()
    fields = [
        pa.field(f.name, pa.list_(pa.float32(), spec.dimensions), f.nullable, f.metadata)
        if f.name == _VECTOR
        else f
        for f in schema
    ]
    message = f"reembed {rows} rows with {spec.name} (was {previous.name})"
    return ReembedPlan(
        uri=uri,
        read_version=int(lance.version),
        schema=pa.schema(fields, metadata=metadata),
        spec=spec,
        previous=previous,
        columns=tuple(f.name for f in schema if f.name != _VECTOR),
        image_column=image_column if embeds_images(model) else None,
        message=message,
        rows=rows,
    )


def commit_reembed(
    lance: Any, plan: ReembedPlan, fragments: Sequence[Any], location: Location, timeout: float
) -> Any | None:
    """Make the re-embedded data files the next version, under the write lock where there is
    one; None (nothing committed) if another version was committed since `plan.read_version`:
    the caller plans again from the latest version."""
    with location.write_lock(timeout):
        if lance.latest_version != plan.read_version:
            return None
        try:
            return lance_module.LanceDataset.commit(
                lance,
                lance_module.LanceOperation.Overwrite(plan.schema, list(fragments)),
                read_version=plan.read_version,
                max_retries=0,  # another commit first: refuse, never overwrite its rows
                commit_message=plan.message,
                enable_stable_row_ids=True,
                storage_options=dict(location.storage_options) or None,
            )
        except CommitConflictError:
            return None


def cache_counts(model: Embedder) -> tuple[int, int]:
    """The cache hits and the texts embedded so far by `model`, if it is a CachedEmbedder."""
    if isinstance(model, CachedEmbedder):
        return model.hits, model.embedded
    return 0, 0


def reembed_attempts(
    dataset: Any, model: Embedder, write: Callable[[Any, ReembedPlan], Written], *, force: bool
) -> ReembedReport:
    """Plan, write (`write(source, plan)`: `source` the Lance dataset at the version read)
    and commit, again from the latest version while other writers commit first (`ATTEMPTS`
    times); `dataset` follows the new embedder."""
    started = time.perf_counter()
    report = ReembedReport(dataset.uri, dataset.spec, model.spec)
    location = dataset._location
    for attempt in range(1, ATTEMPTS + 1):
        with dataset._view.lock:  # the handle's Lance object is shared by its threads
            lance = dataset._current()
            plan = plan_reembed(lance, dataset.uri, model, force=force)
            report.from_version, report.attempts = int(lance.version), attempt
            if plan is None:
                report.rows = int(lance.count_rows())
                report.seconds = time.perf_counter() - started
                return report
            source = lance.checkout_version(plan.read_version)  # this job's own object
        written = write(source, plan)
        with dataset._view.lock:
            committed = commit_reembed(lance, plan, written.fragments, location, dataset._timeout)
            if committed is None:
                continue
            dataset._lance = committed
            dataset._adopt(committed, given=model)
        report.rows, report.images = written.counts.rows, written.counts.images
        report.embedded, report.cached = written.embedded, written.cached
        report.version = int(committed.version)
        report.seconds = time.perf_counter() - started
        return report
    raise WriteConflict(
        f"{dataset.uri}: other programs committed {ATTEMPTS} times while its rows were "
        "re-embedded; nothing was written (the vectors made are in the embedding cache): run "
        "it again when the writes pause"
    )


def _as_embedded(text: str, metadata: Any, fits: Callable[[str], bool] | None) -> str:
    """The text a row's vector is made from: an ingested chunk (its metadata names the
    splitter) with its title and headings, as `shoal ingest` embeds it; any other row's text
    as it is."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return text
    if isinstance(metadata, dict) and INGESTED_KEY in metadata:
        return with_context(text, metadata, fits=fits)
    return text


def _image_column(schema: pa.Schema) -> str | None:
    kind = content_types(schema).get(IMAGE_COLUMN)
    return IMAGE_COLUMN if kind is not None and kind.startswith("image/") else None


def _checked(vectors: Any, rows: int, spec: EmbedderSpec) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.shape != (rows, spec.dimensions):
        raise InvalidInput(
            f"{spec.name} returned vectors of shape {array.shape}, expected "
            f"({rows}, {spec.dimensions}): nothing was written"
        )
    return array


def _check_searchable(vectors: np.ndarray, ids: Sequence[str], spec: EmbedderSpec) -> None:
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = ids[int(np.flatnonzero(~finite)[0])]
        raise NonFiniteValues(
            f"{spec.name} returned a vector holding NaN or infinity for row {row!r}; nothing "
            "was written: fix or drop that row"
        )
    if spec.metric == "cosine" and not vectors.any(axis=1).all():
        row = ids[int(np.flatnonzero(~vectors.any(axis=1))[0])]
        raise InvalidInput(
            f"{spec.name} returned a zero vector for row {row!r}, which has no cosine "
            "similarity; nothing was written: drop that row or use another model"
        )


def reembed_way(embedder: Embedder | str) -> str:
    """How a mismatch message tells the user to move a dataset to `embedder` (the CLI
    rewrites a name's call as `shoal reembed URI -m NAME`)."""
    if isinstance(embedder, str):
        return f"re-embed it with reembed({embedder!r})"
    return "re-embed it with reembed(embedder)"
