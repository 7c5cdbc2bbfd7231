"""`local:` CLIP models: images and texts in one space, on ONNX Runtime, resolved like text models.

A CLIP folder is a Hugging Face CLIP checkpoint (config.json with model_type "clip",
model.safetensors, tokenizer.json, preprocessor_config.json). It is found as text models
are (explicit folder, Hugging Face cache, the hub for online users); no PyPI package
carries CLIP weights. The two towers are built as ONNX graphs on first use and cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shoal._atomic import atomic_write
from shoal._checks import needs
from shoal._machine import simd_level
from shoal.embeddings._base import Embedder
from shoal.embeddings.local._resolve import resolve_model_dir
from shoal.errors import ConfigurationError, EmbeddingError, ModelNotFound
from shoal.settings import cache_dir, num_threads
from shoal.types import EmbedderSpec, TextKind

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["CLIP_MODELS", "ClipEmbedder", "ClipPreprocess", "is_clip_model"]

CLIP_MODELS: dict[str, tuple[str, int]] = {
    "clip-vit-base-patch32": ("openai/clip-vit-base-patch32", 512),
    "clip-vit-base-patch16": ("openai/clip-vit-base-patch16", 512),
    "clip-vit-large-patch14": ("openai/clip-vit-large-patch14", 768),
}
"""Short names of CLIP models: their Hugging Face id and vector size."""

_GRAPH_VERSION = 1
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"cannot read {path} ({exc}); the model folder is incomplete") from exc
    return data


def is_clip_model(model: str, path: str | os.PathLike[str] | None = None) -> bool:
    """Whether `local:<model>` names a CLIP model: a short name, a CLIP folder, or an id containing 'clip'."""
    folder = Path(path).expanduser() if path is not None else Path(model).expanduser()
    if folder.is_dir():
        config = folder / "config.json"
        return config.is_file() and _read_json(config).get("model_type") == "clip"
    return model in CLIP_MODELS or "clip" in model.lower().rsplit("/", 1)[-1]


def _size(value: Any, key: str) -> int:
    if isinstance(value, dict):
        return int(value[key] if key in value else value.get("height", 224))
    return int(value)


@dataclass(frozen=True)
class ClipPreprocess:
    """CLIP's image preprocessing, as transformers' CLIP processor (PIL backend) does it.

    Resize the shorter side to `size` (the longer to int(size * long / short)) with
    `resample` (bicubic), crop the centre `crop` x `crop` (offsets rounded down), scale to
    0..1 and normalise each channel with `mean` and `std`.
    """

    size: int = 224
    crop: int = 224
    mean: tuple[float, float, float] = _OPENAI_MEAN
    std: tuple[float, float, float] = _OPENAI_STD
    resample: int = 3  # PIL's BICUBIC

    @classmethod
    def from_folder(cls, folder: Path, *, image_size: int) -> ClipPreprocess:
        """Read preprocessor_config.json (OpenAI's CLIP values where it is absent)."""
        path = folder / "preprocessor_config.json"
        if not path.is_file():
            return cls(size=image_size, crop=image_size)
        cfg = _read_json(path)
        mean = tuple(float(v) for v in cfg.get("image_mean", _OPENAI_MEAN))
        std = tuple(float(v) for v in cfg.get("image_std", _OPENAI_STD))
        if len(mean) != 3 or len(std) != 3:
            raise ModelNotFound(f"{path}: image_mean and image_std need three values each")
        return cls(
            size=_size(cfg.get("size", image_size), "shortest_edge"),
            crop=_size(cfg.get("crop_size", image_size), "height"),
            mean=(mean[0], mean[1], mean[2]),
            std=(std[0], std[1], std[2]),
            resample=int(cfg.get("resample", 3)),
        )

    def __call__(self, images: list[Image]) -> np.ndarray:
        """RGB images to a float32 (n, 3, crop, crop) array of normalised pixels."""
        out = np.empty((len(images), 3, self.crop, self.crop), dtype=np.float32)
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        for i, image in enumerate(images):
            width, height = image.size
            short, long = (width, height) if width <= height else (height, width)
            new_short, new_long = self.size, int(self.size * long / short)
            new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
            resized = image.resize((new_w, new_h), resample=self.resample)
            top, left = (new_h - self.crop) // 2, (new_w - self.crop) // 2
            pixels = np.asarray(resized, dtype=np.float32)
            if top < 0 or left < 0:  # a crop larger than the resized image: pad with zeros
                canvas = np.zeros((max(new_h, self.crop), max(new_w, self.crop), 3), np.float32)
                pt, pl = max(-top, 0), max(-left, 0)
                canvas[pt : pt + new_h, pl : pl + new_w] = pixels
                pixels, top, left = canvas, max(top, 0), max(left, 0)
            window = pixels[top : top + self.crop, left : left + self.crop].transpose(2, 0, 1)
            out[i] = (window * np.float32(1 / 255) - mean) / std
        return out


class ClipEmbedder(Embedder):
    """`local:clip-vit-base-patch32` (or another CLIP): texts and images in one vector space.

    Text-to-image search embeds the query text and ranks image vectors; image-to-image
    search embeds an image. Texts longer than the model's window (77 tokens) are cut, as
    CLIP's tokenizer does. The model is resolved and its two ONNX graphs are built on first
    use; `threads` is ONNX Runtime's intra-op thread count.
    """

    batch_size = 32
    image_batch_size = 16

    def __init__(
        self,
        model: str = "clip-vit-base-patch32",
        *,
        path: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        if path is None and Path(model).expanduser().is_dir():
            path = model
        self._name = str(Path(path).expanduser().resolve()) if path is not None else model
        self._path = path
        self._repo = CLIP_MODELS[model][0] if model in CLIP_MODELS else model
        self._threads = threads or num_threads()
        if batch_size is not None:
            if batch_size <= 0:
                raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
            self.batch_size = batch_size
            self.image_batch_size = batch_size
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._config: dict[str, Any] | None = None
        self._sessions: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._preprocess: ClipPreprocess | None = None
        dims = CLIP_MODELS[model][1] if model in CLIP_MODELS and path is None else None
        self._spec = (
            EmbedderSpec(provider="local", model=self._name, dimensions=dims, normalized=True)
            if dims is not None
            else None
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'local', the model name, its projection size; cosine, normalised vectors."""
        if self._spec is None:
            dims = int(self._load_config().get("projection_dim", 512))
            self._spec = EmbedderSpec(
                provider="local", model=self._name, dimensions=dims, normalized=True
            )
        return self._spec

    @property
    def accepts_images(self) -> bool:
        """True: CLIP embeds images and texts into one space."""
        return True

    @property
    def fingerprint(self) -> str:
        """The spec plus the graph version (fp32 always)."""
        return f"{super().fingerprint}|fp32|clipgraph{_GRAPH_VERSION}"

    @property
    def build(self) -> dict[str, str]:
        """Precision, graph version and the CPU's instruction set."""
        return {"precision": "fp32", "graph": f"clip{_GRAPH_VERSION}", "cpu": simd_level()}

    @property
    def preprocess(self) -> ClipPreprocess:
        """The model's image preprocessing (resize, centre crop, normalise)."""
        if self._preprocess is None:
            image_size = int(
                (self._load_config().get("vision_config") or {}).get("image_size", 224)
            )
            self._preprocess = ClipPreprocess.from_folder(
                self._load_folder(), image_size=image_size
            )
        return self._preprocess

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Tokenise each text (cut to the window, end-of-text kept) and run the text tower."""
        session = self._session("text")
        tokenizer = self._load_tokenizer()
        rows = []
        for encoding in tokenizer.encode_batch(texts):
            ids = np.array([encoding.ids], dtype=np.int64)
            rows.append(self._run(session, {"input_ids": ids})[0])
        return np.stack(rows)

    def embed_image_batch(self, images: list[Image]) -> np.ndarray:
        """Preprocess a batch of RGB images and run the vision tower."""
        pixels = self.preprocess(images)
        return self._run(self._session("image"), {"pixel_values": pixels})

    def _run(self, session: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            (vectors,) = session.run(None, feeds)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"ONNX Runtime failed on model {self._name}: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)

    def _load_folder(self) -> Path:
        if self._folder is None:
            self._folder = resolve_model_dir(self._name, path=self._path, repo=self._repo)
        return self._folder

    def _load_config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = _read_json(self._load_folder() / "config.json")
        return self._config

    def _load_tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self._load_folder() / "tokenizer.json"))
                window = int(
                    (self._load_config().get("text_config") or {}).get(
                        "max_position_embeddings", 77
                    )
                )
                tokenizer.enable_truncation(max_length=window)
                tokenizer.no_padding()
                self._tokenizer = tokenizer
            return self._tokenizer

    def _session(self, tower: str) -> Any:
        with self._lock:
            if tower not in self._sessions:
                ort = needs("onnxruntime", "images")
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                path = self._graph_path(tower)
                try:
                    self._sessions[tower] = ort.InferenceSession(
                        str(path), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # a damaged cached graph: it is derived, rebuild once
                    path.unlink(missing_ok=True)
                    try:
                        self._sessions[tower] = ort.InferenceSession(
                            str(self._graph_path(tower)),
                            options,
                            providers=["CPUExecutionProvider"],
                        )
                    except Exception:
                        raise EmbeddingError(
                            f"ONNX Runtime cannot load the {tower} graph built for {self._name}: {exc}"
                        ) from exc
            return self._sessions[tower]

    def _graph_path(self, tower: str) -> Path:
        folder = self._load_folder()
        weights = folder / "model.safetensors"
        stat = weights.stat()
        key = json.dumps(
            [
                _GRAPH_VERSION,
                str(weights.resolve()),
                stat.st_size,
                stat.st_mtime_ns,
                self._load_config(),
            ],
            sort_keys=True,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self._name)[-80:]
        path = cache_dir() / "onnx" / f"{safe}-clip-{tower}-{digest}-fp32.onnx"
        if not path.is_file():
            import onnx
            from safetensors.numpy import load_file

            from shoal.embeddings.local._clip_graph import build_text_tower, build_vision_tower

            try:
                weights_np = load_file(str(weights))
            except Exception as exc:  # safetensors raises its own error types
                raise ModelNotFound(
                    f"cannot read the weights in {folder} ({exc}); reinstall or re-download the model"
                ) from exc
            # Checkpoints saved from CLIPModel carry every name; a "clip." prefix is dropped.
            weights_np = {k.removeprefix("clip."): v for k, v in weights_np.items()}
            build = build_vision_tower if tower == "image" else build_text_tower
            try:
                model = build(self._load_config(), weights_np)
            except KeyError as exc:
                raise ModelNotFound(
                    f"{folder} is not a complete CLIP checkpoint: weight {exc} is missing"
                ) from exc
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda p: onnx.save(model, p))
        return path
