"""Store fixtures shared by unit and integration tests: a moto S3 server on loopback for
the whole session (and the settings to reach it), and a counter of index builds.

Not a conftest: a test module or conftest imports the fixtures it wants, e.g.
``from store_fixtures import S3Settings, s3_environment, s3_server``. (``tests/`` is on
``sys.path`` because the root conftest lives there and has no ``__init__.py``.)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from shoal.store._index import HnswIndex

__all__ = ["S3Settings", "added", "s3_environment", "s3_server"]


@dataclass(frozen=True)
class S3Settings:
    """Where the fake S3 listens, its one bucket and the dummy credentials it accepts."""

    endpoint: str
    bucket: str
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    region: str = "us-east-1"

    def storage_options(self) -> dict[str, str]:
        """The `storage_options=` that `shoal.store.open` takes for this server."""
        return {
            "aws_endpoint": self.endpoint,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_region": self.region,
            "allow_http": "true",
        }

    def environment(self) -> dict[str, str]:
        """The standard AWS_* variables that point at this server (for the CLI, subprocesses)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
        }

    def fresh_uri(self) -> str:
        """An ``s3://`` URI under a prefix no other test uses."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex}"

    def client(self) -> Any:
        """A boto3 S3 client on this server, to look at or damage what a test wrote."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )

    def keys(self, uri: str) -> list[str]:
        """Every object key under an ``s3://bucket/prefix`` URI."""
        prefix = uri.removeprefix(f"s3://{self.bucket}/").rstrip("/") + "/"
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="session")
def s3_server(_session_environment: None) -> Iterator[S3Settings]:
    """A moto S3 server on 127.0.0.1 (a free port) with one empty bucket, for the session."""
    # werkzeug logs every request at INFO; that drowns a failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        settings = S3Settings(endpoint=f"http://{host}:{port}", bucket="shoal-tests")
        settings.client().create_bucket(Bucket=settings.bucket)
        yield settings
    finally:
        server.stop()


@pytest.fixture
def s3_environment(s3_server: S3Settings, monkeypatch: pytest.MonkeyPatch) -> S3Settings:
    """The AWS_* variables set to reach the fake S3 (after the autouse fixture cleared them)."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def added(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many vectors each HnswIndex.add call of this process indexed."""
    calls: list[int] = []
    original = HnswIndex.add

    def counting(self: HnswIndex, vectors: np.ndarray) -> None:
        calls.append(len(vectors))
        original(self, vectors)

    monkeypatch.setattr(HnswIndex, "add", counting)
    return calls
