"""Speech-to-text with the packaged Whisper base: speech synthesised by espeak-ng is
transcribed into timed segments; clips are WAV files of the span asked for; silent, empty
and corrupt files are refused with what to do."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import pytest

from media_fixtures import SPEECH, SPEECH_WORDS, corrupt_audio, empty_wav, speak
from shoal.errors import InvalidInput
from shoal.text import SAMPLE_RATE, Transcript, speech_to_text, transcribe, whisper_model
from shoal.text._whisper import _PACKAGED

pytest.importorskip("faster_whisper", reason="speech-to-text needs the audio extra")
pytestmark = pytest.mark.slow  # loads Whisper base (a few seconds)


def test_the_packaged_model_joins_into_its_pinned_files() -> None:
    folder = whisper_model("whisper-base")
    entry = _PACKAGED["whisper-base"][0]
    assert folder.name == entry.folder_name
    for name, digest in entry.files:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert (folder / "model.bin").stat().st_size == 145_217_532


def test_speech_is_transcribed_into_timed_segments(tmp_path: Path) -> None:
    audio = speak(SPEECH, tmp_path / "talk.wav", gap=2.0)
    [segment] = transcribe(audio)
    assert all(word in segment.text.lower() for word in SPEECH_WORDS)
    meta = segment.metadata
    assert meta["source"] == str(audio) and meta["type"] == "audio"
    assert meta["language"] == "en"
    # The speech starts after 2 s of silence, which the voice-activity filter skips.
    assert 1.0 <= meta["start"] <= 2.5 < meta["end"] <= meta["duration"]
    with wave.open(str(audio)) as source:
        assert meta["duration"] == pytest.approx(
            source.getnframes() / source.getframerate(), abs=0.01
        )


def test_a_clip_is_a_wav_of_the_span_asked_for(tmp_path: Path) -> None:
    audio = speak(SPEECH, tmp_path / "talk.wav")
    transcript = Transcript(str(audio), [], speech_to_text().decode(audio), "en")
    clip = transcript.clip(0.5, 1.75)
    with wave.open(io.BytesIO(clip)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        assert reader.getframerate() == SAMPLE_RATE
        assert reader.getnframes() == int(1.25 * SAMPLE_RATE)
    with wave.open(io.BytesIO(transcript.clip(0, 10_000))) as whole:
        assert whole.getnframes() == len(transcript.samples)  # clamped to the audio


def test_empty_and_corrupt_audio_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"holds no audio \(0 seconds decoded\)"):
        transcribe(empty_wav(tmp_path / "empty.wav"))
    with pytest.raises(InvalidInput, match=r"cannot decode audio file .* may be damaged"):
        transcribe(corrupt_audio(tmp_path / "broken.mp3"))
    with pytest.raises(InvalidInput, match="no such audio file"):
        transcribe(tmp_path / "missing.flac")
