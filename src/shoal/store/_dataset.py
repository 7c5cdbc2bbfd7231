"""The Dataset: rows of text, vectors, metadata and extra columns, and their search."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa

from shoal._checks import check_count
from shoal.embeddings import CachedEmbedder, Embedder, EmbeddingCache, ImageInput, embedder
from shoal.errors import InvalidInput, ReadOnlyDataset
from shoal.store import _lance
from shoal.store._bm25 import KeywordFile
from shoal.store._history import History
from shoal.store._index import IndexFile
from shoal.store._location import Location
from shoal.store._neighbors import NeighborGraph
from shoal.store._reads import read_fields, read_records
from shoal.store._records import Record, validate_vectors
from shoal.store._reembed import (
    ReembedPlan,
    ReembedReport,
    Written,
    cache_counts,
    reembed_attempts,
)
from shoal.store._rerank import Reranker
from shoal.store._retriever import Retriever, SearchType
from shoal.store._search import Hit, SearchMode, SearchOptions, hits_at, is_text_batch, rank
from shoal.store._snapshot import Snapshot
from shoal.store._stage import Stage
from shoal.store._stats import DatasetStats, measure
from shoal.store._storage_errors import guarded, storage_errors
from shoal.store._summary import DatasetInfo, describe_columns
from shoal.store._tables import Tables
from shoal.store._versions import MESSAGE_KEY
from shoal.store._view import View
from shoal.store._writes import Batch, RowWriter, Staged, quote_ids
from shoal.store.filters import Filter, compile_filter
from shoal.types import EmbedderSpec, Metric

__all__ = ["Dataset", "Hit", "build_embedder"]


_F = TypeVar("_F", bound=Callable[..., Any])
_log = logging.getLogger("shoal.store")


def _exclusive(method: _F) -> _F:
    """Run a method holding the handle's lock: threads sharing a handle take turns."""

    @functools.wraps(method)
    def locked(self: Dataset, *args: Any, **kwargs: Any) -> Any:
        with self._view.lock:
            return method(self, *args, **kwargs)

    return cast(_F, locked)


def build_embedder(name: str, **options: Any) -> Embedder:
    """The embedder named `name` (`Dataset.embedder` hides the module-level function)."""
    return embedder(name, **options)


