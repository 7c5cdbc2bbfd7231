"""The Dataset API on every back-end: open, add, upsert, update, delete, get, search, filters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import shoal.store as st
from fakes.embedders import CountingEmbedder
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import (
    ConfigurationError,
    DatasetNotFound,
    DimensionMismatch,
    EmbedderMismatch,
    EmbeddingError,
    EmptyText,
    InvalidInput,
    NonFiniteValues,
    StoreError,
    UnknownFieldWarning,
)

MakeDataset = Callable[..., st.Dataset]
Place = Any  # conftest.Place

HASH64 = HashEmbedder("64")


def _ids(hits: list[st.Hit]) -> list[str]:
    return [hit.id for hit in hits]


def _unit(rng: np.random.Generator, rows: int, dims: int = 64) -> np.ndarray:
    vectors = rng.normal(size=(rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def memory_ds() -> st.Dataset:
    """A hash:64 dataset in memory, for checks that no back-end can change."""
    return st.open(f"memory://test-{uuid.uuid4().hex}", embedder="hash:64")


# --------------------------------------------------------------------------- open


def test_open_creates_an_empty_dataset_that_records_its_embedder(
    make_dataset: MakeDataset, place: Place
) -> None:
    ds = make_dataset()
    assert len(ds) == 0
    assert ds.spec == HASH64.spec
    assert (ds.branch_name, ds.read_only) == ("main", False)
    expected = str(Path(place.uri).resolve()) if place.backend == "local" else place.uri
    assert ds.uri == expected
    assert ds.search("anything", k=3) == []


def test_open_without_create_on_a_missing_dataset_raises_and_creates_nothing(
    place: Place,
) -> None:
    with pytest.raises(DatasetNotFound, match="create=True"):
        place.open(embedder="hash:64", create=False)
    with pytest.raises(DatasetNotFound):
        place.open(create=False)
    if place.backend == "local":
        assert not Path(place.uri).exists()
    if place.backend == "s3":
        assert place.s3.keys(place.uri) == []


def test_reopening_uses_the_stored_embedder(make_dataset: MakeDataset, place: Place) -> None:
    first = make_dataset()
    [cat] = first.add(["the cat sat on the mat"])
    again = place.open()
    assert again.spec == HASH64.spec
    assert again.embedder.spec == HASH64.spec
    assert _ids(again.search("cat on a mat", k=1)) == [cat]
    [dog] = again.add(["a dog in the yard"])
    np.testing.assert_allclose(
        again.get([dog])[0].embedding, HASH64.embed_documents(["a dog in the yard"])[0]
    )
    assert len(first) == 2


@pytest.mark.parametrize("other", ["hash:32", HashEmbedder("32")], ids=["name", "instance"])
def test_reopening_with_another_embedder_names_both(
    make_dataset: MakeDataset, place: Place, other: Any
) -> None:
    make_dataset().add(["some text"])
    with pytest.raises(EmbedderMismatch) as caught:
        place.open(embedder=other)
    assert "hash:64" in str(caught.value)
    assert "hash:32" in str(caught.value)
    # It names the way to move the dataset to the other model.
    call = "reembed(embedder)" if isinstance(other, HashEmbedder) else "reembed('hash:32')"
    assert f"re-embed it with {call} to move it to hash:32" in str(caught.value)


def test_reopening_with_the_same_embedder_by_name_or_instance(
    make_dataset: MakeDataset, place: Place
) -> None:
    make_dataset().add(["some text"])
    assert len(place.open(embedder="hash:64")) == 1
    assert len(place.open(embedder=HashEmbedder("64"))) == 1


@pytest.mark.parametrize(
    "uri", ["ftp://host/data", "gs://bucket/data", "memory://", "s3://", "", "   "]
)
def test_unusable_uris_raise_configuration_error(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        st.open(uri, embedder="hash:64")


def test_s3_is_reached_through_the_standard_aws_variables(s3_environment: Any) -> None:
    uri = s3_environment.fresh_uri()
    ds = st.open(uri, embedder="hash:64")
    [row] = ds.add(["stored on s3"])
    assert s3_environment.keys(uri)  # really written to the fake S3
    assert [r.text for r in st.open(uri).get([row])] == ["stored on s3"]


def test_a_missing_s3_bucket_is_a_store_error_that_says_what_to_check(
    s3_environment: Any,
) -> None:
    with pytest.raises(StoreError, match="check the bucket name") as caught:
        st.open("s3://no-such-bucket-here/data", embedder="hash:64")
    assert "AWS_ENDPOINT_URL" in str(caught.value)
    assert "testing" not in str(caught.value)  # no credential leaks into the message


# ---------------------------------------------------------------------------- add


def test_the_same_document_twice_is_stored_once(ds: st.Dataset) -> None:
    ids = ds.add(["a cat", "a dog", "a cat"])
    assert ids[0] == ids[2] != ids[1]
    assert len(ds) == 2
    version = ds.version
    assert ds.add(["a cat"]) == [ids[0]]
    assert (len(ds), ds.version) == (2, version)


def test_content_ids_depend_on_metadata(ds: st.Dataset) -> None:
    ids = ds.add(["same text", "same text"], metadatas=[{"page": 1}, {"page": 2}])
    assert ids[0] != ids[1]
    assert len(ds) == 2


def test_explicit_ids_come_back_in_input_order(ds: st.Dataset) -> None:
    assert ds.add(["zeta", "alpha", "mu"], ids=["z", "a", "m"]) == ["z", "a", "m"]
    assert [r.id for r in ds.get(["m", "z", "a"])] == ["m", "z", "a"]


def test_add_with_explicit_ids_replaces_the_rows_they_name(ds: st.Dataset) -> None:
    ds.add(["old words here", "other row"], ids=["x", "y"], metadatas=[{"v": 1}, None])
    assert ds.add(["brand new text"], ids=["x"], metadatas=[{"v": 2}]) == ["x"]
    assert len(ds) == 2
    [row] = ds.get(["x"])
    assert (row.text, row.metadata) == ("brand new text", {"v": 2})
    [best] = ds.search("brand new text", k=1)
    assert best.id == "x"
    assert best.score == pytest.approx(1.0, abs=1e-5)


def test_upsert_inserts_new_ids_and_replaces_stored_ones(ds: st.Dataset) -> None:
    assert ds.upsert(["one", "two"], ids=["1", "2"]) == ["1", "2"]
    assert ds.upsert(["two again", "three"], ids=["2", "3"]) == ["2", "3"]
    assert len(ds) == 3
    assert [r.text for r in ds.get(["1", "2", "3"])] == ["one", "two again", "three"]
    assert _ids(ds.search("two again", k=1)) == ["2"]


def test_embeddings_passed_by_the_caller_are_stored_as_given(ds: st.Dataset) -> None:
    vectors = _unit(np.random.default_rng(7), 3)
    ids = ds.add(["first", "second", "third"], embeddings=vectors)
    for row, vector in zip(ds.get(ids), vectors, strict=True):
        assert row.embedding.dtype == np.float32
        np.testing.assert_array_equal(row.embedding, vector)
    [best] = ds.search(vectors[1], k=1)
    assert best.id == ids[1]
    assert best.score == pytest.approx(1.0, abs=1e-5)


def test_texts_are_embedded_by_the_datasets_embedder(ds: st.Dataset) -> None:
    texts = ["red apples and pears", "a train to the city"]
    rows = ds.get(ds.add(texts))
    np.testing.assert_allclose(
        np.stack([r.embedding for r in rows]), HASH64.embed_documents(texts), atol=1e-6
    )


def test_an_empty_text_is_allowed_when_its_vector_is_given(ds: st.Dataset) -> None:
    [row] = ds.add([""], embeddings=_unit(np.random.default_rng(1), 1))
    assert [r.text for r in ds.get([row])] == [""]


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        (
            {"texts": ["a"], "embeddings": np.ones((1, 32))},
            DimensionMismatch,
            r"32 dimensions.*stores 64",
        ),
        (
            {"texts": ["a", "b"], "embeddings": np.array([[0.1] * 64, [np.nan] * 64])},
            NonFiniteValues,
            "row 1",
        ),
        ({"texts": ["a"], "embeddings": np.full((1, 64), np.inf)}, NonFiniteValues, "row 0"),
        ({"texts": ["fine", ""]}, EmptyText, "row 1"),
        ({"texts": ["   "]}, EmptyText, "row 0"),
        ({"texts": ["a"], "metadatas": [{"when": object()}]}, InvalidInput, "not JSON"),
        ({"texts": ["a"], "metadatas": [{"x": float("nan")}]}, InvalidInput, "not JSON"),
        ({"texts": ["a"], "metadatas": [{1: "one"}]}, InvalidInput, "str keys"),
        ({"texts": ["a"], "metadatas": [["not", "a", "dict"]]}, InvalidInput, "dict"),
        ({"texts": ["a"], "metadatas": [{}, {}]}, InvalidInput, "2 metadatas for 1 texts"),
        ({"texts": ["a", "b"], "ids": ["only-one"]}, InvalidInput, "1 ids for 2 texts"),
        ({"texts": ["a"], "embeddings": np.ones((2, 64))}, InvalidInput, r"shape \(1, 64\)"),
        ({"texts": ["a"], "columns": {"page": [1, 2]}}, InvalidInput, "2 values for 1 rows"),
        ({"texts": ["a", "b"], "ids": ["same", "same"]}, InvalidInput, "'same' appears twice"),
        ({"texts": ["a"], "ids": [""]}, InvalidInput, "non-empty str"),
        ({"texts": ["a"], "ids": "a"}, InvalidInput, "not one str"),
        ({"texts": "just one string"}, InvalidInput, "not one string"),
        ({"texts": ["a"], "columns": {"text": ["x"]}}, InvalidInput, "reserved"),
        ({"texts": ["a"], "columns": {"bad name": ["x"]}}, InvalidInput, "not allowed"),
        # Lone surrogates (from a decoder's errors='surrogateescape') cannot be stored as UTF-8.
        ({"texts": ["ok", "ab\ud800c"]}, InvalidInput, r"text of row 1 .*'\\ud800' at character 2"),
        ({"texts": ["a"], "metadatas": [{"k": "x\udfff"}]}, InvalidInput, "metadata of row 0"),
        ({"texts": ["a"], "metadatas": [{"k\ud800": 1}]}, InvalidInput, "metadata of row 0"),
        ({"texts": ["a"], "metadatas": [{"k": ["\ud800"]}]}, InvalidInput, "not valid Unicode"),
        ({"texts": ["a", "b"], "ids": ["x", "y\ud800"]}, InvalidInput, "id of row 1"),
    ],
)
def test_bad_input_is_rejected_before_anything_is_written(
    memory_ds: st.Dataset, arguments: dict[str, Any], error: type[Exception], match: str
) -> None:
    memory_ds.add(["already here"])
    version = memory_ds.version
    texts = arguments.pop("texts")
    with pytest.raises(error, match=match):
        memory_ds.add(texts, **arguments)
    assert (memory_ds.version, len(memory_ds)) == (version, 1)


def test_updates_refuse_lone_surrogates_and_change_nothing(memory_ds: st.Dataset) -> None:
    memory_ds.add(["a text"], ids=["a"], metadatas=[{"k": "v"}])
    version = memory_ds.version
    with pytest.raises(InvalidInput, match=r"update's set= value of 'text' is not valid Unicode"):
        memory_ds.update(where={"k": "v"}, set={"text": "b\ud800"})
    with pytest.raises(InvalidInput, match=r"the metadata given for id 'a' is not valid Unicode"):
        memory_ds.set_metadata({"a": {"k": "\udc80"}})
    with pytest.raises(InvalidInput, match="text of row 0 is not valid Unicode"):
        memory_ds.upsert(["\ud83d"], ids=["a"])
    assert memory_ds.version == version
    assert [(r.text, r.metadata) for r in memory_ds.get(["a"])] == [("a text", {"k": "v"})]


def test_a_rejected_add_leaves_the_dataset_as_it_was(ds: st.Dataset, place: Place) -> None:
    ds.add(["already here"])
    version = ds.version
    with pytest.raises(DimensionMismatch):
        ds.add(["x", "y"], embeddings=np.ones((2, 63)))
    with pytest.raises(EmptyText):
        ds.add(["x", " "])
    assert (ds.version, len(ds)) == (version, 1)
    assert (place.open().version, len(place.open())) == (version, 1)


def test_an_embedder_failing_mid_call_writes_nothing(
    place: Place, failing_embedder: CountingEmbedder
) -> None:
    ds = place.open(embedder=failing_embedder)
    ds.add(["seed row"])
    version, rows = ds.version, len(ds)
    texts = [f"document number {i}" for i in range(5)]  # three batches of two
    failing_embedder.fail_at = failing_embedder.batches + 2
    with pytest.raises(EmbeddingError):
        ds.add(texts)
    assert (ds.version, len(ds)) == (version, rows)
    reopened = place.open()
    assert (reopened.version, len(reopened)) == (version, rows)
    # A retry after the provider recovers stores every row.
    failing_embedder.fail_at = None
    ds.add(texts)
    assert len(ds) == rows + 5


def _nested(levels: int) -> dict[str, Any]:
    """Metadata whose dicts nest `levels` deep (the row's own dict is level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [st.MAX_METADATA_DEPTH + 1, 3_000])
def test_metadata_nested_too_deeply_is_refused_without_a_recursion_error(
    memory_ds: st.Dataset, levels: int
) -> None:
    memory_ds.add(["already here"])
    version = memory_ds.version
    for write in (
        lambda: memory_ds.add(["deep"], metadatas=[_nested(levels)]),
        lambda: memory_ds.update(where={}, set={"deep": _nested(levels)}),
        lambda: st.row_id("deep", _nested(levels)),
    ):
        with pytest.raises(InvalidInput) as caught:
            write()
        assert str(caught.value) == (
            f"metadata of row 0 nests dicts and lists more than {st.MAX_METADATA_DEPTH} levels "
            "deep (or holds itself); flatten it, or store the deep part as a JSON string"
        )
    assert (memory_ds.version, len(memory_ds)) == (version, 1)


def test_metadata_up_to_the_depth_limit_is_stored(memory_ds: st.Dataset) -> None:
    deepest = _nested(st.MAX_METADATA_DEPTH)
    [row_id] = memory_ds.add(["deep"], metadatas=[deepest])
    assert memory_ds.get([row_id])[0].metadata == deepest
    lists: list[Any] = [1]
    for _ in range(st.MAX_METADATA_DEPTH - 2):
        lists = [lists]
    assert memory_ds.add(["lists"], metadatas=[{"x": lists}])


@pytest.mark.filterwarnings("error")  # NumPy's "overflow encountered in cast" must not leak
@pytest.mark.parametrize(
    ("embeddings", "message"),
    [
        (np.full((1, 64), 1e300), "beyond float32's range"),
        (np.full((1, 64), -1e300), "beyond float32's range"),
        ([[1e39] + [0.5] * 63], "beyond float32's range"),
        (np.full((1, 64), np.inf), "NaN or infinity"),
        (np.full((1, 64), np.nan), "NaN or infinity"),
    ],
    ids=["float64 1e300", "float64 -1e300", "list 1e39", "inf", "nan"],
)
def test_vectors_beyond_float32_are_refused_like_nan(
    memory_ds: st.Dataset, embeddings: Any, message: str
) -> None:
    memory_ds.add(["already here"])
    version = memory_ds.version
    with pytest.raises(NonFiniteValues) as caught:
        memory_ds.add(["x"], ids=["x"], embeddings=embeddings)
    if message == "NaN or infinity":
        assert str(caught.value) == "embedding of row 0 holds NaN or infinity; fix or drop that row"
    else:
        assert str(caught.value) == (
            "embedding of row 0 holds a value beyond float32's range (±3.403e+38), which "
            "vectors are stored in; scale or fix that row"
        )
    with pytest.raises(NonFiniteValues, match=message):
        memory_ds.search(np.asarray(embeddings, dtype=np.float64)[0], k=1)
    assert (memory_ds.version, len(memory_ds), memory_ds.get(["x"])) == (version, 1, [])


def test_float64_vectors_within_float32_range_are_stored(memory_ds: st.Dataset) -> None:
    vector = np.full((1, 64), 3e38)
    memory_ds.add(["big"], ids=["big"], embeddings=vector)
    assert memory_ds.get(["big"])[0].embedding[0] == pytest.approx(3e38, rel=1e-6)


def test_an_add_rejected_for_its_new_columns_values_writes_nothing(ds: st.Dataset) -> None:
    ds.add(["already here"])
    version, names = ds.version, ds.schema.names
    with pytest.raises(InvalidInput):
        ds.add(["x", "y"], columns={"image": st.Binary([b"\x89PNG", 42])})
    assert (ds.version, ds.schema.names, len(ds)) == (version, names, 1)


def test_an_add_with_a_new_column_adds_the_column_then_the_rows(ds: st.Dataset) -> None:
    ds.add(["already here"])
    version = ds.version
    ds.add(["with a page"], columns={"page": [3]})
    # Lance appends need one schema: the empty column is one version, the rows the next.
    assert ds.version == version + 2
    assert ds.checkout(version + 1).schema.names[-1] == "page"
    assert len(ds.checkout(version + 1)) == 1


# ------------------------------------------------------------------------- update


@pytest.fixture
def fruit(ds: st.Dataset) -> st.Dataset:
    """Three rows with ids a, b, c and metadata lang/year."""
    ds.add(
        ["red apple pie", "green pear tart", "yellow banana bread"],
        ids=["a", "b", "c"],
        metadatas=[
            {"lang": "en", "year": 2001},
            {"lang": "fr", "year": 2010},
            {"lang": "en", "year": 1999},
        ],
    )
    return ds


def test_update_sets_and_removes_metadata_keys(fruit: st.Dataset) -> None:
    assert fruit.update(where={"lang": "en"}, set={"lang": "de", "reviewed": True}) == 2
    assert [r.metadata for r in fruit.get(["a", "b", "c"])] == [
        {"lang": "de", "reviewed": True, "year": 2001},
        {"lang": "fr", "year": 2010},
        {"lang": "de", "reviewed": True, "year": 1999},
    ]
    assert sorted(_ids(fruit.search("bread", k=5, where={"lang": "de"}))) == ["a", "c"]
    assert fruit.search("bread", k=5, where={"lang": "en"}) == []
    assert fruit.update(where={"id": "a"}, set={"reviewed": None}) == 1
    assert fruit.get(["a"])[0].metadata == {"lang": "de", "year": 2001}
    assert _ids(fruit.search("bread", k=5, where={"reviewed": {"$exists": True}})) == ["c"]


def test_update_of_the_text_embeds_it_again(fruit: st.Dataset) -> None:
    assert fruit.update(where={"id": "b"}, set={"text": "violet plum jam"}) == 1
    [row] = fruit.get(["b"])
    assert row.text == "violet plum jam"
    np.testing.assert_allclose(
        row.embedding, HASH64.embed_documents(["violet plum jam"])[0], atol=1e-6
    )
    [best] = fruit.search("violet plum jam", k=1)
    assert (best.id, best.text) == ("b", "violet plum jam")
    assert best.score == pytest.approx(1.0, abs=1e-5)
    assert row.metadata == {"lang": "fr", "year": 2010}


def test_update_of_an_extra_column(ds: st.Dataset) -> None:
    ds.add(["one", "two"], ids=["1", "2"], columns={"brand": ["acme", "zeta"]})
    assert ds.update(where={"brand": "acme"}, set={"brand": "omega"}) == 1
    assert [r.extras["brand"] for r in ds.get(["1", "2"])] == ["omega", "zeta"]
    assert _ids(ds.search("one", k=5, where={"brand": "omega"})) == ["1"]


def test_update_matching_nothing_changes_nothing(fruit: st.Dataset) -> None:
    version = fruit.version
    assert fruit.update(where={"lang": "xx"}, set={"lang": "yy"}) == 0
    assert fruit.version == version
    with pytest.raises(InvalidInput):
        fruit.update(where={"lang": "en"}, set={})
    with pytest.raises(EmptyText):
        fruit.update(where={"id": "a"}, set={"text": "  "})
    assert fruit.version == version


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"id": "b"},
            "update cannot change 'id': an id names its row: delete the row and add it again "
            "under the new id",
        ),
        (
            {"embedding": [0.0] * 64},
            "update cannot change 'embedding': vectors follow the text: set 'text' to embed it "
            "again, or upsert([text], ids=[id], embeddings=[vector]) to store your own vector",
        ),
        (
            {"metadata": {"lang": "de"}},
            "update cannot change 'metadata': set metadata keys themselves: set={'key': value} "
            "(None removes a key)",
        ),
        ({1: "one"}, "update's set= keys are field names (str), got 1"),
    ],
    ids=["id", "embedding", "metadata", "non-str key"],
)
def test_update_refuses_to_change_ids_vectors_or_the_metadata_column(
    fruit: st.Dataset, changes: dict[Any, Any], message: str
) -> None:
    version = fruit.version
    before = fruit.get(["a", "b", "c"])
    with pytest.raises(InvalidInput) as caught:
        fruit.update(where={"id": "a"}, set=changes)
    assert str(caught.value) == message
    assert fruit.version == version
    after = fruit.get(["a", "b", "c"])
    assert [(r.id, r.text, r.metadata) for r in after] == [
        (r.id, r.text, r.metadata) for r in before
    ]
    assert sorted(r["id"] for r in fruit.select(["id"])) == ["a", "b", "c"]  # no duplicate id


