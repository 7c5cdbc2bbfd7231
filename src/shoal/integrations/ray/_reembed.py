"""Re-embedding on Ray: a dataset's vectors made again by a pool of actors, one version;
and `embed_table`, the same actor pool over any table of texts or images.

`reembed` plans as `Dataset.reembed` does (`shoal.store._reembed.ReembedPlan`): each actor
holds one model session, takes ranges of rows of the version read's data files (Lance fragments), embeds
their rows (through the embedding cache, which every actor shares) and writes the new data
files itself; the driver only gathers their metadata and makes the one commit. A worker
that dies is retried by Ray; a job that fails commits nothing, and its rerun takes the
vectors already made from the cache.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from lance.fragment import FragmentMetadata

from shoal._checks import needs
from shoal.embeddings import CachedEmbedder, Embedder, EmbeddingCache, embeds_images
from shoal.embeddings import embedder as build_embedder
from shoal.errors import InvalidInput, ShoalError, WorkerFailed
from shoal.integrations.ray._cluster import cache_path, cause, check_counts, connect, from_ray
from shoal.integrations.ray._work import ModelRecipe
from shoal.store import Dataset, ReembedReport
from shoal.store import open as open_dataset
from shoal.store._reembed import (
    Counts,
    ReembedPlan,
    Written,
    cache_counts,
    reembed_attempts,
)

__all__ = ["EmbedWorker", "ReembedWorker", "embed_table", "reembed"]


@dataclass(frozen=True)
class _Job:
    """What a re-embedding actor needs: the plan, the model and where to read and write."""

    plan: ReembedPlan
    model: ModelRecipe
    lance_uri: str
    storage_options: Mapping[str, str]
    cache_path: str | None
    batch_rows: int
    threads: int


def _encoder(model: Embedder, path: str | None) -> Embedder:
    return model if path is None else CachedEmbedder(model, EmbeddingCache(path))


class ReembedWorker:
    """A Ray Data actor: ranges of data files' rows in, re-embedded data files (not yet a
    version) out."""

    def __init__(self, job: _Job) -> None:
        os.environ["SHOAL_NUM_THREADS"] = str(job.threads)
        lance = needs("lance", "lance")
        self.job = job
        self.model = job.model.build()
        self.encoder = _encoder(self.model, job.cache_path)
        self.source = lance.dataset(
            job.lance_uri,
            version=job.plan.read_version,
            storage_options=dict(job.storage_options) or None,
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        """Re-embed the row ranges named in `batch`; one summary row each."""
        out: dict[str, list[Any]] = {k: [] for k in ("position", "fragments", "rows", "images")}
        out.update(embedded=[], cached=[])
        parts = zip(
            batch["position"], batch["fragment"], batch["offset"], batch["limit"], strict=True
        )
        for position, number, offset, limit in parts:
            before = cache_counts(self.encoder)
            fragment = self.source.get_fragment(int(number))
            rows = fragment.to_batches(
                columns=list(self.job.plan.columns),
                batch_size=self.job.batch_rows,
                offset=int(offset),
                limit=int(limit),
            )
            written = self.job.plan.write(
                rows, self.job.lance_uri, self.encoder, self.job.storage_options
            )
            written = self.job.plan.counted(written, self.encoder, before)
            out["position"].append(int(position))
            out["fragments"].append(json.dumps([f.to_json() for f in written.fragments]))
            out["rows"].append(written.counts.rows)
            out["images"].append(written.counts.images)
            out["embedded"].append(written.embedded)
            out["cached"].append(written.cached)
        return out


def reembed(
    uri: Dataset | str | os.PathLike[str],
    *,
    embedder: Embedder | str,
    num_workers: int = 2,
    cpus_per_worker: int = 1,
    ray_address: str | None = None,
    batch_size: int = 256,
    cache: EmbeddingCache | bool = True,
    force: bool = False,
    max_retries: int = 3,
    storage_options: Mapping[str, str] | None = None,
) -> ReembedReport:
    """Make every vector of a dataset again with `embedder` on Ray workers, as one new
    version; the same rows and vectors as `Dataset.reembed`.

    Args:
        num_workers: actors in the pool, each with its own model session; each takes a
            range of rows at a time (about rows / (4 x num_workers), at least batch_size).
        cpus_per_worker: CPUs Ray reserves for each actor (its model's threads).
        ray_address: the cluster to join; None joins the one this process started, or
            starts a local one.
        batch_size: rows embedded together.
        cache: the embedding cache every worker reads and fills (a path every node can
            reach); False for none.
        max_retries: times Ray retries a failed or killed worker before the job stops.
        storage_options: for an ``s3://`` dataset; every worker uses them.

    Raises:
        InvalidInput: an in-memory dataset, a branch, bad settings, images and a text model.
        WorkerFailed: a worker failed past `max_retries`; nothing was committed (a rerun
            takes the vectors made from the cache).
        WriteConflict: other writers kept committing first.
    """
    check_counts(
        num_workers=num_workers,
        cpus_per_worker=cpus_per_worker,
        batch_size=batch_size,
        max_retries=max_retries,
    )
    dataset = (
        uri
        if isinstance(uri, Dataset)
        else open_dataset(uri, create=False, storage_options=storage_options)
    )
    if dataset.uri.startswith("memory://"):
        raise InvalidInput(
            "Ray workers cannot read an in-memory dataset (it lives in this process): "
            "use Dataset.reembed, or a folder or an s3:// dataset"
        )
    if dataset.branch_name != "main":
        raise InvalidInput(f"reembed writes the main branch, not {dataset.branch_name!r}")
    model = build_embedder(embedder) if isinstance(embedder, str) else embedder
    location = dataset._location

    def write(lance: Any, plan: ReembedPlan) -> Written:
        job = _Job(
            plan=plan,
            model=ModelRecipe(model.spec, embedder if isinstance(embedder, Embedder) else None),
            lance_uri=location.lance_uri,
            storage_options=dict(location.storage_options),
            cache_path=cache_path(cache),
            batch_rows=batch_size,
            threads=cpus_per_worker,
        )
        pieces = _pieces(lance, num_workers, batch_size)
        parts = sorted(
            _run(job, pieces, num_workers, ray_address, max_retries, dataset.uri),
            key=lambda part: int(part["position"]),
        )
        return Written(
            [
                FragmentMetadata.from_json(json.dumps(fragment))
                for part in parts
                for fragment in json.loads(part["fragments"])
            ],
            Counts(
                rows=sum(int(part["rows"]) for part in parts),
                images=sum(int(part["images"]) for part in parts),
            ),
            embedded=sum(int(part["embedded"]) for part in parts),
            cached=sum(int(part["cached"]) for part in parts),
        )

    return reembed_attempts(dataset, model, write, force=force)


_PIECES_PER_WORKER = 4
"""Work items per actor: enough to even out their speeds, few enough to keep files large."""


def _pieces(lance: Any, workers: int, batch_rows: int) -> list[dict[str, int]]:
    """The work items, in row order: each a range of one data file's live rows, about
    rows / (workers x 4) rows (at least one batch), so one large file still spreads."""
    fragments = [(f.fragment_id, f.count_rows()) for f in lance.get_fragments()]
    total = sum(count for _, count in fragments)
    size = max(batch_rows, -(-total // (workers * _PIECES_PER_WORKER)))
    items: list[dict[str, int]] = []
    for number, count in fragments:
        for offset in range(0, count, size):
            limit = min(size, count - offset)
            items.append(
                {"position": len(items), "fragment": number, "offset": offset, "limit": limit}
            )
    return items


def _run(
    job: _Job,
    items: list[dict[str, int]],
    num_workers: int,
    ray_address: str | None,
    max_retries: int,
    uri: str,
) -> list[dict[str, Any]]:
    """Every work item re-embedded by the actor pool: one summary row each."""
    if not items:
        return []
    connect(ray_address)
    data = needs("ray.data", "ray")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Ray 2.60's retry settings
            rows = data.from_items(items, override_num_blocks=len(items)).map_batches(
                ReembedWorker,
                fn_constructor_kwargs={"job": job},
                batch_size=1,
                batch_format="numpy",
                compute=data.ActorPoolStrategy(size=min(num_workers, len(items))),
                num_cpus=job.threads,
                max_restarts=max_retries,
                max_task_retries=max_retries,
            )
        return list(rows.iter_rows())
    except BaseException as exc:
        if isinstance(exc, ShoalError) or not from_ray(exc):
            raise
        raise WorkerFailed(
            f"a worker re-embedding {uri} failed, so nothing was committed: run it again "
            f"(the vectors made are in the embedding cache). Cause: {cause(exc)}"
        ) from exc


class EmbedWorker:
    """A Ray Data actor: a column of texts (or image bytes) in, a vector column added."""

    def __init__(
        self, model: ModelRecipe, column: str, output: str, path: str | None, threads: int
    ) -> None:
        os.environ["SHOAL_NUM_THREADS"] = str(threads)
        self.model = model.build()
        self.encoder = _encoder(self.model, path)
        self.column, self.output = column, output

    def __call__(self, table: pa.Table) -> pa.Table:
        """`table` with the vectors of its `column` appended as `output`."""
        values = table.column(self.column)
        if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
            vectors = self.encoder.embed_images(values.to_pylist())
        else:
            vectors = self.encoder.embed_documents(values.to_pylist())
        # Ray's tensor column: rows read back as numpy arrays (a fixed-size list as lists).
        tensors = needs("ray.data.extensions", "ray").ArrowTensorArray
        return table.append_column(
            self.output, tensors.from_numpy(np.asarray(vectors, dtype=np.float32))
        )


def embed_table(
    data: Any,
    *,
    embedder: Embedder | str,
    column: str = "text",
    output_column: str = "embedding",
    num_workers: int = 2,
    cpus_per_worker: int = 1,
    ray_address: str | None = None,
    batch_size: int = 256,
    cache: EmbeddingCache | bool = True,
) -> Any:
    """A Ray Dataset: `data` with the vectors of its `column` appended as `output_column`
    (float32, fixed size), made by an actor pool of `embedder` sessions; lazy, like Ray's.

    `data` is a `ray.data.Dataset`, a pyarrow Table, a pandas DataFrame or a list of dicts;
    a binary `column` is embedded as images (by an image embedder), any other as texts.

    Raises:
        InvalidInput: bad settings, no such column, or images for a text model.
    """
    check_counts(num_workers=num_workers, cpus_per_worker=cpus_per_worker, batch_size=batch_size)
    model = build_embedder(embedder) if isinstance(embedder, str) else embedder
    connect(ray_address)
    ray_data = needs("ray.data", "ray")
    frame = data if isinstance(data, ray_data.Dataset) else _ray_dataset(ray_data, data)
    kind = frame.schema().base_schema.field(column).type if column in frame.columns() else None
    if kind is None:
        raise InvalidInput(f"the table has no column {column!r}: its columns are {frame.columns()}")
    if (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)) and not embeds_images(model):
        raise InvalidInput(
            f"column {column!r} holds bytes (images) and {model.spec.name} embeds no images: "
            "use an image model (local:clip-vit-b-32, phash:v1) or a text column"
        )
    if output_column in frame.columns():
        raise InvalidInput(f"the table has a column {output_column!r} already: pick another")
    recipe = ModelRecipe(model.spec, embedder if isinstance(embedder, Embedder) else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return frame.map_batches(
            EmbedWorker,
            fn_constructor_args=(recipe, column, output_column, cache_path(cache), cpus_per_worker),
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray_data.ActorPoolStrategy(size=num_workers),
            num_cpus=cpus_per_worker,
        )


def _ray_dataset(ray_data: Any, data: Any) -> Any:
    if isinstance(data, pa.Table):
        return ray_data.from_arrow(data)
    if isinstance(data, list):
        return ray_data.from_items(data)
    if type(data).__module__.startswith("pandas"):
        return ray_data.from_pandas(data)
    raise InvalidInput(
        f"embed_table takes a ray.data.Dataset, a pyarrow Table, a pandas DataFrame or a "
        f"list of dicts, not {type(data).__name__}"
    )
