"""`shoal map`: a dataset's rows on a plane, written as an interactive HTML page or a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from shoal.analysis import map_dataset
from shoal.analysis._map import THUMBNAILS
from shoal.cli._console import (
    RefOption,
    UriArgument,
    WhereOption,
    parse_json_object,
)
from shoal.cli._output import JsonOption, print_json
from shoal.cli._progress import showing
from shoal.cli._remote import open_dataset_or_remote
from shoal.errors import InvalidInput
from shoal.store import Dataset

__all__ = ["map_"]

_METHODS = ("auto", "umap", "pca")


def map_(
    uri: UriArgument,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Where to write the map: .html (interactive, offline) or .png (static image).",
            dir_okay=False,
            metavar="PATH",
        ),
    ],
    color_by: Annotated[
        str | None,
        typer.Option(
            "--color-by",
            "-c",
            help='Colour points by a column or metadata path, e.g. "source" or "author.name".',
            metavar="FIELD",
        ),
    ] = None,
    where: WhereOption = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="Projection: umap (needs umap-learn), pca, or auto (UMAP if installed).",
            metavar="METHOD",
        ),
    ] = "auto",
    max_points: Annotated[
        int | None,
        typer.Option(
            "--max-points",
            help="Map a random sample of at most N rows (default: all).",
            metavar="N",
            min=1,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the sample and of UMAP.", metavar="N")
    ] = 0,
    width: Annotated[
        int, typer.Option("--width", help="PNG width in pixels.", metavar="PX", min=100)
    ] = 1600,
    height: Annotated[
        int, typer.Option("--height", help="PNG height in pixels.", metavar="PX", min=100)
    ] = 1200,
    thumbnails: Annotated[
        int,
        typer.Option(
            "--thumbnails",
            help="In a dataset of images, how many points show their image on hover (0: none).",
            metavar="N",
            min=0,
        ),
    ] = THUMBNAILS,
    ref: RefOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw the dataset's rows on a 2-D map (UMAP or PCA) as an HTML page with hover text, or a PNG."""
    if method not in _METHODS:
        raise InvalidInput(f"--method must be one of {', '.join(_METHODS)}, not {method!r}")
    where_filter = parse_json_object(where, "--where")
    # A served dataset (--url) is projected on its server and drawn here.
    dataset = cast(Dataset, open_dataset_or_remote(uri))
    if ref is not None:
        dataset = dataset.checkout(ref)
    with showing(f"map {len(dataset):,} row(s)"):
        chart = map_dataset(
            dataset,
            out=out,
            color_by=color_by,
            where=where_filter,
            method=method,  # type: ignore[arg-type]
            max_points=max_points,
            seed=seed,
            width=width,
            height=height,
            thumbnails=thumbnails,
        )
    if as_json:
        print_json(
            {"out": str(out), "points": len(chart), "rows": chart.rows, "method": chart.method,
             "thumbnails": sum(1 for t in chart.thumbnails or [] if t)}
        )  # fmt: skip
        return
    sampled = f" (a sample of {chart.rows} rows)" if len(chart) < chart.rows else ""
    typer.echo(f"wrote {len(chart)} point(s){sampled}, {chart.method.upper()}, to {out}")
