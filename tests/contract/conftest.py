"""One set of Dataset tests, two fixtures: the library's `Dataset` and the same dataset
served by `shoal serve` and reached through `shoal.connect` (a uvicorn server on loopback,
started here for the module)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import shoal
import shoal.store as st
from server_fixtures import server_url

__all__ = ["server_url"]

_NUMBERS = itertools.count()
Opener = Callable[[str], Any]
"""Makes a new empty dataset (hash:32 embedder) by name: local or remote."""


@pytest.fixture(params=["local", "remote"])
def open_new(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """`open_new(name)`: a new dataset, from the library or through a server."""
    if request.param == "local":
        yield lambda name: st.open(tmp_path / name, embedder="hash:32")
        return
    url = request.getfixturevalue("server_url")
    client = shoal.connect(url)
    number = next(_NUMBERS)  # the server's folder is shared by the whole run
    yield lambda name: client.open(f"t{number}-{name}", embedder="hash:32")
    client.close()
