"""A bounded, persistent cache of vectors, and an embedder that reads and fills it.

Vectors are keyed by (the embedder's fingerprint, document or query, a hash of the text),
so every dataset and run on a machine that uses the same model shares them: re-ingesting
or re-chunking costs no model calls for texts embedded before. SQLite in WAL mode holds
them: several processes may share one cache, each provider batch is stored as soon as it
returns (a run that fails or is killed keeps what it paid for), and past `max_bytes` the
least recently used vectors are evicted. The cache is derived data: if it is damaged or
unwritable Shoal warns, starts a new one or goes on without it, and never fails a write
because of it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoal.embeddings._base import BatchCallback, Embedder
from shoal.embeddings._images import ImageInput
from shoal.errors import ConfigurationError
from shoal.settings import cache_dir, embedding_cache_bytes
from shoal.types import EmbedderSpec, TextKind

__all__ = ["CacheStats", "CachedEmbedder", "EmbeddingCache"]

_log = logging.getLogger("shoal.embeddings")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY,
    vector BLOB NOT NULL,
    used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_used ON vectors (used);
CREATE TABLE IF NOT EXISTS totals (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals VALUES (1, 0);
"""
# SQLite caps the host parameters of one statement; stay well below every build's limit.
_LOOKUP_CHUNK = 500
# Evict down to this share of max_bytes, so a full cache does not evict on every write.
_EVICT_TO = 0.9
# How long a process waits for another one that holds the cache's write lock.
_BUSY_SECONDS = 30.0
# SQLite's result codes for a file that is not a database or is corrupt (not busy/locked).
_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


@dataclass(frozen=True)
class CacheStats:
    """How full a cache is: vectors held, their bytes, and the bound."""

    entries: int
    bytes: int
    max_bytes: int


class EmbeddingCache:
    """Vectors on disk keyed by (embedder fingerprint, kind, text), evicted least recently used.

    Args:
        path: the SQLite file; default ``$SHOAL_CACHE_DIR/embeddings.sqlite3``.
        max_bytes: bound on the vectors' bytes; default $SHOAL_EMBEDDING_CACHE_MB
            megabytes, else 1024 MB.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_bytes: int | None = None):
        self.path = Path(path) if path is not None else cache_dir() / "embeddings.sqlite3"
        limit = embedding_cache_bytes() if max_bytes is None else max_bytes
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ConfigurationError(f"max_bytes must be a positive int, got {limit!r}")
        self.max_bytes = limit
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r}, max_bytes={self.max_bytes})"

    # ------------------------------------------------------------------ public
    def get(
        self, fingerprint: str, kind: TextKind, texts: Sequence[str], dimensions: int
    ) -> dict[int, np.ndarray]:
        """The cached vectors of `texts`, by index into `texts` (misses are absent)."""
        keys = [_key(fingerprint, kind, text) for text in texts]
        found: dict[bytes, bytes] = {}
        with self._lock:
            db = self._connection()
            if db is None:
                return {}
            try:
                for start in range(0, len(keys), _LOOKUP_CHUNK):
                    part = keys[start : start + _LOOKUP_CHUNK]
                    marks = ",".join("?" * len(part))
                    rows = db.execute(
                        f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part
                    )
                    found.update(rows.fetchall())
                if found:
                    with db:
                        stamp = _stamp(db)
                        db.executemany(
                            "UPDATE vectors SET used = ? WHERE key = ?",
                            [(stamp, key) for key in found],
                        )
            except sqlite3.Error as exc:
                self._fail("read", exc)
                return {}
        size = dimensions * 4
        return {
            index: np.frombuffer(found[key], dtype=np.float32).copy()
            for index, key in enumerate(keys)
            if key in found and len(found[key]) == size  # another size: not this model's
        }

    def put(
        self, fingerprint: str, kind: TextKind, texts: Sequence[str], vectors: np.ndarray
    ) -> None:
        """Store vectors for `texts` (one row each), then evict if past the bound."""
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(texts) != len(array) or not len(texts):
            return
        rows = [
            (_key(fingerprint, kind, text), row.tobytes())
            for text, row in zip(texts, array, strict=True)
        ]
        with self._lock:
            db = self._connection()
            if db is None:
                return
            try:
                with db:
                    before = db.total_changes
                    stamp = _stamp(db)
                    db.executemany(
                        "INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                        [(key, blob, stamp) for key, blob in rows],
                    )
                    added = (db.total_changes - before) * array.shape[1] * 4
                    db.execute("UPDATE totals SET bytes = bytes + ?", (added,))
                    self._evict(db)
            except sqlite3.Error as exc:
                self._fail("write", exc)

    def stats(self) -> CacheStats:
        """Vectors held and their bytes."""
        with self._lock:
            db = self._connection()
            if db is None:
                return CacheStats(0, 0, self.max_bytes)
            (entries,) = db.execute("SELECT count(*) FROM vectors").fetchone()
            (size,) = db.execute("SELECT bytes FROM totals").fetchone()
        return CacheStats(int(entries), int(size), self.max_bytes)

    def clear(self) -> None:
        """Remove every cached vector."""
        with self._lock:
            db = self._connection()
            if db is None:
                return
            with db:
                db.execute("DELETE FROM vectors")
                db.execute("UPDATE totals SET bytes = 0")

    def close(self) -> None:
        """Close the database connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ----------------------------------------------------------------- private
    def _evict(self, db: sqlite3.Connection) -> None:
        (size,) = db.execute("SELECT bytes FROM totals").fetchone()
        if size <= self.max_bytes:
            return
        goal = size - int(self.max_bytes * _EVICT_TO)
        freed, victims = 0, []
        for rowid, length in db.execute(
            "SELECT rowid, length(vector) FROM vectors ORDER BY used, rowid"
        ):
            victims.append((rowid,))
            freed += length
            if freed >= goal:
                break
        db.executemany("DELETE FROM vectors WHERE rowid = ?", victims)
        db.execute("UPDATE totals SET bytes = max(0, bytes - ?)", (freed,))

    def _connection(self) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not _is_damaged(exc):
                # Busy past the timeout, or some other trouble: the file may be another
                # process's live cache, so go on without it and never delete it.
                self._fail("open", exc)
                return None
            # Not a database (damaged, or some other file): it is only a cache, so start anew.
            _log.warning(
                "embedding cache %s is unreadable (%s); starting a new one", self.path, exc
            )
            try:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self._db = self._open()
            except (OSError, sqlite3.Error) as again:
                self._fail("open", again)
        except OSError as exc:
            self._fail("open", exc)
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=_BUSY_SECONDS, check_same_thread=False)
        try:
            _retry_busy(lambda: db.execute("PRAGMA journal_mode=WAL"))
            db.execute("PRAGMA synchronous=NORMAL")
            _retry_busy(lambda: db.executescript(_SCHEMA))
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _fail(self, action: str, exc: Exception) -> None:
        _log.warning(
            "embedding cache %s: cannot %s (%s); going on without the cache (check the "
            "disk space and permissions of %s, or set SHOAL_CACHE_DIR)",
            self.path,
            action,
            exc,
            self.path.parent,
        )
        if self._db is not None:
            self._db.close()
        self._db, self._broken = None, True


