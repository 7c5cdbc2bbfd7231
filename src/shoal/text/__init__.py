"""Text preparation: loading files into documents and splitting texts into chunks for embedding."""

from __future__ import annotations

from shoal.text._loaders import SUPPORTED_SUFFIXES, LoadReport, load_directory, load_file
from shoal.text._splitter import RecursiveCharacterSplitter, TokenCounter

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadReport",
    "RecursiveCharacterSplitter",
    "TokenCounter",
    "load_directory",
    "load_file",
]
