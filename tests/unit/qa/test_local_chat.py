"""`local:qwen2.5-coder-0.5b-instruct`: an instruction-tuned GGUF driven by its own chat template."""

from __future__ import annotations

import re

import pytest

import shoal
from shoal.cli._demo import BIRTHS, QUESTION
from shoal.embeddings.local import LocalEmbedder
from shoal.qa import RetrievalQA
from shoal.qa._llm import Message
from shoal.qa.local import LocalLLM, local_gguf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def births(minilm: LocalEmbedder) -> shoal.Dataset:
    """The seed's four birth texts in a dataset, as `shoal demo` stores them."""
    dataset = shoal.open("memory://births-chat", embedder=minilm)
    dataset.add(BIRTHS, metadatas=[{"source": f"text {i + 1}"} for i in range(len(BIRTHS))])
    return dataset


def test_it_is_a_small_chat_model_joined_from_its_parts(qwen: LocalLLM) -> None:
    assert qwen.kind == "chat"  # the GGUF carries its chat template
    assert qwen.small and 0.4e9 < qwen.parameters < 1e9
    assert qwen.path.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert qwen.path.stat().st_size == 491_400_064
    assert local_gguf("qwen2.5-coder-0.5b-instruct") == qwen.path


def test_it_answers_through_its_chat_template_and_streams(qwen: LocalLLM) -> None:
    messages = [Message("user", "What is the capital of France? Answer in one word.")]
    pieces = list(qwen.stream(messages, max_tokens=8))
    assert "Paris" in "".join(pieces) and "<|im_" not in "".join(pieces)


def test_it_answers_the_seed_question_itself_with_a_citation(
    qwen: LocalLLM, births: shoal.Dataset
) -> None:
    answer = RetrievalQA(births.as_retriever(k=4, mode="hybrid"), qwen).ask(QUESTION)
    assert answer.known and not answer.fallback, answer  # the model's own answer, checked
    assert "1963" in answer.text and re.search(r"\[\d\]", answer.text), answer.text
    assert "Jordan" in answer.cited[0].text


def test_it_says_it_does_not_know_whom_no_source_names(
    qwen: LocalLLM, births: shoal.Dataset
) -> None:
    answer = RetrievalQA(births.as_retriever(k=4), qwen).ask("When was Neymar born?")
    assert not answer.known and answer.text == "I don't know."


def test_unguarded_it_streams_the_answer_as_it_is_written(
    qwen: LocalLLM, births: shoal.Dataset
) -> None:
    qa = RetrievalQA(births.as_retriever(k=4), qwen, guard=False)
    stream = qa.stream(QUESTION)
    pieces = list(stream)
    assert len(pieces) > 2 and "1963" in "".join(pieces)
