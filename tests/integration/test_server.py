"""`shoal serve` as a process and over raw HTTP: health, bad requests answered with the
library's errors (the server staying up after each), loopback only, and a clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from cli_runner import plain, run

import shoal
from server_fixtures import free_port, serve_process
from shoal.errors import DatasetNotFound, InvalidInput, ProviderUnavailable
from shoal.server import _app


def _error(response: httpx.Response) -> tuple[str, str]:
    body = response.json()["error"]
    return body["type"], body["message"]


def test_bad_requests_get_the_library_errors_and_the_server_stays_up(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = httpx.Client(base_url=server_url)
    assert http.get("/health").json() == {"status": "ok"}
    created = http.post("/v1/datasets", json={"name": "raw-http", "embedder": "hash:8"})
    assert created.status_code == 201 and created.json()["result"]["embedder"]["dimensions"] == 8
    call = "/v1/datasets/raw-http"
    cases = [
        (http.post(f"{call}/search", content=b"{not json"), 400, "InvalidInput", "not JSON"),
        (http.post(f"{call}/search", content=b"[1, 2]"), 400, "InvalidInput", "JSON object"),
        (http.post(f"{call}/drop_table", json={}), 400, "InvalidInput", "unknown method"),
        (http.post(f"{call}/search", json={"query": "x", "limit": 3}), 400, "InvalidInput", "'limit'"),
        (http.post(f"{call}/add", json={"texts": ["a"], "embeddings": [[1.0, 2.0]]}), 400,
         "DimensionMismatch", "8"),
        (http.post(f"{call}/search", json={"query": "x", "where": {"text": {"$nope": 1}}}), 400,
         "FilterError", "$nope"),
        (http.post(f"{call}/add", json={"texts": ["a"]}, params={}), 200, None, None),
        (http.post(f"{call}/add", json={"texts": "a"}), 400, "InvalidInput", "texts"),
        (http.post("/v1/datasets/nowhere/search", json={"query": "x"}), 404, "DatasetNotFound",
         "nowhere"),
        (http.post("/v1/datasets", json={"name": "../escape"}), 400, "InvalidInput", "not allowed"),
        (http.post("/v1/datasets", json={"name": "raw-http"}), 400, "InvalidInput", "exists"),
        (http.post(f"{call}/commit", json={"message": "m", "ref": 1}), 400, "InvalidInput", "ref"),
    ]  # fmt: skip
    for response, status, kind, phrase in cases:
        assert response.status_code == status, response.text
        if kind is not None:
            assert _error(response)[0] == kind and phrase in _error(response)[1], response.text
        assert http.get("/health").status_code == 200
    monkeypatch.setattr(_app, "MAX_BODY_BYTES", 1_000)
    huge = http.post(f"{call}/add", json={"texts": ["x" * 2_000]})
    assert huge.status_code == 400 and "MiB" in _error(huge)[1]
    assert http.get("/ready").json()["status"] == "ready"
    client = shoal.connect(server_url)
    assert "raw-http" in client.datasets()
    assert len(client.open("raw-http", create=False)) == 1
    with pytest.raises(DatasetNotFound, match="create=True"):
        client.open("absent", create=False)


def test_an_unreachable_server_is_a_clear_error() -> None:
    client = shoal.connect(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderUnavailable, match="shoal serve"):
        client.datasets()
    with pytest.raises(InvalidInput, match="http://"):
        shoal.connect("127.0.0.1:8000")


def test_shoal_serve_refuses_other_than_loopback(tmp_path: Path) -> None:
    result = run("serve", str(tmp_path), "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "loopback" in plain(result.output) and "127.0.0.1" in plain(result.output)


def test_shoal_serve_runs_datasets_for_clients_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = serve_process(
        tmp_path, port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        client = shoal.connect(f"http://127.0.0.1:{port}")
        ds = client.open("docs", embedder="hash:16")
        vectors = np.eye(16, dtype=np.float32)[:3]
        ds.add(["a", "b", "c"], ids=["a", "b", "c"], embeddings=vectors)
        assert ds.search(vectors[1], k=1)[0].id == "b"
        assert (tmp_path / "docs" / "_versions").is_dir(), "the dataset lives in the folder"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"time"')]
    added = [line for line in lines if line["path"] == "/v1/datasets/docs/add"]
    assert len(added) == 1, "one structured access log line a request"
    assert added[0]["method"] == "POST" and added[0]["status"] == 200
    assert added[0]["client"] == "127.0.0.1" and added[0]["token"] is None
    assert added[0]["ms"] > 0 and added[0]["bytes"] > 0


def test_cors_is_off_unless_origins_are_given(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    origin = "https://app.example.com"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    closed = TestClient(_app.create_app(_app.Datasets([tmp_path])))
    listed = closed.get("/v1/datasets", headers={"Origin": origin})
    assert listed.status_code == 200 and "access-control-allow-origin" not in listed.headers
    assert closed.options("/v1/datasets", headers=preflight).status_code == 405
    opened = TestClient(_app.create_app(_app.Datasets([tmp_path]), cors_origins=[origin]))
    answer = opened.options("/v1/datasets", headers=preflight)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == origin
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    listed = opened.get("/v1/datasets", headers={"Origin": origin})
    assert listed.headers["access-control-allow-origin"] == origin
    other = opened.options("/v1/datasets", headers={**preflight, "Origin": "https://evil.example"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_dataset_commands_run_on_a_server_with_url(
    server_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    added = run("--url", server_url, "add", "cli-remote", "--model", "hash:16",
                "--doc", "The cat is on the mat.", "--doc", "Stocks fell.")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added 2 new row(s) of 2" in added.output
    found = run("--url", server_url, "search", "cli-remote", "The cat is on the mat.", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)[0]["text"] == "The cat is on the mat."
    monkeypatch.setenv("SHOAL_URL", server_url)  # the same through the environment
    assert run("commit", "cli-remote", "-m", "two rows", "--tag", "v1").exit_code == 0
    info = json.loads(run("info", "cli-remote", "--json").output)
    assert info["rows"] == 2 and info["embedder"]["dimensions"] == 16
    log = run("log", "cli-remote", "--json")
    assert "two rows" in log.output
    assert run("add", "cli-remote", "--doc", "A third.").exit_code == 0
    diff = json.loads(run("diff", "cli-remote", "v1", "--json").output)
    assert len(diff["added"]) == 1 and diff["removed"] == []
    old = run("search", "cli-remote", "A third.", "--ref", "v1", "--json")
    assert "A third." not in [h["text"] for h in json.loads(old.output)]
    missing = run("search", "no-such-dataset", "x")
    assert missing.exit_code == 2 and "no-such-dataset" in plain(missing.output)
    found = run("outliers", "cli-remote", "-k", "1", "-c", "0.4", "--json")
    assert found.exit_code == 0, found.output
    outlying = json.loads(found.output)
    assert outlying["rows"] == 3 and len(outlying["outliers"]) == 2, "run on the server"
    drawn = run("map", "cli-remote", "--out", str(tmp_path / "m.html"), "--method", "pca",
                "--ref", "v1")  # fmt: skip
    assert drawn.exit_code == 0 and "wrote 2 point(s)" in drawn.output, drawn.output
    page = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "The cat is on the mat." in page and "A third." not in page, "projected at v1"


def test_the_langchain_vector_store_takes_a_served_dataset(server_url: str) -> None:
    from shoal.integrations.langchain import ShoalVectorStore

    remote = shoal.connect(server_url).open("langchain-remote", embedder="hash:16")
    store = ShoalVectorStore(dataset=remote)
    ids = store.add_texts(["the cat sat", "stocks fell"], metadatas=[{"n": 1}, {"n": 2}])
    assert len(ids) == 2 and len(remote) == 2
    (found,) = store.similarity_search("the cat sat", k=1)
    assert found.page_content == "the cat sat" and found.metadata["n"] == 1
    assert [d.page_content for d in store.get_by_ids(ids[1:])] == ["stocks fell"]
    store.delete(ids=ids[:1])
    assert len(remote) == 1


def test_metrics_and_the_openapi_document(server_url: str) -> None:
    client = shoal.connect(server_url)
    ds = client.open("metered", embedder="hash:8")
    ds.add(["one", "two", "three"])
    ds.search("one", k=1)
    httpx.post(server_url + "/v1/datasets/whatever-name/search", json={})
    text = httpx.get(server_url + "/metrics").text
    assert 'shoal_requests_total{dataset="metered",method="search",status="200"} 1' in text
    assert 'shoal_requests_total{dataset="other",method="search",status="404"}' in text
    assert "whatever-name" not in text, "unknown names do not become labels"
    # The server is shared by the run: other tests' adds are counted too.
    total = re.search(r'shoal_request_seconds_bucket\{method="add",le="\+Inf"\} (\d+)', text)
    count = re.search(r'shoal_request_seconds_count\{method="add"\} (\d+)', text)
    assert total and count and int(total.group(1)) == int(count.group(1)) >= 1
    assert 'shoal_dataset_rows{dataset="metered"} 3' in text
    document = httpx.get(server_url + "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    served = {path for path in document["paths"] if path.startswith("/v1/datasets/{name}/")}
    expected = {f"/v1/datasets/{{name}}/{m}" for m in _app.METHODS}
    expected |= {f"/v1/datasets/{{name}}/analysis/{f}" for f in _app.ANALYSES}
    assert served == expected | {
        "/v1/datasets/{name}/ask",
        "/v1/datasets/{name}/map",
        "/v1/datasets/{name}/rows/{row_id}/{column}",
    }
    for method in ("search", "add", "commit"):  # each documented method answers as described
        answer = httpx.post(f"{server_url}/v1/datasets/metered/{method}", json={})
        documented = document["paths"][f"/v1/datasets/{{name}}/{method}"]["post"]["responses"]
        assert str(answer.status_code) in documented, (method, answer.status_code)


def test_ask_streams_the_answer_and_its_sources(server_url: str) -> None:
    from shoal.errors import FilterError

    ds = shoal.connect(server_url).open("asked", embedder="hash:32")
    ds.add(
        [
            "Michael Jordan was born on February 17, 1963, in Brooklyn.",
            "The Eiffel Tower was finished in 1889.",
        ],
        metadatas=[{"topic": "sport"}, {"topic": "paris"}],
    )
    stream = ds.ask_stream("When was Michael Jordan born?", k=2, mode="hybrid")
    pieces = list(stream)
    assert pieces and stream.answer is not None
    assert "".join(pieces) == stream.answer.text and "1963" in stream.answer.text
    assert stream.answer.sources[0].metadata == {"topic": "sport"}
    answer = ds.ask("When was the Eiffel Tower finished?", k=1, where={"topic": "paris"})
    assert "1889" in answer.text and [s.id for s in answer.sources] == [
        ds.search("Eiffel", k=1, mode="keyword")[0].id
    ]
    raw = httpx.post(f"{server_url}/v1/datasets/asked/ask", json={"question": "Jordan?"})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert "event: piece" in raw.text and "event: answer" in raw.text
    with pytest.raises(FilterError, match=r"\$nope"):
        ds.ask("Jordan?", where={"topic": {"$nope": 1}})
    with pytest.raises(InvalidInput, match="question is empty"):
        ds.ask("  ")
    bad = httpx.post(
        f"{server_url}/v1/datasets/asked/ask", json={"question": "x", "llm": "openai:gpt"}
    )
    assert bad.status_code == 400 and "'llm'" in bad.json()["error"]["message"]
    cli = run("--url", server_url, "ask", "asked", "When was Michael Jordan born?", "--json")
    assert cli.exit_code == 0 and "1963" in json.loads(cli.output)["answer"]


def test_analysis_requests_are_checked(server_url: str) -> None:
    shoal.connect(server_url).open("analysed", embedder="hash:8").add(["a", "b", "c"])
    base = f"{server_url}/v1/datasets/analysed/analysis"
    unknown = httpx.post(f"{base}/cluster_everything", json={})
    assert unknown.status_code == 400 and "unknown analysis" in unknown.text
    extra = httpx.post(f"{base}/outliers", json={"k": 1, "colour": "red"})
    assert extra.status_code == 400 and "'colour'" in extra.text
    missing = httpx.post(f"{base}/recommend", json={})
    assert missing.status_code == 400 and "positive_ids" in missing.text
    ok = httpx.post(f"{base}/outliers", json={"k": 1, "contamination": 0.5})
    assert ok.status_code == 200 and len(ok.json()["result"]["ids"]) >= 1


def test_a_dataset_created_over_http_keeps_its_language(server_url: str) -> None:
    client = shoal.connect(server_url)
    ds = client.open("german-docs", embedder="hash:16", language="german")
    ds.add(["Die alten Häuser stehen am Fluss.", "Das Auto ist rot."])
    assert ds.language == "german" and ds.info().language == "german"
    assert [hit.text for hit in ds.search("Haus", mode="keyword")] == [
        "Die alten Häuser stehen am Fluss."
    ]
    assert client.open("german-docs").language == "german"
    with pytest.raises(InvalidInput, match="analyses keywords as german, not french"):
        client.open("german-docs", language="french")
    with pytest.raises(InvalidInput, match="klingon"):
        client.open("klingon-docs", language="klingon")


def test_exports_and_training_streams_say_to_run_where_the_dataset_lives(
    server_url: str,
) -> None:
    remote = shoal.connect(server_url).open("not-served", embedder="hash:16")
    for method in ("to_arrow", "to_batches", "to_pandas", "to_polars", "to_torch", "to_tf"):
        with pytest.raises(InvalidInput, match=rf"{method} is not served over HTTP.*shoal.open"):
            getattr(remote, method)()
    with pytest.raises(InvalidInput, match="add_table is not served"):
        remote.add_table(object())
