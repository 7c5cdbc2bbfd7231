"""Ingest through a hosted provider (a fake of OpenAI's API) that fails in the middle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shoal
from fakes.hosted import KEY, FakeOpenAI, status
from fakes.texts import prose
from shoal import EmbeddingCache, OpenAIEmbedder, ProviderUnavailable, RetryPolicy

FAST = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02)


def test_an_outage_mid_ten_batch_ingest_keeps_finished_batches_and_the_rerun_sends_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: EmbeddingCache
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    folder = tmp_path / "forty"
    folder.mkdir()
    for i in range(40):
        (folder / f"n{i:02d}.txt").write_text(f"note {i}: " + prose(i, 1)[:200])
    uri = str(tmp_path / "kb")
    # Ten ingest batches of 4 chunks, one request each; the API goes down after request 6.
    down = FakeOpenAI(fail_after=6, outage=status(503, {"error": {"message": "overloaded"}}))
    failing = OpenAIEmbedder(http_client=down.client(), retry=FAST, max_concurrency=1)
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        shoal.ingest(folder, into=uri, embedder=failing, batch_size=4, cache=cache)
    assert len(shoal.open(uri)) == 24  # six finished batches stay
    sent_before = set(down.texts())

    up = FakeOpenAI()
    healthy = OpenAIEmbedder(http_client=up.client(), retry=FAST)
    report = shoal.ingest(folder, into=uri, embedder=healthy, batch_size=4, cache=cache)
    assert len(up.texts()) == 16 and set(up.texts()).isdisjoint(sent_before)
    assert (report.chunks_added, report.embedded) == (16, 16)
    assert len(shoal.open(uri)) == 40

    clean = FakeOpenAI()
    fresh = OpenAIEmbedder(http_client=clean.client())
    shoal.ingest(folder, into=str(tmp_path / "clean"), embedder=fresh, cache=False)
    assert _rows(uri) == _rows(str(tmp_path / "clean"))


def _rows(uri: str) -> dict[str, tuple[str, str]]:
    ds = shoal.open(uri)
    records = ds.get([r["id"] for r in ds.select(["id"])])
    return {r.id: (r.text, json.dumps(r.metadata, sort_keys=True)) for r in records}
