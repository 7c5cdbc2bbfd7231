"""`shoal embed/ingest` with hosted providers, against fake APIs served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import plain, run

from fakes.hosted import KEY, FakeCohere, FakeOpenAI, fake_vector, serve, status

GREETINGS = ["Hello from Cohere!", "Hallo von Cohere!", "您好，来自 Cohere！"]


@pytest.fixture
def cohere(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCohere]:
    fake = FakeCohere()
    with serve(fake) as url:
        monkeypatch.setenv("CO_API_URL", url)
        monkeypatch.setenv("COHERE_API_KEY", KEY)
        yield fake


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with serve(fake) as url:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield fake


def test_embed_previews_the_first_five_dimensions_like_the_seed(cohere: FakeCohere) -> None:
    result = run(
        "embed", "--model", "cohere:embed-multilingual-v2.0", "--format", "preview", *GREETINGS
    )
    assert result.exit_code == 0, result.output
    lines = plain(result.stdout).splitlines()
    assert lines[0] == (
        "cohere:embed-multilingual-v2.0: 3 vector(s) of 768 dimensions; the first 5:"
    )
    salt = "embed-multilingual-v2.0|search_document"
    for index, text in enumerate(GREETINGS):
        assert lines[1 + 2 * index] == text
        head = fake_vector(text, 768, salt)[:5]
        assert lines[2 + 2 * index] == "  [" + ", ".join(f"{v:.4f}" for v in head) + ", ...]"
    assert KEY not in result.output


def test_a_missing_key_exits_2_naming_the_variable(
    cohere: FakeCohere, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("COHERE_API_KEY")
    monkeypatch.chdir(tmp_path)
    result = run("embed", "--model", "cohere:embed-multilingual-v2.0", "Hello")
    assert result.exit_code == 2 and "COHERE_API_KEY" in plain(result.output)
    assert cohere.requests == []


def test_a_wrong_key_exits_2_and_an_outage_exits_1(
    cohere: FakeCohere, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", "not-the-key-123")
    refused = run("embed", "--model", "cohere:embed-english-v3.0", "Hello")
    assert refused.exit_code == 2 and "refused" in plain(refused.output)
    assert "not-the-key-123" not in refused.output
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    cohere.script = [status(400, {"message": "invalid request: texts too long"})]
    rejected = run("embed", "--model", "cohere:embed-english-v3.0", "Hello")
    assert rejected.exit_code == 1 and "texts too long" in plain(rejected.output)


def test_model_options_reach_the_provider(openai: FakeOpenAI) -> None:
    result = run(
        "embed", "--model", "openai:text-embedding-3-large", "-O", "dimensions=256", "a", "b"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["dimensions"] == 256 and len(document["embeddings"][0]) == 256
    assert openai.bodies[0]["dimensions"] == 256
    bad = run("embed", "--model", "openai:text-embedding-3-large", "-O", "dimensions", "a")
    assert bad.exit_code == 2 and "KEY=VALUE" in plain(bad.output)
    unknown = run("embed", "--model", "openai:text-embedding-3-large", "-O", "colour=1", "a")
    assert unknown.exit_code == 2 and "colour" in plain(unknown.output)


def test_ingest_through_a_hosted_provider_and_search(openai: FakeOpenAI, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.txt").write_text("Cats purr when they are content.")
    (docs / "stocks.txt").write_text("Stocks fell sharply on Monday.")
    uri = str(tmp_path / "kb")
    args = ["--model", "openai:text-embedding-3-small", "-O", "dimensions=64"]
    result = run("ingest", str(docs), "--into", uri, *args)
    assert result.exit_code == 0, result.output
    again = run("ingest", str(docs), "--into", uri)  # the dataset remembers its options
    assert again.exit_code == 0, again.output
    assert len(openai.bodies) == 1  # unchanged files: no request at all
    found = run("search", uri, "Cats purr when they are content.", "-k", "1", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)[0]["text"] == "Cats purr when they are content."
