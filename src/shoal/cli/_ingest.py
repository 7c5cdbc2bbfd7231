"""`shoal ingest`: files and folders into a dataset, with a progress bar and a report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from shoal.cli._console import (
    BranchOption,
    LanguageOption,
    ModelOptions,
    RayOption,
    WorkersOption,
    chosen_embedder,
    stderr_console,
    stdout_console,
)
from shoal.cli._output import print_json
from shoal.cli._remote import local_only, on_branch, open_local
from shoal.cli._signals import between_steps, progress
from shoal.errors import DatasetNotFound, InvalidInput
from shoal.ingestion import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    IngestProgress,
    IngestReport,
)
from shoal.ingestion import ingest as run_ingest
from shoal.store import open as open_dataset
from shoal.text import DEFAULT_SPEECH_MODEL, supported_kinds

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
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Read only files matching this gitignore-style pattern ('*.md', 'docs/**'); "
            "repeatable.",
            metavar="PATTERN",
            show_default=False,
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Skip files and folders matching this gitignore-style pattern ('*.log', "
            "'build/'); repeatable.",
            metavar="PATTERN",
            show_default=False,
        ),
    ] = None,
    no_gitignore: Annotated[
        bool,
        typer.Option("--no-gitignore", help="Also read files that .gitignore files exclude."),
    ] = False,
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
    language: LanguageOption = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="Also delete the chunks of files that no longer exist under PATH."
        ),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            help="Chunks embedded and staged at a time (the run is one version).",
            metavar="N",
            min=1,
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
    speech_model: Annotated[
        str,
        typer.Option(
            "--speech-model",
            help="Whisper model for audio files: whisper-base (from PyPI) or a CTranslate2 "
            "model folder.",
            metavar="NAME",
        ),
    ] = DEFAULT_SPEECH_MODEL,
    speech_language: Annotated[
        str | None,
        typer.Option(
            "--speech-language",
            help="Language spoken in the audio files ('en', 'de'...; default: detected).",
            metavar="CODE",
            show_default=False,
        ),
    ] = None,
    message: Annotated[
        str | None,
        typer.Option(
            "--message", help="Commit message (default: what was ingested).", metavar="MSG"
        ),
    ] = None,
    branch: BranchOption = None,
    ray: RayOption = None,
    workers: WorkersOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="List every skipped file with the reason."),
    ] = False,
) -> None:
    """Load, split, embed and store files; rerunning ingests only what changed.

    Unchanged files cost nothing, a changed file's chunks are replaced, and an interrupted
    run (Ctrl-C or SIGTERM: it stops after the batch in hand; a crash; a provider outage)
    resumes where it stopped when run again. Binary, unsupported, hidden and
    .gitignore'd files are skipped and counted; an ingest that ingests nothing exits 1
    and creates no dataset. Audio files are transcribed into timed chunks (shoal[audio])
    and images' text is read (shoal[ocr]); a file that cannot be decoded fails alone.
    """
    local_only("ingest")  # it reads files here and writes where --into says
    # A branch belongs to a dataset that exists: its handle is the target.
    target = into if branch is None else open_local(into, "ingest", branch)
    console = stderr_console()
    if workers is not None and ray is None:
        raise InvalidInput("--workers takes effect with --ray ADDRESS (or --ray local)")
    if ray is not None and branch is not None:
        raise InvalidInput("--ray ingests into the main branch only: drop --branch")
    bar = _Bar(console)

    def done() -> str:
        return f"{bar.done()}; run the same command to resume"

    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # What both ways of ingesting take.
    common: dict[str, Any] = {
        "glob": glob,
        "include": include or None,
        "exclude": exclude or None,
        "gitignore": not no_gitignore,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "tokens": tokens,
        "embedder": chosen_embedder(model, model_option),
        "language": language,
        "sync": sync,
        "cache": not no_cache,
        "text_columns": text_column or None,
        "text_field": text_field,
        "message": message,
    }
    try:
        if ray is not None:
            with console.status(f"Ingesting on Ray ({workers or 2} workers)"):
                report = _on_ray(
                    [str(p) for p in paths], into=into, ray=ray, workers=workers or 2, **common
                )
        else:
            # A signal stops the ingest once the batch in hand is written (a second one at once).
            with bar, between_steps() as stop_if_asked, progress(done):

                def on_progress(state: IngestProgress) -> None:
                    bar.update(state)
                    stop_if_asked()

                report = run_ingest(
                    [str(p) for p in paths],
                    into=target,
                    speech_model=speech_model,
                    speech_language=speech_language,
                    batch_size=batch_size,
                    on_progress=on_progress,
                    **common,
                )
    except Exception:
        # The error itself is printed by the command wrapper; say what is already safe.
        if bar.last is not None and bar.last.batches_written:
            console.print(Text(f"{bar.done()} before the error; a rerun resumes from there"))
        raise
    finally:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        dataset = on_branch(open_dataset(into, create=False), branch, into)
    except DatasetNotFound:  # nothing was written to a new dataset, so none was created
        dataset = None
    if dataset is not None:
        with console.status("Indexing"):
            dataset.wait_for_index()  # so the next command opens the saved indexes
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report, verbose=verbose)
    if report.ingested_nothing:
        console.print(
            Text(_nothing_message(report, exists=dataset is not None), style="bold red"),
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
    if report.failed:
        raise typer.Exit(code=1)


class _Bar:
    """A Rich progress bar over the bytes of the files, with files done, chunks written,
    embeddings per second, the time so far and the time left (at the rate so far)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            TextColumn("{task.fields[chunks]} chunks"),
            TextColumn("{task.fields[rate]:.0f} embeddings/s"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[left]}"),
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
        files = f"{state.files_done}/{state.files_total}"
        chunks, rate = state.chunks_written, state.embeddings_per_second
        left = duration(state.seconds_left)
        if self.task is None:
            self.task = self.progress.add_task(
                "ingest", total=max(state.bytes_total, 1), files=files, chunks=chunks,
                rate=rate, left=left,
            )  # fmt: skip
        self.progress.update(
            self.task, completed=state.bytes_done, files=files, chunks=chunks, rate=rate, left=left
        )

    def done(self) -> str:
        """What was written so far, in words."""
        state = self.last
        if state is None:
            return "nothing was written"
        return f"{state.batches_written} batch(es), {state.chunks_written} chunk(s) written"


