"""Finding providers by name: built-ins, entry points, runtime registrations; import shoal stays light."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib

import shoal
import shoal.embeddings.local._embedder as local_embedder
from shoal.embeddings import _registry as registry
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import ConfigurationError, UnknownProvider


@pytest.fixture(autouse=True)
def _no_leftover_registrations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry._PROVIDERS, "_registered", {})


def test_hash_by_name() -> None:
    embedder = shoal.embedder("hash:64")
    assert isinstance(embedder, HashEmbedder)
    assert embedder.spec.dimensions == 64


def test_options_are_passed_to_the_factory() -> None:
    embedder = shoal.embedder("local:all-MiniLM-L6-v2", quantize=False, batch_size=7)
    assert embedder.batch_size == 7
    assert embedder.quantized is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["hash", ":x", "hash:", ""])
def test_names_without_provider_and_model_are_rejected(name: str) -> None:
    with pytest.raises(ConfigurationError, match="provider:model") as info:
        shoal.embedder(name)
    assert not isinstance(info.value, UnknownProvider)


@pytest.mark.parametrize(
    ("name", "guess"),
    [
        ("text-embedding-ada-002", "openai:text-embedding-ada-002"),
        ("embed-multilingual-v3.0", "cohere:embed-multilingual-v3.0"),
        ("all-MiniLM-L6-v2", "local:all-MiniLM-L6-v2"),
        ("intfloat/multilingual-e5-small", "local:multilingual-e5-small"),
        ("BAAI/bge-small-en-v1.5", "hf:BAAI/bge-small-en-v1.5"),
    ],
)
def test_a_bare_model_name_gets_the_shoal_name_to_use(name: str, guess: str) -> None:
    with pytest.raises(ConfigurationError, match=f"did you mean '{re.escape(guess)}'"):
        shoal.embedder(name)


def test_an_option_the_provider_does_not_take_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'hash' embedder takes no option 'colour'"):
        shoal.embedder("hash:8", colour="red")
    with pytest.raises(ConfigurationError, match=r"takes no option .bogus.; it takes .*batch_size"):
        shoal.embedder("openai:text-embedding-3-small", bogus=1)


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProvider, match="'nope'") as info:
        shoal.embedder("nope:x")
    message = str(info.value)
    assert "known: " in message
    assert "hash" in message and "local" in message
    assert isinstance(info.value, ConfigurationError)


def test_providers_include_the_builtins() -> None:
    names = shoal.providers()
    assert {"hash", "local"} <= set(names)
    assert names == sorted(names)


def test_register_provider_builds_by_name() -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    def factory(model: str, **options: Any) -> HashEmbedder:
        made.append((model, options))
        return HashEmbedder("8")

    shoal.register_provider("mine", factory)
    assert "mine" in shoal.providers()
    embedder = shoal.embedder("mine:some-model", flavour="x")
    assert embedder.spec.dimensions == 8
    assert made == [("some-model", {"flavour": "x"})]


def test_registration_overrides_a_builtin_for_this_process() -> None:
    shoal.register_provider("hash", lambda model, **_: HashEmbedder("5"))
    assert shoal.embedder("hash:64").spec.dimensions == 5


@pytest.mark.parametrize("name", ["a:b", ":", ""])
def test_register_provider_rejects_bad_names(name: str) -> None:
    with pytest.raises(ConfigurationError, match="no ':'"):
        shoal.register_provider(name, HashEmbedder)
    assert name not in shoal.providers()


def test_builtins_are_declared_as_entry_points() -> None:
    # pyproject.toml, not the installed metadata: a shared editable install may be older.
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared = project["entry-points"]["shoal.embedders"]
    assert declared["hash"] == "shoal.embeddings.hashing:HashEmbedder"
    assert declared["local"] == "shoal.embeddings.local:local_embedder"
    assert declared == registry._PROVIDERS._builtins


def plugin_factory(model: str, **options: Any) -> HashEmbedder:
    """What a third-party package's entry point would name."""
    return HashEmbedder(str(len(model)))


def test_plugin_entry_point_is_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EntryPoint(
        name="plugged", value=f"{__name__}:plugin_factory", group=registry.ENTRY_POINT_GROUP
    )
    groups: list[str] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        groups.append(group)
        return [plugin] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr("shoal._registry.entry_points", fake_entry_points)
    assert "plugged" in shoal.providers()
    embedder = shoal.embedder("plugged:abcdef")
    assert embedder.spec.dimensions == 6
    assert set(groups) == {"shoal.embedders"}
    # Built-ins stay available even when no metadata declares them.
    assert {"hash", "local"} <= set(shoal.providers())


_IMPORT_PROBE = """
import json, sys
import shoal
shoal.providers()
heavy = ["onnx", "onnxruntime", "tokenizers", "torch", "sentence_transformers", "transformers",
         "safetensors", "open_clip", "torchvision"]
print(json.dumps({"loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_import_shoal_loads_no_heavy_module_and_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(cache))
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout)["loaded"] == []
    assert not cache.exists()


def test_building_a_local_embedder_loads_nothing_heavy_until_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(cache))
    code = (
        "import json, sys, shoal\n"
        "e = shoal.embedder('local:all-MiniLM-L6-v2')\n"
        "print(json.dumps([e.spec.dimensions, sorted(m for m in "
        "('onnx', 'onnxruntime', 'tokenizers', 'torch') if m in sys.modules)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [384, []]
    assert not cache.exists()


def test_empty_input_needs_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shape is known from the catalogue, so nothing is resolved or loaded.
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was resolved")

    monkeypatch.setattr(local_embedder, "resolve_model_dir", fail)
    out = shoal.embedder("local:all-MiniLM-L6-v2").embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32
