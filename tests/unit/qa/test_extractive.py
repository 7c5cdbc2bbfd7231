"""The extractive answerer: quotes the sentence that answers, with its citation, or says it doesn't know."""

from __future__ import annotations

import pytest

from shoal.embeddings.local import LocalEmbedder
from shoal.errors import ConfigurationError
from shoal.qa import DONT_KNOW, ExtractiveLLM, QAPrompt, Source, llm
from shoal.qa._spans import answer_span, question_type
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
    assert answer == "17 February 1963 [1]"
    reordered = [BIRTHS[2], BIRTHS[0], BIRTHS[1]]
    assert ask(extractive, "When was Michael Jordan born?", reordered) == "17 February 1963 [2]"
    whole = ExtractiveLLM(embedder=extractive.embedder, spans=False)
    assert ask(whole, "When was Michael Jordan born?", BIRTHS) == (
        "Michael Jeffrey Jordan was born in 17 February 1963 [1]"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "span"),
    [
        ("When was Michael Jordan born?", "17 February 1963 [1]"),
        ("In what year was Mbappé born?", "20 December 1998 [4]"),
        ("Where was Kylian Mbappé born?", "Paris [4]"),
        ("Who was born in Funchal?", "Cristiano Ronaldo dos Santos Aveiro [3]"),
    ],
)
def test_answers_are_the_span_the_question_asks_for(
    extractive: ExtractiveLLM, question: str, span: str
) -> None:
    assert ask(extractive, question, BIRTHS) == span


@pytest.mark.slow
def test_a_question_without_a_typed_answer_gets_the_words_the_question_does_not_say(
    extractive: ExtractiveLLM,
) -> None:
    texts = ["The tower was designed by the engineering firm of Gustave Eiffel for the fair."]
    answer = ask(extractive, "What was the tower designed for?", texts)
    assert answer.endswith("[1]") and "fair" in answer and "tower" not in answer


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
    assert answer == "January 1887 [1]"
    assert ask(extractive, "When was construction finished?", [paragraph]) == "March 1889 [1]"
    assert ask(extractive, "How tall is the Eiffel Tower?", [paragraph]) == "330 metres [1]"


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


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did it open?", "date"),
        ("In what year did the war end?", "date"),
        ("How many people live there?", "number"),
        ("What percentage of voters agreed?", "number"),
        ("Who designed the tower?", "person"),
        ("Where is the tower?", "place"),
        ("Which city hosted the fair?", "place"),
        ("What was the tower built for?", "thing"),
    ],
)
def test_question_types(question: str, kind: str) -> None:
    assert question_type(question).kind == kind


@pytest.mark.parametrize(
    ("question", "sentence", "span"),
    [
        (
            "How many people visited?",
            "In 2019, about 6.2 million people visited the tower.",
            "6.2 million",  # the question says "people" already
        ),
        (
            "How much time remained?",
            "The Broncos intercepted the pass with 17 seconds left.",
            "17 seconds",  # a unit the question does not say stays
        ),
        ("How many defenders were selected?", "Four Pro Bowl defenders were selected.", "Four"),
        ("What was the final score?", "The Broncos won the game 24–10 at home.", "24–10"),
        ("When was it finished?", "It was finished in March 1889, after two years.", "March 1889"),
        (
            "Who designed the tower?",
            "The tower was designed by Gustave Eiffel's company.",
            "Gustave Eiffel's",
        ),
    ],
)
def test_spans_are_verbatim_parts_of_the_sentence(question: str, sentence: str, span: str) -> None:
    found = answer_span(question, sentence)
    assert found == span and found in sentence


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "sources", "expected"),
    [
        # Chinese: words inside longer runs of characters (the question's 首都 in 中国的首都).
        ("中国的首都是哪里？", ["北京是中国的首都。", "东京是日本的首都。"], "北京"),
        ("月球上有多少个陨石坑？", ["北京是中国的首都。", "东京是日本的首都。"], None),
        # German: its own function words do not count as the question's key words.
        (
            "Wann wurde das Rathaus gebaut?",
            ["Das Rathaus wurde 1890 gebaut.", "Der Bahnhof ist neu."],
            "1890",
        ),
        (
            "Wann wurde die Brücke gebaut?",
            ["Das Rathaus wurde 1890 gebaut.", "Der Bahnhof ist neu."],
            None,
        ),
    ],
)
def test_answers_and_i_dont_know_in_other_languages(
    extractive: ExtractiveLLM, question: str, sources: list[str], expected: str | None
) -> None:
    answer = ask(extractive, question, sources)
    if expected is None:
        assert answer == DONT_KNOW
    else:
        assert expected in answer and answer.endswith("[1]")
