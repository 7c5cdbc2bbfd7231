"""`open_clip:` embeddings: OpenCLIP's image+text models (CLIP, SigLIP, EVA...), run by open_clip on torch.

open-clip-torch, torchvision and torch are an optional extra (``pip install 'shoal[open_clip]'``);
they are imported when an embedder is built, never when Shoal is imported. A model is named
``open_clip:ARCH/PRETRAINED``: one of open_clip's architectures (``open_clip.list_models()``)
and a pretrained tag (``open_clip.list_pretrained()``) or a checkpoint file; or
``open_clip:hf-hub:ORG/REPO``; or ``open_clip:/path/to/folder`` (open_clip_config.json and
the weights, as `hf download` or open_clip's push_to_hf_hub leave them).
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from shoal.embeddings._base import Embedder, torch_build
from shoal.embeddings.local._resolve import find_in_hf_cache, require_hub
from shoal.errors import ConfigurationError, EmbeddingError, MissingDependency, ModelNotFound
from shoal.settings import num_threads, offline
from shoal.types import EmbedderSpec, TextKind

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["OpenClipEmbedder"]

_HUB_PREFIX = "hf-hub:"
_CONFIG_FILE = "open_clip_config.json"
# What open_clip looks for in a hub repo, safetensors first (open_clip.pretrained).
_HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
# The preprocessing a pretrained tag sets beside its weights (open_clip.transform.PreprocessCfg).
_TAG_PREPROCESS = {
    "mean": "image_mean",
    "std": "image_std",
    "interpolation": "image_interpolation",
    "resize_mode": "image_resize_mode",
}


def _import_open_clip() -> ModuleType:
    """open_clip, imported; MissingDependency naming the extra, or the broken torchvision."""
    try:
        return importlib.import_module("open_clip")
    except ImportError as exc:
        raise MissingDependency(
            "the 'open_clip:' provider needs open-clip-torch, torchvision and torch: "
            "pip install 'shoal[open_clip]' (or use 'local:clip-vit-base-patch32', which needs neither)"
        ) from exc
    except Exception as exc:  # torchvision built for another torch fails with RuntimeError
        raise MissingDependency(
            f"open_clip is installed but cannot be imported ({type(exc).__name__}: {exc}); "
            "torchvision must be the build made for the installed torch (a CPU torch needs the "
            "CPU torchvision: pip install torchvision --index-url https://download.pytorch.org/whl/cpu)"
        ) from exc


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or "\\" in model


def _hub_file(repo: str, filename: str, cache: Path | None) -> Path | None:
    """`filename` of `repo` in the Hugging Face cache (refs/main's snapshot first)."""
    snapshot = find_in_hf_cache(repo, accept=lambda p: (p / filename).is_file(), cache=cache)
    return snapshot / filename if snapshot is not None else None


def _is_model_folder(folder: Path) -> bool:
    """A folder open_clip loads as 'local-dir:': its config and a checkpoint."""
    return (folder / _CONFIG_FILE).is_file() and any(
        (folder / name).is_file() for name in _HUB_WEIGHTS
    )


def _weights_names(filename: str) -> tuple[str, ...]:
    """The files open_clip tries for a hub entry's `filename` ('' is its default), safetensors first."""
    if not filename:
        return _HUB_WEIGHTS
    if filename.endswith((".bin", ".pth")):
        return (filename[:-4] + ".safetensors", filename)
    return (filename,)


def _not_available(name: str, repo: str, why: str, *, example: str) -> ModelNotFound:
    return ModelNotFound(
        f"open_clip model {name} is not available offline and {why}; download it once where "
        f"you are online with `hf download {repo} --include 'open_clip_*'` (huggingface_hub's "
        "CLI; it fills the Hugging Face cache, which is read offline), or pass a checkpoint "
        f"file or folder: shoal.embedder({example!r})"
    )


class OpenClipEmbedder(Embedder):
    """`open_clip:ViT-B-32/laion2b_s34b_b79k` (any OpenCLIP model): texts and images in one space, on torch.

    Images go through open_clip's own preprocessing transform and texts through its
    tokenizer (cut to the model's window); vectors are L2-normalised float32. The weights
    are found in a checkpoint file or folder you name, then the Hugging Face cache (or
    `cache_dir`), then, for users who are online, the hub (open_clip downloads them into
    that cache). Offline (`SHOAL_OFFLINE` or `HF_HUB_OFFLINE`, or the hub not answering
    within 3 s) weights that are not local fail at once with `ModelNotFound`. The model is
    loaded here, at construction.

    Args:
        model: "ARCH/TAG" (a pretrained tag), "ARCH/PATH" (a checkpoint file),
            "hf-hub:ORG/REPO", or a folder holding open_clip_config.json and the weights.
        pretrained: a tag or checkpoint file for an "ARCH" given alone.
        device: torch device: "cpu", "cuda", "cuda:1", "mps".
        threads: torch's intra-op threads while embedding; default $SHOAL_NUM_THREADS,
            else the usable cores (as the local provider).
        batch_size: texts and images per model call.
        cache_dir: the Hugging Face cache to read and download to; default
            $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.

    Raises:
        MissingDependency: open-clip-torch (or torchvision, torch) is not installed.
        ModelNotFound: the weights are not local and cannot be downloaded.
        ConfigurationError: open_clip has no such architecture or tag, or cannot load it.
    """

    batch_size = 32
    image_batch_size = 16

    def __init__(
        self,
        model: str,
        *,
        pretrained: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if batch_size is not None:
            if batch_size <= 0:
                raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
            self.batch_size = batch_size
            self.image_batch_size = batch_size
        if threads is not None and threads <= 0:
            raise ConfigurationError(f"threads must be positive, got {threads}")
        self._open_clip = _import_open_clip()
        self._torch: Any = importlib.import_module("torch")
        self._device = device
        self._threads = threads or num_threads()
        self._lock = threading.Lock()
        self._cache = Path(cache_dir).expanduser() if cache_dir is not None else None
        self._name, source, kwargs = self._locate(model, pretrained)
        self._model, self._preprocess, self._tokenizer = self._load(source, kwargs)
        dims = int(self.embed_batch(["dimension probe"], kind="document").shape[1])
        # The name alone rebuilds it: the device and the cache are the reopening machine's own.
        self._spec = EmbedderSpec(
            provider="open_clip", model=self._name, dimensions=dims, normalized=True
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'open_clip', "ARCH/TAG" (or the checkpoint's absolute path), the vector size; cosine."""
        return self._spec

    @property
    def accepts_images(self) -> bool:
        """True: an OpenCLIP model embeds images and texts into one space."""
        return True

    @property
    def build(self) -> dict[str, str]:
        """The open_clip and torch versions, and the device (a CPU's instruction set)."""
        return torch_build(("open-clip-torch", "torch"), self._device)

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Tokenise with open_clip's tokenizer and run the text tower (normalised)."""
        tokens = self._tokenizer(texts)
        return self._run(self._model.encode_text, tokens, "texts")

    def embed_image_batch(self, images: list[Image]) -> np.ndarray:
        """Apply open_clip's preprocessing transform to RGB images and run the image tower."""
        try:
            pixels = self._torch.stack([self._preprocess(image) for image in images])
        except Exception as exc:  # torchvision's transforms raise untyped errors
            raise EmbeddingError(
                f"open_clip's preprocessing failed for {self._name}: {exc}"
            ) from exc
        return self._run(self._model.encode_image, pixels, "images")

    def _run(self, encode: Any, batch: Any, what: str) -> np.ndarray:
        torch = self._torch
        with self._lock:
            # torch's thread count is per process: set it for this call, give it back after.
            before = torch.get_num_threads()
            torch.set_num_threads(self._threads)
            try:
                with torch.inference_mode():
                    vectors = encode(batch.to(self._device), normalize=True)
                    array = vectors.float().cpu().numpy()
            except Exception as exc:  # torch raises many untyped errors
                raise EmbeddingError(
                    f"open_clip failed to embed {what} with {self._name}: {exc}"
                ) from exc
            finally:
                torch.set_num_threads(before)
        return np.asarray(array, dtype=np.float32)

    def _locate(
        self, model: str, pretrained: str | os.PathLike[str] | None
    ) -> tuple[str, str, dict[str, Any]]:
        """The spec's model name, what open_clip loads ('local-dir:...', 'hf-hub:...', an
        architecture) and the keyword arguments for it (pretrained file, tag preprocessing)."""
        if model.startswith(_HUB_PREFIX):
            if pretrained is not None:
                raise ConfigurationError(
                    f"{model} names its own weights; leave pretrained unset for an hf-hub: model"
                )
            return model, *self._hub_source(model.removeprefix(_HUB_PREFIX))
        folder = Path(model).expanduser()
        if folder.is_dir() or _looks_like_path(model):
            if pretrained is not None:
                raise ConfigurationError(
                    f"{model} is a folder with its own weights; leave pretrained unset"
                )
            return self._folder_source(folder)
        arch, _, tag = model.partition("/")
        if pretrained is not None:
            if tag:
                raise ConfigurationError(
                    f"{model!r} already names its weights after the '/'; "
                    f"drop pretrained={str(pretrained)!r} or the '/{tag}'"
                )
            tag = str(pretrained)
        return self._arch_source(arch, tag)

    def _folder_source(self, folder: Path) -> tuple[str, str, dict[str, Any]]:
        if not (folder / _CONFIG_FILE).is_file():
            raise ModelNotFound(
                f"{folder} is not an open_clip model folder: it has no {_CONFIG_FILE}; pass a "
                "folder downloaded with `hf download ORG/REPO` from an OpenCLIP repo, or name an "
                "architecture and its checkpoint file: 'open_clip:ViT-B-32//path/to/checkpoint.pt'"
            )
        if not any(p.suffix in (".safetensors", ".bin", ".pth") for p in folder.iterdir()):
            # open_clip would build the model with random weights: never a useful embedder.
            raise ModelNotFound(
                f"{folder} has {_CONFIG_FILE} but no weights (.safetensors, .bin or .pth); "
                "download them too: `hf download ORG/REPO --include 'open_clip_*'`"
            )
        # A folder is named by its absolute path, so spec.name rebuilds this model from anywhere.
        resolved = folder.resolve()
        return str(resolved), f"local-dir:{resolved}", {}

    def _hub_source(self, repo: str) -> tuple[str, dict[str, Any]]:
        snapshot = find_in_hf_cache(repo, accept=_is_model_folder, cache=self._cache)
        if snapshot is not None:
            return f"local-dir:{snapshot}", {}
        name = f"{_HUB_PREFIX}{repo}"
        self._require_hub(name, repo, example=f"open_clip:/path/to/{repo.split('/')[-1]}")
        return name, {}

    def _arch_source(self, arch: str, tag: str) -> tuple[str, str, dict[str, Any]]:
        oc = self._open_clip
        if oc.get_model_config(arch) is None:
            raise ConfigurationError(
                f"open_clip has no model architecture {arch!r}; use one of open_clip.list_models() "
                "(e.g. 'open_clip:ViT-B-32/laion2b_s34b_b79k'), 'open_clip:hf-hub:ORG/REPO' "
                "or a model folder"
            )
        tags = list(oc.list_pretrained_tags_by_model(arch))
        if not tag:
            raise ConfigurationError(
                f"name the weights of {arch}: 'open_clip:{arch}/TAG' with a pretrained tag "
                f"({', '.join(tags) or 'open_clip lists none for it'}) or "
                f"'open_clip:{arch}//path/to/checkpoint.pt'"
            )
        file = Path(tag).expanduser()
        if file.is_file():
            resolved = file.resolve()
            return f"{arch}/{resolved}", arch, {"pretrained": str(resolved)}
        cfg = oc.get_pretrained_cfg(arch, tag)
        if not cfg:
            if _looks_like_path(tag) or os.sep in tag or Path(tag).suffix:
                raise ModelNotFound(
                    f"no checkpoint file at {file}; pass the path of an open_clip state dict "
                    f"(.pt, .bin or .safetensors) for {arch}"
                )
            raise ConfigurationError(
                f"open_clip has no pretrained tag {tag!r} for {arch}; its tags: "
                f"{', '.join(tags) or 'none (pass a checkpoint file)'}"
            )
        name = f"{arch}/{tag}"
        preprocess = {
            keyword: tuple(cfg[key]) if isinstance(cfg[key], (list, tuple)) else cfg[key]
            for key, keyword in _TAG_PREPROCESS.items()
            if key in cfg
        }
        local = self._cached_weights(cfg)
        if local is not None:
            return name, arch, {"pretrained": str(local), **preprocess}
        hub = str(cfg.get("hf_hub") or "")
        repo = os.path.split(hub)[0] if hub else str(cfg.get("url", ""))
        self._require_hub(name, repo, example=f"open_clip:{arch}//path/to/checkpoint.pt")
        return name, arch, {"pretrained": tag}

    def _cached_weights(self, cfg: dict[str, Any]) -> Path | None:
        """The local file of a pretrained tag's weights: the Hugging Face cache, or open_clip's own."""
        if cfg.get("file"):
            return Path(str(cfg["file"]))
        hub = str(cfg.get("hf_hub") or "")
        if hub:
            repo, filename = os.path.split(hub)
            for name in _weights_names(filename):
                found = _hub_file(repo, name, self._cache)
                if found is not None:
                    return found
        url = str(cfg.get("url") or "")
        if url:  # open_clip's download_pretrained_from_url keeps these in ~/.cache/clip
            base = self._cache if self._cache is not None else Path.home() / ".cache" / "clip"
            candidate = base / os.path.basename(url)
            if candidate.is_file():
                return candidate
        return None

    def _require_hub(self, name: str, repo: str, *, example: str) -> None:
        if offline():
            raise _not_available(
                name, repo, "offline mode is on (SHOAL_OFFLINE / HF_HUB_OFFLINE)", example=example
            )
        try:
            require_hub(repo, provider="open_clip")
        except ModelNotFound as exc:
            raise _not_available(name, repo, "the hub cannot be reached", example=example) from exc

    def _load(self, source: str, kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
        oc = self._open_clip
        cache = str(self._cache) if self._cache is not None else None
        try:
            model, _, preprocess = oc.create_model_and_transforms(
                source, device=self._device, cache_dir=cache, **kwargs
            )
            tokenizer = oc.get_tokenizer(source, cache_dir=cache)
        except (FileNotFoundError, OSError) as exc:
            raise ModelNotFound(
                f"open_clip cannot load {self._name}: {exc}; check the checkpoint file or folder, "
                "or download it again"
            ) from exc
        except Exception as exc:  # open_clip and torch raise many untyped errors
            raise ConfigurationError(
                f"open_clip cannot load {self._name} on device {self._device!r}: {exc}; check "
                "that the checkpoint was saved from this architecture, and the device"
            ) from exc
        model.eval()
        return model, preprocess, tokenizer
