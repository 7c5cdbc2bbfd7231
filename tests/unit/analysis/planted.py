"""A small set with planted duplicate groups (exact, whitespace/case variants, light paraphrases)
and unrelated sentences, some on the same topics, that must stay apart."""

from __future__ import annotations

GROUPS: list[list[str]] = [
    ["The cat sat on the mat.", "The cat sat on the mat."],
    [
        "Vector databases store embeddings for fast similarity search.",
        "vector  databases store embeddings for fast similarity search.",
        "VECTOR DATABASES STORE EMBEDDINGS FOR FAST SIMILARITY SEARCH.",
    ],
    ["Paris is the capital of France.", "The capital of France is Paris."],
    ["How do I reset my password?", "How can I reset my password?"],
    [
        "The meeting has been moved to Thursday afternoon.",
        "The meeting was moved to Thursday afternoon.",
    ],
    [
        "Regular exercise improves cardiovascular health.",
        "Exercising regularly improves cardiovascular health.",
    ],
    [
        "The stock market fell sharply on Monday.",
        "On Monday the stock market fell sharply.",
    ],
    [
        "She bought three apples and a loaf of bread at the market.",
        "At the market she bought three apples and a loaf of bread.",
    ],
]
"""Each inner list is one planted group, the representative (added first) first."""

SINGLES: list[str] = [
    "A dog barked at the mailman.",
    "Berlin is the capital of Germany.",
    "How do I delete my account?",
    "The meeting was cancelled because of the storm.",
    "Swimming is a low-impact sport for people with joint pain.",
    "Bond yields rose after the central bank's announcement.",
    "He baked a chocolate cake for her birthday.",
    "Relational databases organise data into tables with rows and columns.",
    "The train to Edinburgh leaves at half past nine.",
    "Photosynthesis turns sunlight into chemical energy in plants.",
    "The violinist practised scales for two hours every morning.",
    "Glaciers in the Alps have shrunk a great deal over the last century.",
]
"""Texts that duplicate nothing, several near a planted group's topic."""
