"""What `Dataset.stats()` measures: rows, history, bytes on disk, the saved index, metadata keys."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.store import _lance
from shoal.store._index import IndexFile
from shoal.store._location import Location

__all__ = ["DatasetStats", "measure"]


@dataclass(frozen=True)
class DatasetStats:
    """A dataset's numbers: rows, versions, bytes on disk, vector index and metadata keys."""

    uri: str
    version: int
    branch: str
    rows: int
    versions: int
    """Versions of this branch still on disk (`cleanup` removes old ones)."""
    tags: int
    branches: int
    """Branches besides main."""
    bytes_on_disk: int | None
    """Every file of the dataset (all versions, indexes); None where it is not a local folder."""
    index_storage: str
    """How the vector index stores vectors: "flat", "compressed", or "auto" (by size)."""
    index_version: int | None
    """The version the saved vector index covers (searches catch up from there); None if no
    index is saved (small datasets are searched exactly)."""
    index_rows: int
    """Vectors in the saved index."""
    metadata_keys: dict[str, int]
    """Each top-level metadata key and how many rows have it, most common first."""


def measure(lance: Any, location: Location, branch: str | None) -> DatasetStats:
    """The stats of the Lance dataset `lance` (one version of `branch`) at `location`.

    Counting the metadata keys reads every row's metadata: a moment on a large dataset.
    """
    header = _index_header(location, branch)
    return DatasetStats(
        uri=location.uri,
        version=int(lance.version),
        branch=branch or "main",
        rows=int(lance.count_rows()),
        versions=len(lance.versions()),
        tags=len(lance.tags.list()),
        branches=len(lance.branches.list()),
        bytes_on_disk=_folder_bytes(Path(location.lance_uri)) if location.kind == "local" else None,
        index_storage=_lance.index_storage(lance),
        index_version=int(header["version"]) if header else None,
        index_rows=int(header.get("count", 0)) if header else 0,
        metadata_keys=_metadata_keys(lance),
    )


def _index_header(location: Location, branch: str | None) -> dict[str, Any] | None:
    sidecar = location.sidecar_dir
    if sidecar is None:
        return None
    return IndexFile(sidecar / "index" / f"{branch or 'main'}.npz").header()


def _folder_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # deleted while walking (a cleanup, a saved index replaced)
                continue
    return total


def _metadata_keys(lance: Any) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for batch in lance.to_batches(columns=["metadata"]):
        for text in _lance.json_texts(batch.column(0)):
            if text:
                value = json.loads(text)
                if isinstance(value, dict):
                    counts.update(value.keys())
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
