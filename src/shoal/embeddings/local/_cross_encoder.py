"""A BERT cross-encoder on ONNX Runtime: how relevant each passage is to a query, read as a pair.

A cross-encoder (``BertForSequenceClassification``: the encoder, BERT's pooler and a
linear classifier on [CLS]) reads the query and a passage together, so it judges their
relevance far better than comparing two vectors, at the price of one model run per
pair. The graph is written from the safetensors weights (`build_cross_encoder`) and
cached like the encoders'; pairs are tokenised by the model's own tokenizer, truncated
longest-first to the tokenizer's ``model_max_length`` as sentence-transformers'
`CrossEncoder` does. Scores follow its ``predict``: the logit through the activation
the model's config names (``sentence_transformers.activation_fn``, or the older
``sbert_ce_default_activation_function``), else a sigmoid for a one-label model.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from shoal.embeddings.local._onnx_cache import ModelLayout, onnx_session
from shoal.embeddings.local._resolve import resolve_model_dir
from shoal.errors import ConfigurationError, EmbeddingError, ModelNotFound
from shoal.settings import num_threads

__all__ = ["DEFAULT_CROSS_ENCODER", "Activation", "LocalCrossEncoder"]

DEFAULT_CROSS_ENCODER = "cross-encoder/ms-marco-MiniLM-L6-v2"
"""The cross-encoder a bare ``cross-encoder`` reranker loads (MS MARCO passages, 22M weights)."""

Activation = Literal["sigmoid", "identity", "tanh"]
"""What turns a logit into the score: sigmoid (0..1), the logit itself, or tanh (-1..1)."""
_ACTIVATIONS: tuple[str, ...] = get_args(Activation)
# The torch modules sentence-transformers names in a model's config, by class name.
_TORCH_ACTIVATIONS = {"Sigmoid": "sigmoid", "Identity": "identity", "Tanh": "tanh"}
# A tokenizer without a real limit says 1e30; the position table bounds it anyway.
_NO_LIMIT = 1_000_000


def _hub_repo(model: str) -> str:
    """A bare name is one of sentence-transformers' `cross-encoder/` models."""
    return model if "/" in model else f"cross-encoder/{model}"


