"""Headings: a document's outline, the path of headings over each chunk, and the text to embed.

`outline(text, kind)` finds the headings of Markdown (ATX `#` and setext underlines,
skipping fenced code and YAML front matter), reStructuredText (underlined and overlined
titles, levels in order of first use, as docutils assigns them), AsciiDoc (`==`) and
LaTeX (`\\section{}`), and of the text other loaders make from HTML, DOCX, EPUB, man pages
and notebooks (Markdown `#` lines). Its title is the front matter's `title:`, LaTeX's
`\\title{}`, or the first heading when it is the only one at its level (what docutils
promotes to a document title); the title is not repeated among the headings.

`with_context(text, metadata)` is what the embedder sees for a chunk:
``"Title > Install > From source\\n\\n<chunk>"``. The dataset stores the chunk itself as
its `text` (what a reader sees, quotes and cites, and what its `lines`/`bytes` spans point
at) and the context as `title` and `headings` metadata; the prefix lives only in the
vector.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Heading", "HeadingTrail", "Outline", "outline", "with_context"]

_MARKDOWN_KINDS = frozenset({"markdown", "notebook"})
# Text made by Shoal's own converters: headings are `#` lines, never setext underlines.
_CONVERTED_KINDS = frozenset({"html", "docx", "epub", "man"})

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(={2,}|-{2,})[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.M)
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")
_ADOC_HEADING = re.compile(r"^(={1,6}|#{1,6})[ \t]+(\S.*?)[ \t]*$")
_ADOC_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|_{4,}|\*{4,}|\+{4,}|/{4,}|={4,})[ \t]*$")
_TEX_SECTION = re.compile(
    r"\\(part|chapter|section|subsection|subsubsection|paragraph)\*?(?:\[[^\]]*\])?\{"
)
_TEX_LEVELS = {
    "part": 1, "chapter": 2, "section": 3, "subsection": 4, "subsubsection": 5, "paragraph": 6,
}  # fmt: skip
_TEX_COMMAND = re.compile(r"\\[a-zA-Z]+\*?(?:\[[^\]]*\])?|[{}]")
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_CONTEXT_PART_CHARS = 100
_CONTEXT_CHARS = 300


@dataclass(frozen=True)
class Heading:
    """A heading: where its line starts in the text, its level (1 = top) and its text."""

    offset: int
    level: int
    text: str


@dataclass(frozen=True)
class Outline:
    """A document's title (None if it has none) and its other headings, in order."""

    title: str | None = None
    headings: list[Heading] = field(default_factory=list)


def outline(text: str, kind: str, *, title: str | None = None, promote: bool = True) -> Outline:
    """The headings of `text`, a document of `kind` (`markdown`, `rst`, ...), and its title.

    A `title` the loader found (an HTML `<title>`, a DOCX or EPUB title) is kept, and a
    first heading equal to it dropped; otherwise the title is the document's own (see
    the module docstring; `promote=False`, for a later section of a file, never takes a
    heading for the title). Kinds without headings (`text`, `code`, `csv`...) give none.
    """
    own: str | None = None
    if kind in _MARKDOWN_KINDS:
        headings, own = _markdown(text, setext=True)
    elif kind in _CONVERTED_KINDS:
        headings, own = _markdown(text, setext=False)
    elif kind == "rst":
        headings = _rst(text)
    elif kind == "asciidoc":
        headings = _asciidoc(text)
    elif kind == "tex":
        headings, own = _tex(text)
    else:
        return Outline(title=title)
    if title:
        if headings and _same(headings[0].text, title):
            headings = headings[1:]
        return Outline(title=title, headings=headings)
    if own:
        return Outline(title=own, headings=headings)
    return _promoted(headings) if promote else Outline(headings=headings)


