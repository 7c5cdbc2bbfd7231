"""Opening and creating the Lance dataset behind a Shoal dataset, on any of its back-ends."""

from __future__ import annotations

import json
import struct
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lance.file import LanceFileWriter
from lance.fragment import DataFile

from shoal.errors import DatasetDamaged, DatasetNotFound, StoreError
from shoal.store._damage import damaged_latest, manifest_versions
from shoal.store._languages import AUTO, LANGUAGES, detect_language
from shoal.store._location import Location
from shoal.store._records import base_schema
from shoal.store._storage_errors import classify, open_failure, storage_errors
from shoal.store.filters import id_list
from shoal.types import EmbedderSpec

__all__ = [
    "BUILDS_KEY",
    "LANGUAGE_KEY",
    "SPEC_KEY",
    "STORAGE_KEY",
    "create",
    "delete_dataset",
    "index_storage",
    "json_texts",
    "keyword_language",
    "memory_datasets",
    "open_existing",
    "portable_bitmap",
    "record_build",
    "record_language",
    "recorded_builds",
    "replace_column",
    "rowids_of",
    "stored_ids",
    "stored_language",
    "stored_spec",
    "take",
    "take_hits",
]

SPEC_KEY = "shoal.embedder"
STORAGE_KEY = "shoal.index_storage"
"""The dataset's config key recording how its vector index stores vectors ("flat" or
"compressed"); absent: chosen by size when an index is built."""
BUILDS_KEY = "shoal.embedder_builds"
"""Schema metadata: the embedder builds (precision, runtime, CPU) that wrote vectors, and since when."""
LANGUAGE_KEY = "shoal.keyword_language"
"""Schema metadata: the language of the keyword analyser, ``{"language": "german"}`` (a
detected one adds ``"detected_at_version"``); absent: English, as before languages existed."""
_DETECTION_ROWS = 200

# memory:// datasets exist only as objects of this process; handles share them by name.
_MEMORY: dict[str, Any] = {}
_MEMORY_GUARD = threading.Lock()


def open_existing(location: Location) -> Any | None:
    """The latest version of the dataset's main branch, or None if there is no dataset."""
    if location.kind == "memory":
        with _MEMORY_GUARD:
            shared = _MEMORY.get(location.lance_uri)
        return None if shared is None else shared.checkout_version(shared.latest_version)
    try:
        opened = lance.dataset(
            location.lance_uri, storage_options=dict(location.storage_options) or None
        )
    except (OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError) or (
            classify(exc) == "not_found" and not manifest_versions(location)
        ):
            return None
        raise open_failure(exc, location) from exc
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":  # a Rust panic inside Lance
            raise
        raise open_failure(exc, location) from exc
    if not opened.schema.names:  # a zeroed manifest opens, with no columns
        damaged = damaged_latest(location)
        if damaged is not None:
            raise damaged
    return opened


def create(
    location: Location, spec: EmbedderSpec, build: Mapping[str, str], *, language: str = "english"
) -> Any:
    """Create an empty dataset that stores `spec`, the creating embedder's `build` and the
    keyword analyser's `language` ("auto": detected at the first write).

    If another process just made the dataset, open that one instead.
    """
    metadata = {
        SPEC_KEY: json.dumps(spec.to_dict()),
        LANGUAGE_KEY: json.dumps({"language": language}),
    }
    if build:
        metadata[BUILDS_KEY] = json.dumps([{"since_version": 1, **build}])
    schema = base_schema(spec.dimensions).with_metadata(metadata)
    try:
        with storage_errors("create a dataset at", location, writing=True):
            created = lance.write_dataset(
                schema.empty_table(),
                location.lance_uri,
                schema=schema,
                mode="create",
                enable_stable_row_ids=True,
                storage_options=dict(location.storage_options) or None,
                commit_message="create dataset",
            )
    except StoreError:
        existing = open_existing(location)  # another process may have made it just now
        if existing is not None:
            return existing
        raise
    if location.kind == "memory":
        with _MEMORY_GUARD:
            _MEMORY.setdefault(location.lance_uri, created)
    return created


def delete_dataset(location: Location) -> None:
    """Delete the dataset at `location`, every version and file of it (Lance checks that the
    place holds a dataset before deleting anything)."""
    if location.kind == "memory":
        with _MEMORY_GUARD:
            _MEMORY.pop(location.lance_uri, None)
        return
    with storage_errors("delete", location, writing=True):
        lance.LanceDataset.drop(location.lance_uri, dict(location.storage_options) or None)


