"""Version control over Lance's history: log, refs (versions, tags, branches), diff, cleanup."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from shoal.errors import InvalidInput, RefNotFound
from shoal.store._lance import BUILDS_KEY, LANGUAGE_KEY
from shoal.store._storage_errors import classify
from shoal.store.filters import id_list

__all__ = [
    "MESSAGE_KEY",
    "REF_NAME_MAX",
    "Diff",
    "Ref",
    "VersionInfo",
    "check_ref_name",
    "cleanup",
    "diff",
    "history",
    "resolve",
]

MESSAGE_KEY = "shoal.message"
REF_NAME_MAX = 64
"""The longest tag or branch name: a name is a file name in the dataset (and on S3, a key)."""
_REF_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{REF_NAME_MAX - 1}}}")
_OPERATIONS = {
    "Overwrite": "create",
    "Append": "add",
    "Delete": "delete",
    "Update": "upsert/update",
    "Merge": "add columns",
    "Project": "change columns",
    "CreateIndex": "index",
    "Restore": "restore",
    "UpdateConfig": "commit",
    "DataReplacement": "replace data",
}


@dataclass(frozen=True)
class VersionInfo:
    """One version in a dataset's history."""

    version: int
    timestamp: dt.datetime
    message: str
    rows: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Diff:
    """Ids added, removed and changed between two versions."""

    added: list[str]
    removed: list[str]
    changed: list[str]


@dataclass(frozen=True)
class Ref:
    """A resolved reference: a branch (None is main) and a version (None is its latest)."""

    branch: str | None
    version: int | None


def history(lance: Any, branch: str | None = None) -> list[VersionInfo]:
    """Every version of `branch` (None: main) still on disk, oldest first, with its message,
    row count and tags (only the tags on that branch: another branch numbers its own)."""
    versions = lance.versions()
    tags: dict[int, list[str]] = {}
    for name, tag in lance.tags.list().items():
        if tag.get("branch") == branch:
            tags.setdefault(int(tag["version"]), []).append(name)
    messages = _messages(lance, [int(v["version"]) for v in versions])
    result = []
    for entry in versions:
        version = int(entry["version"])
        timestamp = entry["timestamp"]
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.timezone.utc)
        rows = int(entry.get("metadata", {}).get("total_rows", 0))
        result.append(
            VersionInfo(
                version,
                timestamp,
                messages.get(version, ""),
                rows,
                tuple(sorted(tags.get(version, []))),
            )
        )
    return result


def _messages(lance: Any, versions: list[int]) -> dict[int, str]:
    # Transactions are read back from the latest version, also for a checked-out past one
    # (a bare number stays on the handle's branch).
    if lance.version != lance.latest_version:
        lance = lance.checkout_version(lance.latest_version)
    latest = lance.version
    try:
        transactions = lance.get_transactions(latest - min(versions) + 1) if versions else []
    except Exception:  # transaction files of cleaned-up versions are gone
        transactions = []
    # The walk back stops at the first version cleanup removed: older survivors (tagged
    # ones, fork points) are read one by one.
    found = {latest - offset: tx for offset, tx in enumerate(transactions) if tx is not None}
    for version in versions:
        if version not in found:
            with contextlib.suppress(Exception):
                found[version] = lance.checkout_version(version).get_transactions(1)[0]
    return {version: _message(tx) for version, tx in found.items() if tx is not None}


def _message(tx: Any) -> str:
    operation = type(tx.operation).__name__
    text = (tx.transaction_properties or {}).get("__lance_commit_message", "")
    if operation == "UpdateConfig":
        updates = getattr(getattr(tx.operation, "config_updates", None), "updates", {}) or {}
        text = updates.get(MESSAGE_KEY, text)
        schema = getattr(tx.operation, "schema_metadata_updates", None)
        changed = getattr(schema, "updates", None) or {}
        if BUILDS_KEY in changed:
            text = text or "record a new embedder build"
        if LANGUAGE_KEY in changed:
            text = text or f"keyword language {_language(changed[LANGUAGE_KEY])} (detected)"
    if operation == "Update" and not text:
        text = _inserted(tx.operation)
    return str(text or _OPERATIONS.get(operation, operation.lower()))


def _inserted(update: Any) -> str:
    """ "add N rows" for an Update that only inserted rows (an add by merge-insert, as writers
    on S3 make them: it carries no message), else ""."""
    if getattr(update, "removed_fragment_ids", None) or getattr(update, "updated_fragments", None):
        return ""
    rows = sum(int(f.physical_rows) for f in getattr(update, "new_fragments", None) or [])
    return f"add {rows} rows" if rows else ""


