"""Every registered command: it succeeds (exit 0) and its --json parses; an error case of it
exits with the documented code and a message in command-line terms (no Python names)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from cli_runner import plain, run
from typer.testing import Result

import shoal
from shoal.cli import app
from shoal.cli._app import exit_code
from shoal.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetDamaged,
    DatasetNotFound,
    EmbedderMismatch,
    FilterError,
    InvalidInput,
    MissingDependency,
    ProviderUnavailable,
    RateLimited,
    ReadOnlyDataset,
    RefNotFound,
    RequestRejected,
    ShoalError,
    StorageFull,
    StorageReadOnly,
    StoreError,
    WriteConflict,
)

MODEL = "hash:16"
# A keyword argument (`create=True`, `threshold=`), a call (`log()`, `ds.select`), or
# `shoal.open(...)`: what a command-line error must not say. `-O name=value` is the CLI's own.
PYTHON_NAMES = re.compile(
    r"=True\b|=False\b|\w\(\)|\(\)|\bds\.|\bshoal\.[a-z_]+\(|(?<!-O )(?<![-\w$])[a-z_]+=(?!=)"
)


@dataclass(frozen=True)
class Case:
    """How to run one command well, and one way to run it wrong."""

    ok: tuple[str, ...]
    error: tuple[str, ...]
    code: int
    message: str
    slow: bool = False


CASES: dict[str, Case] = {
    "embed": Case(
        ("embed", "a cat", "-m", MODEL), ("embed", "x", "-m", "nope:1"), 2,
        "no embedder provider named 'nope'",
    ),
    "similar": Case(
        ("similar", "a cat", "-d", "a cat", "-d", "a dog", "-m", MODEL),
        ("similar", "a cat", "-m", MODEL), 2, "pass them with --doc TEXT",
    ),
    "models": Case(("models",), ("models", "extra"), 2, "unexpected extra argument"),
    "add": Case(
        ("add", "{kb}", "-d", "a new text"), ("add", "{kb}", "-d", "x", "-m", "hash:32"), 2,
        "leave out --model to use hash:16",
    ),
    "ingest": Case(
        ("ingest", "{tmp}/docs", "--into", "{tmp}/ingested", "-m", MODEL),
        ("ingest", "{tmp}/missing", "--into", "{tmp}/ingested"), 2, "no such file or folder",
    ),
    "search": Case(
        ("search", "{kb}", "a cat"), ("search", "{kb}", "cat", "--where", "{bad"), 2,
        "--where is not valid JSON",
    ),
    "ask": Case(
        ("ask", "{kb}", "Where did the cat sit?"), ("ask", "{kb}", "Why?", "--llm", "gpt:4"), 2,
        "no answerer provider named 'gpt'",
    ),
    "info": Case(
        ("info", "{kb}"), ("info", "{tmp}/nothing"), 2,
        "no dataset at {tmp}/nothing; create it with `shoal add {tmp}/nothing --doc TEXT`",
    ),
    "log": Case(
        ("log", "{kb}"), ("log", "{kb}", "--ref", "nope"), 2, "no version, tag or branch named"
    ),
    "commit": Case(
        ("commit", "{kb}", "-m", "four rows"), ("commit", "{kb}", "-m", "x", "--tag", "v1"), 2,
        "move it with `shoal tag {kb} v1 VERSION --replace`",
    ),
    "checkout": Case(
        ("checkout", "{kb}", "v1"), ("checkout", "{kb}", "99"), 2, "see `shoal log {kb}`"
    ),
    "diff": Case(("diff", "{kb}", "v1"), ("diff", "{kb}", "nope"), 2, "named 'nope'"),
    "index": Case(
        ("index", "{kb}"), ("index", "{kb}", "--storage", "weird"), 2, "index storage 'weird'"
    ),
    "get": Case(("get", "{kb}", "cat"), ("get", "{kb}", "nope"), 2, "list them with `shoal get"),
    "delete": Case(
        ("delete", "{kb}", "--id", "dog"), ("delete", "{kb}"), 2, "--id ID (repeatable) or --where"
    ),
    "update": Case(
        ("update", "{kb}", "--where", '{"topic": "pets"}', "--set", '{"lang": "en"}'),
        ("update", "{kb}", "--where", "{}", "--set", "[1]"), 2, "--set must be a JSON object",
    ),
    "restore": Case(
        ("restore", "{kb}", "v1"), ("restore", "{kb}", "99"), 2, "not in this dataset's history"
    ),
    "reembed": Case(
        ("reembed", "{kb}", "-m", "hash:24"), ("reembed", "{kb}", "-m", "phash:v1"), 2,
        "embeds only images",
    ),
    "tag": Case(("tag", "{kb}", "v2"), ("tag", "{kb}", "v1"), 2, "--replace"),
    "tags": Case(("tags", "{kb}"), ("tags", "{tmp}/nothing"), 2, "`shoal ingest PATH --into"),
    "branch": Case(("branch", "{kb}", "exp"), ("branch", "{kb}", "main"), 2, "branch name 'main'"),
    "compact": Case(
        ("compact", "{kb}"), ("--url", "http://127.0.0.1:9", "compact", "{kb}"), 2,
        "does not offer it over HTTP",
    ),
    "cleanup": Case(
        ("cleanup", "{kb}", "--older-than", "0"), ("cleanup", "{kb}", "--older-than", "soon"), 2,
        "--older-than takes a duration",
    ),
    "drop": Case(("drop", "{kb}", "--yes"), ("drop", "{kb}"), 2, "pass --yes to confirm"),
    "ls": Case(("ls", "{tmp}"), ("ls", "{tmp}/missing"), 2, "no folder at"),
    "export": Case(
        ("export", "{kb}", "--out", "{tmp}/rows.jsonl"), ("export", "{kb}", "--out", "rows.txt"),
        2, "use .jsonl, .parquet or .csv",
    ),
    "import": Case(
        ("import", "{tmp}/rows.csv", "--into", "{tmp}/imported", "--model", MODEL),
        ("import", "{tmp}/rows.csv", "--into", "{tmp}/imported", "--text-column", "body"),
        2, "no column 'body' for the text",
    ),
    "stats": Case(("stats", "{kb}"), ("stats", "{tmp}/nothing"), 2, "no dataset at"),
    "serve": Case(
        ("serve", "{tmp}"), ("serve", "{tmp}", "--host", "0.0.0.0"), 2,
        "binds only to a loopback address",
    ),
    "dedup": Case(("dedup", "{kb}"), ("dedup", "{kb}", "-t", "7"), 2, "must be in [-1, 1]"),
    "recommend": Case(
        ("recommend", "{kb}", "--like", "cat", "-k", "2"), ("recommend", "{kb}", "--like", "nope"),
        2, "list them with `shoal get {kb}`",
    ),
    "outliers": Case(
        ("outliers", "{kb}", "-k", "1", "-c", "0.25"), ("outliers", "{kb}", "-k", "9"), 2,
        "outliers with --k 9 need more than 9 rows",
    ),
    "cluster": Case(
        ("cluster", "{kb}", "-n", "2"), ("cluster", "{kb}", "-n", "50"), 2,
        "--n-clusters 50 is more than the 4 rows",
    ),
    "classify": Case(
        ("classify", "{kb}", "a cat", "-l", "topic", "-k", "1"),
        ("classify", "{kb}", "a cat", "-l", "colour"), 2,
        "label some rows first (`shoal update {kb} --where JSON --set JSON`)",
    ),
    "map": Case(
        ("map", "{kb}", "--out", "{tmp}/map.html", "--method", "pca"),
        ("map", "{kb}", "--out", "{tmp}/map.html", "--method", "tsne"), 2, "--method must be one of",
    ),
    "demo": Case(("demo",), ("demo", "--llm", "gpt:4"), 2, "no answerer provider named", slow=True),
    "token create": Case(
        ("token", "create", "--scope", "kb:read", "--tokens", "{tmp}/tokens.json"),
        ("token", "create", "--scope", "kb", "--tokens", "{tmp}/tokens.json"), 2,
        "is not DATASET:SCOPE",
    ),
    "token list": Case(
        ("token", "list", "--tokens", "{tmp}/tokens.json"),
        ("token", "list", "--tokens", "{tmp}/damaged.json"), 2, "is damaged",
    ),
    "token revoke": Case(
        ("token", "revoke", "ci", "--tokens", "{tmp}/tokens.json"),
        ("token", "revoke", "nobody", "--tokens", "{tmp}/tokens.json"), 2,
        "see `shoal token list`",
    ),
}  # fmt: skip


def registered_commands() -> set[str]:
    """Every command `shoal` has, a group's subcommands as "group sub"."""
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    names = set()
    for name in group.list_commands(ctx):  # type: ignore[attr-defined]
        command = group.get_command(ctx, name)  # type: ignore[attr-defined]
        subs = command.list_commands(ctx) if isinstance(command, typer.core.TyperGroup) else []
        names.update(f"{name} {sub}" for sub in subs) if subs else names.add(name)
    return names


