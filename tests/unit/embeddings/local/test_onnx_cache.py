"""The ONNX graph cache: built once per model, rebuilt when the weights change, int8 beside fp32."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal.embeddings.local._graph as graph_module
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import ConfigurationError, ModelNotFound

TEXTS = ["the cat is on the mat", "a dog", "there is a red car near the green tree"]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts calls to the graph builder (one entry, the model type, per build)."""
    calls: list[str] = []
    real = graph_module.build_encoder

    def counting(config: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(str(config["model_type"]))
        return real(config, *args, **kwargs)

    monkeypatch.setattr(graph_module, "build_encoder", counting)
    return calls


@pytest.fixture
def fresh_bert(tmp_path: Path, build_tiny: Callable[..., Any]) -> Any:
    """A tiny BERT in this test's own folder (so its cache entries are its own)."""
    return build_tiny(tmp_path / "bert", "bert")


def _graphs(cache: Path, suffix: str) -> list[Path]:
    return sorted((cache / "onnx").glob(f"*-{suffix}.onnx"))


def test_graph_is_built_once_and_reused(
    own_cache: Path, fresh_bert: Any, builds: list[str]
) -> None:
    first = LocalEmbedder(path=fresh_bert.folder, quantize=False).embed_documents(TEXTS)
    assert builds == ["bert"]
    (graph,) = _graphs(own_cache, "fp32")
    mtime = graph.stat().st_mtime_ns

    second = LocalEmbedder(path=fresh_bert.folder, quantize=False).embed_documents(TEXTS)
    assert builds == ["bert"]
    assert graph.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first, second)
    # Atomic writes leave no temporary files behind.
    assert [p.name for p in (own_cache / "onnx").iterdir()] == [graph.name]


def test_changed_weights_build_a_new_graph(
    own_cache: Path, tmp_path: Path, build_tiny: Callable[..., Any], builds: list[str]
) -> None:
    folder = tmp_path / "model"
    build_tiny(folder, "bert", seed=1)
    before = LocalEmbedder(path=folder, quantize=False).embed_documents(TEXTS)
    # Retrain in place: same folder, new weights.
    (folder / "model.safetensors").unlink()
    other = build_tiny(tmp_path / "other", "bert", seed=2)
    (folder / "model.safetensors").write_bytes((other.folder / "model.safetensors").read_bytes())

    after = LocalEmbedder(path=folder, quantize=False).embed_documents(TEXTS)
    assert builds == ["bert", "bert"]
    assert len(_graphs(own_cache, "fp32")) == 2
    assert not np.allclose(before, after, atol=1e-3)
    assert np.abs(after - other.reference(TEXTS)).max() < 1e-5


def test_int8_graph_is_written_beside_fp32_and_is_smaller(
    own_cache: Path, fresh_bert: Any, builds: list[str]
) -> None:
    embedder = LocalEmbedder(path=fresh_bert.folder, quantize=True)
    assert embedder.quantized
    vectors = embedder.embed_documents(TEXTS)
    (fp32,) = _graphs(own_cache, "fp32")
    (int8,) = _graphs(own_cache, "int8")
    assert int8.stat().st_size < fp32.stat().st_size
    assert builds == ["bert"]
    # Quantised, yet still the same model: close to the fp32 vectors.
    reference = fresh_bert.reference(TEXTS)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() > 0.9, cosine

    # The fp32 graph is reused for a later fp32 embedder.
    LocalEmbedder(path=fresh_bert.folder, quantize=False).embed_query("cat")
    assert builds == ["bert"]


@pytest.mark.parametrize("damage", [b"", b"not a protobuf", None])
def test_damaged_cached_graph_is_rebuilt(
    own_cache: Path, fresh_bert: Any, builds: list[str], damage: bytes | None
) -> None:
    expected = LocalEmbedder(path=fresh_bert.folder, quantize=False).embed_documents(TEXTS)
    (graph,) = _graphs(own_cache, "fp32")
    data = graph.read_bytes()
    # None: truncated, as by a disk that filled up mid-write.
    graph.write_bytes(data[: len(data) // 2] if damage is None else damage)

    got = LocalEmbedder(path=fresh_bert.folder, quantize=False).embed_documents(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert builds == ["bert", "bert"]
    assert graph.read_bytes() == data


def test_damaged_cached_int8_graph_is_rebuilt(
    own_cache: Path, fresh_bert: Any, builds: list[str]
) -> None:
    expected = LocalEmbedder(path=fresh_bert.folder, quantize=True).embed_documents(TEXTS)
    (int8,) = _graphs(own_cache, "int8")
    int8.write_bytes(int8.read_bytes()[:1000])

    got = LocalEmbedder(path=fresh_bert.folder, quantize=True).embed_documents(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert len(builds) == 2


def test_unreadable_weights_are_model_not_found(own_cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    config = {
        "model_type": "bert",
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    (folder / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="cannot read the weights"):
        LocalEmbedder(path=folder, quantize=False).embed_query("hello")


def test_int8_is_refused_for_a_model_it_destroys() -> None:
    # mpnet's int8 vectors are at cosine ~0.03 to its own (bench/embed_throughput.py).
    with pytest.raises(ConfigurationError, match="loses its meaning in int8"):
        LocalEmbedder("all-mpnet-base-v2", quantize=True)
