"""A hash embedder that counts its calls, and can fail or go slowly on purpose."""

from __future__ import annotations

import os
import time

import numpy as np

from shoal.embeddings import Embedder
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import EmbeddingError
from shoal.types import EmbedderSpec, TextKind

__all__ = ["CountingEmbedder", "StallingEmbedder"]


class CountingEmbedder(Embedder):
    """hash:<dims> that counts batches and texts; raises EmbeddingError from batch `fail_at` on.

    Its spec is hash:<dims>'s, so a dataset made with it reopens with ``"hash:<dims>"``.
    """

    def __init__(
        self,
        dims: int = 64,
        *,
        batch_size: int = 8,
        fail_at: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self._inner = HashEmbedder(str(dims))
        self.batch_size = batch_size
        self.fail_at = fail_at
        self.delay = delay
        self.batches = 0
        self.texts: list[str] = []

    @property
    def spec(self) -> EmbedderSpec:
        """hash:<dims>'s spec."""
        return self._inner.spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Count, maybe wait or fail, then embed like hash:<dims>."""
        self.batches += 1
        if self.fail_at is not None and self.batches >= self.fail_at:
            raise EmbeddingError(f"fake provider down at batch {self.batches}")
        if self.delay:
            time.sleep(self.delay)
        self.texts.extend(texts)
        return self._inner.embed_batch(texts, kind=kind)


class StallingEmbedder(Embedder):
    """hash:<dims> whose first process to reach batch `stall_at` claims `folder`/claimed,
    writes its pid to `folder`/pid and then waits (up to `patience` s) to be killed.

    For killing a Ray worker mid-job: the test kills the pid it finds in the file. Other
    processes never stall. Pickled into each worker, so each counts its own batches.
    """

    def __init__(
        self, folder: str, *, dims: int = 64, stall_at: int = 2, patience: float = 120.0
    ) -> None:
        self._inner = HashEmbedder(str(dims))
        self.folder = folder
        self.stall_at = stall_at
        self.patience = patience
        self.batches = 0

    @property
    def spec(self) -> EmbedderSpec:
        """hash:<dims>'s spec."""
        return self._inner.spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Embed like hash:<dims>, stalling at batch `stall_at` in the first process there."""
        self.batches += 1
        if self.batches == self.stall_at and self._claim():
            pid = os.path.join(self.folder, "pid")
            with open(pid + ".tmp", "w", encoding="utf-8") as file:
                file.write(str(os.getpid()))
            os.replace(pid + ".tmp", pid)
            deadline = time.monotonic() + self.patience
            while time.monotonic() < deadline:  # the test kills this process meanwhile
                time.sleep(0.05)
            raise EmbeddingError("nobody killed the stalled worker")
        return self._inner.embed_batch(texts, kind=kind)

    def _claim(self) -> bool:
        try:
            os.close(os.open(os.path.join(self.folder, "claimed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True
