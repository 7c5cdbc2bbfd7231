"""Text inside images (OCR with RapidOCR's packaged models): rendered text is read back, in
lines; broken, fake and oversized images are refused with what to do; scanned PDF pages
have their text read."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from media_fixtures import PAGE, PRINTED, PRINTED_WORDS, huge_image, render_text, truncated_jpeg
from shoal.errors import InvalidInput
from shoal.text import load_file, read_image_text

pytest.importorskip("rapidocr_onnxruntime", reason="OCR needs the ocr extra")


@pytest.mark.slow
def test_rendered_text_is_read_back_line_by_line(tmp_path: Path) -> None:
    image = render_text([PRINTED, "Invoice 4471 is overdue."], tmp_path / "screenshot.png")
    [document] = read_image_text(image)
    lines = document.text.lower().splitlines()
    assert len(lines) == 2
    assert all(word in lines[0] for word in PRINTED_WORDS)
    assert "4471" in lines[1] and "overdue" in lines[1]
    assert document.metadata == {
        "source": str(image),
        "type": "image",
        "width": PAGE[0],
        "height": PAGE[1],
        "ocr": True,
    }


def test_an_image_without_text_gives_no_document(tmp_path: Path) -> None:
    blank = tmp_path / "blank.webp"
    Image.new("RGB", PAGE, "white").save(blank)
    assert read_image_text(blank) == []


@pytest.mark.slow
def test_a_scanned_pdf_page_has_its_text_read(tmp_path: Path) -> None:
    page = Image.open(render_text([PRINTED], tmp_path / "page.png"))
    scan = tmp_path / "scan.pdf"
    page.convert("RGB").save(scan, "PDF", resolution=100)
    [document] = load_file(scan)
    assert all(word in document.text.lower() for word in PRINTED_WORDS)
    assert document.metadata["page"] == 1 and document.metadata["ocr"] is True


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: truncated_jpeg(p / "cut.jpg"), "truncated or damaged"),
        (lambda p: _text_as_png(p / "notes.png"), "not an image Pillow can read"),
        (lambda p: huge_image(p / "poster.png"), r"10000x5000 \(50.0 megapixels\), over the limit"),
    ],
    ids=["truncated-jpeg", "text-named-png", "50-megapixels"],
)
def test_bad_images_are_refused_with_what_to_do(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=expected):
        read_image_text(make(tmp_path))


def test_the_pixel_limit_can_be_raised_for_trusted_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = render_text(["Small print."], tmp_path / "small.png")
    monkeypatch.setenv("SHOAL_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(InvalidInput, match="raise SHOAL_MAX_IMAGE_PIXELS"):
        read_image_text(image)
    monkeypatch.setenv("SHOAL_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(InvalidInput, match="must be a positive whole number"):
        read_image_text(image)


def _text_as_png(path: Path) -> Path:
    path.write_text("just some text pretending to be a picture\n")
    return path
