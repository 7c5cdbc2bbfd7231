"""Bugs the model-based suite (test_model_based.py) found, each as its shrunk sequence of
calls (the comment of each test quotes the rules), replayed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shoal.store as st
from shoal.errors import InvalidInput, RefNotFound


def test_a_main_tag_checked_out_from_a_branch_handle_reads_main(tmp_path: Path) -> None:
    # tag(back=None); add_via_other(...); branch(); checkout_tag(t0): Lance read the bare
    # version number on the branch (OSError, or that branch's same-numbered version).
    ds = st.open(tmp_path / "dataset", embedder="hash:8")
    ds.tag("t0")
    st.open(tmp_path / "dataset").add(["cat"])
    branch = ds.branch("b1")
    old = branch.checkout("t0")
    assert (old.branch_name, old.version, len(old)) == ("main", 1, 0)
    same_number = ds.checkout(1).branch("b2")  # b2's first version is 1 too
    assert same_number.checkout("t0").branch_name == "main"


def test_the_log_of_a_branch_shows_only_its_own_tags(tmp_path: Path) -> None:
    # tag(back=None); branch(); check_log(): main's tag t0 at version 1 was listed on the
    # branch's version 1, which is another version with the same number.
    ds = st.open(tmp_path / "dataset", embedder="hash:8")
    ds.tag("t0")
    branch = ds.branch("b1")
    assert [(v.version, v.tags) for v in branch.log()] == [(1, ())]
    branch.tag("t1")
    assert [(v.version, v.tags) for v in ds.log()] == [(1, ("t0",))]
    assert [(v.version, v.tags) for v in branch.log()] == [(1, ("t1",))]


def test_tagging_a_missing_version_raises_ref_not_found(ds: st.Dataset) -> None:
    # tag(back=1) on a new dataset: Lance's ValueError escaped the error tree.
    with pytest.raises(RefNotFound):
        ds.tag("t0", 0)
    ds.tag("t0")
    with pytest.raises(InvalidInput, match="already names version"):
        ds.tag("t0")
    assert ds.tags() == {"t0": 1}


def test_the_log_of_a_past_version_keeps_later_messages(ds: st.Dataset) -> None:
    # tag(back=None); add_via_other(...); checkout_tag(t0); check_log(): versions after
    # the checked-out one had empty messages (transactions were read from it, not the latest).
    ds.tag("t0")
    ds.add(["cat"])
    ds.commit("named")
    old = ds.checkout("t0")
    assert [v.message for v in old.log()] == [v.message for v in ds.log()]
    assert [v.message for v in old.log()][1:] == ["add 1 rows", "named"]


def test_l2_distance_to_a_stored_copy_of_the_query_is_zero(ds: st.Dataset) -> None:
    # put(batch=[('d', Doc(..., [1, 1, 0, ...]))], own_vectors=True); search(query=(1, 1, 0, ...),
    # metric='l2'): sqrt(|x|^2 - 2x.q + |q|^2) in float32 gave 3.5e-4, not 0.
    vectors = np.array([[1, 1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]], dtype=np.float32)
    ds.add(["x", "y"], ids=["x", "y"], embeddings=np.pad(vectors, ((0, 0), (0, 56))))
    hits = ds.search(np.pad(vectors[0], (0, 56)), k=2, metric="l2")
    assert [h.id for h in hits] == ["x", "y"]
    assert hits[0].score == pytest.approx(0, abs=1e-6)
    assert hits[1].score == pytest.approx(1, abs=1e-6)


def test_the_log_keeps_messages_of_old_versions_cleanup_kept(ds: st.Dataset) -> None:
    # tag(back=4); cleanup(keep_last=2); check_log(): the tagged version's message was ''
    # (reading transactions back from the latest stopped at the first removed version).
    ds.add(["a"], ids=["a"])
    ds.commit("named")
    ds.tag("kept")
    for text in ("b", "c", "d"):
        ds.add([text])
    ds.cleanup(keep_last=1)
    assert [(v.version, v.message) for v in ds.log()] == [(3, "named"), (6, "add 1 rows")]


def test_restore_refuses_a_version_of_another_branch(tmp_path: Path) -> None:
    # tag(back=None); add_via_other(...); checkout_version(back=1); branch(); restore_tag(t0):
    # Lance restored main's version on main, and the branch handle moved to main with it.
    ds = st.open(tmp_path / "dataset", embedder="hash:8")
    ds.tag("t0")
    st.open(tmp_path / "dataset").add(["cat"])
    branch = ds.checkout(1).branch("b0")
    with pytest.raises(InvalidInput, match="branch"):
        branch.restore("t0")
    assert (branch.branch_name, branch.version, [v.version for v in branch.log()]) == ("b0", 1, [1])
    assert len(st.open(tmp_path / "dataset")) == 1  # main untouched
    branch.add(["dog"])
    assert branch.restore(1) == 3 and len(branch) == 0  # its own versions restore as before
