"""`shoal.open(uri)`: find or create the dataset at a URI and check its embedder and language."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from shoal._checks import needs
from shoal.embeddings import DEFAULT_EMBEDDER, Embedder
from shoal.errors import DatasetNotFound, EmbedderMismatch, InvalidInput
from shoal.store import _lance
from shoal.store._dataset import Dataset, build_embedder
from shoal.store._interchange import spec_of
from shoal.store._languages import AUTO, check_language
from shoal.store._location import parse_uri
from shoal.store._reembed import ReembedReport, reembed_way

__all__ = ["from_arrow", "from_pandas", "from_polars", "open", "reembed"]


def open(
    uri: str | os.PathLike[str],
    *,
    embedder: Embedder | str | None = None,
    language: str | None = None,
    create: bool = True,
    storage_options: Mapping[str, str] | None = None,
    write_timeout: float = 60.0,
) -> Dataset:
    """Open the dataset at a path, ``memory://name`` or ``s3://bucket/prefix``; create it if new.

    A new dataset stores its embedder's spec (default: the local MiniLM model); reopening
    with a different embedder raises EmbedderMismatch, and with none uses the stored one.
    It also stores the `language` its keyword search analyses text in (default "english";
    "german", "chinese"... see `shoal.store.LANGUAGES`; "auto": detected from the first rows
    written); reopening uses the stored one.

    Raises:
        DatasetNotFound: nothing at `uri` and `create` is False.
        EmbedderMismatch: `embedder` differs from the one that made the stored vectors.
        InvalidInput: `language` is not supported, or differs from the stored one.
    """
    if language is not None:
        check_language(language)
    location = parse_uri(uri, storage_options)
    lance = _lance.open_existing(location)
    built = embedder if isinstance(embedder, Embedder) else None
    if lance is None:
        if not create:
            raise DatasetNotFound(f"no dataset at {location.uri}; pass create=True to make one")
        built = built or build_embedder(embedder if isinstance(embedder, str) else DEFAULT_EMBEDDER)
        lance = _lance.create(location, built.spec, built.build, language=language or "english")
    spec = _lance.stored_spec(lance, location.uri)
    if language is not None and language != AUTO:
        stored = _lance.keyword_language(lance)
        if stored not in (language, AUTO):
            raise InvalidInput(
                f"{location.uri} analyses keywords as {stored}, not {language}: open it "
                f"without language= to use {stored}, or use another dataset"
            )
    if embedder is not None:
        given = embedder.spec if isinstance(embedder, Embedder) else None
        same = given == spec if given is not None else embedder == spec.name
        if not same:
            label = given.name if given is not None else embedder
            way = reembed_way(embedder)
            raise EmbedderMismatch(
                f"{location.uri} holds vectors made by {spec.name} ({spec.dimensions}-d, "
                f"{spec.metric}), not by {label}; open it without embedder= to use {spec.name}, "
                f"{way} to move it to {label}, or use another "
                "dataset"
            )
    return Dataset(
        location, lance, spec, built, branch=None, read_only=False, write_timeout=write_timeout
    )


def reembed(
    uri: str | os.PathLike[str],
    embedder: Embedder | str,
    *,
    storage_options: Mapping[str, str] | None = None,
    batch_size: int = 256,
    cache: Any = True,
    force: bool = False,
) -> ReembedReport:
    """Make every vector of the dataset at `uri` again with `embedder`, as one new version
    (`Dataset.reembed`; the dataset must exist).

    Raises:
        DatasetNotFound: no dataset at `uri`.
    """
    dataset = open(uri, create=False, storage_options=storage_options)
    return dataset.reembed(embedder, batch_size=batch_size, cache=cache, force=force)


def from_arrow(
    table: Any,
    uri: str | os.PathLike[str],
    *,
    embedder: Embedder | str | None = None,
    language: str | None = None,
    storage_options: Mapping[str, str] | None = None,
    text: str = "text",
    id: str | None = None,
    embedding: str | None = None,
    metadata: str | None = None,
    columns: Sequence[str] | None = None,
    message: str = "import a table",
) -> Dataset:
    """Open (or create) the dataset at `uri` and import `table`'s rows (`Dataset.add_table`).

    Without `embedder`, a table exported by Shoal (`Dataset.to_arrow`, a Parquet file of
    one) names the embedder that made its vectors; otherwise the default one is used.
    """
    schema = getattr(table, "schema", None)
    spec = spec_of(schema) if isinstance(schema, pa.Schema) else None
    if embedder is None and spec is not None:
        embedder = build_embedder(spec.name, **spec.options)
    dataset = open(uri, embedder=embedder, language=language, storage_options=storage_options)
    dataset.add_table(
        table,
        text=text,
        id=id,
        embedding=embedding,
        metadata=metadata,
        columns=columns,
        message=message,
    )
    return dataset


def from_pandas(frame: Any, uri: str | os.PathLike[str], **options: Any) -> Dataset:
    """`from_arrow` for a pandas DataFrame (its columns: see `Dataset.add_table`)."""
    needs("pandas", "pandas")
    return from_arrow(frame, uri, **options)


def from_polars(frame: Any, uri: str | os.PathLike[str], **options: Any) -> Dataset:
    """`from_arrow` for a Polars DataFrame (its columns: see `Dataset.add_table`)."""
    needs("polars", "polars")
    return from_arrow(frame, uri, **options)
