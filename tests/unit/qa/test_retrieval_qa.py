"""RetrievalQA with fake retrievers and fake models: prompts, streaming, packing, the guard."""

from __future__ import annotations

import pytest

from fakes.llms import ScriptedLLM
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import ConfigurationError, InvalidInput
from shoal.qa import DONT_KNOW, ExtractiveLLM, QAPrompt, RetrievalQA, supported
from shoal.qa._prompt import SMALL_MODEL_PROMPT, Source, parse_chat_prompt
from shoal.qa.extractive import sentences
from shoal.store import Hit

BIRTHS = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York, United States of America.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina.",
    "Cristiano Ronaldo dos Santos Aveiro was born 5 February 1985 in Funchal, Madeira, Portugal.",
]


class ListRetriever:
    """Returns fixed hits, best first."""

    def __init__(self, texts: list[str]) -> None:
        self.hits = [
            Hit(id=f"row{i}", text=t, metadata={"source": f"/docs/{i}.txt"}, score=1 - i / 10)
            for i, t in enumerate(texts)
        ]
        self.asked: list[str] = []

    def retrieve(self, query: str) -> list[Hit]:
        self.asked.append(query)
        return list(self.hits)


def test_a_chat_model_gets_numbered_sources_and_its_answer_is_cited() -> None:
    model = ScriptedLLM("Jordan was born on 17 February 1963 [1].")
    qa = RetrievalQA(ListRetriever(BIRTHS), model)
    answer = qa.ask("When was Michael Jordan born?")
    messages, options = model.calls[0]
    question, sources, refusal = parse_chat_prompt(messages)
    assert question == "When was Michael Jordan born?" and refusal == DONT_KNOW
    assert sources == {1: BIRTHS[0], 2: BIRTHS[1], 3: BIRTHS[2]}
    assert options["max_tokens"] == 128
    assert answer.text == "Jordan was born on 17 February 1963 [1]." and answer.known
    assert [s.id for s in answer.cited] == ["row0"]
    assert answer.cited[0].metadata == {"source": "/docs/0.txt"} and not answer.fallback
    assert str(answer) == answer.text and answer.llm == "scripted"


def test_streaming_yields_pieces_then_the_answer() -> None:
    qa = RetrievalQA(ListRetriever(BIRTHS), ScriptedLLM("Born in 1963 [1]"))
    stream = qa.stream("When was Michael Jordan born?")
    assert stream.answer is None
    pieces = list(stream)
    assert len(pieces) == 4 and "".join(pieces).strip() == "Born in 1963 [1]"
    assert stream.answer is not None and stream.answer.text == "Born in 1963 [1]"


def test_an_uncited_answer_gets_the_citation_of_the_source_it_came_from() -> None:
    qa = RetrievalQA(ListRetriever(BIRTHS), ScriptedLLM("Messi was born in Rosario, Argentina."))
    assert qa.ask("Where was Messi born?").text.endswith("[2]")


def test_i_dont_know_is_an_unknown_answer() -> None:
    qa = RetrievalQA(ListRetriever(BIRTHS), ScriptedLLM("I don't know."))
    answer = qa.ask("Who wrote Hamlet?")
    assert answer.text == DONT_KNOW and not answer.known and answer.cited == ()


def test_no_retrieved_chunks_means_i_dont_know_without_calling_the_model() -> None:
    model = ScriptedLLM("made up")
    answer = RetrievalQA(ListRetriever([]), model).ask("Anything?")
    assert answer.text == DONT_KNOW and model.calls == []


def test_sources_are_packed_to_the_window_and_what_is_left_out_is_counted() -> None:
    long = ["word " * 300 + str(i) for i in range(6)]  # ~500 tokens each by the estimate
    model = ScriptedLLM("x", window=1400)
    answer = RetrievalQA(ListRetriever(long), model, max_tokens=100).ask("Which?")
    sent = parse_chat_prompt(model.calls[0][0])[1]
    assert len(answer.sources) == len(sent) == 2 and answer.left_out == 4
    prompt_tokens = sum(model.count_tokens(m.content) for m in model.calls[0][0])
    assert prompt_tokens + 100 <= model.context_window
    explicit = RetrievalQA(ListRetriever(long), ScriptedLLM("x"), max_context_tokens=600)
    assert len(explicit.ask("Which?").sources) == 1


@pytest.mark.slow
def test_an_unsupported_completion_answer_falls_back_to_the_extractive_one(
    minilm: LocalEmbedder,
) -> None:
    echo = ScriptedLLM("When was Michael Jordan born?", kind="completion")
    qa = RetrievalQA(ListRetriever(BIRTHS), echo)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    answer = qa.ask("When was Michael Jordan born?")
    assert answer.fallback and answer.text == "17 February 1963 [1]"
    assert echo.calls[0][1]["stop"]  # completion models get stop sequences
    (message,) = echo.calls[0][0]
    assert message.role == "user" and BIRTHS[0] in message.content
    invented = ScriptedLLM("He was born in 1971 [1]", kind="completion")
    qa = RetrievalQA(ListRetriever(BIRTHS), invented)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    assert qa.ask("When was Michael Jordan born?").fallback
    good = ScriptedLLM("17 February 1963 [1]\nQuestion: more", kind="completion")
    answer = RetrievalQA(ListRetriever(BIRTHS), good).ask("When was Michael Jordan born?")
    assert answer.text == "17 February 1963 [1]" and not answer.fallback


