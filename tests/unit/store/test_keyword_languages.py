"""A dataset's keyword language: chosen or detected at creation, stored, and used by keyword
search, `$match`, hybrid search and the retriever."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal.store as st
from shoal.errors import InvalidInput
from shoal.store import _bm25, _lance

MakeDataset = Callable[..., st.Dataset]

CHINESE = {
    "beijing": "我住在北京市的一个小公寓里。",
    "shanghai": "上海是一个很大的城市。",
    "apples": "我每天早上都喜欢吃苹果。",
}
GERMAN = {
    "houses": "Die alten Häuser stehen am Fluss.",
    "car": "Das Auto ist rot und schnell.",
}


def _open(path: Path, **options: object) -> st.Dataset:
    return st.open(path, embedder="hash:64", **options)  # type: ignore[arg-type]


def _ids(hits: list[st.Hit]) -> list[str]:
    return [hit.id for hit in hits]


def test_a_chinese_query_finds_a_chinese_document_by_a_word_inside_a_longer_run(
    tmp_path: Path,
) -> None:
    ds = _open(tmp_path / "zh", language="chinese")
    ds.add(list(CHINESE.values()), ids=list(CHINESE))
    assert _ids(ds.search("北京", mode="keyword")) == ["beijing"]
    assert _ids(ds.search("苹果", mode="keyword")) == ["apples"]
    assert ds.select(["id"], where={"text": {"$match": "北京"}}) == [{"id": "beijing"}]
    assert _ids(ds.search("北京", mode="hybrid", k=1)) == ["beijing"]
    retriever = ds.as_retriever(mode="keyword", k=1)
    assert [hit.id for hit in retriever.retrieve("上海")] == ["shanghai"]


def test_the_english_analyser_misses_that_word(tmp_path: Path) -> None:
    ds = _open(tmp_path / "en")
    ds.add(list(CHINESE.values()), ids=list(CHINESE))
    assert ds.language == "english"
    assert ds.search("北京", mode="keyword") == []  # the run 我住在北京市的一个小公寓里 is one term


def test_german_stemming_finds_the_plural_by_the_singular(tmp_path: Path) -> None:
    german = _open(tmp_path / "de", language="german")
    english = _open(tmp_path / "en")
    for ds in (german, english):
        ds.add(list(GERMAN.values()), ids=list(GERMAN))
    assert _ids(german.search("Haus", mode="keyword")) == ["houses"]
    assert english.search("Haus", mode="keyword") == []
    assert german.select(["id"], where={"text": {"$match": "alter Haus"}}) == [{"id": "houses"}]


def test_the_language_is_stored_and_survives_reopening(make_dataset: MakeDataset) -> None:
    ds = make_dataset(language="russian")
    ds.add(["Я читаю книги каждый вечер.", "Мы живём в большом городе."], ids=["books", "city"])
    assert ds.language == "russian" and ds.info().language == "russian"
    reopened = make_dataset(embedder=None)
    assert reopened.language == "russian"
    assert _ids(reopened.search("книга", mode="keyword")) == ["books"]
    assert "keyword language: russian" in str(reopened.info())
    with pytest.raises(InvalidInput, match="analyses keywords as russian, not german"):
        make_dataset(embedder=None, language="german")
    assert make_dataset(embedder=None, language="auto").language == "russian"


def test_auto_detects_the_language_from_the_first_rows(make_dataset: MakeDataset) -> None:
    ds = make_dataset(language="auto")
    assert ds.language == "auto"
    ds.add(["Die alten Häuser stehen am Fluss.", "Wir wohnen in einem kleinen Haus."])
    assert ds.language == "german"
    assert ds.log()[-1].message == "keyword language german (detected)"
    assert len(ds.search("Haus", mode="keyword", k=4)) == 2
    ds.add(["The houses are old."])  # later rows change nothing
    assert make_dataset(embedder=None).language == "german"


def test_auto_detects_from_staged_rows_too(tmp_path: Path) -> None:
    ds = _open(tmp_path / "ja", language="auto")
    with ds.staging("import") as stage:
        stage.add(
            ["東京タワーに行きました。", "私は毎日日本語を勉強します。"], ids=["tower", "study"]
        )
    assert ds.language == "japanese"
    assert _ids(ds.search("タワー", mode="keyword")) == ["tower"]
    assert ds.checkout(ds.version - 1).language == "japanese"  # detected from its rows


def test_an_unknown_language_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"no keyword analyser for language 'klingon'.*german"):
        _open(tmp_path / "x", language="klingon")
    assert not (tmp_path / "x").exists()


def test_a_dataset_without_the_setting_is_english(tmp_path: Path) -> None:
    ds = _open(tmp_path / "old")
    ds.add(["Die alten Häuser stehen am Fluss."])
    lance = ds._current()
    kept = {k: v for k, v in lance.schema.metadata.items() if k != _lance.LANGUAGE_KEY.encode()}
    lance.update_schema_metadata({k.decode(): v.decode() for k, v in kept.items()}, replace=True)
    reopened = st.open(tmp_path / "old")
    assert _lance.LANGUAGE_KEY.encode() not in reopened._current().schema.metadata
    assert reopened.language == "english" and reopened.info().language == "english"
    assert "keyword language" not in str(reopened.info())


def test_a_saved_index_of_another_analyser_is_rebuilt(tmp_path: Path) -> None:
    ds = _open(tmp_path / "de", language="german")
    ds.add(list(GERMAN.values()), ids=list(GERMAN))
    ds.wait_for_index()
    file = _bm25.KeywordFile(tmp_path / "de" / "_shoal" / "keyword" / "main")
    manifest = json.loads(file.manifest.read_text())
    assert manifest["analysis"] == "german/1"
    assert file.load(analysis="german/1") is not None
    assert file.load(analysis="english") is None
    index = _bm25.KeywordIndex(file)  # an English index over the same files rebuilds
    index.catch_up(ds._current(), ds._sync().live_rowids())
    assert len(index.search("häuser", 4)[0]) == 1 and len(index.search("haus", 4)[0]) == 0
