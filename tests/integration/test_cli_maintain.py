"""Keeping a dataset from the command line: get, delete, update, restore, tag, branch,
compact, cleanup, drop, ls, export and stats, locally and on a server (--url)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cli_runner import plain, run
from typer.testing import Result

import shoal
import shoal.store as st

MODEL = "hash:16"
UNDO = re.compile(r"undo with `(shoal restore \S+ (\d+))`")


def out(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return plain(result.stdout)


def undo_args(text: str) -> list[str]:
    """The arguments of the `shoal restore ...` a write printed."""
    match = UNDO.search(text)
    assert match is not None, text
    return match.group(1).split()[1:]


@pytest.fixture
def kb(tmp_path: Path) -> str:
    uri = str(tmp_path / "kb")
    shoal.open(uri, embedder=MODEL).add(
        ["a cat sat on a mat", "dogs bark at night", "stock markets fell sharply"],
        ids=["cat", "dog", "stocks"],
        metadatas=[
            {"topic": "pets", "source": "pets.md"},
            {"topic": "pets", "source": "pets.md"},
            {"topic": "markets", "source": "money.md"},
        ],
    )
    return uri


def test_delete_prints_the_version_and_the_restore_that_undoes_it(kb: str) -> None:
    before = shoal.open(kb).version
    text = out(run("delete", kb, "--id", "dog", "--id", "cat"))
    assert text == (
        f"deleted 2 row(s) in version {before + 1}; undo with `shoal restore {kb} {before}`\n"
    )
    assert len(shoal.open(kb)) == 1
    assert out(run(*undo_args(text))).startswith(f"restored {before} as version {before + 2}")
    assert {r.id for r in shoal.open(kb).get(["cat", "dog"])} == {"cat", "dog"}
    by_filter = json.loads(out(run("delete", kb, "--where", '{"topic": "pets"}', "--json")))
    assert by_filter == {
        "uri": kb,
        "deleted": 2,
        "version": before + 3,
        "previous_version": before + 2,
        "undo": f"shoal restore {kb} {before + 2}",
    }
    nothing = out(run("delete", kb, "--id", "nope"))
    assert nothing == f"deleted 0 rows; nothing changed (version {before + 3})\n"


def test_update_sets_metadata_and_says_what_changed(kb: str) -> None:
    text = out(run("update", kb, "--where", '{"topic": "pets"}', "--set", '{"lang": "en"}'))
    assert text.startswith("updated 2 row(s) in version ")
    rows = shoal.open(kb).select(["id", "lang"])
    assert {r["id"]: r["lang"] for r in rows} == {"cat": "en", "dog": "en", "stocks": None}
    retext = json.loads(out(run("update", kb, "--where", '{"id": "cat"}', "--set",
                                '{"text": "a kitten on a rug"}', "--json")))  # fmt: skip
    assert retext["updated"] == 1 and retext["undo"].startswith("shoal restore")
    assert shoal.open(kb).get(["cat"])[0].text == "a kitten on a rug"


def test_restore_brings_a_tag_back_as_a_new_version(kb: str) -> None:
    assert out(run("tag", kb, "v1")).startswith("tagged version ")
    shoal.open(kb).delete(ids=["cat"])
    restored = json.loads(out(run("restore", kb, "v1", "--json")))
    assert restored["restored"] == "v1" and restored["version"] == shoal.open(kb).version
    assert len(shoal.open(kb)) == 3
    assert restored["undo"] == f"shoal restore {kb} {restored['previous_version']}"


def test_tag_creates_lists_and_moves_tags(kb: str) -> None:
    first = shoal.open(kb).version
    assert out(run("tag", kb, "v1")) == f"tagged version {first} as v1\n"
    shoal.open(kb).add(["birds sing"])
    latest = shoal.open(kb).version
    assert out(run("tag", kb, "old", str(first))) == f"tagged version {first} as old\n"
    assert json.loads(out(run("tags", kb, "--json"))) == {"v1": first, "old": first}
    assert json.loads(out(run("tag", kb, "--json"))) == {"v1": first, "old": first}
    listed = out(run("tag", kb))
    assert re.search(rf"old\s+│\s+{first}", listed) and re.search(rf"v1\s+│\s+{first}", listed)
    moved = run("tag", kb, "v1", "--replace")
    assert out(moved) == f"tagged version {latest} as v1 (moved from version {first})\n"
    assert shoal.open(kb).tags()["v1"] == latest


def test_branch_creates_and_lists_branches(kb: str) -> None:
    version = shoal.open(kb).version
    created = out(run("branch", kb, "exp"))
    assert created == (
        f"created branch exp at version {version}; `shoal checkout {kb} exp` shows it\n"
    )
    assert out(run("branch", kb)) == "main\nexp\n"
    assert json.loads(out(run("branch", kb, "--json"))) == ["main", "exp"]
    assert "writable" in out(run("checkout", kb, "exp"))


def test_compact_merges_small_files_and_keeps_the_rows(kb: str) -> None:
    ds = shoal.open(kb)
    for number in range(6):
        ds.add([f"small write {number}"])
    rows = sorted(r["id"] for r in ds.select(["id"]))
    result = json.loads(out(run("compact", kb, "--json")))
    assert result["files_merged"] > 0 and result["version"] > result["previous_version"]
    assert sorted(r["id"] for r in shoal.open(kb).select(["id"])) == rows
    assert out(run("compact", kb)) == f"nothing to compact (version {result['version']})\n"


def test_cleanup_removes_old_versions_and_keeps_tagged_ones(kb: str) -> None:
    ds = shoal.open(kb)
    ds.tag("keep")
    tagged = ds.version
    for number in range(4):
        ds.add([f"later {number}"])
    versions = len(ds.log())
    recent = out(run("cleanup", kb))  # default: older than 7 days, none here
    assert (
        recent
        == f"removed 0 old version(s); {versions} left (tagged versions and the latest stay)\n"
    )
    kept = json.loads(out(run("cleanup", kb, "--keep-last", "2", "--json")))
    assert kept["removed_versions"] == versions - 3 and kept["versions"] == 3
    assert shoal.open(kb).log()[0].version == tagged
    everything = json.loads(out(run("cleanup", kb, "--older-than", "0", "--json")))
    assert everything["versions"] == 2  # the tagged one and the latest
    assert len(shoal.open(kb).checkout("keep")) == 3


def test_drop_asks_on_a_terminal_and_deletes_with_yes(
    kb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shoal.cli._datasets._stdin_is_terminal", lambda: True)
    declined = run("drop", kb, input="n\n")
    assert declined.exit_code == 1 and "nothing deleted" in plain(declined.stderr)
    assert "Delete " in declined.stdout and "3 rows" in declined.stdout
    assert len(shoal.open(kb)) == 3
    accepted = run("drop", kb, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert not Path(kb).exists()


def test_drop_off_a_terminal_needs_yes(kb: str) -> None:
    refused = run("drop", kb)
    assert refused.exit_code == 2 and Path(kb).exists()
    dropped = json.loads(out(run("drop", kb, "--yes", "--json")))
    assert dropped == {"uri": kb, "dropped": True, "rows": 3, "versions": 2}
    assert not Path(kb).exists()
    assert run("drop", kb, "--yes").exit_code == 2


def test_ls_lists_a_folders_datasets_and_a_damaged_one(kb: str, tmp_path: Path) -> None:
    other = str(tmp_path / "other")
    shoal.open(other, embedder="hash:8").add(["one"])
    damaged = tmp_path / "damaged"
    shoal.open(str(damaged), embedder="hash:8").add(["x"])
    for manifest in (damaged / "_versions").glob("*.manifest"):
        manifest.write_bytes(b"\0" * 64)
    listed = json.loads(out(run("ls", str(tmp_path), "--json")))
    assert [e["name"] for e in listed] == ["damaged", "kb", "other"]
    assert listed[1] == {"name": "kb", "uri": kb, "rows": 3, "version": 2, "embedder": MODEL}
    assert "error" in listed[0]
    table = out(run("ls", str(tmp_path)))
    assert re.search(r"kb\s+│\s+3\s+│\s+2\s+│\s+hash:16", table) and "error:" in table
    assert out(run("ls", str(tmp_path / "other"))).count("other") == 1


def test_export_writes_jsonl_csv_and_parquet(kb: str, tmp_path: Path) -> None:
    ds = shoal.open(kb)
    stored = {r.id: r for r in ds.get(["cat", "dog", "stocks"])}
    message = out(run("export", kb, "--out", str(tmp_path / "rows.jsonl")))
    assert message == (
        f"exported 3 row(s) of version 2 to {tmp_path / 'rows.jsonl'} (jsonl: id, text, metadata)\n"
    )
    lines = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert {row["id"]: (row["text"], row["metadata"]) for row in lines} == {
        i: (r.text, r.metadata) for i, r in stored.items()
    }
    assert all(set(row) == {"id", "text", "metadata"} for row in lines)

    assert run("export", kb, "--out", str(tmp_path / "rows.csv"), "--where",
               '{"topic": "pets"}').exit_code == 0  # fmt: skip
    with (tmp_path / "rows.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["id"] for r in rows) == ["cat", "dog"]
    assert json.loads(rows[0]["metadata"])["topic"] == "pets"

    done = json.loads(out(run("export", kb, "--out", str(tmp_path / "rows.parquet"),
                              "--vectors", "--json")))  # fmt: skip
    assert done["rows"] == 3 and done["format"] == "parquet" and "embedding" in done["columns"]
    table = pq.read_table(tmp_path / "rows.parquet").to_pylist()
    for row in table:
        assert row["embedding"] == pytest.approx(stored[row["id"]].embedding.tolist())
        assert json.loads(row["metadata"]) == stored[row["id"]].metadata


def test_export_reads_a_past_version(kb: str, tmp_path: Path) -> None:
    old = shoal.open(kb).version
    shoal.open(kb).add(["a new row"])
    out(run("export", kb, "--out", str(tmp_path / "old.jsonl"), "--ref", str(old)))
    assert len((tmp_path / "old.jsonl").read_text().splitlines()) == 3


def test_stats_prints_rows_history_size_index_and_keys(kb: str) -> None:
    shoal.open(kb).tag("v1")
    text = out(run("stats", kb))
    assert re.search(r"rows\s+3\b", text)
    assert re.search(r"versions\s+2 on disk, 1 tag\(s\), 0 other branch\(es\)", text)
    assert re.search(r"size on disk\s+[\d.]+ KB \([\d,]+ bytes\)", text)
    assert f"none saved; `shoal index {kb}` builds one" in text
    assert "metadata keys  source (3), topic (3)" in text
    out(run("index", kb))
    measured = json.loads(out(run("stats", kb, "--json")))
    assert measured["index_rows"] == 3 and measured["index_version"] == measured["version"]
    assert measured["metadata_keys"] == {"source": 3, "topic": 3}


def test_get_shows_rows_whole_and_lists_them_cut_to_the_limit(kb: str) -> None:
    ds = shoal.open(kb)
    ds.add([f"row number {i}" for i in range(30)], columns={
        "image": st.Binary([b"\x89PNG" + bytes(5000)] * 30, "image/png")})  # fmt: skip
    whole = out(run("get", kb, "cat", "stocks"))
    assert whole.splitlines()[:3] == ["cat", "a cat sat on a mat", '  metadata source: "pets.md"']
    listing = out(run("get", kb))
    assert listing.splitlines()[0] == "33 row(s)"
    assert len(listing.splitlines()) == 1 + 20 + 1
    assert listing.splitlines()[-1] == "... and 13 more; --limit 0 or --json for all"
    assert len(out(run("get", kb, "--limit", "0")).splitlines()) == 34
    every = json.loads(out(run("get", kb, "--json")))
    assert len(every) == 33
    images = [row["extras"]["image"] for row in every if row["extras"]["image"] is not None]
    assert images == [{"bytes": 5004}] * 30
    filtered = json.loads(
        out(run("get", kb, "--where", '{"topic": "pets"}', "--json", "--vectors"))
    )
    assert sorted(r["id"] for r in filtered) == ["cat", "dog"]
    assert len(filtered[0]["embedding"]) == 16
    partly = run("get", kb, "cat", "nope")
    assert partly.exit_code == 0 and "1 id(s) not found: nope" in plain(partly.stderr)


def test_diff_and_log_are_cut_to_the_limit(kb: str) -> None:
    shoal.open(kb).tag("v1")
    ds = shoal.open(kb)
    for number in range(25):
        ds.add([f"added {number}"])
    diff = out(run("diff", kb, "v1"))
    lines = diff.splitlines()
    assert lines[0] == "25 added" and len([ln for ln in lines if ln.startswith("  + ")]) == 20
    assert "  ... and 5 more; --limit 0 or --json for all" in lines
    assert len(json.loads(out(run("diff", kb, "v1", "--json")))["added"]) == 25
    everything = out(run("diff", kb, "v1", "--limit", "0"))
    assert len([ln for ln in everything.splitlines() if ln.startswith("  + ")]) == 25
    log = out(run("log", kb, "--limit", "5"))
    assert log.splitlines()[0] == "22 earlier version(s) not shown; --limit 0 or --json for all"
    assert len(json.loads(out(run("log", kb, "--json")))) == 27


def test_dedup_shows_the_first_groups_and_a_few_rows_of_each(tmp_path: Path) -> None:
    uri = str(tmp_path / "dups")
    centres = np.random.default_rng(0).normal(size=(26, 16)).astype(np.float32)
    sizes = [2] * 25 + [8]  # 25 pairs and one group of 8 copies
    vectors = np.concatenate(
        [np.repeat(centres[g : g + 1], n, axis=0) for g, n in enumerate(sizes)]
    )
    ids = [f"g{g}-{copy}" for g, n in enumerate(sizes) for copy in range(n)]
    texts = [f"text of group {g}" for g, n in enumerate(sizes) for _ in range(n)]
    shoal.open(uri, embedder=MODEL).add(texts, ids=ids, embeddings=vectors)
    shown = out(run("dedup", uri, "--limit", "3", "-t", "0.999"))
    assert shown.splitlines()[0] == "26 group(s) of near-duplicates, 32 extra row(s)"
    assert "... and 23 more group(s); --limit 0 or --json for all" in shown
    assert len(json.loads(out(run("dedup", uri, "-t", "0.999", "--json")))["groups"]) == 26
    every = out(run("dedup", uri, "--limit", "0", "-t", "0.999"))
    assert "... and 3 more" in every  # the group of 8: its first 5 rows
    assert "g25-5" not in every and "g25-4" in every


def test_search_fits_80_columns_and_shows_metadata_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    uri = str(tmp_path / "kb")
    long_text = "The cat sat on the mat and watched the birds outside the window " * 5
    shoal.open(uri, embedder=MODEL).add(
        [long_text, "Dogs bark at night."],
        metadatas=[
            {
                "source": "docs/a/very/long/path/to/the/notes/about/cats/and/mats.md",
                "source_hash": "ab" * 32,
            },
            {"source": "dogs.md", "source_hash": "cd" * 32},
        ],
    )
    text = out(run("search", uri, "cat on the mat", "-k", "2"))
    lines = text.splitlines()
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines)
    assert lines[0].startswith(" 1. score ") and lines[0].endswith("cats/and/mats.md")
    assert lines[1].startswith("    The cat sat on the mat") and lines[1].endswith("…")
    assert "source_hash" not in text and "abab" not in text
    shown = out(run("search", uri, "cat on the mat", "-k", "2", "--show-metadata"))
    assert len(shown.splitlines()) == 6 and "source_hash" in shown
    assert all(len(line) <= 80 for line in shown.splitlines())


def test_the_snippet_highlights_the_query_words() -> None:
    from shoal.cli._output import query_terms, snippet

    assert query_terms("When was the Cat born?") == ["born", "cat"]
    shown = snippet("x " * 60 + "A cat and two cats sat here", ["cat"], 30)
    assert shown.plain.startswith("…") and "A cat and two cats" in shown.plain
    assert len(shown.plain) == 30
    marked = [shown.plain[s.start : s.end] for s in shown.spans]
    assert marked == ["cat", "cats"]


def test_maintenance_commands_run_on_a_server_with_url(server_url: str, tmp_path: Path) -> None:
    base = ("--url", server_url)
    assert run(*base, "add", "maintained", "-m", "hash:8", "-d", "one", "-d", "two").exit_code == 0
    [row] = json.loads(out(run(*base, "get", "maintained", "--where", '{"text": "one"}',
                               "--json")))  # fmt: skip
    tagged = out(run(*base, "tag", "maintained", "v1"))
    assert tagged.startswith("tagged version ")
    assert "v1" in json.loads(out(run(*base, "tags", "maintained", "--json")))
    deleted = out(run(*base, "delete", "maintained", "--id", row["id"]))
    undo = re.search(r"undo with `(shoal --url \S+ restore maintained \d+)`", deleted)
    assert undo is not None, deleted
    assert out(run(*undo.group(1).split()[1:])).startswith("restored ")  # runs on the server
    assert json.loads(out(run(*base, "get", "maintained", row["id"], "--json")))[0]["text"] == "one"
    assert out(run(*base, "update", "maintained", "--where", "{}", "--set", '{"k": 1}')).startswith(
        "updated 2 row(s)"
    )
    assert "maintained" in out(run(*base, "ls")).split()
    exported = json.loads(out(run(*base, "export", "maintained", "--out", str(tmp_path / "r.jsonl"),
                                  "--json")))  # fmt: skip
    assert exported["rows"] == 2 and len((tmp_path / "r.jsonl").read_text().splitlines()) == 2
    assert json.loads(out(run(*base, "branch", "maintained", "--json"))) == ["main"]
    for command in (
        ("stats", "maintained"),
        ("compact", "maintained"),
        ("cleanup", "maintained"),
        ("drop", "maintained", "--yes"),
        ("index", "maintained"),
        ("ingest", ".", "--into", "maintained"),
    ):
        refused = run(*base, *command)
        assert refused.exit_code == 2, command
        assert f"`shoal {command[0]}` works on datasets on this machine" in plain(refused.stderr), (
            command
        )
    assert len(shoal.connect(server_url).open("maintained")) == 2  # nothing was dropped


def test_get_and_delete_take_the_short_ids_listings_show(tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    [long_id] = shoal.open(uri, embedder=MODEL).add(["a cat sat on a mat"])
    shoal.open(uri).add(["one", "two"], ids=["abcd-1", "abcd-2"])
    listed = out(run("get", uri))
    short = long_id[:12]
    assert f"{short}  a cat sat on a mat" in listed.splitlines()
    assert out(run("get", uri, short)).splitlines()[0] == long_id
    ambiguous = run("get", uri, "abcd")
    assert ambiguous.exit_code == 2
    assert "the short id 'abcd' starts more than one id (abcd-1, abcd-2, ...)" in plain(
        ambiguous.stderr
    )
    assert run("get", uri, "abc").exit_code == 2  # under 4 characters: an id as given
    assert out(run("delete", uri, "--id", short)).startswith("deleted 1 row(s)")
    assert len(shoal.open(uri)) == 2


def test_reembed_makes_every_vector_again_and_undo_brings_the_old_ones_back(kb: str) -> None:
    before = shoal.open(kb).version
    text = out(run("reembed", kb, "-m", "hash:24", "--no-cache"))
    assert text.startswith(
        f"re-embedded 3 row(s) with hash:24 (was {MODEL}, 16-d -> 24-d) in version {before + 1}"
    )
    ds = st.open(kb)
    assert (ds.spec.name, ds.spec.dimensions, len(ds)) == ("hash:24", 24, 3)
    hit = out(run("search", kb, "dogs bark at night", "-k", "1"))
    assert "dogs bark at night" in hit
    again = out(run("reembed", kb, "-m", "hash:24"))
    assert "made by hash:24 already; nothing to do" in again
    report = json.loads(out(run("reembed", kb, "-m", "hash:24", "--force", "--json")))
    assert report["version"] == before + 2 and report["rows"] == 3 and report["dimensions"] == 24
    assert report["undo"] == f"shoal restore {kb} {before + 1}"
    out(run(*undo_args(text)))  # the version before the first reembed, as a new one
    assert st.open(kb).spec.name == MODEL and st.open(kb).spec.dimensions == 16


def test_reembed_refuses_what_it_cannot_do(kb: str, tmp_path: Path) -> None:
    missing = run("reembed", str(tmp_path / "nothing"), "-m", "hash:24")
    assert missing.exit_code != 0 and "no dataset at" in plain(missing.output)
    image_only = run("reembed", kb, "-m", "phash:v1")
    assert image_only.exit_code != 0 and "embeds only images" in plain(image_only.output)
    stray = run("reembed", kb, "-m", "hash:24", "--workers", "2")
    assert stray.exit_code != 0 and "--workers takes effect with --ray" in plain(stray.output)
    assert st.open(kb).spec.name == MODEL
