"""Keeping a dataset: `shoal delete`, `update`, `restore`, `reembed`, `tag`, `tags`, `branch`,
`compact` and `cleanup`.

Each write is one new version; the commands that change rows print it and the command
that undoes them (`shoal restore URI <the version before>`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from shoal.cli._console import (
    BranchOption,
    ModelOptions,
    RayOption,
    UriArgument,
    WhereOption,
    WorkersOption,
    build_embedder,
    parse_json_object,
    stderr_console,
    stdout_console,
)
from shoal.cli._output import JsonOption, print_json
from shoal.cli._progress import showing
from shoal.cli._remote import branch_words, open_dataset_or_remote, open_local, shoal_command
from shoal.cli._rows import full_ids
from shoal.cli._signals import dataset_progress, progress
from shoal.errors import InvalidInput
from shoal.store import ReembedReport

__all__ = [
    "branch",
    "cleanup",
    "compact",
    "delete",
    "parse_duration",
    "reembed",
    "restore",
    "tag",
    "tags",
    "update",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNITS = {"": 86_400, "s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def _changed(
    uri: str, verb: str, count: int, before: int, after: int, as_json: bool, branch: str | None
) -> None:
    """Report a write of `count` rows: the version it made and the command that undoes it."""
    undo = shoal_command("restore", uri, before, *branch_words(branch)) if after != before else None
    if as_json:
        print_json(
            {"uri": uri, verb: count, "version": after, "previous_version": before, "undo": undo}
        )
    elif undo is None:
        typer.echo(f"{verb} 0 rows; nothing changed (version {after})")
    else:
        typer.echo(f"{verb} {count:,} row(s) in version {after}; undo with `{undo}`")


def delete(
    uri: UriArgument,
    ids: Annotated[
        list[str] | None,
        typer.Option(
            "--id",
            help="The id of a row to delete (or the short id listings show); repeat for more.",
            metavar="ID",
        ),
    ] = None,
    where: WhereOption = None,
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete rows by --id or --where, in one new version."""
    if bool(ids) == (where is not None):
        raise InvalidInput("delete takes --id ID (repeatable) or --where JSON, one of them")
    dataset = open_dataset_or_remote(uri, branch=branch)
    before = dataset.version
    with progress(dataset_progress(dataset)):
        if ids:
            count = dataset.delete(ids=full_ids(dataset, ids))
        else:
            count = dataset.delete(where=parse_json_object(where, "--where"))
    _changed(uri, "deleted", count, before, dataset.version, as_json, branch)


def update(
    uri: UriArgument,
    where: Annotated[
        str,
        typer.Option(
            "--where",
            "-w",
            help="The rows to change, as a JSON filter ('{}' for every row), or @FILE.",
            metavar="JSON",
        ),
    ],
    set_: Annotated[
        str,
        typer.Option(
            "--set",
            help='What to set, as JSON: "text", extra columns, or metadata keys (null removes '
            'a key), e.g. \'{"lang": "en"}\'.',
            metavar="JSON",
        ),
    ],
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the rows matching --where: their text (embedded again), columns or metadata keys."""
    changes = parse_json_object(set_, "--set") or {}
    dataset = open_dataset_or_remote(uri, branch=branch)
    before = dataset.version
    with progress(dataset_progress(dataset)):
        count = dataset.update(where=parse_json_object(where, "--where") or {}, set=changes)
    _changed(uri, "updated", count, before, dataset.version, as_json, branch)


def restore(
    uri: UriArgument,
    ref: Annotated[
        str, typer.Argument(help="The version number or tag to bring back.", metavar="REF")
    ],
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a past version (or tag) the latest again, as a new version; history is kept."""
    dataset = open_dataset_or_remote(uri, branch=branch)
    before = dataset.version
    with progress(dataset_progress(dataset)):
        version = dataset.restore(ref)
    undo = shoal_command("restore", uri, before, *branch_words(branch))
    if as_json:
        print_json(
            {"uri": uri, "restored": ref, "version": version, "previous_version": before,
             "undo": undo}
        )  # fmt: skip
        return
    typer.echo(f"restored {ref} as version {version}; undo with `{undo}`")


def reembed(
    uri: UriArgument,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="The embedder that makes every vector again (a name `shoal models` lists).",
            metavar="NAME",
        ),
    ],
    model_option: ModelOptions = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Rows embedded together.", metavar="N", min=1)
    ] = 256,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Embed every row, even those the cache holds.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Re-embed even if NAME made the vectors already."),
    ] = False,
    ray: RayOption = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make every vector again with another embedder, as one new version (the dimensions may
    change; older versions keep their vectors, and `shoal restore` brings them back)."""
    if workers is not None and ray is None:
        raise InvalidInput("--workers takes effect with --ray ADDRESS (or --ray local)")
    dataset = open_local(uri, "reembed")
    before = dataset.version
    embedder = build_embedder(model, model_option)
    where = f"on Ray ({workers or 2} workers)" if ray is not None else "here"
    with (
        progress(dataset_progress(dataset)),
        stderr_console().status(f"Re-embedding {len(dataset):,} rows with {model} {where}"),
    ):
        if ray is None:
            report = dataset.reembed(
                embedder, batch_size=batch_size, cache=not no_cache, force=force
            )
        else:
            from shoal import distributed  # imports Ray: only for --ray

            logging.getLogger("ray").setLevel(logging.WARNING)
            report = distributed.reembed(
                dataset,
                embedder=embedder,
                num_workers=workers or 2,
                ray_address=None if ray == "local" else ray,
                batch_size=batch_size,
                cache=not no_cache,
                force=force,
            )
    undo = shoal_command("restore", uri, before) if report.committed else None
    if as_json:
        print_json({**report.to_dict(), "undo": undo})
        return
    typer.echo(_reembedded(uri, report, undo))


def _reembedded(uri: str, report: ReembedReport, undo: str | None) -> str:
    """`shoal reembed`'s line: what it made, from what, and how to undo it."""
    if not report.committed:
        return (
            f"the vectors of {uri} are made by {report.spec.name} already; nothing to do "
            f"(version {report.from_version}; --force makes them again)"
        )
    was, now = report.previous, report.spec
    sizes = f"{was.dimensions}-d" + (f" -> {now.dimensions}-d" if now != was else "")
    images = f", {report.images:,} from their image" if report.images else ""
    return (
        f"re-embedded {report.rows:,} row(s) with {now.name} (was {was.name}, {sizes}) in "
        f"version {report.version}: {report.embedded:,} embedded, {report.cached:,} from the "
        f"cache{images}, {report.seconds:.1f} s; undo with `{undo}`"
    )


