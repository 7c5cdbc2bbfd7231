"""What the commands print: JSON documents, long lists cut to --limit, and search hits.

Human output fits the terminal: a hit is two lines (rank, score, short id, source; then a
one-line snippet with the query's words highlighted), and long lists show their first
--limit entries and how many more there are. ``--json`` always prints everything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from shoal.cli._console import stdout_console
from shoal.store import Hit

__all__ = [
    "DEFAULT_LIMIT",
    "ID_WIDTH",
    "JsonOption",
    "LimitOption",
    "ShowMetadataOption",
    "hit_json",
    "limited",
    "more_line",
    "one_line",
    "print_hits",
    "print_json",
    "query_terms",
    "snippet",
]

DEFAULT_LIMIT = 20
ID_WIDTH = 12
"""Ids are shown by their first 12 characters (a content hash is 32); --json gives them whole."""

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead (everything, uncut).")
]
LimitOption = Annotated[
    int,
    typer.Option(
        "--limit",
        help="Show at most N entries of a long list (0: all); --json always prints all.",
        metavar="N",
        min=0,
    ),
]
ShowMetadataOption = Annotated[
    bool, typer.Option("--show-metadata", help="Also print each row's metadata.")
]

_WORD = re.compile(r"\w+")
# Words too common to be worth highlighting.
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by for from has have in is it its of on or that the this to was "
        "were what when where which who why will with",
    )
)


def print_json(value: Any) -> None:
    """`value` as one JSON document on standard output (Unicode kept as is)."""
    typer.echo(json.dumps(value, ensure_ascii=False))


def limited(items: Sequence[Any], limit: int) -> Sequence[Any]:
    """The first `limit` items (all of them if `limit` is 0)."""
    return items if limit == 0 else items[:limit]


def more_line(shown: int, total: int, what: str = "") -> Text | None:
    """``... and 14,622 more; --limit 0 or --json for all``, or None if nothing was left out."""
    if shown >= total:
        return None
    noun = f" {what}" if what else ""
    return Text(f"... and {total - shown:,} more{noun}; --limit 0 or --json for all", style="dim")


def one_line(text: str, width: int) -> str:
    """`text` with its whitespace collapsed, cut to `width` characters with '…'."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"


def query_terms(query: str | None) -> list[str]:
    """The words of `query` worth highlighting (not stop words, at least two characters)."""
    if not query:
        return []
    words = {w.lower() for w in _WORD.findall(query)}
    return sorted(w for w in words if len(w) > 1 and w not in _STOP)


def snippet(text: str, terms: Iterable[str], width: int) -> Text:
    """One line of `text`, at most `width` characters, around the first of `terms` found,
    with every term (and words starting with one) highlighted."""
    flat = " ".join(text.split())
    words = list(terms)
    pattern = (
        re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\w*", re.IGNORECASE)
        if words
        else None
    )
    start = 0
    first = pattern.search(flat) if pattern is not None else None
    if first is not None and len(flat) > width and first.start() > width // 3:
        start = first.start() - width // 3
    end = start + width
    head = "…" if start > 0 else ""
    tail = "…" if end < len(flat) else ""
    body = flat[start + len(head) : end - len(tail)]
    shown = Text(head + body + tail, no_wrap=True, overflow="ellipsis")
    if pattern is not None:
        shown.highlight_regex(pattern, style="bold yellow")
    return shown


def hit_json(rank: int, hit: Hit) -> dict[str, Any]:
    """One hit as the search commands' JSON gives it."""
    return {
        "rank": rank,
        "id": hit.id,
        "score": hit.score,
        "text": hit.text,
        "metadata": hit.metadata,
    }


def print_hits(
    hits: list[Hit],
    metric: str,
    *,
    as_json: bool,
    query: str | None = None,
    show_metadata: bool = False,
) -> None:
    """Hits as two lines each (rank, score, short id, source; a snippet), or a JSON list.

    `metric` names the score: "l2" is a distance, "keyword" a BM25 score, "hybrid" a
    fusion score, "rerank" a reranker's score, anything else a similarity.
    """
    if as_json:
        print_json([hit_json(rank, hit) for rank, hit in enumerate(hits, 1)])
        return
    console = stdout_console()
    if not hits:
        console.print(Text("no hits", style="dim"))
        return
    label = {"l2": "distance", "keyword": "bm25", "hybrid": "fused", "rerank": "reranked"}.get(
        metric, "score"
    )
    terms = query_terms(query)
    indent = " " * 4
    width = max(console.width - len(indent), 20)
    for rank, hit in enumerate(hits, 1):
        console.print(_hit_heading(rank, hit, label, console))
        console.print(Text(indent).append_text(snippet(hit.text, terms, width)), no_wrap=True)
        if show_metadata:
            shown = one_line(json.dumps(hit.metadata, ensure_ascii=False), width - 10)
            console.print(Text(f"{indent}metadata {shown}", style="dim"), no_wrap=True)


def time_span(metadata: Mapping[str, Any]) -> str | None:
    """A transcript chunk's ``start``-``end`` as ``m:ss-m:ss`` (``h:mm:ss`` past an hour), else None."""
    start, end = metadata.get("start"), metadata.get("end")
    numbers = (int, float)
    if not isinstance(start, numbers) or not isinstance(end, numbers) or isinstance(start, bool):
        return None
    return f"{_clock(float(start))}-{_clock(float(end))}"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _hit_heading(rank: int, hit: Hit, label: str, console: Console) -> Text:
    line = Text(f"{rank:>2}. ", style="bold")
    line.append(f"{label} {hit.score:.4f}  ")
    line.append(hit.id[:ID_WIDTH], style="cyan")
    source = hit.metadata.get("source")
    if isinstance(source, str) and source:
        chunk = hit.metadata.get("chunk")
        place = source + (f" #{chunk}" if isinstance(chunk, int) else "")
        span = time_span(hit.metadata)
        if span is not None:  # a stretch of audio: where to play it from
            place += f" @ {span}"
        room = console.width - len(line) - 2
        if room > 8:
            if len(place) > room:
                place = "…" + place[-(room - 1) :]  # the file name is at the end
            line.append("  " + place, style="green")
    return line
