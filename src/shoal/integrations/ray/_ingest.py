"""`shoal.distributed.ingest`: the single-process ingest's job, spread over Ray workers.

The driver (this process) finds the files as `shoal.ingest` does and reads what the dataset
holds of them; Ray Data hands the files, a batch at a time, to an actor pool (one model
session per actor: see `_work`), whose actors load, split, embed and write Lance data files
that no version lists. Each batch's data files come back to the driver, which stages them
(`Dataset.staging`: on a local dataset their record is kept beside it, rewritten after each
batch) and, once every file is done, commits them as **one** version, so readers never see
half a job. Then the old chunks of changed files (and, with `sync`, of deleted ones) go.

A worker that fails or dies (past `max_retries`) stops the job: nothing is committed, and
the batches written so far stay staged; the next run on the same dataset adopts them (a
local dataset) or finds their vectors in the embedding cache (any dataset, when the
workers share a cache: one machine, or a cache on shared storage), so it embeds only what
is left. Content-hash ids make a rerun of a finished job a no-op.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lance.fragment import FragmentMetadata

from shoal._checks import needs
from shoal.embeddings import Embedder, EmbeddingCache, embeds_images
from shoal.errors import InvalidInput, ShoalError, WorkerFailed
from shoal.ingestion import DEFAULT_CHUNK_OVERLAP, IngestReport
from shoal.ingestion._files import Found, Stored, discover, file_status, gone, stored_sources
from shoal.ingestion._target import Target
from shoal.integrations.ray._cluster import cache_path, cause, check_counts, connect, from_ray
from shoal.integrations.ray._work import IngestPlan, IngestWorker, ModelRecipe, SplitRecipe
from shoal.store import Dataset, Stage
from shoal.text import STREAM_ABOVE, RecursiveCharacterSplitter, file_digest

__all__ = ["DEFAULT_FILES_PER_BATCH", "ingest"]

_log = logging.getLogger("shoal.ingest")

DEFAULT_FILES_PER_BATCH = 32
# Ids deleted per call (as the single-process ingest does).
_DELETE_CHUNK = 2000
# Ray colours the names in its errors.


def ingest(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    into: Dataset | str | os.PathLike[str],
    embedder: Embedder | str | None = None,
    splitter: RecursiveCharacterSplitter | None = None,
    num_workers: int = 2,
    cpus_per_worker: int = 1,
    ray_address: str | None = None,
    glob: str = "**/*",
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    gitignore: bool = True,
    chunk_size: int | None = None,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
    tokens: bool = False,
    language: str | None = None,
    sync: bool = False,
    files_per_batch: int = DEFAULT_FILES_PER_BATCH,
    cache: EmbeddingCache | bool = True,
    text_columns: Sequence[str] | None = None,
    text_field: str = "text",
    max_retries: int = 3,
    message: str | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> IngestReport:
    """Ingest files and folders into a dataset on Ray workers, as one version; same rows as
    `shoal.ingest`.

    Takes `shoal.ingest`'s options (chunks, metadata and ids are the same) and these:

    Args:
        num_workers: actors in the pool, each with its own model session.
        cpus_per_worker: CPUs Ray reserves for each actor (its model's threads).
        ray_address: the cluster to join (``"ray://head:10001"``, ``"auto"``); None joins
            the one this process started already, or starts a local one.
        files_per_batch: files an actor takes at a time; each batch's chunks are embedded
            together and written as one data file.
        cache: the embedding cache the workers read and fill (a path every node can
            reach; by default this machine's); False for none.
        max_retries: times Ray retries a failed or killed worker's batch before the job
            stops (0: the first failure stops it).
        storage_options: for an ``s3://`` dataset (see `shoal.open`); every worker uses them.

    Raises:
        InvalidInput: a path that does not exist, bad settings, or an in-memory dataset
            (workers cannot reach this process's memory: use a folder or ``s3://``).
        MissingDependency: Ray is not installed (``pip install 'shoal[ray]'``).
        WorkerFailed: a worker died or failed past `max_retries`: nothing was committed, and
            a rerun resumes.
        EmbedderMismatch: `embedder` is not the one that made the dataset's vectors.
    """
    started = time.monotonic()
    check_counts(
        num_workers=num_workers,
        cpus_per_worker=cpus_per_worker,
        files_per_batch=files_per_batch,
        max_retries=max_retries,
    )
    if (isinstance(into, str) and into.startswith("memory://")) or (
        isinstance(into, Dataset) and into.uri.startswith("memory://")
    ):
        raise InvalidInput(
            "Ray workers cannot write to an in-memory dataset (it lives in this process): "
            "ingest into a folder or an s3:// URI"
        )
    found = discover(paths, glob, include=include, exclude=exclude, gitignore=gitignore)
    target = Target(into, embedder, storage_options, language)
    model = target.model
    if embeds_images(model):
        raise InvalidInput(
            f"{model.spec.name} embeds images, which the Ray ingest does not read yet: "
            "ingest with shoal.ingest (shoal ingest without --ray)"
        )
    recipe = SplitRecipe(
        splitter, chunk_size, chunk_overlap, tokens, text_columns, text_field, STREAM_ABOVE
    )
    splitter_key = recipe.chunker(model).fingerprint
    report = IngestReport(uri=target.uri, skipped=list(found.skipped))
    if not found.files and (not sync or target.dataset is None):
        _finish(report, target, started)
        return report
    dataset = target.ensure()
    stored, _ = stored_sources(dataset)
    todo = _changed(found.files, stored, splitter_key, report)
    sources = [str(file) for file in todo]
    stage = dataset.staging("ingest")
    report.chunks_added = stage.rows  # adopted from a stopped run: this run commits them
    plan = IngestPlan(
        model=ModelRecipe(model.spec, embedder if isinstance(embedder, Embedder) else None),
        split=recipe,
        splitter_key=splitter_key,
        lance_uri=dataset._location.lance_uri,
        schema=dataset.schema,
        metric=dataset.spec.metric,
        storage_options=dict(dataset._location.storage_options),
        cache_path=cache_path(cache),
        stored={source: stored[source] for source in sources if source in stored},
        staged=stage.staged_ids,
        threads=cpus_per_worker,
    )
    obsolete: list[str] = []
    try:
        for row in _run(todo, plan, num_workers, ray_address, files_per_batch, max_retries):
            _take(row, stage, report, obsolete)
    except BaseException as exc:
        stage.release()  # the staged batches stay for the next run to adopt
        if isinstance(exc, ShoalError) or not from_ray(exc):
            raise
        raise WorkerFailed(
            f"a worker of the distributed ingest into {target.uri} failed, so nothing was "
            f"committed ({report.batches} batch(es) were written and stay staged): run the "
            f"same ingest again to resume. Cause: {cause(exc)}"
        ) from exc
    if sync:
        for source in gone(stored, found):
            obsolete.extend(stored[source].ids)
            report.removed.append(source)
    text = message or _message(found, report, num_workers)
    if stage.commit(text) is not None:
        report.committed = True
    for start in range(0, len(obsolete), _DELETE_CHUNK):
        report.chunks_removed += dataset.delete(ids=obsolete[start : start + _DELETE_CHUNK])
    if report.chunks_removed and not report.committed:
        dataset.commit(text)
        report.committed = True
    _finish(report, target, started)
    return report


def _changed(
    files: list[Path], stored: Mapping[str, Stored], splitter_key: str, report: IngestReport
) -> list[Path]:
    """The files the workers must read: all but those stored already, unchanged (hashed
    here, so a rerun with nothing to do starts no worker)."""
    todo = []
    for file in files:
        entry = stored.get(str(file))
        if entry is not None:
            try:
                digest = file_digest(file)
            except OSError:  # the worker reports it
                digest = None
            if digest is not None and file_status(entry, digest, splitter_key) == "unchanged":
                report.unchanged.append(str(file))
                continue
        todo.append(file)
    return todo


def _run(
    todo: list[Path],
    plan: IngestPlan,
    num_workers: int,
    ray_address: str | None,
    files_per_batch: int,
    max_retries: int,
) -> Iterator[dict[str, Any]]:
    """The actors' summary rows, as each batch finishes."""
    if not todo:
        return
    connect(ray_address)
    data = needs("ray.data", "ray")
    items = [{"path": str(file)} for file in todo]
    blocks = max(1, min(len(items), -(-len(items) // files_per_batch)))
    files = data.from_items(items, override_num_blocks=blocks)
    with warnings.catch_warnings():
        # Ray 2.60 takes the retry settings only as "ray_remote_args", which it deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        rows = files.map_batches(
            IngestWorker,
            fn_constructor_kwargs={"plan": plan},
            batch_size=files_per_batch,
            batch_format="numpy",
            compute=data.ActorPoolStrategy(size=min(num_workers, blocks)),
            num_cpus=plan.threads,
            max_restarts=max_retries,
            max_task_retries=max_retries,
        )
    yield from rows.iter_rows()


def _take(row: Mapping[str, Any], stage: Stage, report: IngestReport, obsolete: list[str]) -> None:
    """Stage one batch's data files and count its files."""
    for outcome in json.loads(row["files"]):
        source, status = outcome["source"], outcome["status"]
        if status == "failed":
            _log.warning("could not ingest %s: %s", source, outcome["reason"])
            report.failed.append((source, outcome["reason"]))
            continue
        getattr(report, status).append(source)
        obsolete.extend(outcome["obsolete"])
        if "decode_errors" in outcome:
            report.decode_errors[source] = int(outcome["decode_errors"])
    ids = json.loads(row["ids"])
    if ids:
        fragments = [
            FragmentMetadata.from_json(json.dumps(fragment))
            for fragment in json.loads(row["fragments"])
        ]
        stage.add_written(fragments, ids, build=json.loads(row["build"]))
        report.chunks_added += len(ids)
        report.batches += 1
    report.embedded += int(row["embedded"])
    report.cached += int(row["cached"])


def _finish(report: IngestReport, target: Target, started: float) -> None:
    if target.dataset is not None:
        report.version = target.dataset.version
    report.created = target.created
    report.seconds = time.monotonic() - started
    if report.ingested_nothing:
        _log.warning(
            "nothing was ingested into %s: %s", report.uri, report.nothing_ingested_reason()
        )


def _message(found: Found, report: IngestReport, workers: int) -> str:
    where = [str(p) for p in found.folders + found.named]
    shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
    return f"ingest {shown} on Ray ({workers} workers): {report.summary()}"
