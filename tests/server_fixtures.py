"""A `shoal serve` app on a free loopback port (uvicorn in a thread), for the whole run.

Not a conftest: the contract suite's and the integration tests' conftests import it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from shoal.server._app import Datasets, create_app

__all__ = ["server_url"]


@pytest.fixture(scope="session")
def server_url(
    _session_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A `shoal serve` of an empty folder, on a free loopback port, for the whole run."""
    folder = tmp_path_factory.mktemp("served")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(Datasets([folder])), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
