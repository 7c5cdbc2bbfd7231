"""classify: kNN votes from labelled rows, for vectors and for texts; errors."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_data import MakeDataset, clustered

from shoal.analysis import classify
from shoal.errors import InvalidInput

NAMES = ("animals", "finance", "music")


def labelled(make_dataset: MakeDataset, n: int = 60) -> object:
    """Rows around 3 centres; two in three carry the centre's name, the rest no label."""
    metadatas = [{"topic": NAMES[i % 3]} if i % 3 != 0 or i % 2 else {} for i in range(n)]
    texts = [f"text {i}" for i in range(n)]
    return make_dataset(clustered(n, centres=3, spread=0.3), texts=texts, metadatas=metadatas)


def test_vectors_get_their_centres_label_with_probabilities(make_dataset: MakeDataset) -> None:
    ds = labelled(make_dataset)
    queries = clustered(9, centres=3, spread=0.3, seed=77)
    results = classify(ds, queries, label_field="topic", k=5)
    assert [r.label for r in results] == [NAMES[i % 3] for i in range(9)]
    for result in results:
        assert sum(result.probabilities.values()) == pytest.approx(1.0)
        assert result.probabilities[str(result.label)] == max(result.probabilities.values())
        assert len(result.neighbors) == 5
        assert all("topic" in hit.metadata for hit in result.neighbors)


def test_texts_are_embedded_like_the_rows(make_dataset: MakeDataset) -> None:
    ds = make_dataset(
        texts=["red apple", "green apple", "blue whale", "grey whale"],
        metadatas=[{"kind": {"name": "fruit"}}] * 2 + [{"kind": {"name": "animal"}}] * 2,
    )
    results = classify(ds, ["red apple", "grey whale"], label_field="kind.name", k=1)
    assert [r.label for r in results] == ["fruit", "animal"]
    assert results[0].probabilities == {"fruit": 1.0}


def test_votes_are_weighted_and_non_string_labels_are_kept(make_dataset: MakeDataset) -> None:
    vectors = np.eye(4, 16, dtype=np.float32)
    vectors[1] = vectors[0] * 0.9 + vectors[1] * 0.1  # near row 0
    ds = make_dataset(vectors, metadatas=[{"y": 1}, {"y": 1}, {"y": 0}, {"y": 0}])
    query = vectors[0] + 0.05 * vectors[2]
    result = classify(ds, query[None, :], label_field="y", k=4)[0]
    assert result.label == 1 and isinstance(result.label, int)
    assert result.probabilities["1"] > 0.6 and set(result.probabilities) == {"0", "1"}


def test_where_narrows_the_voters(make_dataset: MakeDataset) -> None:
    ds = labelled(make_dataset)
    query = clustered(3, centres=3, spread=0.3, seed=5)[:1]
    result = classify(ds, query, label_field="topic", k=3, where={"topic": {"$ne": "animals"}})
    assert result[0].label != "animals"


def test_errors_say_what_to_do(make_dataset: MakeDataset) -> None:
    ds = labelled(make_dataset)
    with pytest.raises(InvalidInput, match=r"no rows of .* have metadata 'colour'"):
        classify(ds, ["x"], label_field="colour")
    with pytest.raises(InvalidInput, match=r"no rows .* among those matching where="):
        classify(ds, ["x"], label_field="topic", where={"topic": "none"})
    with pytest.raises(InvalidInput, match="no rows"):
        classify(make_dataset(), ["x"], label_field="topic")
    with pytest.raises(InvalidInput, match="at least one"):
        classify(ds, [], label_field="topic")
    with pytest.raises(InvalidInput, match="not one str"):
        classify(ds, "text", label_field="topic")
    with pytest.raises(InvalidInput, match="k must be"):
        classify(ds, ["x"], label_field="topic", k=0)
    with pytest.raises(InvalidInput, match="label_field"):
        classify(ds, ["x"], label_field="")
