"""`shoal serve`: one process holds datasets open and serves them over HTTP.

`shoal.connect(url)` (shoal.client) is the same `Dataset` API on the other side. The app is
`shoal.server._app.create_app`; it needs the server extra (Starlette, uvicorn).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path

from shoal.errors import ConfigurationError, MissingDependency

__all__ = ["serve"]


def serve(sources: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the datasets in `sources` until interrupted (uvicorn; Ctrl-C or SIGTERM finish
    the requests in flight, then stop).

    Raises:
        ConfigurationError: `host` is not a loopback address: a server without tokens is
            only for this machine's programs.
        MissingDependency: the server extra (Starlette, uvicorn) is not installed.
    """
    if not _loopback(host):
        raise ConfigurationError(
            f"shoal serve binds only to a loopback address ({host} is not): it has no tokens "
            "yet, so any program that can reach it could read and write the datasets; use "
            "--host 127.0.0.1, behind a reverse proxy that authenticates if others need it"
        )
    try:
        import uvicorn

        from shoal.server._app import Datasets, create_app
    except ImportError as exc:
        raise MissingDependency(
            "shoal serve needs Starlette and uvicorn: pip install 'shoal[server]'"
        ) from exc
    app = create_app(Datasets(sources))
    access = logging.getLogger("shoal.server")  # one line a request: dataset, method, status, ms
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # ours names the dataset and method, and never a header
        timeout_graceful_shutdown=30,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
