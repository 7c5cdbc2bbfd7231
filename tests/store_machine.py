"""A hypothesis state machine that runs random sequences of store calls against the model.

Each rule makes the same change to a Shoal dataset and to `store_model.Model` (add,
upsert, update, set_metadata, delete, commit, tag, checkout, branch, restore, compact,
cleanup, reopen, writes through a second handle) or checks a read (search in every mode,
get, select, diff, log); after every step the handle's rows, length, version and
in-memory snapshot must equal the model's. As Chroma tests its persistence.

Not a test module: `tests/unit/store/test_model_based.py` runs the machines with the CI
profile, `bench/model_based.py` with a long one and against deliberate store mutations.
(``tests/`` is on ``sys.path`` because the root conftest lives there.)
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

import shoal.store as store
from shoal.errors import FilterError, InvalidInput, ReadOnlyDataset, RefNotFound, StoreError
from shoal.store import _view
from shoal.types import Metric
from store_model import (
    DIMENSIONS,
    EMBEDDER,
    MAIN,
    MISSING,
    Branch,
    Model,
    Row,
    Rows,
    bm25_scores,
    canonical,
    check_ranked,
    close,
    embed,
    filter_fields,
    lookup,
    matches,
    tokenize,
    vector_scores,
)

__all__ = [
    "CI_LOCAL_EXAMPLES",
    "CI_PROFILE",
    "LONG_PROFILE",
    "MACHINES",
    "IndexedMachine",
    "LocalMachine",
    "MemoryMachine",
    "StoreMachine",
    "indexed_thresholds",
    "profile",
]

# ------------------------------------------------------------------------------ profiles
CI_PROFILE = "shoal-model-ci"
CI_LOCAL_EXAMPLES = 100
"""Examples the local-folder machine gets in CI: with 100 the CI profile catches all nine of
its store mutations (bench/model_based.py --mutations), with the profile's 40 seven."""
LONG_PROFILE = "shoal-model-long"
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    CI_PROFILE,
    max_examples=40,
    stateful_step_count=30,
    derandomize=True,  # the same examples on every CI run
    deadline=None,
    database=None,  # writes no .hypothesis/ folder
    suppress_health_check=_HEALTH,
    print_blob=False,
)
settings.register_profile(
    LONG_PROFILE,
    max_examples=500,
    stateful_step_count=50,
    derandomize=False,
    deadline=None,
    database=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)


def profile(name: str | None = None) -> settings:
    """The settings of a registered profile (default: the CI one)."""
    return settings.get_profile(name or CI_PROFILE)


# --------------------------------------------------------------------------- strategies
WORDS = (
    "cat", "mat", "dog", "yard", "stocks", "fell", "firmware", "3.1.3", "serial", "port",
    "the", "running", "runs", "it's", "café",
)  # fmt: skip
LANGS = ("en", "de", "it's", 'say "hi"', "é")
KEYS = ("lang", "year", "n", "tags", "author", "flag")
ID_POOL = ("a", "b", "c", "d", "e", "f", "g", "h")
VECTOR_POOL = (
    (1, 0, 0, 0, 0, 0, 0, 0),
    (0, 1, 0, 0, 0, 0, 0, 0),
    (1, 1, 0, 0, 0, 0, 0, 0),
    (2, 2, 0, 0, 0, 0, 0, 0),  # the same direction as the one above: a cosine tie
    (-1, 0, 1, 0, 0, 0, 0, 0),
)

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
_values: dict[str, st.SearchStrategy[Any]] = {
    "lang": st.sampled_from(LANGS),
    "year": st.integers(1998, 2003),
    "n": st.one_of(st.integers(-2, 2), st.sampled_from([-1.5, 0.5, 2.5, "2"])),
    "tags": st.lists(st.sampled_from(["ml", "nlp", "db"]), max_size=3),
    "author": st.fixed_dictionaries(
        {}, optional={"name": st.sampled_from(["ann", "bob"]), "age": st.integers(20, 40)}
    ),
    "flag": st.one_of(st.booleans(), st.sampled_from([0, 1])),
}
metadatas = st.fixed_dictionaries({}, optional=_values)
vectors = st.one_of(
    st.sampled_from(VECTOR_POOL),
    st.lists(st.integers(-2, 2), min_size=DIMENSIONS, max_size=DIMENSIONS).map(tuple).filter(any),
)


