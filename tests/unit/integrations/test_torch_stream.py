"""Dataset.to_torch / to_torch_rows: every row once an epoch across ranks and DataLoader
workers, seeded shuffles, a pinned version, column types, S3, errors, and real training."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stream_data import DIM, ROWS, build_rows
from torch.utils.data import DataLoader

import shoal.store as st
from shoal.embeddings.local import LocalEmbedder
from shoal.errors import InvalidInput, MissingDependency
from shoal.integrations.torch import TorchRows, TorchStream, to_torch
from store_fixtures import S3Settings, s3_server

__all__ = ["s3_server"]

TopicRows = tuple[list[str], list[dict[str, Any]], np.ndarray]
ALL_IDS = [f"r{i:04d}" for i in range(ROWS)]


@pytest.fixture(scope="module")
def rows_ds(tmp_path_factory: pytest.TempPathFactory, _session_environment: None) -> st.Dataset:
    """The dataset of stream_data.build_rows in a folder, shared by the module's tests."""
    return build_rows(str(tmp_path_factory.mktemp("stream") / "rows"))


@pytest.fixture(scope="module")
def context() -> Any:
    """Lance is not fork-safe: workers start from a forkserver that has imported shoal's
    torch module (what the README recommends), so each starts in milliseconds."""
    multiprocessing.set_forkserver_preload(["shoal.integrations.torch"])
    return multiprocessing.get_context("forkserver")


def loader(stream: TorchStream, workers: int, context: Any) -> DataLoader[Any]:
    """A DataLoader over whole batches, with `workers` worker processes."""
    if workers == 0:
        return DataLoader(stream, batch_size=None)
    return DataLoader(stream, batch_size=None, num_workers=workers, multiprocessing_context=context)


def epoch_ids(streams: list[TorchStream], workers: int, context: Any) -> list[str]:
    """The ids every rank's stream yields in one epoch, rank after rank."""
    return [i for s in streams for batch in loader(s, workers, context) for i in batch["id"]]


# ------------------------------------------------------------------ every row once
@pytest.mark.parametrize("workers", [0, 2])
def test_two_ranks_and_their_workers_read_every_row_once(
    rows_ds: st.Dataset, context: Any, workers: int
) -> None:
    streams = [
        rows_ds.to_torch(columns=["id"], batch_size=16, shuffle=True, rank=r, world_size=2)
        for r in range(2)
    ]
    shares = [epoch_ids([s], workers, context) for s in streams]
    assert sorted(shares[0] + shares[1]) == ALL_IDS
    assert abs(len(shares[0]) - len(shares[1])) <= 1  # an even split
    for s in streams:
        s.set_epoch(1)
    again = epoch_ids(streams, workers, context)
    assert sorted(again) == ALL_IDS and again != shares[0] + shares[1]
    assert streams[0].num_batches(workers) == sum(1 for _ in loader(streams[0], workers, context))


def test_rank_and_world_size_come_from_torch_distributed(
    rows_ds: st.Dataset, tmp_path: Path
) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        stream = rows_ds.to_torch(columns=["id"])
        assert (stream.rank, stream.world_size) == (0, 1)
    finally:
        torch.distributed.destroy_process_group()
    with pytest.raises(InvalidInput, match="both rank= and world_size="):
        rows_ds.to_torch(rank=1)
    with pytest.raises(InvalidInput, match="0 <= rank < world_size"):
        rows_ds.to_torch(rank=2, world_size=2)