def memory_datasets() -> list[str]:
    """The URIs of this process's memory:// datasets, sorted."""
    with _MEMORY_GUARD:
        return sorted(_MEMORY)


def stored_spec(dataset: Any, uri: str) -> EmbedderSpec:
    """The embedder spec a dataset was created with."""
    raw = (dataset.schema.metadata or {}).get(SPEC_KEY.encode())
    if raw is None and not dataset.schema.names:
        raise DatasetDamaged(
            f"cannot open the dataset at {uri}: its latest version {dataset.version} has no "
            "columns, so its manifest is damaged; check out an earlier version or restore the "
            "folder from a backup"
        )
    if raw is None:
        raise DatasetNotFound(
            f"{uri} is a Lance dataset but not a Shoal one (it has no {SPEC_KEY} metadata); "
            "open it with lance or pick another folder"
        )
    return EmbedderSpec.from_dict(json.loads(raw))


def recorded_builds(dataset: Any) -> list[dict[str, Any]]:
    """The embedder builds that wrote the dataset's vectors, oldest first, each with `since_version`."""
    raw = (dataset.schema.metadata or {}).get(BUILDS_KEY.encode())
    if raw is None:
        return []
    try:
        builds = json.loads(raw)
    except ValueError:  # written by hand or by another tool: describe nothing rather than fail
        return []
    return [b for b in builds if isinstance(b, dict)] if isinstance(builds, list) else []


def record_build(dataset: Any, build: Mapping[str, str]) -> None:
    """Add `build` to the recorded builds if it is new (a version of its own, rarely made).

    Called under the write lock after a write whose vectors `build` made, so
    `since_version` is that write's version.
    """
    if not build:
        return
    builds = recorded_builds(dataset)
    known = [{k: v for k, v in b.items() if k != "since_version"} for b in builds]
    if dict(build) in known:
        return
    builds.append({"since_version": int(dataset.version), **build})
    dataset.update_schema_metadata({BUILDS_KEY: json.dumps(builds)})