class CachedEmbedder(Embedder):
    """Wraps an embedder: texts in the cache cost no model call, new vectors go into it.

    Identical texts within one call are embedded once. `hits` and `embedded` count the
    texts served from the cache and sent to the model since construction.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache | None = None) -> None:
        self.inner = inner
        self.cache = cache if cache is not None else EmbeddingCache()
        self.batch_size = inner.batch_size
        self.hits = 0
        self.embedded = 0

    @property
    def spec(self) -> EmbedderSpec:
        """The wrapped embedder's spec: the cache changes no vector."""
        return self.inner.spec

    @property
    def fingerprint(self) -> str:
        """The wrapped embedder's fingerprint."""
        return self.inner.fingerprint

    @property
    def accepts_images(self) -> bool:
        """Whether the wrapped embedder embeds images (their vectors are not cached)."""
        return self.inner.accepts_images

    @property
    def accepts_texts(self) -> bool:
        """Whether the wrapped embedder embeds texts."""
        return self.inner.accepts_texts

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """The wrapped embedder's image vectors, uncached: image bytes are large cache keys."""
        return self.inner.embed_images(images)

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, {self.cache!r})"

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Embed one batch through the cache."""
        return self._embed(texts, kind=kind)

    def _embed(
        self, texts: list[str], *, kind: TextKind, on_batch: BatchCallback | None = None
    ) -> np.ndarray:
        dims = self.spec.dimensions
        out = np.empty((len(texts), dims), dtype=np.float32)
        if not texts:
            return out
        first: dict[str, int] = {}
        for text in texts:
            first.setdefault(text, len(first))
        unique = list(first)
        vectors = np.empty((len(unique), dims), dtype=np.float32)
        cached = self.cache.get(self.fingerprint, kind, unique, dims)
        for index, vector in cached.items():
            vectors[index] = vector
        missing = [i for i in range(len(unique)) if i not in cached]
        self.hits += len(texts) - len(missing)

        def store(batch: list[str], batch_vectors: np.ndarray) -> None:
            self.cache.put(self.fingerprint, kind, batch, batch_vectors)
            self.embedded += len(batch)
            if on_batch is not None:
                on_batch(batch, batch_vectors)

        if missing:
            fresh = self.inner._embed([unique[i] for i in missing], kind=kind, on_batch=store)
            vectors[missing] = fresh
        out[:] = vectors[[first[text] for text in texts]]
        return out


def _is_damaged(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF in _DAMAGED
    text = str(exc)
    return "not a database" in text or "malformed" in text


def _retry_busy(step: Callable[[], object]) -> None:
    # Switching to WAL and creating the schema take the write lock; when two processes
    # open a new cache at once SQLite may report "database is locked" without waiting.
    deadline = time.monotonic() + _BUSY_SECONDS
    pause = 0.01
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            code = int(getattr(exc, "sqlite_errorcode", 5)) & 0xFF
            if code not in (5, 6) or time.monotonic() > deadline:  # SQLITE_BUSY, LOCKED
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _key(fingerprint: str, kind: TextKind, text: str) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    for part in (fingerprint, kind, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.digest()


def _stamp(db: sqlite3.Connection) -> int:
    """When a vector was last used, for LRU eviction: the wall clock, but never earlier than
    the latest stamp already stored, so a clock set back cannot make fresh vectors look old."""
    (latest,) = db.execute("SELECT max(used) FROM vectors").fetchone()
    return max(time.time_ns(), (latest or 0) + 1)
