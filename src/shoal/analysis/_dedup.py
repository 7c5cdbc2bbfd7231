"""Near-duplicate groups: connected components of the kNN graph's edges above a threshold.

Two rows are linked when one is among the other's `k` nearest neighbours with a
similarity at least `threshold` (l2: a distance at most `threshold`), or when their texts
are equal once case and whitespace are normalised. Linking is transitive (union-find),
so a chain of close paraphrases forms one group. The graph comes from the store's HNSW
index in blocks, so memory grows with n x k, never n x n.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shoal._checks import check_count, check_number
from shoal.analysis._served import served
from shoal.errors import InvalidInput
from shoal.store import Dataset, Filter, Neighbors

__all__ = [
    "DEFAULT_K",
    "DEFAULT_THRESHOLD",
    "duplicate_groups",
    "near_duplicates",
    "normalized_text",
    "remove_duplicates",
    "threshold_for",
]

DEFAULT_THRESHOLD = 0.9
"""Cosine similarity that links two rows. In the planted test set (MiniLM) every exact,
case, whitespace and light-paraphrase duplicate scores 0.938 or more, and unrelated
sentences on the same topics at most 0.59. PAWS (bench/dedup_paws.py) shows the limit:
its word-swapped non-paraphrases score as high as its paraphrases (at >= 0.9, precision
0.45 against a 0.44 base rate, recall 0.94), so no threshold separates those; raise it
(0.95-0.98) when near-identical wording must not merge."""
DEFAULT_K = 10
"""Neighbours looked at per row: a group larger than k + 1 still forms through chains."""


def normalized_text(text: str) -> str:
    """The text compared for exact duplicates: case folded, whitespace runs made one space."""
    return " ".join(text.casefold().split())


def near_duplicates(
    ds: Dataset,
    *,
    threshold: float | None = None,
    where: Filter | None = None,
    k: int = DEFAULT_K,
) -> list[list[str]]:
    """Groups of near-duplicate row ids (two or more each) among rows matching `where`.

    Each group lists its representative first: the row stored earliest (the dataset's
    stored order, as `Dataset.vectors` returns it), then the others in stored order;
    groups come in the order of their representatives. `threshold` is a similarity for
    cosine and dot datasets (default 0.9 for cosine and normalised dot) and a distance
    for l2 (no default).

    Raises:
        InvalidInput: a bad threshold or k, or an l2 / unnormalised dataset without threshold.
    """
    remote, result = served(ds, "near_duplicates", threshold=threshold, where=where, k=k)
    if remote:
        return result  # type: ignore[no-any-return]
    limit = threshold_for(ds, threshold)
    graph = ds.neighbors(k=check_count(k, "k"), where=where)
    return duplicate_groups(graph, _texts(ds, where), limit)


def duplicate_groups(graph: Neighbors, texts: Mapping[str, str], limit: float) -> list[list[str]]:
    """The groups `near_duplicates` gives for a kNN graph, the rows' texts and a threshold."""
    parent = list(range(len(graph)))

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    def link(a: int, b: int) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:  # the smaller row (stored earlier) stays the root: the representative
            parent[max(ra, rb)] = min(ra, rb)

    close = graph.scores <= limit if graph.metric == "l2" else graph.scores >= limit
    close &= graph.indices >= 0
    for row, other in zip(*close.nonzero(), strict=True):
        link(int(row), int(graph.indices[row, other]))
    first_with: dict[str, int] = {}
    for row, row_id in enumerate(graph.ids):
        if row_id in texts:
            link(first_with.setdefault(normalized_text(texts[row_id]), row), row)
    groups: dict[int, list[str]] = {}
    for row, row_id in enumerate(graph.ids):
        groups.setdefault(root(row), []).append(row_id)
    return [members for members in groups.values() if len(members) > 1]


def remove_duplicates(
    ds: Dataset, groups: Sequence[Sequence[str]], *, message: str | None = None
) -> int:
    """Delete all but the first id of each group, then commit; returns the new version.

    The rows stay in the history: `ds.checkout(previous_version)` reads them, and
    `ds.restore(previous_version)` brings them back.
    """
    remote, result = served(ds, "remove_duplicates", groups=groups, message=message)
    if remote:
        return result  # type: ignore[no-any-return]
    if isinstance(groups, str) or any(isinstance(g, str) for g in groups):
        raise InvalidInput("groups must be a list of id lists, as near_duplicates returns")
    drop = [row_id for group in groups for row_id in list(group)[1:]]
    if drop:
        ds.delete(ids=drop)
    kept = sum(1 for group in groups if group)
    return ds.commit(message or f"dedup: removed {len(drop)} near-duplicate rows, kept {kept}")


def threshold_for(ds: Dataset, threshold: float | None) -> float:
    """The threshold that links two rows: `threshold` checked, or the default for the metric."""
    spec = ds.spec
    if threshold is None:
        if spec.metric == "cosine" or (spec.metric == "dot" and spec.normalized):
            return DEFAULT_THRESHOLD
        raise InvalidInput(
            f"{ds.uri} compares vectors by {spec.metric} ({spec.name}), which has no default "
            "near-duplicate threshold: pass threshold= (a distance for l2, a score for dot)"
        )
    value = check_number(threshold, "threshold")
    if spec.metric == "cosine" and not -1 <= value <= 1:
        raise InvalidInput(f"a cosine threshold must be in [-1, 1], e.g. 0.9; got {threshold!r}")
    if spec.metric == "l2" and value < 0:
        raise InvalidInput(f"an l2 threshold is a distance >= 0; got {threshold!r}")
    return value


def _texts(ds: Dataset, where: Filter | None) -> dict[str, str]:
    return {row["id"]: row["text"] for row in ds.select(["id", "text"], where=where)}
