"""2-D maps: the projection, colouring by a field, the PNG and HTML files, and `shoal map`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import shoal.store as st
from shoal.analysis import map_dataset, map_vectors, project, project_dataset
from shoal.analysis._map_page import MISSING, OTHER, Coloring, script_json
from shoal.cli import app
from shoal.errors import InvalidInput, MissingDependency, NonFiniteValues

HOSTILE = "</script><script>alert(1)</script> & <!-- \u2028 '\"` ${x} <img src=x onerror=alert(2)>"
GROUPS = ("cats", "dogs", "fish")


def planted(rows: int = 200, dims: int = 384, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters far apart along one random direction, plus isotropic noise; and the labels."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dims)
    direction /= np.linalg.norm(direction)
    labels = np.arange(rows) % 2
    vectors = rng.normal(size=(rows, dims)) + np.outer(labels * 2 - 1, direction) * 10
    return vectors.astype(np.float32), labels


@pytest.fixture
def ds() -> st.Dataset:
    dataset = st.open(f"memory://map-{uuid.uuid4().hex}", embedder="hash:64")
    texts = [f"row {i} is about {GROUPS[i % 3]}" for i in range(60)] + [HOSTILE]
    metadatas = [{"group": GROUPS[i % 3], "score": i / 2} for i in range(60)] + [{}]
    dataset.add(texts, metadatas=metadatas)
    return dataset


def page_data(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="shoal-data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


# ------------------------------------------------------------------------------ projection
def test_pca_gives_one_point_per_row_the_same_each_time() -> None:
    vectors, _ = planted(50, 16)
    first = project(vectors, method="pca")
    assert first.shape == (50, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, project(vectors.copy(), method="pca"))
    np.testing.assert_allclose(first, project(vectors.astype(np.float64), method="pca"), atol=1e-4)


def test_pca_recovers_two_planted_clusters() -> None:
    vectors, labels = planted(400, 384)
    xy = project(vectors, method="pca")
    # The clusters lie on opposite sides of 0 on the first axis, far apart.
    first = xy[:, 0]
    assert (np.sign(first[labels == 1]) == -np.sign(first[labels == 0][0])).all()
    assert (np.sign(first[labels == 0]) == np.sign(first[labels == 0][0])).all()
    gap = abs(first[labels == 1].mean() - first[labels == 0].mean())
    assert gap > 5 * first[labels == 0].std()


@pytest.mark.parametrize("shape", [(300, 24), (12, 40)])
def test_pca_matches_a_full_svd(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=shape) * np.linspace(5, 0.5, shape[1])
    centred = vectors - vectors.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    reference = u[:, :2] * s[:2]
    xy = project(vectors, method="pca")
    for axis in range(2):  # equal up to the sign of each axis
        assert abs(np.corrcoef(xy[:, axis], reference[:, axis])[0, 1]) > 0.9999
    wide = project(vectors, method="pca", dimensions=6)  # what hdbscan clusters in
    np.testing.assert_allclose(wide[:, :2], xy, atol=1e-4)
    for axis in range(6):
        expected = u[:, axis] * s[axis]
        assert abs(np.corrcoef(wide[:, axis], expected)[0, 1]) > 0.999


def test_projection_dimensions_are_checked() -> None:
    with pytest.raises(InvalidInput, match="dimensions"):
        project(np.ones((5, 3)), method="pca", dimensions=0)
    assert project(np.arange(4.0)[:, None], method="pca", dimensions=3).shape == (4, 3)


def test_pca_of_identical_or_single_rows_is_flat() -> None:
    np.testing.assert_array_equal(project(np.ones((5, 3)), method="pca"), np.zeros((5, 2)))
    assert project(np.ones((1, 3)), method="pca").shape == (1, 2)
    assert project(np.arange(4.0)[:, None], method="pca").shape == (4, 2)


def test_projection_refuses_unusable_input() -> None:
    with pytest.raises(InvalidInput, match="2-D"):
        project(np.ones(5))
    with pytest.raises(NonFiniteValues):
        project(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(InvalidInput, match="method"):
        project(np.ones((3, 2)), method="tsne")  # type: ignore[arg-type]


def test_umap_needs_umap_learn_and_auto_falls_back_to_pca(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, _ = planted(40, 8)
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap now raises ImportError
    with pytest.raises(MissingDependency, match=r"shoal\[map\]"):
        project(vectors, method="umap")
    np.testing.assert_array_equal(project(vectors), project(vectors, method="pca"))
    assert map_vectors(vectors).method == "pca"


def test_umap_refuses_too_few_rows() -> None:
    with pytest.raises(InvalidInput, match="pca"):
        project(np.ones((5, 3)), method="umap")


@pytest.mark.slow
def test_umap_separates_planted_clusters() -> None:
    pytest.importorskip("umap", reason="umap-learn is optional: pip install 'shoal[map]'")
    vectors, labels = planted(300, 32)
    xy = project(vectors, method="umap", seed=3)
    assert xy.shape == (300, 2)
    centres = np.stack([xy[labels == k].mean(axis=0) for k in (0, 1)])
    spread = max(np.linalg.norm(xy[labels == k] - centres[k], axis=1).max() for k in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > spread


def test_umap_is_imported_without_tensorflow_and_its_parametric_module_still_imports() -> None:
    pytest.importorskip("umap", reason="umap-learn is optional: pip install 'shoal[map]'")
    script = (
        "import sys\n"
        "from shoal.analysis._projection import _import_umap\n"
        "umap = _import_umap()\n"
        "print(umap.UMAP.__module__, 'tensorflow' in sys.modules, 'torch' in sys.modules)\n"
        "import umap.parametric_umap\n"
        "print('umap.parametric_umap' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["umap.umap_", "False", "False", "True"]


# -------------------------------------------------------------------------------- colours
def test_categories_are_ordered_by_count_with_missing_last() -> None:
    coloring = Coloring.of("lang", ["en", "de", None, "en", True, {"a": 1}, "en", "de"])
    assert coloring.kind == "category"
    assert coloring.labels == ("en", "de", "true", '{"a": 1}', MISSING)  # ties by name
    assert coloring.codes.tolist() == [0, 1, 4, 0, 2, 3, 0, 1]
    assert coloring.value_of(2) is None and coloring.value_of(4) == "true"
    assert coloring.colors()[-1] == "#b0b0b0" and len(set(coloring.colors()[:-1])) == 4


def test_many_categories_keep_the_commonest_and_group_the_rest() -> None:
    values = [f"tag{i}" for i in range(30)] + ["tag0", "tag1"]
    coloring = Coloring.of("tag", values)
    assert len(coloring.labels) == 18 and coloring.labels[-1] == OTHER
    assert coloring.labels[:2] == ("tag0", "tag1")
    assert (coloring.codes == 17).sum() == 32 - 2 * 2 - 15


def test_numbers_are_a_scale_with_nan_for_missing() -> None:
    coloring = Coloring.of("year", [2001, 1999.5, None, 2020])
    assert coloring.kind == "number"
    np.testing.assert_array_equal(coloring.values, [2001, 1999.5, np.nan, 2020])
    assert coloring.value_of(2) is None and coloring.value_of(0) == 2001.0


def test_a_field_no_row_has_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="'nope'"):
        Coloring.of("nope", [None, None])


# ---------------------------------------------------------------------------- datasets
def test_dataset_map_places_each_stored_vector(ds: st.Dataset, tmp_path: Path) -> None:
    chart = map_dataset(ds, out=tmp_path / "map.html", method="pca")
    assert len(chart) == chart.rows == 61
    assert sorted(chart.ids) == sorted(row["id"] for row in ds.select(["id"]))
    records = {r.id: r for r in ds.get(chart.ids)}
    vectors = np.stack([records[i].embedding for i in chart.ids])
    np.testing.assert_allclose(chart.xy, project(vectors, method="pca"), atol=1e-5)
    assert chart.texts == [records[i].text for i in chart.ids]


def test_colour_by_category_number_and_a_missing_value(ds: st.Dataset, tmp_path: Path) -> None:
    by_group = map_dataset(ds, out=tmp_path / "g.html", color_by="group", method="pca")
    assert by_group.coloring is not None and by_group.coloring.labels == (*GROUPS, MISSING)
    hostile = by_group.ids[by_group.texts.index(HOSTILE)]
    data = page_data((tmp_path / "g.html").read_text(encoding="utf-8"))
    assert data["labels"] == [*GROUPS, MISSING]
    assert data["codes"][data["ids"].index(hostile)] == 3  # type: ignore[attr-defined, index]
    by_score = map_dataset(ds, out=tmp_path / "s.html", color_by="score", method="pca")
    assert by_score.coloring is not None and by_score.coloring.kind == "number"
    data = page_data((tmp_path / "s.html").read_text(encoding="utf-8"))
    assert (data["low"], data["high"]) == (0.0, 29.5)
    assert data["values"][data["ids"].index(hostile)] is None  # type: ignore[attr-defined, index]


def test_colour_by_an_unknown_field_is_an_error(ds: st.Dataset, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="'colour'"):
        map_dataset(ds, out=tmp_path / "m.html", color_by="colour")
    assert not (tmp_path / "m.html").exists()


def test_where_and_max_points_choose_the_rows(ds: st.Dataset, tmp_path: Path) -> None:
    cats = map_dataset(ds, out=tmp_path / "c.html", where={"group": "cats"}, color_by="group")
    assert len(cats) == cats.rows == 20 and all("cats" in text for text in cats.texts)
    sample = map_dataset(ds, out=tmp_path / "s.html", max_points=25, seed=4, method="pca")
    again = map_dataset(ds, out=tmp_path / "t.html", max_points=25, seed=4, method="pca")
    assert (len(sample), sample.rows) == (25, 61) and sample.ids == again.ids
    assert len(set(sample.ids)) == 25
    with pytest.raises(InvalidInput, match="no rows"):
        map_dataset(ds, out=tmp_path / "none.html", where={"group": "birds"})


def test_the_output_suffix_picks_the_format(ds: st.Dataset, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"\.html.*\.png"):
        map_dataset(ds, out=tmp_path / "map.svg")
    assert not (tmp_path / "map.svg").exists()
    map_dataset(ds, out=tmp_path / "MAP.PNG", method="pca", width=400, height=300)
    assert png_size(tmp_path / "MAP.PNG") == (400, 300)


# --------------------------------------------------------------------------------- files
@pytest.mark.parametrize("color_by", [None, "group", "score"])
def test_png_has_the_requested_size(ds: st.Dataset, tmp_path: Path, color_by: str | None) -> None:
    out = tmp_path / "map.png"
    map_dataset(ds, out=out, color_by=color_by, method="pca", width=800, height=600)
    assert png_size(out) == (800, 600)
    assert out.stat().st_size > 5000  # points and a legend, not an empty canvas


def test_png_needs_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    chart = map_vectors(np.eye(4), method="pca")
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[map\]'"):
        chart.write_png(tmp_path / "m.png")
    with pytest.raises(InvalidInput, match="pixels"):
        chart.write_png(tmp_path / "m.png", width=10)


def test_hostile_text_stays_data(tmp_path: Path) -> None:
    texts = [HOSTILE, "plain", "x" * 1000]
    chart = map_vectors(
        np.eye(3), texts=texts, ids=["<a>", "b", "c"], colors=[HOSTILE, 1, None], title=HOSTILE
    )
    page = chart.write_html(tmp_path / "m.html").read_text(encoding="utf-8")
    head, body = page.split('id="shoal-data">')
    assert "<title>&lt;/script&gt;&lt;script&gt;alert(1)" in head
    # The only </script> tags are the page's own: one closes the data, one the script.
    assert page.count("</script>") == 2 and "<img" not in page and "\u2028" not in body
    data = page_data(page)
    assert data["texts"][:2] == texts[:2] and data["ids"] == ["<a>", "b", "c"]  # type: ignore[index]
    assert data["texts"][2] == "x" * 280 + "…"  # type: ignore[index]
    assert data["labels"] == ["1", HOSTILE, MISSING] and data["title"] == HOSTILE


def test_the_page_script_is_allowed_by_hash_and_nothing_else(tmp_path: Path) -> None:
    page = map_vectors(np.eye(3)).write_html(tmp_path / "m.html").read_text(encoding="utf-8")
    policy = re.search(r'Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert len(scripts) == 1 and f"'sha256-{digest}'" in policy.group(1)
    assert "http://" not in page and "https://" not in page


def test_script_json_escapes_what_would_end_the_script() -> None:
    text = script_json({"t": "</script>&<!--\u2028\u2029"})
    assert re.search(r"[<>&\u2028\u2029]", text) is None
    assert json.loads(text) == {"t": "</script>&<!--\u2028\u2029"}


def test_map_vectors_checks_its_arguments() -> None:
    with pytest.raises(InvalidInput, match="texts has 1 items for 2"):
        map_vectors(np.eye(2), texts=["a"])
    with pytest.raises(InvalidInput, match="2-D"):
        map_vectors(np.ones(3))
    with pytest.raises(InvalidInput, match="no rows"):
        map_vectors(np.zeros((0, 3)))
    with pytest.raises(InvalidInput, match="max_points"):
        map_vectors(np.eye(2), max_points=0)


# ------------------------------------------------------------------------- command line
def shoal_map(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["map", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_writes_html_and_png(tmp_path: Path) -> None:
    uri = str(tmp_path / "kb")
    st.open(uri, embedder="hash:32").add(
        [f"text {i}" for i in range(30)],
        metadatas=[{"lang": ["en", "de"][i % 2]} for i in range(30)],
    )
    code, out, err = shoal_map(
        uri, "--out", str(tmp_path / "m.html"), "--color-by", "lang", "--method", "pca"
    )
    assert code == 0, err
    assert out.strip() == f"wrote 30 point(s), PCA, to {tmp_path / 'm.html'}"
    assert page_data((tmp_path / "m.html").read_text(encoding="utf-8"))["labels"] == ["de", "en"]
    png = tmp_path / "m.png"
    code, out, err = shoal_map(
        uri, "-o", str(png), "--where", '{"lang": "en"}', "--max-points", "10", "--method", "pca",
        "--width", "300", "--height", "200",
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 10 point(s) (a sample of 15 rows), PCA" in out and png_size(png) == (300, 200)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "m.svg"], ".html (interactive) or .png"),
        (["--out", "m.html", "--method", "tsne"], "--method must be one of"),
        (["--out", "m.html", "--where", "{"], "--where is not valid JSON"),
        (["--out", "m.html", "--color-by", "nope"], "'nope'"),
    ],
)
def test_cli_errors_say_what_to_do(tmp_path: Path, args: list[str], message: str) -> None:
    uri = str(tmp_path / "kb")
    st.open(uri, embedder="hash:32").add(["a", "b", "c"])
    code, _, err = shoal_map(uri, *[str(tmp_path / a) if a.startswith("m.") else a for a in args])
    assert code == 2 and message in " ".join(err.split())


def test_a_map_of_images_carries_small_thumbnails(tmp_path: Path) -> None:
    import io

    from PIL import Image

    ds = st.open(tmp_path / "images", embedder="hash:32")
    pictures = []
    for shade in range(5):
        out = io.BytesIO()
        Image.new("RGB", (400, 100), (shade * 50, 0, 0)).save(out, format="PNG")
        pictures.append(out.getvalue())
    pictures[4] = b"not an image at all"
    ds.add(
        [f"image {i}" for i in range(5)],
        ids=[f"i{i}" for i in range(5)],
        columns={"thumbnail": st.Binary(pictures, content_type="image/png")},
    )
    chart = project_dataset(ds, method="pca", thumbnails=3)
    assert chart.thumbnails is not None and len(chart.thumbnails) == 5
    by_id = dict(zip(chart.ids, chart.thumbnails, strict=True))
    shown = [uri for uri in chart.thumbnails[:3] if uri]
    assert all(uri.startswith("data:image/jpeg;base64,") for uri in shown)
    assert chart.thumbnails[3:] == ["", ""], "only the first 3 points"
    if "i4" in chart.ids[:3]:
        assert by_id["i4"] == "", "bytes that are no image show no picture"
    first = next(uri for uri in shown)
    with Image.open(io.BytesIO(base64.b64decode(first.split(",", 1)[1]))) as small:
        assert small.size == (96, 24)
    page = chart.write_html(tmp_path / "map.html").read_text(encoding="utf-8")
    assert '"thumbs":["data:image/jpeg;base64,' in page
    assert project_dataset(ds, method="pca", thumbnails=0).thumbnails is None
    with pytest.raises(InvalidInput, match="thumbnails"):
        project_dataset(ds, thumbnails=-1)


def test_a_map_of_texts_has_no_thumbnails(tmp_path: Path) -> None:
    ds = st.open(tmp_path / "texts", embedder="hash:32")
    ds.add(["one", "two", "three"])
    chart = project_dataset(ds, method="pca")
    assert chart.thumbnails is None
    assert '"thumbs"' not in chart.write_html(tmp_path / "m.html").read_text(encoding="utf-8")