def test_supported_checks_words_numbers_and_echoes() -> None:
    sources = [Source(1, "a", BIRTHS[0])]
    assert supported("Born on 17 February 1963 [1]", sources, "When was Jordan born?")
    assert not supported("Born on 17 February 1964", sources, "When was Jordan born?")
    assert not supported("When was Michael Jordan born?", sources, "When was Michael Jordan born?")
    assert not supported("He played for the Chicago Bulls", sources, "Who is Jordan?")


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ConfigurationError, match="retrieve"):
        RetrievalQA(object(), ScriptedLLM("x"))  # type: ignore[arg-type]
    qa = RetrievalQA(ListRetriever(BIRTHS), ScriptedLLM("x"))
    with pytest.raises(InvalidInput, match="empty"):
        qa.ask("  ")
    assert (
        RetrievalQA.from_llm(ScriptedLLM("y"), retriever=ListRetriever(BIRTHS)).run("q?") == "y [1]"
    )


def test_numbers_must_come_from_the_cited_source() -> None:
    sources = [Source(1, "a", BIRTHS[0]), Source(2, "b", BIRTHS[1])]
    question = "When was Michael Jordan born?"
    assert supported("Jordan was born 17 February 1963 [1]", sources, question)
    assert not supported("Jordan was born on 24 June 1963 [1]", sources, question)
    assert supported("Jordan was born on 24 June 1963", sources, question)  # cites nothing


def test_a_cited_source_must_name_who_the_question_asks_about() -> None:
    sources = [Source(1, "a", BIRTHS[1]), Source(2, "b", BIRTHS[2])]
    question = "When was Michael Jordan born?"
    assert not supported("He was born 24 June 1987 in Rosario [1]", sources, question)
    assert supported("He was born 24 June 1987 in Rosario [1]", sources, "When was Messi born?")


@pytest.mark.slow
def test_the_extractive_answerer_gets_sources_as_data_whatever_the_prompt_says(
    minilm: LocalEmbedder,
) -> None:
    # A prompt in other words (no "reply exactly:", no "Sources:" header) once changed what
    # the extractive answerer read back from it; now it is handed the question and sources.
    custom = QAPrompt(system="Réponds avec les sources.", dont_know="Je ne sais pas.")
    qa = RetrievalQA(ListRetriever(BIRTHS), ExtractiveLLM(embedder=minilm), prompt=custom)
    answer = qa.ask("When was Michael Jordan born?")
    assert answer.text == "17 February 1963 [1]"
    assert answer.context == BIRTHS[0]
    unknown = qa.ask("Who wrote Hamlet?")
    assert unknown.text == "Je ne sais pas." and not unknown.known


def test_a_chat_model_is_asked_through_answer_with_the_prompt_it_was_given() -> None:
    model = ScriptedLLM("Born in 1963 [1]")
    custom = QAPrompt(system="Use the sources. Otherwise say: {dont_know}", dont_know="No idea.")
    RetrievalQA(ListRetriever(BIRTHS), model, prompt=custom).ask("When was Michael Jordan born?")
    system, user = model.calls[0][0]
    assert system.content == "Use the sources. Otherwise say: No idea."
    assert user.content.endswith("Question: When was Michael Jordan born?")


def test_answerers_are_found_in_one_registry_with_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    from shoal.qa import llm, llm_providers

    plugin = EntryPoint(name="canned", value=f"{__name__}:canned", group="shoal.answerers")
    monkeypatch.setattr(
        "shoal._registry.entry_points",
        lambda *, group: [plugin] if group == "shoal.answerers" else [],
    )
    assert {"canned", "extractive", "local", "openai"} <= set(llm_providers())
    built = llm("canned:Born in 1963 [1]")
    assert built.generate([]).strip() == "Born in 1963 [1]"
    with pytest.raises(ConfigurationError, match="'canned' answerer takes no option 'colour'"):
        llm("canned:x", colour="red")
    with pytest.raises(ConfigurationError, match="no answerer provider named 'nope'"):
        llm("nope:x")


def canned(model: str) -> ScriptedLLM:
    """What a plugin's entry point would name: an answerer that says `model`."""
    return ScriptedLLM(model)


def test_a_small_chat_model_gets_worked_examples_before_the_question() -> None:
    small = ScriptedLLM("17 February 1963 [1]", small=True)
    qa = RetrievalQA(ListRetriever(BIRTHS), small, guard=False)
    assert qa.prompt is SMALL_MODEL_PROMPT
    answer = qa.ask("When was Michael Jordan born?")
    messages = small.calls[0][0]
    roles = [m.role for m in messages]
    assert roles == ["system", *["user", "assistant"] * 3, "user"]
    assert [m.content for m in messages if m.role == "assistant"] == [
        "the people of France [2]",
        "330 metres [1]",
        DONT_KNOW,
    ]
    # The real question and sources come last, as every answerer reads them.
    question, sources, refusal = parse_chat_prompt(messages)
    assert question == "When was Michael Jordan born?" and sources[1] == BIRTHS[0]
    assert refusal == DONT_KNOW and answer.text == "17 February 1963 [1]"
    assert RetrievalQA(ListRetriever(BIRTHS), ScriptedLLM("x")).prompt == QAPrompt()


