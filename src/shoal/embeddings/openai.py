"""`openai:` embeddings from OpenAI, Azure OpenAI or any OpenAI-compatible server (Ollama, vLLM).

The request is the documented one: ``POST {base_url}/embeddings`` with a bearer key and
``{"model", "input", "encoding_format"[, "dimensions"]}``. Limits from OpenAI's API
reference: at most 2,048 inputs per request, 8,191 tokens per input and 300,000 tokens
per request. A longer text is cut into windows of 8,191 tokens whose vectors are averaged,
weighted by tokens, and renormalised (the rule of OpenAI's cookbook and LangChain's
`OpenAIEmbeddings`); `long_texts=` chooses truncation or an error instead. Tokens are
counted with tiktoken's cl100k_base when it is installed and has its file. Without it
Shoal counts UTF-8 bytes, which bound tokens from above only: a text over 8,191 bytes is
sent whole first, and the rule applies only if the server refuses it.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from shoal._http import OPENAI_BASE_URL, RetryPolicy, openai_service
from shoal.embeddings._hosted import (
    ByteCounter,
    HostedEmbedder,
    LongTexts,
    RequestLimits,
    TokenCounter,
)
from shoal.errors import ConfigurationError, EmbeddingError, MalformedResponse, RequestRejected
from shoal.types import EmbedderSpec, TextKind

if TYPE_CHECKING:  # httpx loads in ~0.1 s: only a hosted provider's first call pays it
    import httpx

__all__ = ["OPENAI_BASE_URL", "OpenAIEmbedder"]


# model: (dimensions, whether it accepts the `dimensions` parameter)
_MODELS: dict[str, tuple[int, bool]] = {
    "text-embedding-ada-002": (1536, False),
    "text-embedding-3-small": (1536, True),
    "text-embedding-3-large": (3072, True),
}
_LIMITS = RequestLimits(max_inputs=2048, max_input_tokens=8191, max_request_tokens=300_000)


class _Tiktoken:
    """Exact cl100k_base token counts through tiktoken."""

    exact = True

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding

    def count(self, text: str) -> int:
        """Tokens in `text`."""
        return len(self._encoding.encode(text, disallowed_special=()))

    def windows(self, text: str, size: int) -> list[str]:
        """`text` cut into pieces of `size` tokens."""
        tokens = self._encoding.encode(text, disallowed_special=())
        return [
            str(self._encoding.decode(tokens[i : i + size])) for i in range(0, len(tokens), size)
        ]


def _tiktoken_counter() -> TokenCounter:
    try:
        import tiktoken  # optional: exact token counts

        return _Tiktoken(tiktoken.get_encoding("cl100k_base"))
    except Exception:  # not installed, or its file cannot be fetched offline
        return ByteCounter()


class OpenAIEmbedder(HostedEmbedder):
    """`openai:<model>`: OpenAI's embeddings API, or any server that speaks it.

    Args:
        model: e.g. ``text-embedding-3-small``; on Azure, the deployment's name.
        dimensions: shorter vectors from ``text-embedding-3-*`` (the API's `dimensions`),
            or the size a compatible server's model returns (else asked once).
        base_url: the API root; default $OPENAI_BASE_URL, else OpenAI's.
        api_key_env: the variable that holds the key (environment or `.env`); only its
            name is ever stored. Required for OpenAI and Azure, optional elsewhere.
        api_version: an Azure OpenAI ``api-version``; turns on Azure's URL and header.
        long_texts: ``split`` (default), ``truncate`` or ``error``; see the module doc.
        encoding_format: how vectors travel: ``base64`` (the default: a third of the
            bytes and no float parsing; a server that rejects it is asked for ``float``
            from then on) or ``float``.
        batch_size, max_concurrency, retry, http_client: as for every `HostedEmbedder`
            (at most 2,048 inputs per request).
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dimensions: int | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        api_version: str | None = None,
        long_texts: LongTexts = "split",
        encoding_format: Literal["float", "base64"] | None = None,
        batch_size: int | None = None,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.limits = _LIMITS
        self._configure(
            batch_size=batch_size, max_concurrency=max_concurrency, long_texts=long_texts
        )
        self.model = model
        self._azure = api_version is not None
        self._service = openai_service(
            base_url=base_url,
            api_key_env=api_key_env,
            azure=self._azure,
            retry=retry,
            client=http_client,
            offline="'local:all-MiniLM-L6-v2' embeds English (and 'local:multilingual-e5-small' 100 languages)",
        )
        root = self._service.base_url
        self._hosted_by_openai = root == OPENAI_BASE_URL
        known = _MODELS.get(model) if not self._azure or model in _MODELS else None
        if dimensions is not None and (isinstance(dimensions, bool) or dimensions <= 0):
            raise ConfigurationError(f"dimensions must be a positive int, got {dimensions!r}")
        if known is not None and dimensions is not None and not known[1] and dimensions != known[0]:
            raise ConfigurationError(
                f"{model} always returns {known[0]} dimensions; only text-embedding-3-small "
                "and text-embedding-3-large accept dimensions="
            )
        self._dimensions_asked = dimensions
        self._dimensions = dimensions or (known[0] if known else None)
        self._normalized = known is not None or self._hosted_by_openai
        self._options: dict[str, Any] = {}
        if dimensions is not None:
            self._options["dimensions"] = dimensions
        if not self._hosted_by_openai:
            self._options["base_url"] = root
        if api_key_env is not None:
            self._options["api_key_env"] = api_key_env
        if api_version is not None:
            self._options["api_version"] = api_version
        self._path = f"openai/deployments/{model}/embeddings" if self._azure else "embeddings"
        self._params = {"api-version": api_version} if api_version else None
        if encoding_format not in (None, "float", "base64"):
            raise ConfigurationError(
                f"encoding_format must be 'float' or 'base64', got {encoding_format!r}"
            )
        self._encoding = encoding_format or "base64"
        # A server that refuses base64 is asked again for floats, once, then always.
        self._may_fall_back = encoding_format is None and not self._hosted_by_openai
        self._counter: TokenCounter | None = None
        self._spec: EmbedderSpec | None = None

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'openai'; a compatible server's dimensions are asked once if not given."""
        if self._spec is None:
            if self._dimensions is None:
                probe = self._request(["dimension probe"], dimensions=None)
                self._dimensions = int(probe.shape[1])
            self._spec = EmbedderSpec(
                provider="openai",
                model=self.model,
                dimensions=self._dimensions,
                normalized=self._normalized,
                options=dict(self._options),
            )
        return self._spec

    @property
    def fingerprint(self) -> str:
        """The spec, plus the server for a compatible one (its model may differ under one name)."""
        base = super().fingerprint
        return base if self._hosted_by_openai else f"{base}|{self._service.base_url}"

    def token_counter(self) -> TokenCounter:
        """cl100k_base through tiktoken if available, else UTF-8 bytes."""
        if self._counter is None:
            self._counter = _tiktoken_counter() if self._hosted_by_openai else ByteCounter()
        return self._counter

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """One request to the embeddings endpoint (OpenAI embeds queries and documents alike)."""
        return self._request(texts, dimensions=self._dimensions_asked)

    def _request(self, texts: list[str], *, dimensions: int | None) -> np.ndarray:
        body: dict[str, Any] = {
            "model": self.model,
            "input": texts,
            "encoding_format": self._encoding,
        }
        if dimensions is not None:
            body["dimensions"] = dimensions
        try:
            answer = self._service.post(self._path, body, params=self._params)
        except RequestRejected:
            if not (self._may_fall_back and self._encoding == "base64"):
                raise
            answer = self._service.post(
                self._path, {**body, "encoding_format": "float"}, params=self._params
            )
            self._encoding = "float"
        return _vectors(answer, len(texts), self._service.provider)


def _vectors(answer: Any, expected: int, provider: str) -> np.ndarray:
    """The `data[].embedding` vectors of an answer, in input order, checked."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise MalformedResponse(
            f"{provider} answered without a 'data' list; is the base URL an embeddings API?",
            provider=provider,
        )
    if len(data) != expected:
        raise EmbeddingError(
            f"{provider} returned {len(data)} vectors for {expected} texts; nothing was kept "
            "from this request, retry it",
            provider=provider,
        )
    rows: list[np.ndarray | None] = [None] * expected
    try:
        for position, item in enumerate(data):
            index = int(item.get("index", position))
            raw = item["embedding"]
            if isinstance(raw, str):
                vector = np.frombuffer(base64.b64decode(raw), dtype="<f4")
            else:
                vector = np.asarray(raw, dtype=np.float32)
            if not 0 <= index < expected or rows[index] is not None:
                raise ValueError(f"index {index} out of range or repeated")
            rows[index] = vector
        matrix = np.stack([row for row in rows if row is not None])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(
            f"{provider} answered with embeddings that are not the documented shape ({exc})",
            provider=provider,
        ) from exc
    if matrix.ndim != 2:
        raise MalformedResponse(f"{provider} returned vectors of unequal length", provider=provider)
    return matrix.astype(np.float32, copy=False)
