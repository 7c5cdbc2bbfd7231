"""Tokens for `shoal serve`: every endpoint refuses a missing, bad or revoked token and a
token without the scope (never saying which datasets exist), a per-token rate limit, and
tokens that appear in no log, error body or dataset folder."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cli_runner import plain, run

import shoal
from server_fixtures import running
from shoal import RetryPolicy
from shoal.errors import AuthenticationError, InvalidInput, RateLimited
from shoal.server._app import METHODS, Datasets, create_app
from shoal.server._tokens import Grant, TokenStore, parse_scopes


@dataclass
class Served:
    url: str
    folder: Path
    tokens_file: Path
    admin: str
    writer: str
    reader: str
    other: str
    revoked: str


@pytest.fixture(scope="module")
def served(
    _session_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A server with tokens: admin on *, write and read on docs, read on other, one revoked."""
    root = tmp_path_factory.mktemp("auth")
    folder, tokens_file = root / "datasets", root / "config" / "tokens.json"
    folder.mkdir()
    store = TokenStore(tokens_file)
    admin = store.create("admin", {"*": "admin"})
    writer = store.create("writer", {"docs": "write"})
    reader = store.create("reader", {"docs": "read"})
    other = store.create("other", {"other": "read"})
    revoked = store.create("gone", {"*": "admin"})
    assert store.revoke("gone") == 1
    with running(create_app(Datasets([folder]), tokens=TokenStore(tokens_file))) as url:
        docs = shoal.connect(url, token=admin).open("docs", embedder="hash:8")
        docs.add(["a cat", "a dog"], ids=["a", "b"])
        shoal.connect(url, token=admin).open("other", embedder="hash:8")
        yield Served(url, folder, tokens_file, admin, writer, reader, other, revoked)


