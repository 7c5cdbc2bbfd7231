"""RetrievalQA end to end: over a real dataset, with a fake OpenAI-compatible chat server and
with the real local GGUF model."""

from __future__ import annotations

import json

import pytest

import shoal
from fakes.chat import FakeChat
from fakes.hosted import KEY, status
from shoal import ProviderUnavailable, RetryPolicy
from shoal.embeddings.local import LocalEmbedder
from shoal.qa import RetrievalQA
from shoal.qa.openai import OpenAIChat

BIRTHS = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York, United States of America.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina.",
    "Cristiano Ronaldo dos Santos Aveiro was born 5 February 1985 in Funchal, Madeira, Portugal.",
    "Kylian Mbappé Lottin was born 20 December 1998 in Paris, France.",
]
FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02)


@pytest.fixture(scope="module")
def births(tmp_path_factory: pytest.TempPathFactory, minilm: LocalEmbedder) -> shoal.Dataset:
    dataset = shoal.open(str(tmp_path_factory.mktemp("qa") / "births"), embedder=minilm)
    dataset.add(BIRTHS, metadatas=[{"source": f"births.txt#{i}"} for i in range(4)])
    dataset.commit("four births")
    return dataset


def chat(fake: FakeChat) -> OpenAIChat:
    return OpenAIChat("gpt-4o-mini", http_client=fake.client(), retry=FAST)


@pytest.mark.slow
def test_the_chain_sends_the_retrieved_sources_to_a_chat_server(
    births: shoal.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake = FakeChat()
    qa = RetrievalQA(births.as_retriever(k=2, mode="hybrid"), chat(fake))
    answer = qa.ask("When was Michael Jordan born?")
    (request,) = fake.requests
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True
    assert body["temperature"] == 0.0 and body["max_completion_tokens"] == 128
    system, user = body["messages"]
    assert system["role"] == "system" and "I don't know." in system["content"]
    assert user["content"].startswith("Sources:\n[1] Michael Jeffrey Jordan was born")
    assert user["content"].endswith("Question: When was Michael Jordan born?")
    assert user["content"].count("\n[") == 2  # k=2: two sources
    assert answer.text == "Michael Jordan was born on 17 February 1963 [1]."
    assert (
        answer.cited[0].metadata["source"] == "births.txt#0" and answer.llm == "openai:gpt-4o-mini"
    )


@pytest.mark.slow
def test_the_chain_retries_429_and_gives_up_on_repeated_500(
    births: shoal.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    limited = FakeChat(
        script=[status(429, {"error": {"message": "slow"}}, {"retry-after-ms": "10"})]
    )
    qa = RetrievalQA(births.as_retriever(k=2), chat(limited))
    assert "1963" in qa.ask("When was Michael Jordan born?").text
    assert len(limited.requests) == 2
    down = FakeChat(script=[status(500, {"error": {"message": "boom"}})] * 5)
    with pytest.raises(ProviderUnavailable, match="gave up after 3"):
        RetrievalQA(births.as_retriever(k=2), chat(down)).ask("When was Michael Jordan born?")


@pytest.mark.slow
def test_the_real_local_model_answers_the_seed_question_and_cites_the_jordan_chunk(
    births: shoal.Dataset, gemma: object
) -> None:
    qa = RetrievalQA(births.as_retriever(k=4, mode="hybrid"), gemma)  # type: ignore[arg-type]
    answer = qa.ask("When was Michael Jordan born?")
    assert "1963" in answer.text and answer.known
    assert [s.metadata["source"] for s in answer.cited] == ["births.txt#0"]
    assert answer.llm == "local:gemma3-270m"
