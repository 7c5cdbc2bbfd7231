"""Build an ONNX graph of a BERT or MPNet sentence encoder straight from safetensors, without torch.

The graph takes ``input_ids`` and ``attention_mask`` (int64, [batch, seq]) and
returns ``sentence_embedding`` ([batch, hidden]): the transformer, then pooling
and normalisation exactly as sentence-transformers computes them (masked mean with
a 1e-9 floor on the token count; x / max(||x||, 1e-12)).

A BERT cross-encoder (``BertForSequenceClassification``) gets `build_cross_encoder`:
the same transformer reading a (query, passage) pair, with ``token_type_ids`` marking
the passage, then BERT's pooler (dense + tanh on [CLS]) and the classifier, returning
``logits`` ([batch, labels]).

Why not torch.onnx.export: it needs torch and transformers (gigabytes) for a
one-time step, and its output changes with torch releases. The two architectures
are a few dozen standard operators; writing them here keeps the default install
torch-free, and the test suite checks the result against sentence-transformers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shoal.errors import ModelNotFound
from shoal.types import Pooling

__all__ = [
    "EncoderConfig",
    "build_cross_encoder",
    "build_encoder",
    "fp32_matmuls",
    "relative_position_buckets",
]

_OPSET = 18


@dataclass(frozen=True)
class EncoderConfig:
    """The parts of a Hugging Face config.json the graph needs."""

    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    layer_norm_eps: float
    pad_token_id: int
    max_positions: int
    relative_buckets: int = 32

    @classmethod
    def from_hf(cls, config: dict[str, Any]) -> EncoderConfig:
        """Read a config.json dict; only BERT and MPNet encoders are supported."""
        model_type = str(config.get("model_type", ""))
        if model_type not in ("bert", "mpnet"):
            raise ModelNotFound(
                f"the local provider runs BERT and MPNet encoders, this model is {model_type!r}; "
                "use the 'hf:' provider (sentence-transformers) for other architectures"
            )
        if config.get("hidden_act", "gelu") != "gelu":
            raise ModelNotFound(
                f"unsupported activation {config.get('hidden_act')!r}; expected gelu"
            )
        if model_type == "bert" and config.get("position_embedding_type", "absolute") != "absolute":
            raise ModelNotFound("only absolute position embeddings are supported for BERT models")
        return cls(
            model_type=model_type,
            hidden_size=int(config["hidden_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=int(config["num_attention_heads"]),
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            pad_token_id=int(config.get("pad_token_id", 0)),
            max_positions=int(config["max_position_embeddings"]),
            relative_buckets=int(config.get("relative_attention_num_buckets", 32)),
        )


def relative_position_buckets(
    length: int, num_buckets: int = 32, max_distance: int = 128
) -> np.ndarray:
    """MPNet's bidirectional relative-position buckets for every (query, key) pair, in float32 as torch does."""
    position = np.arange(length, dtype=np.int64)
    relative = position[None, :] - position[:, None]
    n = -relative
    half = num_buckets // 2
    ret = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    max_exact = half // 2
    with np.errstate(divide="ignore"):
        scaled = (
            np.log(n.astype(np.float32) / np.float32(max_exact))
            / np.float32(math.log(max_distance / max_exact))
            * np.float32(half - max_exact)
        )
    large = max_exact + np.where(n < max_exact, 0, scaled).astype(np.int64)
    large = np.minimum(large, half - 1)
    return ret + np.where(n < max_exact, n, large)


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        # np.ascontiguousarray would turn a 0-d index into [i] and change the output rank.
        self.inits.append(numpy_helper.from_array(np.asarray(value, order="C"), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, weights: dict[str, np.ndarray], prefix: str, *, name: str = "") -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        w = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"].T.astype(np.float32))
        b = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        if name:  # a MatMul the quantiser must find by name
            self.nodes.append(helper.make_node("MatMul", [x, w], [name], name=name))
            return self.op("Add", [name, b])
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        scale = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"].astype(np.float32))
        bias = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)


