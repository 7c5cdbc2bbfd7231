"""Man pages: roff source (man(7), basic mdoc(7)) to readable text, headings as `#` lines.

Not a roff formatter: it keeps the text of each line, turns section headings (`.SH`,
`.SS`, `.Sh`, `.Ss`) into `#`/`##` lines, paragraph macros into blank lines, no-fill
blocks (`.nf`, `.EX`, `.Bd`) into fenced blocks, font macros (`.B`, `.BR`...) into their
words, and drops other requests, comments and font or size escapes. The title is the
NAME section's first line (`git - the stupid content tracker`), else `.TH`'s `GIT(1)`.
"""

from __future__ import annotations

import re

from shoal.text._source import Source, read_text
from shoal.types import Document

__all__ = ["load_man", "man_text"]

_ARGUMENT = re.compile(r'"((?:[^"]|"")*)"?|(\S+)')
_ESCAPE = re.compile(
    r"\\(\(..|\[[^\]]*\]|[fF](?:\(..|\[[^\]]*\]|.)|\*(?:\(..|\[[^\]]*\]|.)"
    r"|s(?:[+-]?\d+|\(\d\d|\[[^\]]*\])|[nk](?:\(..|\[[^\]]*\]|.)|.)"
)
_COMMENT = re.compile(r'(?<!\\)\\".*$')
_GLYPHS = {
    "em": "—", "en": "–", "bu": "•", "lq": "“", "rq": "”", "oq": "‘", "cq": "’", "aq": "'",
    "dq": '"', "co": "©", "rg": "®", "tm": "™", "mu": "×", "de": "°", "hy": "-", "ti": "~",
    "ha": "^", "rs": "\\", "sl": "/", "ga": "`", "at": "@", "sh": "#", "Do": "$", "Fo": "«",
    "Fc": "»", "<=": "≤", ">=": "≥", "->": "→", "<-": "←", "!=": "≠", "+-": "±", "ba": "|",
}  # fmt: skip
_SIMPLE = {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "'": "'", "`": "`"}
_PARAGRAPH = frozenset({"PP", "LP", "P", "Pp", "sp", "TP", "TQ", "HP", "Lp", "It", "IP"})
_FENCE_OPEN = frozenset({"nf", "EX", "Bd"})
_FENCE_CLOSE = frozenset({"fi", "EE", "Ed"})
_JOINED = frozenset({"BR", "BI", "IB", "IR", "RB", "RI"})
_WORDS = frozenset({"B", "I", "SM", "SB", "Ar", "Pa", "Em", "Sy", "Li", "Va", "Ev", "Cm"})
_MDOC_MACRO = re.compile(r"^(?:[A-Z][a-z][a-z]?|Fl)$")
_SKIP_BLOCK = frozenset({"de", "de1", "am", "ig"})
# mdoc requests that carry no text: the date, the system, list starts and ends.
_NO_TEXT = frozenset({"Dd", "Os", "Bl", "El"})


def load_man(source: Source) -> list[Document]:
    """A man page (roff source, maybe compressed) as one Document of readable text."""
    roff, extra = read_text(source)
    text, title = man_text(roff)
    if not text.strip():
        return []
    metadata = source.base_metadata()
    if title:
        metadata["title"] = title
    metadata.update(extra)
    return [Document(text=text, metadata=metadata)]


def man_text(roff: str) -> tuple[str, str | None]:
    """The readable text of roff source, headings as `#` lines, and the page's title."""
    page = _Page()
    skipping = False
    for line in roff.splitlines():
        if skipping:
            skipping = line.strip() != ".."
            continue
        line = _COMMENT.sub("", line)
        if line.startswith((".", "'")):
            name, arguments = _request(line)
            skipping = name in _SKIP_BLOCK
            page.request(name, arguments)
        else:
            page.text(inline(line))
    return page.result()


