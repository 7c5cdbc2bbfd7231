"""2-D maps of a dataset's vectors: a projection (UMAP if installed, else PCA), drawn as a
static PNG (matplotlib) or as one self-contained, offline HTML page with hover text.

Every step works on (n, d) arrays in chunks: nothing n x n is ever formed, so 100k rows
of 384-d vectors map within a few hundred MB.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shoal._atomic import atomic_write
from shoal._checks import check_count
from shoal.analysis._map_page import CATEGORY_COLORS, GREY, MISSING, VIRIDIS, Coloring, render_page
from shoal.analysis._projection import ProjectionMethod, chosen_method, project
from shoal.analysis._served import served
from shoal.errors import InvalidInput, MissingDependency
from shoal.store import Dataset, Filter
from shoal.store._interchange import content_types, media_column

__all__ = ["DatasetMap", "map_dataset", "map_vectors", "project_dataset"]

MAP_SUFFIXES = (".html", ".png")
"""The files a map can be written as."""
_HOVER_CHARS = 280  # a longer text is cut in the HTML page's tooltip
THUMBNAILS = 1000
"""How many points of a map of images carry a thumbnail by default (about 3 kB each)."""
THUMBNAIL_SIDE = 96
"""The longest side, in pixels, of a thumbnail in a map's page."""