def test_set_metadata_refuses_the_reserved_names(fruit: st.Dataset) -> None:
    version = fruit.version
    for key in ("id", "text", "embedding", "metadata"):
        with pytest.raises(InvalidInput, match="metadata keys only"):
            fruit.set_metadata({"a": {key: "x"}})
    assert fruit.version == version


def test_update_of_a_declared_field(fruit: st.Dataset) -> None:
    fruit.index_field("lang")
    assert fruit.update(where={"lang": "fr"}, set={"lang": "it"}) == 1
    assert fruit.get(["b"])[0].metadata["lang"] == "it"
    assert _ids(fruit.search("pear", k=5, where={"lang": "it"})) == ["b"]


# ------------------------------------------------------------------------- delete


def test_delete_by_ids(fruit: st.Dataset) -> None:
    assert fruit.delete(ids=["a", "not-stored"]) == 1
    assert len(fruit) == 2
    assert fruit.get(["a"]) == []
    assert "a" not in _ids(fruit.search("red apple pie", k=5))


def test_delete_by_filter(fruit: st.Dataset) -> None:
    assert fruit.delete(where={"year": {"$lt": 2005}}) == 2
    assert _ids(fruit.search("apple", k=5)) == ["b"]
    version = fruit.version
    assert fruit.delete(where={"lang": "en"}) == 0
    assert fruit.version == version