def inline(text: str) -> str:
    """`text` with roff escapes resolved: glyphs to characters, fonts and sizes dropped."""
    return _ESCAPE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    body = match.group(1)
    if body.startswith("("):
        return _GLYPHS.get(body[1:], "")
    if body.startswith("["):
        return _GLYPHS.get(body[1:-1], "")
    if body.startswith("*"):
        name = body[2:4] if body[1:2] == "(" else body[2:-1] if body[1:2] == "[" else body[1:]
        return {"lq": "“", "rq": "”", "R": "®", "Tm": "™"}.get(name, "")
    if body[0] in "fFsnk" and len(body) > 1:
        return ""
    return _SIMPLE.get(body, "" if body in "&|^:c%)/,dur" else body)


def _request(line: str) -> tuple[str, list[str]]:
    """A request line's macro name and arguments (quoted ones unquoted)."""
    rest = line[1:].lstrip()
    name, _, tail = rest.partition(" ")
    arguments = [
        inline(quoted.replace('""', '"') if quoted is not None else bare)
        for quoted, bare in (
            (m.group(1), m.group(2)) for m in _ARGUMENT.finditer(tail.replace("\t", " "))
        )
    ]
    return name.strip(), arguments


class _Page:
    """The text of a man page as its lines arrive."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.header: str | None = None
        self.name_line: str | None = None
        self.section = ""
        self.fenced = False
        self.heading_next = 0  # `.SH` alone: the next text line is the heading, at this level
        self.name = ""

    def request(self, name: str, arguments: list[str]) -> None:
        """Apply one request (macro) line."""
        if name in ("TH", "Dt") and arguments:
            section = f"({arguments[1]})" if len(arguments) > 1 else ""
            self.header = f"{arguments[0]}{section}"
        elif name in ("SH", "Sh", "SS", "Ss"):
            level = 1 if name in ("SH", "Sh") else 2
            if arguments:
                self._heading(level, " ".join(arguments))
            else:
                self.heading_next = level
        elif name in _FENCE_OPEN and not self.fenced:
            self.lines.extend(["", "```"])
            self.fenced = True
        elif name in _FENCE_CLOSE and self.fenced:
            self.lines.extend(["```", ""])
            self.fenced = False
        elif name in _PARAGRAPH:
            self.lines.append("")
            if arguments and name in ("IP", "It"):
                self.text(" ".join(a for a in arguments if not _MDOC_MACRO.match(a)))
        elif name in _JOINED:
            self.text("".join(arguments))
        elif name == "Nm":  # mdoc: the page's name, given once, then repeated by `.Nm` alone
            self.name = " ".join(arguments) if arguments and not self.name else self.name
            self.text(" ".join(arguments) or self.name)
        elif name == "Nd":
            self.text("- " + " ".join(arguments))
        elif name == "Fl":
            self.text(" ".join("-" + a if i == 0 else a for i, a in enumerate(arguments)))
        elif arguments and (name in _WORDS or (_MDOC_MACRO.match(name) and name not in _NO_TEXT)):
            self.text(" ".join(a for a in arguments if not _MDOC_MACRO.match(a)))

    def text(self, line: str) -> None:
        """Add a line of text (or take it as the heading a bare `.SH` announced)."""
        if self.heading_next:
            level, self.heading_next = self.heading_next, 0
            self._heading(level, line)
            return
        if self.section == "NAME" and self.name_line is None and line.strip():
            self.name_line = line.strip()
        self.lines.append(line if self.fenced else line.strip())

    def _heading(self, level: int, text: str) -> None:
        self.section = text.strip().upper() if level == 1 else self.section
        self.lines.extend(["", "#" * level + " " + text.strip(), ""])

    def result(self) -> tuple[str, str | None]:
        """The text (runs of blank lines as one) and the title."""
        if self.fenced:
            self.lines.append("```")
        out: list[str] = []
        for line in self.lines:
            if line or (out and out[-1]):
                out.append(line)
        text = "\n".join(out).strip("\n")
        return (text + "\n" if text else ""), self.name_line or self.header
