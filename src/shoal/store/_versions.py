"""Version control over Lance's history: log, refs (versions, tags, branches), diff, cleanup."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from shoal.errors import InvalidInput, RefNotFound

__all__ = ["MESSAGE_KEY", "Diff", "Ref", "VersionInfo", "cleanup", "diff", "history", "resolve"]

MESSAGE_KEY = "shoal.message"
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


def history(lance: Any) -> list[VersionInfo]:
    """Every version still on disk, oldest first, with its message, row count and tags."""
    versions = lance.versions()
    tags: dict[int, list[str]] = {}
    for name, tag in lance.tags.list().items():
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
    latest = lance.version
    try:
        transactions = lance.get_transactions(latest - min(versions) + 1) if versions else []
    except Exception:  # transaction files of cleaned-up versions are gone
        transactions = []
    messages: dict[int, str] = {}
    for offset, tx in enumerate(transactions):
        if tx is None:
            continue
        operation = type(tx.operation).__name__
        text = (tx.transaction_properties or {}).get("__lance_commit_message", "")
        if operation == "UpdateConfig":
            updates = getattr(getattr(tx.operation, "config_updates", None), "updates", {}) or {}
            text = updates.get(MESSAGE_KEY, text)
        messages[latest - offset] = text or _OPERATIONS.get(operation, operation.lower())
    return messages


def resolve(lance: Any, ref: int | str, branch: str | None = None) -> Ref:
    """Turn a version number (of `branch`), tag, branch name or "main" into a Ref."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise InvalidInput(f"a ref is a version number, tag or branch name, got {ref!r}")
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    if isinstance(ref, int):
        known = {int(v["version"]) for v in lance.versions()}
        if ref not in known:
            raise RefNotFound(
                f"version {ref} is not in this dataset's history (versions {min(known)}..{max(known)} "
                "remain); see `log()`"
            )
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


def diff(old: Any, new: Any) -> Diff:
    """Compare two versions by id; a row whose content was rewritten counts as changed."""
    columns = ["id", "_row_last_updated_at_version"]
    before = {
        row["id"]: (row["_rowid"], row["_row_last_updated_at_version"])
        for row in old.to_table(columns=columns, with_row_id=True).to_pylist()
    }
    after = {
        row["id"]: (row["_rowid"], row["_row_last_updated_at_version"])
        for row in new.to_table(columns=columns, with_row_id=True).to_pylist()
    }
    return Diff(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=sorted(i for i in after.keys() & before.keys() if after[i] != before[i]),
    )


def cleanup(lance: Any, *, keep_last: int | None, older_than: dt.timedelta | None) -> int:
    """Delete old versions (never tagged ones or the latest); returns how many were removed."""
    if keep_last is None and older_than is None:
        raise InvalidInput("cleanup needs keep_last=, older_than= or both")
    if keep_last is not None and keep_last < 1:
        raise InvalidInput(f"keep_last must be at least 1, got {keep_last}")
    stats = lance.cleanup_old_versions(
        older_than=older_than if older_than is not None else dt.timedelta(0),
        retain_versions=keep_last,
        error_if_tagged_old_versions=False,
    )
    return int(stats.old_versions)
