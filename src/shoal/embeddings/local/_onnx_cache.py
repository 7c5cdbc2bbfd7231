"""Build a model's ONNX graph once (fp32, and int8 where chosen) and keep it in Shoal's cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from shoal._atomic import atomic_write
from shoal.errors import EmbeddingError, MissingDependency, ModelNotFound, ShoalError
from shoal.settings import cache_dir
from shoal.types import Pooling

__all__ = ["GRAPH_VERSION", "GraphTask", "ModelLayout", "onnx_path", "onnx_session"]

GraphTask = Literal["embed", "score"]
"""What a graph computes: sentence vectors (an encoder) or pair logits (a cross-encoder)."""

GRAPH_VERSION = 2
"""Bump whenever _graph.py or the quantisation changes what is built, so cached graphs are rebuilt.

2: the int8 graph keeps the first half of the layers' FFN output MatMuls in fp32 (fp32_matmuls).
"""


class ModelLayout:
    """What a sentence-transformers folder says about pooling, normalisation and window."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config: dict[str, Any] = _read_json(folder / "config.json")
        modules = _read_json(folder / "modules.json") if (folder / "modules.json").is_file() else []
        self.normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
        pooling_dir = next(
            (folder / m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling")),
            folder / "1_Pooling",
        )
        pooling_cfg = (
            _read_json(pooling_dir / "config.json")
            if (pooling_dir / "config.json").is_file()
            else {}
        )
        self.pooling: Pooling = (
            "cls" if pooling_cfg.get("pooling_mode_cls_token")
            else "max" if pooling_cfg.get("pooling_mode_max_tokens")
            else "mean"
        )  # fmt: skip
        st_cfg = folder / "sentence_bert_config.json"
        window = int(self.config.get("max_position_embeddings", 512))
        if self.config.get("model_type") == "mpnet" or self.config.get("pad_token_id") == 1:
            window -= 2  # RoBERTa-style position ids start after the padding index
        self.max_seq_length = min(
            int(_read_json(st_cfg).get("max_seq_length", window)) if st_cfg.is_file() else window,
            window,
        )
        self.dimensions = int(self.config["hidden_size"])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFound(
            f"cannot read {path} ({exc}); the model folder is incomplete or corrupt"
        ) from exc


def _fingerprint(layout: ModelLayout, task: GraphTask) -> str:
    weights = layout.folder / "model.safetensors"
    stat = weights.stat()
    parts = [GRAPH_VERSION, str(weights.resolve()), stat.st_size, stat.st_mtime_ns,
             layout.config, layout.pooling, layout.normalize]  # fmt: skip
    if task != "embed":  # encoders keep the key (and the graphs already cached) they had
        parts.append(task)
    key = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Swallow the quantiser's root-logger advice without letting it call logging.basicConfig."""
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)  # a root logger with a handler is never auto-configured
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous)
        root.removeHandler(handler)


def onnx_path(
    layout: ModelLayout,
    *,
    name: str,
    quantize: bool,
    rebuild: bool = False,
    task: GraphTask = "embed",
) -> Path:
    """The cached ONNX graph for `layout`, built (and quantised) on first use or when `rebuild`.

    `task` "embed" builds the sentence encoder, "score" the cross-encoder (pair logits).
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    suffix = "" if task == "embed" else f"-{task}"
    base = cache_dir() / "onnx" / f"{safe}{suffix}-{_fingerprint(layout, task)}"
    fp32 = base.with_name(base.name + "-fp32.onnx")
    int8 = base.with_name(base.name + "-int8.onnx")
    if rebuild:
        for stale in (fp32, int8):
            stale.unlink(missing_ok=True)
    if not fp32.is_file():
        # Needed only on a cache miss; importing them lazily keeps a cold start fast.
        import onnx
        from safetensors.numpy import load_file

        from shoal.embeddings.local._graph import build_cross_encoder, build_encoder

        try:
            weights = load_file(str(layout.folder / "model.safetensors"))
        except Exception as exc:  # safetensors raises its own error types
            raise ModelNotFound(
                f"cannot read the weights in {layout.folder} ({exc}); reinstall or re-download the model"
            ) from exc
        model = (
            build_cross_encoder(layout.config, weights)
            if task == "score"
            else build_encoder(
                layout.config, weights, pooling=layout.pooling, normalize=layout.normalize
            )
        )
        atomic_write(fp32, lambda p: onnx.save(model, p))
    if not quantize:
        return fp32
    if not int8.is_file():
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError as exc:  # pragma: no cover - part of onnxruntime
            raise MissingDependency(
                "int8 models need onnxruntime's quantization tools: pip install onnxruntime"
            ) from exc
        from shoal.embeddings.local._graph import fp32_matmuls

        # Per-channel int8 weights on MatMul and Attention; per-tensor scales or quantised
        # embedding tables lose accuracy (DESIGN.md: per-tensor cosine 0.955). The most
        # sensitive MatMuls stay fp32 (fp32_matmuls).
        with _quiet_root_logger():
            atomic_write(
                int8,
                lambda p: quantize_dynamic(
                    str(fp32),
                    p,
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul", "Attention"],
                    nodes_to_exclude=fp32_matmuls(layout.config),
                    # Shape inference cannot type the contrib Attention op's outputs.
                    extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
                ),
            )
    return int8


def onnx_session(
    layout: ModelLayout, *, name: str, quantize: bool, task: GraphTask = "embed"
) -> Any:
    """An ONNX Runtime session on `layout`'s cached graph: one thread, errors-only logging.

    A cached graph that ONNX Runtime cannot load (damaged outside Shoal: disk full, edited)
    is derived, so it is rebuilt once before giving up.

    Raises:
        EmbeddingError: ONNX Runtime cannot load even a freshly built graph.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependency(
            "local models need onnxruntime and tokenizers: pip install onnxruntime tokenizers"
        ) from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one thread a text; callers spread texts over workers
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: shape-merge notes are not the user's concern
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    def open_session(rebuild: bool) -> Any:
        model_file = onnx_path(layout, name=name, quantize=quantize, rebuild=rebuild, task=task)
        return ort.InferenceSession(
            str(model_file),
            options,
            providers=["CPUExecutionProvider"],
            # Fused SkipLayerNormalization measured ~15% slower than Add + LayerNormalization
            # on this CPU (bench/embed_throughput.py); keep the two ops.
            disabled_optimizers=["SkipLayerNormFusion"],
        )

    try:
        return open_session(rebuild=False)
    except ShoalError:
        raise  # the model itself is unusable: rebuilding would not help
    except Exception:  # onnxruntime's errors are untyped
        try:
            return open_session(rebuild=True)
        except ShoalError:
            raise
        except Exception as exc:
            raise EmbeddingError(
                f"ONNX Runtime cannot load the graph built for {name}: {exc}; "
                "check that onnxruntime is installed correctly (pip install -U onnxruntime)"
            ) from exc
