"""The library's messages in command-line terms: keyword arguments as the command's options,
Python calls as the shoal commands that do the same."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from cli_runner import plain, run

import shoal
from shoal.cli._errors import _PHRASES, cli_message, command_options
from shoal.cli._store import search
from shoal.errors import ShoalError

SRC = Path(shoal.__file__).parent


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("pass threshold= (a distance for l2)", "pass --threshold (a distance for l2)"),
        ("n_clusters=50 is more than the 4 rows", "--n-clusters 50 is more than the 4 rows"),
        (
            "method='umap' needs umap-learn, or use method='pca'",
            "--method umap needs umap-learn, or use --method pca",
        ),
        ("pass dimensions=, or use one of", "pass -O dimensions=..., or use one of"),
        ("pass trust_remote_code=True if needed", "pass -O trust_remote_code=true if needed"),
        (
            "move it with tag('v1', version, replace=True)",
            "move it with `shoal tag ./kb v1 VERSION --replace`",
        ),
        (
            "no dataset at /x; pass create=True to make one",
            "no dataset at /x; create it with `shoal add ./kb --doc TEXT` or "
            "`shoal ingest PATH --into ./kb`",
        ),
        (
            "another writer kept ./kb busy for more than 60 s; retry later, or pass a longer "
            "write_timeout= to shoal.open()",
            "another writer kept ./kb busy for more than 60 s; retry later",
        ),
        ("a $in list; x==y stays", "a $in list; x==y stays"),
    ],
)
def test_messages_name_options_and_commands(message: str, expected: str) -> None:
    options = {
        "threshold": "--threshold",
        "n_clusters": "--n-clusters",
        "method": "--method",
        "model_option": "--model-option",
        "replace": "--replace",
    }
    assert cli_message(ShoalError(message), options=options, uri="./kb") == expected


def test_command_options_are_the_flags_a_user_types() -> None:
    options = command_options(search)
    assert options["k"] == "--k" and options["where"] == "--where"
    assert options["show_metadata"] == "--show-metadata" and options["as_json"] == "--json"
    assert "uri" not in options and "query" not in options  # arguments, not options


def _messages() -> list[str]:
    """Every string the library outside the CLI writes (messages are built of them), an
    f-string's fields shown as 'x'."""
    found = []
    for path in SRC.rglob("*.py"):
        if "cli" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                found.append("".join(_text(value) for value in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return found


def _text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return "'x'"  # a formatted field


@pytest.mark.parametrize("pattern", [p for p, _ in _PHRASES], ids=lambda p: p.pattern[:40])
def test_every_phrase_the_cli_rewrites_is_still_in_a_library_message(pattern: object) -> None:
    # A library message reworded without its rewrite would reach the user in Python terms.
    assert any(pattern.search(message) for message in _messages())  # type: ignore[attr-defined]


def test_a_taken_branch_and_an_empty_text_are_put_in_cli_terms(tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    shoal.open(uri, embedder="hash:8").add(["one"])
    assert run("branch", uri, "exp").exit_code == 0
    again = run("branch", uri, "exp")
    assert again.exit_code == 2
    assert plain(again.stderr) == (
        f"error: branch 'exp' already exists: use `shoal checkout {uri} exp`, or pick another "
        "name\n"
    )
    empty = run("add", uri, "-d", "   ")
    assert empty.exit_code == 2
    assert plain(empty.stderr) == "error: text of row 0 is empty; drop it\n"


def test_embed_json_and_another_format_is_a_usage_error() -> None:
    result = run("embed", "x", "-m", "hash:8", "--json", "--format", "npy")
    assert result.exit_code == 2 and result.stdout == ""
    assert plain(result.stderr) == (
        "error: --json writes JSON, --format npy something else: give one of them\n"
    )
