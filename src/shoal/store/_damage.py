"""Which file of a damaged local dataset is at fault, and which version is still intact.

Called by `_storage_errors` when Lance reports a truncated, corrupt or missing file: it
looks at the dataset's own files (data file sizes against what Lance recorded, fragments
that cannot be read back, manifests that cannot be opened) to name the damaged file and
the newest version that does without it. Best effort: when nothing is found, the caller
raises its general error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lance as lance_module

from shoal.errors import DatasetDamaged
from shoal.store._location import Location

__all__ = ["damaged_latest", "diagnose", "manifest_versions"]

_MANIFESTS = "_versions"
_U64 = 2**64 - 1
# How far back to look for an intact version, and how many manifests to check.
_LOOK_BACK = 100

# The damage found lately, by (dataset, version, failure); see `diagnose`.
_FOUND: dict[tuple[str, int | None, str], str | None] = {}
_FOUND_GUARD = threading.Lock()
_FOUND_MAX = 16

Describe = Callable[[BaseException], str]
"""Puts a failure in a few words (`_storage_errors.reason`)."""


def damaged_latest(location: Location) -> DatasetDamaged | None:
    """The error naming a local dataset's damaged latest manifest, if it is damaged."""
    if location.kind != "local":
        return None
    found = _broken_latest(location)
    if found is None:
        return None
    return DatasetDamaged(f"cannot open the dataset at {location.uri}: {found}")


def manifest_versions(location: Location) -> dict[int, Path]:
    """The manifest file of each version of a local dataset's main branch, by version."""
    folder = Path(location.lance_uri) / _MANIFESTS
    found: dict[int, Path] = {}
    try:
        entries = list(folder.glob("*.manifest"))
    except OSError:
        return found
    for path in entries:
        stem = path.stem
        if not stem.isdigit():
            continue  # not Lance's: ignored, as Lance ignores it
        number = int(stem)
        # Lance's v2 names count down from 2**64 - 1, so the newest sorts first.
        found[_U64 - number if len(stem) == 20 and number > 2**63 else number] = path
    return found


def diagnose(exc: BaseException, location: Location, lance: Any, describe: Describe) -> str | None:
    """What is damaged, and what to do, if a damaged file can be found.

    The last few findings are remembered by dataset, version and failure: a server asked
    again and again would otherwise read a large damaged dataset through every time.
    """
    try:
        current = int(lance.version)
    except Exception:
        current = None
    key = (location.lance_uri, current, describe(exc))
    if key in _FOUND:
        return _FOUND[key]
    text = str(exc).lower()
    checks = [_broken_data, _broken_manifest]
    if "manifest" in text or "protobuf" in text:
        checks.reverse()
    found = None
    for check in [*checks, _unreadable_data]:
        try:
            found = check(location, lance, current, describe)
        except Exception:  # diagnosis is best effort: the error is raised anyway
            found = None
        if found is not None:
            break
    with _FOUND_GUARD:
        _FOUND[key] = found
        while len(_FOUND) > _FOUND_MAX:
            _FOUND.pop(next(iter(_FOUND)))
    return found


def _broken_data(
    location: Location, lance: Any, current: int | None, describe: Describe
) -> str | None:
    """A data file of the current version that is missing or not the size Lance recorded."""
    problems = _file_problems(location, lance)
    if not problems:
        return None
    return _data_message(location, lance, current, problems)


def _unreadable_data(
    location: Location, lance: Any, current: int | None, describe: Describe
) -> str | None:
    """A fragment whose files cannot be read back (same size, damaged contents)."""
    for fragment in lance.get_fragments():
        try:
            fragment.to_table()
        except Exception as exc:
            paths = [f"data/{f.path}" for f in fragment.data_files()]
            problems = {path: f"cannot be read ({describe(exc)})" for path in paths}
            return _data_message(location, lance, current, problems)
    return None


def _file_problems(location: Location, lance: Any) -> dict[str, str]:
    problems: dict[str, str] = {}
    root = Path(location.lance_uri)
    for fragment in lance.get_fragments():
        for data in fragment.data_files():
            relative = f"data/{data.path}"
            try:
                size = (root / relative).stat().st_size
            except FileNotFoundError:
                problems[relative] = "is missing"
                continue
            expected = getattr(data, "file_size_bytes", None)
            if expected and size != expected:
                problems[relative] = (
                    f"is truncated or overwritten ({size} bytes, not the {expected} written)"
                )
    return problems


def _data_message(
    location: Location, lance: Any, current: int | None, problems: dict[str, str]
) -> str:
    files = "; ".join(
        f"data file {path}, used by version {current}, {problem}"
        for path, problem in sorted(problems.items())
    )
    intact = _intact_before(location, lance, current, set(problems))
    if intact is not None:
        advice = (
            f"version {intact} is the latest that does without it: Dataset.restore({intact}) "
            "makes it the latest again (dropping what later versions wrote), or restore the "
            "folder from a backup"
        )
    else:
        advice = "no earlier version does without it: restore the folder from a backup"
    return f"{files}; {advice}"


def _intact_before(
    location: Location, lance: Any, current: int | None, damaged: set[str]
) -> int | None:
    """The newest version older than `current` that uses none of the damaged files."""
    versions = sorted(
        (v for v in manifest_versions(location) if current is None or v < current),
        reverse=True,
    )
    for version in versions[:_LOOK_BACK]:
        try:
            past = lance.checkout_version(version)
            files = {f"data/{d.path}" for frag in past.get_fragments() for d in frag.data_files()}
        except Exception:
            continue
        if not files & damaged and not _file_problems(location, past):
            return version
    return None


def _broken_manifest(
    location: Location, lance: Any, current: int | None, describe: Describe
) -> str | None:
    """A manifest among the newest versions that Lance cannot read."""
    versions = manifest_versions(location)
    for version in sorted(versions, reverse=True)[:_LOOK_BACK]:
        if _opens(location, version):
            continue
        path = versions[version].relative_to(Path(location.lance_uri))
        return (
            f"the manifest of version {version} ({path}) is damaged (truncated or corrupt); "
            "the other versions still work (check them out by number); restore the folder "
            f"from a backup to get version {version} back"
        )
    return None


def _broken_latest(location: Location) -> str | None:
    """The damaged latest manifest of a dataset that cannot open, and an intact version."""
    versions = manifest_versions(location)
    if not versions:
        return None
    latest = max(versions)
    if _opens(location, latest):
        return None
    path = versions[latest].relative_to(Path(location.lance_uri))
    intact = next(
        (v for v in sorted(versions, reverse=True)[1:_LOOK_BACK] if _opens(location, v)), None
    )
    problem = (
        f"the manifest of its latest version, version {latest} ({path}), is damaged "
        "(truncated or corrupt)"
    )
    if intact is None:
        return f"{problem}, and no earlier version opens either: restore the folder from a backup"
    return (
        f"{problem}; version {intact} is intact: move that file out of the {_MANIFESTS} folder "
        f"to make version {intact} the latest again (what later versions wrote is then lost), "
        "or restore the folder from a backup"
    )


def _opens(location: Location, version: int) -> bool:
    """Whether Lance reads version `version`'s manifest (a zeroed one opens with no columns)."""
    try:
        opened = lance_module.dataset(location.lance_uri, version=version)
        return len(opened.schema) > 0
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        return False