def test_delete_needs_exactly_one_of_ids_or_where(memory_ds: st.Dataset) -> None:
    with pytest.raises(InvalidInput):
        memory_ds.delete()
    with pytest.raises(InvalidInput):
        memory_ds.delete(ids=["a"], where={"lang": "en"})
    with pytest.raises(InvalidInput):
        memory_ds.delete(ids="a")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- get


def test_get_keeps_input_order_and_skips_missing_ids(fruit: st.Dataset) -> None:
    rows = fruit.get(["c", "missing", "a"])
    assert [(r.id, r.text) for r in rows] == [("c", "yellow banana bread"), ("a", "red apple pie")]
    assert rows[0].metadata == {"lang": "en", "year": 1999}
    assert fruit.get([]) == []
    with pytest.raises(InvalidInput):
        fruit.get("a")  # type: ignore[arg-type]


def test_len_counts_live_rows(ds: st.Dataset) -> None:
    assert len(ds) == 0
    ds.add(["one", "two", "three"], ids=["1", "2", "3"])
    ds.upsert(["two bis"], ids=["2"])
    ds.delete(ids=["3"])
    assert len(ds) == 2


# ------------------------------------------------------------------------- search


def test_search_by_text_returns_the_best_first(fruit: st.Dataset) -> None:
    hits = fruit.search("green pear", k=2)
    assert hits[0].id == "b"
    assert hits[0].text == "green pear tart"
    assert hits[0].metadata == {"lang": "fr", "year": 2010}
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score


