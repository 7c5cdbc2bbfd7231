"""`local:` answers from the real Gemma 3 270M GGUF run by llama.cpp, and the few-shot prompt."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shoal.errors import InvalidInput, MissingDependency, ModelNotFound
from shoal.qa._fewshot import COMPLETION_STOP, completion_prompt
from shoal.qa._llm import Message, llm
from shoal.qa._prompt import DONT_KNOW, Source
from shoal.qa.local import LocalLLM, local_gguf

BIRTHS = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York, United "
    "States of America.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina.",
    "Cristiano Ronaldo dos Santos Aveiro was born 5 February 1985 in Funchal, Madeira, Portugal.",
    "Kylian Mbappé Lottin was born 20 December 1998 in Paris, France.",
]


def sources(order: list[int]) -> list[Source]:
    """The birth texts numbered in retrieval order: `order` lists BIRTHS indexes, best first."""
    return [Source(n, f"doc-{i}", BIRTHS[i]) for n, i in enumerate(order, 1)]


def test_an_unknown_name_says_what_local_accepts() -> None:
    with pytest.raises(ModelNotFound, match=r"path to a \.gguf file, or one of: gemma3-270m"):
        local_gguf("llama-70b")


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelNotFound, match="not a GGUF file"):
        local_gguf(str(fake))


def test_without_llama_cpp_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[llm\]'"):
        LocalLLM("gemma3-270m")


def test_the_few_shot_prompt_ends_where_the_answer_goes() -> None:
    prompt = completion_prompt("When was Michael Jordan born?", sources([0, 1]))
    last = prompt.rsplit("\n\n", 1)[1]
    assert last.splitlines() == [
        "Sources:",
        f"{BIRTHS[1]} [2]",
        f"{BIRTHS[0]} [1]",  # the best-ranked source next to the question
        "Question: When was Michael Jordan born?",
        "Answer:",
    ]
    assert prompt.count(f"Answer: {DONT_KNOW}") >= 1  # it shows how to refuse


def test_a_source_of_several_lines_is_split_into_cited_sentences() -> None:
    text = "Ada wrote code.\nShe was born in 1815. Her father was Byron."
    last = completion_prompt("Who?", [Source(3, "x", text)]).rsplit("\n\n", 1)[1]
    assert last.splitlines()[1:4] == [
        "Ada wrote code. [3]",
        "She was born in 1815. [3]",
        "Her father was Byron. [3]",
    ]


@pytest.mark.slow
def test_gemma_is_a_completion_model_joined_once_into_the_cache(gemma: LocalLLM) -> None:
    assert gemma.kind == "completion"  # a base model: no chat template
    assert gemma.name == "local:gemma3-270m" and gemma.context_window == 2048
    assert gemma.path.name == "gemma-3-270m-q4_k_m.gguf" and gemma.path.stat().st_size > 200e6
    assert local_gguf("gemma3-270m") == gemma.path  # joined once, then reused
    assert local_gguf(str(gemma.path)) == gemma.path  # any GGUF path works too


@pytest.mark.slow
def test_the_registry_builds_it(gemma: LocalLLM) -> None:
    model = llm("local:gemma3-270m", n_ctx=512)
    assert isinstance(model, LocalLLM) and model.context_window == 512
    model.close()


@pytest.mark.slow
def test_it_streams_tokens_and_greedy_answers_repeat(gemma: LocalLLM) -> None:
    prompt = [Message("user", "The capital of France is")]
    pieces = list(gemma.stream(prompt, max_tokens=12))
    assert len(pieces) > 3 and "France" in "".join(pieces)
    assert gemma.generate(prompt, max_tokens=12) == "".join(pieces)


@pytest.mark.slow
def test_it_stops_at_a_stop_string(gemma: LocalLLM) -> None:
    prompt = [Message("user", "The capital of France is")]
    free = gemma.generate(prompt, max_tokens=12)
    word = free.split()[3]  # stop in the middle of what it says unstopped
    stopped = gemma.generate(prompt, max_tokens=12, stop=[word, "never said"])
    assert stopped == free[: free.index(word)] and len(stopped) < len(free)


@pytest.mark.slow
def test_tokens_are_counted_by_the_models_tokenizer(gemma: LocalLLM) -> None:
    assert gemma.count_tokens("Hello world") == 2
    assert gemma.count_tokens(" ".join(["Hello world"] * 100)) == 200


@pytest.mark.slow
def test_a_prompt_longer_than_the_window_is_refused(gemma: LocalLLM) -> None:
    with pytest.raises(InvalidInput, match="n_ctx=2048"):
        gemma.generate([Message("user", "Hello world " * 1100)])


@pytest.mark.slow
def test_the_few_shot_prompt_answers_when_michael_jordan_was_born(gemma: LocalLLM) -> None:
    prompt = completion_prompt("When was Michael Jordan born?", sources([0, 2, 1, 3]))
    answer = gemma.generate(
        [Message("user", prompt)], max_tokens=48, temperature=0.0, stop=COMPLETION_STOP
    )
    assert "17 February 1963" in answer and answer.rstrip().endswith("[1]")


@pytest.mark.slow
def test_the_few_shot_prompt_answers_other_questions_from_the_right_source(
    gemma: LocalLLM,
) -> None:
    asked = {
        "Who was born in Funchal?": ("Ronaldo", sources([2, 1, 0, 3])),
        "When was Kylian Mbappé born?": ("1998", sources([3, 1, 0, 2])),
    }
    for question, (expected, given) in asked.items():
        prompt = completion_prompt(question, given)
        answer = gemma.generate([Message("user", prompt)], max_tokens=48, stop=COMPLETION_STOP)
        assert expected in answer and answer.rstrip().endswith("[1]"), (question, answer)


@pytest.mark.slow
def test_the_few_shot_prompt_says_it_does_not_know_when_no_source_does(gemma: LocalLLM) -> None:
    prompt = completion_prompt("When was Albert Einstein born?", sources([0, 1, 2, 3]))
    answer = gemma.generate([Message("user", prompt)], max_tokens=48, stop=COMPLETION_STOP)
    assert answer.strip() == DONT_KNOW
