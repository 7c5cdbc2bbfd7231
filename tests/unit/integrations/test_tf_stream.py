"""Dataset.to_tf: every row once an epoch across ranks, seeded shuffles, a pinned version,
column types, transforms, errors, and a classifier trained through it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stream_data import DIM, ROWS, build_rows

import shoal.store as st
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import InvalidInput, MissingDependency
from store_fixtures import S3Settings, s3_server

tf = pytest.importorskip("tensorflow", reason="pip install 'shoal[tensorflow]'")

__all__ = ["s3_server"]

TopicRows = tuple[list[str], list[dict[str, Any]], np.ndarray]
ALL_IDS = [f"r{i:04d}" for i in range(ROWS)]


@pytest.fixture(scope="module")
def rows_ds(tmp_path_factory: pytest.TempPathFactory, _session_environment: None) -> st.Dataset:
    """The dataset of stream_data.build_rows in a folder, shared by the module's tests."""
    return build_rows(str(tmp_path_factory.mktemp("tf-stream") / "rows"))


def ids_of(batches: Any) -> list[str]:
    """The ids of one pass over a tf.data.Dataset of batches, in order."""
    return [i.decode() for batch in batches for i in batch["id"].numpy()]


def test_ranks_read_every_row_once_and_each_pass_is_a_new_epoch(rows_ds: st.Dataset) -> None:
    ranks = [
        rows_ds.to_tf(columns=["id"], batch_size=16, shuffle=True, rank=r, world_size=2)
        for r in range(2)
    ]
    first = [ids_of(batches) for batches in ranks]
    assert sorted(first[0] + first[1]) == ALL_IDS
    second = [ids_of(batches) for batches in ranks]  # the next pass: epoch 1
    assert sorted(second[0] + second[1]) == ALL_IDS and second != first
    again = rows_ds.to_tf(columns=["id"], batch_size=16, shuffle=True, rank=0, world_size=2)
    assert ids_of(again) == first[0]  # same seed, same epoch: same order
    assert ids_of(rows_ds.to_tf(columns=["id"], batch_size=100)) == ALL_IDS
    with pytest.raises(InvalidInput, match="0 <= rank < world_size"):
        rows_ds.to_tf(rank=2, world_size=2)


def test_columns_arrive_as_typed_tensors(rows_ds: st.Dataset) -> None:
    columns = ["id", "text", "embedding", "label", "score", "maybe", "info.year", "metadata"]
    batches = rows_ds.to_tf(columns=columns, batch_size=10)
    batch = next(iter(batches))
    assert batch["embedding"].dtype == tf.float32 and batch["embedding"].shape == (10, DIM)
    assert batch["embedding"].shape[1] == batches.element_spec["embedding"].shape[1] == DIM
    assert batch["label"].dtype == tf.int64 and batch["label"].numpy().tolist()[:3] == [0, 1, 2]
    assert batch["score"].dtype == tf.float64 and np.isnan(batch["maybe"].numpy()[0])
    assert batch["info.year"].numpy().tolist()[:2] == [1900, 1901]
    assert batch["text"].numpy()[1] == b"row 1"
    stored = rows_ds.get(ALL_IDS[:10])
    assert np.allclose(batch["embedding"].numpy(), np.stack([r.embedding for r in stored]))
    assert b'"group": "even"' in batch["metadata"].numpy()[0]


def test_binary_columns_round_trip_byte_for_byte(rows_ds: st.Dataset) -> None:
    stored = {r.id: r.extras["blob"] or b"" for r in rows_ds.get(ALL_IDS)}  # None: b""
    batches = rows_ds.to_tf(columns=["id", "blob"], batch_size=64, shuffle=True)
    seen = {
        i.decode(): blob
        for batch in batches
        for i, blob in zip(batch["id"].numpy(), batch["blob"].numpy(), strict=True)
    }
    assert seen == stored and seen["r0004"] == b"\x00\xff\x00"


def test_transform_sets_the_structure_and_where_filters(rows_ds: st.Dataset) -> None:
    def pairs(batch: dict[str, Any]) -> tuple[Any, Any]:
        return batch["embedding"] * 2, batch["label"]

    batches = rows_ds.to_tf(
        columns=["embedding", "label"], where={"group": "odd"}, batch_size=50, transform=pairs
    )
    assert batches.element_spec[0].shape.as_list() == [None, DIM]
    assert sum(int(labels.shape[0]) for _, labels in batches) == ROWS // 2
    nothing = rows_ds.to_tf(columns=["embedding", "label"], where={"label": 99}, transform=pairs)
    assert list(nothing) == [] and nothing.element_spec[1].dtype == tf.int64
    assert list(rows_ds.to_tf(columns=["id"], where={"label": 99})) == []


def test_a_writer_during_a_pass_changes_nothing_it_reads(tmp_path: Path) -> None:
    ds = build_rows(str(tmp_path / "rows"))
    batches = iter(ds.to_tf(columns=["id"], batch_size=100, shuffle=True))
    seen = [i.decode() for i in next(batches)["id"].numpy()]
    ds.add(["late"], ids=["zz-late"], embeddings=np.ones((1, DIM), np.float32))
    ds.delete(ids=["r0000"])
    seen += [i.decode() for batch in batches for i in batch["id"].numpy()]
    assert sorted(seen) == ALL_IDS


def test_s3_dataset_feeds_tf(s3_server: S3Settings) -> None:
    ds = build_rows(s3_server.fresh_uri(), s3_server.storage_options())
    assert sorted(ids_of(ds.to_tf(columns=["id"], batch_size=128, shuffle=True))) == ALL_IDS


def test_errors(rows_ds: st.Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput, match=r"'nope'.*label"):
        rows_ds.to_tf(columns=["nope"])
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.delitem(sys.modules, "shoal.integrations.tf", raising=False)
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[tensorflow\]'"):
        rows_ds.to_tf()


@pytest.mark.slow
def test_a_classifier_trained_through_tf_labels_unseen_sentences(
    tmp_path: Path, minilm: LocalEmbedder, topic_rows: TopicRows
) -> None:
    texts, metadatas, vectors = topic_rows
    ds = st.open(tmp_path / "topics", embedder=minilm)
    ds.add(texts, metadatas=metadatas, embeddings=vectors)
    train = ds.to_tf(
        columns=["embedding", "label"], where={"split": "train"}, batch_size=16, shuffle=True
    )
    tf.random.set_seed(0)
    weights = tf.Variable(tf.random.normal((ds.spec.dimensions, 3), stddev=0.01))
    bias = tf.Variable(tf.zeros(3))
    for _ in range(15):  # each pass over `train` is the next epoch
        for batch in train:
            with tf.GradientTape() as tape:
                logits = batch["embedding"] @ weights + bias
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(batch["label"], logits)
                )
            for variable, grad in zip(
                [weights, bias], tape.gradient(loss, [weights, bias]), strict=True
            ):
                variable.assign_sub(2.0 * grad)  # plain SGD (Keras's import is slow)
    test = next(
        iter(ds.to_tf(columns=["embedding", "label"], where={"split": "test"}, batch_size=64))
    )
    predicted = tf.argmax(test["embedding"] @ weights + bias, axis=1)
    accuracy = float(tf.reduce_mean(tf.cast(predicted == test["label"], tf.float32)))
    assert test["label"].shape[0] == 36
    print(f"held-out accuracy {accuracy:.3f}")
    assert accuracy >= 0.85  # measured 1.0 (36/36); chance is 0.33
