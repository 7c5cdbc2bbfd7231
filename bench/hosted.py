"""Hosted embeddings: Shoal's OpenAI client against LangChain's OpenAIEmbeddings, same fake server.

Both talk HTTP to one fake of OpenAI's embeddings API on 127.0.0.1 (tests/fakes/hosted.py,
run in its own process by bench/_fake_server.py) that answers each request after a fixed latency, standing in for the network and the
service. Texts are SciFact/WordNet (bench/_texts.py). Measured: texts/s, requests, and
whether the vectors agree; then the same with one request in five answered 429 with
Retry-After, which each client must wait out.

    .venv/bin/python bench/hosted.py [--texts 4000] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _report import print_table, save_report
from _texts import benchmark_texts
from shoal import OpenAIEmbedder, RetryPolicy

HERE = Path(__file__).resolve().parent
KEY = "sk-test-0123456789abcdef"  # the key the fake expects (tests/fakes/hosted.py)


def _langchain(url: str, texts: list[str]) -> np.ndarray:
    from langchain_openai import OpenAIEmbeddings

    model = OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=url,
        api_key=KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,  # its tiktoken file cannot be fetched offline
        max_retries=6,
    )
    return np.asarray(model.embed_documents(texts), dtype=np.float32)


def _shoal(url: str, texts: list[str], **options: Any) -> np.ndarray:
    model = OpenAIEmbedder(
        "text-embedding-3-small",
        base_url=url,
        api_key_env="OPENAI_API_KEY",
        retry=RetryPolicy(attempts=6),
        **options,
    )
    return model.embed_documents(texts)


def run(name: str, texts: list[str], latency: float, throttle: bool, call: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        stats = Path(folder) / "stats.json"
        server = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_fake_server.py"),
                str(latency),
                str(int(throttle)),
                str(stats),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            root = server.stdout.readline().strip()
            started = time.perf_counter()
            vectors = call(f"{root}/v1", texts)
            seconds = time.perf_counter() - started
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        counts = json.loads(stats.read_text())
    return {
        "system": name,
        "seconds": round(seconds, 2),
        "texts_per_s": round(len(texts) / seconds, 1),
        "requests": counts["requests"],
        "peak_in_flight": counts["peak"],
        "vectors": vectors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per request")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = KEY
    texts = benchmark_texts(args.texts)
    systems = [
        ("LangChain OpenAIEmbeddings (1000/request, serial)", _langchain),
        (
            "Shoal, like LangChain (1000/request, serial, base64)",
            lambda url, t: _shoal(
                url, t, batch_size=1000, max_concurrency=1, encoding_format="base64"
            ),
        ),
        ("Shoal defaults (4 in flight, base64)", lambda url, t: _shoal(url, t)),
        (
            "Shoal defaults, float vectors",
            lambda url, t: _shoal(url, t, encoding_format="float"),
        ),
    ]
    rows = []
    reference: np.ndarray | None = None
    for throttle in (False, True):
        for name, call in systems:
            result = run(name, texts, args.latency, throttle, call)
            vectors = result.pop("vectors")
            if reference is None:
                reference = vectors
            result["max_abs_diff_to_langchain"] = float(np.abs(vectors - reference).max())
            result["throttled"] = throttle
            rows.append(result)
            print(result, flush=True)
    base = {r["throttled"]: r["texts_per_s"] for r in rows if r["system"].startswith("LangChain")}
    for row in rows:
        row["vs_langchain"] = round(row["texts_per_s"] / base[row["throttled"]], 2)
    save_report(
        "hosted",
        "hosted embeddings: Shoal vs LangChain OpenAIEmbeddings on one fake server",
        texts=len(texts),
        latency_s=args.latency,
        httpx=httpx.__version__,
        rows=rows,
    )
    print_table(
        ["429s", "system", "texts/s", "x LangChain", "requests", "in flight", "max |diff|"],
        [
            [
                "1 in 5" if r["throttled"] else "none",
                r["system"],
                r["texts_per_s"],
                r["vs_langchain"],
                r["requests"],
                r["peak_in_flight"],
                f"{r['max_abs_diff_to_langchain']:.1e}",
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
