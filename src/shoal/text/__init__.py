"""Text preparation: loading files into documents and splitting texts into chunks for embedding."""

from __future__ import annotations

from shoal.text._directory import LoadReport, list_files, load_directory
from shoal.text._loaders import SUPPORTED_SUFFIXES, load_file, unreadable
from shoal.text._sections import (
    SECTION_CHARS,
    STREAM_ABOVE,
    ChunkSpan,
    file_digest,
    is_streamed,
    iter_documents,
    locate_chunks,
)
from shoal.text._splitter import RecursiveCharacterSplitter, TokenCounter

__all__ = [
    "SECTION_CHARS",
    "STREAM_ABOVE",
    "SUPPORTED_SUFFIXES",
    "ChunkSpan",
    "LoadReport",
    "RecursiveCharacterSplitter",
    "TokenCounter",
    "file_digest",
    "is_streamed",
    "iter_documents",
    "list_files",
    "load_directory",
    "load_file",
    "locate_chunks",
    "unreadable",
]
