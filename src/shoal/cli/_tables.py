"""Tables in and out: `shoal export` (rows to Parquet, JSON lines or CSV) and `shoal import`."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

from shoal._atomic import atomic_write
from shoal.cli._console import (
    BranchOption,
    RefOption,
    UriArgument,
    WhereOption,
    model_options,
    parse_json_object,
    stderr_console,
)
from shoal.cli._output import JsonOption, print_json
from shoal.cli._remote import open_local
from shoal.cli._rows import VectorsOption, records
from shoal.cli._signals import held
from shoal.cli._store import open_at
from shoal.client import RemoteDataset
from shoal.errors import InvalidInput
from shoal.store import Dataset, from_arrow
from shoal.store._interchange import IMPORT_BATCH_ROWS, content_types
from shoal.store._records import CONTENT_TYPE_KEY

__all__ = ["EXPORT_FORMATS", "export", "import_"]

EXPORT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".csv": "csv"}
"""The file suffixes `shoal export` writes and `shoal import` reads, and the format each names."""
_FORMATS = ("jsonl", "parquet", "csv")

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="jsonl, parquet or csv (default: the file's suffix).",
        metavar="FORMAT",
        show_default=False,
    ),
]


def _format(path: Path, given: str | None, option: str) -> str:
    if given is not None:
        if given.lower() not in _FORMATS:
            raise InvalidInput(f"--format {given}: use jsonl, parquet or csv")
        return given.lower()
    kind = EXPORT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"{option} {path}: the suffix picks the format; use .jsonl, .parquet or .csv "
            "(or say --format)"
        )
    return kind


# ---------------------------------------------------------------------- export
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
    file_format: FormatOption = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            help="Comma-separated columns or metadata fields (dotted paths reach inside), "
            "e.g. id,text,topic. Default: id, text, metadata and the extra columns.",
            metavar="NAMES",
        ),
    ] = None,
    where: WhereOption = None,
    ref: RefOption = None,
    vectors: VectorsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the rows (id, text, metadata, extra columns; --vectors adds embeddings) to a
    JSON lines, Parquet or CSV file that `shoal import` reads back."""
    kind = _format(out, file_format, "--out")
    dataset = open_at(uri, ref)
    if ref is None:  # every batch from one version, whatever writers do meanwhile
        dataset = dataset.checkout(dataset.version)
    condition = parse_json_object(where, "--where")
    names = _export_columns(dataset, columns, vectors, kind)
    if isinstance(dataset, RemoteDataset):
        schema, batches = _remote_batches(dataset, names, condition)
    else:
        reader = dataset.to_batches(columns=names, where=condition)
        schema, batches = reader.schema, iter(reader)
    counted = _Counted(batches)
    with stderr_console().status(f"Exporting rows of version {dataset.version}"):
        writer = {"jsonl": _jsonl, "parquet": _parquet, "csv": _csv}[kind]
        try:
            with held():  # the file is written whole or not at all
                atomic_write(out, writer(schema, counted))
        except OSError as exc:
            raise InvalidInput(
                f"cannot write {out}: {exc.strerror or exc}; choose another --out path"
            ) from exc
    if as_json:
        print_json(
            {"uri": uri, "out": str(out), "format": kind, "rows": counted.rows,
             "version": dataset.version, "columns": names}
        )  # fmt: skip
        return
    typer.echo(
        f"exported {counted.rows:,} row(s) of version {dataset.version} to {out} "
        f"({kind}: {', '.join(names)})"
    )


