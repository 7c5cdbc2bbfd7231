"""What the commands share: Rich consoles made per call, plain-text input, common options.

Consoles are built when a command runs, not at import, so they write to whatever
`sys.stdout` / `sys.stderr` are at that moment (a pipe, a terminal, a test runner).
"""

from __future__ import annotations

import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shoal.embeddings import DEFAULT_EMBEDDER, Embedder, embedder
from shoal.errors import ConfigurationError, FilterError, InvalidInput
from shoal.store import MAX_FILTER_DEPTH, MAX_METADATA_DEPTH

__all__ = [
    "BranchOption",
    "DocsOption",
    "FileOption",
    "LanguageOption",
    "ModelOption",
    "ModelOptions",
    "RayOption",
    "RefOption",
    "SearchMode",
    "UriArgument",
    "WhereOption",
    "WorkersOption",
    "build_embedder",
    "chosen_embedder",
    "model_options",
    "non_blank_lines",
    "parse_json_object",
    "stderr_console",
    "stdin_lines",
    "stdout_console",
]

_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")

UriArgument = Annotated[
    str,
    typer.Argument(
        help="The dataset: a folder, memory://name or s3://bucket/prefix (with --url: its name "
        "on the server).",
        metavar="URI",
    ),
]
"""The dataset a command works on."""

RefOption = Annotated[
    str | None,
    typer.Option(
        "--ref", "-r", help="Read this version, tag or branch instead of the latest.", metavar="REF"
    ),
]
"""A past version, tag or branch to read."""

BranchOption = Annotated[
    str | None,
    typer.Option(
        "--branch",
        "-b",
        help="Write to this branch (made by `shoal branch URI NAME`) instead of main.",
        metavar="NAME",
    ),
]
"""The branch a write goes to."""

RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run on a Ray cluster (pip install 'shoal[ray]'): 'local' starts one here, "
        "'auto' joins this machine's, or ray://HEAD:10001; the job is still one version.",
        metavar="ADDRESS",
    ),
]
"""The Ray cluster a job runs on (`shoal.distributed`)."""

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="With --ray: actors, each with its own model session (default 2).",
        metavar="N",
        min=1,
        show_default=False,
    ),
]
"""How many Ray actors a job uses."""


class SearchMode(str, Enum):
    """How a search ranks rows: by embedding, by BM25 over the text, or both fused."""

    vector = "vector"
    keyword = "keyword"
    hybrid = "hybrid"


WhereOption = Annotated[
    str | None,
    typer.Option(
        "--where",
        "-w",
        help='Only rows matching this JSON filter, e.g. \'{"year": {"$gte": 2000}}\', '
        "or @FILE to read it from a file (long $in lists).",
        metavar="JSON",
    ),
]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Embedder to use, as provider:model (e.g. local:all-mpnet-base-v2, hash:64).",
        metavar="NAME",
    ),
]
"""The --model option of every command that embeds."""

ModelOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--model-option",
        "-O",
        help="A provider option as KEY=VALUE, repeatable: dimensions=256, "
        "base_url=http://localhost:11434/v1, api_key_env=MY_KEY. Values are read as JSON "
        "when they parse, else as text.",
        metavar="KEY=VALUE",
        show_default=False,
    ),
]
"""Keyword options for the embedder named by --model."""

LanguageOption = Annotated[
    str | None,
    typer.Option(
        "--language",
        help="Language keyword search analyses a new dataset's text in: english (default), "
        "german, russian, arabic, chinese, japanese, ... (stemmers of Snowball; CJK and Thai "
        "as character bigrams), standard (no stemming: many languages), or auto (detected "
        "from the first rows). An existing dataset keeps its own.",
        metavar="LANG",
    ),
]
"""The keyword analyser's language of a dataset the command creates."""

DocsOption = Annotated[
    list[str] | None,
    typer.Option("--doc", "-d", help="A text; repeat for more.", show_default=False),
]
"""Texts given on the command line (commands that take several)."""

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="A UTF-8 file with one text per non-blank line ('-' for standard input).",
        dir_okay=False,
        metavar="FILE",
        show_default=False,
    ),
]
"""Texts read from a file, one per line (instead of --doc)."""


def stdout_console() -> Console:
    """A console on standard output, for tables; no automatic highlighting of user text."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """A console on standard error, for errors, progress and notes."""
    return Console(stderr=True, highlight=False)


def non_blank_lines(text: str) -> list[str]:
    """The lines of `text` with surrounding whitespace removed, blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def stdin_lines() -> list[str]:
    """Standard input read to its end, one text per non-blank line."""
    return non_blank_lines(sys.stdin.read())


def model_options(pairs: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE strings as keyword options; a value is JSON if it parses, else text."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigurationError(
                f"--model-option takes KEY=VALUE, like dimensions=256; got {pair!r}"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        options[key.strip()] = value
    return options


def build_embedder(name: str, pairs: list[str] | None) -> Embedder:
    """The embedder --model names, built with its --model-option values."""
    try:
        return embedder(name, **model_options(pairs))
    except TypeError as exc:
        unknown = _UNEXPECTED.search(str(exc))
        which = f"--model-option {unknown.group(1)}" if unknown else "those --model-option values"
        raise ConfigurationError(
            f"{name} does not take {which}; `shoal models` and the README list each "
            "provider's options"
        ) from exc


def chosen_embedder(name: str | None, pairs: list[str] | None) -> str | Embedder | None:
    """The --model name as is (a dataset may keep its own), or built when options are given."""
    return build_embedder(name or DEFAULT_EMBEDDER, pairs) if pairs else name


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


RerankOption = Annotated[
    str | None,
    typer.Option(
        "--rerank",
        help="Rerank the best candidates (max(k, 20)) with a reranker: "
        "cross-encoder:<model or folder> (ONNX, offline once cached) or llm:<answerer>, "
        "e.g. llm:local:/path/model.gguf. Scores are then the reranker's.",
        metavar="NAME",
        show_default=False,
    ),
]
