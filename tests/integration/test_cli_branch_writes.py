"""Writing to a branch from the command line: --branch on every command that writes, main
left as it was, and the undo lines naming the branch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_runner import plain, run
from typer.testing import Result

import shoal

MODEL = "hash:16"


def out(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return plain(result.stdout)


@pytest.fixture
def kb(tmp_path: Path) -> str:
    uri = str(tmp_path / "kb")
    shoal.open(uri, embedder=MODEL).add(
        ["a cat sat on a mat", "dogs bark at night", "stock markets fell sharply"],
        ids=["cat", "dog", "stocks"],
        metadatas=[{"topic": "pets"}, {"topic": "pets"}, {"topic": "markets"}],
    )
    out(run("branch", uri, "try"))
    return uri


def _ids(uri: str, ref: str | None = None) -> set[str]:
    ds = shoal.open(uri)
    ds = ds.checkout(ref) if ref is not None else ds
    return {row["id"] for row in ds.select(["id"])}


def test_writes_go_to_the_branch_and_main_stays(kb: str, tmp_path: Path) -> None:
    main_version = shoal.open(kb).version
    out(run("add", kb, "--branch", "try", "--doc", "birds sing at dawn", "--id", "bird"))
    out(run("delete", kb, "-b", "try", "--id", "dog"))
    text = out(run("update", kb, "--branch", "try", "--where", '{"id": "cat"}',
                   "--set", '{"topic": "felines"}'))  # fmt: skip
    assert re.search(r"undo with `shoal restore \S+ \d+ --branch try`", text), text
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fish.md").write_text("# Fish\n\nFish swim in the sea.\n")
    out(run("ingest", str(docs), "--into", kb, "--branch", "try"))
    pq.write_table(
        pa.table({"id": ["owl"], "text": ["owls hunt at night"]}), tmp_path / "o.parquet"
    )
    out(run("import", str(tmp_path / "o.parquet"), "--into", kb, "--branch", "try"))
    out(run("commit", kb, "--branch", "try", "-m", "branch work"))
    on_branch = _ids(kb, "try")
    assert {"bird", "owl", "cat", "stocks"} <= on_branch and "dog" not in on_branch
    assert any(i not in {"bird", "owl", "cat", "stocks"} for i in on_branch), "the fish chunk"
    assert shoal.open(kb).checkout("try").get(["cat"])[0].metadata == {"topic": "felines"}
    assert _ids(kb) == {"cat", "dog", "stocks"} and shoal.open(kb).version == main_version
    hits = json.loads(out(run("search", kb, "birds", "--ref", "try", "-k", "1", "--json")))
    assert hits[0]["id"] == "bird" if isinstance(hits, list) else hits["hits"][0]["id"] == "bird"
    log = json.loads(out(run("log", kb, "--ref", "try", "--json")))
    assert any("branch work" in json.dumps(entry) for entry in log)


def test_analyses_and_restore_write_to_the_branch(kb: str) -> None:
    main_version = shoal.open(kb).version
    branch_before = shoal.open(kb).checkout("try").version
    report = json.loads(out(run("cluster", kb, "--branch", "try", "--n-clusters", "2", "--json")))
    assert report["undo"].endswith(f"restore {kb} {branch_before} --branch try")
    labelled = shoal.open(kb).checkout("try").get(["cat"])[0].metadata
    assert "cluster" in labelled and "cluster" not in shoal.open(kb).get(["cat"])[0].metadata
    out(run(*report["undo"].split()[1:]))
    assert "cluster" not in shoal.open(kb).checkout("try").get(["cat"])[0].metadata
    assert shoal.open(kb).version == main_version


def test_an_unknown_branch_is_a_usage_error_naming_the_command_that_makes_it(kb: str) -> None:
    result = run("add", kb, "--branch", "nope", "--doc", "x")
    assert result.exit_code == 2
    message = plain(result.output)
    assert "has no branch 'nope'" in message and "try" in message
    assert f"shoal branch {kb} nope" in message
    assert run("delete", kb, "--branch", "nope", "--id", "cat").exit_code == 2
    assert _ids(kb) == {"cat", "dog", "stocks"}
