"""The seed's LangChain example runs on Shoal, and LangChain and the CLI see each other's rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import plain, run
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from shoal.embeddings.local import LocalEmbedder
from shoal.integrations.langchain import ShoalEmbeddings, ShoalVectorStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_seed.py"


def run_example(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_seed_example_answers_from_the_stored_documents(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    assert run_example(str(kb)).strip() == "17 February 1963 [1]"
    # Run again: the same documents are not added twice.
    run_example(str(kb))
    hits = json.loads(
        plain(run("search", str(kb), "When was Lady Gaga born?", "-k", "10", "--json").stdout)
    )
    assert len(hits) == 4
    assert hits[0]["text"] == "Lady Gaga was born in 28 March 1986"


@pytest.mark.slow
def test_the_seed_example_with_the_local_gguf_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    answer = run_example(str(tmp_path / "kb"), "local:gemma3-270m")
    assert "1963" in answer and "[1]" in answer


@pytest.mark.slow
def test_documents_added_through_langchain_are_found_by_shoal_search(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    kb = str(tmp_path / "kb")
    store = ShoalVectorStore(dataset_path=kb, embedding_function=ShoalEmbeddings(minilm))
    ids = store.add_documents(
        [
            Document("The Danube flows through ten countries.", metadata={"topic": "rivers"}),
            Document(
                "Espresso is brewed under pressure.", metadata={"topic": "coffee"}, id="coffee-1"
            ),
        ]
    )
    result = run(
        "search", kb, "How is espresso made?", "-k", "1", "--json", "--where", '{"topic": "coffee"}'
    )
    assert result.exit_code == 0, result.output
    [hit] = json.loads(plain(result.stdout))
    assert (hit["id"], hit["metadata"]) == ("coffee-1", {"topic": "coffee"})
    assert ids[1] == "coffee-1"


@pytest.mark.slow
def test_rows_added_by_the_cli_come_back_as_langchain_documents(tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    added = run(
        "add",
        kb,
        "--doc",
        "Kobe Bryant was born in 23 August 1978.",
        "--metadata",
        '{"source": "cli"}',
    )
    assert added.exit_code == 0, added.output
    store = ShoalVectorStore(dataset_path=kb)  # the dataset's own embedder: local MiniLM
    [doc] = store.similarity_search("When was Kobe Bryant born?", k=1, filter={"source": "cli"})
    assert doc.page_content == "Kobe Bryant was born in 23 August 1978."
    assert store.get_by_ids([str(doc.id)]) == [doc]
    same = ShoalVectorStore(dataset_path=kb, embedding_function=ShoalEmbeddings())
    assert same.similarity_search("Kobe", k=1) == [doc]


def test_the_cli_explains_a_dataset_made_with_langchain_embeddings(tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    store = ShoalVectorStore(dataset_path=kb, embedding_function=DeterministicFakeEmbedding(size=8))
    store.add_texts(["hello world"])
    refused = run("search", kb, "hello")
    assert refused.exit_code == 2
    assert "is a LangChain Embeddings object" in plain(refused.output)
    by_keyword = run("search", kb, "hello", "--mode", "keyword", "--json")
    assert [hit["text"] for hit in json.loads(plain(by_keyword.stdout))] == ["hello world"]
