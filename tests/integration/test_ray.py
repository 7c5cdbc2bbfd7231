"""`shoal.distributed` on a local Ray cluster (2 CPUs, loopback): the same rows as the
single-process `shoal ingest`, on local disk and on S3 (moto); one version per job; a rerun
adds nothing; a worker killed with SIGKILL mid-job leaves the dataset as it was, and the
rerun finishes the job without embedding again what was written.

One cluster serves the whole module: Ray takes seconds to start.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_runner import plain, run

import shoal
import shoal.distributed as sd
from fakes.embedders import StallingEmbedder
from shoal.analysis import cluster as cluster_rows
from shoal.analysis import near_duplicates
from shoal.embeddings import EmbeddingCache
from shoal.errors import InvalidInput, MissingDependency, WorkerFailed
from store_fixtures import S3Settings

ray = pytest.importorskip("ray")

MODEL = "hash:64"
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster(_session_environment: None) -> Iterator[None]:
    """A local Ray cluster for the module: 2 CPUs, no dashboard; workers import shoal and
    the tests' fakes (their embedders travel to the workers by reference)."""
    src = str(Path(shoal.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([src, str(TESTS), *([old] if old else [])])
    if ray.is_initialized():  # a cluster an earlier test file of this process started
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def _corpus(folder: Path, count: int, *, start: int = 0) -> Path:
    """`count` small Markdown and text files, some of two chunks at chunk_size 200."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(start, start + count):
        body = " ".join(f"word{n} topic{n % 5} sentence {i}." for i in range(3 + n % 9))
        if n % 2:
            (folder / f"note{n:03d}.md").write_text(f"# Note {n}\n\n{body}\n\n## More\n\n{body}\n")
        else:
            (folder / f"page{n:03d}.txt").write_text(f"Page {n}.\n\n{body}\n")
    return folder


def _rows(ds: shoal.Dataset) -> list[dict[str, Any]]:
    rows = ds.get([row["id"] for row in ds.select(["id"])])
    return sorted(
        ({"id": r.id, "text": r.text, "metadata": r.metadata, "vector": r.embedding} for r in rows),
        key=lambda row: row["id"],
    )


def _same_rows(a: shoal.Dataset, b: shoal.Dataset, *, cosine: float = 0.99999) -> None:
    """Row for row: ids, texts and metadata equal; vectors within float tolerance."""
    left, right = _rows(a), _rows(b)
    assert [(r["id"], r["text"], r["metadata"]) for r in left] == [
        (r["id"], r["text"], r["metadata"]) for r in right
    ]
    x = np.stack([r["vector"] for r in left])
    y = np.stack([r["vector"] for r in right])
    similarity = (x * y).sum(axis=1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    assert similarity.min() >= cosine, similarity.min()


def test_local_ingest_equals_the_single_process_one_and_a_rerun_adds_nothing(
    cluster: None, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs", 24)
    (docs / "empty.txt").write_text("   \n")
    (docs / "photo.bmp").write_bytes(b"\x89PNG\r\n")
    options: dict[str, Any] = {"embedder": MODEL, "chunk_size": 200, "cache": False}
    single = shoal.ingest([docs], into=tmp_path / "single", **options)
    report = sd.ingest([docs], into=tmp_path / "ray", num_workers=2, files_per_batch=5, **options)
    assert report.committed and report.created
    assert report.chunks_added == single.chunks_added > 24
    assert sorted(report.new) == sorted(single.new) and report.empty == single.empty
    assert [s.path for s in report.skipped] == [s.path for s in single.skipped]
    assert report.embedded == single.chunks_added and report.batches == 5
    ds = shoal.open(tmp_path / "ray")
    # One version for the job (the first holds the new dataset's settings).
    assert [entry.message for entry in ds.log()][-1].startswith(
        f"ingest {docs} on Ray (2 workers): 25 file(s): 24 new, 1 empty"
    )
    assert len(ds.log()) == len(shoal.open(tmp_path / "single").log())
    _same_rows(ds, shoal.open(tmp_path / "single"))
    assert ds.search("word7 topic2", k=1)[0].metadata["source"] == str(docs / "note007.md")

    again = sd.ingest([docs], into=tmp_path / "ray", num_workers=2, **options)
    assert not again.committed and again.chunks_added == 0 and again.embedded == 0
    assert len(again.unchanged) == 24 and again.version == ds.version


@pytest.mark.slow
def test_changed_and_deleted_files_are_replaced_like_the_single_process_ingest(
    cluster: None, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs", 8)
    options: dict[str, Any] = {"embedder": MODEL, "chunk_size": 200, "cache": False}
    for into in ("single", "ray"):
        shoal.ingest([docs], into=tmp_path / into, **options)
    (docs / "note003.md").write_text("# Note 3\n\nRewritten from scratch.\n")
    (docs / "page004.txt").unlink()
    single = shoal.ingest([docs], into=tmp_path / "single", sync=True, **options)
    report = sd.ingest([docs], into=tmp_path / "ray", sync=True, num_workers=2, **options)
    assert report.changed == single.changed == [str(docs / "note003.md")]
    assert report.removed == single.removed == [str(docs / "page004.txt")]
    assert report.chunks_removed == single.chunks_removed > 0
    _same_rows(shoal.open(tmp_path / "ray"), shoal.open(tmp_path / "single"))


@pytest.mark.slow
def test_s3_ingest_equals_the_single_process_one(
    cluster: None, tmp_path: Path, s3_server: S3Settings
) -> None:
    docs = _corpus(tmp_path / "docs", 12)
    storage = s3_server.storage_options()
    options: dict[str, Any] = {"embedder": MODEL, "chunk_size": 200, "cache": False}
    single_uri, ray_uri = s3_server.fresh_uri(), s3_server.fresh_uri()
    shoal.ingest([docs], into=single_uri, storage_options=storage, **options)
    report = sd.ingest(
        [docs], into=ray_uri, storage_options=storage, num_workers=2, files_per_batch=4, **options
    )
    assert report.committed and report.chunks_added > 12
    opened = shoal.open(ray_uri, storage_options=storage)
    _same_rows(opened, shoal.open(single_uri, storage_options=storage))
    again = sd.ingest([docs], into=ray_uri, storage_options=storage, num_workers=2, **options)
    assert again.chunks_added == 0 and not again.committed
    assert shoal.open(ray_uri, storage_options=storage).version == opened.version


def _kill_when_stalled(
    folder: Path, killed: list[int], staged: Path | None = None
) -> threading.Thread:
    """A thread that SIGKILLs the worker process whose pid appears in `folder`/pid (once
    the driver has recorded a staged batch in `staged`, when given: on a loaded machine the
    driver may not have taken the finished batches yet when the worker stalls)."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (folder / "pid").exists():
            time.sleep(0.05)
        while staged is not None and time.monotonic() < deadline:
            if any(staged.glob("*.json")):
                break
            time.sleep(0.05)
        if (folder / "pid").exists():
            pid = int((folder / "pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_worker_killed_mid_job_leaves_the_dataset_as_it_was_and_a_rerun_finishes(
    cluster: None, tmp_path: Path
) -> None:
    docs = _corpus(tmp_path / "docs", 6)
    options: dict[str, Any] = {"chunk_size": 200, "cache": False}
    sd.ingest([docs], into=tmp_path / "ray", embedder=MODEL, num_workers=2, **options)
    before = shoal.open(tmp_path / "ray")
    version, rows = before.version, len(before)
    _corpus(docs, 30, start=6)  # 30 more files, 10 batches of 3
    stall = tmp_path / "stall"
    stall.mkdir()
    killed: list[int] = []
    watcher = _kill_when_stalled(stall, killed, tmp_path / "ray" / "_shoal" / "staged" / "main")
    with pytest.raises(WorkerFailed, match=r"nothing was committed .* run the same ingest again"):
        sd.ingest(
            [docs],
            into=tmp_path / "ray",
            embedder=StallingEmbedder(str(stall), stall_at=3),
            num_workers=2,
            files_per_batch=3,
            max_retries=0,
            **options,
        )
    watcher.join(timeout=5)
    assert killed, "no worker stalled"
    after = shoal.open(tmp_path / "ray")
    assert (after.version, len(after)) == (version, rows)  # readers saw none of the job

    rerun = sd.ingest([docs], into=tmp_path / "ray", embedder=MODEL, num_workers=2, **options)
    single = shoal.ingest([docs], into=tmp_path / "single", embedder=MODEL, **options)
    # The batches written before the kill were adopted, not embedded again.
    assert rerun.chunks_added == single.chunks_added - rows
    assert 0 < rerun.embedded < rerun.chunks_added
    final = shoal.open(tmp_path / "ray")
    assert final.version == version + 1
    _same_rows(final, shoal.open(tmp_path / "single"))


@pytest.mark.slow
def test_a_rerun_on_s3_finds_the_written_vectors_in_the_embedding_cache(
    cluster: None, tmp_path: Path, s3_server: S3Settings
) -> None:
    docs = _corpus(tmp_path / "docs", 18)
    storage = s3_server.storage_options()
    uri = s3_server.fresh_uri()
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    stall = tmp_path / "stall"
    stall.mkdir()
    killed: list[int] = []
    watcher = _kill_when_stalled(stall, killed)
    with pytest.raises(WorkerFailed):
        sd.ingest(
            [docs],
            into=uri,
            storage_options=storage,
            embedder=StallingEmbedder(str(stall), stall_at=2),
            num_workers=2,
            files_per_batch=3,
            max_retries=0,
            cache=cache,
            chunk_size=200,
        )
    watcher.join(timeout=5)
    assert killed
    assert len(shoal.open(uri, storage_options=storage)) == 0
    rerun = sd.ingest(
        [docs], into=uri, storage_options=storage, embedder=MODEL, cache=cache, chunk_size=200
    )
    assert rerun.cached > 0 and rerun.embedded + rerun.cached == rerun.chunks_added
    single = shoal.ingest([docs], into=tmp_path / "single", embedder=MODEL, chunk_size=200)
    _same_rows(shoal.open(uri, storage_options=storage), shoal.open(tmp_path / "single"))
    assert single.chunks_added == rerun.chunks_added


@pytest.mark.slow
def test_minilm_rows_equal_the_single_process_ingest(cluster: None, tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs", 10)
    model = "local:all-MiniLM-L6-v2"
    shoal.ingest([docs], into=tmp_path / "single", embedder=model, cache=False)
    report = sd.ingest([docs], into=tmp_path / "ray", embedder=model, cache=False, num_workers=2)
    assert report.embedded == report.chunks_added == 10
    # int8 kernels quantise each batch's activations: other batches, slightly other vectors.
    _same_rows(shoal.open(tmp_path / "ray"), shoal.open(tmp_path / "single"), cosine=0.99)


@pytest.mark.slow
def test_cli_ingest_on_ray(cluster: None, tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs", 6)
    uri = str(tmp_path / "kb")
    args = ("ingest", str(docs), "--into", uri, "-m", MODEL, "--no-cache")
    result = run(*args, "--ray", "local", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert f"ingested into {uri}: 6 file(s): 6 new; +6 -0 chunks" in plain(result.stdout)
    again = run(*args, "--ray", "local")
    assert again.exit_code == 0, again.output
    assert "6 unchanged; +0 -0 chunks" in plain(again.stdout)
    single = run("ingest", str(docs), "--into", str(tmp_path / "single"), "-m", MODEL)
    assert single.exit_code == 0, single.output
    _same_rows(shoal.open(uri), shoal.open(tmp_path / "single"))


def _three_fragments(uri: Path, model: str = MODEL) -> shoal.Dataset:
    """A dataset of 30 rows written by three adds (three data files, so three work items)."""
    ds = shoal.open(uri, embedder=model)
    for part in range(3):
        texts = [f"row {part}-{i} about topic {i % 3}" for i in range(10)]
        ds.add(texts, metadatas=[{"part": part, "i": i} for i in range(10)])
    return ds


def test_reembed_on_ray_equals_the_single_process_one(cluster: None, tmp_path: Path) -> None:
    single, distributed = _three_fragments(tmp_path / "single"), _three_fragments(tmp_path / "ray")
    for ds in (single, distributed):  # rows deleted inside a data file: the ranges skip them
        ds.delete(where={"i": {"$in": [2, 3, 7]}, "part": {"$in": [0, 2]}})
    version = distributed.version
    expected = single.reembed("hash:48", cache=False)
    # Batches of 4 rows: 2 workers take ranges of 4 rows of the three data files.
    report = sd.reembed(
        tmp_path / "ray", embedder="hash:48", num_workers=2, batch_size=4, cache=False
    )
    assert report.committed and report.version == version + 1 and report.rows == 24
    assert (report.embedded, report.cached) == (expected.embedded, expected.cached) == (24, 0)
    opened = shoal.open(tmp_path / "ray")
    assert opened.spec.name == "hash:48" and opened.log()[-1].message == (
        f"reembed 24 rows with hash:48 (was {MODEL})"
    )
    _same_rows(opened, shoal.open(tmp_path / "single"))
    assert opened.checkout(version).spec.name == MODEL  # the version before keeps its own
    again = sd.reembed(tmp_path / "ray", embedder="hash:48")
    assert not again.committed and shoal.open(tmp_path / "ray").version == version + 1
    cli = run("reembed", str(tmp_path / "ray"), "-m", "hash:24", "--ray", "local", "--no-cache")
    assert cli.exit_code == 0, cli.output
    assert "re-embedded 24 row(s) with hash:24 (was hash:48, 48-d -> 24-d)" in plain(cli.stdout)
    with pytest.raises(InvalidInput, match="in-memory dataset"):
        sd.reembed(_three_fragments_in_memory(), embedder="hash:48")


def _three_fragments_in_memory() -> shoal.Dataset:
    ds = shoal.open("memory://ray-reembed", embedder=MODEL)
    ds.add(["one row"])
    return ds


def test_embed_table_appends_each_rows_vector(cluster: None) -> None:
    rows = [{"text": f"sentence {i} of the table", "n": i} for i in range(12)]
    frame = sd.embed_table(rows, embedder=MODEL, num_workers=2, batch_size=5, cache=False)
    done = sorted(frame.take_all(), key=lambda row: row["n"])
    expected = shoal.embedder(MODEL).embed_documents([row["text"] for row in rows])
    assert [row["n"] for row in done] == list(range(12))
    assert isinstance(done[0]["embedding"], np.ndarray) and done[0]["embedding"].shape == (64,)
    vectors = np.stack([np.asarray(row["embedding"], dtype=np.float32) for row in done])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    with pytest.raises(InvalidInput, match="no column 'body'"):
        sd.embed_table(rows, embedder=MODEL, column="body")
    with pytest.raises(InvalidInput, match="embeds no images"):
        sd.embed_table([{"text": b"\x89PNG"}], embedder=MODEL)


def test_bad_settings_are_refused_before_anything_is_written(cluster: None, tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs", 2)
    with pytest.raises(InvalidInput, match=r"in-memory dataset .* folder or an s3:// URI"):
        sd.ingest([docs], into="memory://scratch", embedder=MODEL)
    for name, value in (("num_workers", 0), ("files_per_batch", -1), ("max_retries", True)):
        with pytest.raises(InvalidInput, match=f"{name} must be an int"):
            sd.ingest([docs], into=tmp_path / "kb", embedder=MODEL, **{name: value})
    with pytest.raises(InvalidInput, match=r"embeds images.*without --ray"):
        sd.ingest([docs], into=tmp_path / "kb", embedder="phash:v1")
    assert not (tmp_path / "kb").exists()
    result = run("ingest", str(docs), "--into", str(tmp_path / "kb"), "--workers", "2")
    assert result.exit_code != 0
    assert "--workers takes effect with --ray" in plain(result.output)


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.integrations.ray._cluster import connect

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[ray\]'"):
        connect(None)


def test_neighbors_and_near_duplicates_equal_the_single_process_ones(
    cluster: None, tmp_path: Path
) -> None:
    ds = shoal.open(tmp_path / "kb", embedder=MODEL)
    texts = [f"item {n} about {n % 7} and {n % 11} with tag{n % 13}" for n in range(300)]
    texts += ["Item 5 about 5 and 5 with  TAG5", "item 17 about 3 and 6 with tag4 again"]
    ds.add(texts)
    ds.delete(ids=[ds.select(["id"], limit=1, offset=40)[0]["id"]])  # a deleted row is skipped
    single = ds.neighbors(k=5)
    graph = sd.neighbors(tmp_path / "kb", k=5, num_workers=2)
    assert graph.ids == single.ids and graph.metric == single.metric
    np.testing.assert_allclose(graph.scores, single.scores, atol=1e-5)
    # Equal scores may come in any order, and the k-th place may go to any of a tie: the
    # neighbours that score above each row's k-th score are the same rows.
    last = single.scores[:, -1] + 1e-5
    for row in range(len(single)):
        above = graph.scores[row] > last[row]
        assert set(graph.indices[row][above]) == set(
            single.indices[row][single.scores[row] > last[row]]
        )
    assert (graph.indices != np.arange(len(single))[:, None]).all()  # never itself
    expected = near_duplicates(ds, threshold=0.8)
    assert expected  # the planted copies
    assert sd.near_duplicates(ds, threshold=0.8, num_workers=2) == expected
    with pytest.raises(InvalidInput, match="k must be an int"):
        sd.neighbors(ds, k=0)
    with pytest.raises(InvalidInput, match="in-memory dataset"):
        sd.neighbors(shoal.open("memory://graph", embedder=MODEL), k=2)


def test_clusters_equal_the_single_process_ones(cluster: None, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 16)).astype(np.float32) * 5
    vectors = np.concatenate([centres[i] + rng.normal(size=(40, 16)) for i in range(3)])
    texts = [f"row {n} of group {n // 40}" for n in range(120)]
    for name in ("single", "ray"):
        shoal.open(tmp_path / name, embedder="hash:16").add(texts, embeddings=vectors)
    expected = cluster_rows(shoal.open(tmp_path / "single"), n_clusters=3, seed=1)
    found = sd.cluster(tmp_path / "ray", n_clusters=3, seed=1, num_workers=2)
    assert found.labels == expected.labels
    assert len(found.clusters) == 3 and sum(c.size for c in found.clusters) == 120
    reopened = shoal.open(tmp_path / "ray")
    assert reopened.get([reopened.select(["id"], limit=1)[0]["id"]])[0].metadata["cluster"] in {
        0,
        1,
        2,
    }
    assert reopened.log()[-1].message == "cluster: kmeans labels in metadata 'cluster'"
    with pytest.raises(InvalidInput, match="more than the 120 rows"):
        sd.cluster(tmp_path / "ray", n_clusters=500)
