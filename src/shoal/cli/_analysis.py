"""Analysis commands: `shoal dedup`, `recommend`, `outliers`, `cluster` and `classify`.

Each calls one function of `shoal.analysis` and prints a table, or JSON with --json.
`dedup --apply` and `cluster` write a new committed version and print the command that
undoes it (`shoal restore URI N`, N the version before).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

import typer
from rich.table import Table
from rich.text import Text

from shoal.analysis import (
    ClusterMethod,
    OutlierMethod,
    ProjectionMethod,
    near_duplicates,
    remove_duplicates,
)
from shoal.analysis import (
    classify as classify_texts,
)
from shoal.analysis import (
    cluster as cluster_rows,
)
from shoal.analysis import (
    outliers as find_outliers,
)
from shoal.analysis import (
    recommend as recommend_rows,
)
from shoal.cli._console import (
    BranchOption,
    UriArgument,
    WhereOption,
    parse_json_object,
    stdout_console,
)
from shoal.cli._output import (
    DEFAULT_LIMIT,
    ID_WIDTH,
    JsonOption,
    LimitOption,
    more_line,
    one_line,
    print_hits,
    print_json,
)
from shoal.cli._progress import showing
from shoal.cli._remote import branch_words, open_dataset_or_remote, shoal_command
from shoal.cli._signals import dataset_progress, held, progress
from shoal.store import Dataset

__all__ = ["classify", "cluster", "dedup", "outliers", "recommend"]

_MEMBERS = 5  # rows shown per group; the JSON lists them all

KOption = Annotated[
    int, typer.Option("--k", "-k", help="Neighbours per row (or results).", metavar="N", min=1)
]


def _open(uri: str, branch: str | None = None) -> Dataset:
    # A served dataset (--url) runs the analyses on its server (its methods mirror Dataset's).
    return cast(Dataset, open_dataset_or_remote(uri, branch=branch))


def _texts(ds: Dataset, ids: list[str]) -> dict[str, str]:
    return {record.id: record.text for record in ds.get(ids)} if ids else {}


def dedup(
    uri: UriArgument,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Similarity that links two rows (cosine default 0.9; l2: a distance).",
            metavar="T",
        ),
    ] = None,
    where: WhereOption = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Keep one row per group, in a new committed version."),
    ] = False,
    limit: LimitOption = DEFAULT_LIMIT,
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find groups of near-duplicate rows (the first --limit shown); with --apply, keep the
    first of each group."""
    ds = _open(uri, branch)
    before = ds.version
    with progress(dataset_progress(ds)):
        where_filter = parse_json_object(where, "--where")
        with showing("dedup"):
            groups = near_duplicates(ds, threshold=threshold, where=where_filter)
        # The deletion and the commit naming it go together: a signal waits for both.
        with held():
            version = remove_duplicates(ds, groups) if apply and groups else None
    removed = sum(len(g) - 1 for g in groups) if version is not None else 0
    undo = (
        shoal_command("restore", uri, before, *branch_words(branch))
        if version is not None
        else None
    )
    if as_json:
        payload = {
            "groups": [{"keep": g[0], "drop": g[1:]} for g in groups],
            "removed": removed,
            "version": version,
            "previous_version": before,
            "undo": undo,
        }
        print_json(payload)
        return
    shown = groups if limit == 0 else groups[:limit]
    texts = _texts(
        ds.checkout(before) if version is not None else ds, [i for g in shown for i in g[:_MEMBERS]]
    )
    duplicates = sum(len(g) - 1 for g in groups)
    console = stdout_console()
    console.print(
        Text(f"{len(groups):,} group(s) of near-duplicates, {duplicates:,} extra row(s)", "bold")
    )
    table = Table()
    table.add_column("group", justify="right", no_wrap=True, min_width=5)
    table.add_column("", no_wrap=True, min_width=4)
    table.add_column("id", no_wrap=True, min_width=ID_WIDTH)
    table.add_column("text", no_wrap=True)
    room = max(console.width - 38, 20)  # what the other columns and the borders leave
    for number, group in enumerate(shown, start=1):
        for position, row_id in enumerate(group[:_MEMBERS]):
            mark = "keep" if position == 0 else "drop"
            text = Text(one_line(texts.get(row_id, ""), room))
            table.add_row(str(number), mark, row_id[:ID_WIDTH], text)
        if len(group) > _MEMBERS:
            table.add_row("", "", "", Text(f"... and {len(group) - _MEMBERS:,} more", "dim"))
    if shown:
        console.print(table)
    more = more_line(len(shown), len(groups), "group(s)")
    if more is not None:
        console.print(more)
    if version is not None:
        console.print(Text(f"removed {removed:,} row(s) in version {version}; undo with `{undo}`"))
    elif groups:
        console.print(Text("nothing removed: run again with --apply to keep one row per group"))


