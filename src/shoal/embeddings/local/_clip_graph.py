"""Build ONNX graphs of a CLIP model's two towers straight from safetensors, without torch.

The vision graph takes ``pixel_values`` (float32, [batch, 3, size, size], already resized,
cropped and normalised) and returns ``image_embeds``; the text graph takes ``input_ids``
(int64, [batch, seq], one unpadded text per row, ending with the end-of-text token) and
returns ``text_embeds``. Both are L2-normalised projections into the shared space, as
``transformers.CLIPModel`` computes them: pre-LayerNorm transformer layers, the vision
tower pooled at its class token and the text tower at its last (end-of-text) token.
The same reasons as `_graph.py` hold for not using torch.onnx.export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from shoal.embeddings.local._graph import _Graph
from shoal.errors import ModelNotFound

__all__ = ["ClipConfig", "TowerConfig", "build_text_tower", "build_vision_tower"]

_OPSET = 18


@dataclass(frozen=True)
class TowerConfig:
    """One tower's shape: width, depth, heads, activation, LayerNorm epsilon."""

    hidden_size: int
    num_layers: int
    num_heads: int
    activation: str
    layer_norm_eps: float

    @classmethod
    def from_hf(cls, config: dict[str, Any]) -> TowerConfig:
        """Read a `text_config` or `vision_config` dict."""
        activation = str(config.get("hidden_act", "quick_gelu"))
        if activation not in ("quick_gelu", "gelu"):
            raise ModelNotFound(
                f"unsupported CLIP activation {activation!r}; expected quick_gelu or gelu"
            )
        return cls(
            hidden_size=int(config["hidden_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=int(config["num_attention_heads"]),
            activation=activation,
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-5)),
        )


@dataclass(frozen=True)
class ClipConfig:
    """The parts of a CLIP config.json the graphs need."""

    projection_dim: int
    text: TowerConfig
    vision: TowerConfig
    image_size: int
    patch_size: int
    max_positions: int

    @classmethod
    def from_hf(cls, config: dict[str, Any]) -> ClipConfig:
        """Read a CLIP config.json; other architectures (SigLIP, ALIGN) are refused by name."""
        model_type = str(config.get("model_type", ""))
        if model_type != "clip":
            raise ModelNotFound(
                f"the local provider runs CLIP image models (model_type 'clip'), this one is "
                f"{model_type!r}; SigLIP's attention-pooling head is not supported yet"
            )
        text, vision = config.get("text_config") or {}, config.get("vision_config") or {}
        return cls(
            projection_dim=int(config.get("projection_dim", 512)),
            text=TowerConfig.from_hf(text),
            vision=TowerConfig.from_hf(vision),
            image_size=int(vision.get("image_size", 224)),
            patch_size=int(vision.get("patch_size", 32)),
            max_positions=int(text.get("max_position_embeddings", 77)),
        )


def _activation(g: _Graph, x: str, kind: str, tag: str) -> str:
    if kind == "quick_gelu":  # x * sigmoid(1.702 x): OpenAI CLIP's approximation
        scale = g.const(f"qgelu_{tag}", np.array(1.702, np.float32))
        return g.op("Mul", [x, g.op("Sigmoid", [g.op("Mul", [x, scale])])])
    sqrt2 = g.const(f"sqrt2_{tag}", np.array(math.sqrt(2.0), np.float32))
    one = g.const(f"one_{tag}", np.array(1.0, np.float32))
    half = g.const(f"half_{tag}", np.array(0.5, np.float32))
    erf = g.op("Erf", [g.op("Div", [x, sqrt2])])
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, one])]), half])


def _layers(
    g: _Graph, cfg: TowerConfig, w: dict[str, np.ndarray], x: str, prefix: str, *, causal: bool
) -> str:
    for layer in range(cfg.num_layers):
        p = f"{prefix}.encoder.layers.{layer}"
        h = g.layer_norm(x, w, f"{p}.layer_norm1", cfg.layer_norm_eps)
        qkv_w = np.concatenate(
            [w[f"{p}.self_attn.{n}_proj.weight"].T for n in ("q", "k", "v")], axis=1
        ).astype(np.float32)
        qkv_b = np.concatenate([w[f"{p}.self_attn.{n}_proj.bias"] for n in ("q", "k", "v")])
        context = g.op(
            "Attention",
            [
                h,
                g.const(f"{p}.qkv_weight", qkv_w),
                g.const(f"{p}.qkv_bias", qkv_b.astype(np.float32)),
            ],
            domain="com.microsoft",
            num_heads=cfg.num_heads,
            unidirectional=1 if causal else 0,
        )
        x = g.op("Add", [x, g.linear(context, w, f"{p}.self_attn.out_proj")])
        h = g.layer_norm(x, w, f"{p}.layer_norm2", cfg.layer_norm_eps)
        h = _activation(g, g.linear(h, w, f"{p}.mlp.fc1"), cfg.activation, f"{prefix}{layer}")
        x = g.op("Add", [x, g.linear(h, w, f"{p}.mlp.fc2")])
    return x


