"""Source code: which language a file holds (by suffix, name or shebang), and where to cut it.

Code is cut where a reader would: first before a top-level definition that follows a
blank line (`def`/`class` in Python, `func`/`type` in Go, `fn`/`impl` in Rust...), then at
any blank line before an unindented line (a top-level block in every language), then at
any blank line, then lines, words and characters, as for prose. The separators are
regular expressions for `RecursiveCharacterSplitter(is_separator_regex=True)`.
"""

from __future__ import annotations

import re

__all__ = ["CODE_SUFFIXES", "code_language", "code_separators", "shebang_language"]

_BY_SUFFIX: dict[str, str] = {
    **dict.fromkeys((".py", ".pyi", ".pyw"), "python"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".tsx", ".mts", ".cts"), "typescript"),
    ".java": "java",
    **dict.fromkeys((".kt", ".kts"), "kotlin"),
    ".scala": "scala",
    **dict.fromkeys((".groovy", ".gradle"), "groovy"),
    ".go": "go",
    ".rs": "rust",
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"), "cpp"),
    ".cs": "csharp",
    ".fs": "fsharp",
    ".swift": "swift",
    ".mm": "objective-c",
    ".rb": "ruby",
    ".php": "php",
    **dict.fromkeys((".pl", ".pm"), "perl"),
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    **dict.fromkeys((".sh", ".bash", ".zsh", ".ksh"), "shell"),
    ".fish": "fish",
    **dict.fromkeys((".ps1", ".psm1"), "powershell"),
    **dict.fromkeys((".bat", ".cmd"), "batch"),
    ".sql": "sql",
    ".hs": "haskell",
    **dict.fromkeys((".ml", ".mli"), "ocaml"),
    **dict.fromkeys((".ex", ".exs"), "elixir"),
    **dict.fromkeys((".erl", ".hrl"), "erlang"),
    **dict.fromkeys((".clj", ".cljs", ".cljc"), "clojure"),
    ".el": "emacs-lisp",
    **dict.fromkeys((".lisp", ".lsp"), "lisp"),
    ".scm": "scheme",
    ".dart": "dart",
    ".vim": "vim",
    ".zig": "zig",
    ".nim": "nim",
    ".tcl": "tcl",
    ".awk": "awk",
    ".proto": "protobuf",
    ".cmake": "cmake",
    ".mk": "make",
    ".css": "css",
    ".scss": "scss",
    ".less": "less",
    ".vue": "vue",
    ".svelte": "svelte",
    **dict.fromkeys((".yaml", ".yml"), "yaml"),
    ".toml": "toml",
    **dict.fromkeys((".ini", ".cfg"), "ini"),
    ".conf": "conf",
    ".json": "json",
    **dict.fromkeys((".xml", ".xsd", ".xsl"), "xml"),
    ".properties": "properties",
}
CODE_SUFFIXES = frozenset(_BY_SUFFIX)
"""Suffixes of the source code (and configuration) files Shoal reads as code."""
_BY_NAME: dict[str, str] = {
    **dict.fromkeys(("makefile", "gnumakefile"), "make"),
    **dict.fromkeys(("dockerfile", "containerfile"), "dockerfile"),
    "jenkinsfile": "groovy",
    **dict.fromkeys(("vagrantfile", "rakefile", "gemfile", "podfile", "brewfile"), "ruby"),
    "cmakelists.txt": "cmake",
    "meson.build": "meson",
    **dict.fromkeys(("sconstruct", "sconscript"), "python"),
    "justfile": "just",
    "pipfile": "toml",
}
# Makefile.am, Makefile.in, Dockerfile.dev...: the name before the first dot decides,
# unless the suffix says it is a document (Dockerfile.md is about a Dockerfile).
_BY_STEM = {"makefile": "make", "dockerfile": "dockerfile", "containerfile": "dockerfile"}
_DOCUMENT_SUFFIXES = frozenset({"md", "txt", "rst", "adoc", "html", "pdf"})
_SHEBANG = re.compile(
    rb"^#![^\n]*?\b(python|bash|sh|zsh|ksh|dash|node|perl|ruby|php|lua|Rscript|fish|tclsh)"
    rb"[0-9.]*\b"
)
_SHEBANG_LANGUAGES = {
    "python": "python", "bash": "shell", "sh": "shell", "zsh": "shell", "ksh": "shell",
    "dash": "shell", "node": "javascript", "perl": "perl", "ruby": "ruby", "php": "php",
    "lua": "lua", "Rscript": "r", "fish": "fish", "tclsh": "tcl",
}  # fmt: skip

