"""Version control on every back-end: log, commit, checkout, tags, branches, diff, restore, cleanup."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

import shoal.store as st
from shoal.errors import InvalidInput, ReadOnlyDataset, RefNotFound, StoreError

MakeDataset = Callable[..., st.Dataset]
Place = Any  # conftest.Place


def _ids(hits: list[st.Hit]) -> list[str]:
    return sorted(hit.id for hit in hits)


def _texts(ds: st.Dataset, ids: list[str]) -> list[str]:
    return [record.text for record in ds.get(ids)]


@pytest.fixture
def history(ds: st.Dataset) -> tuple[st.Dataset, int]:
    """A dataset with rows a, b at a remembered version, then c added and a rewritten."""
    ds.add(["apple pie", "banana bread"], ids=["a", "b"])
    remembered = ds.version
    ds.add(["cherry cake"], ids=["c"])
    ds.upsert(["apricot tart"], ids=["a"])
    return ds, remembered


def test_every_write_makes_one_version(ds: st.Dataset) -> None:
    writes: list[Callable[[], object]] = [
        lambda: ds.add(["one", "two"], ids=["1", "2"], metadatas=[{"n": 1}, {"n": 2}]),
        lambda: ds.upsert(["two bis"], ids=["2"]),
        lambda: ds.update(where={"n": 1}, set={"n": 10}),
        lambda: ds.delete(ids=["2"]),
        lambda: ds.commit("a named version"),
    ]
    for write in writes:
        before, entries = ds.version, len(ds.log())
        write()
        assert ds.version == before + 1
        assert len(ds.log()) == entries + 1
        assert ds.log()[-1].version == ds.version


def test_commit_message_appears_in_the_log(ds: st.Dataset) -> None:
    ds.add(["one"])
    number = ds.commit("first milestone")
    assert number == ds.version
    ds.add(["two"])
    messages = {v.version: v.message for v in ds.log()}
    assert messages[number] == "first milestone"
    assert all(messages[v] for v in messages)  # every version says what made it
    with pytest.raises(InvalidInput):
        ds.commit("   ")


def test_log_counts_rows_and_orders_versions(ds: st.Dataset) -> None:
    ds.add(["one", "two"], ids=["1", "2"])
    ds.add(["three"], ids=["3"])
    ds.delete(ids=["1"])
    log = ds.log()
    assert [v.rows for v in log] == [0, 2, 3, 2]
    assert [v.version for v in log] == sorted(v.version for v in log)
    assert all(v.timestamp.tzinfo is not None for v in log)
    assert [v.timestamp for v in log] == sorted(v.timestamp for v in log)
    assert all(v.tags == () for v in log)


def test_a_checked_out_version_is_read_only_and_sees_old_data(
    history: tuple[st.Dataset, int],
) -> None:
    ds, remembered = history
    old = ds.checkout(remembered)
    assert (old.read_only, old.version, len(old)) == (True, remembered, 2)
    assert _texts(old, ["a", "b", "c"]) == ["apple pie", "banana bread"]
    assert [h.id for h in old.search("apple pie", k=1)] == ["a"]
    assert old.search("apple pie", k=1)[0].text == "apple pie"
    assert _ids(old.search("cake", k=10)) == ["a", "b"]
    ds.add(["date loaf"], ids=["d"])  # later writes do not move the checkout
    assert (old.version, len(old)) == (remembered, 2)
    assert _texts(ds, ["a"]) == ["apricot tart"]


@pytest.mark.parametrize(
    "write",
    [
        lambda d: d.add(["x"]),
        lambda d: d.upsert(["x"], ids=["x"]),
        lambda d: d.update(where={"id": "a"}, set={"k": 1}),
        lambda d: d.delete(ids=["a"]),
        lambda d: d.index_field("k"),
        lambda d: d.commit("no"),
        lambda d: d.restore(1),
        lambda d: d.cleanup(keep_last=1),
    ],
    ids=["add", "upsert", "update", "delete", "index_field", "commit", "restore", "cleanup"],
)
def test_writing_to_a_checked_out_version_raises(
    history: tuple[st.Dataset, int], write: Callable[[st.Dataset], object]
) -> None:
    ds, remembered = history
    old = ds.checkout(remembered)
    latest = ds.version
    with pytest.raises(ReadOnlyDataset, match="read-only"):
        write(old)
    assert ds.version == latest
    assert len(old) == 2


def test_checkout_of_a_tag(history: tuple[st.Dataset, int]) -> None:
    ds, remembered = history
    ds.tag("before-c", remembered)
    ds.tag("now")
    assert ds.tags() == {"before-c": remembered, "now": ds.version}
    tagged = ds.checkout("before-c")
    assert (tagged.read_only, tagged.version, len(tagged)) == (True, remembered, 2)
    assert _ids(tagged.search("cake", k=10)) == ["a", "b"]
    assert {v.version: v.tags for v in ds.log()}[remembered] == ("before-c",)
    assert ds.checkout(str(remembered)).version == remembered  # digits name a version


def test_checkout_main_is_the_writable_latest(history: tuple[st.Dataset, int]) -> None:
    ds, _ = history
    main = ds.checkout("main")
    assert (main.read_only, main.branch_name, main.version) == (False, "main", ds.version)
    main.add(["elderberry"], ids=["e"])
    assert len(ds) == 4


def test_branch_writes_do_not_touch_main(history: tuple[st.Dataset, int], backend: str) -> None:
    if backend == "memory":
        pytest.skip("memory:// cannot branch; see the test below")
    ds, _ = history
    main_version = ds.version
    branch = ds.branch("experiment")
    assert (branch.branch_name, branch.read_only) == ("experiment", False)
    branch.add(["fig roll"], ids=["f"])
    branch.delete(ids=["b"])
    assert _ids(branch.search("roll", k=10)) == ["a", "c", "f"]
    assert (len(ds), ds.version) == (3, main_version)
    assert _ids(ds.search("roll", k=10)) == ["a", "b", "c"]
    assert ds.branches() == ["experiment"]


def test_checkout_of_a_branch_name_gives_a_writable_branch_handle(
    history: tuple[st.Dataset, int], backend: str
) -> None:
    if backend == "memory":
        pytest.skip("memory:// cannot branch; see the test below")
    ds, _ = history
    ds.branch("experiment").add(["fig roll"], ids=["f"])
    handle = ds.checkout("experiment")
    assert (handle.branch_name, handle.read_only) == ("experiment", False)
    assert _ids(handle.search("roll", k=10)) == ["a", "b", "c", "f"]
    handle.add(["grape juice"], ids=["g"])
    assert _ids(ds.checkout("experiment").search("juice", k=10)) == ["a", "b", "c", "f", "g"]
    assert len(ds) == 3


def test_memory_datasets_refuse_to_branch_with_a_clear_error(
    request: pytest.FixtureRequest,
) -> None:
    ds = st.open(f"memory://branchless-{request.node.name}", embedder="hash:64")
    ds.add(["one row"])
    with pytest.raises(StoreError, match=r"cannot branch.*use a folder or S3"):
        ds.branch("experiment")
    assert ds.branches() == []


def test_diff_lists_added_removed_and_changed_ids(history: tuple[st.Dataset, int]) -> None:
    ds, remembered = history
    ds.delete(ids=["b"])
    ds.tag("end")
    forward = ds.diff(remembered)
    assert (forward.added, forward.removed, forward.changed) == (["c"], ["b"], ["a"])
    assert ds.diff(remembered, "end") == forward
    backward = ds.diff("end", remembered)
    assert (backward.added, backward.removed, backward.changed) == (["b"], ["c"], ["a"])
    assert ds.diff(ds.version, ds.version) == st.Diff([], [], [])


def test_restore_makes_an_old_version_the_latest(
    history: tuple[st.Dataset, int], place: Place
) -> None:
    ds, remembered = history
    other = place.open()
    assert len(other.search("cake", k=10)) == 3  # this handle has read the newer rows
    before = ds.version
    number = ds.restore(remembered)
    assert number == ds.version > before
    assert (ds.read_only, len(ds)) == (False, 2)
    assert _texts(ds, ["a", "b", "c"]) == ["apple pie", "banana bread"]
    assert [h.text for h in ds.search("apple pie", k=1)] == ["apple pie"]
    for handle in (other, place.open()):
        assert _ids(handle.search("cake", k=10)) == ["a", "b"]
    assert ds.log()[-1].message == "restore"
    assert len(ds.log()) == before + 1  # history is kept
    ds.add(["cherry again"], ids=["c"])
    assert len(ds) == 3


def test_cleanup_keeps_the_latest_versions_and_tagged_ones(ds: st.Dataset) -> None:
    for number in range(5):
        ds.add([f"document {number}"], ids=[f"d{number}"])
        if number == 1:
            ds.tag("keep")
            tagged = ds.version
    latest = ds.version
    removed = ds.cleanup(keep_last=2)
    assert removed == latest - 3  # all but the tagged one and the last two
    assert [v.version for v in ds.log()] == [tagged, latest - 1, latest]
    assert _ids(ds.checkout("keep").search("document", k=10)) == ["d0", "d1"]
    with pytest.raises(RefNotFound, match="log"):
        ds.checkout(tagged - 1)
    assert len(ds) == 5
    assert ds.cleanup(older_than=dt.timedelta(0)) == 1
    assert [v.version for v in ds.log()] == [tagged, latest]


def test_cleanup_needs_a_limit(ds: st.Dataset) -> None:
    with pytest.raises(InvalidInput):
        ds.cleanup()
    with pytest.raises(InvalidInput):
        ds.cleanup(keep_last=0)


def test_unknown_refs_raise_ref_not_found(history: tuple[st.Dataset, int]) -> None:
    ds, _ = history
    ds.tag("known")
    with pytest.raises(RefNotFound, match=r"'nope'.*known"):
        ds.checkout("nope")
    with pytest.raises(RefNotFound, match="version 999"):
        ds.checkout(999)
    with pytest.raises(RefNotFound):
        ds.diff("nope")
    with pytest.raises(RefNotFound):
        ds.restore(999)
    with pytest.raises(InvalidInput):
        ds.checkout(1.5)  # type: ignore[arg-type]


def test_compact_merges_small_writes_and_keeps_every_row(ds: st.Dataset) -> None:
    for batch in range(6):
        ds.add([f"note {batch} {row}" for row in range(5)])
    before = ds.version
    hits = [h.id for h in ds.search("note 3 2", k=3)]
    assert ds.compact() >= 5
    assert ds.version > before and len(ds) == 30
    assert [h.id for h in ds.search("note 3 2", k=3)] == hits
    assert len(ds.checkout(before)) == 30
    assert ds.compact() == 0  # nothing left to merge


# --------------------------------------------------------------------- tag and branch names
RULE = (
    "1 to 64 ASCII letters, digits, '.', '-' and '_', starting with a letter or digit, "
    "and not only digits (those are version numbers)"
)
BAD_NAMES = ["a/b", "a b", "", "-x", "x" * 65, "2024", "été", ".hidden", "main"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_an_invalid_tag_name_is_refused_and_says_what_a_name_may_hold(
    ds: st.Dataset, name: str
) -> None:
    ds.add(["one"])
    version, tags = ds.version, ds.tags()
    for tag in (lambda: ds.tag(name), lambda: ds.commit("named", tag=name)):
        with pytest.raises(InvalidInput) as caught:
            tag()
        if name == "main":
            assert str(caught.value) == (
                "tag name 'main' is taken by the main branch: pick another name"
            )
        else:
            assert str(caught.value).startswith("tag name ")
            assert str(caught.value).endswith(f"is not allowed: a tag name is {RULE}")
    assert (ds.version, ds.tags()) == (version, tags)  # commit checked the tag first


def test_a_long_name_is_shortened_in_the_error(ds: st.Dataset) -> None:
    with pytest.raises(InvalidInput) as caught:
        ds.tag("x" * 300)
    assert str(caught.value).startswith(f"tag name {'x' * 40!r}... (300 characters) is not")


def test_a_taken_tag_name_is_refused_before_committing(ds: st.Dataset) -> None:
    ds.add(["one"])
    first = ds.commit("first", tag="v1")
    ds.add(["two"])
    version = ds.version
    message = (
        f"tag 'v1' already names version {first}: pick another name, or move it with "
        "tag('v1', version, replace=True)"
    )
    with pytest.raises(InvalidInput) as caught:
        ds.commit("second", tag="v1")
    assert str(caught.value) == message
    assert ds.version == version  # no version was made
    with pytest.raises(InvalidInput) as caught:
        ds.tag("v1")
    assert str(caught.value) == message
    assert ds.tags() == {"v1": first}
    ds.tag("v1", version, replace=True)  # moving it is asked for explicitly
    assert ds.tags() == {"v1": version}
    assert len(ds.checkout("v1")) == 2


def test_a_tag_of_a_version_not_on_disk_is_ref_not_found(ds: st.Dataset) -> None:
    ds.add(["one"])
    with pytest.raises(RefNotFound, match="version 99 is not in this dataset's history"):
        ds.tag("later", 99)
    with pytest.raises(InvalidInput, match="a tag names a version number"):
        ds.tag("later", "2")  # type: ignore[arg-type]
    assert ds.tags() == {}


def test_tag_names_with_dots_and_dashes_work(ds: st.Dataset) -> None:
    ds.add(["one"])
    ds.tag("release-1.0_rc")
    assert ds.checkout("release-1.0_rc").version == ds.version


@pytest.mark.parametrize("name", BAD_NAMES)
def test_an_invalid_branch_name_is_refused(ds: st.Dataset, backend: str, name: str) -> None:
    if backend == "memory":
        pytest.skip("memory:// cannot branch")
    ds.add(["one"])
    with pytest.raises(InvalidInput, match=r"branch name .* (is not allowed|is taken)"):
        ds.branch(name)
    assert ds.branches() == []


def test_a_taken_branch_or_tag_name_cannot_name_a_new_branch(ds: st.Dataset, backend: str) -> None:
    if backend == "memory":
        pytest.skip("memory:// cannot branch")
    ds.add(["one"])
    ds.branch("feature-1.x").add(["on the branch"])
    ds.tag("v1")
    with pytest.raises(InvalidInput) as caught:
        ds.branch("feature-1.x")
    assert str(caught.value) == (
        "branch 'feature-1.x' already exists: check it out with checkout('feature-1.x'), "
        "or pick another name"
    )
    with pytest.raises(InvalidInput, match="'v1' already names a tag"):
        ds.branch("v1")
    with pytest.raises(InvalidInput, match=r"'feature-1\.x' already names a branch"):
        ds.tag("feature-1.x")
    assert ds.branches() == ["feature-1.x"]
    assert len(ds.checkout("feature-1.x")) == 2