class Dataset(History, NeighborGraph, Tables):
    """A versioned vector dataset; get one from `shoal.open`."""

    def __init__(
        self,
        location: Location,
        lance: Any,
        spec: EmbedderSpec,
        built: Embedder | None,
        *,
        branch: str | None,
        read_only: bool,
        write_timeout: float,
    ) -> None:
        self._location = location
        self._lance = lance
        self._spec = spec
        self._spec_raw = (lance.schema.metadata or {}).get(_lance.SPEC_KEY.encode())
        self._embedder = built
        self._branch = branch
        self._read_only = read_only
        self._timeout = write_timeout
        sidecar = location.sidecar_dir
        index_file = keyword_file = None
        if sidecar is not None and not read_only:
            index_file = IndexFile(sidecar / "index" / f"{branch or 'main'}.npz")
            keyword_file = KeywordFile(sidecar / "keyword" / (branch or "main"))
        self._view = View(
            spec.dimensions,
            spec.metric,
            index_file=index_file,
            keyword_file=keyword_file,
            use_index=not read_only,
            storage=_lance.index_storage(lance),
        )
        self._writer = RowWriter(location, write_timeout)
        self._watch = None if read_only else location.version_watch(branch)

    # ---------------------------------------------------------------- description
    @property
    def uri(self) -> str:
        """Where the dataset lives."""
        return self._location.uri

    @property
    def version(self) -> int:
        """The version this handle reads (the latest, unless checked out read-only)."""
        with storage_errors("read", self._location, lance=lambda: self._lance):
            return int(self._current().version)

    @property
    def branch_name(self) -> str:
        """The branch this handle reads and writes ("main" by default)."""
        return self._branch or "main"

    @property
    def read_only(self) -> bool:
        """True for a checked-out past version."""
        return self._read_only

    @property
    def spec(self) -> EmbedderSpec:
        """The embedder that made this dataset's vectors (followed if another program re-embeds it)."""
        self._follow()
        return self._spec

    @property
    def language(self) -> str:
        """The language keyword search, ``$match`` and hybrid search analyse text in: the one
        given at creation, or detected from the first rows ("auto" until there are some)."""
        with storage_errors("read", self._location, lance=lambda: self._lance):
            return self._view.keyword_language(self._current())

    @property
    def embedder(self) -> Embedder:
        """The dataset's embedder, built from the stored spec on first use."""
        self._follow()
        if self._embedder is None:
            self._embedder = build_embedder(self._spec.name, **self._spec.options)
        return self._embedder

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the stored rows."""
        with storage_errors("read", self._location, lance=lambda: self._lance):
            return self._current().schema

    @guarded("count the rows of")
    def __len__(self) -> int:
        return int(self._current().count_rows())

    def __repr__(self) -> str:
        return f"Dataset({self.uri!r}, branch={self.branch_name!r}, version={self.version})"

    def _repr_html_(self) -> str:
        """The summary (`info()`) as an HTML table, for Jupyter."""
        return self.info()._repr_html_()

    @guarded("describe")
    def info(self) -> DatasetInfo:
        """The summary as data: location, version, embedder and one row per column."""
        lance = self._current()
        rows = int(lance.count_rows())
        return DatasetInfo(
            self.uri,
            int(lance.version),
            self.branch_name,
            rows,
            self._spec,
            describe_columns(lance.schema, rows),
            tuple(_lance.recorded_builds(lance)),
            _lance.index_storage(lance),
            self._view.keyword_language(lance),
        )

    @guarded("measure")
    def stats(self) -> DatasetStats:
        """Rows, versions, bytes on disk, the saved vector index, and each metadata key with
        how many rows have it (this reads every row's metadata: a moment on a large dataset)."""
        return measure(self._current(), self._location, self._branch)

    def summary(self) -> None:
        """Print the column table (tensor, htype, shape, dtype, compression), as Deep Lake does."""
        print(self.info())

    # ----------------------------------------------------------------------- writes
    def add(
        self,
        texts: Sequence[str],
        *,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        embeddings: Any = None,
        columns: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Add rows and return their ids in input order; rows already stored are not added again.

        Without `ids`, a row's id is a hash of its text and metadata; explicit ids replace
        the rows they name. Without `embeddings`, the dataset's embedder embeds the texts.
        The whole call is one version: if anything fails, nothing is written.
        """
        batch = Batch.build(texts, metadatas, ids, embeddings, columns, self.spec.dimensions)
        return self._store(batch, replace=ids is not None)

    def staging(self, message: str) -> Stage:
        """Add rows in many calls as one version: ``with ds.staging("import") as stage:
        stage.add(texts)`` commits them together when the block ends (nothing if it raises).

        Raises:
            ReadOnlyDataset: the handle is a checked-out past version.
            InvalidInput: `message` is empty.
        """
        self._check_writable()
        return Stage(self, message)

    @guarded("add rows to", writes=True)
    @_exclusive
    def _stage(self, batch: Batch, skip: set[str]) -> Staged | None:
        self._check_writable()
        return self._writer.stage(
            self._current(), batch, self._view, skip=skip, embedder=lambda: self.embedder
        )

    @guarded("add rows to", writes=True)
    @_exclusive
    def _commit_staged(self, staged: Sequence[Staged], message: str) -> int:
        self._check_writable()
        self._lance = self._writer.commit_staged(self._current(), staged, self._view, message)
        self._view.sync(self._lance)
        return int(self._lance.version)

    @guarded("re-embed", writes=True)
    def reembed(
        self,
        embedder: str | Embedder,
        *,
        batch_size: int = 256,
        cache: EmbeddingCache | bool = True,
        force: bool = False,
    ) -> ReembedReport:
        """Make every row's vector again with `embedder` (a name or an Embedder) as one new
        version, which stores the new embedder's spec; older versions keep their vectors.

        A row holding an image (binary column ``image``) is embedded from it when the
        embedder embeds images, every other row from its text. The dimensions may change.
        Nothing is done if the vectors were made by `embedder` already (unless `force`).
        Writes other programs commit meanwhile are kept: the job starts again from them,
        re-using the vectors it made (`cache`: the embedding cache; False for none).

        Raises:
            ReadOnlyDataset: the handle is a checked-out past version.
            InvalidInput: a branch handle (re-embed main, then branch), images and a text
                model (or texts and an image-only model), or a bad `batch_size`.
            WriteConflict: other writers kept committing first (3 attempts).
        """
        self._check_writable()
        if self._branch is not None:
            raise InvalidInput(
                f"reembed writes the main branch, not {self._branch!r}: re-embed main "
                "(shoal.open without branch), then branch from it"
            )
        rows_per_batch = check_count(batch_size, "batch_size")
        model = build_embedder(embedder) if isinstance(embedder, str) else embedder
        encoder: Embedder = model
        if cache is not False:
            encoder = CachedEmbedder(model, cache if isinstance(cache, EmbeddingCache) else None)

        def write(lance: Any, plan: ReembedPlan) -> Written:
            before = cache_counts(encoder)
            rows = lance.to_batches(columns=list(plan.columns), batch_size=rows_per_batch)
            written = plan.write(rows, lance, encoder, self._location.storage_options)
            return plan.counted(written, encoder, before)

        return reembed_attempts(self, model, write, force=force)

    def upsert(
        self,
        texts: Sequence[str],
        *,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        embeddings: Any = None,
        columns: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Insert rows, replacing stored rows with the same ids; returns the ids in input order."""
        batch = Batch.build(texts, metadatas, ids, embeddings, columns, self.spec.dimensions)
        return self._store(batch, replace=True)

    @guarded("add rows to", writes=True)
    @_exclusive
    def _store(self, batch: Batch, *, replace: bool) -> list[str]:
        self._check_writable()
        if not batch.ids:
            return []
        if not batch.has_vector.all():
            # Embed outside the lock, and only rows not stored yet: re-adding files is cheap.
            stored = _lance.stored_ids(self._current(), batch.ids) if not replace else set()
            rows = [row for row in batch.unique_rows() if batch.ids[row] not in stored]
            batch.embed(self.embedder, rows)
        self._lance = self._writer.store(
            self._current(), batch, self._view, replace=replace, embedder=lambda: self.embedder
        )
        self._view.sync(self._lance)
        return batch.ids

    @guarded("repair", writes=True)
    @_exclusive
    def drop_duplicate_ids(self) -> int:
        """Delete every row but the first written of each id stored more than once; return
        how many were deleted.

        Writers on a local folder or memory:// take a write lock, and writers on S3 insert
        by merge-insert on the id, the dataset's primary key, which Lance makes conflict
        with another writer's insert of the same id, so ids stay unique. Copies come only
        from older Shoals (which appended, then deleted the copies: a crash in between left
        them) or other tools; `shoal ingest` calls this when it finds copies.
        """
        self._check_writable()
        self._lance, count = self._writer.drop_copies(self._current(), self._view)
        self._view.sync(self._lance)
        return count

    @guarded("update rows of", writes=True)
    @_exclusive
    def update(self, *, where: Filter, set: Mapping[str, Any]) -> int:
        """Change matching rows: ``text``, extra columns, or metadata keys (None removes a key).

        Returns how many rows changed. A new text is embedded again.
        """
        self._check_writable()
        predicate = self._compile(where)
        self._lance, count = self._writer.update(
            self._current(), predicate, set, self._view, lambda: self.embedder
        )
        self._view.sync(self._lance)
        return count

    @guarded("set metadata in", writes=True)
    @_exclusive
    def set_metadata(self, values: Mapping[str, Mapping[str, Any]]) -> int:
        """Set metadata keys row by row, ``{id: {key: value}}`` (None removes a key), in one
        version; returns how many rows changed (ids not stored are skipped)."""
        self._check_writable()
        self._lance, count = self._writer.set_metadata(
            self._current(), values, self._view, branch=self._branch
        )
        self._view.sync(self._lance)
        return count

    @guarded("delete rows from", writes=True)
    @_exclusive
    def delete(self, *, ids: Sequence[str] | None = None, where: Filter | None = None) -> int:
        """Delete rows by id or by filter; returns how many were deleted."""
        self._check_writable()
        if (ids is None) == (where is None):
            raise InvalidInput("delete takes exactly one of ids= or where=")
        predicate = quote_ids(ids) if ids is not None else self._compile(where or {})
        self._lance, count = self._writer.delete(self._current(), predicate, self._view)
        self._view.sync(self._lance)
        return count

    @guarded("index a field of", writes=True)
    @_exclusive
    def index_field(self, name: str) -> None:
        """Declare a metadata field as a typed, scalar-indexed column, for fast filters on it."""
        self._check_writable()
        self._lance = self._writer.declare(self._current(), name, self._view)
        self._view.sync(self._lance)

    @guarded("add a column to", writes=True)
    @_exclusive
    def add_binary_column(self, name: str, *, content_type: str) -> None:
        """Add an empty binary column (images, audio) that later writes, staged ones too, fill."""
        self._check_writable()
        self._lance = self._writer.add_binary_column(self._current(), name, content_type)
        self._view.sync(self._lance)

    # ------------------------------------------------------------------------ reads
    @guarded("read rows of")
    def get(self, ids: Sequence[str]) -> list[Record]:
        """The stored rows with these ids, in input order (ids not stored are skipped)."""
        if isinstance(ids, str):
            raise InvalidInput("get takes a list of ids, not one str: wrap it in [...]")
        return read_records(self._current(), ids)

    @guarded("read rows of")
    def select(
        self,
        fields: Sequence[str],
        *,
        where: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The values of `fields` for every row matching `where` (default: all), in stored order.

        A field is ``id``, ``text``, a column, or a dotted path into the metadata
        (``"source"``, ``"author.name"``, ``"tags.0"``); a row without that path gives
        None. Only those values are read (no vectors, no whole metadata), and no row
        committed before the call is missed. `limit` and `offset` read one page of them
        (rows offset .. offset + limit - 1 of the matching rows).
        """
        if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
            raise InvalidInput('fields must be a list of names, e.g. ["id", "source"]')
        if limit is not None:
            check_count(limit, "limit")
        check_count(offset, "offset", minimum=0)
        predicate = self._compile(where) if where else None
        return read_fields(self._current(), fields, predicate, limit=limit, offset=offset)

    def search(
        self,
        query: str | Any = None,
        *,
        image: ImageInput | None = None,
        k: int = 4,
        where: Filter | None = None,
        metric: Metric | None = None,
        mode: SearchMode = "vector",
        rrf_k: float = 60,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[Hit]:
        """The k best rows for a text (or, in vector mode, a vector), best first, among `where`.

        ``mode="vector"`` ranks by embedding (exact for small datasets and selective
        filters, HNSW above; k hits whenever k rows match); ``"keyword"`` by BM25 over the
        text (only rows sharing a term with the query; no embedder call); ``"hybrid"``
        fuses both rankings by reciprocal rank fusion, each list weighted by `weights`
        (vector, keyword) with constant `rrf_k`. `Hit.score` is the cosine/dot similarity
        (l2: distance), the BM25 score or the fusion score. No mode misses a row
        committed before the call. `image` (a path, bytes, PIL image or array; instead of
        `query`) searches by the image's vector, for datasets whose embedder embeds images.
        """
        options = SearchOptions.build(k=k, mode=mode, rrf_k=rrf_k, weights=weights, metric=metric)
        if image is not None:
            if query is not None:
                raise InvalidInput("search takes a query or image=, not both: pass one of them")
            if options.mode != "vector":
                raise InvalidInput(
                    f"an image query is searched by vector, not in {options.mode} mode; "
                    "use mode='vector'"
                )
            vectors = validate_vectors(
                self.embedder.embed_images([image]), rows=1, dimensions=self._spec.dimensions
            )
            return self._search(vectors, None, options, where, metric)[0]
        if query is None:
            raise InvalidInput("search needs a query (a text or a vector) or image=")
        texts = [query] if isinstance(query, str) else None
        return self._search(self._query_vectors([query], options), texts, options, where, metric)[0]

    def search_batch(
        self,
        queries: Sequence[str] | Any,
        *,
        k: int = 4,
        where: Filter | None = None,
        metric: Metric | None = None,
        mode: SearchMode = "vector",
        rrf_k: float = 60,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[list[Hit]]:
        """`search` for many texts (or a (n, d) array of vectors): one list of hits per query."""
        options = SearchOptions.build(k=k, mode=mode, rrf_k=rrf_k, weights=weights, metric=metric)
        items = queries if isinstance(queries, np.ndarray) else list(queries)
        texts = [str(q) for q in items] if is_text_batch(items) else None
        return self._search(self._query_vectors(items, options), texts, options, where, metric)

    def as_retriever(
        self,
        *,
        k: int = 4,
        mode: SearchMode = "vector",
        search_type: SearchType = "similarity",
        where: Filter | None = None,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        score_threshold: float | None = None,
        rrf_k: float = 60,
        weights: tuple[float, float] = (1.0, 1.0),
        rerank: Reranker | str | None = None,
        rerank_k: int | None = None,
    ) -> Retriever:
        """A Retriever over this dataset: plain search, MMR for diverse hits, or a score threshold;
        `rerank` (a Reranker or a name for `shoal.reranker`) reorders `rerank_k` candidates."""
        return Retriever(
            self,
            k=k,
            mode=mode,
            search_type=search_type,
            where=where,
            fetch_k=fetch_k,
            lambda_mult=lambda_mult,
            score_threshold=score_threshold,
            rrf_k=rrf_k,
            weights=weights,
            rerank=rerank,
            rerank_k=rerank_k,
        )

    @guarded("search")
    @_exclusive
    def _search(
        self,
        vectors: np.ndarray | None,
        texts: Sequence[str] | None,
        options: SearchOptions,
        where: Filter | None,
        metric: Metric | None,
    ) -> list[list[Hit]]:
        lance = self._current()  # follows a re-embedding: the spec below is this version's
        chosen: Metric = metric or self._spec.metric
        self._view.sync(lance)
        if vectors is not None:
            self._view.refresh_index()
        snap = self._view.snapshot  # after refresh_index, which may renumber positions
        assert snap is not None
        positions = predicate = None
        if where:
            predicate = self._compile(where)
            positions = self._view.filter_positions(lance, predicate)
        ranked = rank(
            lance,
            self._view,
            vectors,
            texts,
            options,
            positions=positions,
            key=predicate,
            metric=chosen,
        )
        return hits_at(lance, snap, ranked)

    def _query_vectors(
        self, queries: Sequence[str] | Any, options: SearchOptions
    ) -> np.ndarray | None:
        """The query vectors (embedded outside the lock); None for keyword search."""
        items = list(queries) if not isinstance(queries, np.ndarray) else queries
        if is_text_batch(items):
            if options.mode == "keyword":
                return None
            return self.embedder.embed_queries([str(q) for q in items])
        if options.mode != "vector":
            raise InvalidInput(
                f"{options.mode} search takes text queries, not vectors; use mode='vector'"
            )
        array = items if isinstance(items, np.ndarray) else np.asarray(items)  # cast when checked
        if array.ndim == 1:
            array = array[None, :]
        return validate_vectors(array, rows=len(array), dimensions=self.spec.dimensions)

    def _compile(self, where: Filter) -> str:
        lance = self._current()
        self._view.sync(lance)
        return compile_filter(
            where,
            columns=_lance.field_kinds(lance.schema),
            metadata_keys=self._view.metadata_keys(lance),
            array_rows=functools.partial(_lance.array_rows, lance),
            keyword_rows=functools.partial(self._view.keyword_rows, lance),
        )

    @guarded("save the vector index of", writes=True)
    @_exclusive
    def refresh_index(self, *, storage: str | None = None) -> None:
        """Bring the vector index up to date now and save it (searches also do this lazily).

        `storage` records how every process indexes this dataset from now on, and rebuilds
        the index that way if it differs: "compressed" keeps 8-bit codes (a quarter of the
        bytes; each search rescores its candidates with vectors read from Lance), "flat"
        float32 vectors (the fastest search), "auto" chooses by size (compressed above
        `settings.index_compress_bytes()`, a quarter of this machine's memory).
        """
        if storage is not None:
            self._set_index_storage(storage)
        self._view.sync(self._current())
        self._view.refresh_index(force=True)
        self._view.save()

    @property
    def index_storage(self) -> str | None:
        """How the vector index in use stores vectors ("flat" or "compressed"); None while
        there is none (a small dataset is searched exactly, a large one until it is built)."""
        index = self._view.index
        return index.storage if index is not None else None

    def _set_index_storage(self, storage: str) -> None:
        if storage not in ("flat", "compressed", "auto"):
            raise InvalidInput(
                f"index storage {storage!r} is not one of 'flat', 'compressed', 'auto'"
            )
        self._check_writable()
        if _lance.index_storage(self._current()) != storage:
            message = f"vector index storage: {storage}"
            updates = {_lance.STORAGE_KEY: storage, MESSAGE_KEY: message}
            self._lance = self._writer.configure(self._current(), updates)
        self._view.storage = storage
        self._view.sync(self._lance)
        self._view.restorage()

    @guarded("save the indexes of", writes=True)
    def wait_for_index(self) -> None:
        """Return once the vector and keyword indexes cover every row and are saved.

        New rows are searchable at once (exactly, beside the index) while a background
        thread indexes them; call this before timing searches, or before a process exits,
        so the next one opens with the indexes instead of building them (`shoal add` and
        `shoal ingest` do).
        """
        lance = self._current()
        with self._view.lock:
            self._view.sync(lance)
            self._view.refresh_index()
        self._view.wait_for_index()
        with self._view.lock:
            self._view.refresh_keywords(lance, save=True)

    # ---------------------------------------------------------------------- helpers
    def _current(self) -> Any:
        lance = self._lance
        if self._read_only or (self._watch is not None and not self._watch.changed()):
            return lance
        if lance.latest_version != lance.version:
            lance.checkout_latest()
            self._adopt(lance)
        return lance

    def _follow(self) -> None:
        """Catch up with the latest version, where another program may have re-embedded the
        dataset; if the storage cannot be read now, the last embedder seen stays (the read
        that needs the storage says what is wrong)."""
        try:
            with self._view.lock:  # moving Lance's handle while a search reads it is an error
                self._current()
        except (OSError, ValueError, RuntimeError):
            _log.debug("%s: could not check for a new embedder", self.uri, exc_info=True)

    def _adopt(self, lance: Any, *, given: Embedder | None = None) -> None:
        """Follow a change of embedder in `lance`'s version (a reembed, or a restore of a
        version before one): the new spec, its embedder and a view of its dimensions."""
        raw = (lance.schema.metadata or {}).get(_lance.SPEC_KEY.encode())
        if raw == self._spec_raw:
            return
        spec = _lance.stored_spec(lance, self.uri)
        self._spec_raw = raw
        if spec == self._spec:
            return
        _log.info(
            "%s: its vectors are now made by %s (was %s)", self.uri, spec.name, self._spec.name
        )
        self._spec = spec
        self._embedder = given if given is not None and given.spec == spec else None
        self._view.rebind(spec.dimensions, spec.metric)

    @_exclusive
    def _sync(self) -> Snapshot:
        return self._view.sync(self._current())

    def _sibling(self, lance: Any, *, branch: str | None, read_only: bool) -> Dataset:
        spec = _lance.stored_spec(lance, self.uri)  # a version before a reembed has its own
        return Dataset(
            self._location,
            lance,
            spec,
            self._embedder if spec == self._spec else None,
            branch=branch,
            read_only=read_only,
            write_timeout=self._timeout,
        )

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyDataset(
                f"version {self._lance.version} of {self.uri} is checked out read-only; "
                "write on the latest version (shoal.open again) or on a branch (ds.branch(name))"
            )