class _Counted:
    """Batches passed through, counting their rows."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.batches = batches
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self.batches:
            self.rows += batch.num_rows
            yield batch


def _export_columns(
    dataset: Dataset | RemoteDataset, given: str | None, vectors: bool, kind: str
) -> list[str]:
    if given is not None:
        names = [n.strip() for n in given.split(",") if n.strip()]
        if not names:
            raise InvalidInput("--columns names no column: e.g. --columns id,text,topic")
        return names + (["embedding"] if vectors and "embedding" not in names else [])
    names = ["id", "text", "metadata", *(["embedding"] if vectors else [])]
    if isinstance(dataset, RemoteDataset):
        return names
    schema = dataset.schema
    extras = [f.name for f in schema if f.name not in ("id", "text", "embedding", "metadata")]
    if kind == "csv":  # a CSV cell holds text: binary columns are left to Parquet and JSON lines
        extras = [n for n in extras if not pa.types.is_large_binary(schema.field(n).type)]
    return names + extras


def _remote_batches(
    dataset: RemoteDataset, names: list[str], where: dict[str, Any] | None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """A served dataset's rows in `names` (id, text, metadata, embedding) as Arrow batches."""
    allowed = ("id", "text", "metadata", "embedding")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise InvalidInput(
            f"a served dataset exports {', '.join(allowed)}; not {', '.join(unknown)}: "
            "export on the server's machine for other columns"
        )
    dimensions = dataset.spec.dimensions
    types = {"id": pa.string(), "text": pa.string(), "metadata": pa.string(),
             "embedding": pa.list_(pa.float32(), dimensions)}  # fmt: skip
    schema = pa.schema([pa.field(n, types[n]) for n in names])
    ids = [row["id"] for row in dataset.select(["id"], where=where)]

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in records(dataset, ids):
            values = {
                "id": [r.id for r in batch],
                "text": [r.text for r in batch],
                "metadata": [json.dumps(r.metadata, ensure_ascii=False) for r in batch],
                "embedding": [r.embedding.tolist() for r in batch],
            }
            yield pa.record_batch([values[n] for n in names], schema=schema)

    return schema, batches()


_Writer = Callable[[str], None]


def _binary_json(value: bytes, content_type: str) -> dict[str, str]:
    """A binary value in JSON lines: ``{"$binary": base64, "content_type": ...}``."""
    return {"$binary": base64.b64encode(value).decode("ascii"), "content_type": content_type}


def _jsonl(schema: pa.Schema, batches: _Counted) -> _Writer:
    binary = content_types(schema)

    def value(name: str, item: Any) -> Any:
        if item is None:
            return None
        if name in binary:
            return _binary_json(item, binary[name])
        if name == "metadata":
            return json.loads(item)
        return item

    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for batch in batches:
                for row in batch.to_pylist():
                    line = {k: value(k, v) for k, v in row.items()}
                    handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    return write


def _csv(schema: pa.Schema, batches: _Counted) -> _Writer:
    binary = content_types(schema)
    if binary:
        raise InvalidInput(
            f"a CSV cell holds text, not the binary column(s) {', '.join(binary)}: write "
            ".parquet or .jsonl, or leave them out of --columns"
        )

    def cell(item: Any) -> Any:
        if isinstance(item, (list, dict)):
            return json.dumps(item, ensure_ascii=False)
        return "" if item is None else item

    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(schema.names)
            for batch in batches:
                for row in batch.to_pylist():
                    out.writerow([cell(row[name]) for name in schema.names])

    return write


def _parquet(schema: pa.Schema, batches: _Counted) -> _Writer:
    def write(path: str) -> None:
        # An empty export still writes a readable file with the schema.
        with pq.ParquetWriter(path, schema) as sink:
            for batch in batches:
                sink.write_batch(batch)

    return write


