"""Datasets as wholes: `shoal ls`, `stats` and `drop`."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from shoal.cli._console import (
    UriArgument,
    stderr_console,
    stdout_console,
)
from shoal.cli._output import (
    DEFAULT_LIMIT,
    JsonOption,
    LimitOption,
    more_line,
    one_line,
    print_json,
)
from shoal.cli._remote import open_local, server_client, shoal_command
from shoal.errors import InvalidInput, ShoalError
from shoal.store import datasets as list_datasets
from shoal.store import drop as drop_dataset
from shoal.store import open as open_dataset

__all__ = ["drop", "ls", "stats"]


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def ls(
    folder: Annotated[
        str | None,
        typer.Argument(
            help="A folder of datasets, or a dataset (default: the current folder; with --url: "
            "the server's datasets).",
            metavar="FOLDER",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the datasets in a folder (or on the server of --url): rows, version, embedder."""
    client = server_client()
    if client is not None:
        if folder is not None:
            raise InvalidInput(
                f"with --url, `shoal ls` lists the server's datasets: leave out {folder}"
            )
        names = client.datasets()
        if as_json:
            print_json([{"name": name} for name in names])
        else:
            for name in names:
                typer.echo(name)
        return
    found = [_describe(uri) for uri in list_datasets(folder or ".")]
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo(f"no datasets in {folder or '.'}")
        return
    table = Table()
    for name, justify in (("dataset", "left"), ("rows", "right"), ("version", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("embedder", overflow="fold")
    console = stdout_console()
    room = max(console.width - 40, 20)  # what the other columns and the borders leave
    for entry in found:
        if "error" in entry:
            failure = Text(one_line(f"error: {entry['error']}", room), "red")
            table.add_row(Text(entry["name"]), "", "", failure)
        else:
            rows, version = f"{entry['rows']:,}", str(entry["version"])
            table.add_row(Text(entry["name"]), rows, version, Text(entry["embedder"]))
    console.print(table)


def _describe(uri: str) -> dict[str, Any]:
    name = Path(uri).name if "://" not in uri else uri
    try:
        dataset = open_dataset(uri, create=False)
        return {
            "name": name,
            "uri": uri,
            "rows": len(dataset),
            "version": dataset.version,
            "embedder": dataset.spec.name,
        }
    except ShoalError as exc:  # one damaged dataset does not hide the others
        return {"name": name, "uri": uri, "error": str(exc)}


def stats(
    uri: UriArgument, limit: LimitOption = DEFAULT_LIMIT, as_json: JsonOption = False
) -> None:
    """Show a dataset's numbers: rows, versions, size on disk, vector index, metadata keys."""
    with stderr_console().status("Measuring"):
        measured = open_local(uri, "stats").stats()
    if as_json:
        print_json(dataclasses.asdict(measured))
        return
    table = Table(show_header=False, box=None, title=f"{measured.uri}", title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("version", f"{measured.version} on {measured.branch}")
    table.add_row("rows", f"{measured.rows:,}")
    table.add_row(
        "versions",
        f"{measured.versions:,} on disk, {measured.tags:,} tag(s), {measured.branches:,} "
        "other branch(es)",
    )
    size = measured.bytes_on_disk
    table.add_row("size on disk", _bytes(size) if size is not None else "not a local folder")
    if measured.index_version is None:
        index = f"none saved; `{shoal_command('index', uri)}` builds one"
    else:
        index = f"{measured.index_rows:,} vectors, saved at version {measured.index_version}"
    table.add_row("vector index", f"{index} (storage: {measured.index_storage})")
    keys = list(measured.metadata_keys.items())
    shown = keys if limit == 0 else keys[:limit]
    table.add_row(
        "metadata keys",
        ", ".join(f"{key} ({count:,})" for key, count in shown) or "none",
    )
    console = stdout_console()
    console.print(table)
    more = more_line(len(shown), len(keys), "key(s)")
    if more is not None:
        console.print(more)


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({size:,} bytes)"
        value /= 1000
    raise AssertionError("unreachable")  # the loop returns at GB


def drop(
    uri: UriArgument,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking (needed off a terminal).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a dataset with every version, tag, branch and index; asks first on a terminal."""
    dataset = open_local(uri, "drop")  # DatasetNotFound (exit 2) before asking anything
    rows, versions = len(dataset), len(dataset.log())
    what = f"{dataset.uri} ({rows:,} rows, {versions:,} version(s), every tag and branch)"
    if not yes:
        if not _stdin_is_terminal():
            raise InvalidInput(
                f"`shoal drop` deletes {what} for good: pass --yes to confirm (it asks only "
                "on a terminal)"
            )
        if not typer.confirm(f"Delete {what}? This cannot be undone", default=False):
            stderr_console().print(Text("nothing deleted"))
            raise typer.Exit(code=1)
    drop_dataset(dataset.uri)
    if as_json:
        print_json({"uri": dataset.uri, "dropped": True, "rows": rows, "versions": versions})
        return
    typer.echo(f"deleted {what}")
