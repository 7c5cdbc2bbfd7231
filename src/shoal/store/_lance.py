"""Opening and creating the Lance dataset behind a Shoal dataset, on any of its back-ends."""

from __future__ import annotations

import json
import threading
from typing import Any

import lance
import pyarrow as pa

from shoal.errors import DatasetNotFound, StoreError
from shoal.store._location import Location
from shoal.store._records import base_schema
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
        return lance.dataset(
            location.lance_uri, storage_options=dict(location.storage_options) or None
        )
    except (ValueError, FileNotFoundError) as exc:
        if "not found" in str(exc).lower() or isinstance(exc, FileNotFoundError):
            return None
        raise StoreError(
            f"cannot open the dataset at {location.uri}: {exc}{_hint(location)}"
        ) from exc
    except OSError as exc:
        message = str(exc).lower()
        if "not found" in message or "no such file" in message:
            return None
        raise StoreError(
            f"cannot open the dataset at {location.uri}: {exc}{_hint(location)}"
        ) from exc


def create(location: Location, spec: EmbedderSpec) -> Any:
    """Create an empty dataset that stores `spec`; if another process just made it, open that."""
    schema = base_schema(spec.dimensions).with_metadata({SPEC_KEY: json.dumps(spec.to_dict())})
    try:
        created = lance.write_dataset(
            schema.empty_table(),
            location.lance_uri,
            schema=schema,
            mode="create",
            enable_stable_row_ids=True,
            storage_options=dict(location.storage_options) or None,
            commit_message="create dataset",
        )
    except (OSError, ValueError) as exc:
        existing = open_existing(location)
        if existing is not None:
            return existing
        raise StoreError(
            f"cannot create a dataset at {location.uri}: {exc}{_hint(location)}"
        ) from exc
    if location.kind == "memory":
        with _MEMORY_GUARD:
            _MEMORY.setdefault(location.lance_uri, created)
    return created


def stored_spec(dataset: Any, uri: str) -> EmbedderSpec:
    """The embedder spec a dataset was created with."""
    raw = (dataset.schema.metadata or {}).get(SPEC_KEY.encode())
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


def _hint(location: Location) -> str:
    if location.kind == "s3":
        return (
            "; check the bucket name, its region (AWS_REGION or storage_options aws_region), "
            "the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), and AWS_ENDPOINT_URL "
            "for an S3-compatible server"
        )
    if location.kind == "local":
        return "; check that the folder is readable and writable"
    return ""