@dataclass(frozen=True)
class _Masks:
    """Per-forward attention inputs shared by every layer."""

    index: str
    position_bias: str = ""


def _names(model_type: str, layer: int) -> dict[str, str]:
    p = f"encoder.layer.{layer}"
    if model_type == "bert":
        return {
            "q": f"{p}.attention.self.query", "k": f"{p}.attention.self.key",
            "v": f"{p}.attention.self.value", "o": f"{p}.attention.output.dense",
            "ln1": f"{p}.attention.output.LayerNorm", "ffn_in": f"{p}.intermediate.dense",
            "ffn_out": f"{p}.output.dense", "ln2": f"{p}.output.LayerNorm",
        }  # fmt: skip
    return {
        "q": f"{p}.attention.attn.q", "k": f"{p}.attention.attn.k",
        "v": f"{p}.attention.attn.v", "o": f"{p}.attention.attn.o",
        "ln1": f"{p}.attention.LayerNorm", "ffn_in": f"{p}.intermediate.dense",
        "ffn_out": f"{p}.output.dense", "ln2": f"{p}.output.LayerNorm",
    }  # fmt: skip


def _ffn_out_name(layer: int) -> str:
    return f"layer{layer}.ffn_out.matmul"


def fp32_matmuls(config: dict[str, Any]) -> list[str]:
    """The MatMul nodes an int8 graph keeps in fp32: the FFN output of the first half of the layers.

    They multiply GELU outputs, whose few large values stretch the per-tensor uint8 scale
    of dynamic quantisation, and the error they make early is carried through every later
    layer. Measured on all-MiniLM-L6-v2 (bench/int8_accuracy.py), leaving these three of
    its 24 quantised ops in fp32 raised the mean cosine to sentence-transformers from 0.990
    to 0.9935 on AVX2 kernels for 7% of int8's speed; removing any other single op gained
    less than the weakest of them.
    """
    layers = EncoderConfig.from_hf(config).num_layers
    return [_ffn_out_name(layer) for layer in range((layers + 1) // 2)]


def _strip_prefix(weights: dict[str, np.ndarray], model_type: str) -> dict[str, np.ndarray]:
    # Checkpoints saved from a task model prefix every name with "bert." / "mpnet.".
    prefix = f"{model_type}."
    if "embeddings.word_embeddings.weight" in weights:
        return weights
    return {k.removeprefix(prefix): v for k, v in weights.items()}


def _embeddings(
    g: _Graph, cfg: EncoderConfig, w: dict[str, np.ndarray], ids: str, token_types: str = ""
) -> str:
    word = g.op("Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), ids])
    positions_table = w["embeddings.position_embeddings.weight"].astype(np.float32)
    if cfg.model_type == "bert":
        types_table = w["embeddings.token_type_embeddings.weight"].astype(np.float32)
        if token_types:  # a pair: segment 1 marks the second text
            types = g.op("Gather", [g.const("token_type_embeddings", types_table), token_types])
        else:  # single-segment input: every token has type 0, a constant row
            types = g.const("token_type_0", types_table[0])
        # Positions 0..L-1 are the first L rows of the table.
        seq_len = g.op("Shape", [ids], start=1, end=2)
        zero = g.const("zero_1d", np.zeros(1, np.int64))
        pos = g.op("Slice", [g.const("position_embeddings", positions_table), zero, seq_len, zero])
        summed = g.op("Add", [g.op("Add", [word, pos]), types])
    else:
        # RoBERTa-style ids: padding_idx + running count of non-pad tokens; pads keep padding_idx.
        pad = g.const("pad_id", np.array(cfg.pad_token_id, np.int64))
        not_pad = g.op("Cast", [g.op("Not", [g.op("Equal", [ids, pad])])], to=TensorProto.INT64)
        count = g.op("CumSum", [not_pad, g.const("axis1", np.array(1, np.int64))])
        positions = g.op("Add", [g.op("Mul", [count, not_pad]), pad])
        pos = g.op("Gather", [g.const("position_embeddings", positions_table), positions])
        summed = g.op("Add", [word, pos])
    return g.layer_norm(summed, w, "embeddings.LayerNorm", cfg.layer_norm_eps)


def _position_bias(g: _Graph, cfg: EncoderConfig, w: dict[str, np.ndarray], ids: str) -> str:
    table = relative_position_buckets(cfg.max_positions, cfg.relative_buckets)
    seq_len = g.op("Shape", [ids], start=1, end=2)
    zeros = g.const("zeros_2", np.zeros(2, np.int64))
    length2 = g.op("Concat", [seq_len, seq_len], axis=0)
    buckets = g.op("Slice", [g.const("relative_buckets", table), zeros, length2])
    bias_table = w["encoder.relative_attention_bias.weight"].astype(np.float32)  # [buckets, heads]
    values = g.op("Gather", [g.const("relative_attention_bias", bias_table), buckets])  # [L, L, H]
    return g.op(
        "Unsqueeze",
        [g.op("Transpose", [values], perm=[2, 0, 1]), g.const("axis0", np.array([0], np.int64))],
    )


def _layer(
    g: _Graph, cfg: EncoderConfig, w: dict[str, np.ndarray], x: str, layer: int, masks: _Masks
) -> str:
    n = _names(cfg.model_type, layer)
    # ORT's fused Attention kernel (packed QKV projection, per-head softmax(QK^T/sqrt(d) + bias) V)
    # quantises to QAttention; measured faster here than MultiHeadAttention or plain ops.
    qkv_w = np.concatenate([w[f"{n[p]}.weight"].T for p in ("q", "k", "v")], axis=1).astype(
        np.float32
    )
    qkv_b = np.concatenate([w[f"{n[p]}.bias"] for p in ("q", "k", "v")]).astype(np.float32)
    inputs = [
        x,
        g.const(f"{n['q']}.qkv_weight", qkv_w),
        g.const(f"{n['q']}.qkv_bias", qkv_b),
        masks.index,
    ]
    if masks.position_bias:
        inputs += ["", masks.position_bias]
    context = g.op("Attention", inputs, domain="com.microsoft", num_heads=cfg.num_heads)
    x = g.layer_norm(
        g.op("Add", [g.linear(context, w, n["o"]), x]), w, n["ln1"], cfg.layer_norm_eps
    )
    h = g.linear(x, w, n["ffn_in"])
    # Exact (erf) GELU, the form ORT fuses into one Gelu kernel.
    sqrt2 = g.const(f"sqrt2_{layer}", np.array(math.sqrt(2.0), np.float32))
    one = g.const(f"one_{layer}", np.array(1.0, np.float32))
    half = g.const(f"half_{layer}", np.array(0.5, np.float32))
    gelu = g.op(
        "Mul", [g.op("Mul", [h, g.op("Add", [g.op("Erf", [g.op("Div", [h, sqrt2])]), one])]), half]
    )
    ffn_out = g.linear(gelu, w, n["ffn_out"], name=_ffn_out_name(layer))
    return g.layer_norm(g.op("Add", [ffn_out, x]), w, n["ln2"], cfg.layer_norm_eps)


def _pool(g: _Graph, x: str, mask_f: str, pooling: Pooling, normalize: bool) -> str:
    mask3 = g.op("Unsqueeze", [mask_f, g.const("axis_last", np.array([-1], np.int64))])
    axis1 = g.const("reduce_axis1", np.array([1], np.int64))
    if pooling == "mean":
        summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), axis1], keepdims=0)
        count = g.op("ReduceSum", [mask3, axis1], keepdims=0)
        count = g.op("Max", [count, g.const("count_floor", np.array(1e-9, np.float32))])
        pooled = g.op("Div", [summed, count])
    elif pooling == "cls":
        pooled = g.op("Gather", [x, g.const("index0", np.array(0, np.int64))], axis=1)
    else:
        ones = g.const("ones_f", np.array(1.0, np.float32))
        penalty = g.op(
            "Mul", [g.op("Sub", [ones, mask3]), g.const("neg_big", np.array(-1e9, np.float32))]
        )
        pooled = g.op("ReduceMax", [g.op("Add", [x, penalty]), axis1], keepdims=0)
    if not normalize:
        return pooled
    norm = g.op("ReduceL2", [pooled, g.const("axis_neg1", np.array([-1], np.int64))], keepdims=1)
    norm = g.op("Max", [norm, g.const("norm_floor", np.array(1e-12, np.float32))])
    return g.op("Div", [pooled, norm])


