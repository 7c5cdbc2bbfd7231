"""`shoal serve` apps on free loopback ports (uvicorn in a thread).

Not a conftest: the contract suite's and the integration tests' conftests import it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

import shoal
from shoal.errors import ProviderUnavailable
from shoal.server._app import Datasets, create_app

__all__ = ["free_port", "running", "serve_process", "server_url"]


@contextlib.contextmanager
def running(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free loopback port; yields its URL, stops it on exit."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def server_url(
    _session_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A `shoal serve` of an empty folder, without tokens, for the whole run."""
    with running(create_app(Datasets([tmp_path_factory.mktemp("served")]))) as url:
        yield url


def free_port() -> int:
    """A loopback port no one listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_process(folder: Path, port: int, **popen: Any) -> subprocess.Popen[str]:
    """`shoal serve FOLDER --port PORT` in its own process, returned once it answers."""
    code = "from shoal.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve", str(folder), "--port", str(port)], text=True, **popen
    )
    client = shoal.connect(f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.datasets()
            return process
        except ProviderUnavailable:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("shoal serve did not start") from None
            time.sleep(0.1)
