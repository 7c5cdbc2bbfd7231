"""iter_documents streams large text files in bounded memory; locate_chunks finds each chunk's span."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from pathlib import Path

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

from fakes.texts import WORDS as TEXT_WORDS
from shoal import InvalidInput, RecursiveCharacterSplitter
from shoal.embeddings.hashing import HashEmbedder
from shoal.text import file_digest, iter_documents, load_file, locate_chunks

WORDS = [*TEXT_WORDS, "café", "東京", "naïve", "👋🏽"]


def _write_prose(path: Path, size: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts = []
    total = 0
    while total < size:
        para = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 150)))
        para += rng.choice(["\n\n", "\n", "\n\n\n"])
        parts.append(para)
        total += len(para.encode())
    text = "".join(parts)
    path.write_text(text, encoding="utf-8")
    return text


def test_small_files_give_what_load_file_gives(tmp_path: Path) -> None:
    file = tmp_path / "a.md"
    file.write_text("# Title\n\nBody text.\n")
    assert list(iter_documents(file)) == load_file(file)


def test_large_text_file_streams_in_sections_that_join_to_the_whole(tmp_path: Path) -> None:
    file = tmp_path / "big.txt"
    text = _write_prose(file, 300_000)
    sections = list(iter_documents(file, stream_above=10_000, section_chars=20_000))
    assert len(sections) > 5
    assert "".join(s.text for s in sections) == text
    raw = file.read_bytes()
    lines = text.split("\n")
    for number, section in enumerate(sections):
        meta = section.metadata
        assert meta["section"] == number and meta["type"] == "text"
        start, end = meta["bytes"]
        assert raw[start:end].decode("utf-8") == section.text
        first, last = meta["lines"]
        assert "\n".join(lines[first - 1 : last]) == section.text.removesuffix("\n")
        # Sections end at a break: a paragraph break whenever one lies in their second half.
        assert section.text.endswith(("\n", " ")) or number == len(sections) - 1
        assert len(section.text) <= 20_000 * 2


def test_streaming_a_50_mb_file_keeps_memory_bounded(tmp_path: Path) -> None:
    file = tmp_path / "huge.txt"
    block = "The cat is on the mat. " * 40 + "\n\n"
    with file.open("w", encoding="utf-8") as out:
        for _ in range(50 * 2**20 // len(block) + 1):
            out.write(block)
    assert file.stat().st_size >= 50 * 2**20
    tracemalloc.start()
    try:
        characters = sum(len(doc.text) for doc in iter_documents(file))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert characters == file.stat().st_size
    assert peak < 24 * 2**20  # a few sections' worth, not the file (50 MB) or its text


def test_streamed_file_with_bom_and_bad_bytes_is_decoded_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "latin.txt"
    body = ("ok line\n" * 3000).encode() + b"caf\xe9 cr\xe8me\n" + ("more\n" * 3000).encode()
    file.write_bytes(b"\xef\xbb\xbf" + body)
    sections = list(iter_documents(file, stream_above=1000, section_chars=4000))
    text = "".join(s.text for s in sections)
    assert not text.startswith("\ufeff") and "caf\ufffd cr\ufffdme" in text
    assert sum(s.metadata.get("decode_errors", 0) for s in sections) == 2
    assert all("bytes" not in s.metadata for s in sections)  # no longer exact
    assert "not valid UTF-8: replaced 2" in caplog.text
    clean = tmp_path / "bom.txt"
    clean.write_bytes(b"\xef\xbb\xbf" + ("ok line\n" * 3000).encode())
    first = next(iter_documents(clean, stream_above=1000, section_chars=4000))
    assert first.metadata["bytes"] == [3, 3 + len(first.text)]  # after the byte order mark


def test_streamed_binary_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "image.txt"
    file.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 100)
    with pytest.raises(InvalidInput, match="looks binary"):
        list(iter_documents(file, stream_above=10))


def test_multibyte_characters_are_never_split_between_blocks(tmp_path: Path) -> None:
    file = tmp_path / "cjk.md"
    text = ("東京は日本の首都です。👋🏽" * 50_000 + "\n\n") * 3
    file.write_text(text, encoding="utf-8")
    sections = list(iter_documents(file, stream_above=1000))
    assert "".join(s.text for s in sections) == text
    assert all("decode_errors" not in s.metadata for s in sections)


def test_file_digest_is_sha256(tmp_path: Path) -> None:
    file = tmp_path / "x.bin"
    file.write_bytes(b"abc" * 1_000_000)
    assert file_digest(file) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


@pytest.mark.parametrize("overlap", [0, 50])
def test_locate_chunks_gives_each_chunks_offset_lines_and_bytes(overlap: int) -> None:
    rng = random.Random(overlap)
    text = "\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) for _ in range(300)
    )
    chunks = RecursiveCharacterSplitter(200, overlap).split_text(text)
    data = text.encode()
    for chunk, span in zip(
        chunks, locate_chunks(text, chunks, overlapping=overlap > 0), strict=True
    ):
        assert text[span.start : span.start + len(chunk)] == chunk
        assert data[span.start_byte : span.end_byte].decode() == chunk
        assert span.first_line == text.count("\n", 0, span.start) + 1
        assert span.last_line == span.first_line + chunk.count("\n")


def test_fitted_splitter_keeps_langchain_chunks_that_fit_and_splits_the_rest() -> None:
    class TinyWindow:
        """Counts words as tokens; a window of 40 (38 plus two special tokens)."""

        max_seq_length = 40

        def count_tokens(self, text: str) -> int:
            return len(text.split()) + 2

    rng = random.Random(3)
    texts = [
        "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 80))) for _ in range(20)
        )
        for _ in range(20)
    ]
    plain = RecursiveCharacterSplitter(300, 0)
    fitted = plain.fitted_to(TinyWindow())
    reference = RecursiveCharacterTextSplitter(chunk_size=300, chunk_overlap=0)
    split_further = 0
    for text in texts:
        expected = reference.split_text(text)
        assert plain.split_text(text) == expected
        got = fitted.split_text(text)
        assert all(TinyWindow().count_tokens(c) <= 40 for c in got)
        for chunk in expected:
            if TinyWindow().count_tokens(chunk) <= 40:
                assert chunk in got
            else:
                split_further += 1
                assert chunk not in got
    assert split_further > 0


def test_fingerprints_tell_splitting_settings_apart() -> None:
    base = RecursiveCharacterSplitter(1000, 0)
    assert base.fingerprint == "chars 1000/0"
    assert RecursiveCharacterSplitter(1000, 0).fingerprint == base.fingerprint
    others = {
        RecursiveCharacterSplitter(500, 0).fingerprint,
        RecursiveCharacterSplitter(1000, 100).fingerprint,
        RecursiveCharacterSplitter(1000, 0, separators=["\n", " "]).fingerprint,
        RecursiveCharacterSplitter(1000, 0, keep_separator=False).fingerprint,
        RecursiveCharacterSplitter(1000, 0, length_function=lambda t: len(t.split())).fingerprint,
    }
    assert len(others) == 5 and base.fingerprint not in others

    class Window:
        max_seq_length = 256

        def count_tokens(self, text: str) -> int:
            return len(HashEmbedder("8").spec.model) + len(text)

    assert base.fitted_to(Window()).fingerprint == "chars 1000/0 fit 256"
    tokens = RecursiveCharacterSplitter.for_embedder(Window(), chunk_overlap=10)
    assert tokens.fingerprint.startswith("tokens ") and tokens.fingerprint.endswith(" fit 256")
