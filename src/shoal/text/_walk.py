"""Walking a folder: the files to read, in order, and every file or folder skipped, with why.

`walk` visits entries in name order and never enters a folder it skips, so a skipped
folder is reported once, not file by file. In order, an entry is skipped when it is
`.git` (always, silently), a broken symlink, hidden (its name starts with `.`), ignored
by a `.gitignore` (those of the folders above it in the same git work tree, and its own
folder's and its parents' inside the walk), matched by an `exclude` pattern, a symlink to
a folder (not followed, as git does not), not a regular file (a pipe, a socket, a
device), or not matched by any `include` pattern. Files outside `glob` are left out
without a report: the glob says which files to look at in the first place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shoal.errors import InvalidInput
from shoal.text._formats import Skipped, SkipReason
from shoal.text._ignore import Patterns, decide

__all__ = ["Walk", "list_files", "walk"]

_log = logging.getLogger("shoal.text")
_ALL = "**/*"


@dataclass
class Walk:
    """What a folder walk found: the files to read, in order, and the entries it skipped."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def walk(
    root: str | os.PathLike[str],
    *,
    glob: str = _ALL,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    gitignore: bool = True,
) -> Walk:
    """The files under `root` (matching `glob`, `include`, not `exclude`), and what was skipped.

    `include` and `exclude` take gitignore patterns relative to `root` (`*.md`,
    `docs/**/*.rst`, `build/`); with `include`, only files it matches (or lying in a
    folder it matches) are read. `gitignore=False` reads what `.gitignore` files exclude.

    Raises:
        InvalidInput: `glob` is empty or absolute, or a pattern is a plain string.
    """
    folder = Path(root)
    for name, value in (("include", include), ("exclude", exclude)):
        if isinstance(value, str):
            raise InvalidInput(f"{name} takes a list of patterns, not one str: wrap it in [...]")
    walker = _Walker(
        folder,
        allowed=_glob_matches(folder, glob),
        includes=Patterns.parse(include or [], origin="--include"),
        excludes=Patterns.parse(exclude or [], origin="--exclude"),
        gitignore=gitignore,
    )
    walker.folder(folder, "", _outer_rules(folder) if gitignore else [])
    return walker.result


def list_files(root: Path, glob: str = _ALL) -> list[Path]:
    """The files under `root` matching `glob`, sorted, without hidden ones (a part starting with '.').

    Raises:
        InvalidInput: `glob` is empty or absolute.
    """
    return walk(root, glob=glob, gitignore=False).files


def _glob_matches(root: Path, glob: str) -> set[Path] | None:
    """The paths `glob` matches under `root`, or None when it matches every file."""
    if glob == _ALL:
        return None
    try:
        return set(root.glob(glob))
    except (ValueError, NotImplementedError) as exc:  # empty, or absolute (not relative)
        raise InvalidInput(
            f"invalid glob pattern {glob!r}: {exc}; give one relative to the folder, like '**/*.md'"
        ) from exc


def _outer_rules(root: Path) -> list[Patterns]:
    """The `.gitignore` rules of the folders above `root` up to the top of its git work tree."""
    resolved = root.resolve()
    chain = [resolved, *resolved.parents]
    top = next((i for i, folder in enumerate(chain) if (folder / ".git").exists()), None)
    if top is None or top == 0:
        return []
    rules = []
    for folder in reversed(chain[1 : top + 1]):  # from the top down to root's parent
        patterns = _read_gitignore(folder / ".gitignore", base="")
        if patterns:
            rules.append(patterns.above(resolved.relative_to(folder).as_posix()))
    return rules


def _read_gitignore(file: Path, *, base: str) -> Patterns:
    if not file.is_file():
        return Patterns([])
    try:
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        _log.warning("cannot read %s (%s); its patterns are not applied", file, exc.strerror)
        return Patterns([])
    return Patterns.parse(lines, origin=str(file), base=base, numbered=True)


class _Walker:
    """One walk: the patterns in force and what it found so far."""

    def __init__(
        self,
        root: Path,
        *,
        allowed: set[Path] | None,
        includes: Patterns,
        excludes: Patterns,
        gitignore: bool,
    ) -> None:
        self.root = root
        self.allowed = allowed
        self.includes = includes
        self.excludes = excludes
        self.gitignore = gitignore
        self.result = Walk()

    def folder(self, folder: Path, prefix: str, stack: list[Patterns]) -> None:
        """Visit a folder's entries in name order (`prefix`: its path relative to the root + /)."""
        if self.gitignore:
            own = _read_gitignore(folder / ".gitignore", base=prefix)
            stack = [*stack, own] if own else stack
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            self._skip(folder, "unreadable", exc.strerror or str(exc), folder=True)
            return
        for entry in entries:
            self.entry(entry, prefix, stack)

    def entry(self, entry: os.DirEntry[str], prefix: str, stack: list[Patterns]) -> None:
        """Take a file, enter a folder, or report why neither."""
        name, path, relative = entry.name, Path(entry.path), prefix + entry.name
        if name == ".git":
            return
        try:
            is_link, is_dir = entry.is_symlink(), entry.is_dir()
        except OSError:
            is_link, is_dir = False, False
        if not is_dir and self.allowed is not None and path not in self.allowed:
            return
        if is_link and not os.path.exists(path):
            self._skip(
                path, "broken_symlink", f"it points to {os.readlink(path)}, which is missing"
            )
            return
        if name.startswith("."):
            self._skip(path, "hidden", folder=is_dir)
            return
        rule = decide(stack, relative, is_dir=is_dir) if stack else None
        if rule is not None and not rule.negated:
            self._skip(path, "gitignored", f"{rule.origin}: {rule.pattern}", folder=is_dir)
            return
        rule = self.excludes.match(relative, is_dir=is_dir) if self.excludes else None
        if rule is not None and not rule.negated:
            self._skip(path, "excluded", f"--exclude {rule.pattern}", folder=is_dir)
            return
        if is_dir:
            if is_link:
                detail = "symlinks to folders are not followed; name the folder itself to read it"
                self._skip(path, "symlinked_folder", detail, folder=True)
            else:
                self.folder(path, relative + "/", stack)
            return
        if not entry.is_file():
            self._skip(path, "special_file", "a pipe, socket or device, which could block a read")
            return
        if self.includes and not self._included(relative):
            self._skip(path, "excluded", "not matched by --include")
            return
        self.result.files.append(path)

    def _included(self, relative: str) -> bool:
        rule = self.includes.match(relative, is_dir=False)
        parts = relative.split("/")
        for depth in range(len(parts) - 1, 0, -1):  # else the innermost folder that matches
            if rule is not None:
                break
            rule = self.includes.match("/".join(parts[:depth]), is_dir=True)
        return rule is not None and not rule.negated

    def _skip(
        self, path: Path, reason: SkipReason, detail: str = "", *, folder: bool = False
    ) -> None:
        self.result.skipped.append(Skipped(str(path), reason, detail, folder=folder))