@dataclass(frozen=True)
class Doc:
    """A document a rule writes: text, metadata (None: none given) and its own vector."""

    text: str
    metadata: dict[str, Any] | None
    vector: tuple[int, ...]

    def __repr__(self) -> str:
        return f"Doc({self.text!r}, {self.metadata!r}, {list(self.vector)})"


docs = st.builds(Doc, texts, st.one_of(st.none(), metadatas), vectors)


def batches(max_size: int, *, min_size: int = 0) -> st.SearchStrategy[list[Doc]]:
    """Lists of docs; often the first comes again with another vector (the same content id)."""
    repeat = st.one_of(st.none(), vectors)
    return st.builds(
        lambda b, v: [*b, Doc(b[0].text, b[0].metadata, v)] if b and v is not None else b,
        st.lists(docs, min_size=min_size, max_size=max_size),
        repeat,
    )


def _field_conditions() -> st.SearchStrategy[dict[str, Any]]:
    numbers = st.one_of(st.integers(-2, 2), st.sampled_from([0.5, 2.0, -1.5, 1999, 2000.5]))
    lang = st.sampled_from(LANGS)
    tag = st.sampled_from(["ml", "nlp", "db"])
    op = st.sampled_from(["$gt", "$gte", "$lt", "$lte"])
    return st.one_of(
        st.builds(lambda v: {"lang": v}, lang),
        st.builds(lambda v: {"lang": {"$ne": v}}, lang),
        st.builds(lambda v: {"lang": {"$in": v}}, st.lists(lang, max_size=2)),
        st.builds(lambda v: {"lang": {"$nin": v}}, st.lists(lang, max_size=2)),
        st.builds(lambda o, v: {"lang": {o: v}}, op, lang),
        st.builds(lambda o, v: {"year": {o: v}}, op, st.integers(1997, 2004)),
        st.builds(lambda o, v: {"n": {o: v}}, op, numbers),
        st.builds(lambda v: {"n": v}, st.one_of(numbers, st.just("2"))),
        st.builds(lambda v: {"n": {"$in": v}}, st.lists(numbers, max_size=2)),
        st.builds(lambda v: {"tags": v}, tag),
        st.builds(lambda v: {"tags": {"$nin": [v]}}, tag),
        st.builds(lambda v: {"tags.0": v}, tag),
        st.builds(lambda v: {"author.name": v}, st.sampled_from(["ann", "bob"])),
        st.builds(lambda o, v: {"author.age": {o: v}}, op, st.integers(19, 41)),
        st.builds(lambda v: {"flag": v}, st.one_of(st.booleans(), st.just(1))),
        st.builds(lambda v: {"flag": {"$ne": v}}, st.booleans()),
        st.builds(lambda k, v: {k: {"$exists": v}}, st.sampled_from(KEYS), st.booleans()),
        st.builds(lambda v: {"id": {"$in": v}}, st.lists(st.sampled_from(ID_POOL), max_size=3)),
        st.builds(lambda v: {"text": v}, st.sampled_from(WORDS)),
    )


