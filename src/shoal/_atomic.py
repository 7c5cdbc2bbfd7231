"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["atomic_write", "writable"]


def atomic_write(target: Path, write: Callable[[str], object], *, mode: int = 0o644) -> None:
    """Call `write(path)` on a temporary file beside `target`, flush it to disk, then rename it
    (with permissions `mode`).

    The temporary file's name carries our pid, so files half-written by a process that
    was killed are recognised and removed by the next writer.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f"{target.name}.{os.getpid()}.", suffix=".tmp"
    )
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it private; caches are shared like any other file
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def joined_checked(
    parts: Sequence[Path], target: Path, sha256: str, mismatch: Callable[[str], Exception]
) -> None:
    """Concatenate `parts` into `target` atomically; if the bytes' SHA-256 is not `sha256`,
    write nothing and raise `mismatch(the digest found)`."""

    def write(tmp: str) -> None:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise mismatch(digest.hexdigest())

    atomic_write(target, write)


def writable(folder: Path) -> bool:
    """Whether `folder` (or the nearest ancestor that exists, where it would be made) can be written to."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _remove_orphans(target: Path) -> None:
    """Delete half-written files for `target` left by processes that were killed mid-write."""
    for partial in target.parent.glob(f"{target.name}.*.tmp"):
        pid = partial.name[len(target.name) + 1 : -len(".tmp")].split(".")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            partial.unlink(missing_ok=True)
