"""`shoal.distributed`: Shoal's ingest, re-embedding and analysis on a Ray cluster (``pip install 'shoal[ray]'``).

    import shoal.distributed as sd
    report = sd.ingest(["docs/"], into="s3://bucket/docs", num_workers=8,
                       ray_address="ray://head:10001")

Each job gives the same rows (or results) as the single-process call, and a write is one
version. See the README's "Scaling out".
"""

from __future__ import annotations

from shoal.integrations.ray import (
    DEFAULT_FILES_PER_BATCH,
    cluster,
    embed_table,
    ingest,
    near_duplicates,
    neighbors,
    reembed,
)

__all__ = [
    "DEFAULT_FILES_PER_BATCH",
    "cluster",
    "embed_table",
    "ingest",
    "near_duplicates",
    "neighbors",
    "reembed",
]
