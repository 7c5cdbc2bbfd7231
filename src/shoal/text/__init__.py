"""Text preparation: loading files into documents and splitting texts into chunks for embedding."""

from __future__ import annotations

from shoal.text._audio import (
    AUDIO_SUFFIXES,
    SAMPLE_RATE,
    SpeechToText,
    Transcript,
    audio_available,
    speech_to_text,
    transcribe,
)
from shoal.text._code import code_separators
from shoal.text._directory import LoadReport, load_directory
from shoal.text._formats import (
    SKIP_REASONS,
    SUPPORTED_SUFFIXES,
    FileFormat,
    Skipped,
    SkipReason,
    count_skipped,
    detect,
    supported_kinds,
)
from shoal.text._ignore import IgnoreRule, Patterns
from shoal.text._loaders import load_file
from shoal.text._ocr import (
    IMAGE_SUFFIXES,
    TextReader,
    ocr_available,
    read_image_text,
    text_reader,
)
from shoal.text._outline import Heading, HeadingTrail, Outline, outline, with_context
from shoal.text._sections import (
    SECTION_CHARS,
    STREAM_ABOVE,
    ChunkSpan,
    file_digest,
    is_streamed,
    iter_documents,
    locate_chunks,
)
from shoal.text._sniff import not_text
from shoal.text._source import unreadable
from shoal.text._splitter import RecursiveCharacterSplitter, TokenCounter
from shoal.text._walk import Walk, list_files, walk
from shoal.text._whisper import DEFAULT_SPEECH_MODEL, speech_models, whisper_model

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_SPEECH_MODEL",
    "IMAGE_SUFFIXES",
    "SAMPLE_RATE",
    "SECTION_CHARS",
    "SKIP_REASONS",
    "STREAM_ABOVE",
    "SUPPORTED_SUFFIXES",
    "ChunkSpan",
    "FileFormat",
    "Heading",
    "HeadingTrail",
    "IgnoreRule",
    "LoadReport",
    "Outline",
    "Patterns",
    "RecursiveCharacterSplitter",
    "SkipReason",
    "Skipped",
    "SpeechToText",
    "TextReader",
    "TokenCounter",
    "Transcript",
    "Walk",
    "audio_available",
    "code_separators",
    "count_skipped",
    "detect",
    "file_digest",
    "is_streamed",
    "iter_documents",
    "list_files",
    "load_directory",
    "load_file",
    "locate_chunks",
    "not_text",
    "ocr_available",
    "outline",
    "read_image_text",
    "speech_models",
    "speech_to_text",
    "supported_kinds",
    "text_reader",
    "transcribe",
    "unreadable",
    "walk",
    "whisper_model",
    "with_context",
]
