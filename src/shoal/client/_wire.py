"""The JSON the server and the client exchange: results of `Dataset` methods, and errors.

One module for both sides, so a type cannot be written one way and read another. Errors keep
the library's tree: the server sends the `ShoalError` subclass's name and message with one
HTTP status per class, and the client raises that same class with that message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from shoal import errors
from shoal.store import ColumnInfo, DatasetInfo, Diff, Hit, Record, VersionInfo
from shoal.types import EmbedderSpec

__all__ = [
    "ANALYSES",
    "METHODS",
    "STATUS",
    "WRITES_AT_A_REF",
    "WRITING_ANALYSES",
    "error_from",
    "error_payload",
    "from_json",
    "status_of",
    "takes_ref",
    "to_json",
    "warning_from",
    "warnings_payload",
    "writes",
]

ANALYSES: dict[str, str] = {
    "near_duplicates": "groups",
    "outliers": "outliers",
    "recommend": "hits",
    "classify": "classifications",
    "cluster": "clustering",
    "remove_duplicates": "plain",
    "project_dataset": "map",
}
"""The `shoal.analysis` functions a server runs, and the kind of result each returns."""
WRITING_ANALYSES = frozenset({"cluster", "remove_duplicates"})
"""The analyses that write a version (the write scope; a client never retries them)."""

METHODS: dict[str, tuple[str, bool]] = {
    # method: (result kind for the client, whether it writes)
    "search": ("hits", False),
    "search_batch": ("hit_lists", False),
    "get": ("records", False),
    "select": ("plain", False),
    "info": ("info", False),
    "log": ("versions", False),
    "diff": ("diff", False),
    "tags": ("plain", False),
    "branches": ("plain", False),
    "branch": ("plain", True),
    "count": ("plain", False),
    "add": ("plain", True),
    "upsert": ("plain", True),
    "update": ("plain", True),
    "set_metadata": ("plain", True),
    "delete": ("plain", True),
    "commit": ("plain", True),
    "tag": ("plain", True),
    "index_field": ("plain", True),
    "refresh_index": ("plain", True),
    "wait_for_index": ("plain", True),
    "restore": ("plain", True),
}
"""The `Dataset` methods served, and what each returns."""
WRITES_AT_A_REF = frozenset({"branch"})
"""Writing methods that may start at a past version or tag (a branch from it)."""


def writes(method: str) -> bool:
    """Whether a served method writes (a client never retries it)."""
    return method in METHODS and METHODS[method][1]


def takes_ref(method: str) -> bool:
    """Whether a served method may be called at a `ref` (a version, tag or branch)."""
    return not writes(method) or method in WRITES_AT_A_REF


_T = TypeVar("_T")

STATUS: dict[type[errors.ShoalError], int] = {
    errors.InvalidInput: 400,  # and EmptyText, NonFiniteValues, DimensionMismatch, FilterError
    errors.ConfigurationError: 400,
    errors.DatasetNotFound: 404,
    errors.RefNotFound: 404,
    errors.ReadOnlyDataset: 409,
    errors.WriteConflict: 409,
    errors.EmbedderMismatch: 409,
    errors.RateLimited: 503,  # the embedding provider's limit, not the client's
    errors.ProviderError: 502,  # the embedding provider failed (a refused key included)
    errors.StorageFull: 507,
    errors.StorageReadOnly: 503,
    errors.DatasetDamaged: 500,
    errors.StoreError: 500,
    errors.ShoalError: 500,
}
"""The HTTP status of each error class (the nearest listed ancestor decides)."""


def status_of(error: errors.ShoalError) -> int:
    """The HTTP status for a library error."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_payload(error: errors.ShoalError) -> dict[str, Any]:
    """The JSON body of an error response: its class name and message."""
    return {"error": {"type": type(error).__name__, "message": str(error)}}


def _named(entry: Any, base: type[_T]) -> tuple[type[_T], str | None]:
    """The `base` subclass a ``{"type", "message"}`` entry names (`base` if none we know),
    and its message."""
    name = entry.get("type") if isinstance(entry, Mapping) else None
    message = entry.get("message") if isinstance(entry, Mapping) else None
    kind = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(kind, type) and issubclass(kind, base)):
        kind = base
    return kind, message if isinstance(message, str) else None


def error_from(payload: Any, status: int) -> errors.ShoalError:
    """The library error a server's error body names (ShoalError if it names none we know)."""
    body = payload.get("error") if isinstance(payload, Mapping) else None
    kind, message = _named(body, errors.ShoalError)
    text = message if message is not None else f"the server answered HTTP {status}"
    if kind is errors.RateLimited:
        return errors.RateLimited(text)
    return kind(text)


def warnings_payload(given: list[errors.ShoalWarning]) -> list[dict[str, str]]:
    """The warnings a call gave, as the server sends them beside its result."""
    return [{"type": type(w).__name__, "message": str(w)} for w in given]


