"""Where a dataset lives: a local folder, process memory or S3, and its write lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shoal.errors import ConfigurationError, WriteConflict
from shoal.settings import cache_dir

__all__ = ["Location", "VersionWatch", "parse_uri"]

Kind = Literal["local", "memory", "s3"]

# Standard AWS variables, mapped to the storage options Lance's object store reads.
_AWS_ENV = {
    "AWS_ENDPOINT_URL": "aws_endpoint",
    "AWS_ENDPOINT_URL_S3": "aws_endpoint",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
}

SETTLED_NS = 100_000_000
"""A folder's mtime this far in the past is settled: any later change gives a later one (file
systems stamp with a clock that ticks every few milliseconds)."""


class VersionWatch:
    """Whether a local dataset may have a new version since the last look: its `_versions`
    folder's mtime (a stat, ~2 µs) instead of Lance's `latest_version` (~50 µs a search).

    Every commit adds a manifest to that folder, so an unchanged mtime means no commit,
    provided the mtime was already settled when it was recorded (two commits within one
    clock tick would otherwise share it).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seen: int | None = None

    def changed(self) -> bool:
        """False only if no version can have been committed since the last call said True."""
        try:
            mtime = os.stat(self.folder).st_mtime_ns
        except OSError:
            return True
        if mtime == self._seen:
            return False
        self._seen = mtime if time.time_ns() - mtime > SETTLED_NS else None
        return True


# memory:// datasets live as long as the process; handles on one name share one lock.
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class Location:
    """A parsed dataset URI: its kind, the URI Lance opens and the storage options."""

    uri: str
    kind: Kind
    lance_uri: str
    storage_options: Mapping[str, str] = field(default_factory=dict)

    @property
    def sidecar_dir(self) -> Path | None:
        """Folder of Shoal's derived files (the vector index): beside local data, else in the cache."""
        if self.kind == "local":
            return Path(self.lance_uri) / "_shoal"
        if self.kind == "s3":
            digest = hashlib.sha256(self.uri.encode()).hexdigest()[:24]
            return cache_dir() / "datasets" / digest
        return None

    def version_watch(self, branch: str | None) -> VersionWatch | None:
        """A watch on the folder where commits appear (local datasets' main branch only)."""
        if self.kind != "local" or branch is not None:
            return None
        return VersionWatch(Path(self.lance_uri) / "_versions")

    @property
    def locks(self) -> bool:
        """Whether writers here take a write lock (local folders and memory://; not S3)."""
        return self.kind in ("local", "memory")

    @contextlib.contextmanager
    def write_lock(self, timeout: float) -> Iterator[None]:
        """Hold the dataset's write lock; after `timeout` seconds of waiting raise WriteConflict."""
        if self.kind == "local":
            with _file_lock(Path(self.lance_uri) / "_shoal" / "write.lock", timeout, self.uri):
                yield
        elif self.kind == "memory":
            with _MEMORY_LOCKS_GUARD:
                lock = _MEMORY_LOCKS.setdefault(self.lance_uri, threading.Lock())
            if not lock.acquire(timeout=timeout):
                raise WriteConflict(_busy(self.uri, timeout))
            try:
                yield
            finally:
                lock.release()
        else:
            # Object stores have no lock files; Lance's own commit retries resolve conflicts.
            yield


def parse_uri(
    uri: str | os.PathLike[str], storage_options: Mapping[str, str] | None = None
) -> Location:
    """Parse a dataset URI: a path, ``memory://name``, ``s3://bucket/prefix`` or
    ``s3+ddb://bucket/prefix?ddbTableName=TABLE`` (S3, commits ordered in DynamoDB)."""
    text = os.fspath(uri)
    if not text.strip():
        raise ConfigurationError(
            "a dataset URI is empty: pass a folder, memory://name or s3://bucket/prefix"
        )
    options = dict(storage_options or {})
    if text.startswith("memory://"):
        name = text.removeprefix("memory://").strip("/")
        if not name:
            raise ConfigurationError("memory:// datasets need a name, e.g. memory://scratch")
        return Location(
            uri=text, kind="memory", lance_uri=f"memory://{name}", storage_options=options
        )
    if text.startswith(("s3://", "s3+ddb://")):
        scheme = text.split("://", 1)[0]
        base, _, query = text.partition("?")
        if not base.removeprefix(f"{scheme}://").strip("/"):
            raise ConfigurationError(f"an S3 URI needs a bucket: {scheme}://bucket/prefix")
        merged = {key: os.environ[env] for env, key in _AWS_ENV.items() if os.environ.get(env)}
        lance_uri = base.rstrip("/")
        if scheme == "s3+ddb":
            table = _ddb_table(query)
            lance_uri += f"?ddbTableName={table}"
            endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get(
                "AWS_ENDPOINT_URL"
            )
            if endpoint:
                merged["dynamodb_endpoint"] = endpoint
        elif query:
            raise ConfigurationError(
                f"{text}: an s3:// URI takes no ?query; for DynamoDB commits use "
                "s3+ddb://bucket/prefix?ddbTableName=TABLE"
            )
        merged.update(options)
        if merged.get("aws_endpoint", "").startswith("http://"):
            merged.setdefault("allow_http", "true")
        return Location(uri=text, kind="s3", lance_uri=lance_uri, storage_options=merged)
    if "://" in text and not text.startswith("file://"):
        scheme = text.split("://", 1)[0]
        raise ConfigurationError(
            f"unsupported dataset URI scheme {scheme!r}: use a folder path, memory://name, "
            "s3://bucket/prefix or s3+ddb://bucket/prefix?ddbTableName=TABLE"
        )
    path = Path(text.removeprefix("file://")).expanduser().resolve()
    return Location(uri=str(path), kind="local", lance_uri=str(path), storage_options=options)


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float, uri: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriteConflict(_busy(uri, timeout)) from None
                # Jittered exponential backoff keeps two waiting writers from moving in step.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _ddb_table(query: str) -> str:
    """The DynamoDB table named by an s3+ddb:// URI's query (``ddbTableName=TABLE``, alone)."""
    pairs = [part.partition("=") for part in query.split("&") if part]
    if len(pairs) != 1 or pairs[0][0] != "ddbTableName" or not pairs[0][2]:
        raise ConfigurationError(
            "an s3+ddb:// URI names its DynamoDB table, and nothing else: "
            "s3+ddb://bucket/prefix?ddbTableName=TABLE"
        )
    return pairs[0][2]


def _busy(uri: str, timeout: float) -> str:
    return (
        f"another writer kept {uri} busy for more than {timeout:g} s; retry later, "
        "or pass a longer write_timeout= to shoal.open()"
    )
