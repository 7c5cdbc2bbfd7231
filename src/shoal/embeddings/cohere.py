"""`cohere:` embeddings from Cohere's API (v2 embed), multilingual models included.

The request is the documented one: ``POST {base_url}/v2/embed`` with a bearer key and
``{"model", "texts", "input_type", "embedding_types": ["float"], "truncate"}``.
`embed_documents` sends ``input_type="search_document"``, `embed_query` and
`embed_queries` send ``"search_query"``, as Cohere asks for retrieval. Limits from
Cohere's reference: at most 96 texts per request; a text over the model's window (512
tokens) is truncated by the API itself, at the end unless `truncate="START"` (or
`"NONE"`, which makes the API reject it instead).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from shoal._http import JSONService, RetryPolicy
from shoal.embeddings._hosted import HostedEmbedder, RequestLimits
from shoal.errors import ConfigurationError, EmbeddingError, MalformedResponse
from shoal.settings import api_key
from shoal.types import EmbedderSpec, TextKind

if TYPE_CHECKING:  # httpx loads in ~0.1 s: only a hosted provider's first call pays it
    import httpx

__all__ = ["COHERE_BASE_URL", "CohereEmbedder", "known_models"]

COHERE_BASE_URL = "https://api.cohere.com"
"""Where requests go unless `base_url=` or $CO_API_URL says otherwise."""

# model: (default dimensions, the dimensions `output_dimension` may choose)
_MODELS: dict[str, tuple[int, tuple[int, ...]]] = {
    "embed-v4.0": (1536, (256, 512, 1024, 1536)),
    "embed-english-v3.0": (1024, ()),
    "embed-multilingual-v3.0": (1024, ()),
    "embed-english-light-v3.0": (384, ()),
    "embed-multilingual-light-v3.0": (384, ()),
    "embed-english-v2.0": (4096, ()),
    "embed-english-light-v2.0": (1024, ()),
    "embed-multilingual-v2.0": (768, ()),
}
_INPUT_TYPES: dict[TextKind, str] = {"document": "search_document", "query": "search_query"}
Truncate = Literal["END", "START", "NONE"]


class CohereEmbedder(HostedEmbedder):
    """`cohere:<model>`: Cohere's embed API, e.g. ``cohere:embed-multilingual-v3.0``.

    Args:
        model: a Cohere embedding model; see `known_models()`.
        dimensions: for ``embed-v4.0``, one of 256/512/1024/1536 (`output_dimension`);
            for a model Shoal does not know, the size it returns.
        base_url: the API root; default $CO_API_URL, else Cohere's.
        api_key_env: the variable that holds the key (environment or `.env`); only its
            name is ever stored. Default ``COHERE_API_KEY`` (``CO_API_KEY`` also read).
        truncate: how the API shortens a text over the model's window: ``END``, ``START``
            or ``NONE`` (reject it).
        batch_size, max_concurrency, retry, http_client: as for every `HostedEmbedder`
            (at most 96 texts per request).
    """

    def __init__(
        self,
        model: str = "embed-multilingual-v3.0",
        *,
        dimensions: int | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        truncate: Truncate = "END",
        batch_size: int | None = None,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.limits = RequestLimits(max_inputs=96)
        self._configure(batch_size=batch_size, max_concurrency=max_concurrency, long_texts="split")
        if truncate not in ("END", "START", "NONE"):
            raise ConfigurationError(f"truncate must be 'END', 'START' or 'NONE', got {truncate!r}")
        known = _MODELS.get(model)
        if dimensions is not None and (isinstance(dimensions, bool) or dimensions <= 0):
            raise ConfigurationError(f"dimensions must be a positive int, got {dimensions!r}")
        allowed = {known[0], *known[1]} if known is not None else set()
        if known is not None and dimensions is not None and dimensions not in allowed:
            choices = ", ".join(map(str, known[1])) or f"only {known[0]}"
            raise ConfigurationError(
                f"{model} returns {known[0]} dimensions; dimensions= may be {choices}"
            )
        if known is None and dimensions is None:
            raise ConfigurationError(
                f"Shoal does not know the dimensions of Cohere model {model!r}; pass "
                f"dimensions=, or use one of: {', '.join(_MODELS)}"
            )
        self.model = model
        self.truncate = truncate
        self._dimensions = dimensions or (known[0] if known else 0)
        self._output_dimension = dimensions if known and dimensions in known[1] else None
        root = (base_url or os.environ.get("CO_API_URL") or COHERE_BASE_URL).rstrip("/")
        variable = api_key_env or "COHERE_API_KEY"
        key = api_key(variable) or (None if api_key_env else api_key("CO_API_KEY"))
        if key is None:
            raise ConfigurationError(
                f"no Cohere API key: set {variable} in the environment or in a .env file; "
                "offline, with no key, 'local:multilingual-e5-small' embeds 100 languages"
            )
        self._options: dict[str, Any] = {}
        for name, value, default in (
            ("dimensions", dimensions, None),
            ("base_url", root, COHERE_BASE_URL),
            ("api_key_env", api_key_env, None),
            ("truncate", truncate, "END"),
        ):
            if value != default:
                self._options[name] = value
        self._spec = EmbedderSpec(
            provider="cohere",
            model=model,
            dimensions=self._dimensions,
            normalized=False,
            options=dict(self._options),
        )
        self._service = JSONService(
            provider="Cohere",
            base_url=root,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            secret=key,
            key_hint=f"check {variable}",
            retry=retry,
            client=http_client,
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'cohere'; vectors are compared by cosine."""
        return self._spec

    @property
    def fingerprint(self) -> str:
        """The spec plus the truncation side, which changes the vectors of long texts."""
        return f"{super().fingerprint}|truncate={self.truncate}"

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """One request to /v2/embed with the input type that `kind` calls for."""
        body: dict[str, Any] = {
            "model": self.model,
            "texts": texts,
            "input_type": _INPUT_TYPES[kind],
            "embedding_types": ["float"],
            "truncate": self.truncate,
        }
        if self._output_dimension is not None:
            body["output_dimension"] = self._output_dimension
        answer = self._service.post("v2/embed", body)
        return _vectors(answer, len(texts))


def known_models() -> dict[str, int]:
    """The Cohere models Shoal knows, with their default dimensions."""
    return {model: dims for model, (dims, _) in _MODELS.items()}


def _vectors(answer: Any, expected: int) -> np.ndarray:
    """The float vectors of a v2 embed answer (`embeddings.float`), checked."""
    embeddings = answer.get("embeddings") if isinstance(answer, dict) else None
    floats = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    if not isinstance(floats, list):
        raise MalformedResponse(
            "Cohere answered without 'embeddings.float'; is the base URL Cohere's v2 API?",
            provider="Cohere",
        )
    if len(floats) != expected:
        raise EmbeddingError(
            f"Cohere returned {len(floats)} vectors for {expected} texts; nothing was kept "
            "from this request, retry it",
            provider="Cohere",
        )
    try:
        matrix = np.asarray(floats, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(
            f"Cohere answered with embeddings that are not lists of numbers ({exc})",
            provider="Cohere",
        ) from exc
    if matrix.ndim != 2:
        raise MalformedResponse("Cohere returned vectors of unequal length", provider="Cohere")
    return matrix
