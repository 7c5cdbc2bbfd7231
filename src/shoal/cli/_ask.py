"""`shoal ask`: answer a question from a dataset, streaming the answer, then its sources."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from shoal.cli._console import (
    RefOption,
    RerankOption,
    SearchMode,
    WhereOption,
    parse_json_object,
    stderr_console,
    stdout_console,
)
from shoal.cli._console import model_options as parse_options
from shoal.cli._output import time_span
from shoal.cli._remote import open_dataset_or_remote
from shoal.qa import DEFAULT_LLM, Answer, RetrievalQA, llm

__all__ = ["answer_json", "ask", "print_sources"]


def ask(
    uri: Annotated[
        str,
        typer.Argument(
            help="The dataset: a path, memory://name or s3://bucket/prefix.", metavar="URI"
        ),
    ],
    question: Annotated[str, typer.Argument(help="The question to answer.", metavar="QUESTION")],
    llm_name: Annotated[
        str,
        typer.Option(
            "--llm",
            "-l",
            help="Answerer: extractive (offline, quotes the sources), local:<name or .gguf> "
            "(llama.cpp), or openai:<model> (any OpenAI-compatible chat server).",
            metavar="NAME",
        ),
    ] = DEFAULT_LLM,
    llm_option: Annotated[
        list[str] | None,
        typer.Option(
            "--llm-option",
            "-O",
            help="An answerer option as KEY=VALUE, repeatable: base_url=http://localhost:11434/v1.",
            metavar="KEY=VALUE",
            show_default=False,
        ),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", "-k", help="Chunks to retrieve.", metavar="N", min=1)
    ] = 4,
    mode: Annotated[
        SearchMode, typer.Option("--mode", help="Retrieve by vector, keyword or hybrid search.")
    ] = SearchMode.hybrid,
    where: WhereOption = None,
    ref: RefOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the answer and its sources as one JSON object.")
    ] = False,
    rerank: RerankOption = None,
    focus: Annotated[
        int | None,
        typer.Option(
            "--focus",
            help="Sentences of the sources the model reads, the extractive ranking's best "
            "(0: whole chunks). Default: 1 for small local models, whole chunks otherwise.",
            metavar="N",
            min=0,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Answer QUESTION from the dataset's chunks, citing them as [1], [2]."""
    dataset = open_dataset_or_remote(uri)
    if ref is not None:
        dataset = dataset.checkout(ref)
    retriever = dataset.as_retriever(
        k=k, mode=mode.value, where=parse_json_object(where, "--where")
    )
    qa = RetrievalQA(
        retriever,
        llm(llm_name, **parse_options(llm_option)),
        rerank=rerank,
        focus="auto" if focus is None else focus or None,
    )
    stream = qa.stream(question)
    if as_json:
        with stderr_console().status(f"Answering with {qa.llm.name}"):
            for _ in stream:
                pass
        assert stream.answer is not None
        typer.echo(json.dumps(answer_json(stream.answer), ensure_ascii=False))
        return
    console = stdout_console()
    for piece in stream:
        console.print(Text(piece), end="", soft_wrap=True)
    console.print()
    assert stream.answer is not None
    print_sources(stream.answer)


def answer_json(answer: Answer) -> dict[str, Any]:
    """The answer as a JSON-ready dict."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "known": answer.known,
        "llm": answer.llm,
        "fallback": answer.fallback,
        "left_out": answer.left_out,
        "context": answer.context,
        "sources": [
            {
                "number": s.number,
                "id": s.id,
                "score": s.score,
                "cited": s.number in {c.number for c in answer.cited},
                "text": s.text,
                "metadata": s.metadata,
            }
            for s in answer.sources
        ],
    }


def print_sources(answer: Answer) -> None:
    """The numbered sources under an answer; the cited ones first and in bold."""
    console = stdout_console()
    plain = answer.text.rsplit(" [", 1)[0].rstrip(".")
    if answer.context and plain != answer.context.rstrip("."):
        console.print(Text(f"from: {answer.context}", style="dim"), soft_wrap=True)
    if answer.fallback:
        console.print(
            Text(
                f"({answer.llm}'s answer was not supported by the sources; quoted instead)",
                style="dim",
            )
        )
    if not answer.sources:
        console.print(Text("No sources: nothing in the dataset matched.", style="dim"))
        return
    console.print(Text("Sources:", style="bold"))
    cited = {s.number for s in answer.cited}
    for source in sorted(answer.sources, key=lambda s: (s.number not in cited, s.number)):
        origin = source.metadata.get("source", source.id)
        chunk = source.metadata.get("chunk")
        span = time_span(source.metadata)
        place = f"{origin}" + (
            f" ({span})" if span else f" (chunk {chunk})" if chunk is not None else ""
        )
        excerpt = " ".join(source.text.split())
        excerpt = excerpt if len(excerpt) <= 120 else excerpt[:117] + "..."
        line = Text(
            f"[{source.number}] {place}, score {source.score:.3f}: ",
            style="bold" if source.number in cited else "",
        )
        line.append(excerpt, style="" if source.number in cited else "dim")
        console.print(line, soft_wrap=True)
    if answer.left_out:
        console.print(
            Text(
                f"({answer.left_out} retrieved chunk(s) did not fit the model's window)",
                style="dim",
            )
        )
