"""Errors in the command line's terms: one exit-code table, and messages that name flags.

Exit codes (the README's table):

====  =====================================================================================
0     success
1     a runtime failure: a full disk, a read-only folder, a damaged dataset, a provider or
      server that failed, refused the request or cannot be reached, a write that other
      writers kept waiting
2     a usage or configuration problem you can fix: a bad option or argument, input,
      filter, setting, key or name (a missing dataset, an unknown ref, a refused API key,
      a --model other than the dataset's)
130   interrupted by Ctrl-C (SIGINT); 143 by SIGTERM
====  =====================================================================================

The library's messages are written for Python users. Most read as well on the command
line; where one names a keyword argument (``threshold=``) that the running command takes
as an option, `cli_message` names the option (``--threshold``) instead, and a few phrases
that name a Python call are put as the shoal command that does the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

from typer.models import OptionInfo

from shoal.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetNotFound,
    EmbedderMismatch,
    InvalidInput,
    ReadOnlyDataset,
    RefNotFound,
    ShoalError,
)

__all__ = ["USAGE_ERRORS", "cli_message", "command_options", "exit_code"]

USAGE_ERRORS: tuple[type[ShoalError], ...] = (
    ConfigurationError,
    InvalidInput,
    AuthenticationError,
    DatasetNotFound,
    RefNotFound,
    EmbedderMismatch,
    ReadOnlyDataset,
)
"""The errors that exit 2: the user can fix them by changing the command or its settings."""


def exit_code(error: ShoalError) -> int:
    """2 for a usage or configuration problem the user can fix, 1 for other failures."""
    return 2 if isinstance(error, USAGE_ERRORS) else 1


# Keyword arguments whose command-line option has another name.
_ALIASES = {"embedder": "model", "ids": "id"}
# Embedder keyword arguments, given on the command line as --model-option NAME=VALUE.
_MODEL_KEYWORDS = frozenset(
    {"dimensions", "long_texts", "trust_remote_code", "device", "base_url", "api_key_env"}
)
# name=, name='value', name=True or name=3: a keyword argument in a library message.
_KEYWORD = re.compile(r"(?<![\w.$-])([a-z][a-z0-9_]*)=(?:'([^']*)'|(True|False)\b|([\w.+-]+))?")

# Phrases that name a Python call, and what to say instead ({uri}: the command's dataset).
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"pass create=True to make one"),
        "create it with `shoal add {uri} --doc TEXT` or `shoal ingest PATH --into {uri}`",
    ),
    (
        re.compile(r"tag\('([^']*)', version, replace=True\)"),
        r"`shoal tag {uri} \1 VERSION --replace`",
    ),
    (re.compile(r"check it out with checkout\('([^']*)'\)"), r"use `shoal checkout {uri} \1`"),
    (
        re.compile(r"\(ds\.update\(where=\.\.\., set=\{\.\.\.\}\)\)"),
        "(`shoal update {uri} --where JSON --set JSON`)",
    ),
    (re.compile(r"list ids with ds\.select\(\['id'\]\)"), "list them with `shoal get {uri}`"),
    (re.compile(r"open it without embedder= to use"), "leave out --model to use"),
    (re.compile(r"leave embedder out to use"), "leave out --model to use"),
    (
        re.compile(r"re-embed it with reembed\('([^']*)'\)"),
        r"re-embed it with `shoal reembed {uri} -m \1`",
    ),
    (re.compile(r"see the dataset's log"), "see `shoal log {uri}`"),
    (re.compile(r"\(shoal\.connect\(url, token=\.\.\.\); "), "(set $SHOAL_TOKEN; "),
    # The registry's "register one with shoal.register_provider()" (or register_llm).
    (re.compile(r", or register one with \S+\(\)"), ""),
    (re.compile(r"; drop it, or pass embeddings= for it"), "; drop it"),
    (re.compile(r", or pass a longer write_timeout= to shoal\.open\(\)"), ""),
    (
        re.compile(r"decode the source with errors='replace' \(or fix it\)"),
        "fix its encoding (UTF-8)",
    ),
    (
        re.compile(r"pass long_texts='split' or 'truncate'"),
        "pass -O long_texts=split (or truncate)",
    ),
)


def command_options(command: Callable[..., Any]) -> dict[str, str]:
    """Each option's Python name in a command function and the flag a user types for it
    (``n_clusters`` -> ``--n-clusters``)."""
    options: dict[str, str] = {}
    for name, hint in get_type_hints(command, include_extras=True).items():
        for info in getattr(hint, "__metadata__", ()):
            if isinstance(info, OptionInfo):
                # With Annotated, Typer takes the first declaration as `default`.
                given = [info.default, *(info.param_decls or ())]
                flags = [d for d in given if isinstance(d, str) and d.startswith("--")]
                options[name] = flags[0] if flags else "--" + name.replace("_", "-")
    return options


def cli_message(error: ShoalError, *, options: Mapping[str, str], uri: str | None) -> str:
    """`error`'s message with Python calls and keyword arguments put in command-line terms."""
    text = str(error)
    for pattern, template in _PHRASES:
        # The URI goes in after the substitution, which would read backslashes in it.
        text = pattern.sub(template, text).replace("{uri}", uri or "URI")
    return _KEYWORD.sub(lambda match: _keyword(match, options), text)


def _keyword(match: re.Match[str], options: Mapping[str, str]) -> str:
    name, flag = match.group(1), match.group(3)
    value = match.group(2) if match.group(2) is not None else match.group(4)
    option = options.get(_ALIASES.get(name, name)) or options.get(f"{name}_")
    if option is not None:
        if flag is not None:  # a switch: --replace, not --replace=True
            return option if flag == "True" else match.group(0)
        return f"{option} {value}" if value is not None else option
    if name in _MODEL_KEYWORDS and "model_option" in options:
        shown = value if value is not None else (flag or "...").lower()
        return f"-O {name}={shown}"
    return match.group(0)
