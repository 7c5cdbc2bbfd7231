"""`shoal.connect(url)`: the datasets of a `shoal serve` process, with the `Dataset` API.

A `RemoteDataset`'s methods take the same arguments and return the same types as a local
`Dataset`'s (hits, records, versions, the summary), and raise the same `ShoalError`
subclasses with the server's (the library's) messages; the shared contract suite
(tests/contract) runs one set of tests against both.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from shoal._http import RetryPolicy, retry_after
from shoal.client._wire import (
    ANALYSES,
    WRITING_ANALYSES,
    error_from,
    from_json,
    takes_ref,
    warning_from,
    writes,
)
from shoal.embeddings import Embedder, embedder
from shoal.errors import InvalidInput, ProviderUnavailable, ShoalError
from shoal.qa import Answer
from shoal.store import (
    Dataset,
    DatasetInfo,
    Diff,
    Filter,
    Hit,
    Record,
    Reranker,
    Retriever,
    SearchMode,
    SearchType,
    VersionInfo,
)
from shoal.types import EmbedderSpec, Metric

if TYPE_CHECKING:
    import httpx

__all__ = ["Client", "RemoteDataset", "connect"]


READ_RETRY = RetryPolicy(attempts=4, initial_backoff=0.2, max_backoff=5.0, total_timeout=30.0)
"""How reads are retried (a 429 or 503 answer, or no connection): writes are not, since a
write whose answer was lost may have committed."""


def connect(
    url: str, *, token: str | None = None, timeout: float = 60.0, retry: RetryPolicy = READ_RETRY
) -> Client:
    """A client of the `shoal serve` process at `url` (e.g. ``http://127.0.0.1:8000``)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInput(f"url must start with http:// or https://, got {url!r}")
    return Client(url, token=token, timeout=timeout, retry=retry)


class Client:
    """One connection pool to a server; `open` gives its datasets."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy = READ_RETRY,
    ) -> None:
        import httpx  # here, not at `import shoal`: ~50 ms that only a client needs

        self.url = url.rstrip("/")
        self.retry = retry
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http: httpx.Client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._rng = random.Random()

    def datasets(self) -> list[str]:
        """The names of the datasets the server serves."""
        names: list[str] = self._request("GET", "/v1/datasets")["datasets"]
        return names

    def open(
        self,
        name: str,
        *,
        embedder: str | None = None,
        language: str | None = None,
        create: bool = True,
    ) -> RemoteDataset:
        """The dataset `name`, created (with `embedder`, default the local MiniLM, and keyword
        `language`, default English) if new and `create`."""
        if name not in self.datasets():
            if not create:
                from shoal.errors import DatasetNotFound

                raise DatasetNotFound(
                    f"no dataset named {name!r} at {self.url}; pass create=True to make one"
                )
            body = {"name": name, "embedder": embedder, "language": language}
            self._request("POST", "/v1/datasets", body, read=False)
        elif language is not None and language != "auto":
            stored = RemoteDataset(self, name).language
            if stored not in (language, "auto"):
                raise InvalidInput(
                    f"dataset {name!r} at {self.url} analyses keywords as {stored}, not "
                    f"{language}: open it without language= to use {stored}"
                )
        return RemoteDataset(self, name)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, read: bool = True
    ) -> Any:
        """The JSON object the server answers; a read retried by `self.retry`."""
        import httpx

        arguments = {k: _jsonable(v) for k, v in (body or {}).items() if v is not None}
        started, attempt = time.monotonic(), 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = self._http.request(method, path, json=arguments if body else None)
            except httpx.TransportError as exc:
                failure: ShoalError = ProviderUnavailable(
                    f"cannot reach the Shoal server at {self.url} ({type(exc).__name__}: {exc}); "
                    "check that `shoal serve` runs there"
                )
                cause: Exception | None = exc
            else:
                try:
                    payload = response.json()
                except ValueError:
                    payload = None
                if response.status_code < 400:
                    if not isinstance(payload, dict):
                        raise ShoalError(
                            f"the server at {self.url} answered {path} with no JSON object"
                        )
                    for given in payload.get("warnings") or ():
                        warnings.warn(warning_from(given), stacklevel=4)
                    return payload
                failure, cause = error_from(payload, response.status_code), None
                if response.status_code not in (429, 503):
                    raise failure
                wait = retry_after(response.headers)
            policy = self.retry
            wait = policy.backoff(attempt, self._rng) if wait is None else wait
            late = time.monotonic() - started + wait > policy.total_timeout
            if not read or attempt >= policy.attempts or late:
                raise failure from cause
            time.sleep(wait)


class RemoteDataset:
    """A dataset served by `shoal serve`: the `Dataset` methods, over HTTP."""

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        ref: int | str | None = None,
        branch: str | None = None,
    ) -> None:
        self._client = client
        self.name = name
        self._ref = ref
        self._branch = branch
        self._spec: EmbedderSpec | None = None
        self._embedder: Embedder | None = None

    @property
    def uri(self) -> str:
        """Where the dataset is: the server's URL and its name."""
        return f"{self._client.url}/v1/datasets/{self.name}"

    def _call(self, method: str, kind: str = "plain", **arguments: Any) -> Any:
        if self._ref is not None and takes_ref(method):
            arguments.setdefault("ref", self._ref)
        if self._branch is not None:
            arguments["branch"] = self._branch
        result = self._client._request(
            "POST", f"/v1/datasets/{self.name}/{method}", arguments, read=not writes(method)
        )
        return from_json(kind, result["result"])

    def _writable(self) -> None:
        if self._ref is not None:
            from shoal.errors import ReadOnlyDataset

            raise ReadOnlyDataset(
                f"{self.name} at {self._ref!r} is checked out read-only; write on the latest "
                "version (client.open again)"
            )

    # ---------------------------------------------------------------- description
    @property
    def spec(self) -> EmbedderSpec:
        """The embedder spec the dataset's vectors were made with."""
        if self._spec is None:
            self._spec = self.info().embedder
        return self._spec

    @property
    def language(self) -> str:
        """The language the dataset's keyword search analyses text in."""
        return self.info().language

    @property
    def embedder(self) -> Embedder:
        """The dataset's embedder, built here from its spec (for what a Retriever embeds
        itself, MMR's query; searches embed on the server)."""
        if self._embedder is None:
            self._embedder = embedder(self.spec.name, **self.spec.options)
        return self._embedder

    @property
    def read_only(self) -> bool:
        """True for a handle checked out at a past version or tag."""
        return self._ref is not None

    @property
    def branch_name(self) -> str:
        """The branch this handle reads ("main")."""
        return self.info().branch

    @property
    def version(self) -> int:
        """The version this handle reads (the latest, unless checked out)."""
        return self.info().version

    def __len__(self) -> int:
        return int(self._call("count"))

    def __repr__(self) -> str:
        return f"RemoteDataset({self.uri!r}, branch={self._branch!r}, ref={self._ref!r})"

    def info(self) -> DatasetInfo:
        """The summary as data: location, version, embedder and one row per column."""
        info: DatasetInfo = self._call("info", "info")
        return info

    # ----------------------------------------------------------------------- writes
    def add(
        self,
        texts: Sequence[str],
        *,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        embeddings: Any = None,
    ) -> list[str]:
        """Add rows; returns their ids in input order (see `Dataset.add`)."""
        return self._write_rows("add", texts, metadatas, ids, embeddings)

    def upsert(
        self,
        texts: Sequence[str],
        *,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str] | None = None,
        embeddings: Any = None,
    ) -> list[str]:
        """Insert rows, replacing stored rows with the same ids (see `Dataset.upsert`)."""
        return self._write_rows("upsert", texts, metadatas, ids, embeddings)

    def _write_rows(
        self, method: str, texts: Any, metadatas: Any, ids: Any, embeddings: Any
    ) -> list[str]:
        self._writable()
        written = self._call(
            method, texts=texts, metadatas=metadatas, ids=ids, embeddings=embeddings
        )
        return list(written)

    def update(self, *, where: Filter, set: Mapping[str, Any]) -> int:
        """Change matching rows; returns how many changed (see `Dataset.update`)."""
        self._writable()
        return int(self._call("update", where=where, set=set))

    def set_metadata(self, values: Mapping[str, Mapping[str, Any]]) -> int:
        """Set metadata keys row by row; returns how many rows changed."""
        self._writable()
        return int(self._call("set_metadata", values=values))

    def delete(self, *, ids: Sequence[str] | None = None, where: Filter | None = None) -> int:
        """Delete rows by id or by filter; returns how many were deleted."""
        self._writable()
        return int(self._call("delete", ids=ids, where=where))

    def restore(self, version: int | str) -> int:
        """Make a past version (or tag) the latest again, as a new version; returns its number."""
        self._writable()
        return int(self._call("restore", version=version))

    def wait_for_index(self) -> None:
        """Return once the server has indexed every row and saved its indexes."""
        self._writable()
        self._call("wait_for_index")

    def commit(self, message: str, *, tag: str | None = None) -> int:
        """Record a named version (and tag it); returns its number."""
        self._writable()
        return int(self._call("commit", message=message, tag=tag))

    # ------------------------------------------------------------------------ reads
    def get(self, ids: Sequence[str]) -> list[Record]:
        """The stored rows with these ids, in input order (ids not stored are skipped)."""
        if isinstance(ids, str):
            raise InvalidInput("get takes a list of ids, not one str: wrap it in [...]")
        records: list[Record] = self._call("get", "records", ids=ids)
        return records

    def select(
        self,
        fields: Sequence[str],
        *,
        where: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The values of `fields` for every row matching `where`, a page of them if `limit`
        (see `Dataset.select`)."""
        rows: list[dict[str, Any]] = self._call(
            "select", fields=fields, where=where, limit=limit, offset=offset
        )
        return rows

    def search(
        self,
        query: str | Any,
        *,
        k: int = 4,
        where: Filter | None = None,
        metric: Metric | None = None,
        mode: SearchMode = "vector",
        rrf_k: float = 60,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[Hit]:
        """The k best rows for a text or vector, best first (see `Dataset.search`)."""
        hits: list[Hit] = self._call(
            "search", "hits", query=query, k=k, where=where, metric=metric, mode=mode,
            rrf_k=rrf_k, weights=weights,
        )  # fmt: skip
        return hits

    def search_batch(
        self,
        queries: Sequence[str] | Any,
        *,
        k: int = 4,
        where: Filter | None = None,
        metric: Metric | None = None,
        mode: SearchMode = "vector",
        rrf_k: float = 60,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[list[Hit]]:
        """`search` for each query, in order."""
        results: list[list[Hit]] = self._call(
            "search_batch", "hit_lists", queries=queries, k=k, where=where, metric=metric,
            mode=mode, rrf_k=rrf_k, weights=weights,
        )  # fmt: skip
        return results

    def log(self) -> list[VersionInfo]:
        """The versions, oldest first, with messages, row counts and tags."""
        versions: list[VersionInfo] = self._call("log", "versions")
        return versions

    def diff(self, a: int | str, b: int | str | None = None) -> Diff:
        """Ids added, removed and changed from ref `a` to ref `b` (default: this version)."""
        found: Diff = self._call("diff", "diff", a=a, b=b)
        return found

    def tags(self) -> dict[str, int]:
        """Tag names and the versions they name."""
        return dict(self._call("tags"))

    def tag(self, name: str, version: int | None = None, *, replace: bool = False) -> None:
        """Name a version (default: the latest) so it survives cleanup; `replace` moves a taken
        name (see `Dataset.tag`)."""
        self._writable()
        self._call("tag", name=name, version=version, replace=replace)

    def branches(self) -> list[str]:
        """Names of the branches besides main."""
        return list(self._call("branches"))

    def branch(self, name: str) -> RemoteDataset:
        """Create a branch from this version and return a writable handle on it."""
        created = self._call("branch", name=name)
        return RemoteDataset(self._client, self.name, branch=created)

    def as_retriever(
        self,
        *,
        k: int = 4,
        mode: SearchMode = "vector",
        search_type: SearchType = "similarity",
        where: Filter | None = None,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        score_threshold: float | None = None,
        rrf_k: float = 60,
        weights: tuple[float, float] = (1.0, 1.0),
        rerank: Reranker | str | None = None,
        rerank_k: int | None = None,
    ) -> Retriever:
        """A Retriever over this dataset, for `RetrievalQA` (see `Dataset.as_retriever`)."""
        return Retriever(
            cast(Dataset, self),  # a Retriever reads spec, embedder, search and get: all here
            k=k,
            mode=mode,
            search_type=search_type,
            where=where,
            fetch_k=fetch_k,
            lambda_mult=lambda_mult,
            score_threshold=score_threshold,
            rrf_k=rrf_k,
            weights=weights,
            rerank=rerank,
            rerank_k=rerank_k,
        )

    def ask(
        self,
        question: str,
        *,
        k: int = 4,
        mode: SearchMode = "vector",
        where: Filter | None = None,
    ) -> Answer:
        """The server's answer to `question` from this dataset's rows, with its sources."""
        stream = self.ask_stream(question, k=k, mode=mode, where=where)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def ask_stream(
        self,
        question: str,
        *,
        k: int = 4,
        mode: SearchMode = "vector",
        where: Filter | None = None,
    ) -> RemoteAnswerStream:
        """The answer's pieces as the server writes them (server-sent events); the whole
        `Answer` is on `.answer` once they are read."""
        self._writable_ref_free("ask")
        body = {"question": question, "k": k, "mode": mode, "where": where}
        if self._branch is not None:
            body["branch"] = self._branch
        return RemoteAnswerStream(self._client, f"/v1/datasets/{self.name}/ask", body)

    # ------------------------------------------------- where the dataset lives only
    def to_arrow(self, **options: Any) -> Any:
        """Not served: export on the server's machine (`Dataset.to_arrow`, `shoal export`)."""
        raise self._not_served("to_arrow")

    def to_batches(self, **options: Any) -> Any:
        """Not served: export on the server's machine (`Dataset.to_batches`)."""
        raise self._not_served("to_batches")

    def to_pandas(self, **options: Any) -> Any:
        """Not served: export on the server's machine (`Dataset.to_pandas`)."""
        raise self._not_served("to_pandas")

    def to_polars(self, **options: Any) -> Any:
        """Not served: export on the server's machine (`Dataset.to_polars`)."""
        raise self._not_served("to_polars")

    def add_table(self, table: Any, **options: Any) -> Any:
        """Not served: import on the server's machine (`Dataset.add_table`, `shoal import`)."""
        raise self._not_served("add_table")

    def to_torch(self, **options: Any) -> Any:
        """Not served: stream where the dataset lives (`Dataset.to_torch`, on a folder or S3)."""
        raise self._not_served("to_torch")

    def to_tf(self, **options: Any) -> Any:
        """Not served: stream where the dataset lives (`Dataset.to_tf`, on a folder or S3)."""
        raise self._not_served("to_tf")

    def _not_served(self, method: str) -> InvalidInput:
        # Whole tables through the JSON API would cost many times Arrow's bytes and would
        # need a version pinned across calls: these run where the data is (a training job
        # reads an S3 dataset directly).
        return InvalidInput(
            f"{method} is not served over HTTP: run it where the dataset lives, "
            f"shoal.open(<its folder or s3:// URI>).{method}(...); over HTTP, page rows with "
            "select(fields, limit=, offset=) and get(ids)"
        )

    def _writable_ref_free(self, what: str) -> None:
        if self._ref is not None:
            raise InvalidInput(f"{what} reads the latest version: use client.open({self.name!r})")

    def served_analysis(self, function: str, **arguments: Any) -> Any:
        """Run `shoal.analysis.<function>` on the server (the analyses call this themselves:
        `outliers(remote_dataset)` works as it does locally)."""
        if self._ref is not None:  # a writing one then raises ReadOnlyDataset, as locally
            arguments["ref"] = self._ref
        if self._branch is not None:
            arguments["branch"] = self._branch
        result = self._client._request(
            "POST",
            f"/v1/datasets/{self.name}/analysis/{function}",
            arguments,
            read=function not in WRITING_ANALYSES,
        )
        return from_json(ANALYSES.get(function, "plain"), result["result"])

    def checkout(self, ref: int | str) -> RemoteDataset:
        """A handle on a version or tag (read-only time travel) or on a branch (writable),
        as `Dataset.checkout`."""
        self._call("count", ref=ref)  # an unknown ref raises RefNotFound now, as locally
        if ref == "main":
            return RemoteDataset(self._client, self.name)
        if isinstance(ref, str) and ref in self.branches():
            return RemoteDataset(self._client, self.name, branch=ref)
        return RemoteDataset(self._client, self.name, ref=ref, branch=self._branch)


class RemoteAnswerStream:
    """The pieces of a served answer as they arrive; `.answer` once they are all read."""

    def __init__(self, client: Client, path: str, body: Mapping[str, Any]) -> None:
        self._client = client
        self._path = path
        self._body = {k: _jsonable(v) for k, v in body.items() if v is not None}
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        import httpx

        http = self._client._http
        try:
            with http.stream("POST", self._path, json=self._body) as response:
                if response.status_code >= 400:
                    response.read()
                    try:
                        payload = response.json()
                    except ValueError:
                        payload = None
                    raise error_from(payload, response.status_code)
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        if event == "piece":
                            yield str(data)
                        elif event == "answer":
                            self.answer = from_json("answer", data)
                        elif event == "error":
                            raise error_from(data, 500)
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"cannot reach the Shoal server at {self._client.url} ({type(exc).__name__}: "
                f"{exc}); check that `shoal serve` runs there"
            ) from exc
        if self.answer is None:
            raise ShoalError(f"the server at {self._client.url} ended the answer early")


def _jsonable(value: Any) -> Any:
    """Arguments as JSON: numpy arrays and scalars as lists and numbers, tuples as lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
