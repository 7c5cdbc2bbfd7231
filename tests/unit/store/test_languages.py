"""Keyword analysers per language: what each makes of a text, and detecting the language."""

from __future__ import annotations

import pytest

from shoal.errors import InvalidInput
from shoal.store import LANGUAGES, Tokenizer
from shoal.store._languages import Analyzer, analyzer, check_language, detect_language

FIXED = (
    "The U.S.A. city's 1,000 houses were built in 3.1.3 — naïve Café, 北京市 and Müller's Häuser"
)


def test_english_is_the_analyser_it_always_was() -> None:
    english = analyzer("english")
    assert isinstance(english, Tokenizer)
    # The terms the English analyser gave this text before languages existed, verbatim
    # (a changed term would change every English dataset's index and scores).
    assert english(FIXED) == [
        "u.s.a", "citi", "1,000", "hous", "were", "built", "3.1.3", "naïv", "café",
        "北京市", "müller", "häuser",
    ]  # fmt: skip


def test_chinese_runs_become_bigrams_so_a_word_inside_a_run_matches() -> None:
    chinese = Analyzer("chinese")
    document = chinese("我住在北京市的一个小公寓里。")
    assert "北京" in document  # "Beijing" inside the run 我住在北京市的...
    assert chinese("北京") == ["北京"]
    assert chinese("猫") == ["猫"]  # a lone character stays a unigram
    assert chinese("我 和 你") == ["我", "和", "你"]


def test_mixed_script_text_is_analysed_run_by_run() -> None:
    german = Analyzer("german")
    assert german("Häuser in 北京市 sind alt") == ["haus", "in", "北京", "京市", "sind", "alt"]
    assert Analyzer("chinese")("我用Python写代码") == ["我用", "python", "写代", "代码"]


def test_german_plurals_share_a_stem() -> None:
    german = Analyzer("german")
    assert german("Häuser") == german("Haus") == german("Hauses") == ["haus"]
    assert german("Straße") == german("STRASSE")  # case folding: ß is ss
    # Stop words stay (BM25's idf weighs them), unless asked to go.
    assert german("Das ist ein Haus") == ["das", "ist", "ein", "haus"]
    assert Analyzer("german", stop_words=True)("Das ist ein Haus und kein Heim") == ["haus", "heim"]


def test_japanese_kana_and_kanji_runs_become_bigrams() -> None:
    japanese = Analyzer("japanese")
    terms = japanese("東京タワーに行きました")
    assert {"東京", "タワ", "ワー", "行き"} <= set(terms)
    # NFKC: full-width Latin and half-width katakana read as their usual forms.
    assert japanese("ＡＢＣ ｶﾀｶﾅ") == ["abc", "カタ", "タカ", "カナ"]


def test_korean_hangul_becomes_bigrams() -> None:
    assert Analyzer("korean")("한국어를 공부합니다")[:3] == ["한국", "국어", "어를"]


def test_arabic_words_keep_their_vowel_marks_and_are_stemmed() -> None:
    arabic = Analyzer("arabic")
    # Written vowels are marks that \\w does not match: the English analyser splits the
    # word at each; here they stay inside it and the stemmer drops them.
    assert arabic("كَتَبَ") == arabic("كتب") == ["كتب"]
    assert analyzer("english")("كَتَبَ") == ["ك", "ت", "ب"]
    # "the book", "and the books", "with the book": one stem per word.
    assert arabic("الكتاب بالكتاب") == ["كتاب", "كتاب"]
    assert Analyzer("arabic", stop_words=True)("في البيت") == ["بيت"]  # "in" is a stop word


def test_russian_inflections_share_a_stem() -> None:
    russian = Analyzer("russian")
    assert russian("книги книгой книга") == ["книг"] * 3
    assert russian("Ёлка") == russian("елка")
    assert Analyzer("russian", stop_words=True)("Я не знаю") == ["зна"]


def test_french_elided_articles_are_dropped() -> None:
    assert Analyzer("french")("L'homme d'affaires") == ["homm", "affair"]


def test_thai_is_split_without_a_dictionary() -> None:
    thai = Analyzer("thai")
    school = thai("โรงเรียน")  # "school": its cluster bigrams
    assert set(school) <= set(thai("ฉันไปโรงเรียนทุกวัน"))
    assert "ฉัน" in thai("ฉันไป")  # a vowel mark stays with its consonant


def test_unigrams_can_be_added_for_one_character_queries() -> None:
    assert Analyzer("chinese", cjk_unigrams=True)("我的猫") == ["我", "我的", "的", "的猫", "猫"]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["我们试试看！", "我该去睡觉了。"], "chinese"),
        (["東京に行きました。", "私は学生です。"], "japanese"),
        (["한국어를 공부합니다."], "korean"),
        (["Tom und Maria wollen nicht mehr mit uns singen."], "german"),
        (["Je ne sais pas ce que tu veux dire."], "french"),
        (["No sé lo que quieres decir con eso."], "spanish"),
        (["Я не знаю, что ты хочешь сказать."], "russian"),
        (["لا أعرف ماذا تريد أن تقول."], "arabic"),
        (["ฉันไปโรงเรียนทุกวัน"], "thai"),
        (["I don't know what you mean by that."], "english"),
        (["12345 !!!"], "english"),
        ([], "english"),
    ],
)
def test_detects_the_language_of_a_few_sentences(texts: list[str], expected: str) -> None:
    assert detect_language(texts) == expected


def test_an_unknown_language_is_invalid_input_naming_the_supported_ones() -> None:
    with pytest.raises(InvalidInput, match=r"klingon.*german.*japanese.*'auto'"):
        check_language("klingon")
    assert check_language("auto") == "auto"
    assert all(check_language(name) == name for name in LANGUAGES)
    assert all(analyzer(name)("Hello world") for name in LANGUAGES)
