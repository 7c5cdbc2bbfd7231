"""`cross-encoder:<model>`: a reranker that reads the query and each hit together (`LocalCrossEncoder`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from shoal.embeddings.local._cross_encoder import (
    DEFAULT_CROSS_ENCODER,
    Activation,
    LocalCrossEncoder,
)
from shoal.store._rerank import Reranker

__all__ = ["CrossEncoderReranker"]


class CrossEncoderReranker(Reranker):
    """Reranks with a BERT cross-encoder run offline on ONNX Runtime.

    Args:
        model: a Hugging Face id (a bare name means ``cross-encoder/<name>``; "" means
            ``cross-encoder/ms-marco-MiniLM-L6-v2``), found in the Hugging Face cache or on
            the hub, or a folder with config.json, tokenizer.json and model.safetensors.
        path: an explicit model folder, overriding resolution.
        activation: "sigmoid", "identity" or "tanh"; default what sentence-transformers'
            CrossEncoder applies to this model (its config's activation, else a sigmoid).
        quantize: dynamic int8 weights; default fp32.
        threads: pairs scored at once; default $SHOAL_NUM_THREADS or all cores.

    Scores match ``sentence_transformers.CrossEncoder(model).predict(pairs)``. The model is
    loaded on the first `score`, not here.

    >>> CrossEncoderReranker("ms-marco-MiniLM-L6-v2").name
    'cross-encoder:ms-marco-MiniLM-L6-v2'
    """

    def __init__(
        self,
        model: str = "",
        *,
        path: str | os.PathLike[str] | None = None,
        activation: Activation | None = None,
        quantize: bool = False,
        threads: int | None = None,
    ) -> None:
        self.model = LocalCrossEncoder(
            model or DEFAULT_CROSS_ENCODER,
            path=path,
            activation=activation,
            quantize=quantize,
            threads=threads,
        )

    @property
    def name(self) -> str:
        """``cross-encoder:<model id or absolute folder>``."""
        return f"cross-encoder:{self.model.name}"

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The cross-encoder's score of each (query, text) pair."""
        return self.model.predict(query, texts)
