"""Audio and images in `shoal.ingest`: speech becomes timed transcript chunks with their clips
in the `audio` column, images' text is read (OCR), and broken media fail one by one while
the rest of the folder is ingested; a rerun reads nothing again."""

from __future__ import annotations

import io
import itertools
import wave
from pathlib import Path

import pytest

import shoal
from media_fixtures import (
    PRINTED,
    PRINTED_WORDS,
    SECOND_SPEECH,
    SPEECH,
    SPEECH_WORDS,
    corrupt_audio,
    empty_wav,
    huge_image,
    render_text,
    speak,
    speak_all,
    truncated_jpeg,
)
from shoal import EmbeddingCache
from shoal.ingestion._media import MediaReader, _grouped, transcript_chunks
from shoal.text import RecursiveCharacterSplitter, Skipped
from shoal.types import Document

pytest.importorskip("faster_whisper", reason="audio ingest needs the audio extra")
pytest.importorskip("rapidocr_onnxruntime", reason="image ingest needs the ocr extra")


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """Notes, a recording, a screenshot, and five broken media files."""
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "notes.txt").write_text("Plain notes about gardening and tomatoes.\n")
    speak(SPEECH, folder / "talk.wav")
    render_text([PRINTED], folder / "screenshot.png")
    empty_wav(folder / "silence.wav")
    corrupt_audio(folder / "broken.mp3")
    truncated_jpeg(folder / "cut.jpg")
    (folder / "fake.png").write_text("a text file named like a picture\n")
    huge_image(folder / "poster.png")
    return folder


