"""Embed texts with a cached Shoal ONNX graph using only onnxruntime, tokenizers and numpy.

Run by test_kernel_paths.py under qemu-user with an emulated CPU (an AVX2-only Haswell,
say), so ONNX Runtime picks that CPU's kernels whatever the host has. It imports no
Shoal code: pylance, which Shoal imports, needs AVX2 and would not load on an older CPU.

    python embed_onnx.py GRAPH TOKENIZER_JSON MAX_TOKENS TEXTS_JSON OUT_NPY
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> None:
    graph, tokenizer_file, max_tokens, texts_file, out = sys.argv[1:6]
    with open(texts_file, encoding="utf-8") as handle:
        texts = json.load(handle)
    tokenizer = Tokenizer.from_file(tokenizer_file)
    tokenizer.enable_truncation(max_length=int(max_tokens))
    tokenizer.no_padding()  # tokenizer.json may pad to a fixed length; each text runs alone
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    # The session options of LocalEmbedder._load, so the same kernels run.
    session = ort.InferenceSession(
        graph,
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=["SkipLayerNormFusion"],
    )
    # One text a call, as LocalEmbedder runs them.
    vectors = []
    for text in texts:
        ids = np.array([tokenizer.encode(text.strip()).ids], dtype=np.int64)
        (vector,) = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        vectors.append(vector[0])
    np.save(out, np.asarray(vectors, dtype=np.float32))


if __name__ == "__main__":
    main()
