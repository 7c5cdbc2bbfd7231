"""How a map looks: the colours of its points (by category or number) and its HTML page.

The page is one offline file, its data as inert JSON, drawn by inline JS. It loads
nothing from the network (its Content-Security-Policy forbids it) and runs only its own
script, allowed by hash: a row text that smuggled in markup or a script would be shown
as text, never run. Hover finds the nearest point through a uniform grid,
so a mouse move costs a few cells' points, not a scan of all of them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shoal.errors import InvalidInput

__all__ = [
    "CATEGORY_COLORS",
    "GREY",
    "MISSING",
    "OTHER",
    "VIRIDIS",
    "Coloring",
    "render_page",
    "script_json",
]

MISSING = "(missing)"
"""The category of rows without a value for the colouring field."""
OTHER = "(other)"
"""The category of the values past the commonest 17."""
CATEGORY_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5",
)  # fmt: skip
"""Category colours: matplotlib's tab10 and the light half of tab20, less their greys."""
GREY = "#b0b0b0"
"""The colour of missing and other values."""
VIRIDIS = (
    "#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30",
    "#fde725",
)  # fmt: skip
"""matplotlib's viridis at nine even steps, for numbers: the HTML page interpolates them."""


@dataclass(frozen=True)
class Coloring:
    """What colours the points: a category per point (`codes` into `labels`) or a number."""

    field: str
    kind: Literal["category", "number"]
    labels: tuple[str, ...]
    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, field: str, values: Sequence[Any]) -> Coloring:
        """Numbers when every present value is a number, else categories (the 17 commonest + other).

        Raises:
            InvalidInput: no value is present: the field name is probably wrong.
        """
        present = [v for v in values if v is not None]
        if not present:
            raise InvalidInput(
                f"none of the {len(values)} mapped rows has a value for {field!r}; give a column "
                'or a dotted metadata path that exists, e.g. "source" or "author.name"'
            )
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            numbers = np.array([math.nan if v is None else float(v) for v in values])
            numbers[~np.isfinite(numbers)] = math.nan
            return cls(field, "number", (), np.zeros(0, np.int32), numbers)
        names = [None if v is None else _label(v) for v in values]
        counts = Counter(n for n in names if n is not None)
        ranked = sorted(counts, key=lambda name: (-counts[name], name))
        keep = (
            len(CATEGORY_COLORS)
            if len(ranked) <= len(CATEGORY_COLORS)
            else len(CATEGORY_COLORS) - 1
        )
        labels = ranked[:keep] + ([OTHER] if len(ranked) > keep else [])
        index = {name: i for i, name in enumerate(labels)}
        other = index.get(OTHER, -1)
        if None in names:
            labels.append(MISSING)
        missing = len(labels) - 1
        codes = np.array(
            [missing if n is None else index.get(n, other) for n in names], dtype=np.int32
        )
        return cls(field, "category", tuple(labels), codes, np.zeros(0))

    def colors(self) -> list[str]:
        """The colour of each label, as hex (grey for missing and other)."""
        palette = iter(CATEGORY_COLORS)
        return [GREY if name in (MISSING, OTHER) else next(palette) for name in self.labels]

    def value_of(self, row: int) -> str | float | None:
        """The value shown for one point: its category, its number, or None when missing."""
        if self.kind == "number":
            number = float(self.values[row])
            return None if math.isnan(number) else number
        label = self.labels[int(self.codes[row])]
        return None if label == MISSING else label

    def subset(self, rows: np.ndarray) -> Coloring:
        """The same colouring for the chosen points only."""
        codes = self.codes[rows] if self.kind == "category" else self.codes
        values = self.values[rows] if self.kind == "number" else self.values
        return Coloring(self.field, self.kind, self.labels, codes, values)


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------------ page