def _post(url: str, path: str, token: str | None, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(url + path, json=body if body is not None else {}, headers=headers)


def test_every_endpoint_refuses_missing_bad_and_revoked_tokens(served: Served) -> None:
    paths = ["/v1/datasets"] + [f"/v1/datasets/docs/{m}" for m in METHODS]
    for path in paths:
        for token in (
            None,
            "nonsense",
            "shoal_000000000000_" + "x" * 43,
            served.revoked,
            served.revoked + "x",
        ):
            response = _post(served.url, path, token, {"name": "new"})
            assert response.status_code == 401, (path, token, response.text)
            assert response.json()["error"]["type"] == "AuthenticationError"
    listing = httpx.get(served.url + "/v1/datasets")
    assert listing.status_code == 401
    basic = {"Authorization": f"Basic {served.admin}"}
    assert httpx.get(served.url + "/v1/datasets", headers=basic).status_code == 401
    assert httpx.get(served.url + "/health").status_code == 200, "probes need no token"


def test_scopes_are_per_dataset_and_say_nothing_of_other_datasets(served: Served) -> None:
    for method, (_, writes) in METHODS.items():
        path = f"/v1/datasets/docs/{method}"
        refused = _post(served.url, path, served.other)
        assert refused.status_code == 403, (method, refused.text)
        if writes:
            assert _post(served.url, path, served.reader).status_code == 403, method
    # The same 403 whether the dataset exists or not.
    existing = _post(served.url, "/v1/datasets/docs/search", served.other, {"query": "cat"})
    missing = _post(served.url, "/v1/datasets/nothing/search", served.other, {"query": "cat"})
    assert existing.status_code == missing.status_code == 403
    assert existing.json()["error"]["message"].replace("docs", "X") == missing.json()["error"][
        "message"
    ].replace("nothing", "X")
    # What each may do.
    reader = shoal.connect(served.url, token=served.reader)
    assert reader.datasets() == ["docs"], "a listing shows only readable datasets"
    assert reader.open("docs", create=False).search("cat", k=1)[0].id == "a"
    with pytest.raises(AuthenticationError, match="no write scope"):
        reader.open("docs", create=False).add(["more"])
    writer = shoal.connect(served.url, token=served.writer).open("docs", create=False)
    assert writer.add(["a bird"], ids=["c"]) == ["c"]
    with pytest.raises(AuthenticationError, match="no admin scope"):
        shoal.connect(served.url, token=served.writer).open("brand-new", embedder="hash:8")
    refused = _post(served.url, "/v1/datasets/docs/index_field", served.writer, {"name": "x"})
    assert refused.status_code == 403, "declaring a field changes the schema: admin"


def test_tokens_are_in_no_log_body_or_dataset_file(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        ok = _post(served.url, "/v1/datasets/docs/search", served.reader, {"query": "cat"})
        bad = _post(served.url, "/v1/datasets/docs/add", served.reader, {"texts": ["x"]})
        wrong = _post(served.url, "/v1/datasets/docs/search", served.reader, {"nope": 1})
    secrets = [served.admin, served.writer, served.reader, served.other, served.revoked]
    texts = [caplog.text, ok.text, bad.text, wrong.text, served.tokens_file.read_text()]
    for secret in secrets:
        assert all(secret.split("_", 2)[2] not in text for text in texts)
    for file in served.folder.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert all(s.encode() not in data for s in secrets), file
    assert served.tokens_file.stat().st_mode & 0o077 == 0, "the tokens file is private"
    stored = json.loads(served.tokens_file.read_text())["tokens"]
    assert {t["name"] for t in stored} == {"admin", "writer", "reader", "other", "gone"}


def test_a_token_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.create("busy", {"*": "admin"})
    (tmp_path / "data").mkdir()
    with running(create_app(Datasets([tmp_path / "data"]), tokens=tokens, rate=2)) as url:
        statuses = [
            httpx.get(url + "/v1/datasets", headers={"Authorization": f"Bearer {token}"})
            for _ in range(8)
        ]
        assert [r.status_code for r in statuses[:4]] == [200] * 4, "a burst of twice the rate"
        limited = [r for r in statuses if r.status_code == 429]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
        once = shoal.connect(url, token=token, retry=RetryPolicy(attempts=1))
        with pytest.raises(RateLimited, match="too many requests"):
            for _ in range(8):
                once.datasets()
        # The default client waits out the Retry-After of a read, and gets its answer.
        patient = shoal.connect(url, token=token)
        assert all(patient.datasets() == [] for _ in range(8))


def test_scopes_and_grants() -> None:
    assert parse_scopes(["docs:write", "*:read"]) == {"docs": "write", "*": "read"}
    for bad in ("docs", "docs:owner", "../x:read", ":read"):
        with pytest.raises(InvalidInput, match="DATASET:SCOPE"):
            parse_scopes([bad])
    grant = Grant("id", "n", {"docs": "write", "*": "read"})
    assert grant.allows("docs", "write") and grant.allows("docs", "read")
    assert grant.allows("other", "read") and not grant.allows("other", "write")
    assert not grant.allows("docs", "admin")


def test_shoal_token_create_list_revoke(tmp_path: Path) -> None:
    file = tmp_path / "tokens.json"
    created = run("token", "create", "--tokens", str(file), "--scope", "docs:read", "--name", "ci")
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    assert token.startswith("shoal_") and TokenStore(file).verify(token) is not None
    listed = run("token", "list", "--tokens", str(file), "--json")
    (entry,) = json.loads(listed.output)
    assert entry["name"] == "ci" and entry["scopes"] == {"docs": "read"}
    assert token.split("_", 2)[2] not in listed.output and "hash" not in entry
    assert run("token", "revoke", "ci", "--tokens", str(file)).exit_code == 0
    assert TokenStore(file).verify(token) is None
    again = run("token", "revoke", "ci", "--tokens", str(file))
    assert again.exit_code == 2 and "no active token" in plain(again.output)
    bad = run("token", "create", "--tokens", str(file), "--scope", "docs:owner")
    assert bad.exit_code == 2 and "DATASET:SCOPE" in plain(bad.output)
    missing = run("serve", str(tmp_path), "--tokens", str(tmp_path / "none.json"))
    assert missing.exit_code == 2 and "shoal token create" in plain(missing.output)
