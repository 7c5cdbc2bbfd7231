"""Build a model's ONNX graph once (fp32, and int8 where chosen) and keep it in Shoal's cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shoal._atomic import atomic_write
from shoal.errors import MissingDependency, ModelNotFound
from shoal.settings import cache_dir
from shoal.types import Pooling

__all__ = ["GRAPH_VERSION", "ModelLayout", "onnx_path"]

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


def _fingerprint(layout: ModelLayout) -> str:
    weights = layout.folder / "model.safetensors"
    stat = weights.stat()
    key = json.dumps(
        [GRAPH_VERSION, str(weights.resolve()), stat.st_size, stat.st_mtime_ns,
         layout.config, layout.pooling, layout.normalize],
        sort_keys=True,
    )  # fmt: skip
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


def onnx_path(layout: ModelLayout, *, name: str, quantize: bool, rebuild: bool = False) -> Path:
    """The cached ONNX graph for `layout`, built (and quantised) on first use or when `rebuild`."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    base = cache_dir() / "onnx" / f"{safe}-{_fingerprint(layout)}"
    fp32 = base.with_name(base.name + "-fp32.onnx")
    int8 = base.with_name(base.name + "-int8.onnx")
    if rebuild:
        for stale in (fp32, int8):
            stale.unlink(missing_ok=True)
    if not fp32.is_file():
        # Needed only on a cache miss; importing them lazily keeps a cold start fast.
        import onnx
        from safetensors.numpy import load_file

        from shoal.embeddings.local._graph import build_encoder

        try:
            weights = load_file(str(layout.folder / "model.safetensors"))
        except Exception as exc:  # safetensors raises its own error types
            raise ModelNotFound(
                f"cannot read the weights in {layout.folder} ({exc}); reinstall or re-download the model"
            ) from exc
        model = build_encoder(
            layout.config, weights, pooling=layout.pooling, normalize=layout.normalize
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
