"""`shoal export` and `shoal import`: Parquet, JSON lines and CSV out and back in."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_runner import plain, run

import shoal
from shoal.store import Binary

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def kb(tmp_path: Path) -> str:
    uri = str(tmp_path / "kb")
    ds = shoal.open(uri, embedder="hash:16")
    ds.add(
        ["a cat sat on the mat", "dogs bark", "markets fell"],
        ids=["cat", "dog", "stocks"],
        metadatas=[{"topic": "pets", "n": 1}, {"topic": "pets"}, {"topic": "money", "n": 3}],
        columns={"image": Binary([PNG, None, b"\x00"], "image/png")},
    )
    return uri


def _rows(uri: str) -> dict[str, tuple[str, dict[str, object], list[float], object]]:
    ds = shoal.open(uri)
    return {
        r.id: (r.text, r.metadata, r.embedding.tolist(), r.extras.get("image"))
        for r in ds.get(["cat", "dog", "stocks"])
    }


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_export_then_import_gives_the_same_rows(kb: str, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"rows{suffix}"
    done = run("export", kb, "--out", str(out), "--vectors", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["rows"] == 3
    assert summary["columns"] == ["id", "text", "metadata", "embedding", "image"]
    copy = str(tmp_path / f"copy{suffix}")
    # Parquet names the embedder in its schema; JSON lines cannot, so --model says it.
    model = ["--model", "hash:16"] if suffix == ".jsonl" else []
    imported = run("import", str(out), "--into", copy, "--json", *model)
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["rows"] == 3
    assert shoal.open(copy).spec.name == "hash:16"
    assert _rows(copy) == _rows(kb)
    again = run("import", str(out), "--into", copy, "--json")
    assert json.loads(again.stdout)["version"] == json.loads(imported.stdout)["version"]


def test_csv_export_of_chosen_columns_and_import_of_its_fields(kb: str, tmp_path: Path) -> None:
    out = tmp_path / "pets.csv"
    done = run("export", kb, "--out", str(out), "--columns", "id,text,topic,n", "--where",
               '{"topic": "pets"}')  # fmt: skip
    assert done.exit_code == 0, done.output
    assert plain(done.stdout).startswith("exported 2 row(s) of version")
    assert out.read_text().splitlines()[0] == "id,text,topic,n"
    copy = str(tmp_path / "pets")
    assert run("import", str(out), "--into", copy, "--model", "hash:16").exit_code == 0
    rows = {r.id: r.metadata for r in shoal.open(copy).get(["cat", "dog"])}
    assert rows == {"cat": {"topic": "pets", "n": 1}, "dog": {"topic": "pets"}}
    # CSV cells hold text: the binary column stays out by default, and named it is refused.
    whole = run("export", kb, "--out", str(tmp_path / "all.csv"), "--json")
    assert "image" not in json.loads(whole.stdout)["columns"]
    refused = run("export", kb, "--out", str(tmp_path / "img.csv"), "--columns", "id,image")
    assert refused.exit_code == 2 and "write .parquet or .jsonl" in plain(refused.output)


def test_parquet_keeps_the_content_type_and_an_export_reads_one_version(
    kb: str, tmp_path: Path
) -> None:
    out = tmp_path / "rows.parquet"
    version = shoal.open(kb).version
    shoal.open(kb).add(["written after the export's version"])
    assert run("export", kb, "--out", str(out), "--ref", str(version)).exit_code == 0
    schema = pq.read_schema(out)
    assert schema.field("image").metadata == {b"shoal.content_type": b"image/png"}
    assert pq.read_table(out).num_rows == 3


def test_bad_files_are_refused_and_write_nothing(kb: str, tmp_path: Path) -> None:
    version = shoal.open(kb).version
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": oops}\n')
    result = run("import", str(broken), "--into", kb)
    assert result.exit_code == 2 and "line 2 is not JSON" in plain(result.output)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text('text,embedding\nhello,"[1, 2, 3]"\n')
    result = run("import", str(wrong), "--into", kb)
    assert result.exit_code == 2 and "dimension" in plain(result.output)
    untexted = tmp_path / "untexted.jsonl"
    untexted.write_text('{"body": "x"}\n')
    result = run("import", str(untexted), "--into", kb)
    assert result.exit_code == 2 and "--text-column" not in result.output
    assert "no column 'text' for the text" in plain(result.output)
    odd = tmp_path / "rows.txt"
    odd.write_text("x")
    result = run("import", str(odd), "--into", kb)
    assert result.exit_code == 2 and "use .jsonl, .parquet or .csv" in plain(result.output)
    assert shoal.open(kb).version == version and len(shoal.open(kb)) == 3