def warning_from(payload: Any) -> errors.ShoalWarning:
    """The library warning a server's warning entry names (ShoalWarning if none we know)."""
    kind, message = _named(payload, errors.ShoalWarning)
    return kind(message if message is not None else "the server gave a warning")


def to_json(value: Any) -> Any:
    """A method's result as JSON: hits, records, versions, summaries, arrays and plain data."""
    if isinstance(value, Hit):
        return {
            "id": value.id,
            "text": value.text,
            "metadata": value.metadata,
            "score": value.score,
        }
    if isinstance(value, Record):
        return {
            "id": value.id,
            "text": value.text,
            "metadata": value.metadata,
            "embedding": np.asarray(value.embedding, dtype=np.float32).tolist(),
            "extras": {k: _plain(v) for k, v in value.extras.items()},
        }
    if isinstance(value, VersionInfo):
        return {
            "version": value.version,
            "timestamp": value.timestamp.isoformat(),
            "message": value.message,
            "rows": value.rows,
            "tags": list(value.tags),
        }
    if isinstance(value, Diff):
        return {"added": value.added, "removed": value.removed, "changed": value.changed}
    if isinstance(value, DatasetInfo):
        return {
            "uri": value.uri,
            "version": value.version,
            "branch": value.branch,
            "rows": value.rows,
            "embedder": value.embedder.to_dict(),
            "columns": [
                {
                    "tensor": c.tensor,
                    "htype": c.htype,
                    "shape": list(c.shape),
                    "dtype": c.dtype,
                    "compression": c.compression,
                }
                for c in value.columns
            ],
            "embedder_builds": list(value.builds),
            "index_storage": value.index_storage,
            "language": value.language,
        }
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # analysis results
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return _plain(value)


def from_json(kind: str, value: Any) -> Any:
    """A result read back as the library returns it: `kind` names the method's result type."""
    if kind == "hits":
        return [Hit(h["id"], h["text"], h["metadata"], float(h["score"])) for h in value]
    if kind == "hit_lists":
        return [from_json("hits", hits) for hits in value]
    if kind == "records":
        return [
            Record(r["id"], r["text"], r["metadata"], np.asarray(r["embedding"], np.float32), r["extras"])
            for r in value
        ]  # fmt: skip
    if kind == "versions":
        return [
            VersionInfo(v["version"], dt.datetime.fromisoformat(v["timestamp"]), v["message"],
                        v["rows"], tuple(v["tags"]))
            for v in value
        ]  # fmt: skip
    if kind == "groups":
        return [list(group) for group in value]
    if kind == "outliers":
        from shoal.analysis import Outliers

        return Outliers(list(value["ids"]), [float(s) for s in value["scores"]], value["method"],
                        int(value["k"]), int(value["rows"]))  # fmt: skip
    if kind == "classifications":
        from shoal.analysis import Classification

        return [
            Classification(c["label"], dict(c["probabilities"]), from_json("hits", c["neighbors"]))
            for c in value
        ]
    if kind == "clustering":
        from shoal.analysis import Cluster, Clustering

        clusters = [
            Cluster(int(c["label"]), int(c["size"]), list(c["terms"])) for c in value["clusters"]
        ]
        labels = {str(k): int(v) for k, v in value["labels"].items()}
        return Clustering(int(value["version"]), value["field"], value["method"], clusters, labels)
    if kind == "answer":
        from shoal.qa import Answer, Source

        sources = tuple(
            Source(s["number"], s["id"], s["text"], dict(s["metadata"]), float(s["score"]))
            for s in value["sources"]
        )
        return Answer(value["question"], value["text"], sources, value["llm"],
                      bool(value["known"]), bool(value["fallback"]), int(value["left_out"]),
                      str(value.get("context", "")))  # fmt: skip
    if kind == "map":
        from shoal.analysis import Coloring, DatasetMap

        shade = value["coloring"]
        coloring = shade and Coloring(
            shade["field"], shade["kind"], tuple(shade["labels"]),
            np.asarray(shade["codes"], dtype=np.int32),
            np.asarray([np.nan if v is None else v for v in shade["values"]], dtype=np.float64),
        )  # fmt: skip
        return DatasetMap(list(value["ids"]), np.asarray(value["xy"], dtype=np.float32).reshape(-1, 2),
                          list(value["texts"]), coloring, value["method"], int(value["rows"]),
                          value["title"], value.get("thumbnails"))  # fmt: skip
    if kind == "diff":
        return Diff(list(value["added"]), list(value["removed"]), list(value["changed"]))
    if kind == "info":
        columns = tuple(
            ColumnInfo(c["tensor"], c["htype"], tuple(c["shape"]), c["dtype"], c["compression"])
            for c in value["columns"]
        )
        return DatasetInfo(
            value["uri"], value["version"], value["branch"], value["rows"],
            EmbedderSpec.from_dict(value["embedder"]), columns, tuple(value["embedder_builds"]),
            value["index_storage"], value.get("language", "english"),
        )  # fmt: skip
    return value


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, bytes and datetimes as JSON values (NaN as null)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return [_plain(v) for v in value]
        return value.tolist()
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