# ---------------------------------------------------------------------- import
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .parquet, .jsonl or .csv file with a text column (`shoal export` writes them).",
            exists=True,
            dir_okay=False,
            metavar="FILE",
        ),
    ],
    into: Annotated[
        str,
        typer.Option(
            "--into", "-i", help="The dataset to add the rows to (made if new).", metavar="URI"
        ),
    ],
    file_format: FormatOption = None,
    text: Annotated[
        str, typer.Option("--text-column", help="The column holding the text.", metavar="NAME")
    ] = "text",
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column", help="Row ids (default: a column named id, if any).", metavar="NAME"
        ),
    ] = None,
    embedding: Annotated[
        str | None,
        typer.Option(
            "--embedding-column",
            help="Precomputed vectors (default: a column named embedding, if any; else the "
            "texts are embedded).",
            metavar="NAME",
        ),
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata-column",
            help="A JSON-object column holding each row's metadata (default: metadata, if any).",
            metavar="NAME",
        ),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="A column to keep as an extra column, repeatable (default: the binary ones "
            "and those `shoal export` wrote). Every other column becomes a metadata field.",
            metavar="NAME",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Embedder for a new dataset (default: the one a Shoal export names, else local MiniLM).",
            metavar="NAME",
        ),
    ] = None,
    model_option: Annotated[
        list[str] | None,
        typer.Option(
            "--model-option", "-M", help="An embedder option as KEY=VALUE.", metavar="KEY=VALUE"
        ),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", help="The version's message.", metavar="TEXT")
    ] = None,
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add the rows of a Parquet, JSON lines or CSV file to a dataset, as one version."""
    kind = _format(file, file_format, "FILE")
    table = {"parquet": _read_parquet, "jsonl": _read_jsonl, "csv": _read_csv}[kind](
        file, embedding
    )
    embedder: Any = None
    if model is not None:
        from shoal.embeddings import embedder as build

        embedder = build(model, **model_options(model_option))
    how: dict[str, Any] = {
        "text": text,
        "id": id_column,
        "embedding": embedding,
        "metadata": metadata,
        "columns": extra,
        "message": message or f"import {file.name}",
    }
    with stderr_console().status(f"Importing {file.name}"):
        if branch is None:
            dataset = from_arrow(table, into, embedder=embedder, **how)
        else:  # a branch of an existing dataset: its embedder
            dataset = open_local(into, "import", branch)
            dataset.add_table(table, **how)
    rows = len(dataset)
    if as_json:
        print_json({"uri": into, "file": str(file), "format": kind, "rows": rows,
                    "version": dataset.version})  # fmt: skip
        return
    typer.echo(f"imported {file} into {into}: {rows:,} row(s) now, version {dataset.version}")


def _read_parquet(path: Path, embedding: str | None) -> pa.RecordBatchReader:
    try:
        source = pq.ParquetFile(path)
        schema = source.schema_arrow
        return pa.RecordBatchReader.from_batches(
            schema, source.iter_batches(batch_size=IMPORT_BATCH_ROWS)
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path} is not a readable Parquet file: {exc}") from exc


def _read_jsonl(path: Path, embedding: str | None) -> pa.Table:
    rows: list[dict[str, Any]] = []
    content_types: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"{path} line {number} is not JSON ({exc.msg} at column {exc.colno}); "
                    "each line must be one JSON object"
                ) from exc
            if not isinstance(row, dict):
                raise InvalidInput(f"{path} line {number} is not a JSON object")
            for key, value in row.items():
                if isinstance(value, dict) and "$binary" in value:
                    content_types.setdefault(key, str(value.get("content_type") or ""))
                    row[key] = base64.b64decode(value["$binary"])
                elif key == "metadata" and isinstance(value, dict):
                    row[key] = json.dumps(value, ensure_ascii=False)  # one type for every row
            rows.append(row)
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"{path}: a column holds values of different types: {exc}") from exc
    fields = [
        f.with_metadata({CONTENT_TYPE_KEY: content_types[f.name].encode()})
        if content_types.get(f.name)
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _read_csv(path: Path, embedding: str | None) -> pa.Table:
    try:
        table = pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path} is not a readable CSV file: {exc}") from exc
    name = embedding or ("embedding" if "embedding" in table.column_names else None)
    if name is None or name not in table.column_names:
        return table
    vectors = []
    for number, cell in enumerate(table.column(name).to_pylist(), start=2):
        try:
            vectors.append(None if cell in (None, "") else json.loads(cell))
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidInput(
                f"{path} line {number}: column {name!r} is not a JSON list of numbers"
            ) from exc
    index = table.column_names.index(name)
    return table.set_column(index, name, pa.array(vectors, pa.list_(pa.float32())))
