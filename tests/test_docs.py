"""The README runs as written: every Python block and every command line, section by section.

Each `## ` section runs in a fresh folder holding the files its examples assume a reader
has (`readme_runner.reader_folder`), with the hosted APIs it calls (OpenAI, Cohere, an
Ollama-style server on localhost:11434) played by local fakes of their HTTP contract and
S3 by a moto server, all on loopback.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import shoal
from fakes.chat import FakeChat
from fakes.hosted import FakeCohere, FakeOpenAI, serve
from readme_runner import Block, Session, blocks, reader_folder, sections
from store_fixtures import S3Settings, s3_server

__all__ = ["s3_server"]

KEY = "..."  # what the README's `export ..._API_KEY=...` lines set


class _Hosted:
    """OpenAI's embeddings and chat and Cohere's embed API, behind one loopback server."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {
            "/v1/embeddings": FakeOpenAI(key=KEY),
            "/v1/chat/completions": FakeChat(key=KEY),
            "/v2/embed": FakeCohere(key=KEY),
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer as the API whose path the request names."""
        fake = self.routes.get(request.url.path, self.routes["/v1/embeddings"])
        return fake(request)


@pytest.fixture(scope="module")
def services(s3_server: S3Settings) -> Iterator[dict[str, str]]:
    """The environment that points the README's hosted providers and S3 at local fakes."""
    ollama = FakeOpenAI(key=None, models={"nomic-embed-text": 768})
    s3_server.client().create_bucket(Bucket="bucket")
    with serve(_Hosted()) as hosted, serve(ollama, port=11434):
        yield {
            "OPENAI_BASE_URL": f"{hosted}/v1",
            "CO_API_URL": hosted,
            "OPENAI_API_KEY": KEY,
            "COHERE_API_KEY": KEY,
            **s3_server.environment(),
        }


def _section(name: str) -> list[Block]:
    return [b for b in blocks() if b.section == name]


@pytest.mark.slow
@pytest.mark.parametrize("section", sections())
def test_readme_section_runs_as_written(
    section: str, services: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in services.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOAL_TOKENS_FILE", str(tmp_path / "tokens.json"))
    reader_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    session = Session(tmp_path, monkeypatch)
    try:
        for block in _section(section):
            session.run(block)
    finally:
        session.close()


def test_readme_opens_with_the_two_setup_commands() -> None:
    first = next(b for b in blocks() if b.language == "bash").code.splitlines()
    assert first[0].startswith("make demo") and first[1].startswith("make test")


def test_every_block_is_python_bash_or_output() -> None:
    """A `py` or unlabelled code block would be skipped: only output blocks go unlabelled."""
    kinds = {b.language for b in blocks()}
    assert kinds <= {"python", "bash", ""}, kinds


def test_the_sections_run_in_reading_order() -> None:
    names = sections()
    assert names[0] == "Quick start" and names.index("Install") == 1
    assert names.index("Command line") > names.index("Serving a dataset to many programs")


@pytest.mark.slow
def test_the_quick_start_does_what_it_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    session = Session(tmp_path, monkeypatch)
    bash, python = _section("Quick start")
    session.run(bash)
    ran = {command.split()[1]: output for command, output in session.outputs}
    assert list(ran) == ["ingest", "search", "ask", "log"]
    assert "install.md" in ran["search"] and "[1]" in ran["ask"]
    shutil.rmtree(tmp_path / "kb")
    printed = session.run(python)
    assert "install.md" in printed and re.search(r"\[\d\]", printed)
    [_created, run] = shoal.open(tmp_path / "kb").log()
    assert run.message.startswith("ingest ") and "new" in run.message, "one version a run"
