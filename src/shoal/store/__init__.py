"""The versioned vector store: `shoal.open(uri)` returns a `Dataset` backed by Lance."""

from __future__ import annotations

from shoal.store._dataset import Dataset, Hit, open
from shoal.store._records import Binary, Record, row_id
from shoal.store._summary import ColumnInfo, DatasetInfo
from shoal.store._versions import Diff, VersionInfo
from shoal.store.filters import Filter, compile_filter

__all__ = [
    "Binary",
    "ColumnInfo",
    "Dataset",
    "DatasetInfo",
    "Diff",
    "Filter",
    "Hit",
    "Record",
    "VersionInfo",
    "compile_filter",
    "open",
    "row_id",
]
