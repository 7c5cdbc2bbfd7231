"""A scripted answerer: a fixed reply in pieces, recording what it was sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from shoal.qa import LLM, Message

__all__ = ["ScriptedLLM"]


class ScriptedLLM(LLM):
    """Answers with a fixed text in pieces, and records what it was sent."""

    def __init__(
        self,
        reply: str,
        kind: Literal["chat", "completion"] = "chat",
        window: int = 4096,
        *,
        small: bool = False,
    ):
        self.reply = reply
        self.kind = kind
        self.small = small
        self.window = window
        self.calls: list[tuple[list[Message], dict[str, object]]] = []

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def context_window(self) -> int:
        return self.window

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        self.calls.append((list(messages), {"max_tokens": max_tokens, "stop": stop}))
        for word in self.reply.split(" "):
            yield word + " "
