"""Dataset commands: `shoal info`, `log`, `commit`, `checkout`, `diff` and `search`.

The command line is stateless: `checkout` shows a ref; `--ref` on `info`, `log` and
`search` reads one. Datasets on S3 take their credentials and endpoint from the
standard AWS_* environment variables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from shoal.cli._console import (
    DocsOption,
    FileOption,
    ModelOptions,
    WhereOption,
    chosen_embedder,
    stderr_console,
    stdout_console,
)
from shoal.cli._remote import open_dataset_or_remote
from shoal.cli._signals import dataset_progress, progress
from shoal.cli._similar import documents
from shoal.client import RemoteDataset
from shoal.client._wire import to_json
from shoal.errors import FilterError, InvalidInput
from shoal.store import MAX_FILTER_DEPTH, MAX_METADATA_DEPTH, Dataset, Hit
from shoal.store import open as open_dataset

__all__ = [
    "add",
    "checkout",
    "commit",
    "diff",
    "index",
    "info",
    "log",
    "parse_json_object",
    "print_hits",
    "search",
]

UriArgument = Annotated[
    str,
    typer.Argument(
        help="The dataset: a folder, memory://name or s3://bucket/prefix.", metavar="URI"
    ),
]
RefOption = Annotated[
    str | None,
    typer.Option(
        "--ref", "-r", help="Read this version, tag or branch instead of the latest.", metavar="REF"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _open(uri: str, ref: str | None = None) -> Dataset | RemoteDataset:
    dataset = open_dataset_or_remote(uri)
    return dataset.checkout(ref) if ref is not None else dataset


def add(
    uri: UriArgument,
    docs: DocsOption = None,
    file: FileOption = None,
    metadata: Annotated[
        str | None,
        typer.Option("--metadata", help="JSON metadata given to every added row.", metavar="JSON"),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Embedder for a new dataset (default: local MiniLM).",
            metavar="NAME",
        ),
    ] = None,
    model_option: ModelOptions = None,
) -> None:
    """Add texts to a dataset (created if new); a text already stored is not added again."""
    rows = documents(docs, file)
    extra = parse_json_object(metadata, "--metadata") or {}
    dataset = open_dataset_or_remote(
        uri, create=True, embedder=chosen_embedder(model, model_option)
    )
    before = len(dataset)
    # One version: stopped while embedding, it writes nothing.
    with (
        progress(dataset_progress(dataset)),
        stderr_console().status(f"Embedding and adding {len(rows)} text(s)"),
    ):
        dataset.add(rows, metadatas=[extra] * len(rows))
    with stderr_console().status("Indexing"):
        dataset.wait_for_index()  # so the next command opens the saved indexes
    typer.echo(
        f"added {len(dataset) - before} new row(s) of {len(rows)}; version {dataset.version}"
    )


def index(
    uri: UriArgument,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Record how the vector index stores vectors and rebuild it so: flat (fastest "
            "search), compressed (8-bit codes, a quarter of the bytes, rescored from the data) "
            "or auto (compressed above a quarter of this machine's memory).",
            metavar="KIND",
        ),
    ] = None,
) -> None:
    """Build a dataset's vector and keyword indexes now and save them beside it."""
    dataset = open_dataset(uri, create=False)  # the indexes of a folder here, not a server's
    with stderr_console().status("Indexing"):
        dataset.refresh_index(storage=storage)
        dataset.wait_for_index()
    kind = dataset.index_storage
    shown = f"a {kind} vector index" if kind else "no vector index (few rows: searched exactly)"
    typer.echo(f"{len(dataset)} rows, version {dataset.version}: {shown}")


def info(uri: UriArgument, ref: RefOption = None, as_json: JsonOption = False) -> None:
    """Show a dataset's summary: path, version, embedder and its columns."""
    summary = _open(uri, ref).info()
    if as_json:
        typer.echo(json.dumps(to_json(summary)))
        return
    stdout_console().print(Text(str(summary)), soft_wrap=True)