def _params() -> list[object]:
    return [
        pytest.param(name, marks=[pytest.mark.slow] if case.slow else [], id=name)
        for name, case in sorted(CASES.items())
    ]


@dataclass(frozen=True)
class Place:
    """The test's folder and its dataset."""

    tmp: Path
    kb: str

    def args(self, args: tuple[str, ...]) -> list[str]:
        """`args` with {kb} and {tmp} filled in."""
        return [a.replace("{kb}", self.kb).replace("{tmp}", str(self.tmp)) for a in args]


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Place]:
    """A hash:16 dataset of four rows (three tagged v1), a docs folder, a tokens file with
    the token "ci", a damaged tokens file; `shoal serve` returns at once instead of serving."""
    import uvicorn

    kb = str(tmp_path / "kb")
    ds = shoal.open(kb, embedder=MODEL)
    ds.add(
        ["a cat sat on a mat", "dogs bark at night", "stock markets fell sharply"],
        ids=["cat", "dog", "stocks"],
        metadatas=[
            {"topic": "pets", "source": "pets.md"},
            {"topic": "pets", "source": "pets.md"},
            {"topic": "markets", "source": "money.md"},
        ],
    )
    ds.commit("three rows", tag="v1")
    ds.add(["a fourth text about birds"], ids=["bird"], metadatas=[{"topic": "pets"}])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Some notes about cats and mats.\n")
    (tmp_path / "damaged.json").write_text("{not json")
    (tmp_path / "rows.csv").write_text("text,topic\nhello world,greetings\n")
    created = run("token", "create", "--scope", "kb:read", "--name", "ci",
                  "--tokens", str(tmp_path / "tokens.json"))  # fmt: skip
    assert created.exit_code == 0, created.output
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    access = logging.getLogger("shoal.server")
    handlers, level = list(access.handlers), access.level
    yield Place(tmp_path, kb)
    # `shoal serve` gave the access log a handler: later in-process servers must not print.
    for handler in access.handlers[:]:
        if handler not in handlers:
            access.removeHandler(handler)
    access.setLevel(level)


