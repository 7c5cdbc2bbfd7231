"""The default int8 model on other CPUs' kernels: AVX2-only and SSE4.2-only, emulated by qemu-user.

ONNX Runtime picks its int8 kernels from the CPU: AVX-512 VNNI, AVX2 (whose u8 x s8
products saturate in 16 bits) or SSE4.1. CI runs on one kind of machine and users on
many, so the accuracy bars are checked here on kernels the host may not use: qemu-user
runs the same graph on an emulated Haswell (AVX2, no AVX-512 or VNNI) and Nehalem
(SSE4.2; exact integer products, like VNNI). Emulation is slow (tens of ms a token), so
the texts are short ones. Needs qemu-user (`make test` installs it); without it the
module is skipped, unless SHOAL_REQUIRE_QEMU=1 (as in CI), which fails instead.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numeric import assert_close
from shoal.embeddings.local import LocalEmbedder
from shoal.embeddings.local._onnx_cache import ModelLayout, onnx_path
from shoal.embeddings.local._resolve import resolve_model_dir

_QEMU = shutil.which("qemu-x86_64")
_MISSING = (
    "kernel paths are emulated on x86-64 hosts only"
    if platform.machine() != "x86_64"
    else None
    if _QEMU
    else "qemu-user is not installed (apt-get install qemu-user)"
)
if _MISSING and os.environ.get("SHOAL_REQUIRE_QEMU") == "1" and platform.machine() == "x86_64":
    raise RuntimeError(f"SHOAL_REQUIRE_QEMU=1 but {_MISSING}")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING is not None, reason=_MISSING or ""),
]

CHILD = Path(__file__).with_name("embed_onnx.py")
MODEL = "all-MiniLM-L6-v2"
# qemu's CPU models: the kernels ONNX Runtime then dispatches to.
CPUS = {"avx2": "Haswell-noTSX", "sse4": "Nehalem"}


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def short_texts(varied_texts: list[str]) -> list[str]:
    """24 short texts (emulation costs tens of ms a token): 20 of 3-8 words, 4 tiny ones."""
    wordy = [t for t in varied_texts if 3 <= len(t.split()) <= 8 and "\n" not in t][:20]
    tiny = [t for t in varied_texts if len(t.split()) == 1][:4]
    return wordy + tiny


def _embed(tmp: Path, texts: list[str], minilm: LocalEmbedder, *, cpu: str | None) -> np.ndarray:
    """The int8 graph's vectors for `texts`, natively (cpu None) or on an emulated CPU."""
    layout = ModelLayout(resolve_model_dir(MODEL))
    graph = onnx_path(layout, name=MODEL, quantize=True)  # the one minilm built and cached
    assert minilm.quantized
    texts_file = tmp / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    out = tmp / f"vectors-{cpu or 'native'}.npy"
    command = [
        sys.executable,
        str(CHILD),
        str(graph),
        str(layout.folder / "tokenizer.json"),
        str(layout.max_seq_length),
        str(texts_file),
        str(out),
    ]
    if cpu is not None:
        assert _QEMU is not None
        command = [_QEMU, "-cpu", cpu, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    vectors: np.ndarray = np.load(out)
    return vectors


@pytest.fixture(scope="module")
def reference_vectors(short_texts: list[str], _session_environment: None) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_dir(MODEL)), device="cpu")
    return np.asarray(model.encode(short_texts, convert_to_numpy=True), dtype=np.float32)


@pytest.fixture(scope="module")
def native(
    tmp_path_factory: pytest.TempPathFactory, short_texts: list[str], minilm: LocalEmbedder
) -> np.ndarray:
    return _embed(tmp_path_factory.mktemp("native"), short_texts, minilm, cpu=None)


def test_the_child_embeds_as_the_local_provider_does(
    native: np.ndarray, short_texts: list[str], minilm: LocalEmbedder
) -> None:
    assert_close(native, minilm.embed_documents(short_texts))


@pytest.mark.parametrize("kernels", sorted(CPUS))
def test_int8_accuracy_holds_on_other_cpus_kernels(
    kernels: str,
    tmp_path: Path,
    short_texts: list[str],
    minilm: LocalEmbedder,
    native: np.ndarray,
    reference_vectors: np.ndarray,
) -> None:
    emulated = _embed(tmp_path, short_texts, minilm, cpu=CPUS[kernels])
    to_reference = _cosines(emulated, reference_vectors)
    # The bars of test_local_model.py on these texts. Measured (bench/int8_accuracy.py):
    # wordy mean 0.994 on AVX2 kernels, 0.995 on SSE4.2; tiny texts are int8's weak spot.
    assert to_reference[:20].mean() >= 0.99
    assert to_reference[:20].min() >= 0.97, short_texts[int(to_reference[:20].argmin())]
    assert to_reference.min() >= 0.95
    # Two kernel paths disagree by about as much as each differs from fp32, never more.
    assert _cosines(emulated, native).min() >= 0.97
