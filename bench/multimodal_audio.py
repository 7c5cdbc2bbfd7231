"""Speech-to-text and OCR speed: Shoal's readers vs the libraries called directly, same run.

    .venv/bin/pip install -e '.[dev]'          # the audio and ocr extras; apt-get install espeak-ng
    .venv/bin/python bench/multimodal_audio.py [--files 6] [--pages 8] [--repeat 2]

Audio: --files WAV files synthesised by espeak-ng (each a few sentences of English, ~10 s;
written once to a temporary folder), transcribed by

- shoal: `shoal.text.SpeechToText()` (the packaged Whisper base, joined in the cache;
  decode with PyAV to 16 kHz, faster-whisper int8 on the CPU, beam 5, Silero VAD), its
  `transcribe(path)` per file;
- direct: `faster_whisper.WhisperModel(<the same folder>, device="cpu", compute_type="int8",
  cpu_threads=<same>)` and `model.transcribe(path, beam_size=5, vad_filter=True)`, its
  segments consumed: what a user of faster-whisper writes.

Figure: audio seconds transcribed per wall-clock second (models loaded before timing), the
two systems alternating file by file so the host's load hits both alike; --repeat rounds.
The transcripts are compared word for word (they should be equal: same model, same options).

OCR: --pages PNG images (1000 px wide, 3-6 lines of rendered text), read by

- shoal: `shoal.text.TextReader().read(path)` (RapidOCR with its default detection size,
  Pillow decode with the pixel-limit check, boxes rebuilt into lines);
- direct: `rapidocr_onnxruntime.RapidOCR()(path)` with its defaults (detection on the image
  scaled up until its *shorter* side is 736 px), the same thread settings;
- direct-small: `RapidOCR(det_limit_type="max", det_limit_side_len=2000)`, detection on
  the image as it is (only scaled down past 2000 px): faster, and what Shoal first used,
  kept to show what it costs in words found.

Figure: pages per second, and the share of the rendered words found (lower-cased words of
the OCR text). Writes bench/results/multimodal_audio.json and prints BENCHMARKS.md tables.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import print_table, save_report  # noqa: E402
from shoal.settings import num_threads  # noqa: E402

SENTENCES = [
    "The lighthouse keeper feeds seven orange cats every morning.",
    "Later the ferry brings fresh bread from the island bakery.",
    "Our quarterly budget meeting moved to Thursday afternoon.",
    "Please remember to water the tomatoes before the weekend.",
    "The museum opens a new exhibition about ancient maps in March.",
    "A strong wind closed the mountain road for two days.",
    "The library lends laptops to students during exam season.",
    "Fresh snow covered the village while everyone was asleep.",
    "The orchestra rehearsed the symphony until late at night.",
    "Doctors recommend a short walk after every long meal.",
]
WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words, for comparing transcripts and OCR output with what was said or printed."""
    return WORD.findall(text.lower())


def synthesise(folder: Path, count: int) -> list[tuple[Path, float, str]]:
    """`count` WAV files of three sentences each: (path, seconds, text)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng")
    files = []
    for i in range(count):
        text = " ".join(SENTENCES[(i * 3 + j) % len(SENTENCES)] for j in range(3))
        path = folder / f"speech{i}.wav"
        subprocess.run([espeak, "-w", str(path), text], check=True, capture_output=True)
        with wave.open(str(path)) as reader:
            files.append((path, reader.getnframes() / reader.getframerate(), text))
    return files


def render(folder: Path, count: int) -> list[tuple[Path, str]]:
    """`count` PNG pages of rendered sentences: (path, text)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=32)
    pages = []
    for i in range(count):
        lines = [SENTENCES[(i + j) % len(SENTENCES)] for j in range(3 + i % 4)]
        image = Image.new("RGB", (1100, 40 + 60 * len(lines)), "white")
        draw = ImageDraw.Draw(image)
        for row, line in enumerate(lines):
            draw.text((20, 20 + 60 * row), line, fill="black", font=font)
        path = folder / f"page{i}.png"
        image.save(path)
        pages.append((path, "\n".join(lines)))
    return pages


