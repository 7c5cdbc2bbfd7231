"""Dataset commands: `shoal add`, `index`, `info`, `log`, `commit`, `checkout`, `diff`, `search`.

The command line is stateless: `checkout` shows a ref; `--ref` on `info`, `log` and
`search` reads one. Datasets on S3 take their credentials and endpoint from the
standard AWS_* environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from shoal.cli._console import (
    BranchOption,
    DocsOption,
    FileOption,
    LanguageOption,
    ModelOptions,
    RefOption,
    RerankOption,
    SearchMode,
    UriArgument,
    WhereOption,
    chosen_embedder,
    parse_json_object,
    stdout_console,
)
from shoal.cli._output import (
    DEFAULT_LIMIT,
    JsonOption,
    LimitOption,
    ShowMetadataOption,
    limited,
    more_line,
    print_hits,
    print_json,
)
from shoal.cli._progress import showing
from shoal.cli._remote import open_dataset_or_remote, open_local, shoal_command
from shoal.cli._signals import dataset_progress, progress
from shoal.cli._similar import documents
from shoal.client import RemoteDataset
from shoal.client._wire import to_json
from shoal.errors import InvalidInput
from shoal.store import Dataset

__all__ = ["add", "checkout", "commit", "diff", "index", "info", "log", "open_at", "search"]


def open_at(uri: str, ref: str | None = None) -> Dataset | RemoteDataset:
    """The dataset (here or on the server) at `ref`, or at its latest version."""
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
    row_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--id",
            help="An id for each text, in order (default: a hash of text and metadata); "
            "a row stored under that id is replaced.",
            metavar="ID",
        ),
    ] = None,
    language: LanguageOption = None,
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add texts to a dataset (created if new); a text already stored is not added again."""
    rows = documents(docs, file)
    if row_ids is not None and len(row_ids) != len(rows):
        raise InvalidInput(
            f"--id was given {len(row_ids)} time(s) for {len(rows)} text(s); give one --id "
            "per text, in the same order, or none"
        )
    extra = parse_json_object(metadata, "--metadata") or {}
    dataset = open_dataset_or_remote(
        uri,
        create=branch is None,
        embedder=chosen_embedder(model, model_option),
        language=language,
        branch=branch,
    )
    before = len(dataset)
    # One version: stopped while embedding, it writes nothing.
    with (
        progress(dataset_progress(dataset)),
        showing(f"add {len(rows)} text(s)"),
    ):
        ids = dataset.add(rows, metadatas=[extra] * len(rows), ids=row_ids)
    with showing("add"):
        dataset.wait_for_index()  # so the next command opens the saved indexes
    added, version = len(dataset) - before, dataset.version
    if as_json:
        print_json({"uri": uri, "added": added, "given": len(rows), "ids": ids, "version": version})
        return
    typer.echo(f"added {added} new row(s) of {len(rows)}; version {version}")


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
    as_json: JsonOption = False,
) -> None:
    """Build a dataset's vector and keyword indexes now and save them beside it."""
    dataset = open_local(uri, "index")  # the indexes of a folder here, not a server's
    with showing("index"):
        dataset.refresh_index(storage=storage)
        dataset.wait_for_index()
    kind = dataset.index_storage
    if as_json:
        print_json({"uri": uri, "rows": len(dataset), "version": dataset.version, "index": kind})
        return
    shown = f"a {kind} vector index" if kind else "no vector index (few rows: searched exactly)"
    typer.echo(f"{len(dataset)} rows, version {dataset.version}: {shown}")


def info(uri: UriArgument, ref: RefOption = None, as_json: JsonOption = False) -> None:
    """Show a dataset's summary: path, version, embedder and its columns."""
    summary = open_at(uri, ref).info()
    if as_json:
        print_json(to_json(summary))
        return
    stdout_console().print(Text(str(summary)), soft_wrap=True)


