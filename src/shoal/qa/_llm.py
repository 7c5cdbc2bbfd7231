"""The text-generator interface that every answerer implements, and the registry that builds them.

An `LLM` turns chat messages into text, streamed as an iterator of pieces. Chat models
(`openai:`) take the messages as they are; completion models (`local:` GGUF base models)
read one prompt, and `RetrievalQA` writes them a few-shot completion prompt instead;
`extractive` reads the question and the numbered sources from the prompt RetrievalQA
writes and quotes the sentences that answer it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shoal.errors import ConfigurationError, UnknownProvider

__all__ = ["DEFAULT_LLM", "LLM", "LLMFactory", "Message", "llm", "llm_providers", "register_llm"]

DEFAULT_LLM = "extractive"
"""The answerer used when none is named: offline, no model, quotes the context."""

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message: a role and its text."""

    role: Role
    content: str


class LLM(ABC):
    """Generates text from chat messages; providers implement `stream` (and `name`)."""

    #: "chat" models take messages; "completion" models continue one prompt (base models).
    kind: Literal["chat", "completion"] = "chat"
    #: A small model (about 3B parameters or fewer): `RetrievalQA` checks its answers
    #: against the sources before they are shown (its `guard`, as for every completion
    #: model), and gives a chat one worked examples (`SMALL_MODEL_PROMPT`).
    small: bool = False

    @property
    @abstractmethod
    def name(self) -> str:
        """What `shoal.llm()` accepts to build this model again, e.g. ``openai:gpt-4o-mini``."""

    @property
    def context_window(self) -> int:
        """Tokens the model reads at once, prompt and answer together."""
        return 4096

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model (an estimate unless the provider knows better)."""
        return max(1, len(text.encode("utf-8")) // 3)

    @abstractmethod
    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer to `messages`, piece by piece as it is generated."""

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """The whole answer to `messages`."""
        return "".join(
            self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


LLMFactory = Callable[..., LLM]
"""Called as ``factory(model, **options)`` (``model`` is "" for a bare name like ``extractive``)."""

_BUILTINS: dict[str, str] = {
    "extractive": "shoal.qa.extractive:ExtractiveLLM",
    "openai": "shoal.qa.openai:OpenAIChat",
    "local": "shoal.qa.local:LocalLLM",
}
_registered: dict[str, LLMFactory] = {}


def register_llm(name: str, factory: LLMFactory) -> None:
    """Register `factory` under `name` for this process."""
    if not name or ":" in name:
        raise ConfigurationError(f"LLM provider names are non-empty and have no ':', got {name!r}")
    _registered[name] = factory


def llm_providers() -> list[str]:
    """Names of every LLM provider `llm()` can build, sorted."""
    return sorted(set(_BUILTINS) | set(_registered))


def llm(name: str = DEFAULT_LLM, **options: Any) -> LLM:
    """Build an answerer: ``"extractive"``, ``"openai:<model>"`` or ``"local:<name or .gguf path>"``."""
    provider, _, model = name.partition(":")
    factory = _registered.get(provider)
    if factory is None:
        target = _BUILTINS.get(provider)
        if target is None:
            raise UnknownProvider(
                f"no LLM provider named {provider!r}; known: {', '.join(llm_providers())} "
                "(e.g. 'extractive', 'openai:gpt-4o-mini', 'local:gemma3-270m')"
            )
        module_name, _, attr = target.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
    return factory(model, **options)
