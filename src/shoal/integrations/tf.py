"""TensorFlow input pipelines over a Shoal dataset: `to_tf` gives a ``tf.data.Dataset``.

Install with ``pip install 'shoal[tensorflow]'``. The dataset yields whole batches (dicts
of tensors) of one pinned version, read through Lance like `shoal.integrations.torch`'s
stream; each pass over it is the next epoch (0, 1, 2 ...), reshuffled from the seed::

    batches = ds.to_tf(columns=["embedding", "label"], batch_size=64, shuffle=True)
    model.fit(batches.map(lambda b: (b["embedding"], b["label"])), epochs=3)

Strings and binary values arrive as ``tf.string`` (a missing one as b""), JSON lists and
dicts as their JSON text. Under tf.distribute give each worker its `rank` and `world_size`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from shoal.errors import MissingDependency

    raise MissingDependency(
        "shoal.integrations.tf needs TensorFlow: pip install 'shoal[tensorflow]'"
    ) from exc

import numpy as np

from shoal.store import Filter, Stream, StreamColumn
from shoal.store._stream import check_shards

if TYPE_CHECKING:
    from shoal.store import Dataset

__all__ = ["to_tf"]

_DTYPES = {"int": tf.int64, "float": tf.float64, "bool": tf.bool}


def to_tf(
    ds: Dataset,
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    where: Filter | None = None,
    ref: int | str | None = None,
    transform: Callable[[dict[str, Any]], Any] | None = None,
    drop_last: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> tf.data.Dataset:
    """A tf.data.Dataset of `ds`'s batches at one pinned version: share `rank` of `world_size`.

    `transform` maps each batch (a dict of numpy arrays and byte strings) before it
    becomes tensors; the output's structure is then read from the first batch.
    """
    check_shards(rank, world_size)
    stream = ds.stream(
        columns=columns,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        where=where,
        ref=ref,
        drop_last=drop_last,
    )
    epochs = itertools.count()

    def generate() -> Iterator[Any]:
        epoch = next(epochs)
        for batch in stream.batches(epoch, rank, world_size):
            arrays = _arrays(batch, stream.columns)
            yield arrays if transform is None else transform(arrays)

    if transform is None:
        signature: Any = {c.name: _spec(c) for c in stream.columns}
    else:
        signature = _signature_of(stream, transform)
    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def _spec(column: StreamColumn) -> tf.TensorSpec:
    if column.kind == "vector":
        return tf.TensorSpec((None, column.dimensions), tf.float32)
    return tf.TensorSpec((None,), _DTYPES.get(column.kind, tf.string))


def _arrays(batch: dict[str, Any], columns: Sequence[StreamColumn]) -> dict[str, np.ndarray]:
    """A stream batch as numpy arrays TensorFlow takes (text and bytes as object arrays)."""
    arrays: dict[str, np.ndarray] = {}
    for column in columns:
        values = batch[column.name]
        if isinstance(values, np.ndarray):
            arrays[column.name] = values
        elif column.kind in ("str", "bytes"):
            arrays[column.name] = np.array([b"" if v is None else v for v in values], object)
        else:
            texts = [json.dumps(v, ensure_ascii=False, sort_keys=True) for v in values]
            arrays[column.name] = np.array(texts, dtype=object)
    return arrays


def _empty(column: StreamColumn) -> np.ndarray:
    if column.kind == "vector":
        return np.zeros((0, column.dimensions), np.float32)
    kinds = {"int": np.int64, "float": np.float64, "bool": np.bool_}
    return np.zeros(0, kinds.get(column.kind, object))


def _signature_of(stream: Stream, transform: Callable[[dict[str, Any]], Any]) -> Any:
    """The structure `transform` gives a batch, with the batch dimension left open."""
    first = next(iter(stream.with_options(shuffle=False).batches(0)), None)
    if first is None:  # no rows match: an empty batch of the right types
        first = {c.name: _empty(c) for c in stream.columns}
    sample = transform(_arrays(first, stream.columns))

    def spec(value: Any) -> tf.TensorSpec:
        tensor = tf.convert_to_tensor(value)
        shape = [None, *tensor.shape[1:]] if tensor.shape.rank else []
        return tf.TensorSpec(shape, tensor.dtype)

    return tf.nest.map_structure(spec, sample)