def _combine(parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    pairs = st.lists(parts, min_size=2, max_size=2)
    return st.one_of(
        st.builds(lambda p: {"$and": p}, pairs),
        st.builds(lambda p: {"$or": p}, pairs),
        st.builds(lambda p: {"$not": p}, parts),
        st.builds(lambda p: {**p[0], **p[1]}, pairs),  # several keys: ANDed
    )


filters: st.SearchStrategy[dict[str, Any]] = st.recursive(
    _field_conditions(), _combine, max_leaves=3
) | st.just({})
changes = st.one_of(
    st.builds(lambda t: {"text": t}, texts),
    st.dictionaries(
        st.sampled_from(KEYS), st.one_of(st.none(), *_values.values()), min_size=1, max_size=2
    ),
    st.builds(lambda t, k, v: {"text": t, k: v}, texts, st.sampled_from(KEYS), _values["lang"]),
)


# ------------------------------------------------------------------------------ helpers
def expect_error(kind: type[BaseException], call: Callable[[], object]) -> BaseException:
    """Run `call`; it must raise `kind` (a store error from the one error tree)."""
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(f"expected {kind.__name__}")


@contextlib.contextmanager
def indexed_thresholds() -> Iterator[None]:
    """Make tiny datasets take the HNSW path: index from 3 rows, a tail of 2, and filters
    matching more than 2 rows walk the graph."""
    names = ("INDEX_MIN_ROWS", "TAIL_MAX", "EXACT_FILTERED_MAX", "EXACT_FILTERED_SHARE")
    saved = {name: getattr(_view, name) for name in names}
    for name, value in zip(names, (3, 2, 2, 0.0), strict=True):
        setattr(_view, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(_view, name, value)


def _vectors_of(docs_: Sequence[Doc]) -> np.ndarray:
    return np.asarray([d.vector for d in docs_], dtype=np.float32).reshape(len(docs_), DIMENSIONS)


def _row(doc: Doc, own_vector: bool) -> Row:
    vector = (
        tuple(float(x) for x in np.asarray(doc.vector, np.float32))
        if own_vector
        else embed(doc.text)
    )
    return Row(doc.text, dict(doc.metadata or {}), vector)


# -------------------------------------------------------------------------------- machine
class StoreMachine(RuleBasedStateMachine):
    """Random sequences of store calls, each checked against the model."""

    backend: ClassVar[str] = "local"
    indexed: ClassVar[bool] = False  # run under indexed_thresholds(): approximate search
    # Counters for bench/model_based.py: examples started, invariant checks (one after
    # each step, one before the first) and the example that failed first.
    instances: ClassVar[int] = 0
    checks: ClassVar[int] = 0
    first_failure: ClassVar[int | None] = None

    row_ids = Bundle("row_ids")
    tags = Bundle("tags")
    branches = Bundle("branches")

    def __init__(self) -> None:
        super().__init__()
        type(self).instances += 1
        self.folder = tempfile.mkdtemp(prefix="shoal-model-") if self.backend == "local" else None
        self.uri = f"{self.folder}/dataset" if self.folder else f"memory://model-{uuid.uuid4().hex}"
        self.ds = store.open(self.uri, embedder=EMBEDDER)
        # Two more handles on main: `other` writes and is checked now and then (catching up
        # on several writes at once), `follower` is checked after every step.
        self.other = store.open(self.uri)
        self.follower = store.open(self.uri)
        self.model = Model(self.ds.version)
        self.names = itertools.count()

    @classmethod
    def reset_counters(cls) -> None:
        cls.instances, cls.checks, cls.first_failure = 0, 0, None

    def teardown(self) -> None:
        # Hypothesis calls teardown in a `finally`: an exception in flight is this example's failure.
        failure = sys.exc_info()[1]
        failed = isinstance(failure, Exception) and not isinstance(failure, HypothesisException)
        if failed and type(self).first_failure is None:
            type(self).first_failure = type(self).instances
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ------------------------------------------------------------------ model helpers
    def _writable(self, call: Callable[[], object]) -> bool:
        """False (after checking ReadOnlyDataset) when the handle is a past version."""
        if self.model.read_only:
            expect_error(ReadOnlyDataset, call)
            return False
        return True

    def _filter_may_fail(self, where: Mapping[str, Any]) -> bool:
        """A filter naming a key no live row has may raise FilterError (the store remembers
        keys it has seen, so it may also run and match as the model says)."""
        present = {key for row in self.model.rows().values() for key in row.metadata}
        return not filter_fields(where) <= present

    def _run_filtered(self, where: Mapping[str, Any], call: Callable[[], Any]) -> tuple[bool, Any]:
        if not self._filter_may_fail(where):
            return True, call()
        try:
            return True, call()
        except FilterError:
            note(f"FilterError for {where} (names a key no live row has)")
            return False, None

    def _matching(self, where: Mapping[str, Any] | None, rows: Rows | None = None) -> Rows:
        rows = self.model.rows() if rows is None else rows
        return {i: r for i, r in rows.items() if where is None or matches(where, i, r)}

    def _write_count(self, before: int, returned: int, expected: int) -> None:
        assert returned == expected, f"returned {returned}, expected {expected}"
        assert self.ds.version == (before + 1 if expected else before)

    # --------------------------------------------------------------------------- writes
    @rule(target=row_ids, batch=batches(3), own_vectors=st.booleans())
    def add(self, batch: list[Doc], own_vectors: bool) -> Any:
        """Add with content-hash ids: a stored document is not added again."""
        texts_ = [d.text for d in batch]
        metas = [d.metadata for d in batch]
        given = _vectors_of(batch) if own_vectors else None
        call = partial(self.ds.add, texts_, metadatas=metas, embeddings=given)
        if not self._writable(call):
            return multiple()
        ids = call()
        assert ids == [store.row_id(d.text, d.metadata) for d in batch]
        rows = dict(self.model.rows())
        new = False
        for row_id, doc in zip(ids, batch, strict=True):
            if row_id not in rows:
                rows[row_id], new = _row(doc, own_vectors), True
        if new:
            self.model.write(rows)
        return multiple(*dict.fromkeys(ids))

    @rule(
        target=row_ids,
        batch=st.lists(
            st.tuples(st.sampled_from(ID_POOL), docs), max_size=4, unique_by=lambda p: p[0]
        ),
        own_vectors=st.booleans(),
        how=st.sampled_from(["add", "upsert"]),
    )
    def put(self, batch: list[tuple[str, Doc]], own_vectors: bool, how: str) -> Any:
        """Add or upsert with explicit ids: they replace the rows they name."""
        ids = [i for i, _ in batch]
        items = [d for _, d in batch]
        given = _vectors_of(items) if own_vectors else None
        write = self.ds.add if how == "add" else self.ds.upsert
        call = partial(
            write,
            [d.text for d in items],
            metadatas=[d.metadata for d in items],
            ids=ids,
            embeddings=given,
        )
        if not self._writable(call):
            return multiple()
        assert call() == ids
        if ids:
            rows = dict(self.model.rows())
            rows.update({i: _row(d, own_vectors) for i, d in batch})
            self.model.write(rows)
        return multiple(*ids)

    @rule(target=row_ids, batch=batches(3), own_vectors=st.booleans())
    def upsert_content(self, batch: list[Doc], own_vectors: bool) -> Any:
        """Upsert with content-hash ids: a stored document is written again (its vector too)."""
        given = _vectors_of(batch) if own_vectors else None
        call = partial(
            self.ds.upsert,
            [d.text for d in batch],
            metadatas=[d.metadata for d in batch],
            embeddings=given,
        )
        if not self._writable(call):
            return multiple()
        ids = call()
        if ids:
            rows = dict(self.model.rows())
            for row_id, doc in reversed(list(zip(ids, batch, strict=True))):
                rows[row_id] = _row(doc, own_vectors)  # reversed: the first of repeats wins
            self.model.write(rows)
        return multiple(*dict.fromkeys(ids))

    @rule(row=row_ids, text=texts)
    def retext(self, row: str, text: str) -> None:
        """Upsert a stored row with a new text and its own vector and metadata (a fixed
        typo): the snapshot edits the text in place, the keyword index must follow."""
        rows = self.model.rows()
        if row not in rows:
            return
        old = rows[row]
        vector = np.asarray([old.vector], dtype=np.float32)
        call = partial(
            self.ds.upsert, [text], ids=[row], metadatas=[dict(old.metadata)], embeddings=vector
        )
        if not self._writable(call):
            return
        assert call() == [row]
        self.model.write({**rows, row: Row(text, old.metadata, old.vector)})

    @rule(where=filters, change=changes)
    def update(self, where: dict[str, Any], change: dict[str, Any]) -> None:
        """update(where=, set=): metadata keys (None removes), a new text is embedded again."""
        call = partial(self.ds.update, where=where, set=change)
        if not self._writable(call):
            return
        before = self.ds.version
        ran, count = self._run_filtered(where, call)
        if not ran:
            assert self.ds.version == before
            return
        rows = dict(self.model.rows())
        matched = self._matching(where)
        for row_id, row in matched.items():
            meta = dict(row.metadata)
            for key, value in change.items():
                if key != "text":
                    if value is None:
                        meta.pop(key, None)
                    else:
                        meta[key] = value
            text = change.get("text", row.text)
            rows[row_id] = Row(text, meta, embed(text) if "text" in change else row.vector)
        self._write_count(before, count, len(matched))
        if matched:
            self.model.write(rows)

    @rule(
        values=st.dictionaries(
            st.one_of(row_ids, st.just("missing")),
            st.dictionaries(
                st.sampled_from(KEYS), st.one_of(st.none(), *_values.values()), max_size=2
            ),
            max_size=3,
        )
    )
    def set_metadata(self, values: dict[str, dict[str, Any]]) -> None:
        """set_metadata({id: {key: value}}): ids not stored are skipped."""
        call = partial(self.ds.set_metadata, values)
        if not self._writable(call):
            return
        before = self.ds.version
        count = call()
        rows = dict(self.model.rows())
        hit = [i for i in values if i in rows]
        for row_id in hit:
            meta = dict(rows[row_id].metadata)
            for key, value in values[row_id].items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
            rows[row_id] = Row(rows[row_id].text, meta, rows[row_id].vector)
        self._write_count(before, count, len(hit))
        if hit:
            self.model.write(rows)

    @rule(ids=st.lists(st.one_of(row_ids, st.just("missing")), max_size=3))
    def delete_ids(self, ids: list[str]) -> None:
        call = partial(self.ds.delete, ids=ids)
        if not self._writable(call):
            return
        before = self.ds.version
        count = call()
        rows = dict(self.model.rows())
        gone = {i for i in ids if i in rows}
        for row_id in gone:
            del rows[row_id]
        self._write_count(before, count, len(gone))
        if gone:
            self.model.write(rows)

    @rule(where=filters)
    def delete_where(self, where: dict[str, Any]) -> None:
        call = partial(self.ds.delete, where=where)
        if not self._writable(call):
            return
        before = self.ds.version
        ran, count = self._run_filtered(where, call)
        if not ran:
            assert self.ds.version == before
            return
        matched = self._matching(where)
        self._write_count(before, count, len(matched))
        if matched:
            self.model.write({i: r for i, r in self.model.rows().items() if i not in matched})

    @rule(target=row_ids, batch=batches(3, min_size=1))
    def add_via_other(self, batch: list[Doc]) -> Any:
        """Another handle on main adds rows: handles on main must see them."""
        ids = self.other.add([d.text for d in batch], metadatas=[d.metadata for d in batch])
        rows = dict(self.model.rows(MAIN))
        new = False
        for row_id, doc in zip(ids, batch, strict=True):
            if row_id not in rows:
                rows[row_id], new = _row(doc, False), True
        if new:
            self.model.write(rows, MAIN)
        return multiple(*dict.fromkeys(ids))

    @rule(ids=st.lists(row_ids, min_size=1, max_size=2))
    def delete_via_other(self, ids: list[str]) -> None:
        count = self.other.delete(ids=ids)
        rows = dict(self.model.rows(MAIN))
        gone = {i for i in ids if i in rows}
        assert count == len(gone)
        if gone:
            self.model.write({i: r for i, r in rows.items() if i not in gone}, MAIN)

    # ------------------------------------------------------------------------- versions
    @rule(message=st.sampled_from(["first", "ünïcode 'quoted'"]))
    def commit(self, message: str) -> None:
        call = partial(self.ds.commit, message)
        if not self._writable(call):
            return
        number = call()
        assert number == self.model.write(self.model.rows())
        self.model.messages[(self.model.branch, number)] = message

    @rule(target=tags, back=st.one_of(st.none(), st.integers(0, 6)))
    def tag(self, back: int | None) -> Any:
        """Tag the handle's version, or one made `back` writes before its branch head."""
        name = f"t{next(self.names)}"
        if back is None:
            self.ds.tag(name)
            self.model.tags[name] = (self.model.branch, self.model.version)
            return name
        version = self.model.version_back(back)
        note(f"tag {name} -> version {version} of {self.model.branch}")
        if not self.model.exists(version):
            expect_error(RefNotFound, lambda: self.ds.tag(name, version))
            return multiple()
        self.ds.tag(name, version)
        self.model.tags[name] = (self.model.branch, version)
        return name

    def _checkout(self, ref: int | str) -> None:
        try:
            branch, version = self.model.resolve(ref)
        except KeyError:
            expect_error(RefNotFound, lambda: self.ds.checkout(ref))
            return
        self.ds = self.ds.checkout(ref)
        self.model.branch, self.model.at = branch, version

    @rule(back=st.integers(0, 6))
    def checkout_version(self, back: int) -> None:
        """A read-only handle on a version of this branch (RefNotFound if cleaned up)."""
        version = self.model.version_back(back)
        note(f"checkout version {version} of {self.model.branch}")
        self._checkout(version)

    @rule(tag=tags)
    def checkout_tag(self, tag: str) -> None:
        self._checkout(tag)

    @rule(name=st.one_of(branches, st.just(MAIN)))
    def checkout_branch(self, name: str) -> None:
        """A writable handle on a branch head (main too)."""
        self._checkout(name)

    @rule(target=branches)
    def branch(self) -> Any:
        """A new branch from the handle's version (local datasets only)."""
        name = f"b{next(self.names)}"
        if self.backend == "memory":
            expect_error(StoreError, lambda: self.ds.branch(name))
            return multiple()
        self.ds = self.ds.branch(name)
        start = (self.model.branch, self.model.version)
        self.model.branches[name] = Branch({start[1]: dict(self.model.rows())}, [start[1]])
        self.model.forks.add(start)
        self.model.branch, self.model.at = name, None
        return name

    def _restore(self, ref: int | str) -> None:
        call = partial(self.ds.restore, ref)
        if not self._writable(call):
            return
        try:
            branch, version = self.model.resolve(ref)
        except KeyError:
            expect_error(RefNotFound, call)
            return
        if branch != self.model.branch:
            expect_error(InvalidInput, call)  # a version of another branch
            return
        number = call()
        assert number == self.model.write(self.model.rows(branch, version))

    @rule(back=st.integers(0, 6))
    def restore(self, back: int) -> None:
        version = self.model.version_back(back)
        note(f"restore version {version} of {self.model.branch}")
        self._restore(version)

    @rule(tag=tags)
    def restore_tag(self, tag: str) -> None:
        self._restore(tag)

    @rule()
    def compact(self) -> None:
        """Compaction rewrites files, never rows; it makes a version or two, or none."""
        if not self._writable(self.ds.compact):
            return
        before = self.ds.version
        merged = self.ds.compact()
        made = self.ds.version - before
        assert merged >= 0 and 0 <= made <= 2, (merged, made)
        assert made or not merged
        if made:
            self.model.write(self.model.rows(), count=made)

    @rule(keep_last=st.integers(1, 4))
    def cleanup(self, keep_last: int) -> None:
        """Old versions go; the latest keep_last and tagged ones stay (fork points may)."""
        call = partial(self.ds.cleanup, keep_last=keep_last)
        if not self._writable(call):
            return
        before = self.ds.version
        removed = call()
        assert removed == self.model.cleanup(keep_last, {v.version for v in self.ds.log()})
        assert self.ds.version == before

    @rule()
    def reopen(self) -> None:
        """Drop the handle and open the dataset again (memory:// ones live in the process)."""
        self.ds = store.open(self.uri)
        if self.model.branch != MAIN:
            self.ds = self.ds.checkout(self.model.branch)
        if self.model.at is not None:
            self.ds = self.ds.checkout(self.model.at)

    # ---------------------------------------------------------------------------- reads
    def _approximate(self, metric: Metric | None) -> bool:
        return self.indexed and not self.model.read_only and metric in (None, "cosine")

    @rule(
        query=vectors,
        k=st.integers(1, 8),
        where=st.one_of(st.none(), filters),
        metric=st.sampled_from([None, "dot", "l2"]),
        batch=st.booleans(),
    )
    def search(
        self,
        query: tuple[int, ...],
        k: int,
        where: dict[str, Any] | None,
        metric: Metric | None,
        batch: bool,
    ) -> None:
        """Vector search: the exact top-k of the matching live rows."""
        vector = np.asarray(query, dtype=np.float32)
        queries = np.stack([vector, vector[::-1].copy()]) if batch else vector[None, :]
        ran, results = self._run_filtered(
            where or {}, partial(self.ds.search_batch, queries, k=k, where=where, metric=metric)
        )
        if not ran:
            return
        if not batch:  # one query through search(), which must agree with search_batch
            assert self.ds.search(vector, k=k, where=where, metric=metric) == results[0]
        candidates = self._matching(where)
        chosen = metric or self.ds.spec.metric
        for hits, q in zip(results, queries, strict=True):
            check_ranked(
                hits,
                vector_scores(candidates, q.tolist(), chosen),
                candidates,
                k,
                lower_is_better=chosen == "l2",
                exact=not self._approximate(metric),
            )

    @rule(row=row_ids, k=st.integers(1, 5), where=st.one_of(st.none(), filters))
    def search_like_row(self, row: str, k: int, where: dict[str, Any] | None) -> None:
        """A query equal to a stored vector finds that row's score first (HNSW too)."""
        rows = self.model.rows()
        if row not in rows:
            return
        query = np.asarray(rows[row].vector, dtype=np.float32)
        ran, hits = self._run_filtered(where or {}, lambda: self.ds.search(query, k=k, where=where))
        if not ran:
            return
        candidates = self._matching(where)
        expected = vector_scores(candidates, query.tolist(), "cosine")
        check_ranked(hits, expected, candidates, k, exact=not self._approximate(None))
        if row in candidates:
            assert close(hits[0].score, max(expected.values())), (hits[0], row)

    @rule(
        words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
        k=st.integers(1, 40),
        where=st.one_of(st.none(), filters),
    )
    def search_keyword(self, words: list[str], k: int, where: dict[str, Any] | None) -> None:
        """BM25: every hit shares a term with the query, with Lucene's score; none missed."""
        query = " ".join(words)
        ran, hits = self._run_filtered(
            where or {}, lambda: self.ds.search(query, k=k, where=where, mode="keyword")
        )
        if not ran:
            return
        rows = self.model.rows()
        scores = bm25_scores(rows, query)
        candidates = self._matching(where)
        expected = {i: s for i, s in scores.items() if i in candidates}
        check_ranked(hits, expected, rows, k)
        terms = set(tokenize(query))
        for hit in hits:
            assert terms & set(tokenize(hit.text)), (query, hit.text)

    @rule(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), k=st.integers(1, 6))
    def search_hybrid(self, words: list[str], k: int) -> None:
        """Hybrid: distinct live rows, best first, at most k."""
        hits = self.ds.search(" ".join(words), k=k, mode="hybrid")
        rows = self.model.rows()
        assert len(hits) == min(k, len(rows))  # the vector list alone holds min(k, rows)
        assert len({h.id for h in hits}) == len(hits)
        assert all(h.id in rows and h.text == rows[h.id].text for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    @rule(ids=st.lists(st.one_of(row_ids, st.just("missing")), max_size=4))
    def get(self, ids: list[str]) -> None:
        rows = self.model.rows()
        records = self.ds.get(ids)
        assert [r.id for r in records] == [i for i in ids if i in rows]
        for record in records:
            _check_record(record, rows[record.id])

    @rule(
        fields=st.lists(
            st.sampled_from(["text", "lang", "author.name", "tags.0", "n", "year"]),
            max_size=3,
            unique=True,
        ),
        where=st.one_of(st.none(), filters),
    )
    def select(self, fields: list[str], where: dict[str, Any] | None) -> None:
        ran, got = self._run_filtered(
            where or {}, lambda: self.ds.select(["id", *fields], where=where)
        )
        if not ran:
            return
        expected = {
            row_id: {
                "id": row_id,
                **{f: (None if (v := lookup(row_id, row, f)) is MISSING else v) for f in fields},
            }
            for row_id, row in self._matching(where).items()
        }
        assert sorted(r["id"] for r in got) == sorted(expected)
        for record in got:
            assert canonical(record) == canonical(expected[record["id"]]), record

    @rule(a=st.integers(0, 6), b=st.one_of(st.none(), st.integers(0, 6)))
    def diff(self, a: int, b: int | None) -> None:
        """Ids added, removed and changed between two versions of this branch (or now)."""
        old = self.model.version_back(a)
        new = self.model.version_back(b) if b is not None else None
        note(f"diff {old} {new} on {self.model.branch}")
        call = partial(self.ds.diff, old, new)
        if not self.model.exists(old) or (new is not None and not self.model.exists(new)):
            expect_error(RefNotFound, call)
            return
        self._check_diff(call(), self.model.rows(self.model.branch, old), self._rows_at(new))

    @rule(tag=tags)
    def diff_tag(self, tag: str) -> None:
        branch, version = self.model.tags[tag]
        self._check_diff(self.ds.diff(tag), self.model.rows(branch, version), self.model.rows())

    def _rows_at(self, version: int | None) -> Rows:
        if version is None:
            return self.model.rows()
        return self.model.rows(self.model.branch, version)

    @staticmethod
    def _check_diff(diff: store.Diff, before: Rows, after: Rows) -> None:
        assert diff.added == sorted(after.keys() - before.keys())
        assert diff.removed == sorted(before.keys() - after.keys())
        changed = sorted(i for i in after.keys() & before.keys() if not after[i].same(before[i]))
        assert diff.changed == changed

    @rule()
    def check_log(self) -> None:
        """log() lists exactly the versions of this branch still on disk, with rows and tags."""
        line = self.model.branches[self.model.branch]
        log = self.ds.log()
        assert [v.version for v in log] == sorted(line.versions)
        for entry in log:
            assert entry.rows == len(line.versions[entry.version]), entry
            tagged = sorted(
                n
                for n, (b, v) in self.model.tags.items()
                if (b, v) == (self.model.branch, entry.version)
            )
            assert list(entry.tags) == tagged, entry
            message = self.model.messages.get((self.model.branch, entry.version))
            assert entry.message == message if message else entry.message, entry
        assert self.ds.tags() == {n: v for n, (_, v) in self.model.tags.items()}
        assert self.ds.branches() == sorted(b for b in self.model.branches if b != MAIN)

    @rule()
    def check_other(self) -> None:
        """The second handle, on main, sees main's latest rows (catching up several writes)."""
        rows = self.model.rows(MAIN)
        assert self.other.version == self.model.branches[MAIN].head
        _check_snapshot(self.other, rows)

    # ------------------------------------------------------------------------ invariant
    @invariant()
    def rows_agree(self) -> None:
        """The handle reads exactly the model's rows, at the model's version."""
        type(self).checks += 1
        rows = self.model.rows()
        ds = self.ds
        assert ds.version == self.model.version
        assert ds.read_only == self.model.read_only
        assert ds.branch_name == self.model.branch
        assert len(ds) == len(rows)
        assert sorted(r["id"] for r in ds.select(["id"])) == sorted(rows)
        records = ds.get(sorted(rows))
        assert [r.id for r in records] == sorted(rows)
        for record in records:
            _check_record(record, rows[record.id])
        _check_snapshot(ds, rows)
        assert self.follower.version == self.model.branches[MAIN].head
        _check_snapshot(self.follower, self.model.rows(MAIN))
        if self.indexed and not self.model.read_only:
            # A cold handle on this branch loads the index file the others saved, checks
            # it against Lance and catches up.
            cold = store.open(self.uri)
            if self.model.branch != MAIN:
                cold = cold.checkout(self.model.branch)
            _check_snapshot(cold, rows)


def _check_record(record: store.Record, row: Row) -> None:
    assert record.text == row.text, (record.id, record.text, row.text)
    assert canonical(record.metadata) == canonical(row.metadata), (record.id, record.metadata)
    assert np.allclose(record.embedding, row.vector, rtol=0, atol=1e-6), record.id


_PROBE = np.linspace(1.0, -0.75, DIMENSIONS, dtype=np.float32)


_EVERY_WORD = " ".join(WORDS)


def _check_snapshot(ds: store.Dataset, rows: Rows) -> None:
    """Searches that return every row: the handle's in-memory snapshot holds the model's
    rows, texts, metadata and (by their scores) vectors, and its keyword index their terms."""
    hits = ds.search(_PROBE, k=len(rows) + 1)
    check_ranked(hits, vector_scores(rows, _PROBE.tolist(), "cosine"), rows, len(rows) + 1)
    hits = ds.search(_EVERY_WORD, k=len(rows) + 1, mode="keyword")
    check_ranked(hits, bm25_scores(rows, _EVERY_WORD), rows, len(rows) + 1)


class LocalMachine(StoreMachine):
    """The store on a local folder."""

    backend = "local"


class MemoryMachine(StoreMachine):
    """The store in memory:// (no branches)."""

    backend = "memory"


class IndexedMachine(StoreMachine):
    """A local store whose searches go through the HNSW index and its file (run it under
    `indexed_thresholds()`)."""

    backend = "local"
    indexed = True


MACHINES: dict[str, type[StoreMachine]] = {
    "local": LocalMachine,
    "memory": MemoryMachine,
    "indexed": IndexedMachine,
}
