"""The text-generator interface that every answerer implements, and the registry that builds them.

An `LLM` turns chat messages into text, streamed as an iterator of pieces. Chat models
(`openai:`) take the messages as they are; completion models (`local:` GGUF base models)
read one prompt, and `RetrievalQA` writes them a few-shot completion prompt instead;
`extractive` takes the question and the numbered sources as data (`LLM.answer`) and
quotes the sentences that answer it. Answerers are found by name in one `Registry`
(built-ins, the ``shoal.answerers`` entry points, `register_llm`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shoal._registry import Registry

if TYPE_CHECKING:
    from shoal.qa._prompt import QAPrompt, Source

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

    def answer(
        self,
        question: str,
        sources: Sequence[Source],
        *,
        prompt: QAPrompt,
        max_tokens: int = 128,
    ) -> Iterator[str]:
        """The answer to `question` from the numbered `sources`, piece by piece.

        `RetrievalQA` calls this with the question and sources as data. A chat model gets
        them as `prompt.chat` messages, a completion model as the few-shot prompt; an
        answerer that reads sources itself (the extractive one) overrides this, so a
        custom prompt's wording never changes what it is given.
        """
        # Imported here: the prompt modules import Message from this one.
        from shoal.qa._fewshot import COMPLETION_STOP, completion_prompt

        if self.kind == "completion":
            text = completion_prompt(question, sources, dont_know=prompt.dont_know)
            return self.stream(
                [Message("user", text)],
                max_tokens=max_tokens,
                temperature=0.0,
                stop=COMPLETION_STOP,
            )
        return self.stream(prompt.chat(question, sources), max_tokens=max_tokens, temperature=0.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


LLMFactory = Callable[..., LLM]
"""Called as ``factory(model, **options)`` (``model`` is "" for a bare name like ``extractive``)."""

ENTRY_POINT_GROUP = "shoal.answerers"

_ANSWERERS: Registry[LLM] = Registry(
    "answerer",
    ENTRY_POINT_GROUP,
    {
        "extractive": "shoal.qa.extractive:ExtractiveLLM",
        "openai": "shoal.qa.openai:OpenAIChat",
        "local": "shoal.qa.local:LocalLLM",
    },
    register_with="shoal.qa.register_llm",
)


def register_llm(name: str, factory: LLMFactory) -> None:
    """Register `factory` under `name` for this process (plugins use entry points instead)."""
    _ANSWERERS.register(name, factory)


def llm_providers() -> list[str]:
    """Names of every answerer provider `llm()` can build, sorted."""
    return _ANSWERERS.names()


def llm(name: str = DEFAULT_LLM, **options: Any) -> LLM:
    """Build an answerer: ``"extractive"``, ``"openai:<model>"`` or ``"local:<name or .gguf path>"``."""
    provider, _, model = name.partition(":")
    example = "'extractive', 'openai:gpt-4o-mini', 'local:gemma3-270m'"
    return _ANSWERERS.build(provider, model, options, example=example)
