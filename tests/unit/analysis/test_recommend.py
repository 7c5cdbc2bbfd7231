"""recommend: rows like the liked ones, away from the disliked ones, never the given ids."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_data import DIM, MakeDataset, clustered

from shoal.analysis import recommend
from shoal.errors import InvalidInput


def test_recommendations_come_from_the_liked_rows_cluster(make_dataset: MakeDataset) -> None:
    ds = make_dataset(clustered(60, centres=3))
    hits = recommend(ds, positive_ids=["r0", "r3"], k=5)
    assert len(hits) == 5
    assert all(int(h.id[1:]) % 3 == 0 for h in hits)  # the liked rows' centre
    assert not {"r0", "r3"} & {h.id for h in hits}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_disliked_rows_push_the_ranking_away_from_them(make_dataset: MakeDataset) -> None:
    # A line of rows from A to B: liking the middle and disliking B favours the A side.
    a, b = np.eye(DIM, dtype=np.float32)[0], np.eye(DIM, dtype=np.float32)[1]
    vectors = np.stack([a + (b - a) * t for t in np.linspace(0, 1, 11)]).astype(np.float32)
    ds = make_dataset(vectors)
    liked_only = recommend(ds, positive_ids=["r5"], k=2)
    assert {h.id for h in liked_only} == {"r4", "r6"}
    away = recommend(ds, positive_ids=["r5"], negative_ids=["r10"], k=2)
    assert {h.id for h in away} == {"r2", "r3"}  # the query turned towards A, past r4
    assert "r10" not in {h.id for h in recommend(ds, positive_ids=["r5"], negative_ids=["r10"])}


def test_where_limits_the_recommendations(make_dataset: MakeDataset) -> None:
    ds = make_dataset(clustered(30), metadatas=[{"even": i % 2 == 0} for i in range(30)])
    hits = recommend(ds, positive_ids=["r0"], k=3, where={"even": False})
    assert len(hits) == 3 and all(int(h.id[1:]) % 2 == 1 for h in hits)


def test_unknown_ids_and_bad_arguments_raise(make_dataset: MakeDataset) -> None:
    ds = make_dataset(clustered(10))
    with pytest.raises(InvalidInput, match=r"1 id\(s\) are not in .*: nope"):
        recommend(ds, positive_ids=["r1", "nope"])
    with pytest.raises(InvalidInput, match="not in"):
        recommend(ds, positive_ids=["r1"], negative_ids=["missing"])
    with pytest.raises(InvalidInput, match="at least one id"):
        recommend(ds, positive_ids=[])
    with pytest.raises(InvalidInput, match="list of id strings"):
        recommend(ds, positive_ids="r1")
    with pytest.raises(InvalidInput, match="k must be"):
        recommend(ds, positive_ids=["r1"], k=0)
    with pytest.raises(InvalidInput, match="cancel out"):
        recommend(ds, positive_ids=["r1"], negative_ids=["r1"], negative_weight=1.0)


def test_an_empty_dataset_knows_no_ids(make_dataset: MakeDataset) -> None:
    with pytest.raises(InvalidInput, match="not in"):
        recommend(make_dataset(), positive_ids=["r0"])
