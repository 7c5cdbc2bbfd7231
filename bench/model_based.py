"""The store's model-based suite at length, and the store mutations it must catch.

    .venv/bin/python bench/model_based.py [--examples 500] [--steps 50] [--machines local,memory,indexed]
    .venv/bin/python bench/model_based.py --mutations [--examples 100] [--steps 30]

The state machine is `tests/store_machine.py`, its model `tests/store_model.py` (CI runs it
with a bounded, derandomized profile in tests/unit/store/test_model_based.py; `--ci`
counts that profile's examples and steps). The long run uses random seeds and
reports examples, steps, wall time and any failure, shrunk. `--mutations` breaks one
store invariant at a time by monkeypatching (catch-up ignoring deletes, diff blind to
changes, ...) and reports whether the machine caught it, after how many examples, and the
shrunk failing sequence; a mutation it misses is a hole in the suite.
Writes bench/results/model_based.json (model_based_mutations.json) and prints BENCHMARKS.md rows.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import Phase, settings
from hypothesis.internal.conjecture import engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _report import print_table, save_report  # noqa: E402
from shoal.store import _dataset, _index, _keyword, _snapshot, _versions, _view, _writes  # noqa: E402
from shoal.store import filters as _filters  # noqa: E402
from store_machine import (  # noqa: E402
    CI_LOCAL_EXAMPLES,
    LONG_PROFILE,
    MACHINES,
    StoreMachine,
    indexed_thresholds,
    profile,
)


# ------------------------------------------------------------------------------ mutations
@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    saved = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


def _kill_oldest(self: Any, present_rowids: Any) -> None:
    live = np.flatnonzero(self.alive[: self.size])
    gone = live[~np.isin(self.rowids[live], present_rowids)]
    self.kill(live[: len(gone)].tolist())  # as many rows as were deleted, but the wrong ones


def _stale_current(self: Any) -> Any:
    return self._lance  # a writable handle never moves to the latest version


def _unique_rows_with_repeats(self: Any) -> list[int]:
    return list(range(len(self.ids)))


def _cleanup_dropping_tags(lance: Any, **options: Any) -> int:
    for name in list(lance.tags.list()):
        lance.tags.delete(name)
    return _ORIGINAL_CLEANUP(lance, **options)


_ORIGINAL_CLEANUP = _versions.cleanup
_ORIGINAL_UPDATE_IN_PLACE = _snapshot.Snapshot._update_in_place
_ORIGINAL_OPERATOR = _filters._Compiler.operator


def _update_keeping_metadata(self: Any, table: Any, rowids: Any) -> Any:
    saved = list(self.metadata)
    rest = _ORIGINAL_UPDATE_IN_PLACE(self, table, rowids)
    self.metadata[: len(saved)] = saved  # in-place updates forget the new metadata
    return rest


def _ne_needs_the_field(
    self: Any, target: Any, name: str, op: str, value: Any, *, depth: int
) -> str:
    clause = _ORIGINAL_OPERATOR(self, target, name, op, value, depth=depth)
    return f"({target.exists()}) AND ({clause})" if op == "$ne" else clause


def _keyword_ignoring_edits(self: Any, snap: Any) -> None:
    self._edits = snap.text_edits  # a text edited in place never restarts the index
    _ORIGINAL_CATCH_UP(self, snap)


_ORIGINAL_CATCH_UP = _keyword.KeywordIndex.catch_up


@dataclass(frozen=True)
class Mutation:
    """One deliberate breakage of the store, and the machine most likely to see it."""

    name: str
    breaks: str
    patch: Callable[[], contextlib.AbstractContextManager[None]]
    machine: str = "local"


MUTATIONS = [
    Mutation(
        "kill_missing-wrong-rows",
        "catching up kills the oldest live rows instead of the deleted ones (Snapshot.kill_missing)",
        lambda: _patched(_snapshot.Snapshot, "kill_missing", _kill_oldest),
    ),
    Mutation(
        "rewritten-never",
        "catching up never notices a restore (View._rewritten always False)",
        lambda: _patched(_view.View, "_rewritten", lambda self, lance, since: False),
    ),
    Mutation(
        "diff-no-changed",
        "diff reports no changed rows (_versions._changed_content returns [])",
        lambda: _patched(_versions, "_changed_content", lambda old, new, ids: []),
    ),
    Mutation(
        "unique_rows-repeats",
        "a write keeps repeated content-hash rows (Batch.unique_rows keeps every row)",
        lambda: _patched(_writes.Batch, "unique_rows", _unique_rows_with_repeats),
    ),
    Mutation(
        "current-stale",
        "a writable handle does not move to the latest version first (Dataset._current)",
        lambda: _patched(_dataset.Dataset, "_current", _stale_current),
    ),
    Mutation(
        "cleanup-drops-tags",
        "cleanup deletes tags, so tagged versions go too (_versions.cleanup)",
        lambda: _patched(_versions, "cleanup", _cleanup_dropping_tags),
    ),
    Mutation(
        "index-file-trusted",
        "a reopened index file is trusted without comparing its vectors (HnswIndex.matches)",
        lambda: _patched(
            _index.HnswIndex,
            "matches",
            lambda self, vectors, positions: np.ones(len(positions), dtype=bool),
        ),
        machine="indexed",
    ),
    Mutation(
        "in-place-metadata-stale",
        "a metadata update keeps the snapshot's old metadata (Snapshot._update_in_place)",
        lambda: _patched(_snapshot.Snapshot, "_update_in_place", _update_keeping_metadata),
    ),
    Mutation(
        "ne-needs-field",
        "$ne no longer matches rows without the field (filters: $ne ANDs $exists)",
        lambda: _patched(_filters._Compiler, "operator", _ne_needs_the_field),
    ),
    Mutation(
        "keyword-ignores-edits",
        "the BM25 index misses texts edited in place (KeywordIndex.catch_up)",
        lambda: _patched(_keyword.KeywordIndex, "catch_up", _keyword_ignoring_edits),
    ),
]


# -------------------------------------------------------------------------------- running
@dataclass
class Outcome:
    """One run of a machine: what it did and how it ended."""

    machine: str
    examples: int
    steps: int
    seconds: float
    failed: bool
    first_failure: int | None
    error: str
    example: list[str]

    @property
    def shrunk_steps(self) -> int:
        return sum(1 for line in self.example if _RULE.match(line))


_RULE = re.compile(r"^(?:[\w, ()]+ = )?state\.(?!rows_agree\(|teardown\()\w+\(")


def run(machine_name: str, config: settings) -> Outcome:
    """Run one machine under `config`, capturing the report of a failure."""
    machine: type[StoreMachine] = MACHINES[machine_name]
    machine.reset_counters()
    lines: list[str] = []
    context = indexed_thresholds() if machine.indexed else contextlib.nullcontext()
    start = time.perf_counter()
    error = ""
    with context, with_reporter(lambda text: lines.extend(str(text).splitlines())):
        try:
            run_state_machine_as_test(machine, settings=config)
        except Exception as exc:  # the failure the machine found: reported, not raised
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            # Hypothesis attaches the falsifying steps to the exception as notes.
            lines.extend(
                line for note in getattr(exc, "__notes__", []) for line in note.splitlines()
            )
    seconds = time.perf_counter() - start
    example = [
        line for line in lines if line.startswith(("state", "(", " ")) or " = state." in line
    ]
    return Outcome(
        machine_name,
        machine.instances,
        machine.checks - machine.instances,
        seconds,
        bool(error),
        machine.first_failure,
        error,
        example,
    )


def _ci_local(config: settings) -> settings:
    """The CI profile as tests/unit/store/test_model_based.py runs it on the local machine."""
    return settings(config, max_examples=max(config.max_examples, CI_LOCAL_EXAMPLES))


def long_run(args: argparse.Namespace) -> None:
    """Run the machines with the long profile (or, with --ci, the CI one) and report."""
    if args.ci:
        config = profile()
    else:
        config = settings(
            profile(LONG_PROFILE),
            max_examples=args.examples,
            stateful_step_count=args.steps,
            report_multiple_bugs=False,
        )
    outcomes = [
        run(name, _ci_local(config) if args.ci and name == "local" else config)
        for name in args.machines.split(",")
    ]
    rows = [
        (
            o.machine,
            o.examples,
            o.steps,
            f"{o.steps / max(o.examples, 1):.1f}",
            f"{o.seconds:.0f}",
            "FAILED: " + o.error if o.failed else "passed",
        )
        for o in outcomes
    ]
    print_table(["machine", "examples", "steps", "steps/example", "seconds", "result"], rows)
    for o in outcomes:
        if o.failed:
            print(f"\n{o.machine}: {o.error}\n" + "\n".join(o.example))
    name = "model_based_ci" if args.ci else "model_based"
    path = save_report(
        name,
        "model-based store suite, "
        + ("CI profile (derandomized)" if args.ci else "long profile (random seeds)"),
        max_examples=config.max_examples,
        max_steps=config.stateful_step_count,
        runs=[o.__dict__ | {"shrunk_steps": o.shrunk_steps} for o in outcomes],
    )
    print(f"\nwrote {path}")


def mutation_run(args: argparse.Namespace) -> None:
    """Run each mutation against its machine and report which were caught."""
    # Shrinking stops after this long (hypothesis' default is 300 s per failure).
    engine.MAX_SHRINKING_SECONDS = args.shrink_seconds
    config = settings(
        profile(),
        max_examples=args.examples,
        stateful_step_count=args.steps,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only.split(",")]
    results = []
    for mutation in chosen:
        with mutation.patch():
            outcome = run(mutation.machine, config)
        results.append((mutation, outcome))
        status = "caught" if outcome.failed else "MISSED"
        print(f"{mutation.name}: {status} ({outcome.seconds:.0f} s) {outcome.error}", flush=True)
        if outcome.failed:
            print("\n".join(f"    {line}" for line in outcome.example), flush=True)
    rows = [
        (
            m.name,
            m.breaks,
            m.machine,
            "yes" if o.failed else "**no**",
            o.first_failure if o.failed else f"none of {o.examples}",
            o.shrunk_steps if o.failed else "",
        )
        for m, o in results
    ]
    print_table(
        ["mutation", "what it breaks", "machine", "caught", "failing example", "shrunk steps"], rows
    )
    path = save_report(
        "model_based_mutations",
        "model-based store suite against deliberate store mutations",
        max_examples=args.examples,
        max_steps=args.steps,
        mutations=[
            {"name": m.name, "breaks": m.breaks} | o.__dict__ | {"shrunk_steps": o.shrunk_steps}
            for m, o in results
        ],
    )
    print(f"\nwrote {path}")


def main() -> None:
    """Run the long profile, or the mutations."""
    # Mutations make the store reload and warn; the table says what matters.
    logging.getLogger("shoal.store").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--machines", default="local,memory,indexed")
    parser.add_argument("--mutations", action="store_true")
    parser.add_argument(
        "--ci", action="store_true", help="count the CI profile's examples and steps"
    )
    parser.add_argument("--only", default="", help="comma-separated mutation names")
    parser.add_argument("--shrink-seconds", type=int, default=120)
    args = parser.parse_args()
    if args.mutations:
        args.examples = args.examples or 100
        args.steps = args.steps or 30
        mutation_run(args)
    else:
        args.examples = args.examples or 500
        args.steps = args.steps or 50
        long_run(args)


if __name__ == "__main__":
    main()
