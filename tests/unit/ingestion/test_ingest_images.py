"""Image files ingested beside text ones: one row per image, bytes and thumbnail stored, bad files reported."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import shoal
from image_fixtures import base_images, jpeg_bytes, png_bytes
from shoal.analysis import near_duplicates


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "pictures"
    root.mkdir()
    pictures = base_images()
    for name in ("red-circle", "blue-bar", "stripes", "green-triangle"):
        (root / f"{name}.png").write_bytes(png_bytes(pictures[name]))
    exif = Image.Exif()
    exif[0x010E] = "Two yellow suns"  # ImageDescription
    exif[0x0110] = "Shoal Camera 1"  # Model
    pictures["two-suns"].save(root / "holiday_photo.jpg", format="JPEG", exif=exif)
    pictures["red-circle"].resize((80, 80)).save(root / "red-circle-small.webp", format="WEBP")
    good = jpeg_bytes(pictures["cross"])
    (root / "cut.jpg").write_bytes(good[: len(good) // 2])  # a truncated JPEG
    (root / "fake.png").write_text("this is a text file named .png\n")
    Image.new("L", (7100, 7100)).save(root / "huge.png")  # 50.4 megapixels
    (root / "notes.md").write_text("# Notes\n\nThe red circle is the first picture.\n")
    return root


def _reasons(report: shoal.IngestReport) -> dict[str, str]:
    return {Path(source).name: reason for source, reason in report.failed}


def test_images_become_rows_with_bytes_thumbnails_and_exif(folder: Path, tmp_path: Path) -> None:
    report = shoal.ingest(folder, into=tmp_path / "ds", embedder="phash:v1")
    reasons = _reasons(report)
    assert "damaged or truncated" in reasons["cut.jpg"]
    assert "is not an image" in reasons["fake.png"]
    assert "50.4 megapixels" in reasons["huge.png"]
    assert "embeds images only" in reasons["notes.md"]
    assert len(report.new) == 6 and report.chunks_added == 6
    ds = shoal.open(str(tmp_path / "ds"))
    fields = [
        "text",
        "name",
        "format",
        "width",
        "height",
        "exif_Model",
        "type",
        "image",
        "thumbnail",
    ]
    rows = {r["name"]: r for r in ds.select(fields)}
    photo = rows["holiday_photo.jpg"]
    assert photo["text"] == "holiday photo: Two yellow suns"
    assert (photo["format"], photo["width"], photo["height"]) == ("jpeg", 160, 160)
    assert photo["exif_Model"] == "Shoal Camera 1" and photo["type"] == "image"
    assert photo["image"] == (folder / "holiday_photo.jpg").read_bytes()
    thumb = Image.open(io.BytesIO(rows["red-circle.png"]["thumbnail"]))
    assert thumb.format == "JPEG" and max(thumb.size) <= 256
    assert rows["red-circle-small.webp"]["format"] == "webp"
    again = shoal.ingest(folder, into=tmp_path / "ds", embedder="phash:v1")
    assert len(again.unchanged) == 6 and again.chunks_added == 0


def test_reverse_search_and_dedup_on_ingested_images(folder: Path, tmp_path: Path) -> None:
    shoal.ingest(folder, into=tmp_path / "ds", embedder="phash:v1")
    ds = shoal.open(str(tmp_path / "ds"))
    turned = base_images()["blue-bar"].rotate(90, expand=True)
    assert ds.search(image=turned, k=1)[0].text == "blue bar"
    groups = near_duplicates(ds)
    names = [sorted(ds.get([i])[0].text for i in group) for group in groups]
    assert names == [["red circle", "red circle small"]]
    with pytest.raises(shoal.InvalidInput, match="not both"):
        ds.search("blue", image=turned)
    with pytest.raises(shoal.InvalidInput, match="mode='vector'"):
        ds.search(image=turned, mode="keyword")


def test_a_text_dataset_reads_the_images_text_instead(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime", reason="OCR needs the ocr extra")
    report = shoal.ingest(folder, into=tmp_path / "text", embedder="hash:32")
    assert "notes.md" in {Path(s).name for s in report.new}
    # Read by OCR (test_media.py): pictures without text are empty, not embedded as images.
    read = {Path(s).name for s in report.new + report.empty}
    assert {"red-circle.png", "holiday_photo.jpg"} <= read
    assert not {Path(s.path).name for s in report.skipped} & read


def test_changed_image_replaces_its_row(folder: Path, tmp_path: Path) -> None:
    shoal.ingest(folder, into=tmp_path / "ds", embedder="phash:v1")
    (folder / "stripes.png").write_bytes(png_bytes(base_images()["gradient"]))
    report = shoal.ingest(folder, into=tmp_path / "ds", embedder="phash:v1")
    assert [Path(s).name for s in report.changed] == ["stripes.png"]
    assert report.chunks_added == 1 and report.chunks_removed == 1
    ds = shoal.open(str(tmp_path / "ds"))
    hit = ds.search(image=base_images()["gradient"], k=1)[0]
    assert hit.metadata["name"] == "stripes.png" and hit.score > 0.99
