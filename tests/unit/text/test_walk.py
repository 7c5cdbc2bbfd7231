"""Gitignore patterns (git's semantics, a subset) and walk: what is read, what is skipped and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoal import InvalidInput
from shoal.text import Patterns, list_files, walk


def ignored(lines: list[str], path: str, *, is_dir: bool = False) -> bool:
    rule = Patterns.parse(lines, origin=".gitignore").match(path, is_dir=is_dir)
    return rule is not None and not rule.negated


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        # no slash: a name at any depth
        ("*.log", "debug.log", False, True),
        ("*.log", "a/b/debug.log", False, True),
        ("*.log", "debug.log.txt", False, False),
        ("build", "build", True, True),
        ("build", "src/build", False, True),
        # a leading or middle slash anchors to the folder of the .gitignore
        ("/todo.txt", "todo.txt", False, True),
        ("/todo.txt", "sub/todo.txt", False, False),
        ("doc/frotz", "doc/frotz", False, True),
        ("doc/frotz", "a/doc/frotz", False, False),
        # a trailing slash matches folders only
        ("out/", "out", True, True),
        ("out/", "out", False, False),
        ("out/", "x/out", True, True),
        # * and ? stay within one part; classes
        ("doc/*.txt", "doc/a.txt", False, True),
        ("doc/*.txt", "doc/sub/a.txt", False, False),
        ("file?.md", "file1.md", False, True),
        ("file?.md", "file10.md", False, False),
        ("[abc].txt", "b.txt", False, True),
        ("[!abc].txt", "b.txt", False, False),
        ("[!abc].txt", "d.txt", False, True),
        ("[a-c]?.md", "c9.md", False, True),
        # **
        ("**/logs", "logs", True, True),
        ("**/logs", "deep/er/logs", True, True),
        ("**/logs/debug.log", "a/logs/debug.log", False, True),
        ("abc/**", "abc/x/y", False, True),
        ("abc/**", "abc", True, False),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "xa/x/b", False, False),
        # escapes and literal characters
        ("\\#notes", "#notes", False, True),
        ("\\!important", "!important", False, True),
        ("name\\ ", "name ", False, True),
        ("a+b.(c)", "a+b.(c)", False, True),
    ],
)
def test_gitignore_pattern_semantics(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert ignored([pattern], path, is_dir=is_dir) is expected


def test_comments_blanks_negation_and_the_last_match_wins() -> None:
    lines = ["# a comment", "", "*.log", "!keep.log", "keep.log.*", "   "]
    assert ignored(lines, "debug.log") and not ignored(lines, "keep.log")
    assert ignored(lines, "keep.log.old") and not ignored(lines, "# a comment")
    rule = Patterns.parse(lines, origin="x/.gitignore", numbered=True).match(
        "keep.log", is_dir=False
    )
    assert rule is not None and rule.negated and rule.origin == "x/.gitignore:4"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(root: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def skips(root: Path, result: object) -> list[tuple[str, str]]:
    assert hasattr(result, "skipped")
    return [(Path(s.path).relative_to(root).as_posix(), s.reason) for s in result.skipped]


def test_nested_gitignores_apply_to_their_subtree_and_a_folder_is_pruned_once(
    tmp_path: Path,
) -> None:
    root = tree(
        tmp_path,
        {
            ".gitignore": "*.tmp\nbuild/\n/top-only.md\n",
            "a.md": "a",
            "a.tmp": "tmp",
            "top-only.md": "anchored",
            "build/out.md": "built",
            "build/more/deep.md": "built",
            "docs/top-only.md": "not anchored here",
            "docs/.gitignore": "!keep.tmp\ndraft-*\n",
            "docs/keep.tmp": "re-included below",
            "docs/other.tmp": "still ignored",
            "docs/draft-1.md": "ignored in docs",
            "notes/draft-2.md": "docs' rules do not reach here",
            "notes/build/x.md": "build/ matches at any depth",
        },
    )
    result = walk(root)
    assert names(root, result.files) == [
        "a.md",
        "docs/keep.tmp",
        "docs/top-only.md",
        "notes/draft-2.md",
    ]
    assert skips(root, result) == [
        (".gitignore", "hidden"),
        ("a.tmp", "gitignored"),
        ("build", "gitignored"),
        ("docs/.gitignore", "hidden"),
        ("docs/draft-1.md", "gitignored"),
        ("docs/other.tmp", "gitignored"),
        ("notes/build", "gitignored"),
        ("top-only.md", "gitignored"),
    ]
    build = next(s for s in result.skipped if s.path.endswith("build") and "notes" not in s.path)
    assert build.folder and build.detail == f"{root / '.gitignore'}:2: build/"
    everything = walk(root, gitignore=False)
    assert "build/more/deep.md" in names(root, everything.files)
    assert not any(s.reason == "gitignored" for s in everything.skipped)


def test_a_file_in_an_ignored_folder_cannot_be_re_included(tmp_path: Path) -> None:
    root = tree(tmp_path, {".gitignore": "logs/\n!logs/keep.md\n", "logs/keep.md": "k"})
    assert walk(root).files == []


def test_gitignores_above_the_walked_folder_apply_inside_a_git_work_tree(tmp_path: Path) -> None:
    repo = tree(
        tmp_path / "repo",
        {
            ".gitignore": "docs/_build/\n*.bak\n",
            "docs/index.md": "i",
            "docs/old.bak": "b",
            "docs/_build/page.md": "built",
        },
    )
    (repo / ".git").mkdir()
    docs = repo / "docs"
    assert names(docs, walk(docs).files) == ["index.md"]
    assert skips(docs, walk(docs)) == [("_build", "gitignored"), ("old.bak", "gitignored")]
    # Outside a git work tree, only the .gitignore files inside the walk count.
    (repo / ".git").rmdir()
    assert names(docs, walk(docs).files) == ["_build/page.md", "index.md", "old.bak"]


def test_dot_git_is_skipped_silently_and_hidden_entries_are_reported(tmp_path: Path) -> None:
    root = tree(
        tmp_path, {".git/config": "c", ".github/ci.yml": "y", ".env": "SECRET=1", "a.md": "a"}
    )
    result = walk(root)
    assert names(root, result.files) == ["a.md"]
    assert skips(root, result) == [(".env", "hidden"), (".github", "hidden")]


def test_include_and_exclude_patterns(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "README.md": "r",
            "guide/a.rst": "a",
            "guide/b.txt": "b",
            "api/c.md": "c",
            "vendor/lib.md": "v",
            "notes.txt": "n",
        },
    )
    result = walk(root, include=["*.md", "guide/"], exclude=["vendor/", "b.txt"])
    assert names(root, result.files) == ["README.md", "api/c.md", "guide/a.rst"]
    details = [s.detail for s in result.skipped]
    assert [(*skip, detail) for skip, detail in zip(skips(root, result), details, strict=True)] == [
        ("guide/b.txt", "excluded", "--exclude b.txt"),
        ("notes.txt", "excluded", "not matched by --include"),
        ("vendor", "excluded", "--exclude vendor/"),
    ]
    anchored = walk(root, include=["guide/**/*.rst", "/README.md"])
    assert names(root, anchored.files) == ["README.md", "guide/a.rst"]
    with pytest.raises(InvalidInput, match="list of patterns"):
        walk(root, exclude="*.md")  # type: ignore[arg-type]


def test_symlinks_special_files_and_folders_named_like_files(tmp_path: Path) -> None:
    root = tree(tmp_path / "root", {"x.txt/inner.md": "inside", "real/a.md": "a"})
    outside = tree(tmp_path / "outside", {"b.md": "b"})
    os.symlink(root / "nowhere.md", root / "dangling.md")
    os.symlink(outside, root / "linked")
    os.symlink(outside / "b.md", root / "b-link.md")
    os.mkfifo(root / "pipe.md")
    result = walk(root)
    assert names(root, result.files) == ["b-link.md", "real/a.md", "x.txt/inner.md"]
    assert skips(root, result) == [
        ("dangling.md", "broken_symlink"),
        ("linked", "symlinked_folder"),
        ("pipe.md", "special_file"),
    ]
    assert "nowhere.md, which is missing" in result.skipped[0].detail


def test_a_glob_narrows_the_files_without_reporting_the_others(tmp_path: Path) -> None:
    root = tree(tmp_path, {"a.md": "a", "b.txt": "b", "sub/c.md": "c", "sub/d.bin": "d"})
    assert names(root, walk(root, glob="**/*.md").files) == ["a.md", "sub/c.md"]
    assert walk(root, glob="**/*.md").skipped == []
    assert names(root, list_files(root, "*.md")) == ["a.md"]
    with pytest.raises(InvalidInput, match="invalid glob pattern"):
        walk(root, glob="/abs/*")
