"""`shoal embed`: texts in, vectors out as JSON or a NumPy .npy array."""

from __future__ import annotations

import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.text import Text

from shoal.cli._console import (
    ModelOption,
    ModelOptions,
    build_embedder,
    stderr_console,
    stdin_lines,
    stdout_console,
)
from shoal.cli._progress import showing
from shoal.cli._signals import held
from shoal.embeddings import DEFAULT_EMBEDDER
from shoal.errors import ConfigurationError, InvalidInput

__all__ = ["OutputFormat", "embed"]

STDIN = "-"


class OutputFormat(str, Enum):
    """How `shoal embed` writes the vectors."""

    json = "json"
    npy = "npy"
    preview = "preview"


PREVIEW_DIMENSIONS = 5


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _collect_texts(texts: list[str]) -> list[str]:
    if texts.count(STDIN) > 1:
        raise InvalidInput("'-' (read standard input) can be given only once")
    collected: list[str] = []
    for text in texts:
        if text == STDIN:
            lines = stdin_lines()
            if not lines:
                raise InvalidInput(
                    "no texts on standard input; pipe in one text per line, e.g. "
                    "`cat texts.txt | shoal embed -`"
                )
            collected.extend(lines)
        else:
            collected.append(text)
    return collected


def _write(path: Path, data: bytes) -> None:
    try:
        with held():  # a signal waits for the whole file
            path.write_bytes(data)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write {path}: {exc.strerror or exc}; choose another --output path"
        ) from exc


def _preview(texts: list[str], vectors: np.ndarray, name: str, output: Path | None) -> None:
    width = vectors.shape[1]
    lines = [
        f"{name}: {len(texts)} vector(s) of {width} dimensions; the first {PREVIEW_DIMENSIONS}:"
    ]
    for text, vector in zip(texts, vectors, strict=True):
        head = ", ".join(f"{value:.4f}" for value in vector[:PREVIEW_DIMENSIONS])
        lines.append(f"{text}\n  [{head}, ...]")
    if output is not None:
        _write(output, ("\n".join(lines) + "\n").encode("utf-8"))
        return
    console = stdout_console()
    for line in lines:
        console.print(Text(line), soft_wrap=True)


def embed(
    texts: Annotated[
        list[str],
        typer.Argument(
            help="Texts to embed. '-' reads one text per line from standard input "
            "(blank lines are skipped).",
            metavar="TEXT",
            show_default=False,
        ),
    ],
    model: ModelOption = DEFAULT_EMBEDDER,
    model_option: ModelOptions = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="json: an object with model, dimensions and embeddings; "
            "npy: a float32 NumPy array of shape (texts, dimensions); "
            "preview: each text with its first 5 dimensions, for reading.",
            case_sensitive=False,
        ),
    ] = OutputFormat.json,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write to instead of standard output (needed for npy on a terminal).",
            dir_okay=False,
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="The same as --format json (the default): one JSON object."),
    ] = False,
) -> None:
    """Embed texts and write their vectors as JSON or a .npy array."""
    if as_json and output_format is not OutputFormat.json:
        raise ConfigurationError(
            f"--json writes JSON, --format {output_format.value} something else: give one of them"
        )
    items = _collect_texts(texts)
    if output_format is OutputFormat.npy and output is None and _stdout_is_terminal():
        # Checked before loading a model, so the mistake costs nothing.
        raise ConfigurationError(
            "refusing to write binary .npy data to a terminal; "
            "pass --output FILE or redirect standard output to a file"
        )
    model_embedder = build_embedder(model, model_option)
    console = stderr_console()
    with showing(f"embed {len(items):,} text(s) with {model}"):
        vectors = model_embedder.embed_documents(items)
    spec = model_embedder.spec

    if output_format is OutputFormat.preview:
        _preview(items, vectors, spec.name, output)
        return

    if output_format is OutputFormat.npy:
        if output is None:
            sys.stdout.flush()
            np.save(sys.stdout.buffer, vectors)
            sys.stdout.buffer.flush()
            return
        # A buffer, not the path: np.save would add '.npy' to a name without it.
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        _write(output, buffer.getvalue())
    else:
        document = {
            "model": spec.name,
            "dimensions": spec.dimensions,
            "embeddings": vectors.tolist(),
        }
        text = json.dumps(document)
        if output is None:
            typer.echo(text)
            return
        _write(output, (text + "\n").encode("utf-8"))
    note = f"wrote {len(items)} vector(s) of {spec.dimensions} dimensions to {output}"
    console.print(Text(note, style="dim"), soft_wrap=True)
