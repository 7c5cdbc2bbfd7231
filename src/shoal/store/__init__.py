"""The versioned vector store: `shoal.open(uri)` returns a `Dataset` backed by Lance."""

from __future__ import annotations

from shoal.store._catalog import datasets, drop
from shoal.store._cross_encoder import CrossEncoderReranker
from shoal.store._dataset import Dataset
from shoal.store._keyword import Tokenizer
from shoal.store._languages import LANGUAGES, analyzer, detect_language, function_words
from shoal.store._neighbors import Neighbors
from shoal.store._open import from_arrow, from_pandas, from_polars, open, reembed
from shoal.store._records import MAX_METADATA_DEPTH, Binary, Record, row_id
from shoal.store._reembed import ReembedReport
from shoal.store._rerank import (
    DEFAULT_RERANK_K,
    Reranker,
    RerankerFactory,
    register_reranker,
    reranker,
    reranker_providers,
)
from shoal.store._retriever import Retriever, SearchType
from shoal.store._search import Hit, SearchMode
from shoal.store._stage import Stage
from shoal.store._stats import DatasetStats
from shoal.store._stream import Stream, StreamColumn
from shoal.store._summary import ColumnInfo, DatasetInfo
from shoal.store._versions import Diff, VersionInfo
from shoal.store.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    MAX_SQL_DEPTH,
    Filter,
    compile_filter,
)

__all__ = [
    "DEFAULT_RERANK_K",
    "LANGUAGES",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "MAX_METADATA_DEPTH",
    "MAX_SQL_DEPTH",
    "Binary",
    "ColumnInfo",
    "CrossEncoderReranker",
    "Dataset",
    "DatasetInfo",
    "DatasetStats",
    "Diff",
    "Filter",
    "Hit",
    "Neighbors",
    "Record",
    "ReembedReport",
    "Reranker",
    "RerankerFactory",
    "Retriever",
    "SearchMode",
    "SearchType",
    "Stage",
    "Stream",
    "StreamColumn",
    "Tokenizer",
    "VersionInfo",
    "analyzer",
    "compile_filter",
    "datasets",
    "detect_language",
    "drop",
    "from_arrow",
    "from_pandas",
    "from_polars",
    "function_words",
    "open",
    "reembed",
    "register_reranker",
    "reranker",
    "reranker_providers",
    "row_id",
]
