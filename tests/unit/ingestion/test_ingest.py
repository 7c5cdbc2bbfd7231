"""shoal.ingest: what it stores, and that reruns do only what changed (incremental, idempotent)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter

import shoal
from conftest import write_files
from fakes.embedders import CountingEmbedder
from fakes.files import broken_pdf, pdf_bytes
from fakes.texts import prose
from shoal import (
    EmbedderMismatch,
    EmbeddingCache,
    EmbeddingError,
    IngestProgress,
    InvalidInput,
)
from shoal.text import iter_documents


def rows(uri: str | shoal.Dataset) -> dict[str, tuple[str, str]]:
    """id -> (text, canonical metadata JSON) of every row."""
    ds = uri if isinstance(uri, shoal.Dataset) else shoal.open(uri)
    records = ds.get([r["id"] for r in ds.select(["id"])])
    return {r.id: (r.text, json.dumps(r.metadata, sort_keys=True)) for r in records}


def by_source(uri: str, source: Path) -> list[shoal.Record]:
    ds = shoal.open(uri)
    ids = [r["id"] for r in ds.select(["id"], where={"source": str(source)})]
    return sorted(ds.get(ids), key=lambda r: r.metadata["chunk"])


# --- what a first ingest stores ---------------------------------------------------------


def test_every_file_type_becomes_chunks_with_source_metadata(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    long_text = "\n\n".join(prose(seed, 4) for seed in range(6)) + "\n"
    (folder / "long.txt").write_text(long_text, encoding="utf-8")
    (folder / "page.html").write_text(
        "<html><head><title>Cats</title><script>var x = 1;</script></head>"
        "<body><p>The cat is on the mat.</p></body></html>"
    )
    (folder / "table.csv").write_text("text,lang\nBonjour le monde,fr\nHello world,en\n")
    (folder / "lines.jsonl").write_text('{"text": "first line", "tag": "a"}\n{"text": "second"}\n')
    (folder / "paper.pdf").write_bytes(pdf_bytes(["Page one text", "Page two text"]))
    uri = str(tmp_path / "kb")
    model = CountingEmbedder()
    report = shoal.ingest([folder], into=uri, embedder=model, cache=cache)

    assert sorted(Path(p).name for p in report.new) == [
        "lines.jsonl", "long.txt", "page.html", "paper.pdf", "table.csv",
    ]  # fmt: skip
    ds = shoal.open(uri)
    assert report.chunks_added == len(ds) == len(model.texts) and report.committed
    assert report.version == ds.version and ds.log()[-1].message.startswith(f"ingest {folder}:")

    chunks = by_source(uri, folder / "long.txt")
    expected = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0).split_text(
        long_text
    )
    assert [c.text for c in chunks] == expected and len(expected) > 5
    raw = (folder / "long.txt").read_bytes()
    lines = long_text.split("\n")
    for index, chunk in enumerate(chunks):
        meta = chunk.metadata
        assert meta["source"] == str(folder / "long.txt") and meta["type"] == "text"
        assert meta["source_hash"] == hashlib.sha256(raw).hexdigest()
        assert (meta["chunk"], meta["chunks"], meta["splitter"]) == (
            index,
            len(chunks),
            "chars 1000/0",
        )
        start, end = meta["bytes"]
        assert raw[start:end].decode() == chunk.text
        first, last = meta["lines"]
        assert "\n".join(lines[first - 1 : last]) == chunk.text

    [html] = by_source(uri, folder / "page.html")
    assert html.text == "The cat is on the mat." and html.metadata["title"] == "Cats"
    csv_rows = by_source(uri, folder / "table.csv")
    assert [(r.text, r.metadata["row"], r.metadata["lang"]) for r in csv_rows] == [
        ("Bonjour le monde", 1, "fr"),
        ("Hello world", 2, "en"),
    ]
    jsonl = by_source(uri, folder / "lines.jsonl")
    assert [(r.text, r.metadata["line"], r.metadata.get("tag")) for r in jsonl] == [
        ("first line", 1, "a"),
        ("second", 2, None),
    ]
    pdf = by_source(uri, folder / "paper.pdf")
    assert [(r.text, r.metadata["page"]) for r in pdf] == [
        ("Page one text", 1),
        ("Page two text", 2),
    ]
    hits = ds.search("Bonjour le monde", k=1, where={"type": "csv"})
    assert hits[0].metadata["source"].endswith("table.csv")


def test_files_folders_glob_and_hidden_files(tmp_path: Path, cache: EmbeddingCache) -> None:
    folder = tmp_path / "docs"
    write_files(folder, 6)
    (folder / ".hidden.md").write_text("secret")
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.txt").write_text("internal")
    single = tmp_path / "single.txt"
    single.write_text("one file given by name")
    uri = str(tmp_path / "kb")
    report = shoal.ingest(
        [folder, single, folder / "doc001.md"],
        into=uri,
        embedder="hash:64",
        glob="**/*.md",
        cache=cache,
    )
    names = sorted(Path(p).name for p in report.new)
    assert names == ["doc001.md", "doc003.md", "doc005.md", "single.txt"]


# --- reruns -------------------------------------------------------------------------------


def test_reingest_of_an_unchanged_200_file_folder_embeds_and_writes_nothing(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "many"
    write_files(folder, 200, paragraphs=2)
    uri = str(tmp_path / "kb")
    first = shoal.ingest(folder, into=uri, embedder=CountingEmbedder(), cache=cache)
    assert len(first.new) == 200
    ds = shoal.open(uri)
    before = (ds.version, len(ds.log()), rows(ds))
    for use_cache in (cache, False):  # the plan alone decides: the cache is not what saves it
        model = CountingEmbedder()
        again = shoal.ingest(folder, into=uri, embedder=model, cache=use_cache)
        assert model.batches == 0 and model.texts == []
        assert len(again.unchanged) == 200 and again.new == again.changed == []
        assert (again.chunks_added, again.chunks_removed, again.committed) == (0, 0, False)
        assert again.embedded == again.cached == again.batches == 0
        ds = shoal.open(uri)
        assert (ds.version, len(ds.log()), rows(ds)) == before


def test_a_changed_file_replaces_its_chunks_and_nothing_else(
    docs: Path, tmp_path: Path, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    shoal.ingest(docs, into=uri, embedder="hash:64", cache=cache)
    target = docs / "doc004.txt"
    old = by_source(uri, target)
    others_before = {i: r for i, r in rows(uri).items() if i not in {c.id for c in old}}
    target.write_text(target.read_text() + "\nA brand new closing paragraph.\n")
    model = CountingEmbedder()
    report = shoal.ingest(docs, into=uri, embedder=model, cache=cache)
    assert report.changed == [str(target)] and len(report.unchanged) == 11
    new = by_source(uri, target)
    assert {c.metadata["source_hash"] for c in new} == {
        hashlib.sha256(target.read_bytes()).hexdigest()
    }
    assert [c.metadata["chunk"] for c in new] == list(range(len(new)))
    assert not {c.id for c in old} & {c.id for c in new}
    assert report.chunks_added == len(new) and report.chunks_removed == len(old)
    after = rows(uri)
    assert {i: after[i] for i in others_before} == others_before
    assert len(after) == len(others_before) + len(new)
    # Chunk texts seen before come from the cache; only new text reaches the model.
    old_texts = {c.text for c in old}
    assert model.texts and not old_texts & set(model.texts)
    assert report.cached == len([c for c in new if c.text in old_texts])


def test_a_deleted_file_is_removed_only_with_sync_and_only_in_scope(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_files(first, 4)
    write_files(second, 4)
    uri = str(tmp_path / "kb")
    shoal.ingest([first], into=uri, embedder="hash:64", cache=cache)
    shoal.ingest([second], into=uri, cache=cache)
    gone_first, gone_second = first / "doc001.md", second / "doc002.txt"
    chunks_first = len(by_source(uri, gone_first))
    gone_first.unlink()
    gone_second.unlink()

    kept = shoal.ingest([first], into=uri, cache=cache)
    assert kept.removed == [] and not kept.wrote and by_source(uri, gone_first)

    synced = shoal.ingest([first], into=uri, sync=True, cache=cache)
    assert synced.removed == [str(gone_first)] and synced.chunks_removed == chunks_first
    assert by_source(uri, gone_first) == []
    assert by_source(uri, gone_second)  # under another folder: not this run's to delete
    assert "1 removed" in shoal.open(uri).log()[-1].message


def test_sync_keeps_the_chunks_of_a_file_that_now_fails(
    docs: Path, tmp_path: Path, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    shoal.ingest(docs, into=uri, embedder="hash:64", cache=cache)
    target = docs / "doc002.txt"
    before = by_source(uri, target)
    target.write_bytes(b"\x00\x01binary now")
    report = shoal.ingest(docs, into=uri, sync=True, cache=cache)
    assert [p for p, _ in report.failed] == [str(target)] and report.removed == []
    assert [c.id for c in by_source(uri, target)] == [c.id for c in before]


def test_rechunking_rewrites_rows_but_unchanged_chunk_texts_cost_no_model_call(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "short"
    folder.mkdir()
    for i in range(10):
        (folder / f"s{i}.txt").write_text(f"short note number {i} about cats and mats")
    uri = str(tmp_path / "kb")
    shoal.ingest(folder, into=uri, embedder="hash:64", cache=cache)
    model = CountingEmbedder()
    report = shoal.ingest(folder, into=uri, embedder=model, chunk_size=500, cache=cache)
    assert len(report.changed) == 10 and report.chunks_added == report.chunks_removed == 10
    assert model.batches == 0 and (report.embedded, report.cached) == (0, 10)
    assert {r["splitter"] for r in shoal.open(uri).select(["splitter"])} == {"chars 500/0"}


def test_the_embedding_cache_is_shared_by_datasets(docs: Path, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "shared.sqlite3")
    first = shoal.ingest(docs, into=str(tmp_path / "a"), embedder="hash:64", cache=cache)
    model = CountingEmbedder()
    second = shoal.ingest(docs, into=str(tmp_path / "b"), embedder=model, cache=cache)
    assert model.batches == 0 and second.cached == first.embedded == second.chunks_added
    assert set(rows(str(tmp_path / "a")).values()) == set(rows(str(tmp_path / "b")).values())


# --- interruptions ----------------------------------------------------------------------


def test_provider_outage_mid_ingest_keeps_finished_batches_and_the_rerun_embeds_the_rest(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "forty"
    folder.mkdir()
    for i in range(40):
        (folder / f"n{i:02d}.txt").write_text(f"note {i}: " + prose(i, 1)[:200])
    uri = str(tmp_path / "kb")
    # Ten ingest batches of 4 chunks; the provider takes 2 texts a call and fails on call 12:
    # batches 1-5 are written, batch 6 has one provider call cached when the outage hits.
    failing = CountingEmbedder(batch_size=2, fail_at=12)
    with pytest.raises(EmbeddingError, match="down at batch 12"):
        shoal.ingest(folder, into=uri, embedder=failing, batch_size=4, cache=cache)
    ds = shoal.open(uri)
    assert len(ds) == 20
    healthy = CountingEmbedder(batch_size=2)
    report = shoal.ingest(folder, into=uri, embedder=healthy, batch_size=4, cache=cache)
    assert len(healthy.texts) == 40 - 20 - 2 and set(healthy.texts).isdisjoint(failing.texts)
    assert (report.chunks_added, report.embedded, report.cached) == (20, 18, 2)
    assert len(report.unchanged) == 20 and len(report.new) == 20
    clean = shoal.ingest(folder, into=str(tmp_path / "clean"), embedder="hash:64", cache=False)
    assert clean.chunks_added == 40
    assert rows(uri) == rows(str(tmp_path / "clean"))


def test_an_interrupted_ingest_resumes_to_what_a_clean_run_stores(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "long"
    write_files(folder, 6, paragraphs=10)  # several chunks per file
    uri = str(tmp_path / "kb")

    def stop_after_two(state: IngestProgress) -> None:
        if state.batches_written == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shoal.ingest(
            folder,
            into=uri,
            embedder="hash:64",
            batch_size=3,
            cache=cache,
            on_progress=stop_after_two,
        )
    written = rows(uri)
    assert len(written) == 6
    model = CountingEmbedder()
    report = shoal.ingest(folder, into=uri, embedder=model, batch_size=3, cache=cache)
    assert len(report.resumed) == 1 and len(report.unchanged) + len(report.new) == 5
    assert not {text for text, _ in written.values()} & set(model.texts)
    shoal.ingest(folder, into=str(tmp_path / "clean"), embedder="hash:64", cache=False)
    resumed, clean = rows(uri), rows(str(tmp_path / "clean"))
    assert resumed == clean and report.chunks_added == len(clean) - 6


def test_progress_reports_files_chunks_and_embeddings(docs: Path, tmp_path: Path) -> None:
    seen: list[IngestProgress] = []

    def record(state: IngestProgress) -> None:
        seen.append(IngestProgress(**vars(state)))

    report = shoal.ingest(
        docs, into=str(tmp_path / "kb"), embedder="hash:64", batch_size=4, cache=False,
        on_progress=record,
    )  # fmt: skip
    assert seen[0].files_total == 12 and seen[0].files_done == 0
    assert seen[-1].files_done == 12 and seen[-1].chunks_written == report.chunks_added
    assert seen[-1].batches_written == report.batches > 1 and seen[-1].embedded == report.embedded
    done = [s.files_done for s in seen]
    assert done == sorted(done) and any(s.current for s in seen)
    total = sum(f.stat().st_size for f in docs.rglob("*") if f.is_file())  # 12 files, all read
    assert seen[0].bytes_total == total > 0 and seen[0].seconds_left is None
    read = [s.bytes_done for s in seen]
    assert read == sorted(read) and read[-1] == seen[0].bytes_total
    assert seen[-1].seconds_left == 0.0
    halfway = IngestProgress(files_total=2, bytes_total=1000, bytes_done=250, elapsed=3.0)
    assert halfway.seconds_left == pytest.approx(9.0), "at the rate so far: 3 s a quarter"


def test_durations_read_as_a_clock() -> None:
    from shoal.cli._ingest import duration

    assert [duration(s) for s in (None, 0, 42.4, 61, 3723)] == [
        "-:--",
        "0:00",
        "0:42",
        "1:01",
        "1:02:03",
    ]


# --- large files --------------------------------------------------------------------------


def test_a_large_text_file_is_streamed_in_sections(tmp_path: Path, cache: EmbeddingCache) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    file = folder / "book.txt"
    text = "\n\n".join(prose(seed, 2) for seed in range(6000)) + "\n"
    file.write_text(text, encoding="utf-8")
    assert file.stat().st_size > 3 * 2**20
    uri = str(tmp_path / "kb")
    report = shoal.ingest(folder, into=uri, embedder="hash:16", stream_above=100_000, cache=cache)
    chunks = by_source(uri, file)
    assert report.new == [str(file)] and len(chunks) == report.chunks_added > 2000
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert {c.metadata["chunks"] for c in chunks} == {len(chunks)}
    raw = file.read_bytes()
    lines = text.split("\n")
    for chunk in chunks[:: len(chunks) // 50]:
        start, end = chunk.metadata["bytes"]
        assert raw[start:end].decode() == chunk.text and "section" not in chunk.metadata
        first, last = chunk.metadata["lines"]
        assert "\n".join(lines[first - 1 : last]) == chunk.text
    # Chunks never span two sections (which end at paragraph breaks): they are the whole
    # text's chunks but for a few around each section edge, until the packing falls in step.
    whole = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0).split_text(text)
    edges = len(list(iter_documents(file, stream_above=100_000))) - 1
    differ = Counter(whole) - Counter(c.text for c in chunks)
    assert edges >= 2 and sum(differ.values()) <= 12 * edges
    again = shoal.ingest(folder, into=uri, stream_above=100_000, cache=False)
    assert again.unchanged == [str(file)] and not again.wrote


# --- bad input ----------------------------------------------------------------------------


def test_bad_files_are_reported_and_the_rest_is_ingested(
    tmp_path: Path, cache: EmbeddingCache, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "messy"
    folder.mkdir()
    (folder / "good.txt").write_text("A perfectly good file about cats.")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "broken.pdf").write_bytes(broken_pdf())
    (folder / "latin1.txt").write_bytes(
        "Un caf\xe9 cr\xe8me, s'il vous pla\xeet.".encode("latin-1")
    )
    (folder / "empty.md").write_text("")
    (folder / "blank.txt").write_text("   \n\n\t\n")
    (folder / "photo.bmp").write_bytes(b"\x89PNG")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    (folder / "bad.jsonl").write_text('{"text": "ok"}\n{not json}\n')
    uri = str(tmp_path / "kb")
    with caplog.at_level(logging.WARNING):
        report = shoal.ingest(folder, into=uri, embedder="hash:64", cache=cache)
    names = lambda paths: sorted(Path(p).name for p in paths)  # noqa: E731
    assert names(report.new) == ["good.txt", "latin1.txt"]
    assert names(report.empty) == ["blank.txt", "empty.md"]
    # .docx is read now, so a broken one fails (it used to be skipped as unsupported).
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [("photo.bmp", "binary")]
    failed = dict(report.failed)
    assert names(failed) == ["bad.jsonl", "binary.txt", "broken.pdf", "notes.docx"]
    assert "looks binary" in failed[str(folder / "binary.txt")]
    assert "cannot read DOCX" in failed[str(folder / "notes.docx")]
    assert "cannot read PDF" in failed[str(folder / "broken.pdf")]
    assert "line 2 is not valid JSON" in failed[str(folder / "bad.jsonl")]
    assert report.decode_errors == {str(folder / "latin1.txt"): 3}
    [latin] = by_source(uri, folder / "latin1.txt")
    assert latin.text == "Un caf\ufffd cr\ufffdme, s'il vous pla\ufffdt."
    assert latin.metadata["decode_errors"] == 3 and "bytes" not in latin.metadata
    assert "photo.bmp" in caplog.text and "binary.txt" in caplog.text
    assert len(shoal.open(uri)) == 2
    again = shoal.ingest(folder, into=uri, cache=cache)
    assert not again.wrote and names(again.empty) == ["blank.txt", "empty.md"]


def test_decode_errors_are_counted_once_per_file_however_many_chunks(
    tmp_path: Path, cache: EmbeddingCache
) -> None:
    folder = tmp_path / "latin"
    folder.mkdir()
    body = ("Une ligne en fran\xe7ais. " * 30 + "\n\n") * 6  # six paragraphs, one \xe7 each 30x
    (folder / "fr.txt").write_bytes(body.encode("latin-1"))
    for stream_above in (10**9, 1000):
        uri = str(tmp_path / f"kb{stream_above}")
        report = shoal.ingest(
            folder, into=uri, embedder="hash:64", cache=cache, stream_above=stream_above
        )
        assert report.decode_errors == {str(folder / "fr.txt"): 180}
        assert report.chunks_added > 1
        assert all("\ufffd" in r["text"] for r in shoal.open(uri).select(["text"]))


def test_a_file_emptied_since_the_last_ingest_loses_its_chunks(
    docs: Path, tmp_path: Path, cache: EmbeddingCache
) -> None:
    uri = str(tmp_path / "kb")
    shoal.ingest(docs, into=uri, embedder="hash:64", cache=cache)
    target = docs / "doc005.md"
    count = len(by_source(uri, target))
    target.write_text("")
    report = shoal.ingest(docs, into=uri, cache=cache)
    assert report.changed == [str(target)] and report.chunks_removed == count
    assert by_source(uri, target) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"paths": ["nowhere"]}, InvalidInput, "no such file or folder"),
        ({"paths": []}, InvalidInput, "at least one file or folder"),
        ({"batch_size": 0}, InvalidInput, "batch_size must be a positive int"),
        ({"tokens": True}, InvalidInput, "cannot count its tokens"),
        ({"glob": "/abs/*"}, InvalidInput, "glob"),
        ({"chunk_size": 10, "chunk_overlap": 20}, InvalidInput, "chunk_overlap"),
        ({"embedder": "hash:32"}, EmbedderMismatch, "hash:64"),
    ],
)
def test_bad_settings_raise_before_anything_is_written(
    docs: Path, tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    uri = str(tmp_path / "kb")
    shoal.open(uri, embedder="hash:64")
    options: dict[str, Any] = {"paths": [docs], "into": uri, "cache": False, **kwargs}
    with pytest.raises(error, match=message):
        shoal.ingest(options.pop("paths"), **options)
    assert len(shoal.open(uri)) == 0


def test_ingest_into_a_dataset_handle_checks_its_embedder(docs: Path) -> None:
    ds = shoal.open("memory://ingest-handle", embedder="hash:64")
    report = shoal.ingest(docs, into=ds, cache=False)
    assert len(ds) == report.chunks_added > 0
    with pytest.raises(EmbedderMismatch, match=r"leave embedder out .* reembed\('hash:8'\) first"):
        shoal.ingest(docs, into=ds, embedder="hash:8", cache=False)
    assert shoal.ingest(docs, into=ds, embedder=CountingEmbedder(), cache=False).unchanged
    past = ds.checkout(1)
    with pytest.raises(shoal.ReadOnlyDataset, match="read-only"):
        shoal.ingest(docs, into=past, cache=False)
