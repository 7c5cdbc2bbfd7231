"""`shoal ingest` in-process: report, reruns, sync, bad files, settings, S3 and the progress bar."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import plain, run
from rich.console import Console

import shoal
from fakes.files import DOC_TREE_READ, DOC_TREE_SKIPPED, broken_pdf, write_doc_tree
from shoal.cli._ingest import _Bar
from shoal.ingestion import IngestProgress
from store_fixtures import S3Settings

MODEL = "hash:64"
SHOAL = [sys.executable, "-c", "from shoal.cli import main; main()"]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "cats.txt").write_text("The cat is on the mat.\n\nCats sleep a lot.\n")
    (folder / "dogs.md").write_text("# Dogs\n\nThe dog is in the yard.\n")
    (folder / "sub" / "birds.txt").write_text("Birds sing in the morning.\n")
    (folder / "photo.bmp").write_bytes(b"\x89PNG\r\n")
    return folder


def test_ingest_reports_then_a_rerun_changes_nothing(docs: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    first = run("ingest", str(docs), "--into", uri, "--model", MODEL)
    assert first.exit_code == 0, first.output
    text = plain(first.stdout)
    assert f"ingested into {uri}: 3 file(s): 3 new; +3 -0 chunks" in text
    assert "committed version" in text and "embedded 3 chunk(s)" in text
    # Skipped files are counted by reason; --verbose (below) lists them.
    assert "skipped 1 file(s): 1 binary (--verbose lists them)" in text
    again = run("ingest", str(docs), "--into", uri, "--verbose")
    assert again.exit_code == 0, again.output
    assert "3 unchanged; +0 -0 chunks" in plain(again.stdout)
    assert f"    {docs / 'photo.bmp'} (binary: an image (.bmp))" in plain(again.stdout)
    assert "nothing changed; embedded 0 chunk(s)" in plain(again.stdout)
    found = run("search", uri, "cat on a mat", "-k", "1", "--json")
    [hit] = json.loads(found.stdout)
    assert hit["text"] == "The cat is on the mat.\n\nCats sleep a lot."
    assert hit["metadata"]["source"] == str(docs / "cats.txt")
    log = run("log", uri, "--json")
    assert json.loads(log.stdout)[-1]["message"].startswith(f"ingest {docs}: 3 file(s): 3 new")


def test_json_report_sync_and_a_changed_file(docs: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    assert run("ingest", str(docs), "--into", uri, "-m", MODEL).exit_code == 0
    (docs / "dogs.md").unlink()
    (docs / "cats.txt").write_text("Cats changed their minds.\n")
    result = run("ingest", str(docs), "--into", uri, "--sync", "--json", "-m", MODEL)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changed"] == [str(docs / "cats.txt")]
    assert report["removed"] == [str(docs / "dogs.md")]
    assert report["unchanged"] == [str(docs / "sub" / "birds.txt")]
    assert (report["chunks_added"], report["chunks_removed"], report["committed"]) == (1, 2, True)
    assert len(shoal.open(uri)) == 2


def test_options_choose_files_chunks_and_columns(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "long.md").write_text(("word " * 60 + "\n\n") * 5)
    (folder / "skip.txt").write_text("not matched by the glob")
    (folder / "rows.csv").write_text("title,body,lang\nHello,Some body text,en\n")
    (folder / "lines.jsonl").write_text('{"content": "from the content field"}\n')
    uri = str(tmp_path / "kb")
    result = run(
        "ingest", str(folder), "--into", uri, "-m", MODEL, "--glob", "*.[mcj]*",
        "--chunk-size", "200", "--chunk-overlap", "20", "--text-column", "title",
        "--text-column", "body", "--text-field", "content", "--batch-size", "2",
        "--no-cache", "--message", "my own message",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ds = shoal.open(uri)
    rows = ds.select(["text", "source", "splitter", "lang"])
    assert {Path(r["source"]).name for r in rows} == {"long.md", "rows.csv", "lines.jsonl"}
    assert {r["splitter"] for r in rows} == {"chars 200/20 columns=title,body field=content"}
    assert max(len(r["text"]) for r in rows) <= 200
    assert {"Hello\nSome body text", "from the content field"} <= {r["text"] for r in rows}
    assert ds.log()[-1].message == "my own message"


def test_a_failed_file_is_listed_and_the_exit_code_is_1(docs: Path, tmp_path: Path) -> None:
    (docs / "broken.txt").write_bytes(b"\x00\x01\x02 binary")
    (docs / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    uri = str(tmp_path / "kb")
    result = run("ingest", str(docs), "--into", uri, "-m", MODEL)
    assert result.exit_code == 1
    text = plain(result.stdout)
    assert f"failed: {docs / 'broken.txt'} looks binary" in text
    assert f"not UTF-8, 1 byte sequence(s) replaced: {docs / 'latin.txt'}" in text
    assert "4 new" in text and len(shoal.open(uri)) == 4


def test_a_broken_pdf_is_reported_by_shoal_alone(docs: Path, tmp_path: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"this is not a pdf at all")
    (docs / "cut.pdf").write_bytes(broken_pdf())
    uri = str(tmp_path / "kb")
    # A real process: pypdf's log lines would go to its standard error.
    done = subprocess.run(
        [*SHOAL, "ingest", str(docs), "--into", uri, "--model", MODEL],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "", "pypdf (or anything else) wrote beside the report"
    report = plain(done.stdout)
    assert "5 file(s): 3 new, 2 failed" in report
    for name in ("broken.pdf", "cut.pdf"):
        assert f"failed: cannot read PDF {docs / name}: " in report
    assert "the file may be damaged, truncated or not a PDF" in report


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nowhere", "--into", "{kb}"], 2, "no such file or folder"),
        (["{docs}", "--into", "{kb}", "--tokens"], 2, "cannot count its tokens"),
        (["{docs}", "--into", "{kb}", "--chunk-size", "10", "--chunk-overlap", "50"], 2, "overlap"),
        (["{docs}", "--into", "ftp://x"], 2, "unsupported dataset URI scheme"),
        (["{docs}", "--into", "{kb}-new", "-m", "nope:model"], 2, "no embedder provider named"),
    ],
)
def test_bad_input_exits_with_a_clear_error(
    docs: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    kb = str(tmp_path / "kb")
    shoal.open(kb, embedder=MODEL)
    filled = [a.format(docs=docs, kb=kb) for a in args]
    result = run("ingest", *filled)
    assert result.exit_code == code, result.output
    assert message in plain(result.stderr)
    assert len(shoal.open(kb)) == 0 and not Path(f"{kb}-new").exists()


def test_missing_into_is_a_usage_error(docs: Path) -> None:
    result = run("ingest", str(docs))
    assert result.exit_code == 2 and "--into" in plain(result.output)


def test_an_embedder_error_says_what_was_kept(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.embedders import CountingEmbedder

    monkeypatch.setattr(
        "shoal.embeddings._registry._PROVIDERS._registered",
        {"hash": lambda model: CountingEmbedder(batch_size=1, fail_at=2)},
    )
    result = run("ingest", str(docs), "--into", str(tmp_path / "kb"), "-m", "hash:64",
                 "--batch-size", "1", "--no-cache")  # fmt: skip
    assert result.exit_code == 1
    err = plain(result.stderr)
    assert "1 batch(es), 1 chunk(s) written before the error" in err
    assert "error: fake provider down at batch 2" in err


def test_ingest_into_s3(docs: Path, s3_environment: S3Settings) -> None:
    uri = s3_environment.fresh_uri()
    result = run("ingest", str(docs), "--into", uri, "-m", MODEL)
    assert result.exit_code == 0, result.output
    again = run("ingest", str(docs), "--into", uri)
    assert "3 unchanged" in plain(again.stdout)
    assert len(shoal.open(uri)) == 3


def test_concurrent_ingests_into_s3_leave_each_chunk_once(
    tmp_path: Path, s3_environment: S3Settings
) -> None:
    # S3 takes no write lock: four ingests of the same 120 files at once used to leave
    # thousands of duplicated chunks, and a rerun called them unchanged.
    import os

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(120):
        (corpus / f"f{i:03d}.txt").write_text(
            f"File {i} says hello.\n\nIt has a second part {i}.\n"
        )
    uri = s3_environment.fresh_uri()
    command = [*SHOAL, "ingest", str(corpus), "--into", uri, "-m", MODEL, "--batch-size", "8"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    errors = [err.strip().splitlines()[-1:] for _, err in outputs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], errors
    ids = [row["id"] for row in shoal.open(uri).select(["id"])]
    assert len(ids) == len(set(ids)) == 120
    # A writer killed between its commit and its check leaves copies: a rerun deletes them.
    import lance

    ds = lance.dataset(uri, storage_options=s3_environment.storage_options())
    lance.write_dataset(ds.to_table(limit=30), ds, mode="append")
    assert len(shoal.open(uri)) == 150
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert again.returncode == 0, again.stderr
    assert "deleted 30 duplicate row(s) of concurrent ingests" in plain(again.stdout)
    assert "120 unchanged" in plain(again.stdout)
    ids = [row["id"] for row in shoal.open(uri).select(["id"])]
    assert len(ids) == len(set(ids)) == 120


def test_the_progress_bar_shows_files_chunks_and_rate() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    bar = _Bar(console)
    with bar:
        bar.update(IngestProgress(files_total=10))
        bar.update(
            IngestProgress(
                files_total=10, files_done=4, chunks_written=120, batches_written=2,
                embedded=100, elapsed=2.0,
            )
        )  # fmt: skip
        bar.progress.refresh()
    shown = plain(buffer.getvalue())
    assert "4/10" in shown and "120 chunks" in shown and "50 embeddings/s" in shown
    assert bar.done() == "2 batch(es), 120 chunk(s) written"


def test_a_named_pipe_is_skipped_not_read(docs: Path, tmp_path: Path) -> None:
    # Reading a FIFO blocks until a writer comes: named, or found in a folder, it is skipped.
    import os

    pipe = docs / "pipe.txt"
    os.mkfifo(pipe)
    uri = str(tmp_path / "kb")
    done = subprocess.run(
        [*SHOAL, "ingest", str(pipe), str(docs), "--into", uri, "-m", MODEL, "--verbose"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown = plain(done.stdout + done.stderr)
    assert "skipped 2 file(s): 1 binary, 1 not a regular file" in shown  # the pipe once
    assert f"{pipe} (not a regular file: a pipe, socket or device" in shown
    assert len(shoal.open(uri)) == 3


# --- a documentation tree, and an ingest that finds nothing ---------------------------------


def test_a_documentation_tree_reports_what_it_read_and_skipped(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    write_doc_tree(root)
    uri = str(tmp_path / "kb")
    result = run("ingest", str(root), "--into", uri, "-m", MODEL)
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    assert f"ingested into {uri}: 12 file(s): 12 new;" in text
    assert (
        "skipped 7 file(s): 2 binary, 2 ignored by .gitignore, 1 broken symlink, 1 hidden, "
        "1 unsupported (--verbose lists them)"
    ) in text
    assert str(root / "logo.bmp") not in text  # the list is for --verbose and --json

    listed = run("ingest", str(root), "--into", uri, "--verbose")
    assert listed.exit_code == 0, listed.output
    lines = plain(listed.stdout).splitlines()
    assert "12 unchanged" in lines[0]
    assert (
        f"    {root / 'build'}/ (ignored by .gitignore: {root / '.gitignore'}:1: build/)" in lines
    )
    assert (
        f"    {root / 'sheet.xlsx'} (unsupported: a spreadsheet: export its sheets as CSV)" in lines
    )
    assert f"    {root / 'blob'} (binary: it has NUL bytes near its start)" in lines

    data = json.loads(run("ingest", str(root), "--into", str(tmp_path / "kb2"), "--json",
                          "-m", MODEL).stdout)  # fmt: skip
    assert sorted(Path(p).relative_to(root).as_posix() for p in data["new"]) == DOC_TREE_READ
    assert [
        (Path(s["path"]).relative_to(root).as_posix(), s["reason"]) for s in data["skipped"]
    ] == DOC_TREE_SKIPPED
    assert data["ingested_nothing"] is False and data["created"] is True


def test_include_exclude_and_no_gitignore_options(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    write_doc_tree(root)
    uri = str(tmp_path / "kb")
    result = run(
        "ingest", str(root), "--into", uri, "-m", MODEL, "--include", "*.log",
        "--include", "guide/", "--exclude", "keep.log", "--no-gitignore", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(Path(p).relative_to(root).as_posix() for p in report["new"]) == [
        "debug.log",
        "guide/install.rst",
    ]
    # keep.log by --exclude, and the 14 other files (build/ too: .gitignore is off) --include
    # does not match; the hidden .gitignore and the broken symlink keep their own reasons.
    assert report["skipped_counts"] == {"excluded": 15, "hidden": 1, "broken_symlink": 1}


def test_an_ingest_that_finds_nothing_exits_1_and_leaves_no_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "assets"
    (folder / "build").mkdir(parents=True)
    (folder / "logo.bmp").write_bytes(b"\x89PNG\r\n")
    (folder / "blob").write_bytes(b"\x00\x01\x02")
    (folder / ".gitignore").write_text("build/\n")
    (folder / "build" / "notes.md").write_text("# Built\n")
    kb = tmp_path / "kb"
    result = run("ingest", str(folder), "--into", str(kb), "-m", MODEL)
    assert result.exit_code == 1, result.output
    assert not kb.exists()
    error = plain(result.stderr)
    assert error.startswith(
        f"error: nothing was ingested into {kb}: found no file of a type Shoal reads; "
        "skipped 4 (2 binary, 1 hidden, 1 ignored by .gitignore). No dataset was created."
    )
    assert "pass --no-gitignore" in error and "Shoal reads text" in error
    assert "Run again with --verbose to list each skipped file and why." in error
    assert "skipped 4 file(s)" in plain(result.stdout)

    as_json = run("ingest", str(folder), "--into", str(kb), "-m", MODEL, "--json")
    assert as_json.exit_code == 1 and not kb.exists()
    assert json.loads(as_json.stdout)["ingested_nothing"] is True

    found = run("ingest", str(folder), "--into", str(kb), "-m", MODEL, "--no-gitignore")
    assert found.exit_code == 0, found.output
    assert len(shoal.open(kb)) == 1


def test_files_that_all_fail_exit_1_and_create_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"\x00binary named .txt")
    (folder / "b.jsonl").write_text("{not json}\n")
    kb = tmp_path / "kb"
    result = run("ingest", str(folder), "--into", str(kb), "-m", MODEL)
    assert result.exit_code == 1 and not kb.exists()
    assert "found 2 readable file(s), but 2 failed" in plain(result.stderr)
    assert "failed: " in plain(result.stdout)


def test_into_an_existing_dataset_nothing_ingested_keeps_it(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shoal.open(kb, embedder=MODEL).add(["kept"])
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("ingest", str(empty), "--into", str(kb))
    assert result.exit_code == 1
    error = plain(result.stderr)
    assert "found no file of a type Shoal reads." in error and "No dataset was created" not in error
    assert "Check that the paths hold documents." in error
    assert len(shoal.open(kb)) == 1


def test_ingest_detects_the_language_of_a_new_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "zh"
    folder.mkdir()
    (folder / "city.txt").write_text("我住在北京市的一个小公寓里。\n", encoding="utf-8")
    (folder / "fruit.txt").write_text("我每天早上都喜欢吃苹果。\n", encoding="utf-8")
    uri = str(tmp_path / "kb")
    result = run("ingest", str(folder), "--into", uri, "--model", MODEL, "--language", "auto")
    assert result.exit_code == 0, result.output
    assert shoal.open(uri).language == "chinese"
    found = json.loads(run("search", uri, "北京", "--mode", "keyword", "--json").stdout)
    assert [hit["text"] for hit in found] == ["我住在北京市的一个小公寓里。"]