def test_every_registered_command_has_a_case() -> None:
    assert set(CASES) == registered_commands()


@pytest.mark.parametrize("name", _params())
def test_every_command_succeeds_and_its_json_parses(name: str, place: Place) -> None:
    args = place.args(CASES[name].ok)
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    assert isinstance(document, (dict, list))


@pytest.mark.parametrize("name", _params())
def test_every_command_succeeds_for_people_too(name: str, place: Place) -> None:
    result = run(*place.args(CASES[name].ok))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", [n for n, c in sorted(CASES.items()) if not c.slow])
def test_every_command_fails_with_its_exit_code_and_a_cli_message(name: str, place: Place) -> None:
    case = CASES[name]
    result = run(*place.args(case.error))
    assert result.exit_code == case.code, result.output
    text = plain(result.output)
    assert "Traceback" not in text
    expected = case.message.replace("{kb}", place.kb).replace("{tmp}", str(place.tmp))
    assert expected in " ".join(text.split()), text  # Typer's usage panel wraps its lines
    errors = [line for line in plain(result.stderr).splitlines() if line.startswith("error:")]
    for line in errors:
        assert not PYTHON_NAMES.search(line), line


def _error_line(result: Result) -> str:
    [line] = [ln for ln in plain(result.stderr).splitlines() if ln.startswith("error:")]
    return line


