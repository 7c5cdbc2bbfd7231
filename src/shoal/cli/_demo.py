"""`shoal demo`: the seed tutorial's walkthrough, offline, in one command."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from shoal.cli._ask import answer_json, print_sources
from shoal.cli._console import stdout_console
from shoal.cli._output import print_json
from shoal.client._wire import to_json
from shoal.embeddings import DEFAULT_EMBEDDER, embedder
from shoal.errors import ConfigurationError
from shoal.qa import DEFAULT_LLM, RetrievalQA, llm
from shoal.similarity import most_similar
from shoal.store import open as open_dataset
from shoal.text import RecursiveCharacterSplitter

__all__ = ["demo"]

CATS = [
    "The cat is on the mat.",
    "There is a cat on the mat.",
    "The dog is in the yard.",
    "There is a dog in the yard.",
]
GREETINGS = [
    "Hello from Cohere!",
    "Bonjour de Cohere!",
    "Hallo von Cohere!",
    "¡Hola desde Cohere!",
    "您好，来自 Cohere！",
]
MULTILINGUAL = "local:multilingual-e5-small"
BIRTHS = [
    "Michael Jeffrey Jordan was born in 17 February 1963, in Brooklyn, New York, United "
    "States of America. He is an American former professional basketball player.",
    "Lionel Andrés Messi was born 24 June 1987 in Rosario, Santa Fe, Argentina. He is an "
    "Argentine professional footballer.",
    "Cristiano Ronaldo dos Santos Aveiro was born 5 February 1985 in Funchal, Madeira, "
    "Portugal. He is a Portuguese professional footballer.",
    "Kylian Mbappé Lottin was born 20 December 1998 in Paris, France. He is a French "
    "professional footballer.",
]
QUESTION = "When was Michael Jordan born?"


def _heading(text: str) -> None:
    stdout_console().print(Text(f"\n{text}", style="bold"), soft_wrap=True)


def _first_five(texts: list[str], vectors: object) -> None:
    console = stdout_console()
    for text, vector in zip(texts, vectors, strict=True):  # type: ignore[call-overload]
        head = ", ".join(f"{float(v):.4f}" for v in vector[:5])
        console.print(Text(f"{text}\n  [{head}, ...]"), soft_wrap=True)


def demo(
    llm_name: Annotated[
        str,
        typer.Option(
            "--llm",
            "-l",
            help="Answerer for the last step (see `shoal ask --help`).",
            metavar="NAME",
        ),
    ] = DEFAULT_LLM,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            "-i",
            help="Keep the demo dataset in this folder (default: a temporary one).",
            metavar="PATH",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print each step's results as one JSON object: similar, embeddings, "
            "greetings, dataset, answer.",
        ),
    ] = False,
) -> None:
    """Run the seed tutorial offline: similarity, embeddings, multilingual greetings, a dataset, a question."""
    answerer = llm(llm_name)  # an unknown answerer fails here, before any model loads
    console = stdout_console()
    show = not as_json
    results: dict[str, Any] = {}
    model = embedder(DEFAULT_EMBEDDER)

    matches = most_similar("A cat is sitting on a mat.", CATS, embedder=model)
    results["similar"] = [{"score": float(m.score), "text": m.text} for m in matches]
    if show:
        _heading(f"1. Which sentences are like 'A cat is sitting on a mat.'? ({model.spec.name})")
        table = Table("score", "sentence")
        for match in matches:
            table.add_row(f"{match.score:.4f}", match.text)
        console.print(table)

    documents = ["Document 1", "Document 2", "Document 3"]
    vectors = model.embed_documents(documents)
    results["embeddings"] = {
        "model": model.spec.name,
        "dimensions": int(vectors.shape[1]),
        "first_5": {
            text: [float(v) for v in vector[:5]]
            for text, vector in zip(documents, vectors, strict=True)
        },
    }
    if show:
        _heading("2. Embedding documents")
        console.print(
            f"{len(vectors)} vectors of {vectors.shape[1]} dimensions; the first 5 of each:"
        )
        _first_five(documents, vectors)

    if show:
        _heading(f"3. Greetings in five languages ({MULTILINGUAL}), the first 5 dimensions")
    try:
        multilingual = embedder(MULTILINGUAL)
        greetings = multilingual.embed_documents(GREETINGS)
    except ConfigurationError as exc:  # the model package is not installed
        results["greetings"] = {"skipped": str(exc)}
        if show:
            console.print(Text(f"skipped: {exc}", style="dim"), soft_wrap=True)
    else:
        scores = greetings[1:] @ greetings[0]
        results["greetings"] = {
            "model": MULTILINGUAL,
            "cosine_to_english": {t: float(s) for t, s in zip(GREETINGS[1:], scores, strict=True)},
        }
        if show:
            _first_five(GREETINGS, greetings)
            similar = ", ".join(f"{s:.2f}" for s in scores)
            console.print(f"cosine of each to the English greeting: {similar}")

    splitter = RecursiveCharacterSplitter(chunk_size=1000, chunk_overlap=0)
    chunks = splitter.create_documents(BIRTHS)
    with tempfile.TemporaryDirectory(prefix="shoal-demo-") as scratch:
        path = into if into is not None else Path(scratch) / "births"
        dataset = open_dataset(str(path), embedder=model)
        dataset.add(
            [c.text for c in chunks],
            metadatas=[{"source": f"text {i + 1}"} for i in range(len(chunks))],
        )
        dataset.commit("the four birth dates")
        results["dataset"] = to_json(dataset.info())
        if show:
            _heading("4. Four texts split, embedded and stored in a dataset")
            console.print(Text(str(dataset.info())), soft_wrap=True)

        qa = RetrievalQA(dataset.as_retriever(k=4, mode="hybrid"), answerer)
        answer = qa.ask(QUESTION)
        results["answer"] = answer_json(answer)
        if show:
            _heading(f"5. {QUESTION} ({answerer.name})")
            console.print(Text(answer.text, style="green"), soft_wrap=True)
            print_sources(answer)
    if as_json:
        print_json(results)
