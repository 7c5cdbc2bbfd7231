"""`ShoalChatModel`: Shoal's answerers as a LangChain chat model, for LangChain's QA chains.

A chat answerer (``openai:<model>``) gets the messages as they are. The extractive
answerer and completion (base) models cannot follow another library's instructions, so
when the messages are a retrieval prompt (LangChain's stuff chains, or Shoal's own) the
question and the context's passages are read out of it and answered the way
`shoal.RetrievalQA` answers: the base model gets Shoal's few-shot prompt, its answer is
checked against the passages, and the extractive answer replaces one they do not
support. Citations ``[n]`` number the passages in the order the chain gave them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from shoal.errors import ConfigurationError
from shoal.qa import (
    DEFAULT_LLM,
    DONT_KNOW,
    LLM,
    ExtractiveLLM,
    Message,
    RetrievalQA,
    read_context_prompt,
)
from shoal.qa import llm as build_llm
from shoal.store import Hit

__all__ = ["ShoalChatModel", "chat_llm_name"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class ShoalChatModel(BaseChatModel):
    """A Shoal answerer as a LangChain chat model: ``ShoalChatModel(llm="local:gemma3-270m")``.

    Attributes:
        llm: a name for `shoal.llm()` (``extractive``, the default, offline and with no
            model; ``local:<gguf>``; ``openai:<model>``) or an `LLM` already built.
        llm_options: options for `shoal.llm(llm, **llm_options)`.
        max_tokens: the longest answer to generate.
        temperature: sampling temperature for generating models.
        guard: check a base model's answer against the passages (see the module docs).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: str | LLM = DEFAULT_LLM
    llm_options: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int = 256
    temperature: float = 0.0
    guard: bool = True
    _built: LLM | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _langchain_arguments(cls, data: Any) -> Any:
        """LangChain's usual arguments mapped to Shoal's (model=, model_name=, base_url=,
        streaming=), keys refused (Shoal reads them from the environment), and anything
        else refused by name: nothing is silently ignored."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        named = [key for key in ("llm", "model", "model_name") if key in data]
        if len(named) > 1:
            raise ConfigurationError(
                f"ShoalChatModel got {' and '.join(named)}: name the answerer once, with llm="
            )
        server = "base_url" in data or "openai_api_base" in data
        if named and named[0] != "llm":
            data["llm"] = chat_llm_name(data.pop(named[0]), server=server)
        for key in ("base_url", "openai_api_base"):
            if key in data:
                data["llm_options"] = {**data.get("llm_options", {}), "base_url": data.pop(key)}
        if "streaming" in data:
            data["disable_streaming"] = not data.pop("streaming")
        for key in ("api_key", "openai_api_key"):
            if key in data:
                raise ConfigurationError(
                    f"ShoalChatModel takes no {key}: Shoal reads API keys from the environment "
                    "(OPENAI_API_KEY), or from the variable named by "
                    "llm_options={'api_key_env': 'MY_KEY_VARIABLE'}"
                )
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise ConfigurationError(
                f"ShoalChatModel takes no argument {', '.join(map(repr, unknown))}; it takes "
                "llm (or model / model_name), llm_options, base_url, max_tokens, temperature, "
                "guard, streaming and LangChain's callbacks, tags, metadata, cache, verbose"
            )
        return data

    @property
    def _llm_type(self) -> str:
        return "shoal"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # The name, not `self.model`: LangChain reads these for callbacks, and building the
        # model would load a GGUF file just to describe it.
        name = self.llm if isinstance(self.llm, str) else self.llm.name
        return {"llm": name, "max_tokens": self.max_tokens}

    @property
    def model(self) -> LLM:
        """The Shoal answerer, built on first use."""
        if self._built is None:
            if isinstance(self.llm, LLM):
                if self.llm_options:
                    raise ConfigurationError("llm_options go with an llm name, not an LLM object")
                self._built = self.llm
            else:
                self._built = build_llm(self.llm, **self.llm_options)
        return self._built

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._pieces([_message(m) for m in messages], stop, kwargs):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def _pieces(
        self, messages: list[Message], stop: list[str] | None, options: dict[str, Any]
    ) -> Iterator[str]:
        max_tokens = int(options.pop("max_tokens", self.max_tokens))
        temperature = float(options.pop("temperature", self.temperature))
        if options:
            raise ConfigurationError(
                f"ShoalChatModel takes max_tokens and temperature per call, got {sorted(options)}"
            )
        model = self.model
        if model.kind == "chat" and not isinstance(model, ExtractiveLLM):
            yield from model.stream(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop
            )
            return
        found = read_context_prompt(messages)
        if found is None:
            if isinstance(model, ExtractiveLLM):
                yield DONT_KNOW  # it quotes sources, and these messages hold none
                return
            prompt = "\n\n".join(f"{m.role.title()}: {m.content}" for m in messages)
            yield from model.stream(
                [Message("user", f"{prompt}\n\nAssistant:")],
                max_tokens=max_tokens,
                temperature=temperature,
                stop=stop,
            )
            return
        question, passages = found
        chain = RetrievalQA(_Passages(passages), model, max_tokens=max_tokens, guard=self.guard)
        yield from chain.stream(question)


class _Passages:
    """A retriever that returns the passages a prompt already holds, in their order."""

    def __init__(self, passages: Sequence[str]) -> None:
        self.hits = [Hit(f"passage-{n}", text, {}, 0.0) for n, text in enumerate(passages, 1)]

    def retrieve(self, query: str) -> list[Hit]:
        return self.hits


def _message(message: BaseMessage) -> Message:
    """A LangChain message as a Shoal one (tool and function messages count as user text)."""
    role = _ROLES.get(message.type, "user")
    return Message(role, message.text)  # type: ignore[arg-type]


def chat_llm_name(model: Any, *, server: bool = False) -> str | LLM:
    """The Shoal answerer a LangChain-style model name means: a Shoal name as it is,
    ``gpt-4o-mini`` (or any name, with `server`: a base URL was given) as
    ``openai:<name>``, a ``.gguf`` file as ``local:<file>``."""
    if isinstance(model, LLM):
        return model
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"model must be an answerer's name, got {model!r}")
    if model == DEFAULT_LLM or model.partition(":")[0] in ("extractive", "local", "openai"):
        return model
    if server or model.startswith(("gpt-", "chatgpt-", "o1", "o3", "o4")):
        return f"openai:{model}"
    if model.endswith(".gguf"):
        return f"local:{model}"
    raise ConfigurationError(
        f"no answerer is named {model!r}: use 'extractive' (offline, no model), "
        "'local:<gguf file or catalogue name>' or 'openai:<model>' (any OpenAI-compatible API)"
    )
