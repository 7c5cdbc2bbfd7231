"""`shoal serve` (datasets over HTTP for `shoal.connect`) and `shoal token` (its tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoal.cli._output import print_json
from shoal.errors import InvalidInput
from shoal.server import serve as run_server
from shoal.server._tokens import TokenStore, default_tokens_path, parse_scopes

__all__ = ["serve", "token_create", "token_list", "token_revoke"]

TokensOption = Annotated[
    Path | None,
    typer.Option(
        "--tokens",
        help="The tokens file (default: $SHOAL_TOKENS_FILE or ~/.config/shoal/tokens.json).",
        metavar="FILE",
    ),
]


def serve(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Datasets (folders, s3:// URIs) or folders of datasets, served by name.",
            metavar="URI_OR_FOLDER...",
        ),
    ],
    host: Annotated[
        str,
        typer.Option("--host", help="Address to bind (other than loopback only with tokens)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    tokens: TokensOption = None,
    rate_limit: Annotated[
        float,
        typer.Option("--rate-limit", help="Requests a second per token (0: no limit).", min=0),
    ] = 0,
    ssl_certfile: Annotated[
        str | None, typer.Option("--ssl-certfile", help="TLS certificate (PEM).", metavar="FILE")
    ] = None,
    ssl_keyfile: Annotated[
        str | None, typer.Option("--ssl-keyfile", help="TLS private key (PEM).", metavar="FILE")
    ] = None,
    llm: Annotated[
        str,
        typer.Option(
            "--llm", help="The answerer of ask (extractive, local:..., openai:...).", metavar="NAME"
        ),
    ] = "extractive",
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            help="A web origin whose pages may call the API (repeatable; none by default).",
            metavar="ORIGIN",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="First print one JSON line: url, sources, tokens file, llm (the access log on "
            "standard error is JSON lines already).",
        ),
    ] = False,
) -> None:
    """Serve datasets over HTTP: `shoal.connect(URL, token=...).open(NAME)` reaches them."""
    if as_json:
        scheme = "https" if ssl_certfile else "http"
        store = TokenStore(tokens or default_tokens_path())
        print_json(
            {"url": f"{scheme}://{host}:{port}", "sources": sources,
             "tokens": str(store.path) if store.exists() else None, "llm": llm}
        )  # fmt: skip
    run_server(
        sources,
        host=host,
        port=port,
        tokens=tokens,
        rate_limit=rate_limit,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        llm=llm,
        cors_origins=cors_origin or (),
    )


def token_create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="DATASET:SCOPE, SCOPE one of read, write, admin; DATASET a name or * (repeatable).",
            metavar="DATASET:SCOPE",
        ),
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="A label for the token.")] = "token",
    tokens: TokensOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {name, scopes, token} as JSON.")
    ] = False,
) -> None:
    """Create a token and print it (once: the file keeps only its salted hash)."""
    store = TokenStore(tokens or default_tokens_path())
    scopes = parse_scopes(scope)
    token = store.create(name, scopes)
    if as_json:
        print_json({"name": name, "scopes": dict(scopes), "token": token})
        return
    typer.echo(token)


def token_list(
    tokens: TokensOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the tokens: id, name, scopes, created, revoked (never the tokens themselves)."""
    entries = TokenStore(tokens or default_tokens_path()).entries()
    if as_json:
        print_json(entries)
        return
    for entry in entries:
        scopes = ",".join(f"{k}:{v}" for k, v in entry["scopes"].items())
        state = f"revoked {entry['revoked']}" if entry["revoked"] else "active"
        typer.echo(f"{entry['id']}  {entry['name']}  {scopes}  {entry['created']}  {state}")


def token_revoke(
    key: Annotated[str, typer.Argument(help="The token's id or name.", metavar="ID_OR_NAME")],
    tokens: TokensOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {revoked: N} as JSON.")] = False,
) -> None:
    """Revoke a token (a running server refuses it from its next request)."""
    count = TokenStore(tokens or default_tokens_path()).revoke(key)
    if not count:
        raise InvalidInput(f"no active token has the id or name {key!r}; see `shoal token list`")
    if as_json:
        print_json({"revoked": count})
        return
    typer.echo(f"revoked {count} token(s)")
