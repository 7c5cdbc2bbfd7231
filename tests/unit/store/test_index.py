"""The HNSW index behind `Dataset.search`: recall against exact numpy search, rows written after
the index was built, deletions and upserts, filters, and the index file kept beside the data."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal.store as st
from shoal.store import _view
from shoal.store._index import HnswIndex, IndexFile, Saved

DIM = 32
K = 10
BIG = 12_000  # above the default INDEX_MIN_ROWS, so the default thresholds build an index
CLUSTERS = 200

Predicate = Callable[[str, dict[str, Any]], bool]
"""The Python meaning of a filter: (id, metadata) -> matches."""


def clustered_with_labels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around fixed random centres (the shape real embeddings have), and their centre."""
    centres = np.random.default_rng(7).normal(size=(CLUSTERS, DIM))
    labels = rng.integers(0, CLUSTERS, n)
    points = centres[labels] + 0.35 * rng.normal(size=(n, DIM))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), labels


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    return clustered_with_labels(rng, n)[0]


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


@dataclass
class Truth:
    """What the dataset should hold: id -> (text, unit vector, metadata)."""

    rows: dict[str, tuple[str, np.ndarray, dict[str, Any]]] = field(default_factory=dict)

    def add(
        self,
        ds: st.Dataset,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict[str, Any]] | None = None,
        *,
        texts: Sequence[str] | None = None,
        upsert: bool = False,
    ) -> None:
        texts = list(texts) if texts is not None else [f"text of {i}" for i in ids]
        metas = list(metadatas) if metadatas is not None else [{} for _ in ids]
        write = ds.upsert if upsert else ds.add
        write(texts, ids=list(ids), embeddings=vectors, metadatas=metas)
        for row_id, text, vector, meta in zip(ids, texts, vectors, metas, strict=True):
            self.rows[row_id] = (text, unit(vector), meta)

    def delete(self, ds: st.Dataset, ids: Sequence[str]) -> None:
        assert ds.delete(ids=list(ids)) == len(ids)
        for row_id in ids:
            del self.rows[row_id]

    def matching(self, predicate: Predicate | None) -> list[str]:
        return [
            i for i, (_, _, meta) in self.rows.items() if predicate is None or predicate(i, meta)
        ]

    def matrix(self, ids: Sequence[str]) -> np.ndarray:
        return np.stack([self.rows[i][1] for i in ids])


def exact_top_k(ids: Sequence[str], matrix: np.ndarray, query: np.ndarray, k: int) -> list[str]:
    """The k ids whose vectors have the highest cosine similarity to `query`, best first."""
    order = np.argsort(-(matrix @ unit(query)), kind="stable")[:k]
    return [ids[p] for p in order.tolist()]


def check_search(
    ds: st.Dataset,
    truth: Truth,
    queries: np.ndarray,
    *,
    k: int = K,
    where: Mapping[str, Any] | None = None,
    predicate: Predicate | None = None,
) -> float:
    """Check every hit against the truth; return recall@k against exact numpy search."""
    allowed = truth.matching(predicate)
    matrix = truth.matrix(allowed)
    found = 0
    for query, hits in zip(queries, ds.search_batch(queries, k=k, where=where), strict=True):
        ids = [hit.id for hit in hits]
        assert len(ids) == min(k, len(allowed)), "fewer hits than matching rows"
        assert len(set(ids)) == len(ids), f"duplicate hits {ids}"
        for hit in hits:
            assert hit.id in truth.rows, f"{hit.id} is deleted or was never stored"
            text, vector, meta = truth.rows[hit.id]
            assert predicate is None or predicate(hit.id, meta), f"{hit.id} {meta} does not match"
            assert hit.text == text
            assert hit.metadata == meta
            assert hit.score == pytest.approx(float(vector @ unit(query)), abs=1e-4)
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        found += len(set(ids) & set(exact_top_k(allowed, matrix, query, k)))
    return found / (len(queries) * min(k, len(allowed)))


def queries_near(truth: Truth, rng: np.random.Generator, n: int = 50) -> np.ndarray:
    """Queries close to stored rows (each a stored vector plus noise)."""
    ids = list(truth.rows)
    picks = rng.choice(len(ids), n, replace=False)
    base = np.stack([truth.rows[ids[p]][1] for p in picks])
    noisy = base + 0.2 * rng.normal(size=base.shape)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def index_path(path: Path) -> Path:
    return path / "_shoal" / "index" / "main.npz"


