"""Dataset commands against a `shoal serve` process: `shoal --url URL ...` or $SHOAL_URL
(the token from $SHOAL_TOKEN); the URI argument is then the dataset's name there."""

from __future__ import annotations

import os
import shlex
from typing import TypeVar

from shoal.client import Client, RemoteDataset, connect
from shoal.embeddings import Embedder
from shoal.errors import ConfigurationError, InvalidInput
from shoal.store import Dataset
from shoal.store import open as open_dataset

__all__ = [
    "branch_words",
    "local_only",
    "on_branch",
    "open_dataset_or_remote",
    "open_local",
    "server_client",
    "server_url",
    "set_url",
    "shoal_command",
]

_url: str | None = None


def set_url(url: str | None) -> None:
    """The root `--url` option of this invocation (None: $SHOAL_URL, if set)."""
    global _url
    _url = url


def server_url() -> str | None:
    """The server this invocation's dataset commands run on (--url or $SHOAL_URL), or None."""
    return _url or os.environ.get("SHOAL_URL", "").strip() or None


def server_client() -> Client | None:
    """A client of the server the command targets, or None when it works on local datasets."""
    url = server_url()
    return None if url is None else connect(url, token=os.environ.get("SHOAL_TOKEN") or None)


def open_dataset_or_remote(
    uri: str,
    *,
    create: bool = False,
    embedder: str | Embedder | None = None,
    language: str | None = None,
    branch: str | None = None,
) -> Dataset | RemoteDataset:
    """The dataset at `uri`, or the dataset named `uri` on the server the command targets
    (on `branch`, if given)."""
    client = server_client()
    if client is None:
        return on_branch(
            open_dataset(uri, embedder=embedder, language=language, create=create), branch, uri
        )
    if isinstance(embedder, Embedder):
        raise InvalidInput(
            "--model-option builds an embedder here, but a server embeds with its own: "
            "name the model with --model only"
        )
    opened = client.open(uri, embedder=embedder, language=language, create=create)
    return on_branch(opened, branch, uri)


_Handle = TypeVar("_Handle", Dataset, RemoteDataset)


def on_branch(dataset: _Handle, branch: str | None, uri: str) -> _Handle:
    """`dataset` on `branch` (writable), or as it is when `branch` is None; a branch that
    does not exist is a usage error naming the command that makes it."""
    if branch is None:
        return dataset
    if branch not in dataset.branches():
        known = ", ".join(dataset.branches()) or "none yet"
        raise InvalidInput(
            f"{uri} has no branch {branch!r} (its branches: {known}); make it from the latest "
            f"version with `{shoal_command('branch', uri, branch)}`"
        )
    return dataset.checkout(branch)


def branch_words(branch: str | None) -> list[str]:
    """The `--branch NAME` words of a printed command, or none."""
    return [] if branch is None else ["--branch", branch]


def local_only(command: str) -> None:
    """A clear error if --url or $SHOAL_URL asks a command a server does not offer to run there."""
    url = server_url()
    if url is not None:
        raise ConfigurationError(
            f"`shoal {command}` works on datasets on this machine, and the server at {url} does "
            f"not offer it over HTTP; run it where the dataset is stored, without --url "
            "(and with SHOAL_URL unset)"
        )


def open_local(uri: str, command: str, branch: str | None = None) -> Dataset:
    """The dataset at `uri` here (on `branch`, if given), for a command a server does not
    offer over HTTP (see `local_only`)."""
    local_only(command)
    return on_branch(open_dataset(uri, create=False), branch, uri)


def shoal_command(*args: str | int) -> str:
    """The shoal command line that runs `args` on the same dataset (with --url if set)."""
    url = server_url()
    words = ["shoal", *(["--url", url] if url else []), *(str(a) for a in args)]
    return " ".join(shlex.quote(word) for word in words)
