"""The web page of `shoal serve` in a real headless Chromium (Debian's, driven by Playwright):
sign in with a token, search with highlighted hits, ask and watch the cited answer arrive,
open a source, diff two versions, search an old version; keyboard only where a person would
type; a phone-width layout; no console error and no request leaving the server. Each step
leaves a screenshot (in $SHOAL_SCREENSHOTS, else the test's temporary folder)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_map_browser import ARGS, CHROMIUM, Page, pytestmark  # noqa: F401  (skip rule)

import shoal
from server_fixtures import running
from shoal.server._app import Datasets, create_app
from shoal.server._tokens import TokenStore


@pytest.fixture(scope="module")
def served(
    _session_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A server with tokens and one dataset of three versions; (url, a read token)."""
    root = tmp_path_factory.mktemp("ui")
    (root / "data").mkdir()
    tokens = TokenStore(root / "tokens.json")
    admin = tokens.create("admin", {"*": "admin"})
    reader = tokens.create("reader", {"docs": "read"})
    with running(create_app(Datasets([root / "data"]), tokens=tokens)) as url:
        docs = shoal.connect(url, token=admin).open("docs", embedder="hash:64")
        docs.add(
            ["The cat sat on the mat.", "Michael Jordan was born on February 17, 1963."],
            ids=["cat", "jordan"],
            metadatas=[{"topic": "pets"}, {"topic": "sport"}],
        )
        docs.commit("first rows", tag="v1")
        docs.add(["A <b>bold</b> cat & a dog </script>"], ids=["hostile"])
        notes = [f"note {i} about fish" for i in range(45)]
        docs.add(notes, ids=[f"n{i:02d}" for i in range(45)], metadatas=[{"topic": "fish"}] * 45)
        yield url, reader


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1200, "height": 900},
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()


def test_a_person_signs_in_searches_asks_and_reads_the_versions(
    served: tuple[str, str], browser: Any, tmp_path: Path
) -> None:
    url, token = served
    shots = Path(os.environ.get("SHOAL_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = Page(browser.new_page())
    requests: list[str] = []
    page.page.on("request", lambda request: requests.append(request.url))
    ui = page.page
    ui.goto(url + "/")
    ui.wait_for_selector("#status:has-text('Sign in')")
    ui.screenshot(path=shots / "1-sign-in.png")

    ui.focus("#token")  # keyboard only: type the token, Enter signs in
    ui.keyboard.type(token)
    ui.keyboard.press("Enter")
    ui.wait_for_function("() => document.getElementById('dataset').options.length === 1")
    assert ui.input_value("#dataset") == "docs"
    ui.wait_for_selector("#log tr")
    ui.screenshot(path=shots / "2-signed-in.png")

    ui.focus("#query")
    ui.keyboard.type("cat on the mat")
    ui.keyboard.press("Enter")
    ui.wait_for_selector("#hits li")
    first = ui.inner_text("#hits li:first-child")
    assert "The cat sat on the mat." in first and "pets" in first
    assert ui.locator("#hits mark").count() >= 2, "the query's words are highlighted"
    hostile = ui.locator("#hits li", has_text="bold")
    assert hostile.count() == 1 and ui.locator("#hits b").count() == 0, "text stays text"
    ui.screenshot(path=shots / "3-search.png")

    ui.fill("#question", "When was Michael Jordan born?")
    ui.click("#ask button")
    ui.wait_for_selector("#sources .source")
    assert "1963" in ui.inner_text("#answer")
    ui.click("#sources a >> nth=0")
    assert ui.locator(".source.chosen").count() == 1
    ui.screenshot(path=shots / "4-ask.png")

    ui.select_option("#diff-a", label=str(_version(ui, "first rows")))
    ui.click("#diff button")
    ui.wait_for_selector("#diff-out p")
    assert "46 added: +hostile" in ui.inner_text("#diff-out")
    ui.select_option("#ref", label=str(_version(ui, "first rows")))
    ui.fill("#query", "bold cat dog")
    ui.click("#search button")
    ui.wait_for_function(
        "() => !document.getElementById('hits').innerText.includes('bold')", timeout=10_000
    )
    ui.screenshot(path=shots / "5-versions.png")

    assert ui.inner_text("#rows-where") == "rows 1-20 of 48"
    assert ui.locator("#rows tr").count() == 20 and ui.is_disabled("#rows-prev")
    ui.click("#rows-next")
    ui.wait_for_selector("#rows-where:has-text('rows 21-40 of 48')")
    ui.click("#rows-next")
    ui.wait_for_selector("#rows-where:has-text('rows 41-48 of 48')")
    assert ui.is_disabled("#rows-next") and '"topic":"fish"' in ui.inner_text("#rows")
    ui.screenshot(path=shots / "6-rows.png")

    ui.fill("#map-color", "topic")
    ui.click("#map-form button")
    ui.wait_for_selector("#map:not([hidden])")
    # A frame locator finds the frame again on every poll (the sandboxed srcdoc frame may
    # move to another renderer process as it loads). Generous: the suite runs files in
    # parallel, and the load test may hold both cores.
    frame = ui.frame_locator("#map")
    try:
        frame.locator("body[data-points='48']").wait_for(state="attached", timeout=90_000)
    except Exception as exc:  # say what the frame shows, not only that it timed out
        state = frame.locator("body").evaluate(
            "(b) => ({points: b.dataset.points, width: innerWidth, height: innerHeight, "
            "stage: document.getElementById('stage').clientWidth})"
        )
        raise AssertionError(f"the map did not draw its 48 points: {state}") from exc
    drawn = frame.locator("canvas").evaluate("""(c) => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let k = 3; k < d.length; k += 4) if (d[k] === 255) n++; return n; }""")
    assert drawn > 48, "the points are painted"
    # Headless Chromium leaves a sandboxed frame out of page screenshots: the map's own shot.
    alone = browser.new_page()
    alone.set_content(ui.evaluate("document.getElementById('map').srcdoc"))
    alone.wait_for_function("() => Number(document.body.dataset.points) === 48")
    assert "data" not in alone.inner_text("body").split("\n")[0], "no server path in the title"
    alone.screenshot(path=shots / "7-map.png")
    alone.close()

    ui.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert ui.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ui.screenshot(path=shots / "8-phone.png", full_page=True)
    assert not page.problems, page.problems
    assert requests and all(r.startswith(url + "/") for r in requests), requests
    assert len(list(shots.glob("*.png"))) >= 8


def test_a_bad_token_and_a_bad_filter_are_shown_not_thrown(
    served: tuple[str, str], browser: Any
) -> None:
    url, token = served
    page = Page(browser.new_page())
    ui = page.page
    ui.goto(url + "/")
    ui.fill("#token", token)
    ui.click("#login button")
    ui.wait_for_function("() => document.getElementById('dataset').options.length === 1")
    ui.fill("#query", "cat")
    ui.fill("#where", "{not json")
    ui.click("#search button")
    ui.wait_for_selector("#status:has-text('The filter is not JSON')")
    assert not page.problems, page.problems


def _version(ui: Any, message: str) -> int:
    """The version whose log row carries `message`."""
    row = ui.locator("#log tr", has_text=message).first
    return int(row.locator("td").first.inner_text())
