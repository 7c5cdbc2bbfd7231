"""Content sniffing: do a file's first bytes look like text, and are they a roff man page?

A file whose type its name does not tell is judged by its first `SNIFF_BYTES` bytes: a
NUL byte means binary (no text file holds one); valid UTF-8 is text unless more than
`MAX_CONTROL_SHARE` of it is control characters; bytes that are not UTF-8 are text in a
single-byte encoding (Latin-1, Windows-1252) only when nearly all of them are printable
ASCII, as in prose with a few accented letters.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["MAX_CONTROL_SHARE", "SNIFF_BYTES", "is_roff", "not_text"]

SNIFF_BYTES = 8192
"""How many bytes from a file's start are read to decide whether it is text."""
MAX_CONTROL_SHARE = 0.05
"""A larger share of control characters (other than whitespace and ESC) means binary."""
# Non-UTF-8 text: at most this share of bytes above 0x7F (accented letters in Latin-1 prose).
_MAX_HIGH_SHARE = 0.15

_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\b\x1b")
_ROFF_START = re.compile(rb"^(?:\.\\\"|'\\\"|\.TH\s|\.Dd\s|\.Dt\s|\.so\s|\.de\s)", re.M)


def not_text(head: bytes) -> str | None:
    """Why these first bytes of a file are not text, or None if they look like text."""
    if not head:
        return None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 text, which Shoal does not read: re-save it as UTF-8"
    if b"\0" in head:
        return "it has NUL bytes near its start"
    try:
        # Incremental: a character cut off by the end of the sniffed bytes is not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return _not_single_byte_text(head)
    controls = sum(1 for c in text if (ord(c) < 32 or c == "\x7f") and ord(c) not in _TEXT_CONTROLS)
    if controls > MAX_CONTROL_SHARE * max(1, len(text)):
        return f"{controls} of its first {len(text)} characters are control characters"
    return None


def _not_single_byte_text(head: bytes) -> str | None:
    high = sum(1 for b in head if b >= 0x80)
    controls = sum(1 for b in head if (b < 32 or b == 0x7F) and b not in _TEXT_CONTROLS)
    if high > _MAX_HIGH_SHARE * len(head) or controls > MAX_CONTROL_SHARE * len(head):
        return "its first bytes are neither UTF-8 nor mostly printable text"
    return None


def is_roff(head: bytes) -> bool:
    """True if these first bytes look like a roff man page (`.TH`, `.Dd`, roff comments)."""
    return bool(_ROFF_START.search(head[:2048]))
