"""The dataset commands (`shoal add/search/info/log/commit/checkout/diff`), in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_runner import plain, run
from typer.testing import Result

import shoal

MODEL = "hash:64"


def out(result: Result) -> str:
    return plain(result.stdout)


@pytest.fixture
def kb(tmp_path: Path) -> str:
    uri = str(tmp_path / "kb")
    ds = shoal.open(uri, embedder=MODEL)
    ds.add(
        ["a cat sat on a mat", "dogs bark at night", "stock markets fell sharply"],
        metadatas=[
            {"topic": "pets", "year": 2001},
            {"topic": "pets", "year": 2011},
            {"topic": "markets"},
        ],
    )
    return uri


def test_add_creates_then_deduplicates(tmp_path: Path) -> None:
    uri = str(tmp_path / "new")
    first = run(
        "add",
        uri,
        "-d",
        "one text",
        "-d",
        "another text",
        "--metadata",
        '{"src": "cli"}',
        "-m",
        MODEL,
    )
    assert first.exit_code == 0, first.output
    assert "added 2 new row(s) of 2" in first.stdout
    again = run("add", uri, "-d", "one text", "--metadata", '{"src": "cli"}')
    assert again.exit_code == 0, again.output
    assert "added 0 new row(s) of 1" in again.stdout
    ds = shoal.open(uri)
    assert len(ds) == 2 and ds.spec.name == MODEL
    assert {r.metadata["src"] for r in ds.get([h.id for h in ds.search("text", k=2)])} == {"cli"}
    # `add` leaves the keyword index saved, so the next command's keyword search loads it.
    keyword = tmp_path / "new" / "_shoal" / "keyword" / "main" / "manifest.json"
    assert json.loads(keyword.read_text())["version"] == ds.version


def test_add_reads_a_file_and_stdin(tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    notes = tmp_path / "notes.txt"
    notes.write_text("first note\n\nsecond note\n", encoding="utf-8")
    assert run("add", uri, "-f", str(notes), "-m", MODEL).exit_code == 0
    assert run("add", uri, "-f", "-", input="third note\n").exit_code == 0
    assert len(shoal.open(uri)) == 3


def test_add_takes_an_id_for_each_text(tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    made = run("add", uri, "-d", "a cat", "-d", "a dog", "--id", "cat", "--id", "dog", "-m", MODEL)
    assert made.exit_code == 0, made.output
    replaced = run("add", uri, "-d", "a cat, again", "--id", "cat", "--json")
    assert json.loads(replaced.stdout)["ids"] == ["cat"]
    assert [r.text for r in shoal.open(uri).get(["cat", "dog"])] == ["a cat, again", "a dog"]
    wrong = run("add", uri, "-d", "one", "-d", "two", "--id", "only-one")
    assert wrong.exit_code == 2
    assert "--id was given 1 time(s) for 2 text(s)" in plain(wrong.output)
    assert len(shoal.open(uri)) == 2, "nothing written"


def test_search_prints_ranked_hits_and_json(kb: str) -> None:
    table = run("search", kb, "a cat sat on a mat", "-k", "2")
    assert table.exit_code == 0, table.output
    # Two lines a hit: rank, score and short id; then the text on one line.
    lines = out(table).splitlines()
    assert re.fullmatch(r" 1\. score \d\.\d{4}  [0-9a-f]{12}", lines[0])
    assert lines[1] == "    a cat sat on a mat"
    assert re.fullmatch(r" 2\. score \d\.\d{4}  [0-9a-f]{12}", lines[2])
    assert len(lines) == 4
    as_json = json.loads(run("search", kb, "a cat sat on a mat", "-k", "2", "--json").stdout)
    assert [row["rank"] for row in as_json] == [1, 2]
    assert as_json[0]["text"] == "a cat sat on a mat"
    assert as_json[0]["score"] >= as_json[1]["score"]


def test_search_filters_with_where(kb: str) -> None:
    result = run(
        "search",
        kb,
        "anything",
        "-k",
        "5",
        "--where",
        '{"topic": "pets", "year": {"$gt": 2005}}',
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert [row["text"] for row in json.loads(result.stdout)] == ["dogs bark at night"]


@pytest.mark.parametrize(
    ("where", "phrase"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"topic": {"$like": "p%"}}', "unknown operator '$like'"),
        ('{"topic": {"$in": "pets"}}', "$in"),
    ],
)
def test_bad_filters_exit_2_with_one_line(kb: str, where: str, phrase: str) -> None:
    result = run("search", kb, "cat", "--where", where)
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and phrase in result.stderr
    assert "Traceback" not in result.output


def test_a_filter_on_a_field_no_row_has_warns_and_matches_nothing(kb: str) -> None:
    result = run("search", kb, "cat", "--where", '{"nosuchfield": 1}', "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert plain(result.stderr).startswith("warning: unknown field 'nosuchfield'")


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    result = run("info", str(tmp_path / "nothing-here"))
    assert result.exit_code == 2
    assert "no dataset at" in result.stderr
    assert not (tmp_path / "nothing-here").exists()


def test_info_prints_the_summary_table(kb: str) -> None:
    result = run("info", kb)
    assert result.exit_code == 0, result.output
    text = out(result)
    assert re.search(r"embedding\s+embedding\s+\(3, 64\)\s+float32\s+None", text)
    assert re.search(r"metadata\s+json\s+\(3, 1\)\s+str\s+None", text)
    assert MODEL in text
    data = json.loads(run("info", kb, "--json").stdout)
    assert data["rows"] == 3 and data["embedder"]["provider"] == "hash"
    assert {c["tensor"] for c in data["columns"]} == {"id", "text", "embedding", "metadata"}


def test_commit_log_checkout_diff_round_trip(kb: str) -> None:
    committed = run("commit", kb, "-m", "three docs", "--tag", "v1")
    assert committed.exit_code == 0, committed.output
    version = int(re.search(r"committed version (\d+)", committed.stdout).group(1))  # type: ignore[union-attr]
    shoal.open(kb).add(["a fourth text about birds"])

    log = json.loads(run("log", kb, "--json").stdout)
    assert [e["message"] for e in log if e["version"] == version] == ["three docs"]
    assert [e["tags"] for e in log if e["version"] == version] == [["v1"]]
    assert log[-1]["rows"] == 4

    checkout = run("checkout", kb, "v1")
    assert checkout.exit_code == 0, checkout.output
    assert f"version {version}" in out(checkout) and "read-only" in out(checkout)
    assert "(3, 64)" in out(checkout)

    old = json.loads(run("search", kb, "birds", "-k", "10", "--ref", "v1", "--json").stdout)
    assert "a fourth text about birds" not in [row["text"] for row in old]

    diff = json.loads(run("diff", kb, "v1", "--json").stdout)
    assert len(diff["added"]) == 1 and diff["removed"] == [] and diff["changed"] == []
    assert "1 added" in out(run("diff", kb, "v1"))


def test_commit_with_a_taken_tag_makes_no_version_and_says_so(kb: str) -> None:
    first = run("commit", kb, "-m", "first", "--tag", "v1")
    assert first.exit_code == 0, first.output
    tagged = shoal.open(kb).version
    shoal.open(kb).add(["a fourth text about birds"])
    version = shoal.open(kb).version
    again = run("commit", kb, "-m", "second", "--tag", "v1")
    assert again.exit_code == 2
    assert plain(again.stderr) == (
        f"error: tag 'v1' already names version {tagged}: pick another name, or move it with "
        f"`shoal tag {kb} v1 VERSION --replace`\n"
    )
    assert "Traceback" not in again.output
    assert shoal.open(kb).version == version  # the commit was not made
    assert shoal.open(kb).tags() == {"v1": tagged}


@pytest.mark.parametrize("name", ["a/b", "two words", "-dash", "x" * 65])
def test_commit_with_an_invalid_tag_name_exits_2_before_committing(kb: str, name: str) -> None:
    version = shoal.open(kb).version
    result = run("commit", kb, "-m", "named", "--tag", name)
    assert result.exit_code == 2
    text = plain(result.stderr)
    assert text.startswith("error: tag name ") and text.count("\n") == 1
    assert "is not allowed: a tag name is 1 to 64 ASCII letters, digits, '.', '-' and '_'" in text
    assert "Traceback" not in result.output
    assert shoal.open(kb).version == version


def _deep_json(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["add", "{kb}", "--doc", "x", "--metadata", _deep_json(3_000)],
            "error: --metadata nests too deeply to be read; metadata nests dicts and lists 64 "
            "levels at most",
        ),
        (
            ["add", "{kb}", "--doc", "x", "--metadata", _deep_json(70)],
            "error: metadata of row 0 nests dicts and lists more than 64 levels deep (or holds "
            "itself); flatten it, or store the deep part as a JSON string",
        ),
        (
            ["search", "{kb}", "cat", "--where", _deep_json(3_000)],
            "error: --where nests too deeply to be read; a filter nests $and, $or and $not 16 "
            "levels at most",
        ),
        (
            ["search", "{kb}", "cat", "--where", '{"$not": ' * 40 + '{"topic": "pets"}' + "}" * 40],
            "error: the filter nests $and, $or and $not more than 16 levels deep; flatten it "
            "($and and $or take lists of any length)",
        ),
    ],
    ids=["metadata 3000 deep", "metadata 70 deep", "where 3000 deep", "where 40 $not"],
)
def test_deeply_nested_json_options_exit_2_with_one_line(
    kb: str, args: list[str], message: str
) -> None:
    version = shoal.open(kb).version
    result = run(*[a.replace("{kb}", kb) for a in args])
    assert result.exit_code == 2, result.output
    assert plain(result.stderr) == message + "\n"
    assert "Traceback" not in result.output
    assert shoal.open(kb).version == version


def test_a_long_filter_comes_from_a_file_and_its_limit_exits_2(
    kb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = ["pets", *(f"other-{i}" for i in range(60_000))]
    where = tmp_path / "where.json"
    where.write_text(json.dumps({"topic": {"$in": topics}}))
    result = run("search", kb, "cat", "--where", f"@{where}", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(h["text"] for h in json.loads(result.stdout)) == [
        "a cat sat on a mat",
        "dogs bark at night",
    ]
    monkeypatch.setenv("SHOAL_FILTER_MAX_VALUES", "50000")
    refused = run("search", kb, "cat", "--where", f"@{where}")
    assert refused.exit_code == 2, refused.output
    assert "hold more than 50000 values (SHOAL_FILTER_MAX_VALUES)" in plain(refused.stderr)
    missing = run("search", kb, "cat", "--where", f"@{tmp_path / 'nope.json'}")
    assert missing.exit_code == 2 and "cannot read the file" in plain(missing.stderr)


def test_unknown_ref_exits_2_naming_the_refs(kb: str) -> None:
    result = run("checkout", kb, "no-such-tag")
    assert result.exit_code == 2
    assert "no version, tag or branch named 'no-such-tag'" in result.stderr


def test_the_commands_work_on_s3_with_the_standard_aws_variables(s3_environment: Any) -> None:
    uri = s3_environment.fresh_uri()
    added = run("add", uri, "-d", "a cat sat on a mat", "-d", "dogs bark", "-m", MODEL)
    assert added.exit_code == 0, added.output
    assert run("commit", uri, "-m", "two texts").exit_code == 0
    hits = json.loads(run("search", uri, "a cat sat on a mat", "-k", "1", "--json").stdout)
    assert hits[0]["text"] == "a cat sat on a mat"
    assert "(2, 64)" in out(run("info", uri))
    assert [e["message"] for e in json.loads(run("log", uri, "--json").stdout)][-1] == "two texts"
    assert any(key.endswith(".manifest") for key in s3_environment.keys(uri))


def test_add_with_a_language_makes_a_dataset_that_analyses_it(tmp_path: Path) -> None:
    uri = str(tmp_path / "de")
    added = run("add", uri, "--model", MODEL, "--language", "german",
                "--doc", "Die alten Häuser stehen am Fluss.", "--doc", "Das Auto ist rot.")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "keyword language: german" in out(run("info", uri))
    assert json.loads(run("info", uri, "--json").stdout)["language"] == "german"
    found = json.loads(run("search", uri, "Haus", "--mode", "keyword", "--json").stdout)
    assert [hit["text"] for hit in found] == ["Die alten Häuser stehen am Fluss."]
    # A later add keeps the stored language; another one is an error that names it.
    assert run("add", uri, "--doc", "Ein Haus.").exit_code == 0
    other = run("add", uri, "--language", "french", "--doc", "Une maison.")
    assert other.exit_code != 0 and "analyses keywords as german" in plain(other.output)


def test_add_refuses_an_unknown_language(tmp_path: Path) -> None:
    result = run("add", str(tmp_path / "x"), "--model", MODEL, "--language", "klingon",
                 "--doc", "nuqneH")  # fmt: skip
    assert result.exit_code != 0
    assert "no keyword analyser for language 'klingon'" in plain(result.output)
    assert "german" in plain(result.output) and not (tmp_path / "x").exists()
