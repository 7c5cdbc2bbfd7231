"""Shoal on Ray (``pip install 'shoal[ray]'``): ingest, re-embedding and analysis spread over a Ray cluster.

Use it as `shoal.distributed`; importing it does not import Ray (the first job does).
"""

from __future__ import annotations

from shoal.integrations.ray._analysis import cluster, near_duplicates, neighbors
from shoal.integrations.ray._ingest import DEFAULT_FILES_PER_BATCH, ingest
from shoal.integrations.ray._reembed import embed_table, reembed

__all__ = [
    "DEFAULT_FILES_PER_BATCH",
    "cluster",
    "embed_table",
    "ingest",
    "near_duplicates",
    "neighbors",
    "reembed",
]