def test_python_names_are_recognised_by_the_check() -> None:
    for said in ("pass create=True", "see log()", "ds.select(['id'])", "pass threshold= (a",
                 "n_clusters=50 is", "shoal.open(uri)"):  # fmt: skip
        assert PYTHON_NAMES.search(said), said
    for said in ("pass -O dimensions=256", "--where JSON", "KEY=VALUE", "$in", "a == b"):
        assert not PYTHON_NAMES.search(said), said


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("x"), 2),
        (MissingDependency("x"), 2),
        (InvalidInput("x"), 2),
        (FilterError("x"), 2),
        (AuthenticationError("x"), 2),
        (RequestRejected("x"), 1),
        (DatasetNotFound("x"), 2),
        (RefNotFound("x"), 2),
        (EmbedderMismatch("x"), 2),
        (ReadOnlyDataset("x"), 2),
        (ProviderUnavailable("x"), 1),
        (RateLimited("x"), 1),
        (WriteConflict("x"), 1),
        (StorageFull("x"), 1),
        (StorageReadOnly("x"), 1),
        (DatasetDamaged("x"), 1),
        (StoreError("x"), 1),
        (ShoalError("x"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, ShoalError) else str(value),
)
def test_the_exit_code_table(error: ShoalError, code: int) -> None:
    assert exit_code(error) == code


def test_a_runtime_failure_exits_1(place: Place) -> None:
    unreachable = run("--url", "http://127.0.0.1:9", "info", "kb")
    assert unreachable.exit_code == 1
    assert _error_line(unreachable).startswith("error: cannot reach the Shoal server")
    for manifest in (Path(place.kb) / "_versions").glob("*.manifest"):
        manifest.write_bytes(b"\0" * 64)  # every version's manifest damaged
    damaged = run("info", place.kb)
    assert damaged.exit_code == 1, damaged.output
    assert "Traceback" not in damaged.output


def test_a_settings_error_exits_2_naming_the_option(place: Place) -> None:
    # --model disagreeing with the dataset's embedder is a setting the user fixes: 2, not 1.
    result = run("add", place.kb, "-d", "x", "-m", "hash:32")
    assert result.exit_code == 2
    assert _error_line(result) == (
        f"error: {place.kb} holds vectors made by hash:16 (16-d, cosine), not by hash:32; "
        f"leave out --model to use hash:16, re-embed it with `shoal reembed {place.kb} -m "
        "hash:32` to move it to hash:32, or use another dataset"
    )
    doc = Path(place.kb).parent / "note.txt"
    doc.write_text("A note to ingest.\n", encoding="utf-8")
    ingest = run("ingest", str(doc), "--into", place.kb, "-m", "hash:32")
    assert ingest.exit_code == 2
    assert _error_line(ingest) == _error_line(result)


def test_the_readme_shows_every_command_and_its_json() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Command line\n") : readme.index("## Errors\n")]
    shown = set(re.findall(r"^shoal (?:--url \S+ )?(\w+(?: create| list| revoke)?)", section, re.M))
    json_rows = " ".join(line for line in section.splitlines() if line.startswith("| `"))
    for name in registered_commands():
        top = name.split()[0]
        assert name in shown or top in {n.split()[0] for n in shown}, name
        assert f"`{top}" in json_rows, name