def tag(
    uri: UriArgument,
    name: Annotated[
        str | None,
        typer.Argument(help="The tag to create (default: list the tags).", metavar="NAME"),
    ] = None,
    version: Annotated[
        int | None,
        typer.Argument(help="The version to tag (default: the latest).", metavar="VERSION"),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Move the tag if it names another version.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Name a version so it survives cleanup and can be checked out; without NAME, list tags."""
    if name is None:
        tags(uri, as_json=as_json)
        return
    dataset = open_dataset_or_remote(uri)
    previous = dataset.tags().get(name)
    dataset.tag(name, version, replace=replace)
    tagged = dataset.tags()[name]
    if as_json:
        print_json({"uri": uri, "tag": name, "version": tagged, "previous_version": previous})
        return
    moved = f" (moved from version {previous})" if previous not in (None, tagged) else ""
    typer.echo(f"tagged version {tagged} as {name}{moved}")


def tags(uri: UriArgument, as_json: JsonOption = False) -> None:
    """List a dataset's tags and the versions they name."""
    named = open_dataset_or_remote(uri).tags()
    if as_json:
        print_json(named)
        return
    if not named:
        typer.echo(f"no tags; `{shoal_command('tag', uri, 'NAME')}` tags the latest version")
        return
    table = Table()
    table.add_column("tag")
    table.add_column("version", justify="right")
    for tag_name, number in sorted(named.items(), key=lambda item: (item[1], item[0])):
        table.add_row(Text(tag_name), str(number))
    stdout_console().print(table)


def branch(
    uri: UriArgument,
    name: Annotated[
        str | None,
        typer.Argument(
            help="The branch to create from the latest version (default: list them).",
            metavar="NAME",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a branch from the latest version; without NAME, list the branches."""
    dataset = open_dataset_or_remote(uri)
    if name is None:
        names = ["main", *dataset.branches()]
        if as_json:
            print_json(names)
        else:
            for each in names:
                typer.echo(each)
        return
    created = dataset.branch(name)
    version = created.version
    if as_json:
        print_json({"uri": uri, "branch": name, "version": version})
        return
    typer.echo(
        f"created branch {name} at version {version}; "
        f"`{shoal_command('checkout', uri, name)}` shows it"
    )


def compact(uri: UriArgument, as_json: JsonOption = False) -> None:
    """Merge the small data files many small writes leave (same rows, a new version)."""
    dataset = open_local(uri, "compact")
    before = dataset.version
    with progress(dataset_progress(dataset)), showing("compact"):
        merged = dataset.compact()
    version = dataset.version
    if as_json:
        print_json(
            {"uri": uri, "files_merged": merged, "version": version, "previous_version": before}
        )
        return
    if version == before:
        typer.echo(f"nothing to compact (version {version})")
    else:
        typer.echo(
            f"merged {merged:,} data file(s) away in version {version}; the rows are the same"
        )


def parse_duration(text: str) -> dt.timedelta:
    """A duration like 7d, 12h, 30m, 90s, 2w or 0 (a bare number is days)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise InvalidInput(
            f"--older-than takes a duration such as 7d, 12h, 30m, 2w or 0 (all but the latest "
            f"version); got {text!r}"
        )
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def cleanup(
    uri: UriArgument,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Remove versions older than this: 7d, 12h, 30m, 2w, 0 (default 7d, unless "
            "--keep-last is given).",
            metavar="AGE",
        ),
    ] = None,
    keep_last: Annotated[
        int | None,
        typer.Option(
            "--keep-last", help="Keep at least the N latest versions.", metavar="N", min=1
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete old versions' files to free space; tagged versions and the latest are kept."""
    age = parse_duration(older_than) if older_than is not None else None
    if age is None and keep_last is None:
        age = dt.timedelta(days=7)
    dataset = open_local(uri, "cleanup")
    with progress(dataset_progress(dataset)):
        removed = dataset.cleanup(keep_last=keep_last, older_than=age)
    left = len(dataset.log())
    if as_json:
        print_json(
            {"uri": uri, "removed_versions": removed, "versions": left, "version": dataset.version}
        )
        return
    typer.echo(
        f"removed {removed:,} old version(s); {left:,} left (tagged versions and the latest stay)"
    )