def stored_language(dataset: Any) -> str:
    """The keyword analyser's language as stored: a language, "auto" (not detected yet), or
    "english" for a dataset made before languages were stored."""
    raw = (dataset.schema.metadata or {}).get(LANGUAGE_KEY.encode())
    if raw is None:
        return "english"
    try:
        language = str(json.loads(raw)["language"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetDamaged(
            f"the dataset at {dataset.uri} has an unreadable {LANGUAGE_KEY} setting ({raw!r}); "
            "restore it from a backup or check out an earlier version"
        ) from exc
    if language != AUTO and language not in LANGUAGES:
        raise StoreError(
            f"the dataset at {dataset.uri} analyses keywords as {language!r}, which this "
            "version of Shoal does not know: upgrade Shoal to open it"
        )
    return language


def keyword_language(dataset: Any) -> str:
    """The language the keyword analyser of this version reads: the stored one, or for
    "auto" the one its first rows are in ("auto" while it has none)."""
    stored = stored_language(dataset)
    if stored != AUTO:
        return stored
    texts = _first_texts(dataset)
    return detect_language(texts) if texts else AUTO


def record_language(dataset: Any) -> None:
    """Store the language detected from the first rows, if the dataset asked for "auto" and
    has rows (a version of its own, made once, after the first write)."""
    if stored_language(dataset) != AUTO:
        return
    texts = _first_texts(dataset)
    if texts:
        setting = {"language": detect_language(texts), "detected_at_version": int(dataset.version)}
        dataset.update_schema_metadata({LANGUAGE_KEY: json.dumps(setting)})


def _first_texts(dataset: Any) -> list[str]:
    table = dataset.to_table(columns=["text"], limit=_DETECTION_ROWS)
    return [text for text in table.column("text").to_pylist() if text]


def index_storage(dataset: Any) -> str:
    """The recorded vector index storage ("flat", "compressed"), or "auto" if none is."""
    try:
        value = str(dataset.config().get(STORAGE_KEY, "auto"))
    except Exception:  # an older manifest without config: nothing recorded
        return "auto"
    return value if value in ("flat", "compressed") else "auto"


def field_kinds(schema: pa.Schema) -> dict[str, pa.DataType]:
    """Filterable top-level columns and their Arrow types."""
    return {
        field.name: field.type for field in schema if field.name not in ("embedding", "metadata")
    }


_IN_LIST_MAX = 1_000
"""Up to this many ids are looked up with an IN list; more, by reading the id column once."""


def _rows_with_ids(dataset: Any, ids: Sequence[str] | None, *, with_row_id: bool) -> pa.Table:
    """The id column (and rowids) of the rows whose id is among `ids` (None: all rows):
    an IN list up to _IN_LIST_MAX ids, else one read of the id column, filtered here."""
    if ids is not None and len(ids) <= _IN_LIST_MAX:
        if not ids:
            return pa.table({"id": pa.array([], pa.string())})
        return dataset.to_table(columns=["id"], with_row_id=with_row_id, filter=id_list(ids))
    table: pa.Table = dataset.to_table(columns=["id"], with_row_id=with_row_id)
    if ids is None:
        return table
    return table.filter(pc.is_in(table.column("id"), pa.array(list(ids), pa.string())))


def stored_ids(dataset: Any, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that name a stored row (the search snapshot holds no ids)."""
    wanted = list(dict.fromkeys(ids))
    return set(_rows_with_ids(dataset, wanted, with_row_id=False).column("id").to_pylist())


def later_copies(dataset: Any, ids: Sequence[str] | None = None) -> list[int]:
    """Rowids of every row but the first written (lowest rowid) of each id stored more than
    once, among `ids` (None: all). Only writers without a lock or key conflicts (an older
    Shoal on S3, another tool) leave copies."""
    wanted = None if ids is None else list(dict.fromkeys(ids))
    table = _rows_with_ids(dataset, wanted, with_row_id=True)
    if table.num_rows == 0:
        return []
    if table.num_rows == len(pc.unique(table.column("id"))):
        return []
    order = pc.sort_indices(table, sort_keys=[("id", "ascending"), ("_rowid", "ascending")])
    table = table.take(order)
    names = table.column("id").to_pylist()
    rowids = rowids_of(table)
    return [int(rowids[i]) for i in range(1, len(names)) if names[i] == names[i - 1]]


def array_rows(dataset: Any, node: str, strings: frozenset[str]) -> list[str]:
    """Ids of the rows whose JSON value at `node` (SQL) is an array holding one of `strings`
    as an element: one scan of the rows holding an array there, checked here."""
    text = f"json_extract({node}, '$')"
    found: list[str] = []
    for batch in dataset.to_batches(columns={"id": "id", "t": text}, filter=f"{text} LIKE '[%'"):
        ids, arrays = batch.column(0).to_pylist(), batch.column(1).to_pylist()
        for row_id, array in zip(ids, arrays, strict=True):
            items = json.loads(array) if array else []
            if any(isinstance(item, str) and item in strings for item in items):
                found.append(row_id)
    return found


def take(dataset: Any, rowids: np.ndarray, columns: Sequence[str]) -> pa.Table:
    """The rows with these rowids, in their order, at the dataset's pinned version."""
    if len(rowids) == 0:
        return dataset.schema.empty_table().select(list(columns))
    table: pa.Table = dataset._take_rows(np.asarray(rowids).tolist(), columns=list(columns))
    if table.num_rows != len(rowids):
        raise StoreError(
            f"{len(rowids) - table.num_rows} rows searched are missing from version "
            f"{dataset.version} of {dataset.uri}; search again"
        )
    return table


def take_hits(dataset: Any, rowids: np.ndarray) -> pa.Table:
    """What a search returns of these rows (id, text, metadata as JSON text), in order;
    a null row where the rowid is -1 (a dead position of the index's rows file)."""
    live = np.flatnonzero(rowids >= 0)
    taken = take(dataset, rowids[live], ["id", "text", "metadata"])
    metadata = pa.array(json_texts(taken.column("metadata")), pa.string())
    table = pa.table({"id": taken.column("id"), "text": taken.column("text"), "metadata": metadata})
    if len(live) == len(rowids):
        return table
    slots = np.full(len(rowids), -1, dtype=np.int64)
    slots[live] = np.arange(len(live))
    return table.take(pa.array(slots, mask=slots < 0))


def rowids_of(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    """The `_rowid` column of a scan made `with_row_id=True`, as int64."""
    rowids: np.ndarray = table.column("_rowid").to_numpy().astype(np.int64)
    return rowids


def json_texts(column: pa.Array | pa.ChunkedArray) -> list[str]:
    """JSON column values as text (the extension type's storage), '{}' for nulls."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    plain = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in chunks]
    return [
        value if value is not None else "{}"
        for value in pa.chunked_array(plain, pa.string()).to_pylist()
    ]


def replace_column(
    dataset: Any,
    name: str,
    location: Location,
    branch: str | None,
    new_values: Callable[[pa.Table], tuple[list[Any], list[int]] | None],
    *,
    message: Callable[[], str],
) -> Any | None:
    """Rewrite only column `name`, fragment by fragment, in one commit; the new dataset, or None.

    `new_values` sees a fragment's live rows (id, `name`, `_rowaddr`) and returns the column's
    values for those rows and the positions among them that changed, or None to leave the
    fragment alone; `message()` is asked once every fragment was seen. Each changed fragment
    gets one new data file holding the column for all its physical rows (deleted ones
    included) and the column's field is retired in its old file, as Lance's own
    `add_columns` lays files out; the commit is Lance's column-rewriting update, which marks
    only the changed rows as updated. So the vectors, texts and other columns are not
    written again: a metadata change over every row costs the metadata column, not the
    dataset again. None when nothing changed, or where files cannot be written beside the
    data (memory://). The files of a branch's own versions go in its folder, ``tree/<branch>``
    (where Lance writes them), whatever handle reads it.
    """
    if location.kind == "memory":
        return None
    field_id = next(f.id() for f in dataset.lance_schema.fields() if f.name() == name)
    column = dataset.schema.field(name)
    options = dict(location.storage_options) or None
    root = location.lance_uri.rstrip("/") + ("" if branch is None else f"/tree/{branch}")
    fragments, offsets_by_fragment = [], {}
    for fragment in dataset.get_fragments():
        rows = fragment.to_table(columns=["id", name], with_row_address=True)
        found = new_values(rows) if rows.num_rows else None
        if found is None or not found[1]:
            continue
        values, changed = found
        offsets = (rows.column("_rowaddr").to_numpy() & 0xFFFFFFFF).tolist()
        full: list[Any] = [None] * fragment.physical_rows
        for offset, value in zip(offsets, values, strict=True):
            full[offset] = value
        meta = fragment.metadata
        first = meta.files[0]
        file_name = f"{uuid.uuid4().hex}.lance"
        with storage_errors("write a column of", location, writing=True):
            writer = LanceFileWriter(
                f"{root}/data/{file_name}",
                pa.schema([column]),
                version=f"{first.file_major_version}.{first.file_minor_version}",
                storage_options=options,
            )
            writer.write_batch(pa.table({name: pa.array(full, column.type)}))
            writer.close()
        for data_file in meta.files:
            data_file.fields = [-2 if f == field_id else f for f in data_file.fields]
        new_file = DataFile(
            file_name, [field_id], [0], first.file_major_version, first.file_minor_version
        )
        meta.files = [*meta.files, new_file]
        fragments.append(meta)
        offsets_by_fragment[meta.id] = portable_bitmap([offsets[i] for i in changed])
    if not fragments:
        return None
    operation = lance.LanceOperation.Update(
        updated_fragments=fragments,
        fields_modified=[field_id],
        update_mode="rewrite_columns",
        updated_fragment_offsets=offsets_by_fragment,
    )
    with storage_errors("commit a column of", location, writing=True):
        return lance.LanceDataset.commit(
            dataset,
            operation,
            read_version=dataset.version,
            storage_options=options,
            commit_message=message(),
        )


def portable_bitmap(values: Sequence[int]) -> bytes:
    """`values` (below 2**32) as a RoaringBitmap in its portable serialisation (no run containers).

    The layout: cookie 12346 and the container count; each container's high 16 bits and
    cardinality - 1; each container's byte offset; then the containers, up to 4,096 values
    as sorted uint16 low bits, more as a 65,536-bit set.
    """
    groups: dict[int, list[int]] = {}
    for value in sorted(set(values)):
        groups.setdefault(value >> 16, []).append(value & 0xFFFF)
    bodies = []
    for low in groups.values():
        if len(low) > 4096:
            words = np.zeros(1024, dtype="<u8")
            bits = np.asarray(low, dtype=np.uint64)
            np.bitwise_or.at(words, bits >> np.uint64(6), np.uint64(1) << (bits & np.uint64(63)))
            bodies.append(words.tobytes())
        else:
            bodies.append(np.asarray(low, dtype="<u2").tobytes())
    header = struct.pack("<II", 12346, len(groups))
    header += b"".join(struct.pack("<HH", key, len(low) - 1) for key, low in groups.items())
    start = len(header) + 4 * len(groups)
    for body in bodies:
        header += struct.pack("<I", start)
        start += len(body)
    return header + b"".join(bodies)
