"""Audio and image files in an ingest: transcripts with timestamps and clips, text read from images.

An audio file (`AUDIO_SUFFIXES`) is transcribed (`shoal.text.SpeechToText`); its timed
segments are grouped, in order, into chunks of at most the splitter's `chunk_size` (by its
own length function: characters, or the model's tokens), so each chunk is a stretch of
speech with one `start` and `end`. Each chunk row keeps its clip of the audio in the
binary column `audio` (a WAV file, 16 kHz mono: what the model heard), so a hit plays
from its own bytes without fetching the whole recording; the clips of a file do not
overlap, so the file is stored once over its rows.

An image file (`IMAGE_SUFFIXES`) goes to OCR (`shoal.text.TextReader`) when the dataset's
embedder embeds text only; its text is split as any document's, with `source`, `type`
("image"), `width` and `height` in each chunk's metadata. Image embedders (`accepts_images`)
take images themselves, so OCR leaves them alone.

Each reader is optional (the ``audio`` and ``ocr`` extras); without one, its files stay
skipped as binary, the skip saying which extra reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shoal.errors import InvalidInput, ModelNotFound
from shoal.store import Binary
from shoal.text import (
    AUDIO_SUFFIXES,
    DEFAULT_SPEECH_MODEL,
    IMAGE_SUFFIXES,
    RecursiveCharacterSplitter,
    Skipped,
    SpeechToText,
    TextReader,
    audio_available,
    ocr_available,
    speech_to_text,
    text_reader,
)
from shoal.types import Document

__all__ = ["AUDIO_COLUMN", "AUDIO_TYPE", "MediaChunks", "MediaKind", "MediaReader"]

AUDIO_COLUMN = "audio"
"""The binary column that holds each transcript chunk's clip."""
AUDIO_TYPE = "audio/wav"
"""The clips' content type."""

MediaKind = Literal["audio", "image"]


@dataclass
class MediaChunks:
    """A media file's chunks, and each chunk's binary values by column (None where it has none)."""

    documents: list[Document] = field(default_factory=list)
    binaries: list[dict[str, bytes]] = field(default_factory=list)


@dataclass
class MediaReader:
    """Which media files an ingest reads, and how: speech by `speech_model`, images by OCR.

    `images` False leaves image files to an image embedder (the dataset's embedder
    accepts images), so they are not read by OCR here.
    """

    speech_model: str = DEFAULT_SPEECH_MODEL
    language: str | None = None
    images: bool = True
    _speech: SpeechToText | None = field(default=None, init=False, repr=False)
    _ocr: TextReader | None = field(default=None, init=False, repr=False)

    def kind(self, file: Path) -> MediaKind | None:
        """ "audio" or "image" when this reader reads `file` (its extra is installed), else None."""
        suffix = file.suffix.lower()
        if suffix in AUDIO_SUFFIXES and audio_available():
            return "audio"
        if suffix in IMAGE_SUFFIXES and self.images and ocr_available():
            return "image"
        return None

    def explain(self, skipped: Skipped) -> Skipped:
        """A binary skip of an audio or image file, saying which extra would read it."""
        suffix = Path(skipped.path).suffix.lower()
        if skipped.reason != "binary":
            return skipped
        if suffix in AUDIO_SUFFIXES and not audio_available():
            extra = "audio"
        elif suffix in IMAGE_SUFFIXES and self.images and not ocr_available():
            extra = "ocr"
        else:
            return skipped
        hint = f"{skipped.detail}; pip install 'shoal[{extra}]' to read it"
        return Skipped(skipped.path, skipped.reason, hint, skipped.folder)

    def fingerprint(self, kind: MediaKind) -> str:
        """What decides a media file's text besides the splitter: the model that read it."""
        if kind == "audio":
            language = self.language or "auto"
            return f"asr={self.speech_model}:{language}"
        return TextReader.fingerprint

    def chunks(
        self, file: Path, kind: MediaKind, splitter: RecursiveCharacterSplitter
    ) -> MediaChunks:
        """The file's chunks and their binary values.

        Raises:
            InvalidInput: the file cannot be decoded, holds no audio, is over the pixel
                limit, or its model is not installed (the message gives the pip command).
        """
        try:
            if kind == "audio":
                return self._audio(file, splitter)
            return self._image(file, splitter)
        except ModelNotFound as exc:  # one file's error: the rest of the folder goes on
            raise InvalidInput(str(exc)) from exc

    def _audio(self, file: Path, splitter: RecursiveCharacterSplitter) -> MediaChunks:
        if self._speech is None:
            self._speech = speech_to_text(self.speech_model, self.language)
        transcript = self._speech.transcribe(file)
        out = MediaChunks()
        for chunk in transcript_chunks(transcript.segments, splitter):
            meta = chunk.metadata
            out.documents.append(chunk)
            clip = transcript.clip(float(meta["start"]), float(meta["end"]))
            out.binaries.append({AUDIO_COLUMN: clip})
        return out

    def _image(self, file: Path, splitter: RecursiveCharacterSplitter) -> MediaChunks:
        if self._ocr is None:
            self._ocr = text_reader()
        out = MediaChunks()
        for document in self._ocr.read_file(file):
            for piece in splitter.split_text(document.text):
                if piece.strip():
                    out.documents.append(Document(text=piece, metadata=dict(document.metadata)))
                    out.binaries.append({})
        return out


def transcript_chunks(
    segments: list[Document], splitter: RecursiveCharacterSplitter
) -> list[Document]:
    """Timed segments as chunks of at most `chunk_size`, each with the `start` and `end` of
    the speech it holds. A segment longer than that alone is split by the splitter, its
    pieces' times interpolated by their place in its text (Whisper times whole segments)."""
    chunks = []
    for group in _grouped(segments, splitter):
        first, last = group[0].metadata, group[-1].metadata
        text = " ".join(segment.text for segment in group)
        if len(group) > 1 or splitter.length_function(text) <= splitter.chunk_size:
            chunks.append(Document(text=text, metadata={**first, "end": last["end"]}))
            continue
        start, end = float(first["start"]), float(first["end"])
        position = 0
        for piece in splitter.split_text(text):
            at = text.find(piece, position)
            at = position if at < 0 else at
            position = at + len(piece)
            span = {
                "start": round(start + (end - start) * at / len(text), 2),
                "end": round(start + (end - start) * position / len(text), 2),
            }
            chunks.append(Document(text=piece, metadata={**first, **span}))
    return chunks


def _grouped(
    segments: list[Document], splitter: RecursiveCharacterSplitter
) -> list[list[Document]]:
    """Consecutive segments grouped while their joined text fits the splitter's `chunk_size`
    (a segment longer than that is a group alone)."""
    size, length = splitter.chunk_size, splitter.length_function
    groups: list[list[Document]] = []
    current: list[Document] = []
    for segment in segments:
        joined = " ".join(s.text for s in [*current, segment])
        if current and length(joined) > size:
            groups.append(current)
            current = []
        current.append(segment)
    if current:
        groups.append(current)
    return groups


def binary_columns(binaries: list[dict[str, bytes]]) -> dict[str, Binary]:
    """Per-row binary values as `Dataset.add` columns (None for rows without a value)."""
    names = sorted({name for row in binaries for name in row})
    types = {AUDIO_COLUMN: AUDIO_TYPE}
    return {
        name: Binary(
            [row.get(name) for row in binaries], types.get(name, "application/octet-stream")
        )
        for name in names
    }
