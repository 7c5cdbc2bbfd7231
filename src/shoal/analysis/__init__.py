"""Analysis on a dataset's embeddings: near-duplicates, recommendations, outliers, clusters,
kNN classification and 2-D maps, all on the store's index (never an all-pairs matrix)."""

from __future__ import annotations

from shoal.analysis._classify import Classification, classify
from shoal.analysis._cluster import Cluster, Clustering, ClusterMethod, cluster
from shoal.analysis._dedup import near_duplicates, normalized_text, remove_duplicates
from shoal.analysis._map import DatasetMap, map_dataset, map_vectors, project_dataset
from shoal.analysis._map_page import Coloring
from shoal.analysis._outliers import OutlierMethod, Outliers, outliers
from shoal.analysis._projection import ProjectionMethod, project
from shoal.analysis._recommend import recommend

__all__ = [
    "Classification",
    "Cluster",
    "ClusterMethod",
    "Clustering",
    "Coloring",
    "DatasetMap",
    "OutlierMethod",
    "Outliers",
    "ProjectionMethod",
    "classify",
    "cluster",
    "map_dataset",
    "map_vectors",
    "near_duplicates",
    "normalized_text",
    "outliers",
    "project",
    "project_dataset",
    "recommend",
    "remove_duplicates",
]
