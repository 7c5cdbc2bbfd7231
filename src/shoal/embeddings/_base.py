"""The embedder interface: one abstract method per provider, batching and checks shared here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from shoal._machine import simd_level
from shoal.embeddings._images import ImageInput, load_image, validate_images
from shoal.errors import ConfigurationError, EmbeddingError, EmptyText, InvalidInput
from shoal.progress import step
from shoal.types import EmbedderSpec, TextKind

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "BatchCallback",
    "Embedder",
    "ImageEmbedder",
    "ImageOnlyEmbedder",
    "embeds_images",
    "validate_texts",
]

BatchCallback = Callable[[list[str], np.ndarray], None]
"""Called with each batch's texts and checked vectors as soon as the provider returns them."""


def validate_texts(texts: Sequence[str]) -> list[str]:
    """Check that `texts` is a sequence of non-empty strings and return it as a list."""
    if isinstance(texts, (str, bytes)):
        raise InvalidInput(
            "embed_documents takes a list of texts, not a single string; "
            "wrap it in a list, or call embed_query for one text"
        )
    try:
        items = list(texts)
    except TypeError as exc:
        raise InvalidInput(f"texts must be a list of strings, got {type(texts).__name__}") from exc
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInput(
                f"text at index {index} is a {type(text).__name__}, not a str; "
                "convert it with str() or remove it"
            )
        if not text.strip():
            raise EmptyText(
                f"text at index {index} is empty or only whitespace; "
                "remove empty texts before embedding (an empty text has no meaning to search for)"
            )
    return items


@runtime_checkable
class ImageEmbedder(Protocol):
    """What embeds images: `accepts_images` is True and `embed_images` gives one vector per image."""

    @property
    def accepts_images(self) -> bool:
        """True when `embed_images` works."""

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Embed images into a float32 array of shape (len(images), dimensions)."""


def torch_build(packages: Sequence[str], device: str) -> dict[str, str]:
    """The build of a provider that runs on torch: its packages' versions and the device
    (for a CPU, its instruction set)."""
    runtime = []
    for package in packages:
        try:
            runtime.append(f"{package} {version(package)}")
        except PackageNotFoundError:  # pragma: no cover - needed to embed at all
            runtime.append(package)
    return {"runtime": ", ".join(runtime), "device": simd_level() if device == "cpu" else device}


def fits_window(model: object) -> Callable[[str], bool] | None:
    """Whether a text fits the model's window, for models that count their tokens."""
    count, window = getattr(model, "count_tokens", None), getattr(model, "max_seq_length", None)
    if not callable(count) or not isinstance(window, int):
        return None
    return lambda text: bool(count(text) <= window)


def embeds_images(embedder: object) -> bool:
    """True when `embedder` embeds images (a CLIP model, perceptual hashes), False for text-only ones."""
    return isinstance(embedder, ImageEmbedder) and bool(embedder.accepts_images)


