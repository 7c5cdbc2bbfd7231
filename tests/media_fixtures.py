"""Media the tests make themselves: speech synthesised by espeak-ng, text rendered into images
by Pillow, and the broken files an ingest must report (a 0-second WAV, a corrupt MP3, a
truncated JPEG, a text file named .png, a 50-megapixel image)."""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

ESPEAK = "espeak-ng"

# Words espeak-ng says clearly and Whisper base writes as said (checked by hand: "lighthouse
# keeper" comes back as "light housekeeper", so the tests look for the other words).
SPEECH = "The lighthouse keeper feeds seven orange cats every morning."
SPEECH_WORDS = ("seven", "orange", "cats", "morning")
SECOND_SPEECH = "Later the ferry brings fresh bread from the island bakery."
PRINTED = "The walrus sings about copper kettles."
PRINTED_WORDS = ("walrus", "copper", "kettles")


def espeak() -> str:
    """The espeak-ng executable; skips the test without it (fails under SHOAL_REQUIRE_ESPEAK=1)."""
    found = shutil.which(ESPEAK)
    if found is None:
        if os.environ.get("SHOAL_REQUIRE_ESPEAK") == "1":
            pytest.fail(
                "SHOAL_REQUIRE_ESPEAK=1 but espeak-ng is missing (apt-get install espeak-ng)"
            )
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng; make test does)")
    return found


def speak(text: str, path: Path, *, gap: float = 0.0) -> Path:
    """Write `text` spoken by espeak-ng to the WAV file `path` (after `gap` seconds of silence)."""
    spoken = path.with_suffix(".speech.wav") if gap else path
    subprocess.run([espeak(), "-w", str(spoken), text], check=True, capture_output=True)
    if gap:
        with wave.open(str(spoken), "rb") as reader:
            params, frames = reader.getparams(), reader.readframes(reader.getnframes())
        silence = b"\0" * int(gap * params.framerate) * params.sampwidth * params.nchannels
        with wave.open(str(path), "wb") as writer:
            writer.setparams(params)
            writer.writeframes(silence + frames)
        spoken.unlink()
    return path


def speak_all(texts: list[str], path: Path, *, gap: float = 1.5) -> Path:
    """Write `texts` spoken one after another, `gap` seconds of silence apart, to `path`."""
    params, frames = None, []
    for i, text in enumerate(texts):
        part = speak(text, path.with_suffix(f".{i}.wav"))
        with wave.open(str(part), "rb") as reader:
            params = reader.getparams()
            frames.append(reader.readframes(reader.getnframes()))
        part.unlink()
    assert params is not None
    silence = b"\0" * int(gap * params.framerate) * params.sampwidth * params.nchannels
    with wave.open(str(path), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(silence.join(frames))
    return path


PAGE = (1000, 740)
"""The rendered pages' size: a shorter side over 736 px, which RapidOCR reads unscaled
(it scales smaller images up for detection, which takes several times as long)."""


def render_text(lines: list[str], path: Path) -> Path:
    """A page of `lines` in black on white, as a scan or screenshot would show them."""
    font = ImageFont.load_default(size=40)
    image = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((20, 30 + 80 * row), line, fill="black", font=font)
    image.save(path)
    return path


def empty_wav(path: Path) -> Path:
    """A valid WAV file of 0 seconds."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(b"")
    return path


def corrupt_audio(path: Path) -> Path:
    """Bytes that start like an MP3 (an ID3 tag) and hold no audio."""
    path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 20)
    return path


def truncated_jpeg(path: Path) -> Path:
    """A JPEG cut off after its first third."""
    image = Image.radial_gradient("L").resize((400, 300)).convert("RGB")
    image.save(path, "JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def huge_image(path: Path) -> Path:
    """A 50-megapixel PNG (one colour, so the file itself is small)."""
    Image.new("1", (10_000, 5_000), 1).save(path)
    return path
