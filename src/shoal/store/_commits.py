"""How a commit reaches the latest version: retries while another writer's commit conflicts,
and on object stores (no lock files) Lance's key conflicts that keep ids unique.

Object stores (S3) have no lock files. There every write of new rows is a Lance
merge-insert on ``id``, which the dataset declares its (unenforced) primary key: Lance
records the keys each commit inserts, so two writers inserting the same new id at once
conflict, and the later one is planned again from the latest version (where the id is
stored) instead of inserting a copy. S3 itself refuses the second of two manifests
written for one version (a conditional put), so no commit is lost.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, TypeVar

import lance as lance_module
import pyarrow as pa

from shoal.errors import ConfigurationError
from shoal.store._records import PRIMARY_KEY
from shoal.store._storage_errors import classify

__all__ = [
    "S3Writes",
    "again",
    "declare_key",
    "latest_version",
    "merge_rows",
    "retried",
    "s3_writes",
    "staged_rows",
]

_T = TypeVar("_T")


S3Writes = Literal["keys", "cleanup", "unsafe"]
_S3_WRITES: tuple[S3Writes, ...] = ("keys", "cleanup", "unsafe")


def s3_writes() -> S3Writes:
    """How writers without a lock (S3) keep ids unique, from ``SHOAL_S3_WRITES``.

    ``keys`` (the default): Lance's key conflicts (module docstring). ``cleanup``: plain
    appends, then each writer deletes the later copies of the ids it wrote (Shoal before
    Lance detected key conflicts; kept to benchmark against). ``unsafe``: plain appends
    and nothing else, which duplicates ids under concurrent writers (the tests show it).
    A private switch for tests and benchmarks, not a setting for users.
    """
    value = os.environ.get("SHOAL_S3_WRITES", "keys").strip().lower() or "keys"
    for mode in _S3_WRITES:
        if value == mode:
            return mode
    raise ConfigurationError(
        f"SHOAL_S3_WRITES={value!r} is not one of {', '.join(_S3_WRITES)}: unset it "
        "(the default, keys, is the safe one)"
    )


def merge_rows(
    lance: Any,
    rows: pa.Table | pa.RecordBatchReader,
    *,
    insert_only: bool = False,
    timeout: float | None = None,
) -> None:
    """Merge `rows` on ``id``: insert the new ids and (unless `insert_only`) overwrite the
    stored ones. With `timeout`, Lance plans it again on a conflicting commit for so long."""
    builder = lance.merge_insert("id")
    if not insert_only:
        builder = builder.when_matched_update_all()
    builder = builder.when_not_matched_insert_all()
    if timeout is not None:
        builder = builder.conflict_retries(_MERGE_RETRIES).retry_timeout(timedelta(seconds=timeout))
    builder.execute(rows)


_MERGE_RETRIES = 50
"""Plans of one merge-insert while other writers' commits conflict with it (each a rare,
short race: `retry_timeout`, the write timeout, bounds the whole)."""


def declare_key(lance: Any) -> Any:
    """`lance` with ``id`` declared its primary key (datasets made before Shoal declared it
    get a version that does, once), so Lance's merge-inserts detect concurrent inserts."""
    if _has_key(lance.schema):
        return lance

    def declare(latest: Any) -> None:
        if not _has_key(latest.schema):
            latest.update_field_metadata({"id": dict(PRIMARY_KEY)})

    return retried(declare, lance)


def _has_key(schema: pa.Schema) -> bool:
    metadata = schema.field("id").metadata or {}
    return all(metadata.get(k.encode()) == v.encode() for k, v in PRIMARY_KEY.items())


def staged_rows(
    lance: Any, fragments: Sequence[Any], storage_options: Mapping[str, str]
) -> pa.RecordBatchReader:
    """The rows of staged `fragments`, read through a detached version that lists them (not
    the latest, so no reader sees it; their files hold JSON in Lance's own encoding, which
    only a dataset scan turns back into JSON text)."""
    before = {fragment.fragment_id for fragment in lance.get_fragments()}
    detached = lance_module.LanceDataset.commit(
        lance, lance_module.LanceOperation.Append(list(fragments)),
        read_version=lance.version, detached=True,
        storage_options=dict(storage_options) or None,
    )  # fmt: skip
    staged = [f for f in detached.get_fragments() if f.fragment_id not in before]
    reader: pa.RecordBatchReader = detached.scanner(fragments=staged).to_reader()
    return reader


_RETRIES = 8


def again(call: Callable[[], _T], *, when: bool = True) -> _T:
    """`call()`, made again (up to _RETRIES times, jittered backoff) while it fails on a
    concurrent writer's conflicting commit, if `when` (writers without a lock: S3)."""
    for attempt in range(_RETRIES):
        try:
            return call()
        except Exception as exc:
            if not when or classify(exc) != "conflict" or attempt == _RETRIES - 1:
                raise
            time.sleep(random.uniform(0.02, 0.1) * 2**attempt)
    raise AssertionError("not reached: the last attempt returns or raises")


def retried(change: Callable[[Any], object], lance: Any) -> Any:
    """Apply `change` to the latest version, again on a newer one while a concurrent writer's
    commit conflicts with it (Lance refuses two config changes at once); the dataset."""

    def attempt() -> Any:
        latest = latest_version(lance)
        change(latest)
        return latest

    return again(attempt)


def latest_version(lance: Any) -> Any:
    """`lance` moved to its latest version (a handle on a past one stays as it is)."""
    if lance.latest_version != lance.version:
        lance.checkout_latest()
    return lance
