"""Writers without a lock on S3 (moto): ids stay unique through Lance's key conflicts, on the
add, upsert and staged paths; the DynamoDB commit store (s3+ddb://); the private switch."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import lance
import numpy as np
import pytest

import shoal.store as st
from shoal.errors import ConfigurationError
from shoal.store import _lance
from shoal.store._location import parse_uri
from shoal.store._records import base_schema
from shoal.store._writes import s3_writes
from store_fixtures import S3Settings

KEY = b"lance-schema:unenforced-primary-key"


def _vectors(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, 16)).astype(np.float32)


def _ids(uri: str, s3: S3Settings) -> list[str]:
    """Every stored id, copies included, read with Lance itself."""
    dataset = lance.dataset(parse_uri(uri).lance_uri, storage_options=s3.storage_options())
    ids: list[str] = dataset.to_table(columns=["id"]).column("id").to_pylist()
    return ids


def test_a_new_dataset_declares_id_its_primary_key(s3_server: S3Settings) -> None:
    uri = s3_server.fresh_uri()
    st.open(uri, embedder="hash:16", storage_options=s3_server.storage_options())
    dataset = lance.dataset(uri, storage_options=s3_server.storage_options())
    assert (dataset.schema.field("id").metadata or {}).get(KEY) == b"true"


def test_an_older_dataset_gets_the_key_at_its_first_s3_write(
    s3_server: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, options = s3_server.fresh_uri(), s3_server.storage_options()
    with monkeypatch.context() as patch:  # made as Shoal made datasets before it declared it
        keyless = base_schema(16).field("id").remove_metadata()
        patch.setattr(_lance, "base_schema", lambda dims: base_schema(dims).set(0, keyless))
        st.open(uri, embedder="hash:16", storage_options=options)
    assert KEY not in (
        lance.dataset(uri, storage_options=options).schema.field("id").metadata or {}
    )
    ds = st.open(uri, storage_options=options)
    ds.add(["one", "two"], embeddings=_vectors(2))
    field = lance.dataset(uri, storage_options=options).schema.field("id")
    assert (field.metadata or {}).get(KEY) == b"true"
    assert len(st.open(uri, storage_options=options)) == 2


def test_a_staged_commit_skips_ids_another_writer_stored_meanwhile(
    s3_server: S3Settings,
) -> None:
    uri, options = s3_server.fresh_uri(), s3_server.storage_options()
    first = st.open(uri, embedder="hash:16", storage_options=options)
    second = st.open(uri, storage_options=options)
    texts = [f"text {i}" for i in range(6)]
    with first.staging("import six") as stage:
        stage.add(texts, embeddings=_vectors(6))
        second.add(texts[:3], embeddings=_vectors(3, seed=1))  # stored before the commit
    ids = _ids(uri, s3_server)
    assert len(ids) == len(set(ids)) == 6
    reopened = st.open(uri, storage_options=options)
    assert reopened.log()[-1].message == "import six"
    # The first copy stays: the rows the other writer committed first keep its vectors.
    [record] = reopened.get([st.row_id("text 0")])
    assert np.allclose(record.embedding, _vectors(3, seed=1)[0])


def test_re_adding_stored_rows_on_s3_makes_no_version(s3_server: S3Settings) -> None:
    ds = st.open(
        s3_server.fresh_uri(), embedder="hash:16", storage_options=s3_server.storage_options()
    )
    ds.add(["a", "b"], embeddings=_vectors(2))
    version = ds.version
    ds.add(["a", "b"], embeddings=_vectors(2))
    assert ds.version == version
    ds.upsert(["c"], ids=["k"], embeddings=_vectors(1))
    ds.upsert(["d"], ids=["k"], embeddings=_vectors(1, seed=2))
    assert [r.text for r in ds.get(["k"])] == ["d"]
    assert len(ds) == 3


def test_the_unsafe_switch_appends_copies(
    s3_server: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two handles that both looked before either wrote (as two racing processes do).
    uri, options = s3_server.fresh_uri(), s3_server.storage_options()
    first = st.open(uri, embedder="hash:16", storage_options=options)
    second = st.open(uri, storage_options=options)
    monkeypatch.setenv("SHOAL_S3_WRITES", "unsafe")
    # stored_ids is read under no lock, so a copy needs the other commit to land in
    # between: simulate it by patching the lookup to miss, as a race would.
    monkeypatch.setattr("shoal.store._lance.stored_ids", lambda dataset, ids: set())
    first.add(["same"], embeddings=_vectors(1))
    second.add(["same"], embeddings=_vectors(1))
    assert _ids(uri, s3_server).count(st.row_id("same")) == 2
    monkeypatch.setenv("SHOAL_S3_WRITES", "keys")
    first.add(["again"], embeddings=_vectors(1))
    second.add(["again"], embeddings=_vectors(1))
    assert _ids(uri, s3_server).count(st.row_id("again")) == 1


@pytest.mark.parametrize("value", ["lock", "on", "1"])
def test_an_unknown_s3_writes_switch_says_what_it_takes(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_S3_WRITES", value)
    with pytest.raises(ConfigurationError, match="keys, cleanup, unsafe"):
        s3_writes()


def test_s3_ddb_uris_name_their_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    location = parse_uri("s3+ddb://bucket/kb/?ddbTableName=commits")
    assert (location.kind, location.lance_uri) == ("s3", "s3+ddb://bucket/kb?ddbTableName=commits")
    assert location.storage_options["dynamodb_endpoint"] == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8")
    assert parse_uri("s3+ddb://b/kb?ddbTableName=t").storage_options["dynamodb_endpoint"] == (
        "http://127.0.0.1:8"
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3+ddb://bucket/kb", "ddbTableName=TABLE"),
        ("s3+ddb://bucket/kb?table=t", "ddbTableName=TABLE"),
        ("s3+ddb://bucket/kb?ddbTableName=t&x=1", "ddbTableName=TABLE"),
        ("s3+ddb://", "needs a bucket"),
        ("s3://bucket/kb?ddbTableName=t", r"takes no \?query"),
    ],
)
def test_bad_s3_uris_say_what_to_write(uri: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_uri(uri)


def test_a_dataset_with_dynamodb_commits(
    s3_server: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    dynamodb: Any = boto3.client(
        "dynamodb",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key_id,
        aws_secret_access_key=s3_server.secret_access_key,
        region_name=s3_server.region,
    )
    table = f"commits{s3_server.fresh_uri()[-8:]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "base_uri", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "base_uri", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    prefix = s3_server.fresh_uri().removeprefix("s3://")
    uri = f"s3+ddb://{prefix}?ddbTableName={table}"
    first = st.open(uri, embedder="hash:16")
    second = st.open(uri)
    first.add(["a", "b"], embeddings=_vectors(2))
    second.add(["b", "c"], embeddings=_vectors(2, seed=3))
    assert sorted(r["text"] for r in st.open(uri).select(["text"])) == ["a", "b", "c"]
    items = dynamodb.scan(TableName=table)["Items"]
    assert len(items) >= 3, "the commits were not recorded in DynamoDB"
