"""Dataset commands against a `shoal serve` process: `shoal --url URL ...` or $SHOAL_URL
(the token from $SHOAL_TOKEN); the URI argument is then the dataset's name there."""

from __future__ import annotations

import os

from shoal.client import RemoteDataset, connect
from shoal.embeddings import Embedder
from shoal.errors import InvalidInput
from shoal.store import Dataset
from shoal.store import open as open_dataset

__all__ = ["open_dataset_or_remote", "set_url"]

_url: str | None = None


def set_url(url: str | None) -> None:
    """The root `--url` option of this invocation (None: $SHOAL_URL, if set)."""
    global _url
    _url = url


def open_dataset_or_remote(
    uri: str, *, create: bool = False, embedder: str | Embedder | None = None
) -> Dataset | RemoteDataset:
    """The dataset at `uri`, or the dataset named `uri` on the server the command targets."""
    url = _url or os.environ.get("SHOAL_URL", "").strip() or None
    if url is None:
        return open_dataset(uri, embedder=embedder, create=create)
    if isinstance(embedder, Embedder):
        raise InvalidInput(
            "--model-option builds an embedder here, but a server embeds with its own: "
            "name the model with --model only"
        )
    client = connect(url, token=os.environ.get("SHOAL_TOKEN") or None)
    return client.open(uri, embedder=embedder, create=create)