_STYLE = """
html, body { margin: 0; height: 100%; font: 14px/1.4 system-ui, sans-serif; color: #222; }
body { display: flex; flex-direction: column; }
header { padding: 8px 12px; border-bottom: 1px solid #ddd; display: flex; gap: 16px;
  align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 16px; margin: 0; overflow-wrap: anywhere; }
#summary, #help { color: #666; }
#stage { position: relative; flex: 1; min-height: 300px; overflow: hidden; cursor: crosshair; }
canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
#tooltip { position: absolute; max-width: 360px; padding: 6px 8px; background: #fff;
  border: 1px solid #999; border-radius: 4px; box-shadow: 0 2px 6px rgba(0,0,0,.2);
  pointer-events: none; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
#tooltip .meta { color: #666; font-size: 12px; margin-top: 4px; }
#tooltip img.thumb { display: block; max-width: 96px; max-height: 96px; margin-bottom: 4px; }
#legend { position: absolute; top: 8px; right: 8px; max-height: 80%; overflow: auto;
  background: rgba(255,255,255,.92); border: 1px solid #ddd; border-radius: 4px;
  padding: 6px 8px; font-size: 12px; }
#legend:empty { display: none; }
#legend .row { display: flex; gap: 6px; align-items: center; white-space: nowrap; }
#legend .swatch { width: 10px; height: 10px; border-radius: 50%; flex: none; }
#legend .ramp { width: 160px; height: 10px; margin: 4px 0; }
#legend .ends { display: flex; justify-content: space-between; }
"""

