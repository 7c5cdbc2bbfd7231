"""outliers: planted far rows found by kNN distance and by LOF; contamination; errors."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_data import DIM, MakeDataset, clustered

from shoal.analysis import outliers
from shoal.errors import InvalidInput


@pytest.fixture
def with_strays(make_dataset: MakeDataset) -> tuple[object, set[str]]:
    rng = np.random.default_rng(8)
    vectors = clustered(200, centres=2, spread=0.2)
    stray = rng.normal(size=(3, DIM)).astype(np.float32)
    ds = make_dataset(np.concatenate([vectors, stray]))
    return ds, {"r200", "r201", "r202"}


@pytest.mark.parametrize("method", ["knn", "lof"])
def test_planted_strays_score_highest(with_strays: tuple[object, set[str]], method: str) -> None:
    ds, strays = with_strays
    found = outliers(ds, k=5, contamination=0.01, method=method)  # type: ignore[arg-type]
    assert found.method == method and found.rows == 203 and found.k == 5
    assert len(found.ids) == 3  # ceil(1% of 203)
    assert set(found.ids) == strays
    assert found.scores == sorted(found.scores, reverse=True)
    if method == "lof":
        assert min(found.scores) > 1.5  # inliers score about 1


def test_local_outlier_factor_is_about_one_inside_a_uniform_cluster(
    make_dataset: MakeDataset,
) -> None:
    found = outliers(make_dataset(clustered(300, centres=1, spread=0.3)), k=10,
                     contamination=0.5, method="lof")  # fmt: skip
    assert 0.8 < np.median(found.scores) < 1.3


def test_bad_arguments_and_too_few_rows(make_dataset: MakeDataset) -> None:
    ds = make_dataset(clustered(5))
    with pytest.raises(InvalidInput, match="more than 5 rows, and 5 match"):
        outliers(ds, k=5)
    with pytest.raises(InvalidInput, match="more than 1 rows, and 0 match"):
        outliers(make_dataset(), k=1)
    for bad in (0, 0.9, -0.1, "0.1"):
        with pytest.raises(InvalidInput, match="contamination"):
            outliers(ds, k=2, contamination=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'knn' or 'lof'"):
        outliers(ds, k=2, method="iforest")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="k must be"):
        outliers(ds, k=0)
