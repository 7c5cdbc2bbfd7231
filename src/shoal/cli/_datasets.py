"""Datasets as wholes: `shoal ls`, `stats`, `export` and `drop`."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.table import Table
from rich.text import Text

from shoal._atomic import atomic_write
from shoal.cli._console import (
    RefOption,
    UriArgument,
    WhereOption,
    parse_json_object,
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
from shoal.cli._rows import VectorsOption, record_json, records
from shoal.cli._signals import held
from shoal.cli._store import open_at
from shoal.errors import InvalidInput, ShoalError
from shoal.store import Record
from shoal.store import datasets as list_datasets
from shoal.store import drop as drop_dataset
from shoal.store import open as open_dataset

__all__ = ["EXPORT_FORMATS", "drop", "export", "ls", "stats"]

EXPORT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".csv": "csv"}
"""The file suffixes `shoal export` writes, and the format each names."""


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


def export(
    uri: UriArgument,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The file to write; its suffix picks the format: .jsonl, .parquet or .csv.",
            dir_okay=False,
            metavar="FILE",
        ),
    ],
    where: WhereOption = None,
    ref: RefOption = None,
    vectors: VectorsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the rows (id, text, metadata; --vectors adds embeddings) to a JSONL, Parquet or CSV file."""
    kind = EXPORT_FORMATS.get(out.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"--out {out}: the suffix picks the format; use .jsonl, .parquet or .csv"
        )
    dataset = open_at(uri, ref)
    if ref is None:  # every page from one version, whatever writers do meanwhile
        dataset = dataset.checkout(dataset.version)
    ids = [row["id"] for row in dataset.select(["id"], where=parse_json_object(where, "--where"))]
    dimensions = dataset.spec.dimensions
    with stderr_console().status(f"Exporting {len(ids):,} row(s)"):
        batches = records(dataset, ids)
        writer = {"jsonl": _jsonl, "parquet": _parquet, "csv": _csv}[kind]
        try:
            with held():  # the file is written whole or not at all
                atomic_write(out, writer(batches, vectors, dimensions))
        except OSError as exc:
            raise InvalidInput(
                f"cannot write {out}: {exc.strerror or exc}; choose another --out path"
            ) from exc
    columns = "id, text, metadata" + (", embedding" if vectors else "")
    if as_json:
        print_json(
            {"uri": uri, "out": str(out), "format": kind, "rows": len(ids),
             "version": dataset.version, "columns": columns.split(", ")}
        )  # fmt: skip
        return
    typer.echo(
        f"exported {len(ids):,} row(s) of version {dataset.version} to {out} ({kind}: {columns})"
    )


_Writer = Callable[[str], None]


def _jsonl(batches: Iterator[list[Record]], vectors: bool, dimensions: int) -> _Writer:
    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for batch in batches:
                for record in batch:
                    row = record_json(record, vectors=vectors)
                    row.pop("extras", None)
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    return write


def _csv(batches: Iterator[list[Record]], vectors: bool, dimensions: int) -> _Writer:
    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["id", "text", "metadata"] + (["embedding"] if vectors else []))
            for batch in batches:
                for record in batch:
                    row = [record.id, record.text, json.dumps(record.metadata, ensure_ascii=False)]
                    if vectors:
                        row.append(json.dumps([float(v) for v in record.embedding]))
                    out.writerow(row)

    return write


def _parquet(batches: Iterator[list[Record]], vectors: bool, dimensions: int) -> _Writer:
    fields = [
        pa.field("id", pa.string()),
        pa.field("text", pa.string()),
        pa.field("metadata", pa.string()),
    ]
    if vectors:
        fields.append(pa.field("embedding", pa.list_(pa.float32(), dimensions)))
    schema = pa.schema(fields)

    def write(path: str) -> None:
        with pq.ParquetWriter(path, schema) as sink:
            for batch in batches:
                columns: list[Any] = [
                    [r.id for r in batch],
                    [r.text for r in batch],
                    [json.dumps(r.metadata, ensure_ascii=False) for r in batch],
                ]
                if vectors:
                    columns.append([r.embedding.tolist() for r in batch])
                sink.write_table(pa.table(columns, schema=schema))
            # An empty export still writes a readable file with the schema.

    return write


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
