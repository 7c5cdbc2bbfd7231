"""The Typer application, `--version`, and the one place where Shoal errors become exit codes."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import click
import typer
from rich.text import Text
from typer.core import TyperGroup

from shoal.cli._console import stderr_console
from shoal.cli._embed import embed
from shoal.cli._models import models
from shoal.cli._similar import similar
from shoal.errors import ConfigurationError, InvalidInput, ShoalError

__all__ = ["app", "exit_code", "main"]


def exit_code(error: ShoalError) -> int:
    """2 for a usage problem the user can fix (bad setting or input), 1 for any other failure."""
    return 2 if isinstance(error, (ConfigurationError, InvalidInput)) else 1


class _ShoalGroup(TyperGroup):
    """The command group; every subcommand runs inside its error handler."""

    def invoke(self, ctx: click.Context) -> Any:
        # The handler lives here rather than around `app()` in main() so that the
        # test runner, which invokes the group directly, exercises it too.
        try:
            return super().invoke(ctx)
        except ShoalError as exc:
            # A ShoalError already says what happened and how to fix it: no traceback.
            stderr_console().print(Text(f"error: {exc}", style="bold red"), soft_wrap=True)
            raise typer.Exit(code=exit_code(exc)) from None


app = typer.Typer(
    name="shoal",
    cls=_ShoalGroup,
    help="Shoal: offline-first embeddings and similarity search.",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold texts or keys; a traceback from a bug should not print them.
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("embed")(embed)
app.command("similar")(similar)
app.command("models")(models)


def _version() -> str:
    try:
        return version("shoal")
    except PackageNotFoundError:
        return "unknown (package not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"shoal {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
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
    """Shoal: offline-first embeddings and similarity search."""


def main() -> None:
    """Run the `shoal` command line (the console script's entry point)."""
    app(prog_name="shoal")