def test_search_with_k_above_the_row_count_returns_every_row(fruit: st.Dataset) -> None:
    hits = fruit.search("bread", k=50)
    assert sorted(_ids(hits)) == ["a", "b", "c"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_with_a_filter(fruit: st.Dataset) -> None:
    assert sorted(_ids(fruit.search("pear", k=5, where={"lang": "en"}))) == ["a", "c"]
    assert _ids(fruit.search("pear", k=5, where={"year": {"$gte": 2005}})) == ["b"]
    assert fruit.search("pear", k=5, where={"lang": "es"}) == []


def test_a_filter_on_an_unknown_field_matches_no_row_and_warns(fruit: st.Dataset) -> None:
    with pytest.warns(UnknownFieldWarning, match=r"unknown field 'colour'.*lang"):
        assert fruit.search("pear", where={"colour": "red"}) == []
    with pytest.warns(UnknownFieldWarning):
        assert fruit.delete(where={"colour": "red"}) == 0
    assert len(fruit) == 3


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_metric_override_scores_match_numpy(make_dataset: MakeDataset, metric: str) -> None:
    ds = make_dataset(embedder="hash:8")
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    ids = [f"r{i}" for i in range(6)]
    ds.add([f"text {i}" for i in range(6)], ids=ids, embeddings=vectors)
    query = rng.normal(size=8).astype(np.float32)
    if metric == "cosine":
        expected = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
        order = np.argsort(-expected)
    elif metric == "dot":
        expected = vectors @ query
        order = np.argsort(-expected)
    else:  # a Euclidean distance: lower is better
        expected = np.linalg.norm(vectors - query, axis=1)
        order = np.argsort(expected)
    hits = ds.search(query, k=10, metric=metric)  # type: ignore[arg-type]
    assert _ids(hits) == [ids[i] for i in order]
    np.testing.assert_allclose([h.score for h in hits], expected[order], rtol=1e-5, atol=1e-5)
    if metric == "cosine":  # the stored metric is the default
        assert ds.search(query, k=10) == hits


def test_search_rejects_unusable_queries(fruit: st.Dataset) -> None:
    with pytest.raises(InvalidInput, match="metric"):
        fruit.search("pear", metric="hamming")  # type: ignore[arg-type]
    for k in (0, -1, True, 2.5):
        with pytest.raises(InvalidInput, match="k must be"):
            fruit.search("pear", k=k)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="all zeros"):
        fruit.search(np.zeros(64, dtype=np.float32))
    with pytest.raises(DimensionMismatch):
        fruit.search(np.ones(32, dtype=np.float32))
    with pytest.raises(EmptyText):
        fruit.search("   ")


