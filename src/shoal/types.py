"""Small value types shared by every layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Document", "EmbedderSpec", "Metric", "Pooling", "TextKind"]

Metric = Literal["cosine", "dot", "l2"]
"""How two vectors are compared: cosine similarity, inner product or Euclidean distance."""

TextKind = Literal["document", "query"]
"""Whether a text is stored (document) or searched with (query); some models embed them differently."""

Pooling = Literal["mean", "cls", "max"]
"""How token vectors become one sentence vector (sentence-transformers' pooling modes)."""

_METRICS: tuple[str, ...] = ("cosine", "dot", "l2")


@dataclass(frozen=True)
class EmbedderSpec:
    """What produced a set of vectors: stored with a dataset so it can describe itself.

    `options` are the keyword arguments that rebuild the same embedder with
    ``shoal.embedder(spec.name, **spec.options)`` (a server's URL, shortened dimensions,
    the *name* of an API-key variable; never a secret). They do not take part in
    equality: the same model behind another URL makes the same vectors.
    """

    provider: str
    model: str
    dimensions: int
    normalized: bool
    metric: Metric = "cosine"
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.dimensions <= 0:
            raise ValueError(f"dimensions must be positive, got {self.dimensions}")
        if self.metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}, got {self.metric!r}")

    @property
    def name(self) -> str:
        """The name that `shoal.embedder()` accepts to build this embedder again."""
        return f"{self.provider}:{self.model}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the spec (`options` only when there are some)."""
        data = asdict(self)
        if not self.options:
            del data["options"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbedderSpec:
        """Rebuild a spec written by `to_dict`."""
        return cls(
            provider=str(data["provider"]),
            model=str(data["model"]),
            dimensions=int(data["dimensions"]),
            normalized=bool(data["normalized"]),
            metric=data.get("metric", "cosine"),
            options=dict(data.get("options") or {}),
        )


@dataclass
class Document:
    """A text and its metadata: what loaders produce, splitters chunk and datasets store."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
