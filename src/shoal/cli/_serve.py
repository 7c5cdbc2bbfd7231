"""`shoal serve`: keep datasets open and serve them over HTTP for `shoal.connect`."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.server import serve as run_server

__all__ = ["serve"]


def serve(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Datasets (folders, s3:// URIs) or folders of datasets, served by name.",
            metavar="URI_OR_FOLDER...",
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind: loopback only (no tokens yet).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
) -> None:
    """Serve datasets over HTTP: `shoal.connect("http://127.0.0.1:8000").open(NAME)` reaches them."""
    run_server(sources, host=host, port=port)
