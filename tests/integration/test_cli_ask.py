"""`shoal ask` and `shoal demo`: answers with sources, from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_runner import plain, run

from fakes.llms import ScriptedLLM
from shoal.qa import _llm, register_llm
from shoal.qa._prompt import parse_chat_prompt

BIRTHS = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York, United States of America.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina.",
    "Cristiano Ronaldo dos Santos Aveiro was born 5 February 1985 in Funchal, Madeira, Portugal.",
    "Kylian Mbappé Lottin was born 20 December 1998 in Paris, France.",
]


@pytest.fixture(scope="module")
def births(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("ask") / "births")
    for number, text in enumerate(BIRTHS):
        result = run("add", uri, "--doc", text, "--metadata", json.dumps({"n": number}))
        assert result.exit_code == 0, result.output
    return uri


@pytest.mark.slow
def test_ask_prints_the_answer_then_its_sources(births: str) -> None:
    result = run("ask", births, "When was Michael Jordan born?")
    assert result.exit_code == 0, result.output
    lines = plain(result.stdout).splitlines()
    assert lines[0].startswith("17 February 1963 [")  # the span that answers
    number = lines[0].rsplit("[", 1)[1].rstrip("]")
    assert lines[1].startswith("from: Michael Jeffrey Jordan was born in 17 February 1963")
    assert lines[2] == "Sources:"
    assert lines[3].startswith(f"[{number}] ") and "Michael Jeffrey Jordan" in lines[3]


@pytest.mark.slow
def test_ask_json_has_the_answer_and_cited_sources(births: str) -> None:
    result = run("ask", births, "Where was Messi born?", "--json", "-k", "2", "--mode", "vector")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["known"] and "Rosario" in answer["answer"] and answer["llm"] == "extractive"
    assert "Messi was born" in answer["context"]
    cited = [s for s in answer["sources"] if s["cited"]]
    assert len(answer["sources"]) == 2 and len(cited) == 1
    assert cited[0]["metadata"] == {"n": 1} and "Messi" in cited[0]["text"]


@pytest.mark.slow
def test_ask_says_it_does_not_know_when_the_filter_removes_the_answer(births: str) -> None:
    result = run("ask", births, "When was Michael Jordan born?", "--where", '{"n": {"$ne": 0}}')
    assert result.exit_code == 0, result.output
    assert plain(result.stdout).splitlines()[0] == "I don't know."


@pytest.mark.slow
def test_ask_focus_sets_how_many_sentences_the_model_reads(
    births: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_llm._ANSWERERS, "_registered", {})  # the registration ends with the test
    made: list[ScriptedLLM] = []

    def small(model: str) -> ScriptedLLM:
        made.append(ScriptedLLM("24 June 1987", small=True))
        return made[-1]

    register_llm("tiny", small)
    read = {}
    for focus in ("1", "0", None):
        extra = [] if focus is None else ["--focus", focus]
        result = run("ask", births, "When was Messi born?", "--llm", "tiny:x", "--json", *extra)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["answer"].startswith("24 June 1987 [")
        read[focus] = parse_chat_prompt(made[-1].calls[0][0])[1]
    assert len(read["1"]) == 1 and "Messi" in next(iter(read["1"].values()))
    assert len(read["0"]) == 4  # whole chunks: every source
    assert read[None] == read["1"]  # small models read the best sentence by default
    assert run("ask", births, "Why?", "--focus", "-1").exit_code == 2


def test_ask_errors_are_clear(tmp_path: Path) -> None:
    missing = run("ask", str(tmp_path / "nothing"), "Why?")
    assert missing.exit_code == 2 and "no dataset" in plain(missing.output)
    bad_llm = run("ask", str(tmp_path / "nothing"), "Why?", "--llm", "gpt:4")
    assert bad_llm.exit_code == 2


@pytest.mark.slow
def test_demo_runs_the_seed_walkthrough_offline(tmp_path: Path) -> None:
    result = run("demo", "--into", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    for step in (
        "1. Which sentences",
        "2. Embedding documents",
        "3. Greetings",
        "4. Four texts",
        "5. When was",
    ):
        assert step in text
    assert "Hallo von Cohere!" in text and "tensor" in text and "htype" in text
    assert "17 February 1963 [" in text
    assert "Sources:" in text


@pytest.mark.slow
def test_demo_with_the_local_instruct_model_answers_itself(tmp_path: Path) -> None:
    """The seed's question, over its four texts, answered by the packaged Qwen model."""
    result = run("demo", "--llm", "local:qwen2.5-coder-0.5b-instruct", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)["answer"]
    assert answer["llm"] == "local:qwen2.5-coder-0.5b-instruct"
    assert not answer["fallback"] and answer["known"], answer
    assert "1963" in answer["answer"] and re.search(r"\[\d\]", answer["answer"])
