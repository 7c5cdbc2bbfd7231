"""The extractive answerer: quotes the sentence that answers, with its citation, or says it doesn't know."""

from __future__ import annotations

import pytest

from shoal.embeddings.local import LocalEmbedder
from shoal.errors import ConfigurationError
from shoal.qa import DONT_KNOW, ExtractiveLLM, QAPrompt, Source, llm
from shoal.qa.extractive import sentences

BIRTHS = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York, United States of America.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina.",
    "Cristiano Ronaldo dos Santos Aveiro was born 5 February 1985 in Funchal, Madeira, Portugal.",
    "Kylian Mbappé Lottin was born 20 December 1998 in Paris, France.",
]


def ask(model: ExtractiveLLM, question: str, texts: list[str]) -> str:
    sources = [Source(i + 1, f"id{i}", text) for i, text in enumerate(texts)]
    return model.generate(QAPrompt().chat(question, sources))


@pytest.fixture(scope="module")
def extractive(minilm: LocalEmbedder) -> ExtractiveLLM:
    return ExtractiveLLM(embedder=minilm)


@pytest.mark.slow
def test_the_seed_question_gets_the_date_clause_with_its_citation(
    extractive: ExtractiveLLM,
) -> None:
    answer = ask(extractive, "When was Michael Jordan born?", BIRTHS)
    assert answer == "Michael Jeffrey Jordan was born in 17 February 1963 [1]"
    reordered = [BIRTHS[2], BIRTHS[0], BIRTHS[1]]
    assert ask(extractive, "When was Michael Jordan born?", reordered).endswith("1963 [2]")


@pytest.mark.slow
def test_other_questions_get_the_whole_sentence(extractive: ExtractiveLLM) -> None:
    answer = ask(extractive, "Where was Lionel Messi born?", BIRTHS)
    assert answer == BIRTHS[1].rstrip(".") + " [2]"
    assert "1998" in ask(extractive, "In what year was Mbappé born?", BIRTHS)


@pytest.mark.slow
def test_it_says_it_does_not_know_when_the_sources_lack_the_answer(
    extractive: ExtractiveLLM,
) -> None:
    assert ask(extractive, "Who wrote Hamlet?", BIRTHS) == DONT_KNOW
    assert ask(extractive, "When was Serena Williams born?", BIRTHS) == DONT_KNOW
    refusal = QAPrompt(dont_know="No idea.")
    sources = [Source(1, "a", BIRTHS[0])]
    assert extractive.generate(refusal.chat("Who painted Guernica?", sources)) == "No idea."


@pytest.mark.slow
def test_the_answer_sentence_is_found_inside_a_longer_source(extractive: ExtractiveLLM) -> None:
    paragraph = (
        "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the "
        "company of Gustave Eiffel. Construction began in January 1887 and finished in "
        "March 1889, in time for the World's Fair. It is 330 metres tall."
    )
    answer = ask(extractive, "When did construction of the Eiffel Tower begin?", [paragraph])
    assert answer == "Construction began in January 1887 and finished in March 1889 [1]"
    assert ask(extractive, "How tall is the Eiffel Tower?", [paragraph]).startswith("It is 330")


def test_sentences_split_on_end_punctuation_and_blank_lines() -> None:
    text = "First one. Second one! Third? fourth stays with third.\n\nA new paragraph 2. 3 more."
    assert sentences(text) == [
        "First one.",
        "Second one!",
        "Third? fourth stays with third.",
        "A new paragraph 2.",
        "3 more.",
    ]
    assert sentences("你好。我很好。") == ["你好。", "我很好。"]


def test_it_is_the_default_llm_and_takes_no_model_name() -> None:
    assert isinstance(llm(), ExtractiveLLM) and llm().name == "extractive"
    with pytest.raises(ConfigurationError, match="no model name"):
        llm("extractive:big")
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        ExtractiveLLM(min_score=2)
