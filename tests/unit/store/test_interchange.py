"""Arrow, pandas and Polars out of a dataset and back in: the same rows, ids, vectors,
metadata and binary values; columns, filters, past versions and bad input."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import shoal
import shoal.store as st
from shoal.errors import EmbedderMismatch, InvalidInput, MissingDependency
from shoal.store import Binary

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
TEXTS = ["a cat sat on the mat", "dogs bark at night", "stock markets fell", "a bird sang"]
METAS: list[dict[str, Any]] = [
    {"topic": "pets", "year": 2020, "score": 0.5, "tags": ["a", "b"]},
    {"topic": "pets", "year": 2021},
    {"topic": "money", "year": 2022, "score": 1.5, "author": {"name": "Ann"}},
    {"topic": "pets", "year": 2023, "score": 2.0},
]


def _fill(dataset: st.Dataset) -> st.Dataset:
    dataset.add(
        TEXTS,
        metadatas=METAS,
        ids=["cat", "dog", "stocks", "bird"],
        columns={"image": Binary([PNG, None, b"\x00\x01", b""], "image/png")},
    )
    return dataset


def _rows(dataset: st.Dataset) -> dict[str, tuple[str, dict[str, Any], list[float], Any]]:
    records = dataset.get(["cat", "dog", "stocks", "bird"])
    return {
        r.id: (r.text, r.metadata, r.embedding.tolist(), r.extras.get("image")) for r in records
    }


def test_arrow_out_and_back_in_gives_the_same_rows_on_every_backend(
    make_dataset: Callable[..., st.Dataset], place: Any
) -> None:
    source = _fill(make_dataset())
    table = source.to_arrow()
    assert table.column_names == ["id", "text", "embedding", "metadata", "image"]
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 64)
    assert table.schema.field("image").metadata == {b"shoal.content_type": b"image/png"}
    copy = st.from_arrow(
        table, place.uri + "-copy", storage_options=place.storage_options
    )  # the embedder comes from the table's schema
    assert copy.spec == source.spec and len(copy) == 4
    assert _rows(copy) == _rows(source)
    assert copy.get(["cat"])[0].extras["image"] == PNG  # byte for byte


def test_pandas_and_polars_round_trips() -> None:
    source = _fill(st.open("memory://interchange-frames", embedder="hash:64"))
    frame = source.to_pandas()
    assert list(frame.columns) == ["id", "text", "embedding", "metadata", "image"]
    from_pandas = shoal.from_pandas(frame, "memory://from-pandas", embedder="hash:64")
    polars_frame = source.to_polars()
    assert polars_frame.shape == (4, 5)
    from_polars = shoal.from_polars(polars_frame, "memory://from-polars", embedder="hash:64")
    for copy in (from_pandas, from_polars):
        assert {k: v[:3] for k, v in _rows(copy).items()} == {
            k: v[:3] for k, v in _rows(source).items()
        }
        assert copy.get(["cat"])[0].extras["image"] == PNG


def test_columns_name_metadata_fields_typed_from_the_whole_version() -> None:
    source = _fill(st.open("memory://interchange-columns", embedder="hash:64"))
    table = source.to_arrow(columns=["id", "year", "score", "topic", "tags", "author.name"])
    types = {f.name: f.type for f in table.schema}
    assert types == {
        "id": pa.string(),
        "year": pa.int64(),
        "score": pa.float64(),  # missing in one row: a null, not NaN
        "topic": pa.string(),
        "tags": pa.string(),  # lists are JSON text
        "author.name": pa.string(),
    }
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["dog"]["score"] is None and rows["cat"]["tags"] == '["a","b"]'
    assert rows["stocks"]["author.name"] == "Ann"
    pets = source.to_arrow(columns=["id", "year"], where={"topic": "pets"})
    assert sorted(pets.column("id").to_pylist()) == ["bird", "cat", "dog"]
    assert pets.schema.field("year").type == pa.int64()  # the filter does not change types


def test_a_past_version_and_an_empty_filter() -> None:
    source = _fill(st.open("memory://interchange-ref", embedder="hash:64"))
    first = source.version
    source.add(["one more row"], ids=["late"])
    assert source.to_arrow(ref=first).num_rows == 4 and source.to_arrow().num_rows == 5
    empty = source.to_arrow(where={"topic": "nothing"})
    assert empty.num_rows == 0 and empty.column_names == source.to_arrow().column_names


def test_batches_are_read_lazily_a_batch_at_a_time() -> None:
    source = st.open("memory://interchange-batches", embedder="hash:8")
    source.add([f"row {i}" for i in range(50)])
    reader = source.to_batches(columns=["id", "text"], batch_size=16)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 50 and max(sizes) <= 16 and len(sizes) >= 4


def test_unknown_columns_and_bad_options_say_what_exists() -> None:
    source = _fill(st.open("memory://interchange-errors", embedder="hash:64"))
    with pytest.raises(InvalidInput, match=r"no column or metadata field 'colour'.*topic"):
        source.to_arrow(columns=["id", "colour"])
    with pytest.raises(InvalidInput, match="names a column twice"):
        source.to_arrow(columns=["id", "id"])
    with pytest.raises(InvalidInput, match="batch_size must be a positive int"):
        source.to_batches(batch_size=0)


def test_import_roles_other_columns_become_metadata_and_texts_are_embedded() -> None:
    table = pa.table(
        {
            "body": ["first text", "second text"],
            "key": ["k1", "k2"],
            "lang": ["en", None],
            "stars": [4.5, float("nan")],
        }
    )
    dataset = st.open("memory://interchange-import", embedder="hash:16")
    ids = dataset.add_table(table, text="body", id="key")
    assert ids == ["k1", "k2"] and len(dataset) == 2
    first, second = dataset.get(["k1", "k2"])
    assert first.metadata == {"lang": "en", "stars": 4.5} and second.metadata == {}
    embedded = st.open("memory://interchange-embedded", embedder="hash:16")
    embedded.add(["first text"])
    assert np.allclose(first.embedding, embedded.to_arrow().column("embedding")[0].as_py())
    version = dataset.version
    assert dataset.add_table(table, text="body", id="key") == ["k1", "k2"]
    assert dataset.version == version  # nothing twice: stored ids are skipped


def test_bad_tables_write_nothing_and_say_which_row() -> None:
    dataset = st.open("memory://interchange-bad", embedder="hash:4")
    dataset.add(["kept"])
    version = dataset.version
    cases: list[tuple[pa.Table, str]] = [
        (pa.table({"body": ["x"]}), r"no column 'text' for the text.*its columns are body"),
        (pa.table({"text": ["a", "b"], "embedding": [[1.0, 0, 0], [0, 1.0, 0]]}), "dimension"),
        (pa.table({"text": ["a", "b"], "embedding": [[1.0, 0, 0, 0], [0, 1.0, 0]]}), "row 1"),
        (pa.table({"text": ["a"], "embedding": [[float("nan"), 0, 0, 0]]}), "NaN|finite"),
        (pa.table({"text": ["a", "b"], "metadata": ['{"ok": 1}', "{broken"]}), "row 1.*not JSON"),
        (pa.table({"text": ["a", ""]}), "empty"),
        (pa.table({"text": ["a"], "raw": [{"b": b"x"}]}), "holds bytes.*extra column"),
    ]
    for table, message in cases:
        with pytest.raises(InvalidInput, match=message):
            dataset.add_table(table)
        assert dataset.version == version and len(dataset) == 1
    with pytest.raises(InvalidInput, match="cannot import a str"):
        dataset.add_table("rows.csv")


def test_an_import_is_one_version_and_one_adding_a_binary_column_adds_it_first() -> None:
    dataset = st.open("memory://interchange-new-column", embedder="hash:4")
    dataset.add(["before"])
    version = dataset.version
    dataset.add_table(pa.table({"text": [f"row {i}" for i in range(20)]}))
    assert dataset.version == version + 1  # staged, then committed together
    table = pa.table({"text": ["a", "b"], "blob": pa.array([b"\x00", b"\x01"], pa.binary())})
    dataset.add_table(table)
    assert dataset.version == version + 3  # the empty column, then the rows
    assert sorted(
        r["blob"] for r in dataset.to_arrow(columns=["blob"]).to_pylist() if r["blob"]
    ) == [
        b"\x00",
        b"\x01",
    ]


def test_a_table_from_another_embedder_is_refused() -> None:
    source = _fill(st.open("memory://interchange-spec", embedder="hash:64"))
    other = st.open("memory://interchange-other", embedder="hash:16")
    with pytest.raises(EmbedderMismatch):
        st.from_arrow(source.to_arrow(), "memory://interchange-other")
    assert len(other) == 0


def test_pandas_and_polars_missing_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    source = st.open("memory://interchange-missing", embedder="hash:4")
    for module, extra in (("pandas", "pandas"), ("polars", "polars")):
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(MissingDependency, match=rf"pip install 'shoal\[{extra}\]'"):
            getattr(source, f"to_{module}")()