def bench_audio(files: list[tuple[Path, float, str]], repeat: int) -> dict[str, Any]:
    """Shoal's SpeechToText vs faster-whisper direct on the same model folder, alternating."""
    import faster_whisper

    from shoal.settings import num_threads
    from shoal.text import SpeechToText

    threads = num_threads()
    started = time.perf_counter()
    shoal_stt = SpeechToText(threads=threads)
    shoal_load = time.perf_counter() - started
    started = time.perf_counter()
    direct = faster_whisper.WhisperModel(
        str(shoal_stt.path), device="cpu", compute_type="int8", cpu_threads=threads
    )
    direct_load = time.perf_counter() - started

    def run_shoal(path: Path) -> str:
        return " ".join(d.text for d in shoal_stt.transcribe(path).segments)

    def run_direct(path: Path) -> str:
        segments, _ = direct.transcribe(str(path), beam_size=5, vad_filter=True)
        return " ".join(s.text.strip() for s in segments)

    run_shoal(files[0][0])  # warm-up: first-call allocations, VAD model load
    run_direct(files[0][0])
    seconds = {"shoal": 0.0, "direct": 0.0}
    texts: dict[str, list[str]] = {"shoal": [], "direct": []}
    for _ in range(repeat):
        for path, _length, _text in files:
            for name, call in (("shoal", run_shoal), ("direct", run_direct)):
                t0 = time.perf_counter()
                texts[name].append(call(path))
                seconds[name] += time.perf_counter() - t0
    audio = sum(length for _, length, _ in files) * repeat
    said = [words(text) for _, _, text in files] * repeat

    def recall(name: str) -> float:
        found = sum(len(set(w) & set(words(t))) for w, t in zip(said, texts[name], strict=True))
        return round(found / sum(len(set(w)) for w in said), 3)

    same = sum(words(a) == words(b) for a, b in zip(texts["shoal"], texts["direct"], strict=True))
    return {
        "threads": threads,
        "audio_seconds": round(audio, 1),
        "files": len(files) * repeat,
        "load_seconds": {"shoal": round(shoal_load, 2), "direct": round(direct_load, 2)},
        "audio_seconds_per_second": {
            name: round(audio / value, 2) for name, value in seconds.items()
        },
        "shoal_over_direct": round(seconds["direct"] / seconds["shoal"], 3),
        "word_recall": {name: recall(name) for name in seconds},
        "identical_transcripts": f"{same}/{len(texts['shoal'])}",
    }


def bench_ocr(pages: list[tuple[Path, str]], repeat: int, threads: int) -> dict[str, Any]:
    """Shoal's TextReader vs RapidOCR direct (its defaults, and Shoal's settings), alternating."""
    from rapidocr_onnxruntime import RapidOCR

    from shoal.text import TextReader

    reader = TextReader(threads=threads)
    default = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
    same = RapidOCR(
        det_limit_type="max",
        det_limit_side_len=2000,
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
    )

    def direct(engine: Any) -> Any:
        def call(path: Path) -> str:
            found, _ = engine(str(path))
            return "\n".join(text for _, text, score in (found or []) if float(score) >= 0.5)

        return call

    systems = {"shoal": reader.read, "direct": direct(default), "direct-small": direct(same)}
    for call in systems.values():
        call(pages[0][0])  # warm-up
    seconds = dict.fromkeys(systems, 0.0)
    texts: dict[str, list[str]] = {name: [] for name in systems}
    for _ in range(repeat):
        for path, _text in pages:
            for name, call in systems.items():
                t0 = time.perf_counter()
                texts[name].append(call(path))
                seconds[name] += time.perf_counter() - t0
    printed = [words(text) for _, text in pages] * repeat

    def recall(name: str) -> float:
        found = sum(len(set(w) & set(words(t))) for w, t in zip(printed, texts[name], strict=True))
        return round(found / sum(len(set(w)) for w in printed), 3)

    count = len(pages) * repeat
    return {
        "pages": count,
        "pages_per_second": {name: round(count / value, 2) for name, value in seconds.items()},
        "shoal_over_direct": round(seconds["direct"] / seconds["shoal"], 3),
        "shoal_over_direct_small": round(seconds["direct-small"] / seconds["shoal"], 3),
        "word_recall": {name: recall(name) for name in systems},
    }


def main() -> None:
    """Run both benchmarks once and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6, help="WAV files (~10 s each)")
    parser.add_argument("--pages", type=int, default=8, help="rendered PNG pages")
    parser.add_argument("--repeat", type=int, default=2, help="rounds over the files and pages")
    parser.add_argument(
        "--parts", default="audio,ocr", help="audio, ocr or both (results/<name>_<part>.json)"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audio = bench_audio(synthesise(folder, args.files), args.repeat) if "audio" in parts else {}
        ocr = (
            bench_ocr(render(folder, args.pages), args.repeat, num_threads())
            if "ocr" in parts
            else {}
        )
    name = "multimodal_audio" + ("" if parts == {"audio", "ocr"} else "_" + "_".join(sorted(parts)))
    path = save_report(name, "speech-to-text and OCR", audio=audio, ocr=ocr)
    print(f"wrote {path}")
    if audio:
        print_audio(audio)
    if ocr:
        print_ocr(ocr)


def print_audio(audio: dict[str, Any]) -> None:
    """The speech-to-text table."""
    rate, recall = audio["audio_seconds_per_second"], audio["word_recall"]
    print_table(
        ["speech-to-text (Whisper base int8)", "audio s / s", "word recall", "shoal / direct"],
        [
            ["shoal.text.SpeechToText", rate["shoal"], recall["shoal"], audio["shoal_over_direct"]],
            ["faster-whisper direct", rate["direct"], recall["direct"], 1.0],
        ],
    )
    print(f"identical transcripts: {audio['identical_transcripts']}")


def print_ocr(ocr: dict[str, Any]) -> None:
    """The OCR table."""
    pages, recall = ocr["pages_per_second"], ocr["word_recall"]
    print_table(
        ["OCR (RapidOCR PP-OCRv4)", "pages / s", "word recall", "shoal / system"],
        [
            ["shoal.text.TextReader", pages["shoal"], recall["shoal"], 1.0],
            ["rapidocr defaults", pages["direct"], recall["direct"], ocr["shoal_over_direct"]],
            [
                "rapidocr, detection not scaled up",
                pages["direct-small"],
                recall["direct-small"],
                ocr["shoal_over_direct_small"],
            ],
        ],
    )


if __name__ == "__main__":
    main()
