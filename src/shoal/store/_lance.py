"""Opening and creating the Lance dataset behind a Shoal dataset, on any of its back-ends."""

from __future__ import annotations

import json
import threading
from typing import Any

import lance
import pyarrow as pa

from shoal.errors import DatasetDamaged, DatasetNotFound, StoreError
from shoal.store._location import Location
from shoal.store._records import base_schema
from shoal.store._storage_errors import (
    classify,
    damaged_latest,
    manifest_versions,
    open_failure,
    storage_errors,
)
from shoal.types import EmbedderSpec

__all__ = ["SPEC_KEY", "create", "open_existing", "stored_spec"]

SPEC_KEY = "shoal.embedder"

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


def create(location: Location, spec: EmbedderSpec) -> Any:
    """Create an empty dataset that stores `spec`; if another process just made it, open that."""
    schema = base_schema(spec.dimensions).with_metadata({SPEC_KEY: json.dumps(spec.to_dict())})
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


def field_kinds(schema: pa.Schema) -> dict[str, pa.DataType]:
    """Filterable top-level columns and their Arrow types."""
    return {
        field.name: field.type for field in schema if field.name not in ("embedding", "metadata")
    }
