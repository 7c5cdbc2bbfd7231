"""Datasets as wholes: which datasets a folder holds, and deleting one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from shoal.errors import ConfigurationError, DatasetNotFound
from shoal.store import _lance
from shoal.store._location import parse_uri

__all__ = ["datasets", "drop"]

_VERSIONS = "_versions"  # every Lance dataset's folder holds its manifests here


def datasets(folder: str | os.PathLike[str]) -> list[str]:
    """The URIs of the datasets in a local folder, sorted: the folder itself if it is a
    dataset, else each subfolder that is one. ``memory://`` lists this process's
    memory datasets.

    Raises:
        DatasetNotFound: the folder does not exist.
        ConfigurationError: an ``s3://`` URI (list a bucket with your S3 tools: each dataset
            is a prefix holding ``_versions/``).
    """
    text = os.fspath(folder)
    if text.rstrip("/") == "memory:":
        return _lance.memory_datasets()
    location = parse_uri(text)
    if location.kind == "s3":
        raise ConfigurationError(
            f"listing the datasets under {location.uri} is not supported: S3 has no folders "
            f"to look in cheaply; list the prefixes with your S3 tools (aws s3 ls "
            f"{location.uri.rstrip('/')}/): each dataset is a prefix holding {_VERSIONS}/"
        )
    if location.kind == "memory":
        return [location.uri] if location.lance_uri in _lance.memory_datasets() else []
    root = Path(location.lance_uri)
    if not root.is_dir():
        raise DatasetNotFound(f"no folder at {root}: check the path")
    if (root / _VERSIONS).is_dir():
        return [str(root)]
    return sorted(str(child) for child in root.iterdir() if (child / _VERSIONS).is_dir())


def drop(
    uri: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, str] | None = None,
    write_timeout: float = 60.0,
) -> None:
    """Delete the dataset at `uri`: every version, tag, branch and index of it.

    It waits for the dataset's write lock (local folders and memory://), so no write of
    this machine is cut in half; handles still open on it fail from then on.

    Raises:
        DatasetNotFound: there is no dataset at `uri`.
    """
    location = parse_uri(uri, storage_options)
    if _lance.open_existing(location) is None:
        raise DatasetNotFound(f"no dataset at {location.uri}: there is nothing to delete")
    with location.write_lock(write_timeout):
        _lance.delete_dataset(location)
    sidecar = location.sidecar_dir
    if location.kind == "s3" and sidecar is not None:  # a local folder's went with it
        shutil.rmtree(sidecar, ignore_errors=True)
