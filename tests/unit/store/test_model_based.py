"""The store against a plain-Python model, over random sequences of calls: the state
machine of tests/store_machine.py on a local folder, on memory://, and on a local folder
whose searches go through the HNSW index and its file.

The profile comes from SHOAL_HYPOTHESIS_PROFILE (default: the bounded, derandomized CI
one; shoal-model-long runs 500 examples of up to 50 steps); `bench/model_based.py` runs
the long one with random seeds and the store mutations this suite must catch. The bugs it
found are replayed by hand in test_model_regressions.py.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from store_machine import (
    CI_LOCAL_EXAMPLES,
    IndexedMachine,
    LocalMachine,
    MemoryMachine,
    indexed_thresholds,
    profile,
)

SETTINGS = profile(os.environ.get("SHOAL_HYPOTHESIS_PROFILE"))


def test_local_dataset_agrees_with_the_model() -> None:
    # The local folder has every rule (branches too): it gets more examples (CI_LOCAL_EXAMPLES).
    examples = max(SETTINGS.max_examples, CI_LOCAL_EXAMPLES)
    run_state_machine_as_test(LocalMachine, settings=settings(SETTINGS, max_examples=examples))


def test_memory_dataset_agrees_with_the_model() -> None:
    run_state_machine_as_test(MemoryMachine, settings=SETTINGS)


def test_indexed_dataset_agrees_with_the_model() -> None:
    with indexed_thresholds():
        run_state_machine_as_test(IndexedMachine, settings=SETTINGS)


def test_compressed_index_dataset_agrees_with_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same, over a compressed index (8-bit codes, rescored from Lance): every index the
    # machine builds compresses (a one-byte threshold).
    monkeypatch.setenv("SHOAL_INDEX_COMPRESS_MB", "0.000001")
    with indexed_thresholds():
        run_state_machine_as_test(IndexedMachine, settings=SETTINGS)
