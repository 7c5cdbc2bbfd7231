"""Integration fixtures: the labelled topic sentences embedded once by the local model."""

from __future__ import annotations

import numpy as np
import pytest
from stream_data import labelled_sentences

from shoal.embeddings.local import LocalEmbedder


@pytest.fixture(scope="session")
def topic_rows(minilm: LocalEmbedder) -> tuple[list[str], list[dict[str, object]], np.ndarray]:
    """stream_data's labelled sentences, their metadata and their MiniLM vectors."""
    texts, metadatas = labelled_sentences()
    return texts, metadatas, minilm.embed_documents(texts)
