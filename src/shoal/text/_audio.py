"""Speech-to-text: audio files into timestamped transcript segments, and clips of the audio.

`transcribe(path)` decodes a file (WAV, MP3, FLAC, Ogg...: FFmpeg's decoders through PyAV)
to 16 kHz mono, runs a Whisper model on it with faster-whisper (CTranslate2, int8 on the
CPU) and returns one `Document` per segment the model timed: its text, and `source`,
`type` ("audio"), `start`, `end` and `duration` (seconds) and `language` (spoken, as
Whisper detected it) in its metadata. Silero's voice-activity filter (shipped inside
faster-whisper) skips the silences where Whisper would otherwise invent words.

`Transcript.clip(start, end)` gives a span of the decoded audio as a WAV file (16 kHz
mono, 16-bit): what the model heard, for a player to play from a hit's timestamp.

faster-whisper is optional: ``pip install 'shoal[audio]'`` installs it and the default
model's packages (see `_whisper`).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shoal._checks import needs
from shoal.errors import InvalidInput
from shoal.settings import num_threads
from shoal.text._whisper import DEFAULT_SPEECH_MODEL, whisper_model
from shoal.types import Document

__all__ = [
    "AUDIO_SUFFIXES",
    "SAMPLE_RATE",
    "SpeechToText",
    "Transcript",
    "audio_available",
    "speech_to_text",
    "transcribe",
]

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg")
"""File types `shoal ingest` transcribes."""
SAMPLE_RATE = 16_000
"""Whisper's sample rate: files are decoded to it, and clips are written at it."""
_EXTRA = "audio"


@functools.cache  # asked for every file of a walk: look once
def audio_available() -> bool:
    """True when faster-whisper is installed (the ``audio`` extra), so audio files can be read."""
    return importlib.util.find_spec("faster_whisper") is not None


@dataclass
class Transcript:
    """A file's transcript: its timed segments, the decoded audio, its duration and language."""

    source: str
    segments: list[Document]
    samples: np.ndarray = field(repr=False)
    language: str | None

    @property
    def duration(self) -> float:
        """The audio's length in seconds."""
        return round(len(self.samples) / SAMPLE_RATE, 3)

    def clip(self, start: float, end: float) -> bytes:
        """The audio from `start` to `end` seconds as a WAV file (16 kHz mono, 16-bit PCM)."""
        first = max(0, int(start * SAMPLE_RATE))
        last = min(len(self.samples), max(first, int(np.ceil(end * SAMPLE_RATE))))
        pcm = np.clip(self.samples[first:last], -1.0, 1.0)
        out = io.BytesIO()
        with wave.open(out, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(SAMPLE_RATE)
            writer.writeframes((pcm * 32767).astype("<i2").tobytes())
        return out.getvalue()


class SpeechToText:
    """A Whisper model loaded once, transcribing files: ``SpeechToText().transcribe("talk.mp3")``.

    Args:
        model: a packaged model's name (`shoal.text.speech_models()`; default
            ``whisper-base``) or the folder of a CTranslate2 Whisper model.
        language: the spoken language's code ("en", "de"...); default: detected per file.
        beam_size: beams of the decoder search (faster-whisper's default, 5).
        threads: CPU threads; default $SHOAL_NUM_THREADS, else every usable core.

    Raises:
        MissingDependency: faster-whisper is not installed.
        ModelNotFound: the model's folder or packages cannot be found.
    """

    def __init__(
        self,
        model: str = DEFAULT_SPEECH_MODEL,
        *,
        language: str | None = None,
        beam_size: int = 5,
        threads: int | None = None,
    ) -> None:
        engine = needs("faster_whisper", _EXTRA)
        self.model = model
        self.path = whisper_model(model)
        self.language = language
        self.beam_size = beam_size
        # int8 on the CPU: faster-whisper's recommended CPU type (its README's benchmark).
        self._model: Any = engine.WhisperModel(
            str(self.path), device="cpu", compute_type="int8", cpu_threads=threads or num_threads()
        )
        self._decode: Any = engine.decode_audio
        self._lock = threading.Lock()

    def decode(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The file's audio as 16 kHz mono float32 samples.

        Raises:
            InvalidInput: the file cannot be read or decoded, or holds no audio.
        """
        file = Path(path)
        if not file.is_file():
            raise InvalidInput(f"no such audio file: {file}; check the path")
        try:
            samples = np.asarray(self._decode(str(file), sampling_rate=SAMPLE_RATE), np.float32)
        except Exception as exc:  # PyAV raises FFmpeg's many error kinds on damaged files
            raise InvalidInput(
                f"cannot decode audio file {file} ({type(exc).__name__}: {exc}); the file may "
                "be damaged, truncated or not audio: check that a player opens it"
            ) from exc
        if len(samples) == 0:
            raise InvalidInput(
                f"{file} holds no audio (0 seconds decoded); record or export it again"
            )
        return samples

    def transcribe(self, path: str | os.PathLike[str]) -> Transcript:
        """The file's transcript: one Document per timed segment, and the decoded audio.

        Raises:
            InvalidInput: the file cannot be read or decoded, or holds no audio.
        """
        file = Path(path)
        samples = self.decode(file)
        duration = round(len(samples) / SAMPLE_RATE, 3)
        with self._lock:  # one CTranslate2 model: one transcription at a time
            segments, info = self._model.transcribe(
                samples,
                language=self.language,
                beam_size=self.beam_size,
                vad_filter=True,
            )
            timed = [(float(s.start), float(s.end), str(s.text).strip()) for s in segments]
        language = getattr(info, "language", None) or self.language
        documents = []
        for start, end, text in timed:
            if not text:
                continue
            metadata: dict[str, Any] = {
                "source": str(file),
                "type": "audio",
                "start": round(start, 2),
                "end": min(round(end, 2), duration),
                "duration": duration,
            }
            if language:
                metadata["language"] = language
            documents.append(Document(text=text, metadata=metadata))
        return Transcript(str(file), documents, samples, language)


_shared: dict[tuple[str, str | None], SpeechToText] = {}
_shared_lock = threading.Lock()


def speech_to_text(model: str = DEFAULT_SPEECH_MODEL, language: str | None = None) -> SpeechToText:
    """A `SpeechToText` for `model`, loaded once per process and shared."""
    with _shared_lock:
        key = (model, language)
        if key not in _shared:
            _shared[key] = SpeechToText(model, language=language)
        return _shared[key]


def transcribe(
    path: str | os.PathLike[str],
    *,
    model: str = DEFAULT_SPEECH_MODEL,
    language: str | None = None,
) -> list[Document]:
    """Transcribe an audio file into one Document per timed segment (`start`/`end` in seconds).

    Raises:
        MissingDependency: faster-whisper is not installed: pip install 'shoal[audio]'.
        ModelNotFound: the model's packages are not installed (the error says which).
        InvalidInput: the file cannot be decoded, or holds no audio.
    """
    return speech_to_text(model, language).transcribe(path).segments