@pytest.mark.slow
def test_speech_and_images_are_ingested_and_broken_media_fail_alone(
    media: Path, tmp_path: Path, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    report = shoal.ingest(media, into=uri, embedder="hash:64", cache=cache)
    names = lambda paths: sorted(Path(p).name for p in paths)  # noqa: E731
    assert names(report.new) == ["notes.txt", "screenshot.png", "talk.wav"]
    failed = dict(report.failed)
    assert names(failed) == ["broken.mp3", "cut.jpg", "fake.png", "poster.png", "silence.wav"]
    assert "holds no audio (0 seconds decoded)" in failed[str(media / "silence.wav")]
    assert "cannot decode audio file" in failed[str(media / "broken.mp3")]
    assert "truncated or damaged" in failed[str(media / "cut.jpg")]
    assert "not an image Pillow can read" in failed[str(media / "fake.png")]
    assert "(50.0 megapixels), over the limit of 40" in failed[str(media / "poster.png")]

    dataset = shoal.open(uri)
    [speech] = dataset.search("orange cats", k=1, mode="keyword")
    assert speech.metadata["source"] == str(media / "talk.wav")
    assert all(word in speech.text.lower() for word in SPEECH_WORDS)
    meta = speech.metadata
    assert meta["type"] == "audio" and meta["language"] == "en"
    assert 0 <= meta["start"] < meta["end"] <= meta["duration"]
    [record] = dataset.get([speech.id])
    with wave.open(io.BytesIO(record.extras["audio"])) as clip:
        seconds = clip.getnframes() / clip.getframerate()
    assert seconds == pytest.approx(meta["end"] - meta["start"], abs=0.01)
    [printed] = dataset.search("walrus kettles", k=1, mode="keyword")
    assert printed.metadata["source"] == str(media / "screenshot.png")
    assert all(word in printed.text.lower() for word in PRINTED_WORDS)
    assert printed.metadata["type"] == "image" and printed.metadata["width"] == 1000
    [notes] = dataset.get([dataset.search("tomatoes", k=1, mode="keyword")[0].id])
    assert notes.extras["audio"] is None  # text rows have no clip
    # The run's rows carry its message, even though the audio column made a version first.
    assert dataset.log()[-1].message.startswith(f"ingest {media}: ")

    again = shoal.ingest(media, into=uri, cache=cache)
    assert names(again.unchanged) == ["notes.txt", "screenshot.png", "talk.wav"]
    assert not again.wrote and len(again.failed) == 5


@pytest.mark.slow
def test_a_recording_becomes_timed_chunks_that_cover_it_in_order(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "talks"
    folder.mkdir()
    speak_all([SPEECH, SECOND_SPEECH], folder / "ferry.wav", gap=1.5)
    splitter = RecursiveCharacterSplitter(chunk_size=70, chunk_overlap=0)
    report = shoal.ingest(
        folder, into=str(tmp_path / "kb"), embedder="hash:64", cache=cache, splitter=splitter
    )
    assert report.chunks_added >= 2
    rows = sorted(
        shoal.open(str(tmp_path / "kb")).select(["text", "start", "end", "chunk"]),
        key=lambda row: row["chunk"],
    )
    assert [row["start"] for row in rows] == sorted(row["start"] for row in rows)
    assert all(a["end"] <= b["start"] + 0.01 for a, b in itertools.pairwise(rows))
    assert "bakery" in rows[-1]["text"].lower() and "cats" in rows[0]["text"].lower()


def test_segments_group_up_to_the_chunk_size_in_order() -> None:
    segments = [
        Document(text, {"start": float(i), "end": i + 1.0})
        for i, text in enumerate(["one two", "three", "four five six", "seven"])
    ]
    groups = _grouped(segments, RecursiveCharacterSplitter(chunk_size=13, chunk_overlap=0))
    assert [[s.text for s in g] for g in groups] == [
        ["one two", "three"],
        ["four five six"],
        ["seven"],
    ]
    single = _grouped(segments[:1], RecursiveCharacterSplitter(chunk_size=3, chunk_overlap=0))
    assert [[s.text for s in g] for g in single] == [["one two"]]  # a long segment stays whole


def test_a_segment_longer_than_a_chunk_is_split_with_interpolated_times() -> None:
    long = Document("alpha beta gamma delta", {"source": "a.wav", "start": 10.0, "end": 14.4})
    after = Document("epsilon", {"source": "a.wav", "start": 15.0, "end": 16.0})
    chunks = transcript_chunks([long, after], RecursiveCharacterSplitter(11, 0))
    assert [c.text for c in chunks][:2] == ["alpha beta", "gamma"]
    assert " ".join(c.text for c in chunks[:-1]) == long.text
    # 22 characters over 4.4 s: "alpha beta" is characters 0-10, "gamma" 11-16.
    assert [(c.metadata["start"], c.metadata["end"]) for c in chunks[:2]] == [
        (10.0, 12.0),
        (12.2, 13.2),
    ]
    assert chunks[-2].metadata["end"] == 14.4
    assert (chunks[-1].text, chunks[-1].metadata["start"]) == ("epsilon", 15.0)
    assert all(c.metadata["source"] == "a.wav" for c in chunks)


def test_without_their_extras_media_stay_skipped_and_say_which(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = MediaReader()
    monkeypatch.setattr("shoal.ingestion._media.audio_available", lambda: False)
    monkeypatch.setattr("shoal.ingestion._media.ocr_available", lambda: False)
    assert reader.kind(Path("talk.mp3")) is None and reader.kind(Path("scan.png")) is None
    said = reader.explain(Skipped("/d/talk.flac", "binary", "audio (.flac)"))
    assert said.detail == "audio (.flac); pip install 'shoal[audio]' to read it"
    said = reader.explain(Skipped("/d/scan.webp", "binary", "an image (.webp)"))
    assert said.detail == "an image (.webp); pip install 'shoal[ocr]' to read it"
    video = Skipped("/d/clip.mp4", "binary", "a video (.mp4)")
    assert reader.explain(video) == video


def test_images_are_left_to_an_image_embedder(tmp_path: Path, cache: EmbeddingCache) -> None:
    reader = MediaReader(images=False)
    assert reader.kind(Path("scan.png")) is None and reader.kind(Path("talk.ogg")) == "audio"
    said = reader.explain(Skipped("/d/scan.png", "binary", "an image (.png)"))
    assert said.detail == "an image (.png)"  # not OCR's to read: no extra to suggest