# ------------------------------------------------------------------------------------ maps
@dataclass(frozen=True)
class DatasetMap:
    """Rows placed on a plane: ids, (n, 2) positions, texts, what colours them, and for
    datasets of images a thumbnail per point (a data: URI, "" where there is none)."""

    ids: list[str]
    xy: np.ndarray
    texts: list[str]
    coloring: Coloring | None
    method: Literal["umap", "pca"]
    rows: int
    title: str
    thumbnails: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def write(self, path: str | Path, *, width: int = 1600, height: int = 1200) -> Path:
        """Write the map as .html or .png, chosen by the suffix of `path`; returns the path."""
        target = _checked_suffix(path)
        if target.suffix.lower() == ".png":
            return self.write_png(target, width=width, height=height)
        return self.write_html(target)

    def write_html(self, path: str | Path) -> Path:
        """Write one offline HTML page: a zoomable canvas scatter with hover text and a legend."""
        target = Path(path)
        page = render_page(self._page_data(), title=self.title)
        atomic_write(target, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
        return target

    def write_png(self, path: str | Path, *, width: int = 1600, height: int = 1200) -> Path:
        """Write a width x height PNG scatter, with a legend or colour bar when coloured.

        Raises:
            MissingDependency: matplotlib is not installed.
        """
        if not (100 <= width <= 10000 and 100 <= height <= 10000):
            raise InvalidInput(
                f"width and height are pixels from 100 to 10000, got {width}x{height}"
            )
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise MissingDependency(
                "PNG maps need matplotlib: pip install 'shoal[map]', or write an .html map"
            ) from exc
        figure = Figure(figsize=(width / 100, height / 100), dpi=100)
        FigureCanvasAgg(figure)  # a canvas of its own: no pyplot, no global backend
        _draw(figure, self)
        target = Path(path)
        atomic_write(target, lambda tmp: figure.savefig(tmp, format="png"))
        return target

    def _page_data(self) -> dict[str, Any]:
        lows, highs = self.xy.min(axis=0), self.xy.max(axis=0)
        span = float(max(highs - lows)) or 1.0
        grid = np.rint((self.xy - lows) / span * 65535).astype(np.int64)
        data: dict[str, Any] = {
            "x": grid[:, 0].tolist(),
            "y": grid[:, 1].tolist(),
            "ids": self.ids,
            "texts": [t if len(t) <= _HOVER_CHARS else t[:_HOVER_CHARS] + "…" for t in self.texts],
            "method": self.method,
            "rows": self.rows,
            "field": None,
        }
        if self.thumbnails is not None:
            data["thumbs"] = self.thumbnails
        if self.coloring is not None:
            data.update(field=self.coloring.field, kind=self.coloring.kind)
            if self.coloring.kind == "category":
                data.update(
                    labels=list(self.coloring.labels),
                    colors=self.coloring.colors(),
                    codes=self.coloring.codes.tolist(),
                )
            else:
                values = self.coloring.values
                finite = values[~np.isnan(values)]
                data.update(
                    values=[None if math.isnan(v) else v for v in values.tolist()],
                    low=float(finite.min()),
                    high=float(finite.max()),
                    ramp=list(VIRIDIS),
                    missing=GREY,
                )
        return data


def _draw(figure: Any, chart: DatasetMap) -> None:
    axes = figure.add_subplot()
    x, y = chart.xy[:, 0], chart.xy[:, 1]
    size = float(np.clip(20000 / max(len(chart), 1), 0.5, 24))
    style: dict[str, Any] = {"s": size, "linewidths": 0, "rasterized": True}
    coloring = chart.coloring
    if coloring is None:
        axes.scatter(x, y, c=CATEGORY_COLORS[0], **style)
    elif coloring.kind == "number":
        missing = np.isnan(coloring.values)
        if missing.any():
            axes.scatter(x[missing], y[missing], c=GREY, label=MISSING, **style)
            axes.legend(loc="lower right", fontsize="small", markerscale=max(1, 6 / size**0.5))
        shown = axes.scatter(
            x[~missing], y[~missing], c=coloring.values[~missing], cmap="viridis", **style
        )
        figure.colorbar(shown, ax=axes, label=_plain(coloring.field), shrink=0.8)
    else:
        counts = np.bincount(coloring.codes, minlength=len(coloring.labels))
        colors = coloring.colors()
        # Grey (missing, other) first, then larger groups beneath smaller ones.
        order = sorted(range(len(colors)), key=lambda i: (colors[i] != GREY, -counts[i]))
        for i in order:
            chosen = coloring.codes == i
            label = f"{_plain(coloring.labels[i])} ({counts[i]})"
            axes.scatter(x[chosen], y[chosen], c=colors[i], label=label, **style)
        handles, names = axes.get_legend_handles_labels()
        legend_order = sorted(range(len(order)), key=lambda k: order[k])
        figure.subplots_adjust(left=0.03, right=0.74, top=0.93, bottom=0.03)
        axes.legend(
            [handles[k] for k in legend_order],
            [names[k] for k in legend_order],
            title=_plain(coloring.field),
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize="small",
            markerscale=max(1.0, 6 / size**0.5),
            frameon=False,
        )
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xticks([])
    axes.set_yticks([])
    shown_rows = f"{len(chart)} of {chart.rows}" if len(chart) < chart.rows else f"{len(chart)}"
    axes.set_title(f"{_plain(chart.title)}: {shown_rows} rows, {chart.method.upper()}")


def _plain(text: str) -> str:
    """`text` as matplotlib shows it literally ($ would start mathtext)."""
    return text.replace("$", r"\$")


def _checked_suffix(path: str | Path) -> Path:
    target = Path(path)
    if target.suffix.lower() not in MAP_SUFFIXES:
        raise InvalidInput(
            f"a map is written as .html (interactive) or .png (static), not {target.name!r}"
        )
    return target


# ----------------------------------------------------------------------- building a map
def map_vectors(
    vectors: Any,
    *,
    ids: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    color_by: str = "color",
    colors: Sequence[Any] | None = None,
    method: ProjectionMethod = "auto",
    max_points: int | None = None,
    seed: int = 0,
    title: str = "vectors",
) -> DatasetMap:
    """A map of any (n, d) vectors (e.g. image embeddings), with optional ids, texts and colour values.

    `colors` holds one value per row (None for missing), named `color_by` in the legend;
    `max_points` maps a random sample of that many rows (drawn with `seed`).
    """
    data = np.asarray(vectors)
    if data.ndim != 2:
        raise InvalidInput(f"map_vectors takes a 2-D array (rows, dims), got shape {data.shape}")
    rows = len(data)
    row_ids = list(ids) if ids is not None else [str(i) for i in range(rows)]
    row_texts = list(texts) if texts is not None else [""] * rows
    for name, given in (("ids", row_ids), ("texts", row_texts), ("colors", colors)):
        if given is not None and len(given) != rows:
            raise InvalidInput(
                f"{name} has {len(given)} items for {rows} vectors; give one per row"
            )
    if rows == 0:
        raise InvalidInput("there are no rows to map; add some, or loosen the where= filter")
    coloring = Coloring.of(color_by, colors) if colors is not None else None
    chosen = np.arange(rows)
    if max_points is not None and check_count(max_points, "max_points") < rows:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(rows, size=max_points, replace=False))
    sampled = data if len(chosen) == rows else data[chosen]
    method_used = chosen_method(method, len(chosen))
    return DatasetMap(
        ids=[row_ids[i] for i in chosen],
        xy=project(sampled, method=method_used, seed=seed),
        texts=[row_texts[i] for i in chosen],
        coloring=coloring.subset(chosen) if coloring is not None else None,
        method=method_used,
        rows=rows,
        title=title,
    )


