"""The must-show round trips through the CLI: speech synthesised by espeak-ng and text rendered
into an image are ingested beside a text file, found by `shoal search` for their words, and
cited by `shoal ask` (the speech with its time span); broken media fail one by one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import plain, run

from media_fixtures import PRINTED, SPEECH, empty_wav, render_text, speak

pytest.importorskip("faster_whisper", reason="audio ingest needs the audio extra")
pytest.importorskip("rapidocr_onnxruntime", reason="image ingest needs the ocr extra")
pytestmark = pytest.mark.slow  # Whisper base and the OCR models run

MODEL = "hash:64"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("media")
    (folder / "notes.txt").write_text("Plain notes about gardening and tomatoes.\n")
    speak(SPEECH, folder / "talk.wav", gap=1.0)
    render_text([PRINTED], folder / "screenshot.png")
    empty_wav(folder / "silence.wav")
    uri = str(folder.parent / "kb")
    result = run("ingest", str(folder), "--into", uri, "--model", MODEL)
    assert result.exit_code == 1, result.output  # a file failed: the rest is ingested
    text = plain(result.stdout)
    assert "3 new, 1 failed" in text
    assert f"failed: {folder / 'silence.wav'} holds no audio (0 seconds decoded)" in " ".join(
        text.split()
    )
    return folder, uri


def test_search_finds_the_spoken_words_with_where_to_play_them(kb: tuple[Path, str]) -> None:
    folder, uri = kb
    result = run("search", uri, "orange cats morning", "-k", "1", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    heading = plain(result.stdout).splitlines()[0]
    assert heading.endswith(f"{folder / 'talk.wav'} #0 @ 0:00-0:04") or " @ 0:01-0:0" in heading


def test_search_finds_the_printed_words(kb: tuple[Path, str]) -> None:
    folder, uri = kb
    result = run("search", uri, "walrus copper kettles", "-k", "1", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    assert str(folder / "screenshot.png") in plain(result.stdout)
    assert "walrus" in plain(result.stdout).lower()


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("Who feeds the seven orange cats every morning?", "talk.wav"),
        ("What does the walrus sing about?", "screenshot.png"),
    ],
)
def test_ask_cites_the_recording_and_the_image(
    kb: tuple[Path, str], question: str, source: str
) -> None:
    folder, uri = kb
    result = run("ask", uri, question, "--json", "-k", "2", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    cited = [s for s in answer["sources"] if s["cited"]]
    assert [Path(s["metadata"]["source"]).name for s in cited] == [source]
    if source == "talk.wav":
        meta = cited[0]["metadata"]
        assert meta["type"] == "audio" and 0.5 <= meta["start"] < meta["end"]
    shown = plain(run("ask", uri, question, "-k", "2", "--mode", "keyword").stdout)
    if source == "talk.wav":
        assert f"{folder / 'talk.wav'} (0:0" in shown  # cited with its time span
