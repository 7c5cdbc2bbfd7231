"""ShoalChatModel and reading retrieval prompts that LangChain's chains write."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

import pytest
from langchain_classic.chains import RetrievalQA as ClassicRetrievalQA
from langchain_classic.chains.combine_documents import create_stuff_documents_chain
from langchain_classic.chains.question_answering.stuff_prompt import CHAT_PROMPT, PROMPT
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

from fakes.chat import KEY, FakeChat
from fakes.llms import ScriptedLLM
from shoal import RetryPolicy
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import ConfigurationError
from shoal.integrations.langchain import ShoalChatModel, ShoalEmbeddings, ShoalVectorStore
from shoal.qa import DONT_KNOW, ExtractiveLLM, Message, QAPrompt, Source, read_context_prompt
from shoal.qa.local import LocalLLM
from shoal.qa.openai import OpenAIChat

PASSAGES = [
    "Napoleon Bonaparte was born in 15 August 1769",
    "Michael Jeffrey Jordan was born in 17 February 1963",
]
CONTEXT = "\n\n".join(PASSAGES)
QUESTION = "When was Michael Jordan born?"
RAG_PROMPT = (  # the shape of the hub's rlm/rag-prompt
    "You are an assistant for question-answering tasks. Use the following pieces of "
    "retrieved context to answer the question.\nQuestion: {question} \nContext: {context} \nAnswer:"
)


def shoal_messages(messages: Sequence[object]) -> list[Message]:
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [Message(roles[m.type], m.text) for m in messages]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(
            CHAT_PROMPT.format_messages(context=CONTEXT, question=QUESTION), id="chat-prompt"
        ),
        pytest.param(
            [HumanMessage(PROMPT.format(context=CONTEXT, question=QUESTION))], id="prompt"
        ),
        pytest.param(
            [HumanMessage(RAG_PROMPT.format(context=CONTEXT, question=QUESTION))], id="rag-prompt"
        ),
        pytest.param(
            [SystemMessage(f"Answer from this context only:\n\n{CONTEXT}"), HumanMessage(QUESTION)],
            id="system-context",
        ),
        pytest.param(
            [
                SystemMessage("Use the context."),
                HumanMessage(f"Context:\n{PASSAGES[0]}\n\nContext:\n{PASSAGES[1]}"),
                HumanMessage(QUESTION),
            ],
            id="labelled-documents",
        ),
    ],
)
def test_read_context_prompt_finds_the_question_and_each_passage(messages: list[object]) -> None:
    assert read_context_prompt(shoal_messages(messages)) == (QUESTION, PASSAGES)


def test_shoals_own_prompt_is_read_back_exactly() -> None:
    sources = [Source(n, f"id{n}", text) for n, text in enumerate(PASSAGES, 1)]
    assert read_context_prompt(QAPrompt().chat(QUESTION, sources)) == (QUESTION, PASSAGES)


def test_a_conversation_without_context_has_none() -> None:
    assert read_context_prompt([Message("user", "Hello there")]) is None
    assert read_context_prompt([Message("system", "Be brief.")]) is None


def test_a_question_label_without_sources_does_not_crash_the_shoal_parser() -> None:
    found = read_context_prompt([Message("user", f"{CONTEXT}\n\nQuestion: {QUESTION}")])
    assert found == (QUESTION, [PASSAGES[1]])  # the first paragraph counts as instructions


@pytest.fixture(scope="module")
def extractive(minilm: LocalEmbedder) -> ExtractiveLLM:
    return ExtractiveLLM(embedder=minilm)


@pytest.mark.slow
def test_the_extractive_answerer_answers_langchains_stuff_chain(extractive: ExtractiveLLM) -> None:
    chain = create_stuff_documents_chain(
        ShoalChatModel(llm=extractive),
        ChatPromptTemplate.from_messages(
            [("system", "Answer the question from the context.\n\n{context}"), ("human", "{input}")]
        ),
    )
    docs = [Document(p) for p in PASSAGES]
    answer = chain.invoke({"input": QUESTION, "context": docs})
    assert answer == "17 February 1963 [2]"


@pytest.mark.slow
def test_with_no_context_the_extractive_answerer_says_it_does_not_know(
    extractive: ExtractiveLLM,
) -> None:
    model = ShoalChatModel(llm=extractive)
    assert model.invoke([HumanMessage("Hi! How are you?")]).content == DONT_KNOW
    assert "".join(str(c.content) for c in model.stream("Hi!")) == DONT_KNOW


def test_a_chat_answerer_gets_the_messages_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake = FakeChat(reply=lambda messages: "It was 1963 [1].")
    chat = OpenAIChat("gpt-4o-mini", http_client=fake.client(), retry=RetryPolicy(attempts=1))
    model = ShoalChatModel(llm=chat, max_tokens=50)
    messages = [
        SystemMessage("Be brief."),
        HumanMessage("Hi"),
        AIMessage("Hello"),
        HumanMessage("When?"),
    ]
    pieces = [chunk.content for chunk in model.stream(messages) if chunk.content]
    assert "".join(pieces) == "It was 1963 [1]." and len(pieces) > 1  # streamed
    [body] = fake.bodies
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "When?"),
    ]
    assert body["max_completion_tokens"] == 50  # OpenAI itself takes the newer name


@pytest.mark.slow
def test_a_base_models_unsupported_answer_is_replaced_by_the_quote(minilm: LocalEmbedder) -> None:
    base = ScriptedLLM("Michael Jordan was born in 1999 [2].", kind="completion")
    messages = CHAT_PROMPT.format_messages(context=CONTEXT, question=QUESTION)
    answer = ShoalChatModel(llm=base).invoke(messages).content
    assert answer == "17 February 1963 [2]"
    [(prompt, _)] = base.calls  # Shoal's few-shot prompt, the passages numbered in order
    assert "Michael Jeffrey Jordan was born in 17 February 1963 [2]" in prompt[-1].content


def test_a_supported_base_model_answer_is_kept_and_a_plain_chat_is_rendered() -> None:
    base = ScriptedLLM("Michael Jordan was born in 17 February 1963 [2].", kind="completion")
    messages = CHAT_PROMPT.format_messages(context=CONTEXT, question=QUESTION)
    assert ShoalChatModel(llm=base).invoke(messages).content == base.reply
    ShoalChatModel(llm=base).invoke([SystemMessage("Be kind."), HumanMessage("Hi")])
    assert base.calls[-1][0][-1].content == "System: Be kind.\n\nUser: Hi\n\nAssistant:"


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="llm_options go with an llm name"):
        _ = ShoalChatModel(llm=ScriptedLLM("x"), llm_options={"a": 1}).model
    with pytest.raises(ConfigurationError, match="per call"):
        ShoalChatModel(llm=ScriptedLLM("x")).invoke("hi", colour="red")
    base = ScriptedLLM("x", kind="completion")
    assert ShoalChatModel(llm=base).invoke("hi", max_tokens=5).content == "x "
    assert base.calls[0][1]["max_tokens"] == 5


@pytest.mark.slow
def test_the_seed_chain_with_the_real_local_model(minilm: LocalEmbedder, gemma: LocalLLM) -> None:
    store = ShoalVectorStore(
        dataset_path=f"memory://seed-{uuid4().hex}", embedding_function=ShoalEmbeddings(minilm)
    )
    store.add_documents([Document(p) for p in [*PASSAGES, "Lady Gaga was born in 28 March 1986"]])
    chain = ClassicRetrievalQA.from_llm(ShoalChatModel(llm=gemma), retriever=store.as_retriever())
    answer = chain.invoke({"query": QUESTION})["result"]
    assert "1963" in answer and "1769" not in answer
