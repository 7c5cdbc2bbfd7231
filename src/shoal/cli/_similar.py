"""`shoal similar`: rank documents by similarity to a query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from shoal.cli._console import (
    DocsOption,
    FileOption,
    ModelOption,
    ModelOptions,
    build_embedder,
    non_blank_lines,
    stdin_lines,
    stdout_console,
)
from shoal.cli._progress import showing
from shoal.embeddings import DEFAULT_EMBEDDER, IMAGE_SUFFIXES, Embedder, load_image
from shoal.errors import InvalidInput, UnreadableImage
from shoal.similarity import Match, most_similar, top_k

__all__ = ["documents", "similar"]


def _read_documents(path: Path) -> list[str]:
    if str(path) == "-":
        return stdin_lines()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"cannot read documents from {path}: it is not UTF-8 text; convert it to UTF-8"
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            f"cannot read documents from {path}: {exc.strerror or exc}; check the path"
        ) from exc
    return non_blank_lines(text)


def documents(docs: list[str] | None, file: Path | None) -> list[str]:
    """Texts given with a repeatable option or one per line of a file; InvalidInput if none."""
    if docs and file is not None:
        raise InvalidInput("give documents with --doc or with --file, not both")
    texts = _read_documents(file) if file is not None else list(docs or [])
    if not texts:
        where = f"{file} has no non-blank lines" if file is not None else "none were given"
        raise InvalidInput(
            f"no documents given: {where}; pass them with --doc TEXT (repeatable) "
            "or --file FILE (one document per line)"
        )
    return texts


def _table(matches: list[Match]) -> Table:
    table = Table()
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("document", overflow="fold")
    for rank, match in enumerate(matches, start=1):
        table.add_row(str(rank), f"{match.score:.4f}", Text(match.text))
    return table


def _image_files(docs: list[str]) -> list[Path]:
    """The image files named, folders expanded to the images in them (sorted)."""
    files: list[Path] = []
    for doc in docs:
        path = Path(doc).expanduser()
        if path.is_dir():
            files.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        else:
            files.append(path)
    if not files:
        raise InvalidInput(
            "no images given: with --image, pass the images to rank with --doc PATH "
            "(repeatable; a folder stands for the images in it) or --file (one path per line)"
        )
    return files


def _similar_images(image: Path, docs: list[str], embedder: Embedder, k: int | None) -> list[Match]:
    files = []
    for path in _image_files(docs):
        try:
            load_image(path)
        except UnreadableImage as exc:  # one bad file in a folder: say so, rank the rest
            typer.echo(f"skipped: {exc}", err=True)
            continue
        files.append(path)
    if not files:
        raise InvalidInput("none of the images given can be read: nothing to rank")
    with showing(f"rank {len(files):,} image(s) with {embedder.spec.name}"):
        vectors = embedder.embed_images(files)
        query = embedder.embed_image(image)
        best = top_k(query, vectors, k=k or len(files), metric=embedder.spec.metric)
    return [
        Match(index=int(i), score=float(score), text=str(files[int(i)]))
        for i, score in zip(best.indices, best.scores, strict=True)
    ]


def similar(
    query: Annotated[
        str | None,
        typer.Argument(
            help="The text to compare the documents with (or give --image).", metavar="[QUERY]"
        ),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            help="Rank images (--doc PATH or folder, --file of paths) by similarity to this one.",
            dir_okay=False,
            metavar="PATH",
            show_default=False,
        ),
    ] = None,
    docs: DocsOption = None,
    file: FileOption = None,
    model: ModelOption = DEFAULT_EMBEDDER,
    model_option: ModelOptions = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", "-k", help="Show only the k best matches (default: all).", metavar="N", min=1
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON list of {rank, index, score, text} instead."),
    ] = False,
) -> None:
    """Rank documents by similarity to QUERY (or images to an --image), best first."""
    if (query is None) == (image is None):
        raise InvalidInput("give a QUERY text or --image PATH (one of them) to compare with")
    texts = documents(docs, file)
    model_embedder = build_embedder(model, model_option)
    if image is not None:
        matches = _similar_images(image, texts, model_embedder, k)
        query = f"image {image}"
    else:
        assert query is not None
        with showing(f"rank {len(texts):,} document(s) with {model}"):
            matches = most_similar(query, texts, embedder=model_embedder, k=k)
    if as_json:
        rows = [
            {"rank": rank, "index": m.index, "score": float(m.score), "text": m.text}
            for rank, m in enumerate(matches, start=1)
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    console = stdout_console()
    heading = f"Most similar to {query!r} with {model_embedder.spec.name}:"
    console.print(Text(heading, style="bold"), soft_wrap=True)
    console.print(_table(matches))
