"""`shoal search --rerank` and `shoal ask --rerank`, with a reranker registered in-process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cli_runner import plain, run

import shoal
from shoal.store import _rerank


class WordReranker(shoal.Reranker):
    """Scores a text by how many times it says `word`."""

    def __init__(self, word: str) -> None:
        self.word = word

    @property
    def name(self) -> str:
        return f"words:{self.word}"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return [float(text.split().count(self.word)) for text in texts]


@pytest.fixture
def kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_rerank._RERANKERS, "_registered", {})
    shoal.register_reranker("words", WordReranker)
    uri = str(tmp_path / "kb")
    ds = shoal.open(uri, embedder="hash:64")
    ds.add(
        [
            "Michael Jordan was born in 1963.",
            "Jordan played for the Chicago Bulls.",
            "Michael Jordan was born in Brooklyn.",
            "the cat sat on the mat",
        ]
    )
    return uri


def test_search_rerank_orders_by_the_rerankers_score(kb: str) -> None:
    as_json = json.loads(
        run(
            "search", kb, "Michael Jordan born", "-k", "2", "--rerank", "words:Bulls.", "--json"
        ).stdout
    )
    assert as_json[0]["text"] == "Jordan played for the Chicago Bulls."
    assert [row["score"] for row in as_json] == [1.0, 0.0]
    table = run("search", kb, "Michael Jordan born", "-k", "1", "--rerank", "words:Bulls.")
    assert table.exit_code == 0, table.output
    assert "reranked 1.0000" in plain(table.stdout)


def test_ask_rerank_changes_the_sources_order(kb: str) -> None:
    result = run(
        "ask", kb, "When was Michael Jordan born?", "--rerank", "words:Brooklyn.", "--json"
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["sources"][0]["text"] == "Michael Jordan was born in Brooklyn."
    assert answer["sources"][0]["score"] == 1.0


def test_an_unknown_reranker_is_a_clear_error(kb: str) -> None:
    result = run("search", kb, "Jordan", "--rerank", "nope:x")
    assert result.exit_code != 0
    assert "no reranker provider named 'nope'" in plain(result.output)