def _language(setting: str) -> str:
    try:
        return str(json.loads(setting)["language"])
    except (ValueError, KeyError, TypeError):
        return "?"


def check_ref_name(name: Any, kind: str) -> str:
    """Return `name` if it can name a tag or branch (`kind`), else raise InvalidInput saying why."""
    rule = (
        f"a {kind} name is 1 to {REF_NAME_MAX} ASCII letters, digits, '.', '-' and '_', "
        "starting with a letter or digit, and not only digits (those are version numbers)"
    )
    if not isinstance(name, str) or not _REF_NAME.fullmatch(name) or name.isdigit():
        shown = (
            repr(name)
            if not isinstance(name, str) or len(name) <= 80
            else (f"{name[:40]!r}... ({len(name)} characters)")
        )
        raise InvalidInput(f"{kind} name {shown} is not allowed: {rule}")
    if name == "main":
        raise InvalidInput(f"{kind} name 'main' is taken by the main branch: pick another name")
    return name


def resolve(lance: Any, ref: int | str, branch: str | None = None) -> Ref:
    """Turn a version number (of `branch`), tag, branch name or "main" into a Ref."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise InvalidInput(f"a ref is a version number, tag or branch name, got {ref!r}")
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    if isinstance(ref, int):
        # Read only that version's manifest: a damaged one elsewhere must not hide this one.
        try:
            lance.checkout_version((branch, ref) if branch else ref)
        except (OSError, ValueError) as exc:
            if classify(exc) != "not_found":
                raise
            raise RefNotFound(
                f"version {ref} is not in this dataset's history{_remaining(lance)}; see the "
                "dataset's log"
            ) from exc
        return Ref(branch, ref)
    if ref == "main":
        return Ref(None, None)
    tags = lance.tags.list()
    if ref in tags:
        return Ref(tags[ref].get("branch"), int(tags[ref]["version"]))
    if ref in lance.branches.list():
        return Ref(ref, None)
    raise RefNotFound(
        f"no version, tag or branch named {ref!r}; tags: {sorted(tags) or 'none'}, "
        f"branches: {sorted(lance.branches.list()) or 'none'}"
    )


def _remaining(lance: Any) -> str:
    try:
        known = [int(v["version"]) for v in lance.versions()]
    except Exception:  # a damaged manifest: the range is only a hint
        return ""
    return f" (versions {min(known)}..{max(known)} remain)" if known else ""


def diff(old: Any, new: Any) -> Diff:
    """Compare two versions by id: a row counts as changed if its text, metadata or vector did."""
    before = _row_versions(old)
    after = _row_versions(new)
    touched = sorted(i for i in after.keys() & before.keys() if after[i] != before[i])
    return Diff(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=_changed_content(old, new, touched) if touched else [],
    )


def _row_versions(lance: Any) -> dict[str, tuple[int, int]]:
    table = lance.to_table(columns=["id", "_row_last_updated_at_version"], with_row_id=True)
    return dict(
        zip(
            table.column("id").to_pylist(),
            zip(
                table.column("_rowid").to_pylist(),
                table.column("_row_last_updated_at_version").to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )


def _content(lance: Any, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """(text, metadata, vector) by id: what a rewrite may or may not have changed."""
    where = id_list(ids)
    table = lance.to_table(columns=["id", "text", "metadata", "embedding"], filter=where)
    return {
        row["id"]: (row["text"], row["metadata"], tuple(row["embedding"]))
        for row in table.to_pylist()
    }


def _changed_content(old: Any, new: Any, ids: list[str]) -> list[str]:
    before, after = _content(old, ids), _content(new, ids)
    return [i for i in ids if before.get(i) != after.get(i)]


def cleanup(
    lance: Any,
    *,
    keep_last: int | None,
    older_than: dt.timedelta | None,
    unreferenced: bool = False,
) -> int:
    """Delete old versions (never tagged ones or the latest); returns how many were removed.

    `unreferenced` also deletes files no version uses, however new: only safe while no
    writer can be half-way through a write (under the write lock).
    """
    if keep_last is None and older_than is None:
        raise InvalidInput("cleanup needs keep_last=, older_than= or both")
    if keep_last is not None and keep_last < 1:
        raise InvalidInput(f"keep_last must be at least 1, got {keep_last}")
    stats = lance.cleanup_old_versions(
        older_than=older_than if older_than is not None else dt.timedelta(0),
        retain_versions=keep_last,
        error_if_tagged_old_versions=False,
        delete_unverified=unreferenced,
    )
    return int(stats.old_versions)
