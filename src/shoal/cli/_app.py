"""The Typer application, `--version`, and the one place where Shoal errors become exit codes."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Annotated, ParamSpec

import typer
from rich.text import Text

from shoal.cli._analysis import classify, cluster, dedup, outliers, recommend
from shoal.cli._ask import ask
from shoal.cli._console import stderr_console
from shoal.cli._datasets import drop, ls, stats
from shoal.cli._demo import demo
from shoal.cli._embed import embed
from shoal.cli._errors import cli_message, command_options, exit_code
from shoal.cli._ingest import ingest
from shoal.cli._maintain import (
    branch,
    cleanup,
    compact,
    delete,
    reembed,
    restore,
    tag,
    tags,
    update,
)
from shoal.cli._map import map_
from shoal.cli._models import models
from shoal.cli._remote import set_url
from shoal.cli._rows import get
from shoal.cli._serve import serve, token_create, token_list, token_revoke
from shoal.cli._signals import Interrupted, handling_signals, interruption_message
from shoal.cli._similar import similar
from shoal.cli._store import add, checkout, commit, diff, index, info, log, search
from shoal.cli._tables import export, import_
from shoal.errors import ShoalError, ShoalWarning, collected_warnings

__all__ = ["app", "exit_code", "main"]


_P = ParamSpec("_P")


def _handling_errors(command: Callable[_P, None]) -> Callable[_P, None]:
    """Run `command`, turning a ShoalError into a red one-line message and an exit code, and
    Ctrl-C or SIGTERM into a one-line report of what was done and exit 130 or 143."""

    # Wrapping each command where it is registered, rather than `app()` in main(),
    # means the test runner, which invokes the commands directly, goes through it too.
    options = command_options(command)

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> None:
        with handling_signals(), warnings.catch_warnings(), collected_warnings() as given:
            warnings.simplefilter("ignore", ShoalWarning)  # shown below, as one line each
            try:
                command(*args, **kwargs)
            except ShoalError as exc:
                # A ShoalError already says what happened and how to fix it: no traceback;
                # its Python advice (a keyword, a call) is put in this command's terms.
                message = cli_message(exc, options=options, uri=_dataset_argument(kwargs))
                stderr_console().print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
                raise typer.Exit(code=exit_code(exc)) from None
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (Interrupted)
                stderr_console().print(Text(interruption_message(exc)), soft_wrap=True)
                code = exc.exit_code if isinstance(exc, Interrupted) else 130
                raise typer.Exit(code=code) from None
            finally:
                for message in dict.fromkeys(str(w) for w in given):
                    stderr_console().print(
                        Text(f"warning: {message}", style="yellow"), soft_wrap=True
                    )

    return run


def _dataset_argument(arguments: dict[str, object]) -> str | None:
    """The dataset the command was given (URI, or ingest's --into), for its messages."""
    for name in ("uri", "into"):
        value = arguments.get(name)
        if isinstance(value, str):
            return value
    return None


app = typer.Typer(
    name="shoal",
    help="Shoal: offline-first embeddings, a versioned vector store and question answering.",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold texts or keys; a traceback from a bug should not print them.
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_COMMANDS = (
    embed,
    similar,
    models,
    add,
    ingest,
    search,
    ask,
    info,
    log,
    commit,
    checkout,
    diff,
    index,
    get,
    delete,
    update,
    restore,
    reembed,
    tag,
    tags,
    branch,
    compact,
    cleanup,
    drop,
    ls,
    export,
    stats,
    serve,
    dedup,
    recommend,
    outliers,
    cluster,
    classify,
    demo,
)
for _command in _COMMANDS:
    app.command(_command.__name__)(_handling_errors(_command))
# `map` shadows a builtin as a Python name, so its function is `map_`.
app.command("map")(_handling_errors(map_))
app.command("import")(_handling_errors(import_))  # `import` is a keyword
tokens_app = typer.Typer(
    help="Tokens for `shoal serve`: create, list, revoke.", no_args_is_help=True
)
tokens_app.command("create")(_handling_errors(token_create))
tokens_app.command("list")(_handling_errors(token_list))
tokens_app.command("revoke")(_handling_errors(token_revoke))
app.add_typer(tokens_app, name="token")


def _show_version(value: bool) -> None:
    if value:
        from shoal._version import __version__  # importlib.metadata: ~50 ms, only when asked

        typer.echo(f"shoal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Run dataset commands on a `shoal serve` at this URL (default $SHOAL_URL; "
            "token from $SHOAL_TOKEN); URI is then the dataset's name there.",
            metavar="URL",
        ),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print Shoal's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Shoal: offline-first embeddings, a versioned vector store and question answering."""
    set_url(url)


def main() -> None:
    """Run the `shoal` command line (the console script's entry point)."""
    app(prog_name="shoal")
