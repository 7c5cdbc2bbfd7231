"""The analysis commands (`shoal dedup/recommend/outliers/cluster/classify`), in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import plain, run

import shoal

DIM = 16


@pytest.fixture
def kb(tmp_path: Path) -> str:
    """A folder dataset: 3 topics x 10 rows, rows 0-1 and 2-3 duplicated, one stray row."""
    rng = np.random.default_rng(0)
    centres = np.random.default_rng(1).normal(size=(3, DIM))
    vectors = centres[np.arange(30) % 3] + 0.1 * rng.normal(size=(30, DIM))
    vectors = np.concatenate([vectors, 5 * rng.normal(size=(1, DIM))]).astype(np.float32)
    texts = [f"{('cat mouse', 'stock bond', 'violin piano')[i % 3]} note {i}" for i in range(30)]
    texts[1] = texts[0].upper()  # an exact duplicate once case is ignored
    texts.append("stray")
    metadatas = [{"topic": ("pets", "money", "music")[i % 3]} for i in range(30)] + [{}]
    uri = str(tmp_path / "kb")
    shoal.open(uri, embedder=f"hash:{DIM}").add(
        texts, ids=[f"r{i}" for i in range(31)], embeddings=vectors, metadatas=metadatas
    )
    return uri


def test_dedup_reports_then_applies_in_a_version_that_checkout_reads_back(kb: str) -> None:
    report = run("dedup", kb, "--threshold", "0.9999", "--json")
    assert report.exit_code == 0, report.output
    payload = json.loads(report.stdout)
    assert payload["groups"] == [{"keep": "r0", "drop": ["r1"]}] and payload["version"] is None
    table = run("dedup", kb, "-t", "0.9999")
    assert "keep" in plain(table.stdout) and "CAT MOUSE NOTE 0" in plain(table.stdout)
    assert "run again with --apply" in plain(table.stdout)
    applied = run("dedup", kb, "-t", "0.9999", "--apply")
    assert applied.exit_code == 0, applied.output
    before = payload["previous_version"]
    assert f"undo with `shoal restore {kb} {before}`" in plain(applied.stdout)
    ds = shoal.open(kb)
    assert len(ds) == 30 and not ds.get(["r1"])
    assert len(ds.checkout(before)) == 31
    undone = run("restore", kb, str(before))  # the command it printed brings the row back
    assert undone.exit_code == 0, undone.output
    assert len(shoal.open(kb)) == 31 and shoal.open(kb).get(["r1"])


def test_recommend_prints_hits_and_excludes_the_given_rows(kb: str) -> None:
    result = run("recommend", kb, "--like", "r0", "--like", "r3", "--unlike", "r1", "-k", "4",
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 4 and all(int(h["id"][1:]) % 3 == 0 for h in hits)
    assert not {"r0", "r3", "r1"} & {h["id"] for h in hits}
    table = run("recommend", kb, "--like", "r2", "-k", "2", "--where", '{"topic": "music"}')
    assert table.exit_code == 0 and "violin piano" in plain(table.stdout)


def test_outliers_finds_the_stray_row(kb: str) -> None:
    result = run("outliers", kb, "-k", "3", "--contamination", "0.03", "--method", "lof", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["outliers"][0]["id"] == "r30" and payload["method"] == "lof"
    assert len(payload["outliers"]) == 1 and payload["rows"] == 31
    table = run("outliers", kb, "-k", "3", "-c", "0.03")
    assert "stray" in plain(table.stdout) and "1 outlier(s) of 31 rows (knn)" in plain(table.stdout)


def test_cluster_writes_labels_and_prints_terms(kb: str) -> None:
    result = run("cluster", kb, "--n-clusters", "3", "--where", '{"topic": {"$exists": true}}',
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert sorted(c["size"] for c in payload["clusters"]) == [10, 10, 10]
    terms = {frozenset(c["terms"][:2]) for c in payload["clusters"]}
    assert terms == {frozenset({"cat", "mouse"}), frozenset({"stock", "bond"}),
                     frozenset({"violin", "piano"})}  # fmt: skip
    rows = shoal.open(kb).select(["topic", "cluster"])
    assert {r["cluster"] for r in rows if r["topic"] is None} == {None}  # outside --where
    pairs = {(r["topic"], r["cluster"]) for r in rows if r["topic"] is not None}
    assert len(pairs) == 3 and len({c for _, c in pairs}) == 3  # one label per topic
    assert shoal.open(kb).version == payload["version"]
    table = run("cluster", kb, "-n", "2")
    assert "cluster(s), labels in metadata 'cluster'" in plain(table.stdout)


def test_classify_labels_texts_with_probabilities(tmp_path: Path) -> None:
    uri = str(tmp_path / "labelled")
    shoal.open(uri, embedder="hash:64").add(
        ["red apple", "green apple", "blue whale", "grey whale"],
        metadatas=[{"kind": "fruit"}] * 2 + [{"kind": "animal"}] * 2,
    )
    result = run("classify", uri, "red apple", "grey whale", "--label-field", "kind", "-k", "1",
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["text"], r["label"]) for r in rows] == [("red apple", "fruit"),
                                                       ("grey whale", "animal")]  # fmt: skip
    assert rows[0]["probabilities"] == {"fruit": 1.0}
    table = run("classify", uri, "blue whale", "-l", "kind", "-k", "3")
    assert "│ animal │" in plain(table.stdout) and "fruit 0." in plain(table.stdout)


def test_errors_become_messages_and_exit_codes(kb: str, tmp_path: Path) -> None:
    unknown = run("recommend", kb, "--like", "nope")
    assert unknown.exit_code == 2 and "not in" in plain(unknown.output)
    assert run("outliers", kb, "--method", "iforest").exit_code == 2
    assert run("cluster", kb, "--method", "dbscan").exit_code == 2
    unlabelled = run("classify", kb, "text", "--label-field", "colour")
    assert unlabelled.exit_code == 2 and "no rows" in plain(unlabelled.output)
    assert run("dedup", kb, "--threshold", "7").exit_code == 2
    assert run("dedup", str(tmp_path / "missing")).exit_code == 2