_SCRIPT = """
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("shoal-data").textContent);
  const n = D.x.length, X = Float64Array.from(D.x), Y = Float64Array.from(D.y);
  const stage = document.getElementById("stage"), canvas = document.getElementById("map");
  const ctx = canvas.getContext("2d"), tip = document.getElementById("tooltip");
  const GREY = "#b0b0b0";
  function hexRgb(h) { return [1, 3, 5].map(function (k) { return parseInt(h.substr(k, 2), 16); }); }
  function ramp(t) {
    const stops = D.ramp, at = t * (stops.length - 1), k = Math.min(Math.floor(at), stops.length - 2);
    const a = hexRgb(stops[k]), b = hexRgb(stops[k + 1]), f = at - k;
    return "rgb(" + a.map(function (v, j) { return Math.round(v + (b[j] - v) * f); }).join(",") + ")";
  }
  // One palette index per point; points are drawn grouped by colour.
  let palette = ["#1f77b4"], colorOf = new Uint16Array(n);
  if (D.kind === "category") { palette = D.colors; colorOf = Uint16Array.from(D.codes); }
  if (D.kind === "number") {
    const steps = 64, span = (D.high - D.low) || 1;
    palette = [];
    for (let k = 0; k < steps; k++) palette.push(ramp(k / (steps - 1)));
    palette.push(D.missing);
    for (let i = 0; i < n; i++) {
      const v = D.values[i];
      colorOf[i] = v === null ? steps : Math.round((v - D.low) / span * (steps - 1));
    }
  }
  const counts = new Int32Array(palette.length + 1);
  for (let i = 0; i < n; i++) counts[colorOf[i] + 1]++;
  const sizes = counts.slice(1);
  for (let k = 0; k < palette.length; k++) counts[k + 1] += counts[k];
  const byColor = new Int32Array(n), fill = counts.slice(0, palette.length);
  for (let i = 0; i < n; i++) byColor[fill[colorOf[i]]++] = i;
  const order = palette.map(function (c, k) { return k; }).sort(function (a, b) {
    return ((palette[b] === GREY) - (palette[a] === GREY)) || (sizes[b] - sizes[a]);
  });
  // The bounding box, and a uniform grid over it for hover.
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, X[i]); maxX = Math.max(maxX, X[i]);
    minY = Math.min(minY, Y[i]); maxY = Math.max(maxY, Y[i]);
  }
  const G = Math.max(1, Math.min(1024, Math.ceil(Math.sqrt(n / 2))));
  const cellW = Math.max(maxX - minX, 1) / G, cellH = Math.max(maxY - minY, 1) / G;
  function cellX(x) { return Math.min(G - 1, Math.max(0, Math.floor((x - minX) / cellW))); }
  function cellY(y) { return Math.min(G - 1, Math.max(0, Math.floor((y - minY) / cellH))); }
  const cellStart = new Int32Array(G * G + 1), cellItems = new Int32Array(n), cellOf = new Int32Array(n);
  for (let i = 0; i < n; i++) { cellOf[i] = cellX(X[i]) + G * cellY(Y[i]); cellStart[cellOf[i] + 1]++; }
  for (let c = 0; c < G * G; c++) cellStart[c + 1] += cellStart[c];
  const cursor = cellStart.slice(0, G * G);
  for (let i = 0; i < n; i++) cellItems[cursor[cellOf[i]]++] = i;
  // The view: screen = (x * scale + ox, oy - y * scale), in CSS pixels.
  const radius = n > 20000 ? 1 : n > 2000 ? 1.5 : 3.5, arcs = n <= 5000;
  let W = 0, H = 0, scale = 1, ox = 0, oy = 0, fitScale = 1, hovered = -1, drawn = 0, queued = false;
  function fit() {
    const pad = 24;
    fitScale = scale = Math.min((W - 2 * pad) / Math.max(maxX - minX, 1), (H - 2 * pad) / Math.max(maxY - minY, 1));
    ox = W / 2 - (minX + maxX) / 2 * scale;
    oy = H / 2 + (minY + maxY) / 2 * scale;
  }
  function resize() {
    const dpr = window.devicePixelRatio || 1;
    W = stage.clientWidth; H = stage.clientHeight;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    fit(); draw();
  }
  function draw() {
    queued = false;
    ctx.clearRect(0, 0, W, H);
    let count = 0;
    for (const g of order) {
      ctx.fillStyle = palette[g];
      if (arcs) ctx.beginPath();
      for (let k = counts[g]; k < counts[g + 1]; k++) {
        const i = byColor[k], sx = X[i] * scale + ox, sy = oy - Y[i] * scale;
        if (sx < -radius || sy < -radius || sx > W + radius || sy > H + radius) continue;
        if (arcs) { ctx.moveTo(sx + radius, sy); ctx.arc(sx, sy, radius, 0, 2 * Math.PI); }
        else ctx.fillRect(sx - radius, sy - radius, 2 * radius, 2 * radius);
        count++;
      }
      if (arcs) ctx.fill();
    }
    if (hovered >= 0) {
      ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.beginPath();
      ctx.arc(X[hovered] * scale + ox, oy - Y[hovered] * scale, radius + 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
    drawn = count;
    document.body.dataset.points = String(count);
  }
  function redraw() { if (!queued) { queued = true; requestAnimationFrame(draw); } }
  function nearest(mx, my) {
    const reach = radius + 4, x = (mx - ox) / scale, y = (oy - my) / scale, r = reach / scale;
    let best = -1, bestD = reach * reach;
    for (let cy = cellY(y - r); cy <= cellY(y + r); cy++) {
      for (let cx = cellX(x - r); cx <= cellX(x + r); cx++) {
        const c = cx + G * cy;
        for (let k = cellStart[c]; k < cellStart[c + 1]; k++) {
          const i = cellItems[k], dx = X[i] * scale + ox - mx, dy = oy - Y[i] * scale - my;
          const d = dx * dx + dy * dy;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }
  function valueText(i) {
    if (D.kind === "category") return D.labels[D.codes[i]];
    if (D.kind === "number") return D.values[i] === null ? "(missing)" : String(D.values[i]);
    return null;
  }
  function line(cls, text) {
    const div = document.createElement("div");
    if (cls) div.className = cls;
    div.textContent = text;
    return div;
  }
  function showTip(i, mx, my) {
    tip.replaceChildren(line("text", D.texts[i] || "(no text)"), line("meta", "id: " + D.ids[i]));
    if (D.thumbs && typeof D.thumbs[i] === "string" && D.thumbs[i].startsWith("data:image/")) {
      const img = document.createElement("img");
      img.className = "thumb"; img.alt = ""; img.src = D.thumbs[i];
      tip.prepend(img);
    }
    const value = valueText(i);
    if (value !== null) tip.appendChild(line("meta", D.field + ": " + value));
    tip.hidden = false;
    const left = mx + 14 + tip.offsetWidth > W ? mx - 14 - tip.offsetWidth : mx + 14;
    const top = my + 14 + tip.offsetHeight > H ? my - 14 - tip.offsetHeight : my + 14;
    tip.style.left = Math.max(0, left) + "px"; tip.style.top = Math.max(0, top) + "px";
  }
  let drag = null;
  canvas.addEventListener("mousedown", function (e) { drag = { x: e.offsetX, y: e.offsetY }; });
  window.addEventListener("mouseup", function () { drag = null; });
  canvas.addEventListener("mousemove", function (e) {
    if (drag) {
      ox += e.offsetX - drag.x; oy += e.offsetY - drag.y;
      drag = { x: e.offsetX, y: e.offsetY }; tip.hidden = true; redraw(); return;
    }
    const i = nearest(e.offsetX, e.offsetY);
    if (i !== hovered) { hovered = i; redraw(); }
    if (i < 0) tip.hidden = true; else showTip(i, e.offsetX, e.offsetY);
  });
  canvas.addEventListener("mouseleave", function () { hovered = -1; tip.hidden = true; redraw(); });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    const f = Math.min(Math.max(Math.exp(-e.deltaY * 0.002), fitScale * 0.5 / scale), fitScale * 5000 / scale);
    ox = e.offsetX - (e.offsetX - ox) * f; oy = e.offsetY - (e.offsetY - oy) * f; scale *= f;
    tip.hidden = true; redraw();
  }, { passive: false });
  canvas.addEventListener("dblclick", function () { fit(); redraw(); });
  window.addEventListener("resize", resize);
  // A frame may learn its size only after this script ran (a sandboxed frame drawn by its
  // own process on a busy machine): draw again whenever the stage's size changes.
  if (window.ResizeObserver) new ResizeObserver(function () { resize(); }).observe(stage);
  // Header and legend, built from text nodes only.
  document.getElementById("title").textContent = D.title;
  document.getElementById("summary").textContent = n + " points" +
    (D.rows > n ? " sampled from " + D.rows + " rows" : "") + " · " + D.method.toUpperCase() +
    (D.field !== null ? " · colour: " + D.field : "");
  const legend = document.getElementById("legend");
  if (D.kind) legend.appendChild(line("field", D.field));
  if (D.kind === "category") {
    D.labels.forEach(function (label, k) {
      const row = line("row", ""), dot = line("swatch", "");
      dot.style.background = D.colors[k];
      row.append(dot, document.createTextNode(label + " (" + sizes[k] + ")"));
      legend.appendChild(row);
    });
  }
  if (D.kind === "number") {
    const bar = line("ramp", ""), ends = line("ends", "");
    bar.style.background = "linear-gradient(to right, " + D.ramp.join(", ") + ")";
    ends.append(line("", String(D.low)), line("", String(D.high)));
    legend.append(bar, ends);
    if (sizes[palette.length - 1] > 0) {
      const row = line("row", ""), dot = line("swatch", "");
      dot.style.background = D.missing;
      row.append(dot, document.createTextNode("(missing) (" + sizes[palette.length - 1] + ")"));
      legend.appendChild(row);
    }
  }
  window.shoalMap = {
    points: n,
    get drawn() { return drawn; },
    get hovered() { return hovered; },
    screenPosition: function (i) {
      const box = canvas.getBoundingClientRect();
      return { x: box.left + X[i] * scale + ox, y: box.top + oy - Y[i] * scale };
    },
    nearest: function (clientX, clientY) {
      const box = canvas.getBoundingClientRect();
      return nearest(clientX - box.left, clientY - box.top);
    },
    reset: function () { fit(); draw(); },
  };
  resize();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
script-src '{script_hash}'; style-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header><h1 id="title"></h1><span id="summary"></span>
<span id="help">hover a point for its text · scroll to zoom · drag to pan · double-click to reset</span>
</header>
<div id="stage"><canvas id="map"></canvas><div id="tooltip" hidden></div><div id="legend"></div></div>
<script type="application/json" id="shoal-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def script_json(data: Mapping[str, Any]) -> str:
    """`data` as JSON that is safe inside a <script> element: no <, >, & or line separators."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    # These characters only occur inside JSON strings, where \\uXXXX means the same.
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def render_page(data: Mapping[str, Any], *, title: str) -> str:
    """The whole HTML page for a map's data (x, y, ids, texts and colours), titled `title`."""
    digest = hashlib.sha256(_SCRIPT.encode("utf-8")).digest()
    return _PAGE.format(
        script_hash="sha256-" + base64.b64encode(digest).decode("ascii"),
        title=html.escape(title),
        style=_STYLE,
        data=script_json({**data, "title": title}),
        script=_SCRIPT,
    )