def build_encoder(
    config: dict[str, Any], weights: dict[str, np.ndarray], *, pooling: Pooling, normalize: bool
) -> onnx.ModelProto:
    """The ONNX model of a sentence encoder with its pooling and optional normalisation."""
    cfg = EncoderConfig.from_hf(config)
    w = _strip_prefix(weights, cfg.model_type)
    g = _Graph()
    ids, mask = "input_ids", "attention_mask"
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    # The Attention kernel takes the raw [B, L] 0/1 mask and adds -10000 where it is 0:
    # exp(-10000) is 0 in float32, so this equals transformers' float32-min mask.
    masks = _Masks(index=g.op("Cast", [mask], to=TensorProto.INT32))
    if cfg.model_type == "mpnet":
        masks = _Masks(index=masks.index, position_bias=_position_bias(g, cfg, w, ids))
    x = _embeddings(g, cfg, w, ids)
    for layer in range(cfg.num_layers):
        x = _layer(g, cfg, w, x, layer, masks)
    out = _pool(g, x, mask_f, pooling, normalize)
    g.nodes.append(helper.make_node("Identity", [out], ["sentence_embedding"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        f"shoal_{cfg.model_type}_encoder",
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "sequence"]),
        ],
        [
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", cfg.hidden_size]
            )
        ],
        initializer=g.inits,
    )
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="shoal")
    model.ir_version = 8
    return model