def _promoted(headings: list[Heading]) -> Outline:
    """The first heading as the title when no other heading shares its (the top) level."""
    if not headings:
        return Outline()
    first = headings[0]
    top = min(h.level for h in headings)
    if first.level == top and sum(1 for h in headings if h.level == top) == 1:
        return Outline(title=first.text, headings=headings[1:])
    return Outline(headings=headings)


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line without its newline) for each line of `text`."""
    offset = 0
    for line in text.splitlines(keepends=True):
        yield offset, line.rstrip("\r\n")
        offset += len(line)


def _clean(heading: str) -> str:
    """A heading's text without Markdown links, emphasis or code marks."""
    return _EMPHASIS.sub("", _INLINE_LINK.sub(r"\1", heading)).strip()


def _markdown(text: str, *, setext: bool) -> tuple[list[Heading], str | None]:
    headings: list[Heading] = []
    lines = list(_lines(text))
    front_title, start = _front_matter(lines)
    fence: str | None = None
    after_blank = True  # the line before is blank, a heading, a fence or the start
    candidate: tuple[int, str] | None = None  # a one-line paragraph that an underline can title
    for offset, line in lines[start:]:
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence, after_blank = None, True
            continue
        if opener:
            fence, candidate = opener.group(1), None
            continue
        atx = _ATX.match(line)
        if atx:
            if atx.group(2) and _clean(atx.group(2)):
                headings.append(Heading(offset, len(atx.group(1)), _clean(atx.group(2))))
            candidate, after_blank = None, True
            continue
        underline = _SETEXT.match(line)
        if setext and underline and candidate is not None:
            level = 1 if underline.group(1)[0] == "=" else 2
            headings.append(Heading(candidate[0], level, _clean(candidate[1])))
            candidate, after_blank = None, True
            continue
        stripped = line.strip()
        if not stripped:
            candidate, after_blank = None, True
            continue
        plain = not (
            line.startswith(("    ", "\t"))
            or _LIST_ITEM.match(line)
            or underline
            or stripped.startswith(("|", ">", "<"))
        )
        candidate = (offset, stripped) if after_blank and plain else None
        after_blank = False
    return [h for h in headings if h.text], front_title


def _front_matter(lines: list[tuple[int, str]]) -> tuple[str | None, int]:
    """The `title:` of YAML front matter (`---` lines around it at the very top), and where
    the body starts."""
    if not lines or lines[0][1].strip() != "---":
        return None, 0
    for index in range(1, min(len(lines), 200)):
        if lines[index][1].strip() in ("---", "..."):
            block = "\n".join(line for _, line in lines[1:index])
            match = _FRONT_TITLE.search(block)
            title = match.group(1).strip("'\"").strip() if match else None
            return title or None, index + 1
    return None, 0


def _rst(text: str) -> list[Heading]:
    lines = list(_lines(text))
    styles: list[tuple[str, bool]] = []
    headings: list[Heading] = []
    index = 0
    while index < len(lines):
        offset = lines[index][0]
        found = _rst_title(lines, index)
        if found is None:
            index += 1
            continue
        title, style, used = found
        if style not in styles:
            styles.append(style)
        headings.append(Heading(offset, styles.index(style) + 1, title))
        index += used
    return headings


def _rst_title(
    lines: list[tuple[int, str]], index: int
) -> tuple[str, tuple[str, bool], int] | None:
    """(title, (adornment character, overlined), lines used) if a section title starts here."""
    line = lines[index][1]
    over = _RST_ADORNMENT.match(line)
    if over and index + 2 < len(lines):
        title, under = lines[index + 1][1].strip(), _RST_ADORNMENT.match(lines[index + 2][1])
        if (
            title
            and under
            and under.group(1) == over.group(1)
            and not _RST_ADORNMENT.match(lines[index + 1][1])
        ):
            return title, (over.group(1), True), 3
    if not line.strip() or line[0].isspace() or _RST_ADORNMENT.match(line):
        return None
    if index + 1 >= len(lines) or (index > 0 and lines[index - 1][1].strip()):
        return None  # a title is a paragraph of one line: blank (or nothing) before it
    under = _RST_ADORNMENT.match(lines[index + 1][1])
    if under and len(lines[index + 1][1].rstrip()) >= min(len(line.rstrip()), 3):
        return line.strip(), (under.group(1), False), 2
    return None


