"""LangChain's usual constructor arguments: mapped to Shoal's, or refused by name (never
silently ignored); and the `langchain` extra installs what the README's example imports."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
import tomllib

from shoal.errors import ConfigurationError
from shoal.integrations.langchain import ShoalChatModel, ShoalEmbeddings

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("arguments", "llm", "options"),
    [
        ({}, "extractive", {}),
        ({"model": "gpt-4o-mini"}, "openai:gpt-4o-mini", {}),
        ({"model_name": "o3-mini"}, "openai:o3-mini", {}),
        ({"model": "local:gemma3-270m"}, "local:gemma3-270m", {}),
        ({"model": "qwen2.5:7b", "base_url": "http://127.0.0.1:11434/v1"}, "openai:qwen2.5:7b",
         {"base_url": "http://127.0.0.1:11434/v1"}),
        ({"model": "llama", "openai_api_base": "http://h/v1"}, "openai:llama", {"base_url": "http://h/v1"}),
        ({"model": "tiny.gguf"}, "local:tiny.gguf", {}),
    ],
)  # fmt: skip
def test_chat_model_maps_langchain_names(
    arguments: dict[str, Any], llm: str, options: dict[str, Any]
) -> None:
    chat = ShoalChatModel(**arguments)
    assert chat.llm == llm and chat.llm_options == options


def test_chat_model_maps_streaming_and_keeps_langchain_fields() -> None:
    chat = ShoalChatModel(streaming=False, temperature=0.3, max_tokens=64, tags=["t"])
    assert chat.disable_streaming is True and chat.temperature == 0.3 and chat.tags == ["t"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"foo": "bar"}, "takes no argument 'foo'"),
        ({"model": "mistral"}, "no answerer is named 'mistral'"),
        ({"model": "gpt-4o", "llm": "extractive"}, "name the answerer once"),
        ({"api_key": "sk-123"}, "reads API keys from the environment"),
        ({"openai_api_key": "sk-123"}, "takes no openai_api_key"),
        ({"model": ""}, "must be an answerer's name"),
    ],
)
def test_chat_model_refuses_what_it_would_ignore(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as info:
        ShoalChatModel(**arguments)
    assert "sk-123" not in str(info.value), "a key never reaches a message"


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"model": "hash:8"}, "hash:8"),
        ({"model": "all-MiniLM-L6-v2"}, "local:all-MiniLM-L6-v2"),
        ({"model_name": "sentence-transformers/all-MiniLM-L6-v2"}, "local:all-MiniLM-L6-v2"),
    ],
)
def test_embeddings_map_bare_names(arguments: dict[str, Any], name: str) -> None:
    assert ShoalEmbeddings(**arguments).model == name


def test_embeddings_refuse_keys_options_and_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env file with a key
    with pytest.raises(ConfigurationError, match=r"OPENAI_API_KEY.*local:all-MiniLM-L6-v2"):
        ShoalEmbeddings(model="text-embedding-ada-002")  # mapped to openai:, which needs a key
    with pytest.raises(ConfigurationError, match="reads API keys from the environment"):
        ShoalEmbeddings(model="hash:8", openai_api_key="sk-123")
    with pytest.raises(ConfigurationError, match="'hash' embedder takes no option 'foo'"):
        ShoalEmbeddings(model="hash:8", foo=1)
    with pytest.raises(ConfigurationError, match=r"got .whatever.$"):
        ShoalEmbeddings(model="whatever")
    with pytest.raises(ConfigurationError, match="model and model_name"):
        ShoalEmbeddings(model="hash:8", model_name="hash:16")


def test_the_langchain_extra_installs_what_the_readme_example_imports() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## LangChain", 1)[1].split("\n## ", 1)[0]
    assert "pip install 'shoal[langchain]'" in section
    modules = set()
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module.split(".")[0])
    third_party = sorted(m for m in modules if m not in sys.stdlib_module_names and m != "shoal")
    assert third_party, "the example imports LangChain"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    wanted = {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower() for r in extras["langchain"]}
    providers = packages_distributions()
    for module in third_party:
        assert {d.lower() for d in providers[module]} & wanted, f"{module} is not in the extra"
