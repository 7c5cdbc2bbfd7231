"""PyTorch datasets over a Shoal dataset: `to_torch` (batches) and `to_torch_rows` (rows).

Install with ``pip install 'shoal[torch]'``. Both read one pinned version through Lance
(a folder or S3, nothing copied first)::

    stream = ds.to_torch(columns=["embedding", "label"], batch_size=64, shuffle=True)
    loader = DataLoader(stream, batch_size=None, num_workers=4,
                        multiprocessing_context="forkserver")
    for epoch in range(3):
        stream.set_epoch(epoch)
        for batch in loader: ...

The stream yields whole batches, hence ``batch_size=None`` on the DataLoader. Each worker
of each rank reads its own share (rank and world size from torch.distributed once it is
initialised, or given); together they read every row once an epoch. Lance is not
fork-safe: give the DataLoader a "forkserver" or "spawn" multiprocessing context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

try:
    import torch
    import torch.distributed
    from torch.utils.data import Dataset as _TorchDataset
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    from shoal.errors import MissingDependency

    raise MissingDependency(
        "shoal.integrations.torch needs PyTorch: pip install 'shoal[torch]'"
    ) from exc

from shoal.errors import InvalidInput
from shoal.store import Filter, Stream
from shoal.store._stream import check_shards

if TYPE_CHECKING:
    from shoal.store import Dataset

__all__ = ["TorchRows", "TorchStream", "to_torch", "to_torch_rows"]

Transform = Callable[[dict[str, Any]], Any]


class TorchStream(IterableDataset[Any]):
    """Batches of a pinned version for a DataLoader (``batch_size=None``); get one from `to_torch`."""

    def __init__(
        self, stream: Stream, *, rank: int, world_size: int, transform: Transform | None
    ) -> None:
        check_shards(rank, world_size)
        self.stream = stream
        self.rank = rank
        self.world_size = world_size
        self.transform = transform
        self.epoch = 0

    @property
    def version(self) -> int:
        """The dataset version every epoch reads."""
        return self.stream.version

    @property
    def num_rows(self) -> int:
        """Rows in one epoch, all ranks together."""
        return len(self.stream)

    def set_epoch(self, epoch: int) -> None:
        """Read epoch `epoch` next: a shuffled stream reorders from (seed, epoch).

        DataLoader workers copy the stream when an epoch's iteration starts, so call this
        before it (and keep ``persistent_workers=False``, the default).
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise InvalidInput(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = epoch

    def num_batches(self, num_workers: int = 0) -> int:
        """Batches this rank yields an epoch through a DataLoader with `num_workers` workers."""
        workers = max(num_workers, 1)
        shards = self.world_size * workers
        first = self.rank * workers
        return sum(self.stream.num_batches(first + w, shards) for w in range(workers))

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        shard = self.rank * workers + worker
        for batch in self.stream.batches(self.epoch, shard, self.world_size * workers):
            tensors = to_tensors(batch)
            yield tensors if self.transform is None else self.transform(tensors)


class TorchRows(_TorchDataset[Any]):
    """Rows of a pinned version with random access (``rows[i]``); get one from `to_torch_rows`."""

    def __init__(self, stream: Stream, *, transform: Transform | None) -> None:
        self.stream = stream
        self.transform = transform

    @property
    def version(self) -> int:
        """The dataset version the rows are read from."""
        return self.stream.version

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"rows are indexed by int, got {type(index).__name__}")
        if index < 0:
            index += len(self.stream)
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """The rows at `indices`, read with one take (the DataLoader asks for a batch at once)."""
        batch = to_tensors(self.stream.rows(indices))
        rows = [{name: values[i] for name, values in batch.items()} for i in range(len(indices))]
        return rows if self.transform is None else [self.transform(row) for row in rows]


def to_tensors(batch: dict[str, Any]) -> dict[str, Any]:
    """A stream batch with its numpy arrays as tensors (strings, bytes and objects stay lists)."""
    return {
        name: torch.from_numpy(value) if hasattr(value, "dtype") else value
        for name, value in batch.items()
    }


def to_torch(
    ds: Dataset,
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    where: Filter | None = None,
    ref: int | str | None = None,
    transform: Transform | None = None,
    drop_last: bool = False,
    rank: int | None = None,
    world_size: int | None = None,
) -> TorchStream:
    """A torch IterableDataset of `ds`'s batches, sharded over ranks and DataLoader workers.

    The version (`ref`, or the latest) and the rows matching `where` are pinned now.
    Embeddings arrive as float32 tensors (batch, dims), numeric metadata fields as
    tensors (float64 with NaN where a row lacks a value), text as lists of str, binary
    columns as lists of bytes; `transform` maps each batch (e.g. tokenises the text).
    """
    stream = ds.stream(
        columns=columns,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        where=where,
        ref=ref,
        drop_last=drop_last,
    )
    where_rank, size = _world(rank, world_size)
    return TorchStream(stream, rank=where_rank, world_size=size, transform=transform)


def to_torch_rows(
    ds: Dataset,
    *,
    columns: Sequence[str] | None = None,
    where: Filter | None = None,
    ref: int | str | None = None,
    transform: Transform | None = None,
) -> TorchRows:
    """A map-style torch Dataset of `ds`'s rows at one pinned version, in stored order."""
    stream = ds.stream(columns=columns, where=where, ref=ref)
    return TorchRows(stream, transform=transform)


def _world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world size): as given, else torch.distributed's, else (0, 1)."""
    if (rank is None) != (world_size is None):
        raise InvalidInput("give both rank= and world_size=, or neither")
    if rank is not None and world_size is not None:
        check_shards(rank, world_size)
        return rank, world_size
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1
