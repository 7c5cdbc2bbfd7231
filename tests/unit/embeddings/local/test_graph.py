"""The torch-free ONNX encoder against transformers on tiny random BERT and MPNet models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

import shoal
from shoal.embeddings.local import LocalEmbedder
from shoal.embeddings.local._graph import EncoderConfig, relative_position_buckets
from shoal.errors import ModelNotFound

TinyModelFactory = Callable[..., Any]
HIDDEN = 32  # the tiny models' width (conftest.HIDDEN)
# Different lengths in one batch, so padding and the attention mask matter; the last
# text is longer than the tiny models' window and is truncated.
TEXTS = [
    "the cat is on the mat",
    "dog",
    "there is a red car near the green tree and a blue house in the yard",
    "  xyzzy 42 sat  ",
    "Ünïcödé CAT!?",
    " ".join(["the dog sat on a mat near the house"] * 12),
]


def _embedder(folder: Path) -> LocalEmbedder:
    return LocalEmbedder(path=folder, quantize=False)


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_encoder_matches_transformers(
    tiny_model: TinyModelFactory, kind: str, pooling: str
) -> None:
    model = tiny_model(kind, pooling=pooling)
    got = _embedder(model.folder).embed_documents(TEXTS)
    want = model.reference(TEXTS)
    assert got.shape == (len(TEXTS), HIDDEN)
    assert got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_cls_pooling_matches_transformers(tiny_model: TinyModelFactory, kind: str) -> None:
    model = tiny_model(kind, pooling="cls")
    try:
        got = _embedder(model.folder).embed_documents(TEXTS)
    except Exception as exc:  # report the bug as a failed comparison, not an error
        raise AssertionError(f"cls pooling failed: {exc}") from exc
    assert np.abs(got - model.reference(TEXTS)).max() < 1e-5


def test_without_normalize_module_vectors_are_not_normalised(tiny_model: TinyModelFactory) -> None:
    model = tiny_model("bert", normalize=False)
    embedder = _embedder(model.folder)
    got = embedder.embed_documents(TEXTS)
    assert np.abs(got - model.reference(TEXTS)).max() < 1e-5
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)
    assert embedder.spec.normalized is False
    assert embedder.spec.dimensions == HIDDEN


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_a_text_alone_equals_the_same_text_in_a_padded_batch(
    tiny_model: TinyModelFactory, kind: str
) -> None:
    embedder = _embedder(tiny_model(kind).folder)
    batch = embedder.embed_documents(TEXTS)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(embedder.embed_query(text), batch[i], atol=1e-6)


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_window_is_the_position_table_less_the_padding_offset(
    tiny_model: TinyModelFactory, kind: str
) -> None:
    model = tiny_model(kind)
    embedder = _embedder(model.folder)
    assert embedder.max_seq_length == model.window
    assert embedder.count_tokens(TEXTS[-1]) > model.window


def test_checkpoint_with_task_prefix_gives_the_same_vectors(
    tiny_model: TinyModelFactory, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    model = tiny_model("bert")
    folder = tmp_path / "prefixed"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "modules.json"):
        (folder / name).write_bytes((model.folder / name).read_bytes())
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_bytes(
        (model.folder / "1_Pooling" / "config.json").read_bytes()
    )
    weights = load_file(str(model.folder / "model.safetensors"))
    # As saved from BertForMaskedLM: every encoder name under "bert.", plus a head to ignore.
    prefixed = {f"bert.{k}": v for k, v in weights.items()}
    prefixed["cls.predictions.bias"] = np.zeros(3, np.float32)
    save_file(prefixed, str(folder / "model.safetensors"))
    got = _embedder(folder).embed_documents(TEXTS)
    assert np.abs(got - model.reference(TEXTS)).max() < 1e-5


def _transformers_bucket(relative: object) -> object:
    from transformers.models.mpnet import modeling_mpnet

    function = getattr(modeling_mpnet, "relative_position_bucket", None)
    if function is None:
        function = modeling_mpnet.MPNetEncoder.relative_position_bucket
    return function(relative, num_buckets=32, max_distance=128)


def test_relative_position_buckets_equal_transformers_on_514_positions() -> None:
    import torch

    position = torch.arange(514, dtype=torch.long)
    relative = position[None, :] - position[:, None]
    want = _transformers_bucket(relative).numpy()  # type: ignore[attr-defined]
    got = relative_position_buckets(514, 32)
    assert got.shape == (514, 514)
    np.testing.assert_array_equal(got, want)
    # Both directions and the far, log-spaced buckets are all used (16 would mean
    # "distance 0, looking backwards", which no pair has).
    assert set(np.unique(got).tolist()) == set(range(32)) - {16}


@pytest.mark.parametrize("model_type", ["gpt2", "roberta", ""])
def test_unsupported_architecture_points_to_the_hf_provider(model_type: str) -> None:
    with pytest.raises(ModelNotFound, match="'hf:' provider"):
        EncoderConfig.from_hf({"model_type": model_type, "hidden_size": 8})


def test_unsupported_model_folder_fails_when_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    config = {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "hidden_size": 8}
    (folder / "config.json").write_text(json.dumps(config))
    save_file({"wte.weight": np.zeros((4, 8), np.float32)}, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text("{}")
    try:
        _embedder(folder).embed_query("hello")
    except ModelNotFound as exc:
        assert "hf:" in str(exc)
    except Exception as exc:  # report the wrong error type as a failed assertion
        raise AssertionError(f"expected ModelNotFound, got {exc!r}") from exc
    else:
        raise AssertionError("an unsupported architecture was embedded")


def test_unsupported_activation_is_rejected() -> None:
    config = {
        "model_type": "bert",
        "hidden_act": "relu",
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
    }
    with pytest.raises(ModelNotFound, match="activation"):
        EncoderConfig.from_hf(config)


def test_spec_name_of_an_explicit_folder_rebuilds_the_same_embedder(
    tiny_model: TinyModelFactory,
) -> None:
    folder = tiny_model("bert").folder
    embedder = _embedder(folder)
    assert embedder.spec.dimensions == HIDDEN
    again = shoal.embedder(embedder.spec.name, quantize=False)
    assert again.spec == embedder.spec
    np.testing.assert_allclose(again.embed_query("cat"), embedder.embed_query("cat"), atol=1e-6)
