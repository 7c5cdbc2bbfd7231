"""Text preparation: splitting texts into chunks for embedding."""

from __future__ import annotations

from shoal.text._splitter import RecursiveCharacterSplitter, TokenCounter

__all__ = ["RecursiveCharacterSplitter", "TokenCounter"]