def test_the_room_for_sources_leaves_room_for_the_worked_examples() -> None:
    long = ["word " * 300 + str(i) for i in range(6)]
    small = ScriptedLLM("x", window=1400, small=True)
    RetrievalQA(ListRetriever(long), small, max_tokens=100, guard=False).ask("Which?")
    prompt_tokens = sum(small.count_tokens(m.content) for m in small.calls[0][0])
    assert prompt_tokens + 100 <= small.context_window


def test_an_unguarded_small_model_streams_its_answer_as_written() -> None:
    qa = RetrievalQA(
        ListRetriever(BIRTHS), ScriptedLLM("Born in 1963 [1]", small=True), guard=False
    )
    assert len(list(qa.stream("When was Michael Jordan born?"))) == 4


@pytest.mark.slow
def test_a_small_model_is_not_asked_when_no_source_names_whom_the_question_names(
    minilm: LocalEmbedder,
) -> None:
    small = ScriptedLLM("24 June 1987 [2]", small=True)  # what a small model says
    qa = RetrievalQA(ListRetriever(BIRTHS), small)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    answer = qa.ask("When was Neymar born?")
    assert not answer.known and answer.text == DONT_KNOW and small.calls == []


@pytest.mark.slow
def test_a_small_models_answer_is_checked_whole_and_replaced_when_unsupported(
    minilm: LocalEmbedder,
) -> None:
    good = ScriptedLLM("17 February 1963 [1]", small=True)
    qa = RetrievalQA(ListRetriever(BIRTHS), good)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    stream = qa.stream("When was Michael Jordan born?")
    assert list(stream) == ["17 February 1963 [1]"]  # one piece: checked before it is shown
    assert stream.answer is not None and not stream.answer.fallback
    wrong = ScriptedLLM("5 February 1985 [1]", small=True)  # a date its cited source lacks
    qa = RetrievalQA(ListRetriever(BIRTHS), wrong)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    answer = qa.ask("When was Michael Jordan born?")
    assert answer.fallback and answer.text == "17 February 1963 [1]"


PAGES = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York. He played "
    "basketball for the Chicago Bulls. He won six championships.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina. He plays "
    "football. He joined Barcelona at thirteen.",
]


@pytest.mark.slow
def test_a_small_model_reads_only_the_best_sentence_under_its_number(
    minilm: LocalEmbedder,
) -> None:
    small = ScriptedLLM("17 February 1963 [1]", small=True)
    qa = RetrievalQA(ListRetriever(PAGES), small)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    assert qa.focus == 1
    answer = qa.ask("When was Michael Jordan born?")
    _, given, _ = parse_chat_prompt(small.calls[0][0])
    assert given == {1: PAGES[0].split(". ")[0] + "."}  # the answer sentence, still [1]
    two = ScriptedLLM("17 February 1963 [1]", small=True)
    qa = RetrievalQA(ListRetriever(PAGES), two, focus=2)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    qa.ask("When was Michael Jordan born?")
    _, given, _ = parse_chat_prompt(two.calls[0][0])
    assert sum(len(sentences(text)) for text in given.values()) == 2
    assert all(text in PAGES[n - 1] for n, text in given.items())
    assert [s.text for s in answer.sources] == PAGES and answer.text == "17 February 1963 [1]"


@pytest.mark.slow
def test_focus_none_gives_whole_chunks_and_a_number_gives_that_many_sentences(
    minilm: LocalEmbedder,
) -> None:
    whole = ScriptedLLM("17 February 1963 [1]", small=True)
    qa = RetrievalQA(ListRetriever(PAGES), whole, focus=None)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    qa.ask("When was Michael Jordan born?")
    assert parse_chat_prompt(whole.calls[0][0])[1] == {1: PAGES[0], 2: PAGES[1]}
    big = ScriptedLLM("Rosario [2]")  # not small: whole chunks unless asked
    assert RetrievalQA(ListRetriever(PAGES), big).focus is None
    qa = RetrievalQA(ListRetriever(PAGES), big, focus=1)
    qa._extractive = ExtractiveLLM(embedder=minilm)
    qa.ask("Where was Messi born?")
    assert parse_chat_prompt(big.calls[0][0])[1] == {2: PAGES[1].split(". ")[0] + "."}


@pytest.mark.parametrize("focus", [0, -1, True, 1.5, "all"])
def test_focus_must_be_a_count_none_or_auto(focus: object) -> None:
    with pytest.raises(ConfigurationError, match="focus must be a number of sentences"):
        RetrievalQA(ListRetriever(PAGES), ScriptedLLM("x"), focus=focus)  # type: ignore[arg-type]