def test_search_batch_matches_single_searches(fruit: st.Dataset) -> None:
    queries = ["red apple", "banana bread"]
    assert fruit.search_batch(queries, k=2) == [fruit.search(q, k=2) for q in queries]
    vectors = HASH64.embed_queries(queries)
    by_vector = fruit.search_batch(vectors, k=2, where={"lang": "en"})
    assert by_vector == [fruit.search(v, k=2, where={"lang": "en"}) for v in vectors]
    assert by_vector[1][0].id == "c"


def test_index_field_makes_a_typed_column_that_filters_use(fruit: st.Dataset) -> None:
    fruit.index_field("year")
    assert str(fruit.schema.field("year").type) == "int64"
    assert sorted(_ids(fruit.search("pie", k=5, where={"year": {"$gte": 2000}}))) == ["a", "b"]
    fruit.add(["orange cake"], ids=["d"], metadatas=[{"lang": "en", "year": 2020}])
    assert sorted(_ids(fruit.search("pie", k=5, where={"year": {"$gte": 2000}}))) == [
        "a",
        "b",
        "d",
    ]
    fruit.index_field("year")  # declaring again is harmless
    with pytest.raises(InvalidInput, match="declared int64"):
        fruit.add(["bad year"], metadatas=[{"year": "last year"}])
    assert len(fruit) == 4


