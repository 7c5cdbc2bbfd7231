"""EmbeddingCache and CachedEmbedder: reuse across handles and runs, keys, bounds, damage, failures."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import shoal.embeddings._cache as cache_module
from fakes.embedders import CountingEmbedder
from shoal import CachedEmbedder, EmbeddingCache, EmbeddingError
from shoal.embeddings.hashing import HashEmbedder
from shoal.embeddings.local import LocalEmbedder


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache.sqlite3")


def test_second_call_costs_no_model_call_and_returns_the_same_vectors(
    cache: EmbeddingCache,
) -> None:
    model = CountingEmbedder()
    cached = CachedEmbedder(model, cache)
    texts = ["alpha beta", "gamma", "delta epsilon zeta"]
    first = cached.embed_documents(texts)
    assert model.texts and sorted(model.texts) == sorted(texts)
    model.texts.clear()
    again = CachedEmbedder(CountingEmbedder(), EmbeddingCache(cache.path))  # a new handle
    second = again.embed_documents(list(reversed(texts)))
    assert again.inner.texts == []  # type: ignore[attr-defined]
    np.testing.assert_array_equal(second, first[::-1])
    assert (again.hits, again.embedded) == (3, 0)
    np.testing.assert_array_equal(first, HashEmbedder("64").embed_documents(texts))


def test_only_missing_texts_reach_the_model_and_order_is_kept(cache: EmbeddingCache) -> None:
    model = CountingEmbedder()
    cached = CachedEmbedder(model, cache)
    cached.embed_documents(["one", "two"])
    model.texts.clear()
    out = cached.embed_documents(["three", "one", "four", "two"])
    assert sorted(model.texts) == ["four", "three"]
    np.testing.assert_array_equal(
        out, HashEmbedder("64").embed_documents(["three", "one", "four", "two"])
    )


def test_duplicate_texts_in_one_call_are_embedded_once(cache: EmbeddingCache) -> None:
    model = CountingEmbedder()
    out = CachedEmbedder(model, cache).embed_documents(["same text"] * 5 + ["other"])
    assert sorted(model.texts) == ["other", "same text"]
    assert np.all(out[:5] == out[0])


def test_keys_separate_models_kinds_and_precision(cache: EmbeddingCache) -> None:
    cache.put("model-a", "document", ["text"], np.ones((1, 4), dtype=np.float32))
    assert set(cache.get("model-a", "document", ["text"], 4)) == {0}
    assert cache.get("model-b", "document", ["text"], 4) == {}
    assert cache.get("model-a", "query", ["text"], 4) == {}
    assert cache.get("model-a", "document", ["text "], 4) == {}
    assert cache.get("model-a", "document", ["text"], 8) == {}  # a vector of another size
    int8 = LocalEmbedder("all-MiniLM-L6-v2")
    fp32 = LocalEmbedder("all-MiniLM-L6-v2", quantize=False)
    assert int8.spec == fp32.spec and int8.fingerprint != fp32.fingerprint


def test_queries_are_cached_apart_from_documents(cache: EmbeddingCache) -> None:
    model = CountingEmbedder()
    cached = CachedEmbedder(model, cache)
    cached.embed_documents(["hello there"])
    cached.embed_query("hello there")
    assert model.texts == ["hello there", "hello there"]
    cached.embed_query("hello there")
    assert len(model.texts) == 2


def test_cache_stays_within_its_bound_evicting_least_recently_used(tmp_path: Path) -> None:
    dims = 16
    per_vector = dims * 4
    cache = EmbeddingCache(tmp_path / "small.sqlite3", max_bytes=100 * per_vector)
    vectors = np.ones((1, dims), dtype=np.float32)
    cache.put("m", "document", ["keep me"], vectors)
    for i in range(300):
        cache.put("m", "document", [f"text {i}"], vectors)
        if i % 10 == 0:
            assert cache.get("m", "document", ["keep me"], dims)  # used often: stays
    stats = cache.stats()
    assert stats.bytes <= 100 * per_vector and stats.entries == stats.bytes // per_vector
    assert stats.entries >= 80
    assert cache.get("m", "document", ["keep me"], dims)
    assert cache.get("m", "document", ["text 0"], dims) == {}  # old and unused: evicted
    assert cache.get("m", "document", ["text 299"], dims)


def test_a_clock_set_back_does_not_make_fresh_vectors_look_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dims = 16
    per_vector = dims * 4
    cache = EmbeddingCache(tmp_path / "small.sqlite3", max_bytes=20 * per_vector)
    vectors = np.ones((1, dims), dtype=np.float32)
    for i in range(10):
        cache.put("m", "document", [f"old {i}"], vectors)  # used once, at the right time
    three_days = 3 * 86_400 * 10**9
    wall = iter(range(cache_module.time.time_ns() - three_days, 0, -1))  # then 3 days back
    monkeypatch.setattr(cache_module.time, "time_ns", lambda: next(wall))
    for i in range(18):
        cache.put("m", "document", [f"new {i}"], vectors)
        assert cache.get("m", "document", ["new 0"], dims)  # the freshest use of all
    assert cache.stats().bytes <= 20 * per_vector
    assert cache.get("m", "document", ["new 0"], dims)
    assert all(cache.get("m", "document", [f"new {i}"], dims) for i in range(10, 18))
    assert cache.get("m", "document", ["old 0"], dims) == {}  # the least recently used went


def test_max_bytes_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_EMBEDDING_CACHE_MB", "2")
    assert EmbeddingCache().max_bytes == 2 * 2**20
    monkeypatch.setenv("SHOAL_EMBEDDING_CACHE_MB", "nonsense")
    assert EmbeddingCache().max_bytes == 1024 * 2**20


def test_default_location_is_in_the_shoal_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(tmp_path / "c"))
    assert EmbeddingCache().path == tmp_path / "c" / "embeddings.sqlite3"


def test_a_damaged_cache_file_is_replaced_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    model = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="shoal.embeddings"):
        out = CachedEmbedder(model, EmbeddingCache(path)).embed_documents(["a b", "c"])
    assert "unreadable" in caplog.text and out.shape == (2, 64)
    again = CachedEmbedder(CountingEmbedder(), EmbeddingCache(path))
    again.embed_documents(["a b", "c"])
    assert again.hits == 2


def test_an_unwritable_cache_warns_and_embedding_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    model = CountingEmbedder()
    cached = CachedEmbedder(model, EmbeddingCache(blocker / "cache.sqlite3"))
    with caplog.at_level(logging.WARNING, logger="shoal.embeddings"):
        out = cached.embed_documents(["x y", "z"])
        cached.embed_documents(["x y"])
    np.testing.assert_array_equal(out, HashEmbedder("64").embed_documents(["x y", "z"]))
    assert "going on without the cache" in caplog.text
    assert len(model.texts) == 3  # no cache: embedded again, never a wrong vector


def test_each_provider_batch_is_kept_before_a_later_batch_fails(cache: EmbeddingCache) -> None:
    texts = [f"text number {i}" for i in range(40)]
    failing = CountingEmbedder(batch_size=8, fail_at=4)  # batches 1-3 succeed
    with pytest.raises(EmbeddingError, match="down at batch 4"):
        CachedEmbedder(failing, cache).embed_documents(texts)
    assert len(failing.texts) == 24
    healthy = CountingEmbedder(batch_size=8)
    out = CachedEmbedder(healthy, cache).embed_documents(texts)
    assert len(healthy.texts) == 16 and set(healthy.texts).isdisjoint(failing.texts)
    np.testing.assert_array_equal(out, HashEmbedder("64").embed_documents(texts))


def _fill(path: str, start: int) -> None:
    cache = EmbeddingCache(path)
    for i in range(start, start + 200):
        cache.put("m", "document", [f"t{i}"], np.full((1, 8), i, dtype=np.float32))


def test_processes_share_one_cache(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    context = multiprocessing.get_context("spawn")
    # Four processes open a cache that does not exist yet at the same moment: each must
    # wait for the others' write lock (SQLite may answer "locked" without waiting) and
    # none may take the live file for a damaged one and delete it.
    workers = [context.Process(target=_fill, args=(path, s)) for s in (0, 100, 50, 150)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    cache = EmbeddingCache(path)
    got = cache.get("m", "document", [f"t{i}" for i in range(350)], 8)
    assert len(got) == 350 and all(float(v[0]) == i for i, v in got.items())
    assert cache.stats().entries == 350
    with sqlite3.connect(path) as db:  # totals agree with the rows after concurrent writers
        (stored,) = db.execute("SELECT sum(length(vector)) FROM vectors").fetchone()
    assert cache.stats().bytes == stored


def test_a_locked_cache_is_waited_for_then_skipped_and_never_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "busy.sqlite3"
    EmbeddingCache(path).put("m", "document", ["kept"], np.ones((1, 8), dtype=np.float32))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process mid-write, past our patience
    monkeypatch.setattr(cache_module, "_BUSY_SECONDS", 0.2)
    try:
        busy = EmbeddingCache(path)
        busy.put("m", "document", ["new"], np.ones((1, 8), dtype=np.float32))
        assert busy.get("m", "document", ["kept"], 8) == {}
    finally:
        holder.rollback()
        holder.close()
    assert "unreadable" not in caplog.text and "locked" in caplog.text
    assert len(EmbeddingCache(path).get("m", "document", ["kept"], 8)) == 1
