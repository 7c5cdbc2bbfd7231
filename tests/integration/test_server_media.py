"""Images and audio clips from `shoal serve`: one row's binary value over HTTP (scopes, refs,
errors), and the web page showing a hit's image and playing its clip in headless Chromium."""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_map_browser import ARGS, CHROMIUM, Page, pytestmark  # noqa: F401  (skip rule)

import shoal
from server_fixtures import running
from shoal.server._app import Datasets, create_app
from shoal.server._tokens import TokenStore


def _png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 80), colour).save(out, format="PNG")
    return out.getvalue()


def _wav(seconds: float, pitch: float) -> bytes:
    rate = 16_000
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * pitch * i / rate)) for i in range(int(seconds * rate))
        )
        file.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


@pytest.fixture(scope="module")
def served(
    _session_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str], int]]:
    """A server with a dataset of images with clips (url, tokens by role, its first version)."""
    root = tmp_path_factory.mktemp("media")
    ds = shoal.open(root / "data" / "media", embedder="hash:64")
    ds.add(
        ["a red square picture with a low hum", "a blue square picture with a high tone"],
        ids=["red", "blue"],
        metadatas=[{"start": 12.0, "end": 13.0, "source": "talk.wav"},
                   {"start": 61.5, "end": 62.5, "source": "talk.wav"}],
        columns={
            "thumbnail": shoal.Binary([_png((200, 20, 20)), _png((20, 20, 200))], "image/png"),
            "audio": shoal.Binary([_wav(1.0, 220), _wav(1.0, 880)], "audio/wav"),
        },
    )  # fmt: skip
    first = ds.version
    ds.add(["a green square picture"], ids=["green"],
           columns={"thumbnail": shoal.Binary([_png((20, 200, 20))], "image/png"),
                    "audio": shoal.Binary([_wav(0.5, 440)], "audio/wav")})  # fmt: skip
    tokens = TokenStore(root / "tokens.json")
    roles = {
        "reader": tokens.create("reader", {"media": "read"}),
        "other": tokens.create("other", {"elsewhere": "read"}),
    }
    with running(create_app(Datasets([root / "data"]), tokens=tokens)) as url:
        yield url, roles, first


def _get(url: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url + path, headers=headers, timeout=30)


def test_a_rows_binary_value_comes_back_as_its_content_type(
    served: tuple[str, dict[str, str], int],
) -> None:
    url, roles, first = served
    image = _get(url, "/v1/datasets/media/rows/red/thumbnail", roles["reader"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == _png((200, 20, 20))
    assert image.headers["x-content-type-options"] == "nosniff"
    clip = _get(url, "/v1/datasets/media/rows/blue/audio", roles["reader"])
    assert clip.headers["content-type"] == "audio/wav" and clip.content[:4] == b"RIFF"
    assert _get(url, "/v1/datasets/media/rows/green/audio", roles["reader"]).status_code == 200
    past = _get(url, f"/v1/datasets/media/rows/green/audio?ref={first}", roles["reader"])
    assert past.status_code == 404 and "no row 'green'" in past.json()["error"]["message"]


def test_the_media_route_checks_tokens_columns_and_rows(
    served: tuple[str, dict[str, str], int],
) -> None:
    url, roles, _ = served
    assert _get(url, "/v1/datasets/media/rows/red/thumbnail", None).status_code == 401
    assert _get(url, "/v1/datasets/media/rows/red/thumbnail", roles["other"]).status_code == 403
    missing = _get(url, "/v1/datasets/media/rows/nope/thumbnail", roles["reader"])
    assert missing.status_code == 404
    text = _get(url, "/v1/datasets/media/rows/red/text", roles["reader"])
    assert text.status_code == 400
    assert "binary columns: audio, thumbnail" in text.json()["error"]["message"]
    # Scope first: a token never learns which other datasets exist.
    assert _get(url, "/v1/datasets/nothing/rows/red/audio", roles["reader"]).status_code == 403
    spec = httpx.get(url + "/openapi.json", timeout=30).json()
    assert "/v1/datasets/{name}/rows/{row_id}/{column}" in spec["paths"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=[*ARGS, "--autoplay-policy=no-user-gesture-required"],
            viewport={"width": 1200, "height": 900},
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()


def test_hits_show_their_image_and_play_their_clip(
    served: tuple[str, dict[str, str], int], browser: Any, tmp_path: Path
) -> None:
    url, roles, _ = served
    page = Page(browser.new_page())
    ui = page.page
    ui.goto(url + "/")
    ui.fill("#token", roles["reader"])
    ui.click("#login button")
    ui.wait_for_selector("#log tr")
    ui.fill("#query", "blue square high tone")
    ui.click("#search button")
    ui.wait_for_selector("#hits li")
    assert "1:01-1:02" in ui.inner_text("#hits li:first-child"), "the clip's time in the talk"
    size = ui.wait_for_function(
        """() => { const img = document.querySelector("#hits li:first-child img.thumb");
                   return img && img.complete && img.naturalWidth > 0
                       ? [img.naturalWidth, img.naturalHeight] : null; }"""
    ).json_value()
    assert size == [120, 80]
    seconds = ui.wait_for_function(
        """() => { const a = document.querySelector("#hits li:first-child audio");
                   return a && a.readyState >= 1 && a.duration > 0 ? a.duration : null; }"""
    ).json_value()
    assert abs(seconds - 1.0) < 0.05, "the row's own one-second clip"
    played = ui.evaluate(
        """async () => { const a = document.querySelector("#hits li:first-child audio");
                         a.muted = true; await a.play(); return !a.paused; }"""
    )
    assert played
    ui.screenshot(path=tmp_path / "media-hits.png")
    assert page.problems == []