def log(uri: UriArgument, ref: RefOption = None, as_json: JsonOption = False) -> None:
    """List a dataset's versions, oldest first, with messages, row counts and tags."""
    entries = _open(uri, ref).log()
    if as_json:
        rows = [
            {
                "version": e.version,
                "time": e.timestamp.isoformat(),
                "message": e.message,
                "rows": e.rows,
                "tags": list(e.tags),
            }
            for e in entries
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table()
    for name, justify in (
        ("version", "right"),
        ("time (UTC)", "left"),
        ("rows", "right"),
        ("tags", "left"),
        ("message", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for entry in entries:
        table.add_row(
            str(entry.version),
            entry.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            str(entry.rows),
            ", ".join(entry.tags),
            Text(entry.message),
        )
    stdout_console().print(table)


def commit(
    uri: UriArgument,
    message: Annotated[
        str, typer.Option("--message", "-m", help="What this version is.", metavar="MSG")
    ],
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="Also tag the new version.", metavar="NAME")
    ] = None,
) -> None:
    """Record a named version of the dataset (and optionally tag it)."""
    dataset = open_dataset_or_remote(uri)
    with progress(dataset_progress(dataset)):
        version = dataset.commit(message, tag=tag)  # checks the tag before committing
    typer.echo(f"committed version {version}" + (f" as {tag}" if tag else ""))


def checkout(
    uri: UriArgument,
    ref: Annotated[
        str, typer.Argument(help="A version number, tag or branch name.", metavar="REF")
    ],
) -> None:
    """Show the dataset as it is at REF (versions and tags are read-only, branches writable)."""
    dataset = _open(uri, ref)
    mode = "read-only" if dataset.read_only else "writable"
    stdout_console().print(
        Text(f"{ref}: version {dataset.version} on {dataset.branch_name}, {mode}\n")
    )
    stdout_console().print(Text(str(dataset.info())), soft_wrap=True)


def diff(
    uri: UriArgument,
    a: Annotated[str, typer.Argument(help="The older ref.", metavar="A")],
    b: Annotated[
        str | None, typer.Argument(help="The newer ref (default: latest).", metavar="B")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the ids added, removed and changed from A to B."""
    changes = open_dataset_or_remote(uri).diff(a, b)
    if as_json:
        typer.echo(
            json.dumps(
                {"added": changes.added, "removed": changes.removed, "changed": changes.changed}
            )
        )
        return
    console = stdout_console()
    for label, ids, sign in (
        ("added", changes.added, "+"),
        ("removed", changes.removed, "-"),
        ("changed", changes.changed, "~"),
    ):
        console.print(Text(f"{len(ids)} {label}", style="bold"))
        for row_id in ids:
            console.print(Text(f"  {sign} {row_id}"))


def search(
    uri: UriArgument,
    query: Annotated[str, typer.Argument(help="The text to search for.", metavar="QUERY")],
    k: Annotated[int, typer.Option("--k", "-k", help="How many hits.", metavar="N", min=1)] = 4,
    where: WhereOption = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="vector (embeddings), keyword (BM25) or hybrid (both, fused by rank).",
            metavar="MODE",
        ),
    ] = "vector",
    ref: RefOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search a dataset for the rows nearest to QUERY."""
    dataset = _open(uri, ref)
    where_filter = parse_json_object(where, "--where")
    hits = dataset.search(query, k=k, where=where_filter, mode=mode)  # type: ignore[arg-type]
    print_hits(hits, dataset.spec.metric if mode == "vector" else mode, as_json=as_json)


def print_hits(hits: list[Hit], metric: str, *, as_json: bool) -> None:
    """Hits as a ranked table (score, or distance for l2), or as a JSON list."""
    if as_json:
        rows = [
            {"rank": r, "id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata}
            for r, h in enumerate(hits, 1)
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    stdout_console().print(_hits_table(hits, metric))


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """The JSON object an option holds (None if not given); --where errors are FilterErrors."""
    if text is None:
        return None
    error = FilterError if option == "--where" else InvalidInput
    if text.startswith("@"):  # @FILE: a filter too long for a command line
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise error(f"{option} {text}: cannot read the file ({exc})") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{option} is not valid JSON ({exc.msg} at column {exc.colno}); quote it for your shell"
        ) from exc
    except RecursionError as exc:  # the parser recurses once per level of nesting
        allowed = (
            f"a filter nests $and, $or and $not {MAX_FILTER_DEPTH} levels at most"
            if option == "--where"
            else f"metadata nests dicts and lists {MAX_METADATA_DEPTH} levels at most"
        )
        raise error(f"{option} nests too deeply to be read; {allowed}") from exc
    if not isinstance(value, dict):
        raise error(f'{option} must be a JSON object, e.g. {{"lang": "en"}}')
    return value


def _hits_table(hits: list[Hit], metric: str) -> Table:
    table = Table()
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("distance" if metric == "l2" else "score", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("text", overflow="fold")
    table.add_column("metadata", overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(
            str(rank),
            f"{hit.score:.4f}",
            hit.id[:12],
            Text(hit.text),
            Text(json.dumps(hit.metadata, ensure_ascii=False)),
        )
    return table