def map_dataset(
    dataset: Dataset,
    *,
    out: str | Path,
    color_by: str | None = None,
    where: Filter | None = None,
    method: ProjectionMethod = "auto",
    max_points: int | None = None,
    seed: int = 0,
    width: int = 1600,
    height: int = 1200,
    thumbnails: int = THUMBNAILS,
) -> DatasetMap:
    """Map a dataset's rows (those matching `where`) and write `out` (.html or .png); returns the map.

    In a dataset of images (an image column, e.g. the ``thumbnail`` that ingest stores),
    hovering a point of the HTML page shows its image, for the first `thumbnails` points.

    Raises:
        InvalidInput: `out` is neither .html nor .png, no row matches, or no row has `color_by`.
    """
    target = _checked_suffix(out)
    chart = project_dataset(
        dataset, color_by=color_by, where=where, method=method, max_points=max_points,
        seed=seed, thumbnails=thumbnails,
    )  # fmt: skip
    chart.write(target, width=width, height=height)
    return chart


def project_dataset(
    dataset: Dataset,
    *,
    color_by: str | None = None,
    where: Filter | None = None,
    method: ProjectionMethod = "auto",
    max_points: int | None = None,
    seed: int = 0,
    thumbnails: int = THUMBNAILS,
) -> DatasetMap:
    """A dataset's rows (those matching `where`) placed on a plane, as data (`map_dataset`
    writes it too); a served dataset projects on its server and sends the points.

    A dataset with an image column gives its first `thumbnails` points a small JPEG of it
    (`THUMBNAIL_SIDE` pixels; the stored image as it is without Pillow); 0 for none.

    Raises:
        InvalidInput: no row matches, or no row has `color_by`.
    """
    check_count(thumbnails, "thumbnails", minimum=0)
    remote, result = served(
        dataset, "project_dataset", color_by=color_by, where=where, method=method,
        max_points=max_points, seed=seed, thumbnails=thumbnails,
    )  # fmt: skip
    if remote:
        chart: DatasetMap = result
        return replace(chart, title=dataset.uri)
    fields = ["id", "text"] + ([color_by] if color_by not in (None, "id", "text") else [])
    selected = dataset.select(fields, where=where)
    ids, vectors = dataset.vectors(where=where)
    position = {row_id: i for i, row_id in enumerate(ids)}
    # Rows written between the two reads are left out rather than mismatched.
    rows = [row for row in selected if row["id"] in position]
    order = np.fromiter((position[row["id"]] for row in rows), dtype=np.int64, count=len(rows))
    in_order = len(order) == len(ids) and bool((order == np.arange(len(ids))).all())
    chart = map_vectors(
        vectors if in_order else vectors[order],
        ids=[row["id"] for row in rows],
        texts=[row["text"] for row in rows],
        color_by=color_by or "color",
        colors=[row[color_by] for row in rows] if color_by else None,
        method=method,
        max_points=max_points,
        seed=seed,
        title=dataset.uri,
    )
    column = media_column(dataset.schema, "image")
    if column is None or thumbnails == 0:
        return chart
    shown = _thumbnails(dataset, chart.ids[:thumbnails], column)
    return replace(chart, thumbnails=shown + [""] * (len(chart.ids) - len(shown)))


def _thumbnails(dataset: Dataset, ids: Sequence[str], column: str) -> list[str]:
    """A data: URI of each row's image in `column`, shrunk to THUMBNAIL_SIDE ("" for none)."""
    images: dict[str, bytes] = {}
    for start in range(0, len(ids), 256):
        for record in dataset.get(list(ids[start : start + 256])):
            value = record.extras.get(column)
            if isinstance(value, bytes) and value:
                images[record.id] = value
    kind = content_types(dataset.schema)[column]
    return [_data_uri(images[i], kind) if i in images else "" for i in ids]


def _data_uri(image: bytes, kind: str) -> str:
    """`image` as a data: URI, shrunk to a JPEG of THUMBNAIL_SIDE pixels when Pillow can."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return f"data:{kind};base64,{base64.b64encode(image).decode('ascii')}"
    try:
        with Image.open(io.BytesIO(image)) as opened:
            shown = opened.convert("RGB")
            shown.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            out = io.BytesIO()
            shown.save(out, format="JPEG", quality=80)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return ""  # not an image after all: the point shows its text only
    return f"data:image/jpeg;base64,{base64.b64encode(out.getvalue()).decode('ascii')}"