def _project_and_normalise(g: _Graph, pooled: str, weight: np.ndarray, name: str) -> str:
    projected = g.op("MatMul", [pooled, g.const(name, weight.T.astype(np.float32))])
    norm = g.op(
        "ReduceL2", [projected, g.const(f"{name}_axis", np.array([-1], np.int64))], keepdims=1
    )
    norm = g.op("Max", [norm, g.const(f"{name}_floor", np.array(1e-12, np.float32))])
    return g.op("Div", [projected, norm])


def _model(
    g: _Graph, name: str, inputs: list[onnx.ValueInfoProto], out: str, dims: int
) -> onnx.ModelProto:
    output = f"{name}_embeds"
    g.nodes.append(helper.make_node("Identity", [out], [output], name="output"))
    graph = helper.make_graph(
        g.nodes,
        f"shoal_clip_{name}",
        inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", dims])],
        initializer=g.inits,
    )
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="shoal")
    model.ir_version = 8
    return model


def build_vision_tower(config: dict[str, Any], weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model of CLIP's image side: normalised pixels in, unit image vectors out."""
    cfg = ClipConfig.from_hf(config)
    v = cfg.vision
    w = weights
    g = _Graph()
    pixels = "pixel_values"
    patches = g.op(
        "Conv",
        [
            pixels,
            g.const(
                "patch_embedding",
                w["vision_model.embeddings.patch_embedding.weight"].astype(np.float32),
            ),
        ],
        strides=[cfg.patch_size, cfg.patch_size],
        kernel_shape=[cfg.patch_size, cfg.patch_size],
    )
    flat = g.op(
        "Reshape", [patches, g.const("patch_shape", np.array([0, v.hidden_size, -1], np.int64))]
    )
    tokens = g.op("Transpose", [flat], perm=[0, 2, 1])
    batch = g.op("Shape", [pixels], start=0, end=1)
    cls_shape = g.op(
        "Concat", [batch, g.const("one_by_width", np.array([1, v.hidden_size], np.int64))], axis=0
    )
    cls_row = w["vision_model.embeddings.class_embedding"].astype(np.float32).reshape(1, 1, -1)
    cls = g.op("Expand", [g.const("class_embedding", cls_row), cls_shape])
    x = g.op("Concat", [cls, tokens], axis=1)
    positions = w["vision_model.embeddings.position_embedding.weight"].astype(np.float32)
    x = g.op("Add", [x, g.const("vision_positions", positions)])
    x = g.layer_norm(x, w, "vision_model.pre_layrnorm", v.layer_norm_eps)
    x = _layers(g, v, w, x, "vision_model", causal=False)
    pooled = g.op("Gather", [x, g.const("index0", np.array(0, np.int64))], axis=1)
    pooled = g.layer_norm(pooled, w, "vision_model.post_layernorm", v.layer_norm_eps)
    out = _project_and_normalise(g, pooled, w["visual_projection.weight"], "visual_projection")
    size = cfg.image_size
    inputs = [helper.make_tensor_value_info(pixels, TensorProto.FLOAT, ["batch", 3, size, size])]
    return _model(g, "image", inputs, out, cfg.projection_dim)


def build_text_tower(config: dict[str, Any], weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model of CLIP's text side: token ids (unpadded, ending in end-of-text) in, unit vectors out."""
    cfg = ClipConfig.from_hf(config)
    t = cfg.text
    w = weights
    g = _Graph()
    ids = "input_ids"
    table = w["text_model.embeddings.token_embedding.weight"].astype(np.float32)
    x = g.op("Gather", [g.const("token_embedding", table), ids])
    seq_len = g.op("Shape", [ids], start=1, end=2)
    zero = g.const("zero_1d", np.zeros(1, np.int64))
    positions = w["text_model.embeddings.position_embedding.weight"].astype(np.float32)
    x = g.op("Add", [x, g.op("Slice", [g.const("text_positions", positions), zero, seq_len, zero])])
    x = _layers(g, t, w, x, "text_model", causal=True)
    x = g.layer_norm(x, w, "text_model.final_layer_norm", t.layer_norm_eps)
    pooled = g.op("Gather", [x, g.const("index_last", np.array(-1, np.int64))], axis=1)
    out = _project_and_normalise(g, pooled, w["text_projection.weight"], "text_projection")
    inputs = [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "sequence"])]
    return _model(g, "text", inputs, out, cfg.projection_dim)
