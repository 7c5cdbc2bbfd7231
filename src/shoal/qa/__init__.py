"""Question answering: answerers (LLMs), prompts, `RetrievalQA` and the LLM reranker."""

from __future__ import annotations

from shoal.qa._chain import Answer, AnswerStream, RetrievalQA, Retrieves, supported
from shoal.qa._llm import DEFAULT_LLM, LLM, LLMFactory, Message, llm, llm_providers, register_llm
from shoal.qa._prompt import DONT_KNOW, QAPrompt, Source, read_context_prompt
from shoal.qa._rerank import LLMReranker
from shoal.qa.extractive import ExtractiveLLM

__all__ = [
    "DEFAULT_LLM",
    "DONT_KNOW",
    "LLM",
    "Answer",
    "AnswerStream",
    "ExtractiveLLM",
    "LLMFactory",
    "LLMReranker",
    "Message",
    "QAPrompt",
    "RetrievalQA",
    "Retrieves",
    "Source",
    "llm",
    "llm_providers",
    "read_context_prompt",
    "register_llm",
    "supported",
]
