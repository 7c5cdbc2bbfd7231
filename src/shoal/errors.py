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
    │   ├── DimensionMismatch       vectors of the wrong length
    │   ├── FilterError             a `where=` filter that cannot be compiled
    │   └── UnreadableImage         an image that cannot be decoded, or is too large
    ├── ProviderError               a model or hosted service failed (status, provider)
    │   ├── EmbeddingError          a provider returned unusable vectors (shape, NaN)
    │   ├── AuthenticationError     401/403: the API key is wrong or lacks access
    │   ├── RateLimited             429 past the retry budget (retry_after)
    │   ├── RequestRejected         400/404/413/422: the request cannot succeed as sent
    │   ├── ProviderUnavailable     5xx, timeouts, unreachable, past the retry budget
    │   └── MalformedResponse       a body that is not the documented JSON
    └── StoreError                  a dataset cannot be opened, read or written
        ├── DatasetNotFound         no dataset at that URI (and create=False)
        ├── EmbedderMismatch        opened with another embedder than made its vectors
        ├── RefNotFound             no version, tag or branch of that name
        ├── ReadOnlyDataset         a write on a checked-out past version
        ├── WriteConflict           other writers held the dataset past the time limit
        ├── StorageFull             no space left on the disk (or quota) that holds it
        ├── StorageReadOnly         its folder is read-only, or not writable by this user
        └── DatasetDamaged          a file of the dataset is missing, truncated or corrupt

Warnings (``warnings.warn``; a served call's come back to its client)::

    ShoalWarning (UserWarning)
    └── UnknownFieldWarning         a filter names a field no row has (it matches no row)
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "DatasetDamaged",
    "DatasetNotFound",
    "DimensionMismatch",
    "EmbedderMismatch",
    "EmbeddingError",
    "EmptyText",
    "FilterError",
    "InvalidInput",
    "MalformedResponse",
    "MissingDependency",
    "ModelNotFound",
    "NonFiniteValues",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "ReadOnlyDataset",
    "RefNotFound",
    "RequestRejected",
    "ShoalError",
    "ShoalWarning",
    "StorageFull",
    "StorageReadOnly",
    "StoreError",
    "UnknownFieldWarning",
    "UnknownProvider",
    "UnreadableImage",
    "WriteConflict",
    "collected_warnings",
    "warn",
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


class UnreadableImage(InvalidInput):
    """An image that cannot be decoded (truncated, not an image) or is over the pixel limit."""


class NonFiniteValues(InvalidInput):
    """A vector holds NaN or infinite values."""


class DimensionMismatch(InvalidInput):
    """Vectors whose length differs from what is expected."""


class ProviderError(ShoalError):
    """A model or hosted service failed; `status` is the HTTP status where there was one."""

    def __init__(
        self, message: str, *, provider: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class EmbeddingError(ProviderError):
    """A provider failed to turn texts into vectors, or returned unusable ones."""


class AuthenticationError(ProviderError):
    """The service refused the API key (401) or the key lacks access (403)."""


class RateLimited(ProviderError):
    """The service kept answering 429 past the retry budget; `retry_after` is its last hint."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class RequestRejected(ProviderError):
    """The service rejected the request itself (400, 404, 413, 422): retrying cannot help."""


class ProviderUnavailable(ProviderError):
    """Server errors, timeouts or no connection, still failing when the retry budget ran out."""


class MalformedResponse(ProviderError):
    """The service answered with a body that is not the documented JSON shape."""


class FilterError(InvalidInput):
    """A `where=` filter with an unknown operator or field, or a value of the wrong type."""


class StoreError(ShoalError):
    """A dataset cannot be opened, read or written."""


class DatasetNotFound(StoreError):
    """No dataset exists at the URI, and creating one was not allowed."""


class EmbedderMismatch(StoreError):
    """The dataset's vectors were made by another embedder than the one given."""


class RefNotFound(StoreError):
    """No version, tag or branch matches the reference."""


class ReadOnlyDataset(StoreError):
    """A write was attempted on a checked-out past version."""


class WriteConflict(StoreError):
    """Other writers kept the dataset busy past the time limit."""


class StorageFull(StoreError):
    """A write found no space left on the disk (or past the quota) that holds the dataset."""


class StorageReadOnly(StoreError):
    """A write on a dataset whose folder is read-only (a read-only mount) or not writable."""


class DatasetDamaged(StoreError):
    """A file of the dataset is missing, truncated or corrupt; the message names it if known."""


class ShoalWarning(UserWarning):
    """Base class of the warnings Shoal gives: the call worked, but probably not as meant."""


class UnknownFieldWarning(ShoalWarning):
    """A filter names a field that no row of the dataset has, so it matches no row."""


_collector: contextvars.ContextVar[list[ShoalWarning] | None] = contextvars.ContextVar(
    "shoal_warnings", default=None
)


def warn(warning: ShoalWarning) -> None:
    """Give `warning` (``warnings.warn``), and hand it to `collected_warnings` if one runs."""
    collected = _collector.get()
    if collected is not None:
        collected.append(warning)
    warnings.warn(warning, stacklevel=3)


@contextlib.contextmanager
def collected_warnings() -> Iterator[list[ShoalWarning]]:
    """The Shoal warnings given in this context (this thread), e.g. to send to a client."""
    collected: list[ShoalWarning] = []
    token = _collector.set(collected)
    try:
        yield collected
    finally:
        _collector.reset(token)
