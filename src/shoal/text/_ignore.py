"""Gitignore patterns: the subset of git's rules that decides what a folder walk skips.

A pattern list (a `.gitignore` file, or `--include`/`--exclude` options) matches paths
relative to the folder it belongs to, with git's semantics:

- blank lines and lines starting with `#` are ignored; `\\#` and `\\!` are literal;
  trailing spaces are dropped unless escaped;
- `!pattern` re-includes what an earlier pattern excluded; the last match wins;
- `pattern/` matches folders only;
- a pattern with a `/` at its start or in its middle is anchored to the folder; one
  without matches a name at any depth (`*.log` anywhere, `/todo.txt` only at the top);
- `*` and `?` match within one path part, `[a-z]`/`[!a-z]` one character; `**/` at the
  start matches any folders, `/**` at the end everything inside, `/**/` zero or more folders.

A file under an excluded folder cannot be re-included (the walk never enters the folder),
as in git. Nested `.gitignore` files apply to their own subtree, after their parents'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["IgnoreRule", "Patterns", "decide"]


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern: as written, where it comes from, and how it matches."""

    pattern: str
    origin: str
    regex: re.Pattern[str]
    negated: bool
    folders_only: bool

    def matches(self, relative: str, *, is_dir: bool) -> bool:
        """True if this rule matches `relative` (a path relative to its folder, `/`-separated)."""
        if self.folders_only and not is_dir:
            return False
        return self.regex.fullmatch(relative) is not None


class Patterns:
    """An ordered list of gitignore rules that belong to one folder.

    The folder is `base` (relative to the walk's root) when it lies inside the walk, or
    lies above the root when `inside` (the root's path relative to the folder) is given.
    """

    def __init__(self, rules: Sequence[IgnoreRule], base: str = "", *, inside: str = "") -> None:
        self.rules = list(rules)
        self.base = base.strip("/")
        self.inside = inside.strip("/")

    def above(self, inside: str) -> Patterns:
        """These rules, for a walk of the folder `inside` below theirs."""
        return Patterns(self.rules, inside=inside)

    @classmethod
    def parse(
        cls, lines: Iterable[str], *, origin: str, base: str = "", numbered: bool = False
    ) -> Patterns:
        """Rules from the lines of a `.gitignore` (or option values); `origin` names their source
        (with `:line` after it when `numbered`)."""
        rules = []
        for number, line in enumerate(lines, start=1):
            rule = _rule(line, f"{origin}:{number}" if numbered else origin)
            if rule is not None:
                rules.append(rule)
        return cls(rules, base)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, path: str, *, is_dir: bool) -> IgnoreRule | None:
        """The last rule matching `path` (relative to the walk's root), or None if none does."""
        relative = f"{self.inside}/{path}" if self.inside else _relative(path, self.base)
        if relative is None:
            return None
        for rule in reversed(self.rules):
            if rule.matches(relative, is_dir=is_dir):
                return rule
        return None


def decide(stack: Sequence[Patterns], path: str, *, is_dir: bool) -> IgnoreRule | None:
    """The rule that decides `path` across nested pattern lists (deepest last), or None.

    The path is excluded when the deciding rule is not negated.
    """
    for patterns in reversed(stack):
        rule = patterns.match(path, is_dir=is_dir)
        if rule is not None:
            return rule
    return None


def _relative(path: str, base: str) -> str | None:
    if not base:
        return path
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return None


def _rule(line: str, origin: str) -> IgnoreRule | None:
    text = line.rstrip("\n\r")
    if not text or text.startswith("#"):
        return None
    text = _strip_trailing_spaces(text)
    negated = text.startswith("!")
    if negated or text.startswith(("\\!", "\\#")):  # `\!` and `\#` are literal
        text = text[1:]
    folders_only = text.endswith("/") and not text.endswith("\\/")
    text = text.rstrip("/") if folders_only else text
    if not text:
        return None
    anchored = "/" in text
    body = text.lstrip("/") if anchored else text
    if not body:
        return None
    regex = _translate(body)
    if not anchored:
        regex = f"(?:.*/)?{regex}"
    return IgnoreRule(
        pattern=line.strip(),
        origin=origin,
        regex=re.compile(regex, re.S),
        negated=negated,
        folders_only=folders_only,
    )


def _strip_trailing_spaces(text: str) -> str:
    stripped = text.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(text):
        return stripped[:-1] + " "  # an escaped space is kept
    return stripped


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over a `/`-separated relative path."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        at_part_start = i == 0 or pattern[i - 1] == "/"
        if pattern.startswith("**", i) and at_part_start and (i + 2 == n or pattern[i + 2] == "/"):
            if i + 2 == n:
                out.append(".*")  # trailing `**`: everything inside
                i += 2
            else:
                out.append("(?:.*/)?")  # `**/`: zero or more folders
                i += 3
        elif char == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end, klass = _character_class(pattern, i)
            out.append(klass)
            i = end
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _character_class(pattern: str, start: int) -> tuple[int, str]:
    """(index after the class, its regex) for a `[...]` at `start`; a `[` without `]` is literal."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    members = []
    if i < len(pattern) and pattern[i] == "]":
        members.append("\\]")
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            members.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        members.append(char if char == "-" else re.escape(char))
        i += 1
    if i >= len(pattern):
        return start + 1, "\\["
    body = "".join(members)
    return i + 1, f"[^/{body}]" if negate else f"(?!/)[{body}]"
