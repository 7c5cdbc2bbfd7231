"""Ingest: files and folders into a dataset, incrementally, idempotently and resumably."""

from __future__ import annotations

from shoal.ingestion._pipeline import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    ingest,
)
from shoal.ingestion._report import IngestProgress, IngestReport, ProgressCallback

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHUNK_OVERLAP",
    "DEFAULT_CHUNK_SIZE",
    "IngestProgress",
    "IngestReport",
    "ProgressCallback",
    "ingest",
]
