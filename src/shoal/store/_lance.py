"""Opening and creating the Lance dataset behind a Shoal dataset, on any of its back-ends."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import lance
import pyarrow as pa

from shoal.errors import DatasetNotFound, StoreError
from shoal.store._location import Location
from shoal.store._records import base_schema
from shoal.types import EmbedderSpec

__all__ = [
    "BUILDS_KEY",
    "SPEC_KEY",
    "create",
    "open_existing",
    "record_build",
    "recorded_builds",
    "stored_spec",
]

SPEC_KEY = "shoal.embedder"
BUILDS_KEY = "shoal.embedder_builds"
"""Schema metadata: the embedder builds (precision, runtime, CPU) that wrote vectors, and since when."""

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


def create(location: Location, spec: EmbedderSpec, build: Mapping[str, str]) -> Any:
    """Create an empty dataset that stores `spec` and the creating embedder's `build`.

    If another process just made the dataset, open that one instead.
    """
    metadata = {SPEC_KEY: json.dumps(spec.to_dict())}
    if build:
        metadata[BUILDS_KEY] = json.dumps([{"since_version": 1, **build}])
    schema = base_schema(spec.dimensions).with_metadata(metadata)
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