def _asciidoc(text: str) -> list[Heading]:
    headings: list[Heading] = []
    delimiter: str | None = None
    for offset, line in _lines(text):
        block = _ADOC_DELIMITER.match(line)
        if delimiter is not None:
            if block and block.group(1) == delimiter:
                delimiter = None
            continue
        if block:
            delimiter = block.group(1)
            continue
        match = _ADOC_HEADING.match(line)
        if match and not line.startswith("//"):
            headings.append(Heading(offset, len(match.group(1)), match.group(2)))
    return headings


def _tex(text: str) -> tuple[list[Heading], str | None]:
    body = re.sub(r"(?<!\\)%[^\n]*", lambda m: " " * len(m.group()), text)  # comments, same offsets
    headings = []
    for match in _TEX_SECTION.finditer(body):
        argument = _braced(body, match.end())
        if argument is not None:
            line_start = body.rfind("\n", 0, match.start()) + 1
            headings.append(Heading(line_start, _TEX_LEVELS[match.group(1)], _tex_plain(argument)))
    title_at = re.search(r"\\title\*?(?:\[[^\]]*\])?\{", body)
    title = _braced(body, title_at.end()) if title_at else None
    return [h for h in headings if h.text], _tex_plain(title) if title else None


def _braced(text: str, start: int) -> str | None:
    """The text up to the brace that closes the one just before `start`, or None."""
    depth = 1
    for position in range(start, min(len(text), start + 2000)):
        char = text[position]
        if char == "{" and text[position - 1] != "\\":
            depth += 1
        elif char == "}" and text[position - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start:position]
    return None


def _tex_plain(text: str) -> str:
    return re.sub(r"\s+", " ", _TEX_COMMAND.sub("", text.replace("\\\\", " "))).strip()


class HeadingTrail:
    """The path of headings in effect at increasing offsets of one document, or of the
    consecutive sections of one file (the path carries over from one to the next)."""

    def __init__(self) -> None:
        self._stack: list[Heading] = []
        self._pending: list[Heading] = []
        self._next = 0

    def start(self, headings: list[Heading]) -> None:
        """Begin a document (or the next section of the same file) with these headings."""
        self._pending, self._next = list(headings), 0

    def at(self, offset: int) -> list[str]:
        """The headings over `offset` (outermost first); offsets must not decrease."""
        while self._next < len(self._pending) and self._pending[self._next].offset <= offset:
            heading = self._pending[self._next]
            self._next += 1
            while self._stack and self._stack[-1].level >= heading.level:
                self._stack.pop()
            self._stack.append(heading)
        return [h.text for h in self._stack]


def with_context(
    text: str, metadata: Mapping[str, Any], *, fits: Callable[[str], bool] | None = None
) -> str:
    """The text the embedder sees for a chunk: its title and headings, then the chunk.

    ``"Title > Install > From source\\n\\n<chunk>"``; the chunk alone when its metadata has
    no `title` or `headings`. When `fits` says the result is too long for the model, the
    context shrinks (to the title and the innermost heading, then to nothing).
    """
    title = metadata.get("title")
    given = metadata.get("headings")
    given = given if isinstance(given, (list, tuple)) else []
    headings = [h for h in given if isinstance(h, str) and h.strip()]
    top = [title.strip()] if isinstance(title, str) and title.strip() else []
    if top and headings and _same(headings[0], top[0]):
        headings = headings[1:]
    for parts in (top + headings, top + headings[-1:], []):
        candidate = _prefixed(text, parts)
        if fits is None or fits(candidate) or not parts:
            return candidate
    return text  # pragma: no cover - the loop always returns


def _prefixed(text: str, parts: list[str]) -> str:
    if not parts:
        return text
    shown = [_shortened(part) for part in parts]
    while len(" > ".join(shown)) > _CONTEXT_CHARS and len(shown) > 2:
        del shown[1]  # keep the title and the innermost headings
    return f"{' > '.join(shown)}\n\n{text}"


def _shortened(part: str) -> str:
    part = " ".join(part.split())
    return part if len(part) <= _CONTEXT_PART_CHARS else part[: _CONTEXT_PART_CHARS - 1] + "…"