def recommend(
    uri: UriArgument,
    like: Annotated[
        list[str],
        typer.Option("--like", help="The id of a row you like; repeat for more.", metavar="ID"),
    ],
    unlike: Annotated[
        list[str] | None,
        typer.Option(
            "--unlike", help="The id of a row to steer away from; repeatable.", metavar="ID"
        ),
    ] = None,
    k: KOption = 10,
    where: WhereOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rows like the --like rows and unlike the --unlike rows (the given rows excluded)."""
    ds = _open(uri)
    with showing("recommend"):
        hits = recommend_rows(
            ds,
            positive_ids=like,
            negative_ids=unlike or (),
            k=k,
            where=parse_json_object(where, "--where"),
        )
    print_hits(hits, ds.spec.metric, as_json=as_json)


def outliers(
    uri: UriArgument,
    k: KOption = 10,
    contamination: Annotated[
        float,
        typer.Option(
            "--contamination",
            "-c",
            help="The share of rows to report, in (0, 0.5].",
            metavar="SHARE",
        ),
    ] = 0.01,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="knn (mean distance to k neighbours) or lof (local outlier factor).",
            metavar="METHOD",
        ),
    ] = "knn",
    where: WhereOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the rows farthest from their neighbours, most outlying first."""
    ds = _open(uri)
    with showing("outliers"):
        found = find_outliers(
            ds,
            k=k,
            contamination=contamination,
            method=cast(OutlierMethod, method),  # checked there
            where=parse_json_object(where, "--where"),
        )
    texts = _texts(ds, found.ids)
    if as_json:
        rows = [
            {"rank": r, "id": i, "score": s, "text": texts.get(i, "")}
            for r, (i, s) in enumerate(zip(found.ids, found.scores, strict=True), 1)
        ]
        payload = {"method": found.method, "k": found.k, "rows": found.rows, "outliers": rows}
        print_json(payload)
        return
    console = stdout_console()
    console.print(
        Text(f"{len(found.ids)} outlier(s) of {found.rows} rows ({found.method})", "bold")
    )
    table = Table()
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("text", no_wrap=True)
    room = max(console.width - 40, 20)  # what the other columns and the borders leave
    for rank, (row_id, score) in enumerate(zip(found.ids, found.scores, strict=True), 1):
        text = Text(one_line(texts.get(row_id, ""), room))
        table.add_row(str(rank), f"{score:.4f}", row_id[:ID_WIDTH], text)
    console.print(table)


def cluster(
    uri: UriArgument,
    n_clusters: Annotated[
        int | None,
        typer.Option(
            "--n-clusters",
            "-n",
            help="How many clusters (kmeans; default sqrt(rows / 2), at most 200).",
            metavar="N",
            min=2,
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="kmeans (a set number) or hdbscan (by density; needs scikit-learn).",
            metavar="METHOD",
        ),
    ] = "kmeans",
    reduce: Annotated[
        str,
        typer.Option(
            "--reduce",
            help="hdbscan's reduction first: umap, pca, or auto (UMAP if umap-learn is installed).",
            metavar="METHOD",
        ),
    ] = "auto",
    where: WhereOption = None,
    branch: BranchOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cluster the rows, write each one's label to metadata 'cluster' and commit."""
    ds = _open(uri, branch)
    before = ds.version
    with progress(dataset_progress(ds)), showing("cluster"):
        result = cluster_rows(
            ds,
            n_clusters=n_clusters,
            method=cast(ClusterMethod, method),  # checked there
            where=parse_json_object(where, "--where"),
            reduce=cast(ProjectionMethod, reduce),  # checked there
        )
    clusters: list[dict[str, Any]] = [
        {"label": c.label, "size": c.size, "terms": c.terms} for c in result.clusters
    ]
    undo = shoal_command("restore", uri, before, *branch_words(branch))
    if as_json:
        payload = {
            "version": result.version,
            "previous_version": before,
            "undo": undo,
            "field": result.field,
            "method": result.method,
            "clusters": clusters,
        }
        print_json(payload)
        return
    table = Table(title=f"{len(clusters)} cluster(s), labels in metadata {result.field!r}")
    table.add_column("cluster", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("top terms", overflow="fold")
    for entry in clusters:
        name = "noise" if entry["label"] == -1 else str(entry["label"])
        table.add_row(name, str(entry["size"]), Text(", ".join(entry["terms"])))
    console = stdout_console()
    console.print(table)
    console.print(Text(f"committed version {result.version}; undo with `{undo}`"))


def classify(
    uri: UriArgument,
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.", metavar="TEXT...")],
    label_field: Annotated[
        str,
        typer.Option(
            "--label-field",
            "-l",
            help="The metadata field that holds the labelled rows' labels.",
            metavar="FIELD",
        ),
    ],
    k: KOption = 10,
    as_json: JsonOption = False,
) -> None:
    """Label each TEXT by a vote of its k nearest labelled rows."""
    with showing("classify"):
        results = classify_texts(_open(uri), texts, label_field=label_field, k=k)
    if as_json:
        rows = [
            {"text": t, "label": r.label, "probabilities": r.probabilities}
            for t, r in zip(texts, results, strict=True)
        ]
        print_json(rows)
        return
    table = Table()
    table.add_column("text", overflow="fold")
    table.add_column("label", overflow="fold")
    table.add_column("probability", justify="right", no_wrap=True)
    table.add_column("others", overflow="fold")
    for text, result in zip(texts, results, strict=True):
        shown = str(result.label)
        key = result.label if isinstance(result.label, str) else json.dumps(result.label)
        others = sorted(
            ((p, label) for label, p in result.probabilities.items() if label != key), reverse=True
        )
        table.add_row(
            Text(text),
            Text(shown),
            f"{result.probabilities[key]:.2f}",
            Text(", ".join(f"{label} {p:.2f}" for p, label in others)),
        )
    stdout_console().print(table)