# Top-level definitions, each after a blank line (so a decorator or comment stays with it).
_DEFINITIONS: dict[str, str] = {
    "python": r"(?:@|(?:async[ \t]+)?def[ \t]|class[ \t])",
    "javascript": r"(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?"
    r"(?:function\b|class\b|const\b|let\b|var\b)",
    "typescript": r"(?:export[ \t]+)?(?:default[ \t]+)?(?:declare[ \t]+)?(?:abstract[ \t]+)?"
    r"(?:async[ \t]+)?(?:function\b|class\b|const\b|let\b|var\b|interface\b|type\b|enum\b"
    r"|namespace\b)",
    "go": r"(?:func|type|var|const)\b",
    "rust": r"(?:#\[|(?:pub(?:\([^)\n]*\))?[ \t]+)?(?:async[ \t]+)?(?:unsafe[ \t]+)?"
    r"(?:fn|struct|enum|impl|trait|mod|const|static|type|macro_rules!)\b)",
    "ruby": r"(?:def|class|module)\b",
    "php": r"(?:(?:abstract|final)[ \t]+)?(?:function|class|interface|trait)\b",
    "kotlin": r"(?:(?:private|public|internal|data|sealed|open|abstract)[ \t]+)*"
    r"(?:fun|class|object|interface)\b",
    "scala": r"(?:(?:case|sealed|abstract|final)[ \t]+)*(?:def|class|object|trait)\b",
    "swift": r"(?:(?:public|private|internal|open|final)[ \t]+)*"
    r"(?:func|class|struct|enum|protocol|extension)\b",
    "elixir": r"(?:defmodule|def|defp|defmacro)\b",
    "shell": r"(?:function[ \t]+\w|\w[\w-]*[ \t]*\(\)[ \t]*\{)",
    "r": r"\w[\w.]*[ \t]*(?:<-|=)[ \t]*function\b",
    "lua": r"(?:local[ \t]+)?function\b",
    "julia": r"(?:function|macro|struct|module|mutable[ \t]+struct)\b",
}
# A blank line, then an unindented line: a new top-level block, in any language.
_TOP_LEVEL_BLOCK = r"\n[ \t]*\n(?=\S)"
_FALLBACK = [r"\n[ \t]*\n", r"\n", r" ", ""]


def code_language(name: str, *, by_suffix: bool = True) -> str | None:
    """The language a file of this name holds (`setup.py` python, `Makefile` make), or None.

    `by_suffix=False` looks at whole names only (`Makefile`, `CMakeLists.txt`, `Dockerfile.dev`).
    """
    lower = name.lower()
    if lower in _BY_NAME:
        return _BY_NAME[lower]
    stem, dot, _ = lower.partition(".")
    if stem in _BY_STEM and (not dot or lower.rsplit(".", 1)[-1] not in _DOCUMENT_SUFFIXES):
        return _BY_STEM[stem]
    position = lower.rfind(".")
    return _BY_SUFFIX.get(lower[position:]) if by_suffix and position > 0 else None


def shebang_language(head: bytes) -> str | None:
    """The language a script's `#!` line names (`#!/usr/bin/env python3` python), or None."""
    match = _SHEBANG.match(head)
    return _SHEBANG_LANGUAGES[match.group(1).decode()] if match else None


def code_separators(language: str) -> list[str]:
    """Where to cut code of `language`, best first, as regular expressions."""
    separators = [_TOP_LEVEL_BLOCK, *_FALLBACK]
    definition = _DEFINITIONS.get(language)
    if definition is not None:
        separators.insert(0, rf"\n[ \t]*\n(?={definition})")
    return separators
