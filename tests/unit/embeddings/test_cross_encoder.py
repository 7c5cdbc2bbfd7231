"""The cross-encoder on ONNX Runtime against sentence-transformers' CrossEncoder, on a tiny random BERT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import shoal
from shoal.embeddings.local._cross_encoder import LocalCrossEncoder
from shoal.errors import ModelNotFound

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "in",
    "is",
    "was",
    "cat",
    "dog",
    "mat",
    "sat",
    "on",
    "what",
    "when",
    "where",
    "who",
    "born",
    "year",
    "city",
    "river",
    "paris",
    "france",
    "capital",
    "protein",
    "cell",
    "gene",
    "cancer",
    "study",
]
QUERY = "when was the cat born?"
PASSAGES = [
    "the cat sat on the mat in 1990.",
    "paris is the capital of france",
    "a study of protein in cancer cell",
    "what year was the dog born",
    "gene",
    "the " * 100 + "river city",  # longer than the window: truncated longest-first
]


def _save_tiny_cross_encoder(folder: Path, *, labels: int = 1, seed: int = 0) -> Path:
    """A random 2-layer BertForSequenceClassification with its tokenizer, saved with safetensors."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    letters = [chr(c) for c in range(97, 123)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *letters]
    vocab += [f"##{c}" for c in letters] + list(".,?!0123456789")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(
        vocab_file=str(folder / "vocab.txt"), model_max_length=64
    )
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=labels,
        initializer_range=0.3,  # spread the random logits, so the ranking is not all ties
    )
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


def _reference(folder: Path, **options: object) -> np.ndarray:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    model = sentence_transformers.CrossEncoder(str(folder), device="cpu", **options)
    return np.asarray(model.predict([(QUERY, p) for p in PASSAGES]), dtype=np.float32)


def _same_ranking_up_to_near_ties(ours: np.ndarray, reference: np.ndarray) -> None:
    for i in range(len(ours)):
        for j in range(len(ours)):
            if reference[i] - reference[j] > 1e-4:
                assert ours[i] > ours[j], (i, j, ours, reference)


@pytest.mark.slow
@pytest.mark.numeric
def test_scores_match_sentence_transformers_cross_encoder(tiny: Path) -> None:
    ours = LocalCrossEncoder(str(tiny)).predict(QUERY, PASSAGES)
    reference = _reference(tiny)
    assert ours.dtype == np.float32 and ours.shape == (len(PASSAGES),)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert float(reference.max() - reference.min()) > 1e-3  # a ranking worth comparing
    _same_ranking_up_to_near_ties(ours, reference)


@pytest.mark.slow
@pytest.mark.numeric
def test_reranker_by_name_orders_hits_as_the_reference_does(tiny: Path) -> None:
    reranker = shoal.reranker(f"cross-encoder:{tiny}")
    assert reranker.name == f"cross-encoder:{tiny.resolve()}"
    hits = [shoal.Hit(id=str(i), text=p, metadata={}, score=0.0) for i, p in enumerate(PASSAGES)]
    ranked = reranker.rerank(QUERY, hits, k=3)
    reference = _reference(tiny)
    assert [h.id for h in ranked] == [str(i) for i in np.argsort(-reference, kind="stable")[:3]]
    np.testing.assert_allclose([h.score for h in ranked], np.sort(reference)[::-1][:3], atol=1e-4)


@pytest.mark.slow
@pytest.mark.numeric
def test_the_configs_activation_is_applied_as_sentence_transformers_does(tmp_path: Path) -> None:
    folder = _save_tiny_cross_encoder(tmp_path / "identity", seed=1)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity"}
    (folder / "config.json").write_text(json.dumps(config))
    model = LocalCrossEncoder(str(folder))
    logits = model.predict(QUERY, PASSAGES)
    assert model.activation == "identity"
    np.testing.assert_allclose(logits, _reference(folder), atol=1e-4)
    sigmoid = LocalCrossEncoder(str(folder), activation="sigmoid").predict(QUERY, PASSAGES)
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-logits)), atol=1e-6)


@pytest.mark.slow
def test_a_classifier_with_several_labels_is_refused(tmp_path: Path) -> None:
    folder = _save_tiny_cross_encoder(tmp_path / "nli", labels=3)
    with pytest.raises(ModelNotFound, match="3 labels; a reranker needs"):
        LocalCrossEncoder(str(folder)).predict(QUERY, ["x"])


def test_a_model_not_here_offline_names_the_ways_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_OFFLINE", "1")
    reranker = shoal.reranker("cross-encoder:ms-marco-MiniLM-L6-v2")
    hits = [shoal.Hit(id="a", text="text", metadata={}, score=0.0)]
    with pytest.raises(ModelNotFound) as caught:
        reranker.rerank("q", hits)
    message = str(caught.value)
    assert "cross-encoder/ms-marco-MiniLM-L6-v2" in message and "offline mode is on" in message
    assert "shoal.reranker('cross-encoder:/path/to/ms-marco-MiniLM-L6-v2')" in message


def test_an_empty_passage_list_loads_nothing() -> None:
    assert LocalCrossEncoder("not/loaded").predict("q", []).shape == (0,)