class LocalCrossEncoder:
    """Scores (query, passage) pairs with a BERT cross-encoder, offline, on ONNX Runtime.

    Args:
        model: a Hugging Face id (``cross-encoder/ms-marco-MiniLM-L6-v2``; a bare name means
            ``cross-encoder/<name>``) found in the Hugging Face cache or hub, or a folder
            with config.json, tokenizer.json and model.safetensors.
        path: an explicit model folder, overriding resolution.
        activation: override the activation the model's config implies.
        quantize: dynamic int8 weights (faster, slightly different scores); default fp32.
        threads: pairs run at once, one per thread; default $SHOAL_NUM_THREADS or all cores.

    Each pair runs through the graph alone (no padding), so a pair's score does not depend
    on the pairs beside it.
    """

    def __init__(
        self,
        model: str = DEFAULT_CROSS_ENCODER,
        *,
        path: str | os.PathLike[str] | None = None,
        activation: Activation | None = None,
        quantize: bool = False,
        threads: int | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(f"model must name a cross-encoder, got {model!r}")
        if activation is not None and activation not in _ACTIVATIONS:
            raise ConfigurationError(
                f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}; got {activation!r}"
            )
        if threads is not None and (isinstance(threads, bool) or threads < 1):
            raise ConfigurationError(f"threads must be a positive int, got {threads!r}")
        if path is None and Path(model).expanduser().is_dir():
            path = model
        self._name = str(Path(path).expanduser().resolve()) if path is not None else model
        self._path = path
        self._activation = activation
        self._quantize = bool(quantize)
        self._threads = threads or num_threads()
        self._lock = threading.Lock()
        self._layout: ModelLayout | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._workers: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        """The model: its Hugging Face id, or the absolute path of its folder."""
        return self._name

    @property
    def activation(self) -> Activation:
        """The activation applied to the logit (from the config unless overridden)."""
        if self._activation is None:
            self._activation = _config_activation(self._load_layout().config)
        return self._activation

    @property
    def max_length(self) -> int:
        """Tokens of a pair the model reads; longer pairs lose tokens from the longer text."""
        layout = self._load_layout()
        window = int(layout.config.get("max_position_embeddings", 512))
        config_file = layout.folder / "tokenizer_config.json"
        limit = window
        if config_file.is_file():
            try:
                saved = json.loads(config_file.read_text(encoding="utf-8")).get("model_max_length")
            except (OSError, ValueError) as exc:
                raise ModelNotFound(f"cannot read {config_file} ({exc})") from exc
            if isinstance(saved, int | float) and 0 < saved < _NO_LIMIT:
                limit = int(saved)
        return min(limit, window)

    def predict(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """The score of each passage for `query` (float32, one per passage, higher is more relevant).

        Raises:
            EmbeddingError: ONNX Runtime failed on a pair.
        """
        if not passages:
            return np.zeros(0, dtype=np.float32)
        session, tokenizer = self._ensure_loaded()
        encodings = tokenizer.encode_batch([(query, passage) for passage in passages])

        def run(encoding: Any) -> float:
            ids = np.array([encoding.ids], dtype=np.int64)
            feeds = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
            try:
                (logits,) = session.run(None, feeds)
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise EmbeddingError(
                    f"ONNX Runtime failed on cross-encoder {self._name}: {exc}",
                    provider="cross-encoder",
                ) from exc
            return float(logits[0, 0])

        spread = self._workers.map if self._workers is not None else map
        logits = np.array(list(spread(run, encodings)), dtype=np.float32)
        return _activate(logits, self.activation)

    def _load_layout(self) -> ModelLayout:
        if self._layout is None:
            folder = resolve_model_dir(
                self._name, path=self._path, repo=_hub_repo(self._name), provider="cross-encoder"
            )
            layout = ModelLayout(folder)
            labels = len(layout.config.get("id2label") or {}) or int(
                layout.config.get("num_labels", 2)
            )
            if labels != 1:
                raise ModelNotFound(
                    f"{self._name} is a classifier with {labels} labels; a reranker needs a "
                    "cross-encoder with one relevance score (num_labels=1), e.g. "
                    f"{DEFAULT_CROSS_ENCODER}"
                )
            self._layout = layout
        return self._layout

    def _ensure_loaded(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                from tokenizers import Tokenizer  # a core dependency, imported when first used

                layout = self._load_layout()
                self._session = onnx_session(
                    layout, name=self._name, quantize=self._quantize, task="score"
                )
                tokenizer = Tokenizer.from_file(str(layout.folder / "tokenizer.json"))
                tokenizer.enable_truncation(max_length=self.max_length, strategy="longest_first")
                tokenizer.no_padding()  # each pair runs alone
                self._tokenizer = tokenizer
                if self._threads > 1:
                    self._workers = ThreadPoolExecutor(
                        self._threads, thread_name_prefix="shoal-cross-encoder"
                    )
            return self._session, self._tokenizer

    def __repr__(self) -> str:
        return f"LocalCrossEncoder({self._name!r})"


def _config_activation(config: dict[str, Any]) -> Activation:
    """The activation sentence-transformers' CrossEncoder applies to this model's logits."""
    saved = (config.get("sentence_transformers") or {}).get("activation_fn") or config.get(
        "sbert_ce_default_activation_function"
    )
    if not saved:
        return "sigmoid"  # CrossEncoder's default for a one-label model
    found = _TORCH_ACTIVATIONS.get(str(saved).rsplit(".", 1)[-1])
    if found is None:
        raise ModelNotFound(
            f"the model's config asks for the activation {saved!r}, which the cross-encoder "
            f"does not know; pass activation= (one of {', '.join(_ACTIVATIONS)})"
        )
    return found  # type: ignore[return-value]


def _activate(logits: np.ndarray, activation: Activation) -> np.ndarray:
    if activation == "sigmoid":
        # 1 / (1 + e^-x), in a form that cannot overflow for very negative logits.
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * logits)), dtype=np.float32)
    if activation == "tanh":
        return np.asarray(np.tanh(logits), dtype=np.float32)
    return np.asarray(logits, dtype=np.float32)
