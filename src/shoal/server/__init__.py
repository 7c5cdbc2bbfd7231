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
from shoal.server._tokens import TokenStore, default_tokens_path

__all__ = ["serve"]


def serve(
    sources: Sequence[str | Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tokens: Path | None = None,
    rate_limit: float = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    llm: str = "extractive",
    cors_origins: Sequence[str] = (),
) -> None:
    """Serve the datasets in `sources` until interrupted (uvicorn; Ctrl-C or SIGTERM finish
    the requests in flight, then stop).

    Requests need a token when the tokens file (`tokens`, default `default_tokens_path()`)
    exists; without one the server answers anyone who can reach it, so it binds only to a
    loopback address. `rate_limit`: requests a second per token (0: none). `llm`: the
    answerer of `ask` (as `shoal.qa.llm` names them; clients cannot choose another).
    `cors_origins`: web origins (``https://app.example.com``) whose pages may call the API
    from a browser; none by default. Access logs are one JSON line a request on stderr.

    Raises:
        ConfigurationError: no tokens file and `host` is not a loopback address.
        MissingDependency: the server extra (Starlette, uvicorn) is not installed.
    """
    store = TokenStore(tokens or default_tokens_path())
    if not store.exists():
        if tokens is not None:
            raise ConfigurationError(
                f"no tokens file at {tokens}: create a token first (shoal token create "
                f"--tokens {tokens} --scope NAME:read)"
            )
        if not _loopback(host):
            raise ConfigurationError(
                f"shoal serve without tokens binds only to a loopback address ({host} is not): "
                "anyone who reached it could read and write the datasets; create a token "
                "(shoal token create --scope '*:read') and serve again, or use --host 127.0.0.1"
            )
    try:
        import uvicorn

        from shoal.server._app import Datasets, create_app
    except ImportError as exc:
        raise MissingDependency(
            "shoal serve needs Starlette and uvicorn: pip install 'shoal[server]'"
        ) from exc
    app = create_app(
        Datasets(sources),
        tokens=store if store.exists() else None,
        rate=rate_limit,
        llm=llm,
        cors_origins=cors_origins,
    )
    access = logging.getLogger("shoal.server")  # one JSON line a request (_app._AccessLog)
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # ours is JSON, with the token's id, and never a header
        timeout_graceful_shutdown=30,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
