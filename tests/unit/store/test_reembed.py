"""`Dataset.reembed`: every row's vector made again by another embedder, as one new version.

On each back-end: the rows keep their ids, texts, metadata and extra columns; the vectors
equal the new embedder's; the dimensions may change; older versions keep their vectors and
spec (checkout, restore); other handles follow the new embedder; a write committed while
the vectors are made is kept (the job starts again from it); a failure writes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import shoal
import shoal.store as st
from fakes.embedders import CountingEmbedder
from shoal.embeddings import EmbeddingCache
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import EmbeddingError, InvalidInput, ReadOnlyDataset, WriteConflict
from shoal.store import Binary

TEXTS = [f"note {i} about topic {i % 4}" for i in range(40)]


def _filled(ds: st.Dataset) -> st.Dataset:
    ds.add(
        TEXTS,
        metadatas=[{"n": i, "topic": i % 4} for i in range(len(TEXTS))],
        columns={"raw": Binary([f"bytes {i}".encode() for i in range(len(TEXTS))], "text/plain")},
    )
    ds.commit("forty notes")
    return ds


def _rows(ds: st.Dataset) -> dict[str, tuple[str, dict[str, object], bytes]]:
    rows = ds.select(["id", "text", "metadata", "raw"])
    return {row["id"]: (row["text"], row["metadata"], row["raw"]) for row in rows}


def _vectors(ds: st.Dataset) -> dict[str, np.ndarray]:
    ids = [row["id"] for row in ds.select(["id"])]
    return {r.id: np.asarray(r.embedding) for r in ds.get(ids)}


def test_every_vector_is_made_again_with_new_dimensions_in_one_version(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    ds = _filled(make_dataset(embedder="hash:32"))
    before, rows, version = _vectors(ds), _rows(ds), ds.version
    report = ds.reembed("hash:48", cache=False)
    assert report.committed and report.version == version + 1 == ds.version
    assert (report.rows, report.embedded, report.cached, report.images) == (40, 40, 0, 0)
    assert (report.previous.name, report.spec.name, report.from_version) == (
        "hash:32",
        "hash:48",
        version,
    )
    assert ds.spec.name == "hash:48" and ds.spec.dimensions == 48
    assert _rows(ds) == rows  # ids, texts, metadata and the extra column, all kept
    after = _vectors(ds)
    model = HashEmbedder("48")
    for row_id, (text, _, _) in rows.items():
        assert after[row_id].shape == (48,)
        np.testing.assert_allclose(after[row_id], model.embed_documents([text])[0], atol=1e-6)
    assert ds.search("note 7 about topic 3", k=1)[0].text == "note 7 about topic 3"
    assert ds.log()[-1].message == "reembed 40 rows with hash:48 (was hash:32)"
    # The version before keeps its vectors, its spec and its search.
    old = ds.checkout(version)
    assert old.spec.name == "hash:32" and old.read_only
    assert {k: v.shape for k, v in _vectors(old).items()} == {k: (32,) for k in before}
    assert old.search("note 5 about topic 1", k=1)[0].text == "note 5 about topic 1"
    # Reopened, it is a hash:48 dataset; the old name is refused with both named.
    reopened = st.open(ds.uri, storage_options=_options(ds))
    assert reopened.spec.name == "hash:48"
    with pytest.raises(shoal.EmbedderMismatch, match="hash:48"):
        st.open(ds.uri, embedder="hash:32", storage_options=_options(ds))


def _options(ds: st.Dataset) -> dict[str, str] | None:
    return dict(ds._location.storage_options) or None


def test_the_same_embedder_is_nothing_to_do_unless_forced(
    make_dataset: Callable[..., st.Dataset],
) -> None:
    ds = _filled(make_dataset(embedder="hash:32"))
    version = ds.version
    report = ds.reembed("hash:32")
    assert not report.committed and report.rows == 40 and ds.version == version
    forced = ds.reembed("hash:32", force=True, cache=False)
    assert forced.committed and ds.version == version + 1 and forced.embedded == 40


def test_restore_brings_the_old_embedder_back_and_other_handles_follow(tmp_path: Path) -> None:
    ds = _filled(st.open(tmp_path / "kb", embedder="hash:32"))
    version = ds.version
    other = st.open(tmp_path / "kb")
    assert other.search("note 3 about topic 3", k=1)[0].text == "note 3 about topic 3"
    ds.reembed("hash:64")
    # The other handle sees the new version: its queries are embedded by the new model.
    assert other.search("note 8 about topic 0", k=1)[0].text == "note 8 about topic 0"
    assert other.spec.dimensions == 64 and other.embedder.spec.name == "hash:64"
    other.add(["a new note"])  # written with the new embedder, beside the re-embedded rows
    assert len(ds) == 41 and ds.get([_id(ds, "a new note")])[0].embedding.shape == (64,)
    ds.restore(version)
    assert ds.spec.name == "hash:32" and len(ds) == 40
    assert ds.search("note 9 about topic 1", k=1)[0].text == "note 9 about topic 1"
    assert other.spec.name == "hash:32"
    assert other.search("note 2 about topic 2", k=1)[0].text == "note 2 about topic 2"


def _id(ds: st.Dataset, text: str) -> str:
    return next(row["id"] for row in ds.select(["id", "text"]) if row["text"] == text)


def test_a_failing_embedder_writes_nothing_and_the_rerun_uses_the_cache(tmp_path: Path) -> None:
    ds = _filled(st.open(tmp_path / "kb", embedder="hash:32"))
    version = ds.version
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    failing = CountingEmbedder(48, batch_size=8, fail_at=3)
    with pytest.raises(EmbeddingError):
        ds.reembed(failing, batch_size=16, cache=cache)
    assert ds.version == version and ds.spec.name == "hash:32" and len(ds) == 40
    assert st.open(tmp_path / "kb").spec.name == "hash:32"
    again = CountingEmbedder(48, batch_size=8)
    report = ds.reembed(again, batch_size=16, cache=cache)
    # The batches that returned before the failure are not embedded again.
    assert report.cached == 16 and report.embedded == 24 and len(again.texts) == 24
    assert ds.spec.name == "hash:48"


def test_a_write_committed_meanwhile_is_kept(tmp_path: Path) -> None:
    ds = _filled(st.open(tmp_path / "kb", embedder="hash:32"))
    writer = st.open(tmp_path / "kb")
    wrote = threading.Event()

    class WritingOnce(CountingEmbedder):
        """Another program adds a row while the first batch is embedded."""

        def embed_batch(self, texts: list[str], *, kind: str) -> np.ndarray:  # type: ignore[override]
            if not wrote.is_set():
                wrote.set()
                writer.add(["written meanwhile"])
            return super().embed_batch(texts, kind=kind)  # type: ignore[arg-type]

    report = ds.reembed(WritingOnce(48), cache=False)
    assert report.attempts == 2 and report.rows == 41
    assert "written meanwhile" in [row["text"] for row in ds.select(["text"])]
    assert {v.shape for v in _vectors(ds).values()} == {(48,)}


def test_writers_that_keep_committing_make_it_give_up_with_nothing_written(
    tmp_path: Path,
) -> None:
    ds = _filled(st.open(tmp_path / "kb", embedder="hash:32"))
    writer = st.open(tmp_path / "kb")

    class AlwaysRaced(CountingEmbedder):
        def embed_batch(self, texts: list[str], *, kind: str) -> np.ndarray:  # type: ignore[override]
            writer.add([f"race {len(self.texts)} {texts[0]}"])
            return super().embed_batch(texts, kind=kind)  # type: ignore[arg-type]

    with pytest.raises(WriteConflict, match="run it again"):
        ds.reembed(AlwaysRaced(48), cache=False)
    # Each attempt's batches added a row: all kept, none re-embedded.
    assert st.open(tmp_path / "kb").spec.name == "hash:32" and len(ds) > 40 + 3


def test_bad_calls_say_what_to_do(tmp_path: Path) -> None:
    ds = _filled(st.open(tmp_path / "kb", embedder="hash:32"))
    with pytest.raises(ReadOnlyDataset):
        ds.checkout(1).reembed("hash:48")
    branch = ds.branch("trial")
    with pytest.raises(InvalidInput, match="re-embed main"):
        branch.reembed("hash:48")
    with pytest.raises(InvalidInput, match="batch_size"):
        ds.reembed("hash:48", batch_size=0)
    with pytest.raises(InvalidInput, match="embeds only images"):
        ds.reembed("phash:v1")
    assert ds.spec.name == "hash:32" and branch.spec.name == "hash:32"
