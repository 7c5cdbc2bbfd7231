"""The one exception tree of Shoal.

Every error says what happened and what to do about it, and keeps its cause
(``raise ... from exc``)::

    ShoalError
    ├── ConfigurationError          a setting or argument that cannot work
    │   ├── UnknownProvider         no embedder provider of that name
    │   ├── MissingDependency       an optional package is not installed
    │   └── ModelNotFound           a model's files cannot be found or fetched
    ├── InvalidInput (ValueError)   data the caller passed is unusable
    │   ├── EmptyText               an empty or whitespace-only text
    │   ├── NonFiniteValues         NaN or infinity in a vector
    │   └── DimensionMismatch       vectors of the wrong length
    └── EmbeddingError              a provider failed to produce vectors
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DimensionMismatch",
    "EmbeddingError",
    "EmptyText",
    "InvalidInput",
    "MissingDependency",
    "ModelNotFound",
    "NonFiniteValues",
    "ShoalError",
    "UnknownProvider",
]


class ShoalError(Exception):
    """Base class of every error Shoal raises on purpose."""


class ConfigurationError(ShoalError):
    """A setting, name or argument that cannot work as given."""


class UnknownProvider(ConfigurationError):
    """No embedder provider is registered under the requested name."""


class MissingDependency(ConfigurationError):
    """An optional package needed for this feature is not installed."""


class ModelNotFound(ConfigurationError):
    """A model's files are neither local nor downloadable."""


class InvalidInput(ShoalError, ValueError):
    """Input data that cannot be used as given."""


class EmptyText(InvalidInput):
    """A text to embed is empty or only whitespace."""


class NonFiniteValues(InvalidInput):
    """A vector holds NaN or infinite values."""


class DimensionMismatch(InvalidInput):
    """Vectors whose length differs from what is expected."""


class EmbeddingError(ShoalError):
    """A provider failed to turn texts into vectors."""
