"""A question in one language over sources in another: the extractive answer, in the sources' words."""

from __future__ import annotations

import pytest

import shoal
from shoal.cli._demo import BIRTHS  # the seed's four birth pages
from shoal.embeddings.local import LocalEmbedder
from shoal.qa import DONT_KNOW, ExtractiveLLM, RetrievalQA
from shoal.qa._spans import asked_in, question_type
from shoal.qa.extractive import crosses_languages, question_language


@pytest.mark.parametrize(
    ("question", "language", "kind"),
    [
        ("Wann wurde Michael Jordan geboren?", "german", "date"),
        ("In welchem Jahr wurde er geboren?", "german", "date"),
        ("¿Cuántos goles marcó?", "spanish", "number"),
        ("Où est né Kylian Mbappé ?", "french", "place"),
        ("Chi ha dipinto la Gioconda?", "italian", "person"),
        ("Когда родился Криштиану Роналду?", "russian", "date"),
        ("梅西是什么时候出生的？", "chinese", "date"),
        ("メッシはどこで生まれましたか？", "japanese", "place"),
        ("리오넬 메시는 언제 태어났습니까?", "korean", "date"),
        ("Quel est le métier de Messi ?", "french", "thing"),
    ],
)
def test_other_languages_question_words_give_the_answer_type(
    question: str, language: str, kind: str
) -> None:
    assert asked_in(question) == (language, kind)
    assert question_type(question).kind == kind


@pytest.mark.parametrize(
    "question", ["When was he born?", "In which year was it built?", "Who is Messi?"]
)
def test_english_questions_stay_english(question: str) -> None:
    assert asked_in(question) is None or question_language(question) == "english"
    assert question_language(question) == "english"


def test_a_misdetected_language_with_shared_words_is_not_crossing() -> None:
    # A German question over German sources that detection might call English: the
    # question's words are in the sources, so it is answered as one language.
    sources = {1: "Das Rathaus wurde 1890 gebaut.", 2: "Der Bahnhof ist neu."}
    assert not crosses_languages("Wann wurde das Rathaus gebaut?", sources)
    assert crosses_languages("Wann wurde das Rathaus gebaut?", {1: BIRTHS[0]})


@pytest.fixture(scope="module")
def births() -> shoal.Dataset:
    dataset = shoal.open("memory://births", embedder="local:multilingual-e5-small")
    dataset.add(BIRTHS)
    return dataset


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Wann wurde Michael Jordan geboren?", "17 February 1963"),
        ("¿Cuándo nació Lionel Messi?", "24 June 1987"),
        ("Où est né Kylian Mbappé ?", "Paris"),
        ("Wo wurde Cristiano Ronaldo geboren?", "Funchal"),
        ("Quando è nato Cristiano Ronaldo?", "5 February 1985"),
        ("梅西是什么时候出生的？", "24 June 1987"),
        ("Когда родился Криштиану Роналду?", "5 February 1985"),
        ("Где родился Килиан Мбаппе?", "Paris"),
        ("メッシはいつ生まれましたか？", "24 June 1987"),
        ("리오넬 메시는 언제 태어났습니까?", "24 June 1987"),
        # Unanswerable: a name the sources lack (in their script, or in another one).
        ("Wann wurde Franz Beckenbauer geboren?", None),
        ("Où est né Zinédine Zidane ?", None),
        ("¿Cuántos goles marcó Pelé?", None),
        ("Когда родился Пеле?", None),
        ("姚明是什么时候出生的？", None),
        ("ペレはいつ生まれましたか？", None),
        ("Qui a peint la Joconde ?", None),
    ],
)
def test_a_question_in_another_language_is_answered_in_the_sources_words(
    births: shoal.Dataset, k: int, question: str, expected: str | None
) -> None:
    # The default answerer takes the dataset's local embedder: multilingual-e5 here.
    answer = RetrievalQA(births.as_retriever(k=k)).ask(question)
    if expected is None:
        assert answer.text == DONT_KNOW and not answer.known
    else:
        cited = answer.sources[int(answer.text.rsplit("[", 1)[1].rstrip("]")) - 1]
        assert answer.text.startswith(expected) and expected in cited.text
        assert expected in answer.context


@pytest.mark.slow
def test_what_asked_in_another_language_quotes_the_sentence(births: shoal.Dataset) -> None:
    answer = RetrievalQA(births.as_retriever(k=2)).ask("Quel est le métier de Messi ?")
    assert answer.text.startswith("Lionel Andrés Messi was born") and answer.text.endswith("[1]")


@pytest.mark.slow
def test_a_chosen_embedder_is_kept_and_english_minilm_cannot_cross(
    births: shoal.Dataset,
) -> None:
    minilm = LocalEmbedder("all-MiniLM-L6-v2")
    chosen = ExtractiveLLM(embedder=minilm)
    assert chosen.with_embedder(births.embedder) is chosen
    qa = RetrievalQA(births.as_retriever(k=2), chosen)
    assert qa.llm is chosen
    # MiniLM knows English only: a Chinese question's meaning does not reach the
    # sources, and the honest answer is "I don't know" rather than a guess.
    assert qa.ask("梅西是什么时候出生的？").text == DONT_KNOW