def saved_version(path: Path) -> int | None:
    saved = IndexFile(index_path(path)).load(DIM, "cosine")
    return None if saved is None else saved.version


def index_files(path: Path) -> dict[str, bytes]:
    """The index's files (pointer and faiss file) by name, to put back later."""
    folder = index_path(path).parent
    return {f.name: f.read_bytes() for f in folder.iterdir()}


def put_back(path: Path, files: dict[str, bytes]) -> None:
    """Replace the index's files by those `index_files` returned."""
    folder = index_path(path).parent
    for old in folder.iterdir():
        old.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)


def faiss_file(path: Path) -> Path:
    """The faiss file the pointer file names."""
    (found,) = index_path(path).parent.glob("main.*.faiss")
    return found


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index from 200 rows, extend it past a 64-row tail, walk the graph for every filter."""
    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 200)
    monkeypatch.setattr(_view, "TAIL_MAX", 64)
    monkeypatch.setattr(_view, "EXACT_FILTERED_MAX", 0)
    monkeypatch.setattr(_view, "EXACT_FILTERED_SHARE", 0.0)


def build(path: Path, n: int, *, seed: int = 0) -> tuple[st.Dataset, Truth, np.random.Generator]:
    """A dataset of n clustered rows (metadata g = i % 100) whose index is built and saved."""
    rng = np.random.default_rng(seed)
    ds = st.open(path, embedder=f"hash:{DIM}")
    truth = Truth()
    ids = [f"r{i}" for i in range(n)]
    truth.add(ds, ids, clustered(rng, n), [{"g": i % 100} for i in range(n)])
    ds.refresh_index()
    assert ds._view.index is not None and ds._view.index.count == n
    return ds, truth, rng


# --------------------------------------------------------------------------- a big dataset
@dataclass
class Big:
    path: Path
    truth: Truth


RARE = 12  # rows flagged rare, all in cluster 0
FEW = 5  # rows flagged few: fewer than K


@pytest.fixture(scope="module")
def big(_session_environment: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    """12k rows with the default thresholds, index built and saved; tests copy it to change it."""
    path = tmp_path_factory.mktemp("big") / "ds"
    rng = np.random.default_rng(1)
    vectors, centres = clustered_with_labels(rng, BIG)
    metas: list[dict[str, Any]] = [{"g": i % 100, "c": int(c)} for i, c in enumerate(centres)]
    for i in np.flatnonzero(centres == 0)[:RARE].tolist():
        metas[i]["rare"] = True
    for i in rng.choice(BIG, FEW, replace=False).tolist():
        metas[i]["few"] = True
    ds = st.open(path, embedder=f"hash:{DIM}")
    truth = Truth()
    truth.add(ds, [f"r{i}" for i in range(BIG)], vectors, metas)
    ds.search(vectors[0], k=1)  # builds the index: 12k rows are past INDEX_MIN_ROWS
    ds.refresh_index()
    yield Big(path, truth)


def test_index_search_agrees_with_exact_numpy_top_k(big: Big) -> None:
    ds = st.open(big.path)
    recall = check_search(ds, big.truth, queries_near(big.truth, np.random.default_rng(3)))
    assert ds._view.index is not None and ds._view.index.count == BIG, "the index was not used"
    assert recall >= 0.95


def test_index_built_in_memory_agrees_with_exact_numpy_top_k(
    big: Big, tmp_path: Path, added: list[int]
) -> None:
    shutil.copytree(big.path, tmp_path / "ds")
    index_path(tmp_path / "ds").unlink()
    ds = st.open(tmp_path / "ds")
    recall = check_search(ds, big.truth, queries_near(big.truth, np.random.default_rng(4)))
    assert sum(added) == BIG
    assert recall >= 0.95
    assert saved_version(tmp_path / "ds") == ds.version, "the built index was not saved"


def test_small_dataset_is_searched_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ds = st.open(tmp_path / "ds", embedder=f"hash:{DIM}")
    truth = Truth()
    truth.add(ds, [f"r{i}" for i in range(500)], rng.normal(size=(500, DIM)))
    queries = rng.normal(size=(30, DIM)).astype(np.float32)
    for query, hits in zip(queries, ds.search_batch(queries, k=K), strict=True):
        ids = list(truth.rows)
        assert [hit.id for hit in hits] == exact_top_k(ids, truth.matrix(ids), query, K)
    assert check_search(ds, truth, queries) == 1.0
    assert ds._view.index is None, "500 rows are below INDEX_MIN_ROWS: no index"
    assert not index_path(tmp_path / "ds").exists()


@pytest.mark.parametrize("case", ["broad", "one percent", "one cluster", "rare", "few", "ids"])
@pytest.mark.parametrize("graph", [True, False], ids=["graph walk", "default thresholds"])
def test_filtered_search_returns_k_matching_rows(
    big: Big, monkeypatch: pytest.MonkeyPatch, case: str, graph: bool
) -> None:
    if graph:
        monkeypatch.setattr(_view, "EXACT_FILTERED_MAX", 0)
        monkeypatch.setattr(_view, "EXACT_FILTERED_SHARE", 0.0)
    some_ids = {f"r{i}" for i in np.random.default_rng(6).choice(BIG, 30, replace=False)}
    filters: dict[str, tuple[dict[str, Any], Predicate]] = {
        "broad": ({"g": {"$lt": 50}}, lambda _, m: m["g"] < 50),
        "one percent": ({"g": 7}, lambda _, m: m["g"] == 7),
        "one cluster": ({"c": 3}, lambda _, m: m["c"] == 3),
        "rare": ({"rare": True}, lambda _, m: m.get("rare") is True),
        "few": ({"few": True}, lambda _, m: m.get("few") is True),
        "ids": (
            {"$and": [{"g": {"$gte": 0}}, {"id": {"$in": sorted(some_ids)}}]},
            lambda i, _: i in some_ids,
        ),
    }
    where, predicate = filters[case]
    ds = st.open(big.path)
    # Queries from every cluster: for "rare" most are far from all matching rows.
    queries = queries_near(big.truth, np.random.default_rng(8), n=20)
    recall = check_search(ds, big.truth, queries, where=where, predicate=predicate)
    # A filtered graph walk through a small share of the rows (under about 1%) finds the k
    # best only some of the time, which is why such filters are searched exactly by default.
    assert recall >= (0.9 if not graph or case in ("broad", "one percent") else 0.5)


def test_filters_over_indexed_rows_and_the_tail_after_writes(
    tmp_path: Path, small_thresholds: None
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_500)
    queries = queries_near(truth, rng, 20)
    truth.add(
        ds, [f"tail{i}" for i in range(40)], clustered(rng, 40), [{"tail": i} for i in range(40)]
    )
    assert ds._view.index is not None and ds._view.index.count == 1_500
    in_tail = ({"tail": {"$gte": 0}}, lambda _, m: "tail" in m)
    mixed = (
        {"$or": [{"tail": {"$lt": 5}}, {"g": 3}]},
        lambda _, m: m.get("tail", 99) < 5 or m.get("g") == 3,
    )
    for where, predicate in (in_tail, mixed):
        assert check_search(ds, truth, queries, where=where, predicate=predicate) >= 0.9
    # Deleted and upserted rows that match, in the index and in the tail.
    truth.delete(ds, ["tail0", "tail1", "r3", "r103"])
    truth.add(
        ds,
        ["tail2", "r203"],
        -np.stack([truth.rows[i][1] for i in ("tail2", "r203")]),
        [{"tail": 2}, {"g": 3}],
        upsert=True,
    )
    for where, predicate in (in_tail, mixed):
        assert check_search(ds, truth, queries, where=where, predicate=predicate) >= 0.9
        assert check_search(ds, truth, queries, k=60, where=where, predicate=predicate) >= 0.9


def test_rows_added_after_the_index_are_found_at_once(
    tmp_path: Path, small_thresholds: None, added: list[int]
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_000)
    queries = queries_near(truth, rng, 20)
    # Rows right on the queries, too few to be indexed yet: only the exact tail search finds them.
    truth.add(ds, [f"new{i}" for i in range(20)], queries)
    hits = ds.search_batch(queries, k=K)
    assert [h[0].id for h in hits] == [f"new{i}" for i in range(20)]
    assert [h[0].score for h in hits] == pytest.approx([1.0] * 20, abs=1e-5)
    assert ds._view.index is not None and ds._view.index.count == 1_000
    assert check_search(ds, truth, queries) >= 0.95

    # A row another handle adds is found without reopening.
    other = st.open(tmp_path / "ds")
    target = clustered(rng, 1)
    truth.add(other, ["from other"], target)
    assert ds.search(target[0], k=1)[0].id == "from other"

    # A long tail is indexed: only the new rows are added to the graph, never a rebuild.
    added.clear()
    truth.add(ds, [f"more{i}" for i in range(300)], clustered(rng, 300))
    assert check_search(ds, truth, queries_near(truth, rng)) >= 0.95
    assert sum(added) == 321
    assert ds._view.index.count == 1_321


def test_deleted_rows_never_appear(tmp_path: Path, small_thresholds: None) -> None:
    ds, truth, rng = build(tmp_path / "ds", 2_000)
    queries = queries_near(truth, rng)
    # Delete exactly the best answers, in the index and in the tail.
    truth.add(ds, [f"tail{i}" for i in range(30)], queries[:30])
    best = {hits[0].id for hits in ds.search_batch(queries, k=K)}
    best |= {hits[1].id for hits in ds.search_batch(queries, k=K)}
    truth.delete(ds, sorted(best))
    assert check_search(ds, truth, queries) >= 0.95
    # Deleted by another handle.
    nearest = [hits[0].id for hits in ds.search_batch(queries, k=1)]
    truth.delete(st.open(tmp_path / "ds"), sorted(set(nearest)))
    assert check_search(ds, truth, queries) >= 0.95
    # Deleted with a filter.
    low = truth.matching(lambda _, m: m.get("g", 99) < 10)
    assert ds.delete(where={"g": {"$lt": 10}}) == len(low)
    for row_id in low:
        del truth.rows[row_id]
    assert check_search(ds, truth, queries) >= 0.95
    assert len(ds) == len(truth.rows)


def test_many_deletions_rebuild_the_index_without_the_deleted_rows(
    tmp_path: Path, small_thresholds: None, added: list[int]
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 3_000)
    queries = queries_near(truth, rng)
    # 40% of the indexed rows at once: the next search rebuilds the index over the live rows.
    truth.delete(ds, [f"r{i}" for i in range(3_000) if i % 5 < 2])
    added.clear()
    assert check_search(ds, truth, queries) >= 0.95
    index = ds._view.index
    assert index is not None and index.count == 1_800, "no rebuild happened"
    assert added == [1_800]
    ds.refresh_index()
    saved = IndexFile(index_path(tmp_path / "ds")).load(DIM, "cosine")
    assert saved is not None and saved.index.count == 1_800 and saved.version == ds.version
    reopened = st.open(tmp_path / "ds")
    assert check_search(reopened, truth, queries) >= 0.95
    assert reopened._view.index is not None and reopened._view.index.count == 1_800

    # Deletions in small steps, with rows added between: no search ever returns a deleted row,
    # and the index never keeps more than 30% dead positions past a search.
    rebuilds = 0
    for step in range(12):
        truth.delete(ds, sorted(truth.rows)[:60])
        truth.add(ds, [f"s{step}-{i}" for i in range(40)], clustered(rng, 40))
        assert check_search(ds, truth, queries[:10]) >= 0.9
        index = ds._view.index
        assert index is not None
        live_indexed = int(np.count_nonzero(ds._view.snapshot.alive[: index.count]))
        assert live_indexed >= 0.7 * index.count
        rebuilds += index.count == live_indexed == len(truth.rows)
    assert rebuilds >= 1
    assert len(ds) == len(truth.rows) == 1_800 - 12 * 20
    assert check_search(st.open(tmp_path / "ds"), truth, queries) >= 0.95


def test_upserted_rows_return_their_new_text_and_vector(
    tmp_path: Path, small_thresholds: None
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_500)
    queries = queries_near(truth, rng)
    hit_ids = sorted({hits[0].id for hits in ds.search_batch(queries, k=K)})
    # Send the top hits elsewhere: their old vectors must no longer find them.
    moved = -np.stack([truth.rows[i][1] for i in hit_ids])
    truth.add(
        ds, hit_ids, moved, texts=[f"moved {i}" for i in hit_ids], metadatas=None, upsert=True
    )
    assert check_search(ds, truth, queries) >= 0.95
    assert check_search(ds, truth, moved) >= 0.95
    assert [ds.search(v, k=1)[0].id for v in moved] == hit_ids
    assert [ds.search(v, k=1)[0].text for v in moved] == [f"moved {i}" for i in hit_ids]
    # An upsert through another handle, and `update` of a text (which re-embeds it).
    truth.add(st.open(tmp_path / "ds"), ["r1"], -truth.rows["r1"][1][None], upsert=True)
    assert ds.update(where={"id": "r2"}, set={"text": "a brand new text"}) == 1
    new_vector = st.open(tmp_path / "ds").get(["r2"])[0].embedding
    truth.rows["r2"] = ("a brand new text", unit(new_vector), truth.rows["r2"][2])
    assert ds.search("a brand new text", k=1)[0].id == "r2"
    assert check_search(ds, truth, queries) >= 0.95
    reopened = st.open(tmp_path / "ds")
    assert check_search(reopened, truth, queries) >= 0.95
    assert check_search(reopened, truth, moved) >= 0.95


# ---------------------------------------------------------------------------- the index file
def test_reopened_dataset_uses_the_saved_index(big: Big, added: list[int]) -> None:
    assert index_path(big.path).is_file()
    ds = st.open(big.path)
    assert check_search(ds, big.truth, queries_near(big.truth, np.random.default_rng(9))) >= 0.95
    assert added == [], "the reopened dataset rebuilt its index instead of loading it"
    assert ds._view.index is not None and ds._view.index.count == BIG


def test_reopen_catches_up_with_writes_made_while_closed(
    tmp_path: Path, small_thresholds: None, added: list[int]
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 2_000)
    covered = ds.version
    del ds
    # Another handle writes without searching, so the file still covers the old version.
    other = st.open(tmp_path / "ds")
    truth.add(other, [f"late{i}" for i in range(100)], clustered(rng, 100))
    truth.delete(other, [f"r{i}" for i in range(0, 2_000, 7)])
    truth.add(other, ["r1", "r2"], clustered(rng, 2), texts=["one", "two"], upsert=True)
    del other
    assert saved_version(tmp_path / "ds") == covered

    added.clear()
    ds = st.open(tmp_path / "ds")
    queries = np.concatenate([queries_near(truth, rng), [truth.rows["r1"][1]]])
    assert check_search(ds, truth, queries) >= 0.95
    assert ds.search(truth.rows["r1"][1], k=1)[0].text == "one"
    assert sum(added) == 102, "only the rows written while closed are indexed"
    assert ds._view.index is not None and ds._view.index.count == 2_102
    ds.refresh_index()
    assert saved_version(tmp_path / "ds") == ds.version
    assert check_search(st.open(tmp_path / "ds"), truth, queries) >= 0.95


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _flip_index_bytes(path: Path) -> None:
    """An intact pointer file naming a faiss file of the right size, damaged at its start."""
    data = faiss_file(path.parent.parent.parent)
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 3 : len(blob) // 3 + 64] = bytes(64)
    blob[:16] = bytes(16)
    data.write_bytes(bytes(blob))


def _truncate_faiss_file(path: Path) -> None:
    """The faiss file cut short (mapping it would end in SIGBUS on a read past its end)."""
    _truncate(faiss_file(path.parent.parent.parent))


def _missing_faiss_file(path: Path) -> None:
    faiss_file(path.parent.parent.parent).unlink()


def _wrong_dimension(path: Path) -> None:
    rng = np.random.default_rng(0)
    index = HnswIndex(DIM // 2, "cosine")
    index.add(rng.normal(size=(50, DIM // 2)).astype(np.float32))
    IndexFile(path).save(Saved(index, 2, np.arange(50), np.ones(50, np.float32)))


def _rowids_disagree(path: Path) -> None:
    with np.load(path) as data:
        arrays = {name: np.array(data[name]) for name in data.files}
    arrays["rowids"] = arrays["rowids"][:-5]
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize(
    "damage",
    [
        _truncate,
        _garbage,
        _empty,
        _flip_index_bytes,
        _truncate_faiss_file,
        _missing_faiss_file,
        _wrong_dimension,
        _rowids_disagree,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_damaged_index_file_is_ignored_and_rebuilt(
    tmp_path: Path,
    small_thresholds: None,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_000)
    del ds
    damage(index_path(tmp_path / "ds"))
    with caplog.at_level(logging.WARNING, logger="shoal.store"):
        ds = st.open(tmp_path / "ds")
        assert check_search(ds, truth, queries_near(truth, rng)) >= 0.95
    assert "damaged vector index" in caplog.text
    assert ds._view.index is not None and ds._view.index.count == 1_000
    assert saved_version(tmp_path / "ds") == ds.version, "the rebuilt index was not saved"
    assert check_search(st.open(tmp_path / "ds"), truth, queries_near(truth, rng)) >= 0.95


def test_stale_index_file_catches_up(tmp_path: Path, small_thresholds: None) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_500)
    old = index_files(tmp_path / "ds")
    # Changes that a searching handle indexes and saves...
    truth.add(ds, [f"late{i}" for i in range(200)], clustered(rng, 200))
    truth.delete(ds, [f"r{i}" for i in range(0, 1_500, 3)])
    hit_ids = [f"r{i}" for i in range(1, 40, 3)]
    moved = -np.stack([truth.rows[i][1] for i in hit_ids])
    truth.add(ds, hit_ids, moved, texts=[f"moved {i}" for i in hit_ids], upsert=True)
    queries = np.concatenate([queries_near(truth, rng), moved])
    assert check_search(ds, truth, queries) >= 0.95
    ds.refresh_index()
    assert saved_version(tmp_path / "ds") == ds.version
    del ds
    # ...then the files go back to those covering the first version.
    put_back(tmp_path / "ds", old)
    ds = st.open(tmp_path / "ds")
    assert check_search(ds, truth, queries) >= 0.95
    assert [ds.search(v, k=1)[0].text for v in moved] == [f"moved {i}" for i in hit_ids]
    ds.refresh_index()
    assert saved_version(tmp_path / "ds") == ds.version


def test_restore_rebuilds_the_index_for_the_restored_rows(
    tmp_path: Path, small_thresholds: None
) -> None:
    ds, truth, rng = build(tmp_path / "ds", 1_500)
    before = Truth(dict(truth.rows))
    version = ds.version
    watcher = st.open(tmp_path / "ds")  # another handle whose index is current before the restore
    queries = queries_near(truth, rng)
    assert check_search(watcher, truth, queries) >= 0.95

    truth.add(ds, [f"late{i}" for i in range(300)], clustered(rng, 300))
    truth.delete(ds, [f"r{i}" for i in range(0, 1_500, 4)])
    moved_ids = [f"r{i}" for i in range(1, 60, 4)]
    moved = -np.stack([truth.rows[i][1] for i in moved_ids])
    truth.add(ds, moved_ids, moved, upsert=True)
    assert check_search(ds, truth, np.concatenate([queries, moved])) >= 0.95
    assert check_search(watcher, truth, queries) >= 0.95
    ds.refresh_index()

    ds.restore(version)
    assert len(ds) == 1_500
    originals = np.stack([before.rows[i][1] for i in moved_ids])
    everything = np.concatenate([queries, originals, moved])
    assert check_search(ds, before, everything) >= 0.95
    assert [ds.search(v, k=1)[0].id for v in originals] == moved_ids
    assert ds._view.index is not None and ds._view.index.count == 1_500
    assert check_search(watcher, before, everything) >= 0.95
    ds.refresh_index()
    assert saved_version(tmp_path / "ds") == ds.version
    assert check_search(st.open(tmp_path / "ds"), before, everything) >= 0.95


def test_index_file_saved_before_a_restore_is_not_trusted(
    tmp_path: Path, small_thresholds: None
) -> None:
    ds, truth, _ = build(tmp_path / "ds", 1_000)
    before = Truth(dict(truth.rows))
    version = ds.version
    moved_ids = [f"r{i}" for i in range(10)]
    truth.add(ds, moved_ids, -np.stack([truth.rows[i][1] for i in moved_ids]), upsert=True)
    ds.refresh_index()
    racing_save = index_files(tmp_path / "ds")
    ds.restore(version)
    # Another process was saving its index (covering the pre-restore version) as the restore ran:
    # its os.replace lands after the restore deleted the file.
    put_back(tmp_path / "ds", racing_save)
    reopened = st.open(tmp_path / "ds")
    originals = np.stack([before.rows[i][1] for i in moved_ids])
    assert [reopened.search(v, k=1)[0].id for v in originals] == moved_ids
    assert check_search(reopened, before, originals) >= 0.95


# ------------------------------------------------- identical vectors: one graph node
def test_a_block_of_identical_vectors_keeps_self_lookups_exact(tmp_path: Path) -> None:
    # A block of exact copies linked into an HNSW graph is a clique walks cannot leave:
    # before copies became one node, 25 of these 1,500 self-lookups found a wrong row.
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((20_000, 64)).astype(np.float32)
    vectors[7_000:7_500] = vectors[7_000]
    ds = st.open(tmp_path / "ds", embedder="hash:64")
    ds.add(
        [f"t{i}" for i in range(20_000)], embeddings=vectors, ids=[f"r{i}" for i in range(20_000)]
    )
    ds.wait_for_index()
    assert ds._view.index is not None and ds._view.index.count == 20_000
    queries = np.r_[rng.choice(20_000, 1_000, replace=False), 7_000:7_500]
    found = [int(hits[0].id[1:]) for hits in ds.search_batch(vectors[queries], k=1)]
    assert all(np.array_equal(vectors[f], vectors[q]) for f, q in zip(found, queries, strict=True))
    # Every copy is a hit for the block's vector, the same score each, and the filter and
    # deletions apply to copies, not to the graph node that stands for them.
    block = ds.search(vectors[7_000], k=600)
    assert {h.id for h in block[:500]} == {f"r{i}" for i in range(7_000, 7_500)}
    assert len({round(h.score, 5) for h in block[:500]}) == 1 > block[500].score - 1
    ds.delete(ids=[f"r{i}" for i in range(7_000, 7_490)])
    assert [h.id for h in ds.search(vectors[7_000], k=12)][:10] == [
        f"r{i}" for i in range(7_490, 7_500)
    ]
    reopened = st.open(tmp_path / "ds")
    assert [h.id for h in reopened.search(vectors[7_000], k=3)] == ["r7490", "r7491", "r7492"]


def test_copies_are_stored_unlinked_and_found_through_their_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = rng.standard_normal((300, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    index = HnswIndex(16, "cosine")
    index.add(base[:200])
    copies = np.concatenate([base[:50], base[250:260], base[250:260], base[200:250]])
    index.add(copies)  # 200..249: copies of 0..49; 250..269: 10 new twice; 270..319: 50 new
    assert index.count == 320 and np.array_equal(index.vectors()[200:250], base[:50])
    assert index.canon is not None
    assert (index.canon[200:250] == np.arange(50)).all()
    assert (index.canon[250:260] == np.arange(250, 260)).all()
    assert (index.canon[260:270] == np.arange(250, 260)).all()
    labels, scores = index.search(base[7], 3, ef=64, bitmap=None)
    assert sorted(labels.tolist()[:2]) == [7, 207] and scores[0] == pytest.approx(scores[1])
    # Allow only the copy: the first position stands for it in the graph walk.
    allowed = np.zeros(index.count, dtype=bool)
    allowed[207] = allowed[90] = True
    bitmap = np.packbits(allowed, bitorder="little")
    labels, _ = index.search(base[7], 2, ef=64, bitmap=bitmap)
    assert labels.tolist() == [207, 90]
    # Saved and mapped, then copied and grown: the table of copies goes with the index.
    file = IndexFile(tmp_path / "main.npz")
    file.save(Saved(index, 1, np.arange(320), np.ones(320, np.float32)))
    loaded = file.load(16, "cosine")
    assert loaded is not None and loaded.index.canon is not None
    assert (loaded.index.canon == index.canon).all()
    grown = loaded.index.copy()
    grown.add(np.concatenate([base[255:256], base[210:211]]))
    assert grown.canon is not None and grown.canon[320:].tolist() == [255, 280]
    assert sorted(grown.search(base[255], 3, ef=64, bitmap=None)[0].tolist()) == [255, 265, 320]
