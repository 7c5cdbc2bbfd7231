"""HTML (and XHTML) to text: the visible text, a line per block, headings marked as in Markdown.

Used for `.html` files, EPUB chapters and HTML e-mail bodies. `<h1>`..`<h6>` become lines
starting with `#`..`######`, so a chunk can be given the path of headings it lies under;
scripts, styles and templates are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_text"]

_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav"),
        *("ol", "p", "pre", "section", "table", "tr", "ul"),
    }
)
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_CELL_TAGS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"\s+")
_BARE_MARK = re.compile(r"#+")
_MARK_SPACES = re.compile(r"^(#+) +")


class _VisibleText(HTMLParser):
    """Collects an HTML page's visible text, one line per block element, and its title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.title_pieces: list[str] = []
        self.has_title = False
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Enter an element: start hiding, a title, a heading, a new line or a new cell."""
        self._boundary(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        """Leave an element."""
        self._boundary(tag, opening=False)

    def handle_data(self, data: str) -> None:
        """Keep text outside hidden elements, with its whitespace collapsed."""
        if self._skip_depth:
            return
        if self._in_title:
            self.title_pieces.append(data)
        else:
            self.pieces.append(_WHITESPACE.sub(" ", data))

    def _boundary(self, tag: str, *, opening: bool) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = self._skip_depth + 1 if opening else max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = opening
            self.has_title = True
        elif tag in _HEADING_TAGS:
            marks = "#" * _HEADING_TAGS[tag] + " " if opening else ""
            self.pieces.append("\n" + marks)
        elif tag in _BLOCK_TAGS:
            self.pieces.append("\n")
        elif tag in _CELL_TAGS and opening:
            self.pieces.append(" ")

    def text(self) -> str:
        """The visible text: blank lines (and headings with no text) dropped, each line stripped."""
        lines = (line.strip() for line in "".join(self.pieces).split("\n"))
        return "\n".join(
            _MARK_SPACES.sub(r"\1 ", line)
            for line in lines
            if line and not _BARE_MARK.fullmatch(line)
        )

    def title(self) -> str | None:
        """The `<title>`, whitespace collapsed, or None if the page has none."""
        if not self.has_title:
            return None
        return _WHITESPACE.sub(" ", "".join(self.title_pieces)).strip()


def html_text(markup: str) -> tuple[str, str | None]:
    """The visible text of an HTML page (headings as `#` lines) and its `<title>` (None if none)."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    return parser.text(), parser.title()
