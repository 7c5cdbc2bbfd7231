"""Rows as a user gets them back (Record, extra and binary columns) and the summary table."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest

import shoal.store as st
from shoal.errors import InvalidInput

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(255, -1, -1))


def _columns(info: st.DatasetInfo) -> dict[str, tuple[str, tuple[int, ...], str, str | None]]:
    return {c.tensor: (c.htype, c.shape, c.dtype, c.compression) for c in info.columns}


def _row(text: str, *cells: str) -> re.Pattern[str]:
    """A summary line holding exactly these cells, in order, whatever the spacing."""
    return re.compile(r"^\s*" + r"\s+".join(re.escape(c) for c in (text, *cells)) + r"\s*$", re.M)


def test_get_returns_records_with_every_stored_field(ds: st.Dataset) -> None:
    [row_id] = ds.add(["a photo of a cat"], metadatas=[{"tags": ["cat", "pet"], "n": 1.5}])
    [record] = ds.get([row_id])
    assert isinstance(record, st.Record)
    assert (record.id, record.text) == (row_id, "a photo of a cat")
    assert record.metadata == {"n": 1.5, "tags": ["cat", "pet"]}
    assert record.embedding.shape == (64,)
    assert record.embedding.dtype == np.float32
    assert record.extras == {}


def test_extra_and_binary_columns_round_trip(ds: st.Dataset) -> None:
    ids = ds.add(
        ["first image", "second image"],
        columns={
            "image": st.Binary([PNG, JPEG], content_type="image/png"),
            "page": [1, 2],
            "source": ["a.pdf", None],
        },
    )
    first, second = ds.get(ids)
    assert first.extras == {"image": PNG, "page": 1, "source": "a.pdf"}
    assert second.extras == {"image": JPEG, "page": 2, "source": None}
    # Rows added later without those columns read back as None.
    [later] = ds.get(ds.add(["no extras"]))
    assert later.extras == {"image": None, "page": None, "source": None}
    # Filters work on the scalar extra columns.
    assert [h.id for h in ds.search("image", k=5, where={"page": 2})] == [ids[1]]


def test_info_describes_every_column(ds: st.Dataset) -> None:
    ds.add(
        ["one", "two", "three", "four"],
        metadatas=[{"lang": "en"}] * 4,
        columns={"image": st.Binary([PNG] * 4, content_type="image/png"), "page": [1, 2, 3, 4]},
    )
    info = ds.info()
    assert (info.uri, info.version, info.branch, info.rows) == (ds.uri, ds.version, "main", 4)
    assert info.embedder == ds.spec
    assert [c.tensor for c in info.columns] == sorted(c.tensor for c in info.columns)
    assert _columns(info) == {
        "embedding": ("embedding", (4, 64), "float32", None),
        "id": ("text", (4, 1), "str", None),
        "image": ("image", (4, 1), "bytes", "png"),
        "metadata": ("json", (4, 1), "str", None),
        "page": ("generic", (4, 1), "int64", None),
        "text": ("text", (4, 1), "str", None),
    }


def test_summary_prints_the_column_table(
    ds: st.Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    ds.add(
        ["one", "two", "three", "four"],
        columns={"image": st.Binary([PNG] * 4, content_type="image/png")},
    )
    ds.summary()
    out = capsys.readouterr().out
    assert out == str(ds.info()) + "\n"
    lines = out.splitlines()
    assert lines[0] == (
        f"Dataset(path={ds.uri!r}, tensors=['embedding', 'id', 'image', 'metadata', 'text'])"
    )
    assert lines[1] == (
        f"version {ds.version} on branch main, 4 rows, embedder hash:64 (64-d, cosine)"
    )
    assert _row("tensor", "htype", "shape", "dtype", "compression").search(out)
    assert _row("embedding", "embedding", "(4, 64)", "float32", "None").search(out)
    assert _row("id", "text", "(4, 1)", "str", "None").search(out)
    assert _row("image", "image", "(4, 1)", "bytes", "png").search(out)
    assert _row("metadata", "json", "(4, 1)", "str", "None").search(out)
    assert _row("text", "text", "(4, 1)", "str", "None").search(out)


def test_summary_of_an_empty_dataset(ds: st.Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    ds.summary()
    out = capsys.readouterr().out
    assert ", 0 rows," in out
    assert _row("embedding", "embedding", "(0, 64)", "float32", "None").search(out)


@pytest.mark.parametrize(
    ("content_type", "htype", "compression"),
    [
        ("image/png", "image", "png"),
        ("image/jpg", "image", "jpeg"),
        ("image/jpeg", "image", "jpeg"),
        ("audio/wav", "audio", "wav"),
        ("video/mp4", "video", "mp4"),
        ("image/x-raw", "image", None),
        ("application/pdf", "binary", None),
    ],
)
def test_binary_columns_are_described_by_their_content_type(
    content_type: str, htype: str, compression: str | None
) -> None:
    ds = st.open(f"memory://test-{uuid.uuid4().hex}", embedder="hash:64")
    ids = ds.add(["a file"], columns={"blob": st.Binary([b"\x00\x01"], content_type=content_type)})
    assert _columns(ds.info())["blob"] == (htype, (1, 1), "bytes", compression)
    assert ds.get(ids)[0].extras["blob"] == b"\x00\x01"


def test_binary_without_content_type_is_generic_binary() -> None:
    ds = st.open(f"memory://test-{uuid.uuid4().hex}", embedder="hash:64")
    ds.add(["a file"], columns={"blob": st.Binary([b"\x00"])})
    assert _columns(ds.info())["blob"] == ("binary", (1, 1), "bytes", None)


def test_a_declared_field_shows_as_a_typed_column(ds: st.Dataset) -> None:
    ds.add(["a", "b"], metadatas=[{"year": 2001, "score": 0.5}, {"year": 2002, "score": 1}])
    ds.index_field("year")
    ds.index_field("score")
    columns = _columns(ds.info())
    assert columns["year"] == ("generic", (2, 1), "int64", None)
    assert columns["score"] == ("generic", (2, 1), "float64", None)


def test_extra_columns_need_one_type_and_a_known_type() -> None:
    ds = st.open(f"memory://test-{uuid.uuid4().hex}", embedder="hash:64")
    with pytest.raises(InvalidInput, match="one type"):
        ds.add(["a", "b"], columns={"page": [1, "two"]})
    with pytest.raises(InvalidInput, match="all None"):
        ds.add(["a"], columns={"page": [None]})
    assert len(ds) == 0
    ds.add(["a"], columns={"page": [1]})
    with pytest.raises(InvalidInput, match="wants int64"):
        ds.add(["b"], columns={"page": ["two"]})
    assert len(ds) == 1
