"""`shoal ingest`, `search --image`, `similar --image` and `dedup` on a folder of images (phash:v1, open_clip:)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import plain, run
from PIL import Image

from image_fixtures import base_images, jpeg_bytes, png_bytes
from open_clip_fixtures import OPEN_CLIP_MISSING, tiny_open_clip


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    root = tmp_path / "pictures"
    root.mkdir()
    for name, image in base_images().items():
        (root / f"{name}.png").write_bytes(png_bytes(image))
    (root / "two-suns-copy.jpg").write_bytes(jpeg_bytes(base_images()["two-suns"], quality=70))
    good = jpeg_bytes(base_images()["cross"])
    (root / "broken.jpg").write_bytes(good[: len(good) // 3])
    (root / "readme.png").write_text("not a picture\n")
    Image.new("L", (7100, 7100)).save(root / "poster.png")
    return root


def test_ingest_then_search_by_image_and_dedup(pictures: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "pics")
    result = run("ingest", str(pictures), "--into", uri, "-m", "phash:v1")
    text = plain(result.output)
    assert result.exit_code == 1, text  # some files failed: the rest are ingested all the same
    assert "9 new, 3 failed" in text
    assert "broken.jpg is damaged or truncated" in text
    assert "readme.png is not an image" in text
    assert "poster.png is 7100x7100 = 50.4 megapixels" in text
    query = tmp_path / "query.png"
    base_images()["green-triangle"].rotate(90, expand=True).save(query)
    found = run("search", uri, "--image", str(query), "-k", "3", "--json")
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert hits[0]["text"] == "green triangle"
    dedup = run("dedup", uri, "--json")
    groups = json.loads(dedup.output)["groups"]
    assert len(groups) == 1 and len(groups[0]["drop"]) == 1
    keyword = run("search", uri, "triangle", "--mode", "keyword", "-k", "1")
    assert "green-triangle.png" in plain(keyword.output)


def test_similar_ranks_a_folder_of_images(pictures: Path, tmp_path: Path) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg_bytes(base_images()["stripes"].resize((90, 90)), quality=60))
    result = run(
        "similar",
        "--image",
        str(query),
        "--doc",
        str(pictures),
        "-m",
        "phash:v1",
        "-k",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    ranked = json.loads(lines[-1])
    assert Path(ranked[0]["text"]).name == "stripes.png"
    assert "skipped:" in result.output  # the unreadable files are named, the rest ranked


def test_search_needs_one_of_query_or_image(tmp_path: Path) -> None:
    result = run("search", str(tmp_path / "none"))
    assert result.exit_code != 0
    assert "QUERY text or --image PATH" in plain(result.output)


@pytest.mark.skipif(OPEN_CLIP_MISSING is not None, reason=str(OPEN_CLIP_MISSING))
def test_an_open_clip_model_ingests_and_finds_images_by_text_and_by_image(
    tmp_path: Path,
) -> None:
    tiny = tiny_open_clip(tmp_path / "model")
    model = f"open_clip:{tiny.folder}"
    root = tmp_path / "pictures"
    root.mkdir()
    pictures = base_images()
    for name, image in pictures.items():
        (root / f"{name}.png").write_bytes(png_bytes(image))
    uri = str(tmp_path / "pics")
    result = run("ingest", str(root), "--into", uri, "-m", model)
    assert result.exit_code == 0, plain(result.output)
    assert f"{len(pictures)} new" in plain(result.output)
    # Random weights: the expected order is the one the model's own vectors give.
    vectors = tiny.images(list(pictures.values()))
    titles = [name.replace("-", " ") for name in pictures]
    found = run("search", uri, "a red circle", "-k", "2", "--json")
    assert found.exit_code == 0, found.output
    best = np.argsort(-(vectors @ tiny.texts(["a red circle"])[0]))[:2]
    assert [hit["text"] for hit in json.loads(found.output)] == [titles[i] for i in best]
    query = tmp_path / "query.png"
    query.write_bytes(png_bytes(pictures["stripes"]))
    by_image = run("search", uri, "--image", str(query), "-k", "1", "--json")
    assert json.loads(by_image.output)[0]["text"] == "stripes"
    similar = run(
        "similar", "--image", str(query), "--doc", str(root), "-m", model, "-k", "1", "--json"
    )
    assert similar.exit_code == 0, similar.output
    assert (
        Path(json.loads(similar.output.strip().splitlines()[-1])[0]["text"]).name == "stripes.png"
    )