def test_index_field_rejects_mixed_types_and_bad_names(fruit: st.Dataset) -> None:
    fruit.add(["odd one"], metadatas=[{"lang": 7}])
    with pytest.raises(InvalidInput, match="mixes types"):
        fruit.index_field("lang")
    with pytest.raises(InvalidInput, match="reserved"):
        fruit.index_field("text")
    with pytest.raises(InvalidInput, match="not allowed"):
        fruit.index_field("a.b")


# ------------------------------------------------------------ several handles, index


def test_rows_written_through_one_handle_are_found_by_another(
    make_dataset: MakeDataset, place: Place
) -> None:
    one = make_dataset()
    other = place.open()
    one.add(["red apple", "green pear"], ids=["1", "2"])
    assert sorted(_ids(other.search("apple", k=5))) == ["1", "2"]
    other.add(["blue sky"], ids=["3"])
    assert _ids(one.search("blue sky", k=1)) == ["3"]
    other.delete(ids=["1"])
    assert sorted(_ids(one.search("apple", k=5))) == ["2", "3"]
    other.update(where={"id": "2"}, set={"text": "yellow banana"})
    assert [(h.id, h.text) for h in one.search("yellow banana", k=1)] == [("2", "yellow banana")]
    assert len(one) == len(other) == 2


