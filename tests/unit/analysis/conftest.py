"""Analysis fixtures: in-memory datasets built from given vectors (fast), or from texts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from analysis_data import DIM, MakeDataset

import shoal.store as st


@pytest.fixture
def make_dataset() -> MakeDataset:
    """A new memory:// hash:16 dataset holding rows r0, r1, ... with the given vectors."""

    def make(
        vectors: np.ndarray | None = None,
        *,
        texts: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        embedder: Any = f"hash:{DIM}",
    ) -> st.Dataset:
        ds = st.open(f"memory://analysis-{uuid.uuid4().hex}", embedder=embedder)
        count = len(vectors) if vectors is not None else len(texts or ())
        if count:
            ds.add(
                list(texts) if texts is not None else [f"row {i}" for i in range(count)],
                ids=[f"r{i}" for i in range(count)],
                embeddings=vectors,
                metadatas=metadatas,
            )
        return ds

    return make
