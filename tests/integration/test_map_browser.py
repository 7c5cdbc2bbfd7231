"""The map files in a real headless Chromium: the HTML page loads without errors, draws every
point, shows a row's text on hover and zooms; the PNG loads as an image.

Needs Debian's chromium (`apt-get install chromium`) and Python Playwright, which drives
that binary (`playwright install` is never needed). Without them the module is skipped,
unless SHOAL_REQUIRE_BROWSER=1 (as in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shoal.store as st
from shoal.analysis import map_dataset

CHROMIUM = os.environ.get("SHOAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GROUPS = ("cats", "dogs", "fish")
HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)> & more"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


_MISSING = _browser_missing()
if _MISSING and os.environ.get("SHOAL_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"SHOAL_REQUIRE_BROWSER=1 but {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


class Page:
    """A Playwright page that records console errors, page errors and dialogs."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1200, "height": 800},
            offline=True,
        )
        context.set_default_timeout(20_000)  # a page that never draws fails, not hangs
        yield context
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    opened = Page(browser.new_page())
    yield opened
    opened.page.close()


@pytest.fixture(scope="module")
def dataset() -> st.Dataset:
    """150 rows in three groups, embedded by the hash embedder; one row's text is hostile."""
    ds = st.open(f"memory://browser-{uuid.uuid4().hex}", embedder="hash:64")
    texts = [f"note {i}: a story about {GROUPS[i % 3]}" for i in range(149)] + [HOSTILE]
    ds.add(texts, metadatas=[{"group": GROUPS[i % 3]} for i in range(150)])
    return ds


def rendered_points(page: Page) -> int:
    page.page.wait_for_function("() => document.body.dataset.points !== undefined")
    return int(page.page.evaluate("document.body.dataset.points"))


def canvas_colours(page: Page) -> set[str]:
    """The opaque colours painted on the map's canvas, as #rrggbb."""
    found: list[str] = page.page.evaluate(
        """() => {
        const c = document.getElementById("map"), d = c.getContext("2d")
            .getImageData(0, 0, c.width, c.height).data, seen = new Set();
        for (let k = 0; k < d.length; k += 4) if (d[k + 3] === 255)
            seen.add("#" + [d[k], d[k + 1], d[k + 2]].map(v => v.toString(16).padStart(2, "0")).join(""));
        return [...seen];
    }"""
    )
    return set(found)


def test_html_map_draws_every_point_and_shows_text_on_hover(
    dataset: st.Dataset, page: Page, tmp_path: Path
) -> None:
    out = tmp_path / "map.html"
    chart = map_dataset(dataset, out=out, color_by="group", method="pca")
    page.page.goto(out.as_uri())
    assert rendered_points(page) == 150 == page.page.evaluate("window.shoalMap.points")
    assert {"#1f77b4", "#ff7f0e", "#2ca02c"} <= canvas_colours(page)  # each group's colour
    assert page.page.inner_text("#legend").split("\n") == [
        "group",
        "cats (50)",
        "dogs (50)",
        "fish (50)",
    ]
    # Hover the row whose nearest neighbour on screen is farthest, and the hostile row.
    isolated = page.page.evaluate(
        """() => {
        const m = window.shoalMap, p = [...Array(m.points).keys()].map(i => m.screenPosition(i));
        let best = 0, bestGap = -1;
        p.forEach((a, i) => {
            const gap = Math.min(...p.filter((_, j) => j !== i).map(b => Math.hypot(a.x - b.x, a.y - b.y)));
            if (gap > bestGap) { bestGap = gap; best = i; }
        });
        return best;
    }"""
    )
    hostile = chart.texts.index(HOSTILE)
    for row in (isolated, hostile):
        position = page.page.evaluate(f"window.shoalMap.screenPosition({row})")
        page.page.mouse.move(position["x"], position["y"])
        page.page.wait_for_function(f"() => window.shoalMap.hovered === {row}")
        tooltip = page.page.inner_text("#tooltip")
        if row == isolated:  # another point may lie under the hostile one
            assert tooltip.split("\n") == [
                chart.texts[row],
                f"id: {chart.ids[row]}",
                f"group: {GROUPS[int(chart.texts[row].split()[1][:-1]) % 3]}",
            ]
        else:
            assert tooltip.startswith(HOSTILE)
    page.page.screenshot(path=str(tmp_path / "map-hover.png"))
    assert (tmp_path / "map-hover.png").read_bytes()[:4] == b"\x89PNG"
    assert page.problems == []


def test_html_map_zooms_in_on_the_wheel_and_resets(
    dataset: st.Dataset, page: Page, tmp_path: Path
) -> None:
    out = tmp_path / "map.html"
    map_dataset(dataset, out=out, method="pca")
    page.page.goto(out.as_uri())
    assert rendered_points(page) == 150
    box = page.page.locator("#map").bounding_box()
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.mouse.wheel(0, -1500)
    page.page.wait_for_function("() => Number(document.body.dataset.points) < 150")
    page.page.dblclick("#map")
    page.page.wait_for_function("() => Number(document.body.dataset.points) === 150")
    assert page.page.inner_text("#legend") == "" and page.problems == []


def test_png_map_loads_as_an_image(dataset: st.Dataset, page: Page, tmp_path: Path) -> None:
    map_dataset(
        dataset, out=tmp_path / "map.png", color_by="group", method="pca", width=900, height=700
    )
    (tmp_path / "view.html").write_text('<!DOCTYPE html><img id="map" src="map.png" alt="map">')
    page.page.goto((tmp_path / "view.html").as_uri())
    page.page.wait_for_function("() => document.getElementById('map').complete")
    size = page.page.evaluate(
        "[document.getElementById('map').naturalWidth, document.getElementById('map').naturalHeight]"
    )
    assert size == [900, 700] and page.problems == []


def test_html_map_of_images_shows_the_image_on_hover(page: Page, tmp_path: Path) -> None:
    from PIL import Image

    ds = st.open(f"memory://images-{uuid.uuid4().hex}", embedder="hash:64")
    colours = [(220, 30, 30), (30, 160, 60), (40, 60, 200), (240, 200, 20)]
    images = []
    for red, green, blue in colours * 3:
        out = io.BytesIO()
        Image.new("RGB", (300, 200), (red, green, blue)).save(out, format="PNG")
        images.append(out.getvalue())
    ds.add(
        [f"picture {i}" for i in range(len(images))],
        columns={"thumbnail": st.Binary(images, content_type="image/png")},
    )
    out_file = tmp_path / "images.html"
    chart = map_dataset(ds, out=out_file, method="pca")
    page.page.goto(out_file.as_uri())
    assert rendered_points(page) == len(images)
    position = page.page.evaluate("window.shoalMap.screenPosition(0)")
    page.page.mouse.move(position["x"], position["y"])
    page.page.wait_for_function("() => window.shoalMap.hovered >= 0")
    shown = page.page.wait_for_function(
        """() => { const img = document.querySelector("#tooltip img.thumb");
                   return img && img.complete && img.naturalWidth > 0
                       ? [img.naturalWidth, img.naturalHeight] : null; }"""
    ).json_value()
    assert shown == [96, 64], "the 300x200 image, shrunk to 96 pixels a side"
    hovered = page.page.evaluate("window.shoalMap.hovered")
    assert page.page.inner_text("#tooltip").startswith(chart.texts[hovered])
    assert page.problems == []