def test_a_search_never_misses_committed_rows_with_a_saved_index(
    make_dataset: MakeDataset, place: Place
) -> None:
    rng = np.random.default_rng(11)
    vectors = _unit(rng, 40, 16)
    one = make_dataset(embedder="hash:16")
    one.add([f"v{i}" for i in range(40)], ids=[f"v{i}" for i in range(40)], embeddings=vectors)
    one.refresh_index()  # an HNSW index now covers the 40 rows, and is saved where possible
    other = place.open()
    other.delete(ids=["v0", "v1"])
    moved = _unit(rng, 2, 16)
    other.upsert(["moved 2", "moved 3"], ids=["v2", "v3"], embeddings=moved)
    other.add(["fresh"], ids=["fresh"], embeddings=vectors[5:6] * 0.5 + moved[0:1] * 0.5)
    live = {f"v{i}": vectors[i] for i in range(4, 40)} | {"v2": moved[0], "v3": moved[1]}
    live["fresh"] = vectors[5] * 0.5 + moved[0] * 0.5
    names = list(live)
    matrix = np.stack([live[n] for n in names])
    for handle in (one, place.open()):
        for query in (vectors[0], moved[0], vectors[5], rng.normal(size=16).astype(np.float32)):
            scores = matrix @ query / np.linalg.norm(matrix, axis=1) / np.linalg.norm(query)
            expected = [names[i] for i in np.argsort(-scores)[:5]]
            assert _ids(handle.search(query, k=5)) == expected
        assert sorted(_ids(handle.search(vectors[0], k=100))) == sorted(names)


def test_a_dataset_recreated_on_s3_is_not_searched_with_the_old_index(s3_server: Any) -> None:
    uri, options = s3_server.fresh_uri(), s3_server.storage_options()
    rng = np.random.default_rng(5)
    old = st.open(uri, embedder="hash:16", storage_options=options)
    old.add([f"old {i}" for i in range(20)], embeddings=_unit(rng, 20, 16))
    old.refresh_index()
    client = s3_server.client()
    for key in s3_server.keys(uri):
        client.delete_object(Bucket=s3_server.bucket, Key=key)
    new = st.open(uri, embedder="hash:16", storage_options=options)
    vectors = _unit(rng, 20, 16)
    ids = new.add([f"new {i}" for i in range(20)], embeddings=vectors)
    reopened = st.open(uri, storage_options=options)
    found = [reopened.search(v, k=1)[0] for v in vectors]
    assert [h.id for h in found] == ids
    assert [h.score for h in found] == pytest.approx([1.0] * 20, abs=1e-5)


