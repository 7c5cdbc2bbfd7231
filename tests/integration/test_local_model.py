"""The real packaged models on ONNX Runtime, checked against sentence-transformers."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import shoal
from numeric import assert_close
from shoal._machine import simd_level
from shoal.embeddings.local import LocalEmbedder
from shoal.embeddings.local._resolve import resolve_model_dir

pytestmark = pytest.mark.slow

DOCUMENTS = [
    "The cat is on the mat.",
    "There is a cat on the mat.",
    "The dog is in the yard.",
    "There is a dog in the yard.",
]
QUERY = "A cat is sitting on a mat."

Reference = Callable[..., np.ndarray]


@pytest.fixture(scope="session")
def reference(_session_environment: None, varied_texts: list[str]) -> Reference:
    """`reference(model, every=1)`: sentence-transformers' vectors for every `every`-th of
    varied_texts, computed once per model."""
    from sentence_transformers import SentenceTransformer

    computed: dict[tuple[str, int], np.ndarray] = {}

    def vectors(model: str, every: int = 1) -> np.ndarray:
        if (model, every) not in computed:
            st = SentenceTransformer(str(resolve_model_dir(model)), device="cpu")
            texts = varied_texts[::every]
            computed[model, every] = np.asarray(
                st.encode(texts, batch_size=32, convert_to_numpy=True), dtype=np.float32
            )
        return computed[model, every]

    return vectors


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# The seed example


@pytest.mark.usefixtures("minilm")
def test_default_model_finds_the_cat_on_the_mat() -> None:
    embedder = shoal.embedder()
    assert embedder.spec.name == "local:all-MiniLM-L6-v2"
    matches = shoal.most_similar(QUERY, DOCUMENTS, embedder=embedder)
    assert matches[0].text == "The cat is on the mat."
    assert {m.text for m in matches[2:]} == {DOCUMENTS[2], DOCUMENTS[3]}


def test_mpnet_finds_the_cat_on_the_mat(mpnet: LocalEmbedder) -> None:
    matches = shoal.most_similar(QUERY, DOCUMENTS, embedder=mpnet)
    assert matches[0].text == "The cat is on the mat."
    assert {m.text for m in matches[2:]} == {DOCUMENTS[2], DOCUMENTS[3]}


# Parity with sentence-transformers


def test_minilm_fp32_matches_sentence_transformers(
    minilm_fp32: LocalEmbedder, varied_texts: list[str], reference: Reference
) -> None:
    cosine = _cosines(minilm_fp32.embed_documents(varied_texts), reference("all-MiniLM-L6-v2"))
    assert cosine.mean() >= 0.9999
    assert cosine.min() >= 0.999, varied_texts[int(cosine.argmin())]


def test_mpnet_fp32_matches_sentence_transformers(
    mpnet: LocalEmbedder, varied_texts: list[str], reference: Reference
) -> None:
    assert not mpnet.quantized
    # A third of the texts (every kind among them): mpnet is 5x MiniLM's work on both
    # sides, and fp32 parity is the same check MiniLM's test makes on all 500.
    texts = varied_texts[::3]
    cosine = _cosines(mpnet.embed_documents(texts), reference("all-mpnet-base-v2", every=3))
    assert cosine.mean() >= 0.9999
    assert cosine.min() >= 0.999, texts[int(cosine.argmin())]


@pytest.fixture(scope="session")
def minilm_int8_cosines(
    minilm: LocalEmbedder, varied_texts: list[str], reference: Reference
) -> np.ndarray:
    assert minilm.quantized
    return _cosines(minilm.embed_documents(varied_texts), reference("all-MiniLM-L6-v2"))


def test_minilm_int8_mean_cosine_to_sentence_transformers(minilm_int8_cosines: np.ndarray) -> None:
    # Measured (bench/int8_accuracy.py): 0.9933 on AVX2 kernels, 0.9944 with exact integer
    # products (AVX-512 VNNI's); before the FFN outputs of layers 0-2 stayed fp32, 0.9900.
    assert minilm_int8_cosines.mean() >= 0.99


def test_minilm_int8_worst_cosine_to_sentence_transformers(
    minilm_int8_cosines: np.ndarray, varied_texts: list[str]
) -> None:
    # Texts of three words or more: the goal is min >= 0.97. Tiny punctuation-heavy
    # texts ("?", "Wait... what?!") are int8's known weak spot (0.964, README).
    wordy = np.array([len(t.split()) >= 3 for t in varied_texts])
    worst = int(np.where(wordy, minilm_int8_cosines, np.inf).argmin())
    assert minilm_int8_cosines[worst] >= 0.97, varied_texts[worst]
    assert minilm_int8_cosines.min() >= 0.95


def test_a_text_gets_the_same_vector_alone_or_beside_others(
    minilm: LocalEmbedder, varied_texts: list[str]
) -> None:
    # int8 scales a call's activations by their largest value, so a text batched with
    # longer ones used to change (cosine 0.965 for "!"): each text now runs alone.
    texts = varied_texts[:40]
    together = minilm.embed_documents(texts)
    alone = np.stack([minilm.embed_documents([text])[0] for text in texts])
    assert_close(together, alone)
    np.testing.assert_allclose(minilm.embed_query(texts[3]), together[3], atol=1e-6)


def test_the_build_names_precision_runtime_and_cpu(
    minilm: LocalEmbedder, minilm_fp32: LocalEmbedder
) -> None:
    assert minilm.build["precision"] == "int8"
    assert minilm_fp32.build["precision"] == "fp32"
    assert minilm.build["runtime"].startswith("onnxruntime ")
    assert minilm.build["cpu"] == simd_level()
    assert minilm.fingerprint != minilm_fp32.fingerprint


# Truncation, shapes and spec


def test_long_text_is_truncated_to_the_window(minilm: LocalEmbedder) -> None:
    rng = random.Random(7)
    words = [
        rng.choice(["river", "stone", "light", "orchard", "signal", "copper"]) for _ in range(2000)
    ]
    whole, head, short = " ".join(words), " ".join(words[:300]), " ".join(words[:100])
    assert minilm.max_seq_length == 256
    assert minilm.count_tokens(head) > minilm.max_seq_length
    assert minilm.count_tokens(whole) > minilm.count_tokens(head)
    assert minilm.count_tokens(short) < minilm.max_seq_length
    np.testing.assert_allclose(minilm.embed_query(whole), minilm.embed_query(head), atol=1e-6)
    assert not np.allclose(minilm.embed_query(whole), minilm.embed_query(short), atol=1e-3)


def test_mpnet_window_is_384_tokens(mpnet: LocalEmbedder) -> None:
    assert mpnet.max_seq_length == 384
    assert mpnet.spec.dimensions == 768


def test_empty_list_gives_zero_rows(minilm: LocalEmbedder) -> None:
    out = minilm.embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_spec_and_unit_vectors(minilm: LocalEmbedder) -> None:
    spec = minilm.spec
    assert (spec.provider, spec.model, spec.dimensions) == ("local", "all-MiniLM-L6-v2", 384)
    assert spec.normalized is True
    assert spec.metric == "cosine"
    vectors = minilm.embed_documents(DOCUMENTS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


_QUERY_PROBE = """
import json, sys
import numpy as np
import shoal
vector = shoal.embedder().embed_query("A cat is sitting on a mat.")
print(json.dumps({"torch": "torch" in sys.modules, "vector": vector.tolist()}))
"""


def test_query_path_does_not_import_torch(minilm: LocalEmbedder, session_cache_dir: Path) -> None:
    assert os.environ["SHOAL_CACHE_DIR"] == str(session_cache_dir)
    before = {p: p.stat().st_mtime_ns for p in session_cache_dir.rglob("*.onnx")}
    assert before, "the session cache should hold the built graphs"
    result = subprocess.run(
        [sys.executable, "-c", _QUERY_PROBE], capture_output=True, text=True, check=True
    )
    data = json.loads(result.stdout)
    assert data["torch"] is False
    np.testing.assert_allclose(data["vector"], minilm.embed_query(QUERY), atol=1e-6)
    # The warmed cache was used, not rebuilt.
    assert {p: p.stat().st_mtime_ns for p in session_cache_dir.rglob("*.onnx")} == before