def _on_ray(paths: list[str], *, ray: str, workers: int, **options: Any) -> IngestReport:
    """The ingest on a Ray cluster (shoal.distributed), with Ray's own logging kept quiet."""
    from shoal import distributed  # imports Ray: only for --ray

    logging.getLogger("ray").setLevel(logging.WARNING)
    address = None if ray == "local" else ray
    return distributed.ingest(paths, num_workers=workers, ray_address=address, **options)


def _nothing_message(report: IngestReport, *, exists: bool) -> str:
    """Why nothing was ingested, what became of the dataset, and what to do."""
    parts = [f"error: nothing was ingested into {report.uri}: {report.nothing_ingested_reason()}."]
    if not exists:
        parts.append("No dataset was created.")
    left_out = {entry.reason for entry in report.skipped} & {"gitignored", "excluded", "hidden"}
    if left_out:
        parts.append(
            "Some files were left out as hidden, by .gitignore or by --include/--exclude: "
            "loosen the patterns, pass --no-gitignore, or name the files themselves."
        )
    parts.append(f"Shoal reads {supported_kinds()}.")
    parts.append(
        "Run again with --verbose to list each skipped file and why."
        if report.skipped
        else "Check that the paths hold documents."
    )
    return " ".join(parts)


def _print_report(report: IngestReport, *, verbose: bool) -> None:
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
        hint = "" if verbose else " (--verbose lists them)"
        line = f"  skipped {len(report.skipped)} file(s): {report.skipped_summary()}{hint}"
        out.print(Text(line), soft_wrap=True)
        for entry in report.skipped if verbose else []:
            out.print(Text(f"    {entry}"), soft_wrap=True)
    for _source, reason in report.failed:  # each reason names its file
        out.print(Text(f"  failed: {reason}", style="red"), soft_wrap=True)
    for source in report.removed:
        out.print(Text(f"  removed: {source}"))


def duration(seconds: float | None) -> str:
    """`seconds` as 0:42 or 1:02:03; "-:--" while unknown."""
    if seconds is None:
        return "-:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