def log(
    uri: UriArgument,
    ref: RefOption = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List a dataset's versions, oldest first, with messages, row counts and tags (the
    latest --limit of them)."""
    entries = open_at(uri, ref).log()
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
        print_json(rows)
        return
    shown = entries if limit == 0 else entries[-limit:]
    console = stdout_console()
    if len(shown) < len(entries):
        earlier = len(entries) - len(shown)
        console.print(
            Text(f"{earlier:,} earlier version(s) not shown; --limit 0 or --json for all", "dim")
        )
    table = Table()
    for name, justify in (
        ("version", "right"),
        ("time (UTC)", "left"),
        ("rows", "right"),
        ("tags", "left"),
        ("message", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for entry in shown:
        table.add_row(
            str(entry.version),
            entry.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            str(entry.rows),
            ", ".join(entry.tags),
            Text(entry.message),
        )
    console.print(table)


def commit(
    uri: UriArgument,
    message: Annotated[
        str, typer.Option("--message", "-m", help="What this version is.", metavar="MSG")
    ],
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="Also tag the new version.", metavar="NAME")
    ] = None,
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a named version of the dataset (and optionally tag it)."""
    dataset = open_dataset_or_remote(uri, branch=branch)
    with progress(dataset_progress(dataset)):
        version = dataset.commit(message, tag=tag)  # checks the tag before committing
    if as_json:
        print_json({"uri": uri, "version": version, "message": message, "tag": tag})
        return
    typer.echo(f"committed version {version}" + (f" as {tag}" if tag else ""))


def checkout(
    uri: UriArgument,
    ref: Annotated[
        str, typer.Argument(help="A version number, tag or branch name.", metavar="REF")
    ],
    as_json: JsonOption = False,
) -> None:
    """Show the dataset as it is at REF (versions and tags are read-only, branches writable)."""
    dataset = open_at(uri, ref)
    mode = "read-only" if dataset.read_only else "writable"
    summary = dataset.info()
    if as_json:
        print_json({"ref": ref, "read_only": dataset.read_only, **to_json(summary)})
        return
    console = stdout_console()
    console.print(Text(f"{ref}: version {summary.version} on {summary.branch}, {mode}\n"))
    console.print(Text(str(summary)), soft_wrap=True)
    if dataset.read_only:
        restore = shoal_command("restore", uri, ref)
        console.print(Text(f"\n`{restore}` makes it the latest version again", style="dim"))


def diff(
    uri: UriArgument,
    a: Annotated[str, typer.Argument(help="The older ref.", metavar="A")],
    b: Annotated[
        str | None, typer.Argument(help="The newer ref (default: latest).", metavar="B")
    ] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List the ids added, removed and changed from A to B (the first --limit of each)."""
    changes = open_dataset_or_remote(uri).diff(a, b)
    if as_json:
        print_json(to_json(changes))
        return
    console = stdout_console()
    for label, ids, sign in (
        ("added", changes.added, "+"),
        ("removed", changes.removed, "-"),
        ("changed", changes.changed, "~"),
    ):
        console.print(Text(f"{len(ids):,} {label}", style="bold"))
        for row_id in limited(ids, limit):
            console.print(Text(f"  {sign} {row_id}"))
        more = more_line(len(limited(ids, limit)), len(ids))
        if more is not None:
            console.print(Text("  ").append_text(more))


def search(
    uri: UriArgument,
    query: Annotated[
        str | None,
        typer.Argument(help="The text to search for (or give --image).", metavar="[QUERY]"),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            help="Search by this image file instead of a text (datasets of images: CLIP, phash:v1).",
            dir_okay=False,
            metavar="PATH",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", help="How many hits.", metavar="N", min=1)] = 4,
    where: WhereOption = None,
    mode: Annotated[
        SearchMode,
        typer.Option(
            "--mode", help="vector (embeddings), keyword (BM25) or hybrid (both, fused by rank)."
        ),
    ] = SearchMode.vector,
    ref: RefOption = None,
    show_metadata: ShowMetadataOption = False,
    as_json: JsonOption = False,
    rerank: RerankOption = None,
) -> None:
    """Search a dataset for the rows nearest to QUERY (or to an --image): rank, score, id, source, snippet."""
    if (query is None) == (image is None):
        raise InvalidInput("give a QUERY text or --image PATH (one of them) to search for")
    dataset = open_at(uri, ref)
    where_filter = parse_json_object(where, "--where")
    if image is not None:
        if rerank:
            raise InvalidInput("--rerank reads texts: it cannot rerank a search by --image")
        if isinstance(dataset, RemoteDataset):
            raise InvalidInput(
                "--image searches a dataset on this machine; a served dataset takes text queries"
            )
        hits = dataset.search(image=image, k=k, where=where_filter, mode=mode.value)
        print_hits(
            hits, dataset.spec.metric, as_json=as_json, query=None, show_metadata=show_metadata
        )
        return
    assert query is not None
    if rerank:
        retriever = dataset.as_retriever(k=k, where=where_filter, mode=mode.value, rerank=rerank)
        hits = retriever.retrieve(query)
        metric = "rerank"
    else:
        hits = dataset.search(query, k=k, where=where_filter, mode=mode.value)
        metric = dataset.spec.metric if mode is SearchMode.vector else mode.value
    print_hits(hits, metric, as_json=as_json, query=query, show_metadata=show_metadata)
