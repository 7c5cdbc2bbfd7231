"""The one mechanism that turns Lance and OS failures into Shoal errors, on Lance's real texts."""

from __future__ import annotations

import errno

import pytest

from shoal.errors import (
    DatasetDamaged,
    InvalidInput,
    StorageFull,
    StorageReadOnly,
    StoreError,
    WriteConflict,
)
from shoal.store._location import parse_uri
from shoal.store._storage_errors import classify, reason, storage_error, storage_errors

RUST = "/home/runner/work/lance/lance/rust"
# Texts Lance 14 raised in the fault tests (tests/integration/test_storage_faults.py,
# tests/unit/store/test_damaged_files.py), and what each means.
LANCE_TEXTS = [
    (
        OSError(f"LanceError(IO): No space left on device (os error 28), {RUST}/lance-file/src/writer/structural.rs:254:9"),
        "full",
        "No space left on device (os error 28)",
    ),
    (
        OSError(f"LanceError(IO): Generic LocalFileSystem error: Unable to copy data to file: No space left on device (os error 28), {RUST}/lance-table/src/io/commit.rs:1663:50"),
        "full",
        "Unable to copy data to file: No space left on device (os error 28)",
    ),
    (
        OSError(f"LanceError(IO): Generic LocalFileSystem error: Unable to open file /d/_refs/tags/v2.json.tmp#1: Read-only file system (os error 30), {RUST}/lance/src/dataset/refs.rs:162:28"),
        "read_only",
        "Unable to open file /d/_refs/tags/v2.json.tmp#1: Read-only file system (os error 30)",
    ),
    (
        ValueError(f"External error: Not found: d/data/1001.lance, {RUST}/lance-io/src/local.rs:273:40"),
        "not_found",
        "Not found: d/data/1001.lance",
    ),
    (
        ValueError("External error: LanceError(IO): Generic LocalFileSystem error: failed to fill whole buffer, /rustc/48a229ce/library/core/src/ops/function.rs:250:5"),
        "damaged",
        "failed to fill whole buffer",
    ),
    (
        ValueError(f"External error: Encountered corrupt file miniblock_metadata: non-final chunks account for counted_values=512, exceeding items_in_page=100, {RUST}/lance-encoding/src/encodings/logical/primitive/miniblock_decode.rs:1321:9"),
        "damaged",
        "Encountered corrupt file miniblock_metadata: non-final chunks account for counted_values=512, exceeding items_in_page=100",
    ),
    (
        OSError(f"LanceError(IO): failed to decode Protobuf message: Field.name: Manifest.fields: invalid string value: data is not UTF-8 encoded, {RUST}/lance/src/dataset.rs:806:32"),
        "damaged",
        "failed to decode Protobuf message: Field.name: Manifest.fields: invalid string value: data is not UTF-8 encoded",
    ),
    (
        OSError(f"LanceError(IO): file size is too small, {RUST}/lance-io/src/utils.rs:172:20"),
        "damaged",
        "file size is too small",
    ),
    (
        OSError(f"Encountered internal error. Please file a bug report at https://github.com/lance-format/lance/issues. Clone operation should not enter build_manifest., {RUST}/lance-table/src/transaction/manifest_build.rs:768:28"),
        "other",
        "Clone operation should not enter build_manifest.",
    ),
    (
        OSError("Commit conflict for version 7: This Append transaction is incompatible with concurrent transaction Delete at version 7."),
        "conflict",
        "Commit conflict for version 7: This Append transaction is incompatible with concurrent transaction Delete at version 7.",
    ),
    (
        OSError(f"Too many concurrent writers. Attempted 8 times, but failed on retry_timeout of 30.000 seconds., {RUST}/lance/src/io/commit.rs:130:5"),
        "conflict",
        "Too many concurrent writers. Attempted 8 times, but failed on retry_timeout of 30.000 seconds.",
    ),
    (OSError(errno.ENOSPC, "No space left on device", "/d/_shoal/index/main.npz.1.tmp"), "full", "No space left on device: /d/_shoal/index/main.npz.1.tmp"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "full", "Disk quota exceeded"),
    (OSError(errno.EROFS, "Read-only file system", "/d/_shoal/write.lock"), "read_only", "Read-only file system: /d/_shoal/write.lock"),
    (PermissionError(errno.EACCES, "Permission denied", "/d"), "read_only", "Permission denied: /d"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/d/x"), "not_found", "No such file or directory: /d/x"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "kind", "text"), LANCE_TEXTS)
def test_lance_and_os_failures_are_classified_and_cleaned(
    exc: BaseException, kind: str, text: str
) -> None:
    assert classify(exc) == kind
    assert reason(exc) == text
    assert ".rs:" not in reason(exc)


def test_each_kind_becomes_its_error_in_our_words() -> None:
    local = parse_uri("/data/kb")
    made = {
        kind: storage_error(exc, action="add rows to", location=local, writing=True)
        for exc, kind, _ in LANCE_TEXTS
    }
    assert type(made["full"]) is StorageFull
    assert str(made["full"]) == (
        "cannot add rows to /data/kb: no space left on the disk that holds it; free some "
        "space (or move the dataset to a larger disk) and run it again"
    )
    assert type(made["read_only"]) is StorageReadOnly
    assert type(made["conflict"]) is WriteConflict
    assert str(made["conflict"]).endswith(
        "another writer changed it at the same moment; run it again"
    )
    assert type(made["damaged"]) is DatasetDamaged  # no handle to look for the file: in general
    assert str(made["damaged"]).startswith(
        "cannot add rows to /data/kb: one of its files is damaged ("
    )
    assert type(made["other"]) is StoreError
    assert str(made["other"]) == (
        "cannot add rows to /data/kb: Clone operation should not enter build_manifest."
    )
    for error in made.values():
        assert ".rs:" not in str(error) and "LanceError" not in str(error)


def test_a_folder_that_cannot_be_read_is_not_called_read_only() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/kb/_versions")
    error = storage_error(denied, action="open", location=parse_uri("/data/kb"))
    assert type(error) is StoreError
    assert str(error) == (
        "cannot open /data/kb: permission denied (Permission denied: /data/kb/_versions); "
        "check that this user may read the dataset's folder and files"
    )


def test_on_s3_the_message_says_what_to_check() -> None:
    error = storage_error(
        OSError("LanceError(IO): Generic S3 error: bucket is gone"),
        action="open",
        location=parse_uri("s3://bucket/kb"),
    )
    assert str(error).startswith("cannot open s3://bucket/kb: bucket is gone;")
    assert "check the bucket name, its region" in str(error)


class PanicException(BaseException):
    """Named as pyo3's: how a Rust panic inside Lance reaches Python."""


def test_the_context_keeps_the_cause_and_lets_shoal_errors_and_interrupts_through() -> None:
    local = parse_uri("/data/kb")
    failure = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(StorageFull) as caught, storage_errors("compact", local):
        raise failure
    assert caught.value.__cause__ is failure
    panic_error = pytest.raises(StoreError, match="cannot compact /data/kb: boom")
    with panic_error as panic, storage_errors("compact", local):
        raise PanicException("boom")
    assert isinstance(panic.value.__cause__, PanicException)
    ours = InvalidInput("already in our words")
    with pytest.raises(InvalidInput) as passed, storage_errors("compact", local):
        raise ours
    assert passed.value is ours
    with pytest.raises(KeyboardInterrupt), storage_errors("compact", local):
        raise KeyboardInterrupt
    with pytest.raises(TypeError), storage_errors("compact", local):
        raise TypeError("a bug stays a bug")
