"""The `Dataset` contract, run on a local dataset and on the same dataset through `shoal serve`:
same arguments, same results, same exceptions with the same messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from shoal.errors import (
    DimensionMismatch,
    FilterError,
    InvalidInput,
    ReadOnlyDataset,
    RefNotFound,
    UnknownFieldWarning,
)
from shoal.store import Hit, Record

Opener = Callable[[str], Any]
"""The `open_new` fixture (tests/contract/conftest.py): a new dataset by name, local or remote."""

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "stock markets fell today"]


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, 32)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_added_texts_are_found_by_text_keyword_and_hybrid_search(open_new: Opener) -> None:
    ds = open_new("texts")
    ids = ds.add(TEXTS, metadatas=[{"topic": t} for t in ("pets", "pets", "money")])
    assert len(ids) == 3 and len(ds) == 3
    assert ds.add(TEXTS[:1], metadatas=[{"topic": "pets"}]) == ids[:1], "same text, same id"
    assert len(ds) == 3
    hits = ds.search(TEXTS[0], k=2)
    assert all(isinstance(h, Hit) for h in hits)
    assert hits[0].text == TEXTS[0] and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].metadata == {"topic": "pets"}
    keyword = ds.search("markets", mode="keyword", k=3)
    assert [h.text for h in keyword] == [TEXTS[2]]
    hybrid = ds.search("the cat", mode="hybrid", k=3)
    assert hybrid[0].text == TEXTS[0]
    batch = ds.search_batch(TEXTS, k=1)
    assert [hits[0].text for hits in batch] == TEXTS


def test_vectors_ids_and_metadata_round_trip(open_new: Opener) -> None:
    ds = open_new("vectors")
    vectors = _vectors(20)
    ids = [f"r{i}" for i in range(20)]
    metadatas = [
        {"n": i, "tags": ["even" if i % 2 == 0 else "odd"], "nested": {"a": i}} for i in range(20)
    ]
    assert (
        ds.add([f"row {i}" for i in range(20)], ids=ids, embeddings=vectors, metadatas=metadatas)
        == ids
    )
    records = ds.get(["r3", "missing", "r1"])
    assert [r.id for r in records] == ["r3", "r1"] and all(isinstance(r, Record) for r in records)
    assert records[0].metadata == metadatas[3] and records[0].text == "row 3"
    assert np.allclose(records[0].embedding, vectors[3], atol=1e-6)
    hits = ds.search(vectors[7], k=3)
    assert hits[0].id == "r7" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    filtered = ds.search(vectors[7], k=5, where={"n": {"$gte": 15}})
    assert len(filtered) == 5 and all(h.metadata["n"] >= 15 for h in filtered)
    assert {h.id for h in ds.search(vectors[0], k=20, where={"tags": "odd"})} == set(ids[1::2])
    rows = ds.select(["id", "nested.a"], where={"n": {"$lt": 2}})
    assert rows == [{"id": "r0", "nested.a": 0}, {"id": "r1", "nested.a": 1}]
    pages = [ds.select(["id"], limit=6, offset=start) for start in range(0, 20, 6)]
    assert [row["id"] for page in pages for row in page] == ids, "pages in stored order"
    assert [len(page) for page in pages] == [6, 6, 6, 2]
    assert ds.select(["id"], where={"tags": "odd"}, limit=2, offset=1) == [
        {"id": "r3"},
        {"id": "r5"},
    ]
    with pytest.raises(InvalidInput, match="offset must be an int >= 0"):
        ds.select(["id"], limit=2, offset=-1)
    with pytest.raises(InvalidInput, match="limit must be an int >= 1"):
        ds.select(["id"], limit=0)


def test_updates_deletes_and_upserts(open_new: Opener) -> None:
    ds = open_new("writes")
    vectors = _vectors(6, seed=1)
    ds.add([f"row {i}" for i in range(6)], ids=[f"r{i}" for i in range(6)], embeddings=vectors,
           metadatas=[{"n": i} for i in range(6)])  # fmt: skip
    assert ds.update(where={"n": {"$lt": 2}}, set={"flag": True}) == 2
    assert ds.get(["r0"])[0].metadata == {"n": 0, "flag": True}
    assert ds.set_metadata({"r5": {"n": None, "label": "x"}}) == 1
    assert ds.get(["r5"])[0].metadata == {"label": "x"}
    ds.upsert(["new text"], ids=["r2"], embeddings=-vectors[2:3])
    assert ds.get(["r2"])[0].text == "new text"
    assert ds.search(-vectors[2], k=1)[0].id == "r2"
    assert ds.delete(ids=["r0", "r1", "nope"]) == 2
    assert ds.delete(where={"n": 3}) == 1
    assert len(ds) == 3
    assert sorted(r.id for r in ds.get([f"r{i}" for i in range(6)])) == ["r2", "r4", "r5"]


def test_bad_input_raises_the_library_errors(open_new: Opener) -> None:
    ds = open_new("errors")
    ds.add(["one", "two"], metadatas=[{"n": 1}, {"n": 2}])
    with pytest.raises(DimensionMismatch, match="32"):
        ds.add(["x"], embeddings=np.ones((1, 5), dtype=np.float32))
    with pytest.warns(UnknownFieldWarning, match="nope"):
        assert ds.search("one", where={"nope": 1}) == []
    with pytest.raises(FilterError, match=r"\$bogus"):
        ds.search("one", where={"n": {"$bogus": 1}})
    with pytest.raises(InvalidInput, match="exactly one of ids= or where="):
        ds.delete()
    with pytest.raises(InvalidInput, match="k must be"):
        ds.search("one", k=0)
    with pytest.raises(InvalidInput, match="wrap it in"):
        ds.get("one")
    assert len(ds) == 2, "nothing was written by the failed calls"


def test_versions_commit_log_checkout_and_diff(open_new: Opener) -> None:
    ds = open_new("versions")
    ds.add(["first"], ids=["a"], embeddings=_vectors(1))
    first = ds.commit("first row", tag="v1")
    ds.add(["second"], ids=["b"], embeddings=_vectors(1, seed=2))
    log = ds.log()
    assert [v.message for v in log if v.version == first] == ["first row"]
    assert log[-1].rows == 2 and "v1" in [t for v in log for t in v.tags]
    assert ds.tags()["v1"] == first
    old = ds.checkout("v1")
    assert len(old) == 1 and old.search("first", k=5)[0].id == "a"
    with pytest.raises(ReadOnlyDataset):
        old.add(["third"])
    diff = ds.diff("v1")
    assert diff.added == ["b"] and diff.removed == [] and diff.changed == []
    with pytest.raises(RefNotFound):
        ds.checkout("no-such-tag")
    info = ds.info()
    assert info.rows == 2 and info.embedder.dimensions == 32
    restored = ds.restore("v1")
    assert restored == ds.version and len(ds) == 1 and ds.get(["b"]) == []


def test_text_filters_and_unknown_fields_behave_alike(open_new: Opener) -> None:
    ds = open_new("text-filters")
    ds.add(TEXTS, metadatas=[{"topic": t} for t in ("Pets", "pets", "money")])
    assert len(ds) == 3
    cats = ds.search("animal", k=3, where={"text": {"$contains": "CAT", "$options": "i"}})
    assert [h.text for h in cats] == [TEXTS[0]]
    pets = ds.select(["text"], where={"topic": {"$regex": "^p", "$options": "i"}})
    assert sorted(r["text"] for r in pets) == sorted(TEXTS[:2])
    with pytest.warns(UnknownFieldWarning, match=r"'topik'.*did you mean 'topic'"):
        assert ds.search("cat", k=3, where={"topik": "pets"}) == []
    with pytest.raises(FilterError, match="look-around"):
        ds.search("cat", where={"text": {"$regex": "(?!x)"}})
    parks = ds.select(["text"], where={"text": {"$match": "Dogs PARKS"}})
    assert [r["text"] for r in parks] == [TEXTS[1]], "every word, stemmed and case-folded"
    assert ds.select(["text"], where={"text": {"$match": "dog cat"}}) == []
    either = ds.search("animal", k=3, where={"$or": [{"text": {"$match": "cat"}},
                                                     {"text": {"$match": "dog"}}]})  # fmt: skip
    assert sorted(h.text for h in either) == sorted(TEXTS[:2])
    with pytest.raises(FilterError, match="holds no word"):
        ds.search("cat", where={"text": {"$match": "the"}})


def test_branches_take_writes_apart_from_main(open_new: Opener) -> None:
    ds = open_new("branches")
    ds.add(["on main"], ids=["m"], embeddings=_vectors(1))
    first = ds.commit("main row")
    exp = ds.branch("exp")
    assert exp.branch_name == "exp" and not exp.read_only and ds.branches() == ["exp"]
    exp.add(["on exp"], ids=["e"], embeddings=_vectors(1, seed=4))
    exp.commit("exp row", tag="exp-1")
    assert len(exp) == 2 and len(ds) == 1, "a branch's rows stay off main"
    assert exp.search("on exp", k=1)[0].id == "e" and ds.get(["e"]) == []
    again = ds.checkout("exp")
    assert again.branch_name == "exp" and not again.read_only and len(again) == 2
    again.delete(ids=["m"])
    assert exp.get(["m"]) == [] and len(ds) == 1
    past = exp.checkout(first)
    assert past.read_only and len(past) == 1, "a number is read on the handle's own branch"
    assert ds.checkout("main").branch_name == "main"
    with pytest.raises(InvalidInput, match="already exists"):
        ds.branch("exp")
    with pytest.raises(RefNotFound):
        ds.checkout("no-such-branch")


def test_retrievers_and_question_answering(open_new: Opener) -> None:
    from shoal.qa import RetrievalQA

    ds = open_new("qa")
    ds.add(
        [
            "Michael Jordan was born on February 17, 1963, in Brooklyn.",
            "The Eiffel Tower is in Paris and was finished in 1889.",
            "Jordan played for the Chicago Bulls.",
        ]
    )
    retriever = ds.as_retriever(k=2, mode="hybrid")
    chunks = retriever.retrieve("When was Michael Jordan born?")
    assert "1963" in chunks[0].text
    diverse = ds.as_retriever(k=2, search_type="mmr", fetch_k=3).retrieve("Michael Jordan")
    assert len(diverse) == 2
    answer = RetrievalQA(retriever).ask("When was Michael Jordan born?")
    assert "1963" in answer.text and answer.sources


def test_the_analyses_run_on_either(open_new: Opener) -> None:
    from shoal.analysis import (
        Classification,
        Clustering,
        Outliers,
        classify,
        cluster,
        near_duplicates,
        outliers,
        recommend,
        remove_duplicates,
    )

    ds = open_new("analysis")
    base = _vectors(40, seed=3)
    vectors = np.concatenate([base, base[:2] + 1e-4, -base[:1] * 0 + _vectors(1, seed=9) * -1])
    ids = [f"r{i}" for i in range(len(vectors))]
    labels = [{"label": "even" if i % 2 == 0 else "odd"} for i in range(len(vectors))]
    ds.add([f"row {i}" for i in range(len(vectors))], ids=ids, embeddings=vectors, metadatas=labels)
    groups = near_duplicates(ds, threshold=0.999)
    assert sorted(sorted(g) for g in groups) == [["r0", "r40"], ["r1", "r41"]]
    found = outliers(ds, k=3, contamination=0.05)
    assert isinstance(found, Outliers) and len(found.ids) == 3 and found.rows == 43
    liked = recommend(ds, positive_ids=["r5"], k=3)
    assert "r5" not in [h.id for h in liked] and len(liked) == 3
    (verdict,) = classify(ds, vectors[:1], label_field="label", k=3)
    assert isinstance(verdict, Classification) and set(verdict.probabilities) <= {"even", "odd"}
    assert verdict.neighbors and all(isinstance(h, Hit) for h in verdict.neighbors)
    before = ds.version
    clustering = cluster(ds, n_clusters=3, field="group")
    assert isinstance(clustering, Clustering) and clustering.version > before
    assert len(clustering.labels) == 43 and sum(c.size for c in clustering.clusters) == 43
    assert ds.get(["r7"])[0].metadata["group"] == clustering.labels["r7"]
    version = remove_duplicates(ds, groups, message="drop copies")
    assert version == ds.version and len(ds) == 41 and ds.log()[-1].message == "drop copies"


def test_the_embedding_map_is_drawn_here_from_either(open_new: Opener, tmp_path: Any) -> None:
    from shoal.analysis import DatasetMap, map_dataset, project_dataset

    ds = open_new("map")
    scores = [float(i) if i % 5 else None for i in range(30)]
    ds.add([f"row {i}" for i in range(30)], ids=[f"r{i}" for i in range(30)],
           embeddings=_vectors(30, seed=5),
           metadatas=[{"topic": "ab"[i % 2], "score": s} for i, s in enumerate(scores)])  # fmt: skip
    chart = project_dataset(ds, color_by="topic", method="pca")
    assert isinstance(chart, DatasetMap) and chart.xy.shape == (30, 2) and chart.method == "pca"
    assert chart.coloring is not None and sorted(chart.coloring.labels) == ["a", "b"]
    assert chart.rows == 30 and chart.title == ds.uri, "titled by the handle's own location"
    numbers = project_dataset(ds, color_by="score", method="pca", where={"topic": "a"})
    assert numbers.coloring is not None and numbers.coloring.kind == "number"
    assert len(numbers) == 15 and int(np.isnan(numbers.coloring.values).sum()) == 3
    page = map_dataset(ds, out=tmp_path / "map.html", color_by="topic", method="pca")
    assert len(page) == 30 and "row 7" in (tmp_path / "map.html").read_text(encoding="utf-8")
    with pytest.raises(InvalidInput, match="none of the 30 mapped rows"):
        project_dataset(ds, color_by="no_such_field", method="pca")
