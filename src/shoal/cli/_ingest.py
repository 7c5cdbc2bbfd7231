"""`shoal ingest`: files and folders into a dataset, with a progress bar and a report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from shoal.cli._console import ModelOptions, chosen_embedder, stderr_console, stdout_console
from shoal.cli._output import print_json
from shoal.cli._remote import local_only
from shoal.cli._signals import between_steps, progress
from shoal.ingestion import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    IngestProgress,
    IngestReport,
)
from shoal.ingestion import ingest as run_ingest
from shoal.store import open as open_dataset

__all__ = ["ingest"]

# The ingest warns through logging (skipped and failed files); the report lists them here.
_QUIET_LOGGERS = ("shoal.ingest", "shoal.text")


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders to ingest (folders are walked).",
            metavar="PATH...",
            show_default=False,
        ),
    ],
    into: Annotated[
        str,
        typer.Option(
            "--into",
            "-i",
            help="The dataset: a folder, memory://name or s3://bucket/prefix (created if new).",
            metavar="URI",
        ),
    ],
    glob: Annotated[
        str,
        typer.Option("--glob", "-g", help="Which files to take from folders.", metavar="PATTERN"),
    ] = "**/*",
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            help=f"Largest chunk, in characters (default {DEFAULT_CHUNK_SIZE}) or with "
            "--tokens in model tokens (default: the model's window).",
            metavar="N",
            min=1,
            show_default=False,
        ),
    ] = None,
    chunk_overlap: Annotated[
        int,
        typer.Option(
            "--chunk-overlap", help="Overlap between neighbouring chunks.", metavar="N", min=0
        ),
    ] = DEFAULT_CHUNK_OVERLAP,
    tokens: Annotated[
        bool, typer.Option("--tokens", help="Measure chunks in the model's own tokens.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Embedder for a new dataset (default: local MiniLM); an existing one keeps its own.",
            metavar="NAME",
        ),
    ] = None,
    model_option: ModelOptions = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="Also delete the chunks of files that no longer exist under PATH."
        ),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", help="Chunks embedded and written per version.", metavar="N", min=1
        ),
    ] = DEFAULT_BATCH_SIZE,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Do not reuse or store vectors in the embedding cache."),
    ] = False,
    text_column: Annotated[
        list[str] | None,
        typer.Option(
            "--text-column",
            help="CSV column(s) holding the text (default: text/content/body, else all).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    text_field: Annotated[
        str,
        typer.Option("--text-field", help="JSONL field holding the text.", metavar="NAME"),
    ] = "text",
    message: Annotated[
        str | None,
        typer.Option(
            "--message", help="Commit message (default: what was ingested).", metavar="MSG"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load, split, embed and store files; rerunning ingests only what changed.

    Unchanged files cost nothing, a changed file's chunks are replaced, and an interrupted
    run (Ctrl-C or SIGTERM: it stops after the batch in hand; a crash; a provider outage)
    resumes where it stopped when run again.
    """
    local_only("ingest")  # it reads files here and writes where --into says
    console = stderr_console()
    bar = _Bar(console)

    def done() -> str:
        return f"{bar.done()}; run the same command to resume"

    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        # A signal stops the ingest once the batch in hand is written (a second one at once).
        with bar, between_steps() as stop_if_asked, progress(done):

            def on_progress(state: IngestProgress) -> None:
                bar.update(state)
                stop_if_asked()

            report = run_ingest(
                [str(p) for p in paths],
                into=into,
                glob=glob,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                tokens=tokens,
                embedder=chosen_embedder(model, model_option),
                sync=sync,
                batch_size=batch_size,
                cache=not no_cache,
                text_columns=text_column or None,
                text_field=text_field,
                message=message,
                on_progress=on_progress,
            )
    except Exception:
        # The error itself is printed by the command wrapper; say what is already safe.
        if bar.last is not None and bar.last.batches_written:
            console.print(Text(f"{bar.done()} before the error; a rerun resumes from there"))
        raise
    finally:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    with console.status("Indexing"):
        open_dataset(into).wait_for_index()  # so the next command opens the saved indexes
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if report.failed:
        raise typer.Exit(code=1)


class _Bar:
    """A Rich progress bar over files, with chunks written and embeddings per second."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[chunks]} chunks"),
            TextColumn("{task.fields[rate]:.0f} embeddings/s"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task: TaskID | None = None
        self.last: IngestProgress | None = None

    def __enter__(self) -> Progress:
        return self.progress.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, state: IngestProgress) -> None:
        """Show the latest counts."""
        self.last = state
        chunks, rate = state.chunks_written, state.embeddings_per_second
        if self.task is None:
            self.task = self.progress.add_task(
                "ingest", total=state.files_total, chunks=chunks, rate=rate
            )
        self.progress.update(self.task, completed=state.files_done, chunks=chunks, rate=rate)

    def done(self) -> str:
        """What was written so far, in words."""
        state = self.last
        if state is None:
            return "nothing was written"
        return f"{state.batches_written} batch(es), {state.chunks_written} chunk(s) written"


def _print_report(report: IngestReport) -> None:
    out = stdout_console()
    out.print(Text(f"ingested into {report.uri}: {report.summary()}"), soft_wrap=True)
    verb = f"committed version {report.version}" if report.committed else "nothing changed"
    out.print(
        Text(
            f"{verb}; embedded {report.embedded} chunk(s), {report.cached} from the cache, "
            f"{report.batches} batch(es) in {report.seconds:.1f} s"
        )
    )
    for source, count in sorted(report.decode_errors.items()):
        out.print(Text(f"  not UTF-8, {count} byte sequence(s) replaced: {source}", style="yellow"))
    if report.skipped:
        out.print(Text(f"  skipped {len(report.skipped)} file(s) of unsupported type:"))
        for path in report.skipped:
            out.print(Text(f"    {path}"))
    for _source, reason in report.failed:  # each reason names its file
        out.print(Text(f"  failed: {reason}", style="red"), soft_wrap=True)
    for source in report.removed:
        out.print(Text(f"  removed: {source}"))
