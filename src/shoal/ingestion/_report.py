"""What an ingest tells its caller: progress while it runs, a report when it is done."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from shoal.text import Skipped, count_skipped

__all__ = ["IngestProgress", "IngestReport", "ProgressCallback"]


@dataclass
class IngestProgress:
    """A running ingest's counts, passed to `on_progress` after each file and each batch."""

    files_total: int
    files_done: int = 0
    bytes_total: int = 0
    """The size of every file to ingest (unchanged ones included: they are read too)."""
    bytes_done: int = 0
    chunks_written: int = 0
    batches_written: int = 0
    embedded: int = 0
    cached: int = 0
    current: str | None = None
    elapsed: float = 0.0

    @property
    def seconds_left(self) -> float | None:
        """The time to finish at the rate so far (by bytes read); None until there is one."""
        if self.bytes_done >= self.bytes_total:
            return 0.0
        if self.bytes_done <= 0 or self.elapsed <= 0:
            return None
        return self.elapsed * (self.bytes_total - self.bytes_done) / self.bytes_done

    @property
    def embeddings_per_second(self) -> float:
        """Texts the model embedded per second of the ingest so far."""
        return self.embedded / self.elapsed if self.elapsed > 0 else 0.0


ProgressCallback = Callable[[IngestProgress], None]
"""Called with the running counts; it must return quickly (it runs between batches)."""


@dataclass
class IngestReport:
    """What an ingest did, file by file, and what it cost.

    Each path appears in one of `new`, `changed` (its old chunks were replaced),
    `resumed` (an interrupted ingest of it was finished), `unchanged` (nothing to do),
    `empty` (no text), `failed` (with why; its old chunks, if any, are kept) or
    `skipped` (not read, with the reason: binary, unsupported, hidden, ignored by
    .gitignore, excluded, a broken symlink...; a skipped folder is listed once).
    `removed` lists sources whose chunks `sync` deleted because the file is gone.
    """

    uri: str
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    decode_errors: dict[str, int] = field(default_factory=dict)
    chunks_added: int = 0
    chunks_removed: int = 0
    copies_removed: int = 0
    """Rows deleted because an earlier row had the same id (two ingests at once on S3)."""
    batches: int = 0
    embedded: int = 0
    cached: int = 0
    version: int = 0
    committed: bool = False
    created: bool = False
    """True if this ingest created the dataset (a new one is made at its first write only)."""
    seconds: float = 0.0

    @property
    def files(self) -> int:
        """Files of a supported type that were looked at."""
        return sum(
            len(group)
            for group in (
                self.new,
                self.changed,
                self.resumed,
                self.unchanged,
                self.empty,
                self.failed,
            )
        )

    @property
    def ingested_nothing(self) -> bool:
        """True if no file's text is in the dataset after this run, and none was removed.

        Unchanged files count as ingested: a rerun that has nothing to do is not this.
        """
        kept = (self.new, self.changed, self.resumed, self.unchanged, self.removed)
        return not any(kept)

    def skipped_summary(self) -> str:
        """The skipped entries counted by reason (``"3 binary, 1 hidden"``), or ``""``."""
        return count_skipped(self.skipped)

    def nothing_ingested_reason(self) -> str:
        """What an ingest that ingested nothing found and skipped, in one sentence."""
        if self.files:
            looked = [
                f"{len(group)} {label}"
                for label, group in (("had no text", self.empty), ("failed", self.failed))
                if group
            ]
            found = f"found {self.files} readable file(s), but {' and '.join(looked)}"
        else:
            found = "found no file of a type Shoal reads"
        if self.skipped:
            found += f"; skipped {len(self.skipped)} ({self.skipped_summary()})"
        return found

    @property
    def wrote(self) -> bool:
        """True if the ingest added or removed any chunk (or a duplicate row)."""
        return bool(self.chunks_added or self.chunks_removed or self.copies_removed)

    def summary(self) -> str:
        """One line: files by status, chunks added and removed."""
        counts = [
            f"{len(group)} {label}"
            for label, group in (
                ("new", self.new),
                ("changed", self.changed),
                ("resumed", self.resumed),
                ("unchanged", self.unchanged),
                ("empty", self.empty),
                ("failed", self.failed),
                ("removed", self.removed),
            )
            if group
        ]
        files = ", ".join(counts) if counts else "nothing to ingest"
        line = f"{self.files} file(s): {files}; +{self.chunks_added} -{self.chunks_removed} chunks"
        if self.copies_removed:
            line += f"; deleted {self.copies_removed} duplicate row(s) of concurrent ingests"
        return line

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready data."""
        return {
            "uri": self.uri,
            "files": self.files,
            "new": self.new,
            "changed": self.changed,
            "resumed": self.resumed,
            "unchanged": self.unchanged,
            "empty": self.empty,
            "failed": [{"path": path, "error": why} for path, why in self.failed],
            "skipped": [entry.to_dict() for entry in self.skipped],
            "skipped_counts": dict(Counter(entry.reason for entry in self.skipped)),
            "removed": self.removed,
            "decode_errors": self.decode_errors,
            "chunks_added": self.chunks_added,
            "chunks_removed": self.chunks_removed,
            "copies_removed": self.copies_removed,
            "batches": self.batches,
            "embedded": self.embedded,
            "cached": self.cached,
            "version": self.version,
            "committed": self.committed,
            "created": self.created,
            "ingested_nothing": self.ingested_nothing,
            "seconds": round(self.seconds, 3),
        }