def test_drop_last_drops_only_each_shares_partial_batch(rows_ds: st.Dataset) -> None:
    stream = rows_ds.to_torch(columns=["id"], batch_size=50, drop_last=True)
    sizes = [len(batch["id"]) for batch in stream]
    assert sizes == [50] * (ROWS // 50)


# ----------------------------------------------------------------------- shuffles
def test_shuffles_are_deterministic_from_seed_and_epoch(rows_ds: st.Dataset) -> None:
    def order(seed: int, epoch: int) -> list[str]:
        stream = rows_ds.to_torch(columns=["id"], batch_size=10, shuffle=True, seed=seed)
        stream.set_epoch(epoch)
        return [i for batch in stream for i in batch["id"]]

    first = order(0, 0)
    assert sorted(first) == ALL_IDS and first != ALL_IDS
    assert order(0, 0) == first  # another stream, same seed and epoch: same order
    assert order(0, 1) != first
    assert order(1, 0) != first
    plain = rows_ds.to_torch(columns=["id"], batch_size=10)
    assert [i for batch in plain for i in batch["id"]] == ALL_IDS  # stored order
    with pytest.raises(InvalidInput, match="epoch"):
        plain.set_epoch(-1)


# ---------------------------------------------------------------- pinned version
def test_a_writer_during_an_epoch_changes_nothing_the_stream_reads(
    tmp_path: Path, context: Any
) -> None:
    ds = build_rows(str(tmp_path / "rows"))
    stream = ds.to_torch(columns=["id"], batch_size=100, shuffle=True)
    pinned = stream.version
    batches = iter(loader(stream, 2, context))
    seen = list(next(batches)["id"])
    writer = st.open(tmp_path / "rows")
    writer.add(["late row"], ids=["zz-late"], embeddings=np.ones((1, DIM), np.float32))
    writer.delete(ids=["r0000", "r0001"])
    seen += [i for batch in batches for i in batch["id"]]
    assert sorted(seen) == ALL_IDS
    assert stream.version == pinned < writer.version
    stream.set_epoch(1)  # later epochs read the pinned version too
    assert sorted(i for batch in stream for i in batch["id"]) == ALL_IDS
    fresh = ds.to_torch(columns=["id"])
    assert fresh.num_rows == ROWS - 1 and fresh.version == writer.version


def test_workers_read_a_branch_at_its_pinned_version(tmp_path: Path, context: Any) -> None:
    ds = build_rows(str(tmp_path / "rows"))
    branch = ds.branch("more")
    branch.add(["on the branch"], ids=["zz-branch"], embeddings=np.ones((1, DIM), np.float32))
    stream = branch.to_torch(columns=["id"], batch_size=64, shuffle=True)
    branch.delete(ids=["r0001"])  # after the stream was made: not seen
    assert sorted(epoch_ids([stream], 2, context)) == [*ALL_IDS, "zz-branch"]
    assert ds.to_torch(columns=["id"]).num_rows == ROWS  # main is unchanged


def test_ref_reads_an_older_version(tmp_path: Path) -> None:
    ds = build_rows(str(tmp_path / "rows"))
    before = ds.version
    ds.add(["new"], ids=["zz-new"], embeddings=np.ones((1, DIM), np.float32))
    old = ds.to_torch(columns=["id"], ref=before, batch_size=1000)
    assert [i for batch in old for i in batch["id"]] == ALL_IDS


# ------------------------------------------------------------------ column types
def test_columns_arrive_as_tensors_strings_and_bytes(rows_ds: st.Dataset) -> None:
    columns = ["id", "text", "embedding", "label", "score", "maybe", "group", "info.year", "blob"]
    batch = next(iter(rows_ds.to_torch(columns=columns, batch_size=10)))
    assert batch["embedding"].dtype == torch.float32 and batch["embedding"].shape == (10, DIM)
    assert batch["label"].dtype == torch.int64 and batch["label"].tolist() == [0, 1, 2] * 3 + [0]
    assert batch["score"].dtype == torch.float64
    assert batch["score"].tolist() == pytest.approx([i / 4 for i in range(10)])
    maybe = batch["maybe"]  # rows 0 and 5 lack it: float, NaN there
    assert maybe.dtype == torch.float64 and torch.isnan(maybe[[0, 5]]).all()
    assert maybe[1].item() == pytest.approx(1.0)
    assert batch["info.year"].tolist() == list(range(1900, 1910))
    assert batch["text"] == [f"row {i}" for i in range(10)]
    assert batch["group"][:2] == ["even", "odd"]
    assert isinstance(batch["blob"][0], bytes) and batch["blob"][3] is None
    stored = rows_ds.get(ALL_IDS[:10])
    assert np.allclose(batch["embedding"].numpy(), np.stack([r.embedding for r in stored]))
    whole = next(iter(rows_ds.to_torch(columns=["metadata"], batch_size=2)))["metadata"]
    assert whole[0] == stored[0].metadata


def test_binary_columns_round_trip_byte_for_byte(rows_ds: st.Dataset, context: Any) -> None:
    stored = {r.id: r.extras["blob"] for r in rows_ds.get(ALL_IDS)}
    stream = rows_ds.to_torch(columns=["id", "blob"], batch_size=32, shuffle=True)
    seen = {
        i: blob
        for batch in loader(stream, 2, context)
        for i, blob in zip(batch["id"], batch["blob"], strict=True)
    }
    assert seen == stored and seen["r0004"] == b"\x00\xff\x00"
    sizes = rows_ds.to_torch(
        columns=["blob"], transform=lambda b: [len(x or b"") for x in b["blob"]]
    )
    assert next(iter(sizes))[:5] == [len(stored[i] or b"") for i in ALL_IDS[:5]]


def test_where_and_transform(rows_ds: st.Dataset) -> None:
    def tokens(batch: dict[str, Any]) -> dict[str, Any]:  # a tokenizer's part: text -> ids
        ids = [[int(word) for word in text.split()[1:]] for text in batch["text"]]
        return {"input_ids": torch.tensor(ids), "label": batch["label"]}

    stream = rows_ds.to_torch(
        columns=["text", "label"], where={"group": "odd"}, batch_size=64, transform=tokens
    )
    batches = list(stream)
    assert sum(len(b["label"]) for b in batches) == ROWS // 2
    assert all(int(i) % 2 == 1 for b in batches for i in b["input_ids"][:, 0])


# -------------------------------------------------------------------- map style
def test_rows_give_random_access_and_collate(rows_ds: st.Dataset) -> None:
    rows = rows_ds.to_torch_rows(columns=["id", "embedding", "label"])
    assert isinstance(rows, TorchRows) and len(rows) == ROWS
    assert rows[5]["id"] == "r0005" and rows[-1]["id"] == ALL_IDS[-1]
    assert rows[5]["embedding"].shape == (DIM,) and rows[5]["label"].item() == 2
    assert [row["id"] for row in rows.__getitems__([7, 2, 300])] == ["r0007", "r0002", "r0300"]
    loaded = DataLoader(
        rows, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    ids = [i for batch in loaded for i in batch["id"]]
    assert sorted(ids) == ALL_IDS and ids != ALL_IDS
    assert next(iter(loaded))["embedding"].shape == (64, DIM)
    with pytest.raises(IndexError):
        rows[ROWS]


# ------------------------------------------------------------------------ S3
def test_s3_dataset_streams_through_workers(s3_server: S3Settings, context: Any) -> None:
    ds = build_rows(s3_server.fresh_uri(), s3_server.storage_options())
    streams = [
        ds.to_torch(columns=["id", "embedding"], batch_size=64, shuffle=True, rank=r, world_size=2)
        for r in range(2)
    ]
    assert sorted(epoch_ids(streams, 2, context)) == ALL_IDS
    rows = to_torch(ds, columns=["id", "blob"], batch_size=500)
    assert next(iter(rows))["blob"][4] == b"\x00\xff\x00"


# ----------------------------------------------------------------------- errors
def test_unknown_column_names_the_known_ones(rows_ds: st.Dataset) -> None:
    with pytest.raises(InvalidInput, match="'labl'") as caught:
        rows_ds.to_torch(columns=["embedding", "labl"])
    message = str(caught.value)
    assert "embedding" in message and "label" in message and "blob" in message
    with pytest.raises(InvalidInput, match="batch_size"):
        rows_ds.to_torch(batch_size=0)
    with pytest.raises(InvalidInput, match="list of names"):
        rows_ds.to_torch(columns="embedding")  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_filter_matching_nothing_is_an_empty_epoch(
    rows_ds: st.Dataset, context: Any, workers: int
) -> None:
    stream = rows_ds.to_torch(columns=["id", "label"], where={"label": 99}, shuffle=True)
    assert stream.num_rows == 0
    assert list(loader(stream, workers, context)) == []


def test_a_killed_worker_fails_the_epoch_and_writes_nothing(tmp_path: Path, context: Any) -> None:
    ds = build_rows(str(tmp_path / "rows"))
    version, files = ds.version, sorted(p.name for p in (tmp_path / "rows").rglob("*"))
    stream = ds.to_torch(columns=["id", "embedding"], batch_size=8)
    batches: Iterator[Any] = iter(loader(stream, 2, context))
    next(batches)
    for worker in batches._workers:  # type: ignore[attr-defined]
        os.kill(worker.pid, signal.SIGKILL)  # both: a survivor would make shutdown wait 5 s
    # torch reports the dead worker (RuntimeError), or the pipe it died holding.
    with pytest.raises((RuntimeError, ConnectionError)) as caught:
        for _ in batches:
            pass
    assert isinstance(caught.value, ConnectionError) or "DataLoader worker" in str(caught.value)
    reopened = st.open(tmp_path / "rows")
    assert reopened.version == version and len(reopened) == ROWS
    assert sorted(p.name for p in (tmp_path / "rows").rglob("*")) == files


def test_memory_datasets_say_workers_cannot_read_them() -> None:
    ds = st.open("memory://torch-stream", embedder=f"hash:{DIM}")
    ds.add(["a", "b"])
    stream = ds.to_torch(columns=["text"])
    assert [t for batch in stream for t in batch["text"]] == ["a", "b"]
    with pytest.raises(InvalidInput, match="num_workers=0"):  # what a worker's start raises
        pickle.dumps(stream)


def test_without_torch_the_error_says_what_to_install(
    rows_ds: st.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "shoal.integrations.torch")
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[torch\]'"):
        rows_ds.to_torch()


# --------------------------------------------------------------- real training
@pytest.mark.slow
def test_a_classifier_trained_through_the_stream_labels_unseen_sentences(
    tmp_path: Path, minilm: LocalEmbedder, topic_rows: TopicRows
) -> None:
    texts, metadatas, vectors = topic_rows
    ds = st.open(tmp_path / "topics", embedder=minilm)
    ds.add(texts, metadatas=metadatas, embeddings=vectors)
    train = ds.to_torch(
        columns=["embedding", "label"], where={"split": "train"}, batch_size=16, shuffle=True
    )
    torch.manual_seed(0)
    model = torch.nn.Linear(ds.spec.dimensions, 3)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny steps: more threads only wait on each other (5x slower)
    try:
        for epoch in range(15):
            train.set_epoch(epoch)
            for batch in DataLoader(train, batch_size=None):
                loss = torch.nn.functional.cross_entropy(model(batch["embedding"]), batch["label"])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    test = ds.to_torch(columns=["embedding", "label"], where={"split": "test"}, batch_size=64)
    with torch.no_grad():
        right = sum(int((model(b["embedding"]).argmax(1) == b["label"]).sum()) for b in test)
    assert test.num_rows == 36
    print(f"held-out accuracy {right / test.num_rows:.3f}")
    assert right / test.num_rows >= 0.85  # measured 1.0 (36/36); chance is 0.33
