"""Every `shoal` command's --help works and documents each of its options."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from shoal.cli import app

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

OPTIONS = {
    "embed": [
        "TEXT",
        "--model",
        "-m",
        "--model-option",
        "-O",
        "--format",
        "--output",
        "-o",
        "--json",
    ],
    "similar": [
        "QUERY",
        "--doc",
        "-d",
        "--file",
        "-f",
        "--model",
        "-m",
        "--model-option",
        "-O",
        "--k",
        "-k",
        "--json",
    ],
    "models": ["--json"],
    "add": [
        "URI",
        "--doc",
        "-d",
        "--file",
        "-f",
        "--metadata",
        "--model",
        "-m",
        "--model-option",
        "-O",
        "--language",
        "--json",
    ],
    "ingest": [
        "PATH...",
        "--into",
        "-i",
        "--glob",
        "-g",
        "--include",
        "--exclude",
        "--no-gitignore",
        "--chunk-size",
        "--chunk-overlap",
        "--tokens",
        "--model",
        "-m",
        "--model-option",
        "-O",
        "--language",
        "--sync",
        "--batch-size",
        "--no-cache",
        "--text-column",
        "--text-field",
        "--speech-model",
        "--speech-language",
        "--message",
        "--json",
        "--verbose",
        "-v",
    ],
    "search": [
        "URI",
        "QUERY",
        "--k",
        "-k",
        "--where",
        "-w",
        "--mode",
        "--ref",
        "-r",
        "--show-metadata",
        "--json",
    ],
    "ask": [
        "URI",
        "QUESTION",
        "--llm",
        "-l",
        "--llm-option",
        "-O",
        "--k",
        "-k",
        "--mode",
        "--where",
        "-w",
        "--ref",
        "-r",
        "--json",
    ],
    "demo": ["--llm", "-l", "--into", "-i", "--json"],
    "info": ["URI", "--ref", "-r", "--json"],
    "log": ["URI", "--ref", "-r", "--limit", "--json"],
    "commit": ["URI", "--message", "-m", "--tag", "-t", "--json"],
    "checkout": ["URI", "REF", "--json"],
    "index": ["URI", "--storage", "--json"],
    "get": ["URI", "ID...", "--where", "-w", "--ref", "-r", "--limit", "--vectors", "--json"],
    "delete": ["URI", "--id", "--where", "-w", "--json"],
    "update": ["URI", "--where", "-w", "--set", "--json"],
    "restore": ["URI", "REF", "--json"],
    "reembed": [
        "URI",
        "--model",
        "-m",
        "--model-option",
        "-O",
        "--batch-size",
        "--no-cache",
        "--force",
        "--ray",
        "--workers",
        "--json",
    ],
    "tag": ["URI", "NAME", "VERSION", "--replace", "--json"],
    "tags": ["URI", "--json"],
    "branch": ["URI", "NAME", "--json"],
    "compact": ["URI", "--json"],
    "cleanup": ["URI", "--older-than", "--keep-last", "--json"],
    "drop": ["URI", "--yes", "-y", "--json"],
    "ls": ["FOLDER", "--json"],
    "export": [
        "URI",
        "--out",
        "-o",
        "--format",
        "-f",
        "--columns",
        "-c",
        "--where",
        "-w",
        "--ref",
        "-r",
        "--vectors",
        "--json",
    ],
    "import": [
        "FILE",
        "--into",
        "-i",
        "--format",
        "-f",
        "--text-column",
        "--id-column",
        "--embedding-column",
        "--metadata-column",
        "--column",
        "--model",
        "-m",
        "--model-option",
        "-M",
        "--message",
        "--json",
    ],
    "stats": ["URI", "--limit", "--json"],
    "token": ["create", "list", "revoke"],
    "serve": [
        "URI_OR_FOLDER...",
        "--host",
        "--port",
        "--tokens",
        "--rate-limit",
        "--ssl-certfile",
        "--ssl-keyfile",
        "--llm",
        "--cors-origin",
        "--json",
    ],
    "diff": ["URI", "A", "B", "--limit", "--json"],
    "dedup": ["URI", "--threshold", "-t", "--where", "-w", "--apply", "--limit", "--json"],
    "recommend": ["URI", "--like", "--unlike", "--k", "-k", "--where", "-w", "--json"],
    "outliers": [
        "URI",
        "--k",
        "-k",
        "--contamination",
        "-c",
        "--method",
        "--where",
        "-w",
        "--json",
    ],
    "cluster": ["URI", "--n-clusters", "-n", "--method", "--reduce", "--where", "-w", "--json"],
    "classify": ["URI", "TEXT...", "--label-field", "-l", "--k", "-k", "--json"],
    "map": [
        "URI",
        "--out",
        "-o",
        "--color-by",
        "-c",
        "--where",
        "-w",
        "--method",
        "--max-points",
        "--seed",
        "--width",
        "--height",
        "--ref",
        "-r",
        "--json",
    ],
}


@pytest.fixture(autouse=True)
def _wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.stdout)


def test_root_help_lists_every_command() -> None:
    text = help_text()
    for command in OPTIONS:
        assert re.search(rf"\b{command}\b", text)
    assert "--version" in text and "--url" in text


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_command_help_mentions_each_option(command: str) -> None:
    text = help_text(command)
    for option in OPTIONS[command]:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), option


def test_every_command_and_parameter_has_help_text() -> None:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    assert set(group.list_commands(ctx)) == set(OPTIONS)  # type: ignore[attr-defined]
    for name in OPTIONS:
        command = group.get_command(ctx, name)  # type: ignore[attr-defined]
        assert command is not None and command.help, name
        commands = [command]
        if isinstance(command, typer.core.TyperGroup):  # `shoal token ...`: each subcommand too
            commands += [command.get_command(ctx, sub) for sub in command.list_commands(ctx)]
        for each in commands:
            assert each is not None and each.help, name
            for param in each.params:
                assert getattr(param, "help", None), f"{name}: {param.name} has no help"
