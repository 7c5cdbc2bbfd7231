"""LangChain adapters: `ShoalEmbeddings`, `ShoalVectorStore` and `ShoalChatModel`.

Install with ``pip install 'shoal[langchain]'``. The seed's Deep Lake code runs on Shoal
by changing its import and constructor line::

    from shoal.integrations.langchain import ShoalVectorStore
    db = ShoalVectorStore(dataset_path="./my_kb", embedding_function=embeddings)
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from shoal.errors import MissingDependency

    raise MissingDependency(
        "shoal.integrations.langchain needs langchain-core: pip install 'shoal[langchain]'"
    ) from exc

from shoal.integrations.langchain._chat import ShoalChatModel
from shoal.integrations.langchain._embeddings import (
    LangChainEmbedder,
    ShoalEmbeddings,
    as_shoal_embedder,
)
from shoal.integrations.langchain._vectorstore import ShoalVectorStore

__all__ = [
    "LangChainEmbedder",
    "ShoalChatModel",
    "ShoalEmbeddings",
    "ShoalVectorStore",
    "as_shoal_embedder",
]
