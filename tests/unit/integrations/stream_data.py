"""Data for the training-stream tests: a small dataset of every column kind, and labelled
topic sentences whose held-out split uses words the training split never does."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np

import shoal.store as st

__all__ = ["TOPICS", "build_rows", "labelled_sentences"]

ROWS = 403  # not a multiple of any batch size or share count the tests use
DIM = 8


def build_rows(uri: str, storage_options: dict[str, str] | None = None) -> st.Dataset:
    """`ROWS` rows with vectors, numeric / text / nested / partial metadata and a binary column."""
    rng = np.random.default_rng(7)
    ds = st.open(uri, embedder=f"hash:{DIM}", storage_options=storage_options)
    blobs: list[bytes | None] = [
        bytes(rng.integers(0, 256, size=int(rng.integers(0, 300)), dtype=np.uint8))
        for _ in range(ROWS)
    ]
    blobs[3] = None
    blobs[4] = b"\x00\xff\x00"
    metadatas: list[dict[str, Any]] = [
        {
            "label": i % 3,
            "score": i / 4,
            "group": "even" if i % 2 == 0 else "odd",
            "info": {"year": 1900 + i},
            **({"maybe": i} if i % 5 else {}),
        }
        for i in range(ROWS)
    ]
    ds.add(
        [f"row {i}" for i in range(ROWS)],
        metadatas=metadatas,
        ids=[f"r{i:04d}" for i in range(ROWS)],
        embeddings=rng.standard_normal((ROWS, DIM)).astype(np.float32),
        columns={"blob": st.Binary(blobs, content_type="application/x-test")},
    )
    return ds


TOPICS: dict[str, tuple[list[list[str]], list[list[str]]]] = {
    # topic: (training words: subjects, verbs, objects), (held-out words)
    "sport": (
        [
            ["the striker", "our goalkeeper", "the coach", "the midfielder", "the captain"],
            [
                "scored in",
                "trained before",
                "celebrated after",
                "was injured during",
                "argued about",
            ],
            [
                "the final match",
                "the penalty shootout",
                "the league game",
                "extra time",
                "the derby",
            ],
        ],
        [
            ["the tennis player", "the sprinter"],
            ["won", "lost"],
            ["the championship", "the marathon", "the tournament"],
        ],
    ),
    "cooking": (
        [
            ["the chef", "my grandmother", "the baker", "the cook", "our neighbour"],
            ["stirred", "seasoned", "baked", "chopped", "simmered"],
            ["the tomato sauce", "the onions", "fresh bread", "the soup", "garlic and herbs"],
        ],
        [
            ["the pastry chef", "the waiter"],
            ["roasted", "fried"],
            ["the vegetables", "a chicken", "pancakes"],
        ],
    ),
    "astronomy": (
        [
            ["the astronomer", "the telescope", "the space probe", "the observatory", "a student"],
            ["observed", "photographed", "detected", "measured", "studied"],
            ["a distant galaxy", "the comet", "the rings of Saturn", "a supernova", "the craters"],
        ],
        [
            ["the satellite", "the rover"],
            ["discovered", "mapped"],
            ["an asteroid", "a black hole", "the nebula"],
        ],
    ),
}


def labelled_sentences(per_topic: int = 60) -> tuple[list[str], list[dict[str, Any]]]:
    """Sentences with metadata ``{"label": topic index, "split": "train" | "test"}``:
    `per_topic` training sentences a topic, and 12 held-out ones in unseen words."""
    picker = random.Random(3)
    texts: list[str] = []
    metadatas: list[dict[str, Any]] = []
    for label, (train, test) in enumerate(TOPICS.values()):
        combos = picker.sample(list(itertools.product(*train)), per_topic)
        for split, chosen in (("train", combos), ("test", list(itertools.product(*test)))):
            for subject, verb, obj in chosen:
                texts.append(f"{subject.capitalize()} {verb} {obj}.")
                metadatas.append({"label": label, "split": split})
    return texts, metadatas