def _int64_input(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])


def build_cross_encoder(config: dict[str, Any], weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model of a BERT cross-encoder: a (query, passage) pair in, its logits out.

    Inputs ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, [batch, seq]);
    output ``logits`` ([batch, num_labels]), before any activation.

    Raises:
        ModelNotFound: not a BERT sequence classifier (``BertForSequenceClassification``).
    """
    cfg = EncoderConfig.from_hf(config)
    w = _strip_prefix(weights, cfg.model_type)
    if cfg.model_type != "bert" or "classifier.weight" not in w or "pooler.dense.weight" not in w:
        raise ModelNotFound(
            "the cross-encoder runs BERT sequence classifiers (BertForSequenceClassification, "
            "e.g. cross-encoder/ms-marco-MiniLM-L6-v2); this model has no BERT pooler and "
            "classifier weights"
        )
    labels = int(w["classifier.weight"].shape[0])
    g = _Graph()
    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    masks = _Masks(index=g.op("Cast", [mask], to=TensorProto.INT32))
    x = _embeddings(g, cfg, w, ids, token_types=types)
    for layer in range(cfg.num_layers):
        x = _layer(g, cfg, w, x, layer, masks)
    cls = g.op("Gather", [x, g.const("index0", np.array(0, np.int64))], axis=1)
    pooled = g.op("Tanh", [g.linear(cls, w, "pooler.dense")])
    logits = g.linear(pooled, w, "classifier")
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        f"shoal_{cfg.model_type}_cross_encoder",
        [_int64_input(ids), _int64_input(mask), _int64_input(types)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", labels])],
        initializer=g.inits,
    )
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="shoal")
    model.ir_version = 8
    return model
