"""Reading rows: `shoal get` (rows by id, or a listing), and the batched reads `export` shares."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

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
    ID_WIDTH,
    JsonOption,
    LimitOption,
    more_line,
    one_line,
    print_json,
    snippet,
)
from shoal.cli._remote import shoal_command
from shoal.cli._store import open_at
from shoal.client import RemoteDataset
from shoal.errors import InvalidInput
from shoal.store import Dataset, Record

__all__ = [
    "GET_BATCH",
    "SHORT_ID_MIN",
    "VectorsOption",
    "full_ids",
    "get",
    "record_json",
    "records",
]

GET_BATCH = 1_000
"""Rows read per `get` call when a command reads many (an `id IN (...)` filter each)."""
VectorsOption = Annotated[
    bool, typer.Option("--vectors", help="Include each row's embedding (JSON output only).")
]


SHORT_ID_MIN = 4
"""The shortest id prefix taken for a whole id (listings show 12 characters)."""


def full_ids(dataset: Dataset | RemoteDataset, ids: Sequence[str]) -> list[str]:
    """`ids`, each short one (a prefix of SHORT_ID_MIN or more characters that only one
    stored id starts with, as listings show them) made whole; ids matching nothing stay."""
    stored = {row["id"] for row in dataset.select(["id"], where={"id": {"$in": list(ids)}})}
    whole = []
    for given in ids:
        if given in stored or len(given) < SHORT_ID_MIN:
            whole.append(given)
            continue
        found = dataset.select(["id"], where={"id": {"$startswith": given}}, limit=2)
        if len(found) > 1:
            raise InvalidInput(
                f"the short id {given!r} starts more than one id ({found[0]['id']}, "
                f"{found[1]['id']}, ...): give more of it"
            )
        whole.append(found[0]["id"] if found else given)
    return whole


def records(dataset: Dataset | RemoteDataset, ids: Sequence[str]) -> Iterator[list[Record]]:
    """The rows with `ids`, in order, read in batches of GET_BATCH."""
    for start in range(0, len(ids), GET_BATCH):
        yield dataset.get(list(ids[start : start + GET_BATCH]))


def record_json(record: Record, *, vectors: bool) -> dict[str, Any]:
    """A row as JSON: id, text, metadata, extra columns (binary ones as their size), and its
    embedding if `vectors`."""
    extras = {
        name: {"bytes": len(value)} if isinstance(value, bytes) else value
        for name, value in record.extras.items()
    }
    row: dict[str, Any] = {"id": record.id, "text": record.text, "metadata": record.metadata}
    if extras:
        row["extras"] = extras
    if vectors:
        row["embedding"] = [float(v) for v in record.embedding]
    return row


def get(
    uri: UriArgument,
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Ids of the rows to show (default: list the rows).", metavar="ID..."),
    ] = None,
    where: WhereOption = None,
    ref: RefOption = None,
    limit: LimitOption = DEFAULT_LIMIT,
    vectors: VectorsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show rows by id (or the short ids listings show), whole; without ids, list the rows
    (those matching --where), one line each."""
    if ids and where is not None:
        raise InvalidInput("give ids or --where, not both")
    dataset = open_at(uri, ref)
    if ids:
        ids = full_ids(dataset, ids)
        found = dataset.get(ids)
        missing = sorted(set(ids) - {r.id for r in found})
        if not found:
            raise InvalidInput(
                f"no row of {uri} has the id(s) {', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''}; list them with `{shoal_command('get', uri)}`"
            )
        if missing:
            stderr_console().print(
                Text(f"warning: {len(missing)} id(s) not found: {', '.join(missing[:5])}", "yellow")
            )
        if as_json:
            print_json([record_json(r, vectors=vectors) for r in found])
        else:
            _print_records(found)
        return
    where_filter = parse_json_object(where, "--where")
    every = [row["id"] for row in dataset.select(["id"], where=where_filter)]
    chosen = every if as_json or limit == 0 else every[:limit]
    if as_json:
        print_json(
            [record_json(r, vectors=vectors) for batch in records(dataset, chosen) for r in batch]
        )
        return
    console = stdout_console()
    console.print(Text(f"{len(every):,} row(s)", style="bold"))
    width = max(console.width - ID_WIDTH - 2, 20)
    for batch in records(dataset, chosen):
        for record in batch:
            line = Text(record.id[:ID_WIDTH] + "  ", style="cyan")
            console.print(line.append_text(snippet(record.text, (), width)), no_wrap=True)
    more = more_line(len(chosen), len(every))
    if more is not None:
        console.print(more)


def _print_records(found: list[Record]) -> None:
    console = stdout_console()
    for number, record in enumerate(found):
        if number:
            console.print()
        console.print(Text(record.id, style="bold cyan"))
        console.print(Text(record.text), soft_wrap=True)
        _print_fields(console, "metadata", record.metadata)
        _print_fields(console, "column", record.extras)


def _print_fields(console: Console, kind: str, values: dict[str, Any]) -> None:
    for name, value in values.items():
        label = f"  {kind} {name}: "
        if isinstance(value, bytes):
            shown = f"<bytes {len(value):,}>"
        else:
            room = max(console.width - len(label), 20)
            shown = one_line(json.dumps(value, ensure_ascii=False, default=str), room)
        console.print(Text(label + shown, style="dim"), no_wrap=True)