# --------------------------------------------------- rows vector search cannot use
class _ZeroForSome(CountingEmbedder):
    """hash:64, but the zero vector for texts holding "ZERO" (a faulty provider)."""

    def embed_batch(self, texts: list[str], *, kind: Any) -> np.ndarray:
        vectors = super().embed_batch(texts, kind=kind)
        vectors[["ZERO" in text for text in texts]] = 0.0
        return vectors


def test_a_zero_vector_from_the_embedder_writes_nothing(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "ds", embedder=_ZeroForSome())
    ds.add(["first row"])
    version = ds.version
    with pytest.raises(InvalidInput, match=r"row 1 \(id 'b'\): the embedder returned a zero"):
        ds.add(["fine", "ZERO here", "fine too"], ids=["a", "b", "c"])
    with pytest.raises(InvalidInput, match="the embedder returned a zero vector"):
        ds.update(where={}, set={"text": "now ZERO"})
    with pytest.raises(NonFiniteValues, match="row 0"):
        ds.add(["x"], embeddings=np.full((1, 64), np.nan))
    assert (ds.version, len(ds)) == (version, 1)
    with pytest.raises(InvalidInput, match="the query vector is all zeros"):
        ds.search("ZERO", k=1)
    # And the dataset goes on as if nothing had been tried.
    ds.add(["second row"], ids=["second"])
    assert ds.search("second row", k=1)[0].id == "second"
    assert ds.delete(ids=["second"]) == 1
    ds.commit("after the refused rows")
    reopened = st.open(tmp_path / "ds")
    assert len(reopened) == 1 and reopened.search("first row", k=1)[0].text == "first row"


def test_a_stored_zero_or_nan_row_never_blocks_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from shoal.store import _view, _writes

    monkeypatch.setattr(_view, "INDEX_MIN_ROWS", 200)
    monkeypatch.setattr(_view, "TAIL_MAX", 64)
    rng = np.random.default_rng(5)
    ds = st.open(tmp_path / "ds", embedder="hash:16")
    vectors = rng.standard_normal((400, 16)).astype(np.float32)
    ds.add([f"row {i}" for i in range(400)], embeddings=vectors, ids=[f"r{i}" for i in range(400)])
    # As an older Shoal (or another tool) could: rows holding a zero and a NaN vector.
    with monkeypatch.context() as patch:
        patch.setattr(_writes.Batch, "check_searchable", lambda *args: None)
        patch.setattr(_writes, "validate_vectors", lambda v, **_: np.asarray(v, np.float32))
        bad = np.zeros((2, 16), dtype=np.float32)
        bad[1, 3] = np.nan
        ds.add(["zero", "nan"], embeddings=bad, ids=["zero", "nan"])
    for handle in (ds, st.open(tmp_path / "ds")):
        with caplog.at_level("WARNING", logger="shoal.store"):
            hits = handle.search(vectors[7], k=3)
        assert hits[0].id == "r7" and {"zero", "nan"}.isdisjoint(h.id for h in hits)
        assert "hold a zero or non-finite vector" in caplog.text
        assert handle.search("row", k=500, mode="keyword")
    ds.add(["after"], ids=["after"])
    ds.commit("still writable")
    assert ds.delete(ids=["zero", "nan"]) == 2
    reopened = st.open(tmp_path / "ds")
    assert len(reopened) == 401 and reopened.search(vectors[9], k=1)[0].id == "r9"


def test_drop_duplicate_ids_keeps_the_first_written_copy(tmp_path: Path) -> None:
    import lance

    ds = st.open(tmp_path / "ds", embedder="hash:16")
    ds.add(["one", "two", "three"], ids=["a", "b", "c"])
    assert ds.drop_duplicate_ids() == 0
    # Copies as two S3 writers could leave them: the same ids appended again, changed.
    raw = lance.dataset(str(tmp_path / "ds"))
    copies = raw.to_table(filter="id IN ('a', 'c')")
    copies = copies.set_column(1, "text", pa.array(["one again", "three again"]))
    lance.write_dataset(copies, raw, mode="append")
    assert len(st.open(tmp_path / "ds")) == 5
    assert ds.drop_duplicate_ids() == 2
    assert sorted((r.id, r.text) for r in ds.get(["a", "b", "c"])) == [
        ("a", "one"), ("b", "two"), ("c", "three")
    ]  # fmt: skip
    assert len(st.open(tmp_path / "ds")) == 3 and ds.search("one", k=1)[0].id == "a"