class Embedder(ABC):
    """Turns texts into float32 vectors; providers implement only `embed_batch`.

    Image providers also set `accepts_images` and implement `embed_image_batch`; the
    shared `embed_images` reads, checks and batches the images for them.

    The shared code here validates input, splits it into batches of `batch_size`
    (texts of similar length together, which saves padding for local models),
    restores the input order and checks what the provider returned.
    """

    #: Texts sent to `embed_batch` at a time.
    batch_size: int = 32

    #: Images sent to `embed_image_batch` at a time (decoded images are large: keep it small).
    image_batch_size: int = 16

    @property
    def accepts_images(self) -> bool:
        """True when this embedder embeds images too (`embed_images`); text-only providers say False."""
        return False

    @property
    def accepts_texts(self) -> bool:
        """True when this embedder embeds texts; image-only providers (phash:v1) say False."""
        return True

    @property
    @abstractmethod
    def spec(self) -> EmbedderSpec:
        """Provider, model, dimensions, normalisation and preferred metric."""

    @abstractmethod
    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Embed one batch of already validated texts into a (len(texts), d) array."""

    @property
    def fingerprint(self) -> str:
        """What makes this embedder's vectors: equal fingerprints give the same vectors.

        Caches key vectors by it. The default is the spec; a provider with settings that
        change its vectors without changing the spec (quantisation, say) adds them.
        """
        spec = self.spec
        return f"{spec.name}|{spec.dimensions}|{'norm' if spec.normalized else 'raw'}"

    @property
    def build(self) -> dict[str, str]:
        """How this process computes the vectors beyond the spec: precision, runtime, CPU kernels.

        Two builds of one model give slightly different vectors (int8 kernels round
        differently on AVX2 and AVX-512 VNNI, say); datasets record the builds that wrote
        them. Empty for providers whose vectors do not depend on the local machine.
        """
        return {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts to store: a float32 array of shape (len(texts), dimensions)."""
        return self._embed(validate_texts(texts), kind="document")

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search text: a float32 array of shape (dimensions,)."""
        if not isinstance(text, str):
            raise InvalidInput(
                f"embed_query takes one str, got {type(text).__name__}; "
                "use embed_documents for a list of texts"
            )
        vector: np.ndarray = self._embed(validate_texts([text]), kind="query")[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed many search texts at once: a float32 array of shape (len(texts), dimensions)."""
        return self._embed(validate_texts(texts), kind="query")

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Embed images (paths, bytes, PIL images, arrays): float32, shape (len(images), dimensions).

        Raises:
            ConfigurationError: this embedder embeds text only.
            UnreadableImage: an image cannot be read (its index is in the message).
        """
        self._require_images()
        items = validate_images(images)
        out = np.empty((len(items), self.spec.dimensions), dtype=np.float32)
        for start in range(0, len(items), self.image_batch_size):
            chunk = items[start : start + self.image_batch_size]
            loaded = [self._read_image(image, start + i) for i, image in enumerate(chunk)]
            vectors = self.embed_image_batch(loaded)
            out[start : start + len(chunk)] = self._check_batch(vectors, expected=len(chunk))
            step("embed", start + len(chunk), len(items))
        return out

    def embed_image(self, image: ImageInput) -> np.ndarray:
        """Embed one image (a search by image): a float32 array of shape (dimensions,)."""
        vector: np.ndarray = self.embed_images([image])[0]
        return vector

    def embed_image_batch(self, images: list[Image]) -> np.ndarray:
        """Embed one batch of decoded RGB images; image providers override this."""
        self._require_images()
        raise NotImplementedError  # pragma: no cover - accepts_images promises an override

    def _require_images(self) -> None:
        if not self.accepts_images:
            raise ConfigurationError(
                f"embedder {self.spec.name} embeds text only, not images; use an image "
                "embedder: 'local:clip-vit-base-patch32' (CLIP: images and texts in one space), "
                "'local:efficientnet-lite0' (offline ImageNet CNN, similar images) or 'phash:v1' "
                "(offline perceptual hashes, near-duplicate images only)"
            )

    @staticmethod
    def _read_image(image: ImageInput, index: int) -> Image:
        try:
            return load_image(image)
        except InvalidInput as exc:
            raise type(exc)(f"image at index {index}: {exc}") from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r})"

    def _embed(
        self, texts: list[str], *, kind: TextKind, on_batch: BatchCallback | None = None
    ) -> np.ndarray:
        """Embed validated texts in length-sorted batches; `on_batch` sees each one as it is done."""
        dims = self.spec.dimensions
        out = np.empty((len(texts), dims), dtype=np.float32)
        if not texts:
            return out
        # Longest first, so padding within a batch is small and memory peaks early.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = self.embed_batch([texts[i] for i in chunk], kind=kind)
            out[chunk] = self._check_batch(vectors, expected=len(chunk))
            if on_batch is not None:
                on_batch([texts[i] for i in chunk], out[chunk])
            step("embed", start + len(chunk), len(texts))
        return out

    def _check_batch(self, vectors: np.ndarray, *, expected: int) -> np.ndarray:
        name = self.spec.name
        dims = self.spec.dimensions
        array = np.asarray(vectors)
        if array.shape != (expected, dims):
            raise EmbeddingError(
                f"embedder {name} returned an array of shape {array.shape} for {expected} "
                f"texts, expected ({expected}, {dims}); the provider or model is misconfigured"
            )
        # Checked after the cast: a float64 beyond float32's range becomes inf there.
        with np.errstate(over="ignore", invalid="ignore"):
            cast = array.astype(np.float32, copy=False)
        if not np.isfinite(cast).all():
            raise EmbeddingError(
                f"embedder {name} returned NaN or infinite values (or ones beyond float32's "
                "range); check the model files, they may be corrupt"
            )
        return cast


class ImageOnlyEmbedder(Embedder):
    """An embedder of images with no text side (`phash:v1`, a CNN): a text to embed is a
    ConfigurationError that says what to do instead; providers implement `embed_image_batch`."""

    @property
    def accepts_images(self) -> bool:
        """True: it embeds images."""
        return True

    @property
    def accepts_texts(self) -> bool:
        """False: it has no text side."""
        return False

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Always an error: this embedder embeds images only."""
        raise ConfigurationError(
            f"{self.spec.name} embeds images only, not text: search by an image instead "
            "(`shoal search URI --image PATH`), search the rows' texts in keyword mode, or use "
            "a CLIP model (local:clip-vit-base-patch32) to search images by text"
        )
