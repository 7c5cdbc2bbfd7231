"""Version control of a dataset handle: commit, log, checkout, branches, tags, diff, restore."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput, StoreError
from shoal.progress import stage_started
from shoal.store import _lance, _versions
from shoal.store._location import Location
from shoal.store._storage_errors import guarded
from shoal.store._view import View
from shoal.store._writes import RowWriter

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["History"]


class History:
    """The version-control half of `Dataset` (Deep Lake's commits, branches and time travel)."""

    _lance: Any
    _location: Location
    _branch: str | None
    _view: View
    _writer: RowWriter

    def _current(self) -> Any:
        raise NotImplementedError

    def _check_writable(self) -> None:
        raise NotImplementedError

    def _adopt(self, lance: Any) -> None:
        raise NotImplementedError

    def _sibling(self, lance: Any, *, branch: str | None, read_only: bool) -> Self:
        raise NotImplementedError

    def _check_new_tag(self, name: str) -> None:
        """InvalidInput if `name` cannot name a new tag: invalid, or a tag or branch already."""
        _versions.check_ref_name(name, "tag")
        lance = self._current()
        taken = lance.tags.list()
        if name in taken:
            raise InvalidInput(
                f"tag {name!r} already names version {int(taken[name]['version'])}: pick another "
                f"name, or move it with tag({name!r}, version, replace=True)"
            )
        if name in lance.branches.list():
            raise InvalidInput(f"{name!r} already names a branch: pick another tag name")

    def _create_tag(self, name: str, version: int) -> None:
        try:
            self._current().tags.create(name, version)
        except ValueError as exc:  # another process made the same tag a moment ago
            if "already exists" not in str(exc):
                raise
            raise InvalidInput(
                f"tag {name!r} was just created by another writer: pick another name"
            ) from exc

    def _check_can_branch(self) -> None:
        if self._location.kind == "memory":
            raise StoreError(
                f"{self._location.uri} cannot branch: Lance keeps a branch's files apart from its "
                "parent's, which memory:// datasets cannot share; use a folder or S3 for branches"
            )

    @guarded("record a version of", writes=True)
    def commit(self, message: str, *, tag: str | None = None) -> int:
        """Record a named version (Deep Lake's commit), and tag it if `tag`; returns its number.

        The tag name is checked before anything is written: a taken or invalid one raises
        InvalidInput and no version is made.
        """
        self._check_writable()
        if not isinstance(message, str) or not message.strip():
            raise InvalidInput("a commit needs a non-empty message")
        if tag is not None:
            self._check_new_tag(tag)
        with self._view.lock:
            self._lance = self._writer.commit(self._current(), message)
            self._view.sync(self._lance)
            version = int(self._lance.version)
        if tag is not None:
            self._create_tag(tag, version)
        return version

    @guarded("list the versions of")
    def log(self) -> list[_versions.VersionInfo]:
        """The versions still on disk, oldest first: number, time, message, rows and tags."""
        return _versions.history(self._current(), self._branch)

    @guarded("check out a version of")
    def checkout(self, ref: int | str) -> Self:
        """A handle on a version or tag (read-only time travel) or on a branch (writable)."""
        lance = self._current()
        target = _versions.resolve(lance, ref, self._branch)
        if target.branch is not None:
            self._check_can_branch()
        if target.version is None:
            moved = (
                lance.checkout_version((target.branch, None))
                if target.branch
                else _lance.open_existing(self._location)
            )
            return self._sibling(moved, branch=target.branch, read_only=False)
        # Always (branch, version): a bare number is read on the handle's own branch, so a
        # main tag checked out from a branch handle would land on that branch.
        moved = lance.checkout_version((target.branch, target.version))
        return self._sibling(moved, branch=target.branch, read_only=True)

    @guarded("create a branch of", writes=True)
    def branch(self, name: str) -> Self:
        """Create a branch from this version and return a writable handle on it."""
        _versions.check_ref_name(name, "branch")
        self._check_can_branch()
        lance = self._current()
        if name in lance.branches.list():
            raise InvalidInput(
                f"branch {name!r} already exists: check it out with checkout({name!r}), "
                "or pick another name"
            )
        if name in lance.tags.list():
            raise InvalidInput(
                f"{name!r} already names a tag, and a branch of that name could not be checked "
                "out: pick another name"
            )
        created = lance.create_branch(name)
        return self._sibling(created, branch=name, read_only=False)

    @guarded("list the branches of")
    def branches(self) -> list[str]:
        """Names of the branches besides main."""
        return sorted(self._current().branches.list())

    @guarded("tag a version of", writes=True)
    def tag(self, name: str, version: int | None = None, *, replace: bool = False) -> None:
        """Name a version (default: the current one) so it survives cleanup and can be checked out.

        A tag name that is taken raises InvalidInput, unless `replace` moves it to `version`.
        """
        lance = self._current()
        target = int(lance.version) if version is None else version
        if isinstance(target, bool) or not isinstance(target, int):
            raise InvalidInput(f"a tag names a version number, got {version!r}")
        _versions.resolve(lance, target, self._branch)  # RefNotFound if it is not on disk
        if replace and name in lance.tags.list():
            lance.tags.update(name, target)
            return
        self._check_new_tag(name)
        self._create_tag(name, target)

    @guarded("list the tags of")
    def tags(self) -> dict[str, int]:
        """Tag names and the versions they name."""
        return {name: int(tag["version"]) for name, tag in self._current().tags.list().items()}

    @guarded("compare versions of")
    def diff(self, a: int | str, b: int | str | None = None) -> _versions.Diff:
        """Ids added, removed and changed from ref `a` to ref `b` (default: the current version)."""
        old = self.checkout(a)._current()
        new = self.checkout(b)._current() if b is not None else self._current()
        return _versions.diff(old, new)

    @guarded("restore a version of", writes=True)
    def restore(self, version: int | str) -> int:
        """Make a past version the latest again (a new version; history is kept). Returns it."""
        self._check_writable()
        target = _versions.resolve(self._current(), version, self._branch)
        if target.branch != self._branch:
            # Lance would restore it on its own branch, and this handle would follow it there.
            raise InvalidInput(
                f"{version!r} is on branch {target.branch or 'main'}, not on "
                f"{self._branch or 'main'}: restore takes a version of this branch; to carry "
                f"that one on, check it out and branch from it"
            )
        past = self.checkout(version)._current()
        with self._view.lock:
            self._lance = self._writer.restore(past)
            self._view.reset()
            self._adopt(self._lance)  # a version before a reembed brings its embedder back
            return int(self._lance.version)

    @guarded("clean up old versions of", writes=True)
    def cleanup(
        self, *, keep_last: int | None = None, older_than: dt.timedelta | None = None
    ) -> int:
        """Delete old versions' files (tagged versions and the latest stay); returns versions removed.

        On a local dataset it also deletes data files that no version uses, which a write
        that failed (a full disk) or was killed can leave behind, unless a stage
        (`staging`) holds or left staged files: those wait (Lance keeps unlisted files a
        week) so that its commit, or the next stage's adoption, finds them.
        """
        self._check_writable()
        sidecar = self._location.sidecar_dir
        staged = sidecar is not None and any((sidecar / "staged").rglob("*.json"))
        # Under the write lock no writer of this dataset is half-way, so files no version
        # references (left by a write that failed or was killed) can go too; on S3 there
        # is no lock, and Lance keeps those for a week in case a writer is still at work.
        with self._view.lock, self._location.write_lock(self._writer.timeout):
            return _versions.cleanup(
                self._current(),
                keep_last=keep_last,
                older_than=older_than,
                unreferenced=self._location.kind == "local" and not staged,
            )

    @guarded("compact", writes=True)
    def compact(self) -> int:
        """Merge the small data files many small writes leave; returns how many merged away.

        It makes a new version with the same rows; they keep their ids and index positions.
        """
        self._check_writable()
        with self._view.lock, self._location.write_lock(self._writer.timeout):
            stage_started("compact")
            metrics = self._current().optimize.compact_files()
            self._view.sync(self._current())
            return int(metrics.fragments_removed - metrics.fragments_added)
