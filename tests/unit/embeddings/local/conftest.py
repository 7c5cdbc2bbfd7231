"""Tiny random BERT and MPNet sentence-transformers folders, with a torch reference to compare against."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

HIDDEN = 32
POSITIONS = 64

_WORDS = [
    "the", "a", "is", "on", "in", "there", "cat", "dog", "mat", "yard", "sat", "sitting",
    "red", "green", "blue", "car", "tree", "house", "run", "fast", "slow", "near", "and", "of",
    "to",
]  # fmt: skip
_LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")


@dataclass
class TinyModel:
    """A saved tiny model folder and the torch model it was saved from."""

    folder: Path
    kind: str
    pooling: str
    normalize: bool
    torch_model: Any
    tokenizer: Tokenizer
    window: int
    hidden: int = HIDDEN

    def reference(self, texts: Sequence[str]) -> np.ndarray:
        """What sentence-transformers computes: transformer, masked pooling, optional L2 normalisation."""
        import torch

        tokenizer = Tokenizer.from_str(self.tokenizer.to_str())
        pad_id = self.torch_model.config.pad_token_id
        tokenizer.enable_truncation(max_length=self.window)
        tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id))
        encodings = tokenizer.encode_batch([t.strip() for t in texts])
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        with torch.no_grad():
            hidden = self.torch_model(input_ids=ids, attention_mask=mask).last_hidden_state
        mask3 = mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "mean":
            pooled = (hidden * mask3).sum(1) / mask3.sum(1).clamp(min=1e-9)
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = hidden.masked_fill(mask3 == 0, -1e9).max(dim=1).values
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.numpy()


def _tokenizer(kind: str) -> Tokenizer:
    if kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        cls, sep, unk = "[CLS]", "[SEP]", "[UNK]"
    else:
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        cls, sep, unk = "<s>", "</s>", "<unk>"
    tokens = list(dict.fromkeys(specials + _WORDS + _LETTERS + [f"##{c}" for c in _LETTERS]))
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=unk))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])]
    )
    return tokenizer


def write_sentence_transformers_files(folder: Path, *, pooling: str, normalize: bool) -> None:
    """modules.json and 1_Pooling/config.json as sentence-transformers saves them."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling_config = {
        "word_embedding_dimension": HIDDEN,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))


def build_tiny_model(
    folder: Path, kind: str, *, pooling: str = "mean", normalize: bool = True, seed: int = 0
) -> TinyModel:
    """Save a random 2-layer, 32-wide BERT or MPNet with its tokenizer and pooling config."""
    import torch
    from transformers import BertConfig, BertModel, MPNetConfig, MPNetModel

    tokenizer = _tokenizer(kind)
    common: dict[str, Any] = {
        "vocab_size": tokenizer.get_vocab_size(),
        "hidden_size": HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": POSITIONS,
    }
    torch.manual_seed(seed)
    if kind == "bert":
        model: Any = BertModel(BertConfig(pad_token_id=0, **common), add_pooling_layer=False)
        window = POSITIONS
    else:
        config = MPNetConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, **common)
        model = MPNetModel(config, add_pooling_layer=False)
        window = POSITIONS - 2
    with torch.no_grad():
        # Initial LayerNorms are the identity and biases zero: perturb every weight so each counts.
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.eval()
    folder.mkdir(parents=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    write_sentence_transformers_files(folder, pooling=pooling, normalize=normalize)
    return TinyModel(folder, kind, pooling, normalize, model, tokenizer, window)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., TinyModel]:
    """`tiny_model(kind, pooling=..., normalize=...)`: a tiny model built once per variant per session."""
    built: dict[tuple[str, str, bool], TinyModel] = {}

    def make(kind: str, *, pooling: str = "mean", normalize: bool = True) -> TinyModel:
        key = (kind, pooling, normalize)
        if key not in built:
            folder = tmp_path_factory.mktemp("tiny") / f"{kind}-{pooling}-{int(normalize)}"
            built[key] = build_tiny_model(folder, kind, pooling=pooling, normalize=normalize)
        return built[key]

    return make


@pytest.fixture(scope="session")
def build_tiny() -> Callable[..., TinyModel]:
    """`build_tiny(folder, kind, seed=...)`: save a fresh tiny model into `folder`."""
    return build_tiny_model


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Shoal cache for this test alone."""
    cache = tmp_path / "shoal-cache"
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(cache))
    return cache
