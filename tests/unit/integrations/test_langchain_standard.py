"""LangChain's own standard test suites, run against Shoal's adapters (langchain-tests pinned in the dev extra)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    VectorStoreIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from shoal.integrations.langchain import ShoalEmbeddings, ShoalVectorStore


class TestShoalVectorStoreOnDisk(VectorStoreIntegrationTests):
    """The sync and async suites on a dataset in a local folder."""

    @pytest.fixture()
    def vectorstore(self, tmp_path: Path) -> Iterator[ShoalVectorStore]:  # type: ignore[override]
        """An empty store; a new folder per test."""
        yield ShoalVectorStore(
            dataset_path=tmp_path / "kb", embedding_function=self.get_embeddings()
        )


class TestShoalVectorStoreInMemory(VectorStoreIntegrationTests):
    """The same suites on an in-memory dataset."""

    @pytest.fixture()
    def vectorstore(self) -> Iterator[ShoalVectorStore]:  # type: ignore[override]
        """An empty store in a new memory:// dataset."""
        yield ShoalVectorStore(
            dataset_path=f"memory://standard-{uuid4().hex}", embedding=self.get_embeddings()
        )


class TestShoalEmbeddingsUnit(EmbeddingsUnitTests):
    """Construction, with the deterministic hash embedder."""

    @property
    def embeddings_class(self) -> type[ShoalEmbeddings]:
        """The class under test."""
        return ShoalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, str]:
        """A Shoal embedder name."""
        return {"model": "hash:64"}


@pytest.mark.slow
class TestShoalEmbeddingsIntegration(EmbeddingsIntegrationTests):
    """Real embeddings: the packaged MiniLM model, offline, sync and async."""

    @property
    def embeddings_class(self) -> type[ShoalEmbeddings]:
        """The class under test."""
        return ShoalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, str]:
        """The default local model, by name."""
        return {"model": "local:all-MiniLM-L6-v2"}
