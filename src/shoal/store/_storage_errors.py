"""Failures of Lance and the file system, turned into Shoal errors that say what to do.

Every Lance call of the store runs inside `storage_errors`, directly (opening, creating,
the write lock) or through `guarded` on a `Dataset` method (writes, reads, searches,
history, compaction, cleanup). An error escaping from it (an OSError, a ValueError, an
Arrow error or a Rust panic) is classified by its errno, else by its message, and raised
again as the StoreError that says, in our words, what happened and what to do; Lance's
own text, with its Rust source paths, stays in the chained cause::

    no space left on the device, quota exceeded     StorageFull
    read-only file system, permission denied         StorageReadOnly
    a truncated, corrupt or missing file             DatasetDamaged: names the file when it
                                                     can be found, and an intact version
    a commit conflict                                WriteConflict
    anything else                                    StoreError with Lance's reason

A failed write says whether the dataset is still at the version it had before the call.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol, TypeVar, cast

import pyarrow as pa

from shoal.errors import (
    DatasetDamaged,
    ShoalError,
    StorageFull,
    StorageReadOnly,
    StoreError,
    WriteConflict,
)
from shoal.store._damage import damaged_latest, diagnose
from shoal.store._location import Location

__all__ = [
    "Kind",
    "classify",
    "errno_of",
    "guarded",
    "open_failure",
    "reason",
    "storage_error",
    "storage_errors",
]

Kind = Literal["full", "read_only", "not_found", "damaged", "conflict", "other"]

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_ERRNO = re.compile(r"\(os error (\d+)\)|\[Errno (\d+)\]")
_DAMAGE = (
    "corrupt",
    "failed to fill whole buffer",
    "file size is too small",
    "invalid range",
    "unexpected eof",
    "early eof",
    "not appear to be a lance file",
    "invalid magic",
    "failed to decode",
    "protobuf",
    "out of range for slice",
)
_CONFLICT = (
    "commit conflict",
    "conflicting transaction",
    "retryable commit",
    "incompatible transaction",
    "too many concurrent writers",  # a merge-insert that retried for its whole timeout
)
# Rust source locations (".../rust/lance-io/src/local.rs:273:40") and wrapper prefixes.
_RUST_PATH = re.compile(r",?\s*/\S+?\.rs:\d+:\d+")
_PREFIX = re.compile(
    r"LanceError\(\w+\):\s*|External error:\s*|Generic \w+ error:\s*|"
    r"Encountered internal error\. Please file a bug report at \S+\s*"
)

_F = TypeVar("_F", bound=Callable[..., Any])


class _Handle(Protocol):
    _location: Location
    _lance: Any


def errno_of(exc: BaseException) -> int | None:
    """The errno of a failure: the OSError's own, else the one its message quotes."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    found = _ERRNO.search(str(exc))
    return int(found.group(1) or found.group(2)) if found else None


def classify(exc: BaseException) -> Kind:
    """What kind of storage failure `exc` is, from its errno, else from its message."""
    code = errno_of(exc)
    lowered = str(exc).lower()
    if code in _FULL or "no space left" in lowered or "quota exceeded" in lowered:
        return "full"
    if code in _READ_ONLY or "read-only file system" in lowered or "permission denied" in lowered:
        return "read_only"
    if any(word in lowered for word in _CONFLICT):
        return "conflict"
    if any(word in lowered for word in _DAMAGE):
        return "damaged"
    if code == errno.ENOENT or "not found" in lowered or "no such file" in lowered:
        return "not_found"
    return "other"


