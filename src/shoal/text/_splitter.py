"""`RecursiveCharacterSplitter`: LangChain's recursive character splitting, chunk for chunk.

The algorithm is LangChain's `RecursiveCharacterTextSplitter` (langchain-text-splitters),
reproduced so that the same parameters give the same chunks (a test compares both on
hundreds of texts): split on the first separator present in the text, merge the pieces
into chunks of at most `chunk_size` (by `length_function`) with up to `chunk_overlap`
carried over, and split any piece still too long with the next separator.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from shoal.errors import InvalidInput
from shoal.types import Document

__all__ = ["RecursiveCharacterSplitter", "TokenCounter"]

_log = logging.getLogger("shoal.text")
DEFAULT_SEPARATORS = ("\n\n", "\n", " ", "")

KeepSeparator = bool | Literal["start", "end"]


class TokenCounter(Protocol):
    """An embedder that can count its own tokens (`shoal.embedder("local:...")` can)."""

    @property
    def max_seq_length(self) -> int:
        """Tokens the model reads per text, special tokens included."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes, special tokens included."""
        ...


class RecursiveCharacterSplitter:
    """Split texts into chunks of at most `chunk_size`, trying paragraphs, lines, then words."""

    def __init__(
        self,
        chunk_size: int = 4000,
        chunk_overlap: int = 200,
        *,
        separators: Sequence[str] | None = None,
        keep_separator: KeepSeparator = True,
        is_separator_regex: bool = False,
        length_function: Callable[[str], int] = len,
        strip_whitespace: bool = True,
        add_start_index: bool = False,
    ) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise InvalidInput(f"chunk_size must be a positive int, got {chunk_size!r}")
        if (
            isinstance(chunk_overlap, bool)
            or not isinstance(chunk_overlap, int)
            or chunk_overlap < 0
        ):
            raise InvalidInput(f"chunk_overlap must be an int >= 0, got {chunk_overlap!r}")
        if chunk_overlap > chunk_size:
            raise InvalidInput(
                f"chunk_overlap ({chunk_overlap}) is larger than chunk_size ({chunk_size}); "
                "make the overlap smaller than the chunk"
            )
        if keep_separator not in (True, False, "start", "end"):
            raise InvalidInput(
                f"keep_separator must be True, False, 'start' or 'end', got {keep_separator!r}"
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.separators = list(separators) if separators else list(DEFAULT_SEPARATORS)
        self.keep_separator: KeepSeparator = keep_separator
        self.is_separator_regex = is_separator_regex
        self.length_function = length_function
        self.strip_whitespace = strip_whitespace
        self.add_start_index = add_start_index
        self._window: tuple[TokenCounter, int] | None = None
        self._tokens = False  # measured in the window's own tokens (for_embedder)

    @classmethod
    def for_embedder(
        cls,
        embedder: TokenCounter,
        *,
        chunk_size: int | None = None,
        chunk_overlap: int = 0,
        **options: Any,
    ) -> RecursiveCharacterSplitter:
        """A splitter that measures chunks in the embedder's own tokens: none exceeds its window.

        `chunk_size` (tokens, default: the whole window less the special tokens) may not
        exceed the window, since the model would silently cut a longer chunk off.
        """
        special = embedder.count_tokens("")
        limit = embedder.max_seq_length - special
        size = limit if chunk_size is None else chunk_size
        if size > limit:
            raise InvalidInput(
                f"chunk_size {size} tokens is more than the model reads ({limit}, plus {special} "
                "special tokens): it would cut longer chunks off; use a smaller chunk_size"
            )
        splitter = cls(
            size,
            chunk_overlap,
            length_function=lambda t: embedder.count_tokens(t) - special,
            **options,
        )
        splitter._window = (embedder, embedder.max_seq_length)
        splitter._tokens = True
        return splitter

    def fitted_to(self, embedder: TokenCounter) -> RecursiveCharacterSplitter:
        """A copy that splits any chunk longer than the embedder's window further, so none is cut off.

        Chunks that fit are exactly this splitter's (LangChain's); only a chunk that the
        model would truncate is split again, with the same separators, into halves,
        quarters, ... until each piece fits. `for_embedder` measures in tokens instead.
        """
        fitted = copy.copy(self)
        fitted._window = (embedder, embedder.max_seq_length)
        return fitted

    @property
    def fingerprint(self) -> str:
        """A short description of how this splitter chunks: equal fingerprints, equal chunks.

        For instance ``"chars 1000/0"``, ``"chars 1000/0 fit 256"`` or ``"tokens 254/20 fit 256"``;
        settings other than the defaults add a hash of them.
        """
        unit = "chars" if self.length_function is len else "tokens" if self._tokens else "custom"
        text = f"{unit} {self.chunk_size}/{self.chunk_overlap}"
        if self._window is not None:
            text += f" fit {self._window[1]}"
        others = (
            self.separators,
            self.keep_separator,
            self.is_separator_regex,
            self.strip_whitespace,
            self.add_start_index,
        )
        if others != (list(DEFAULT_SEPARATORS), True, False, True, False):
            digest = hashlib.blake2b(repr(others).encode(), digest_size=4).hexdigest()
            text += f" {digest}"
        if unit == "custom":
            function = self.length_function
            text += (
                f" {getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"
            )
        return text

    def split_text(self, text: str) -> list[str]:
        """The chunks of one text, in order."""
        if not isinstance(text, str):
            raise InvalidInput(f"split_text takes a str, got {type(text).__name__}")
        chunks = self._split(text, self.separators)
        if self._window is None:
            return chunks
        return [piece for chunk in chunks for piece in self._fit(chunk, self.chunk_size)]

    def _fit(self, chunk: str, size: int) -> list[str]:
        """`chunk`, split smaller until every piece fits the model's window (token counts of
        pieces do not always add up to the count of their join)."""
        assert self._window is not None
        counter, window = self._window
        if counter.count_tokens(chunk) <= window or size <= 1:
            return [chunk]
        smaller = max(1, size // 2)
        narrower = copy.copy(self)
        narrower.chunk_size, narrower.chunk_overlap = smaller, min(self.chunk_overlap, smaller)
        return [
            p for part in narrower._split(chunk, self.separators) for p in self._fit(part, smaller)
        ]

    def create_documents(
        self, texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None = None
    ) -> list[Document]:
        """Split each text; every chunk becomes a Document carrying a copy of its text's metadata."""
        if isinstance(texts, str):
            raise InvalidInput(
                "create_documents takes a list of texts, not one str: wrap it in [...]"
            )
        metas = list(metadatas) if metadatas is not None else [{}] * len(texts)
        if len(metas) != len(texts):
            raise InvalidInput(f"{len(metas)} metadatas for {len(texts)} texts: pass one per text")
        documents = []
        for text, meta in zip(texts, metas, strict=True):
            index, previous = 0, 0
            for chunk in self.split_text(text):
                metadata = copy.deepcopy(dict(meta))
                if self.add_start_index:
                    index = text.find(chunk, max(0, index + previous - self.chunk_overlap))
                    metadata["start_index"] = index
                    previous = len(chunk)
                documents.append(Document(chunk, metadata))
        return documents

    def split_documents(self, documents: Iterable[Document]) -> list[Document]:
        """Split documents, each chunk keeping its document's metadata."""
        items = list(documents)
        return self.create_documents([d.text for d in items], [d.metadata for d in items])

    def _split(self, text: str, separators: list[str]) -> list[str]:
        separator, rest = separators[-1], []
        for i, candidate in enumerate(separators):
            if not candidate:
                separator = candidate
                break
            if re.search(self._pattern(candidate), text):
                separator, rest = candidate, separators[i + 1 :]
                break
        pieces = _split_with_regex(text, self._pattern(separator), self.keep_separator)
        joiner = "" if self.keep_separator else separator
        chunks: list[str] = []
        short: list[str] = []
        for piece in pieces:
            if self.length_function(piece) < self.chunk_size:
                short.append(piece)
                continue
            if short:
                chunks.extend(self._merge(short, joiner))
                short = []
            chunks.extend(self._split(piece, rest) if rest else [piece])
        if short:
            chunks.extend(self._merge(short, joiner))
        return chunks

    def _pattern(self, separator: str) -> str:
        return separator if self.is_separator_regex else re.escape(separator)

    def _merge(self, pieces: list[str], separator: str) -> list[str]:
        """Join pieces into chunks of at most chunk_size, carrying up to chunk_overlap over."""
        size = self.length_function
        separator_size = size(separator)
        chunks: list[str] = []
        current: list[str] = []
        total = 0
        for piece in pieces:
            length = size(piece)
            if total + length + (separator_size if current else 0) > self.chunk_size:
                if total > self.chunk_size:
                    _log.warning(
                        "a chunk of %d is longer than chunk_size %d", total, self.chunk_size
                    )
                if current:
                    self._emit(chunks, current, separator)
                    while total > self.chunk_overlap or (
                        total + length + (separator_size if current else 0) > self.chunk_size
                        and total > 0
                    ):
                        total -= size(current[0]) + (separator_size if len(current) > 1 else 0)
                        current = current[1:]
            current.append(piece)
            total += length + (separator_size if len(current) > 1 else 0)
        self._emit(chunks, current, separator)
        return chunks

    def _emit(self, chunks: list[str], pieces: list[str], separator: str) -> None:
        text = separator.join(pieces)
        if self.strip_whitespace:
            text = text.strip()
        if text:
            chunks.append(text)


def _split_with_regex(text: str, pattern: str, keep_separator: KeepSeparator) -> list[str]:
    if not pattern:
        return [c for c in text if c]
    if not keep_separator:
        return [s for s in re.split(pattern, text) if s]
    parts = re.split(f"({pattern})", text)
    if keep_separator == "end":
        pieces = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    else:
        pieces = [parts[i] + parts[i + 1] for i in range(1, len(parts), 2)]
    if len(parts) % 2 == 0:
        pieces += parts[-1:]
    pieces = [*pieces, parts[-1]] if keep_separator == "end" else [parts[0], *pieces]
    return [s for s in pieces if s]
