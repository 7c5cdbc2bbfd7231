"""A process killed while it writes the ONNX cache leaves nothing that a later run trusts or keeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shoal.embeddings.local import LocalEmbedder

pytestmark = pytest.mark.slow

BUILD = "import shoal; shoal.embedder('local:all-MiniLM-L6-v2').embed_query('warm up')"


def _kill_during_write(cache: Path) -> None:
    env = dict(os.environ, SHOAL_CACHE_DIR=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", BUILD], env=env)
    onnx_dir = cache / "onnx"
    deadline = time.monotonic() + 120
    try:
        # Wait for a half-written file, then kill without giving the process a chance to clean up.
        while not list(onnx_dir.glob("*.tmp")):
            assert proc.poll() is None, "the build finished before it could be interrupted"
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()


def test_killed_build_leaves_no_partial_graph_and_next_run_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm: LocalEmbedder
) -> None:
    cache = tmp_path / "cache"
    _kill_during_write(cache)
    leftovers = list((cache / "onnx").glob("*.tmp"))
    assert leftovers, "the kill should have left a half-written temporary file"
    finals = {p.name for p in (cache / "onnx").glob("*.onnx")}
    assert not any(name.endswith("int8.onnx") for name in finals) or len(finals) == 2

    monkeypatch.setenv("SHOAL_CACHE_DIR", str(cache))
    texts = ["The cat is on the mat.", "There is a dog in the yard."]
    recovered = LocalEmbedder("all-MiniLM-L6-v2").embed_documents(texts)
    np.testing.assert_allclose(recovered, minilm.embed_documents(texts), atol=1e-6)
    # The dead writer's temporary files are gone; only whole graphs remain.
    assert list((cache / "onnx").glob("*.tmp")) == []
    assert {p.name.rsplit("-", 1)[-1] for p in (cache / "onnx").glob("*.onnx")} == {
        "fp32.onnx",
        "int8.onnx",
    }