def reason(exc: BaseException) -> str:
    """The failure in a few words: Lance's message without Rust source paths or wrappers."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc)
    text = _PREFIX.sub("", _RUST_PATH.sub("", text))
    return " ".join(text.split()).strip(" ,;") or type(exc).__name__


def storage_error(
    exc: BaseException,
    *,
    action: str,
    location: Location,
    lance: Any = None,
    before: int | None = None,
    writing: bool = False,
) -> StoreError:
    """The StoreError for a failure of `action` (e.g. "add rows to") on the dataset at `location`.

    `lance` (the handle's Lance dataset) lets a damaged file be found and named; `before`
    (the latest version when a write began) lets the message say whether it changed;
    `writing` tells a folder that cannot be written from one that cannot be read.
    """
    kind = classify(exc)
    where = location.uri
    state = _state(lance, before)
    if kind == "read_only" and not writing and errno_of(exc) != errno.EROFS:
        return StoreError(
            f"cannot {action} {where}: permission denied ({reason(exc)}); check that this "
            "user may read the dataset's folder and files"
        )
    if kind == "full":
        return StorageFull(
            f"cannot {action} {where}: no space left on the disk that holds it{state}; "
            "free some space (or move the dataset to a larger disk) and run it again"
        )
    if kind == "read_only":
        reads = "; reading and searching it still work" if lance is not None else ""
        return StorageReadOnly(
            f"cannot {action} {where}: its folder is read-only (a read-only mount) or not "
            f"writable by this user{state}{reads}; to write, make the folder writable or "
            "copy the dataset to a writable folder"
        )
    if kind == "conflict":
        return WriteConflict(
            f"cannot {action} {where}: another writer changed it at the same moment{state}; "
            "run it again"
        )
    if kind in ("damaged", "not_found") and location.kind == "local" and lance is not None:
        damaged = diagnose(exc, location, lance, reason)
        if damaged is not None:
            return DatasetDamaged(f"cannot {action} {where}: {damaged}")
    if kind == "damaged":
        return DatasetDamaged(
            f"cannot {action} {where}: one of its files is damaged ({reason(exc)}); "
            "check out an earlier version (see the log) or restore the folder from a backup"
        )
    return StoreError(f"cannot {action} {where}: {reason(exc)}{state}{_hint(location)}")


@contextlib.contextmanager
def storage_errors(
    action: str,
    location: Location,
    *,
    lance: Callable[[], Any] | None = None,
    before: int | None = None,
    writing: bool = False,
) -> Iterator[None]:
    """Raise what fails inside as the StoreError `storage_error` makes; ShoalErrors pass as they are."""
    try:
        yield
    except ShoalError:
        raise
    except BaseException as exc:
        storage = isinstance(exc, (OSError, ValueError, RuntimeError, pa.ArrowException))
        if not storage and type(exc).__name__ != "PanicException":  # pyo3's: a Rust panic
            raise
        raise storage_error(
            exc,
            action=action,
            location=location,
            lance=_call(lance),
            before=before,
            writing=writing,
        ) from exc


def guarded(action: str, *, writes: bool = False) -> Callable[[_F], _F]:
    """Run a Dataset method inside `storage_errors`; a write also notes the version it began at."""

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def run(self: _Handle, *args: Any, **kwargs: Any) -> Any:
            before = _latest(self._lance) if writes else None
            with storage_errors(
                action, self._location, lance=lambda: self._lance, before=before, writing=writes
            ):
                return method(self, *args, **kwargs)

        return cast(_F, run)

    return decorate


def open_failure(exc: BaseException, location: Location) -> StoreError:
    """The error for a dataset that exists but cannot be opened (e.g. a damaged manifest)."""
    if classify(exc) in ("damaged", "not_found", "other"):
        damaged = damaged_latest(location)
        if damaged is not None:
            return damaged
    return storage_error(exc, action="open", location=location)


# ---------------------------------------------------------------------- messages
def _latest(lance: Any) -> int | None:
    try:
        return int(lance.latest_version)
    except Exception:
        return None


def _state(lance: Any, before: int | None) -> str:
    """For a failed write: whether the dataset is still at the version it began at."""
    if before is None or lance is None:
        return ""
    latest = _latest(lance)
    if latest is None:
        return ""
    if latest == before:
        return f"; nothing was written (it is still at version {before})"
    return f"; it is now at version {latest}"


def _hint(location: Location) -> str:
    if location.kind == "s3":
        return (
            "; check the bucket name, its region (AWS_REGION or storage_options aws_region), "
            "the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), and AWS_ENDPOINT_URL "
            "for an S3-compatible server"
        )
    return ""


def _call(lance: Callable[[], Any] | None) -> Any:
    return lance() if lance is not None else None
