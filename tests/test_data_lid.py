"""Offline language ID: the script-statistics detector, its filter, the fastText filter with a model trained here."""

import pickle

import pytest
from datatrove.data import Document

from hfpretrain.data.lid import (
    FastTextLanguageFilter,
    ScriptLanguageFilter,
    detect_language,
    fasttext_label_to_code,
    script_counts,
)

JA = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
    "何でも薄暗いじめじめした所で泣いていた事だけは記憶している。"
)
JA_STATUTE = "第一条　この法律は、国民の健康の保持に寄与することを目的とする。"
JA_KATAKANA_STYLE = "第一条　本令ハ公布ノ日ヨリ之ヲ施行ス"  # pre-1946 statute style: particles in katakana
ZH = "北京是中华人民共和国的首都，也是全国的政治和文化中心。这座城市有三千多年的历史。"
KO = "대한민국은 동아시아의 한반도 남부에 위치한 민주공화국이다. 수도는 서울특별시이다."
EN = "The quick brown fox jumps over the lazy dog. It was the best of times, and it was the worst of times."
FR = "Le petit chat dort sur le canapé pendant que la pluie tombe doucement sur la ville endormie."
RU = "Москва — столица России, крупнейший по численности населения город страны."
CODE = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
MIXED_JA = "今日はPythonでdatatroveのfilterを書きました。テストも全部通りました。"
MIXED_EN = "The word 寿司 means sushi, and it is one of the most famous dishes of Japan."


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (JA, "ja"),
        (JA_STATUTE, "ja"),
        (JA_KATAKANA_STYLE, "ja"),
        (MIXED_JA, "ja"),
        (ZH, "zh"),
        (KO, "ko"),
        (EN, "en"),
        (MIXED_EN, "en"),
        (FR, "other"),  # Latin script without English function words
        (RU, "other"),
        (CODE, "other"),
        ("Loading...", "other"),
    ],
)
def test_detect_language(text, language):
    detected, score = detect_language(text)
    assert detected == language
    assert 0.5 <= score <= 1.0


def test_scores():
    assert detect_language(JA) == ("ja", 1.0)  # every letter is kana or kanji
    language, score = detect_language(MIXED_JA)
    assert language == "ja" and score < 0.8  # Python, datatrove, filter are Latin letters


@pytest.mark.parametrize("text", ["", "   \n\t", "12345 67890", "！？。、…"])
def test_no_letters(text):
    assert detect_language(text) == ("other", 0.0)


def test_long_text_is_sampled_from_head_middle_and_tail():
    text = EN * 50 + JA * 400  # an English header, then a Japanese body
    assert detect_language(text[:2000])[0] == "en"
    assert detect_language(text)[0] == detect_language(text, max_chars=100_000_000)[0] == "ja"


def test_script_counts():
    counts = script_counts("ひらがなカタカナ漢字。、ABCé１２ 한국\x82")
    assert counts["hiragana"] == 4 and counts["katakana"] == 4 and counts["kanji"] == 2
    assert counts["kuten"] == 1 and counts["toten"] == 1 and counts["hangul"] == 2
    assert counts["latin"] == 3 and counts["latin1_letter"] == 1 and counts["latin1_symbol"] == 1
    assert counts["digit"] == 2 and counts["space"] == 1


DOCS = {"ja": JA, "zh": ZH, "ko": KO, "en": EN, "other": FR, "code": CODE, "empty": ""}


def test_script_filter_keeps_japanese_only_with_reasons():
    lid = ScriptLanguageFilter(languages=["ja"])
    results = {}
    for name, text in DOCS.items():
        doc = Document(text=text, id=name)
        results[name] = lid.filter(doc)
        assert doc.metadata["language"] in {"ja", "zh", "ko", "en", "other"}
        assert 0.0 <= doc.metadata["language_score"] <= 1.0
    assert results == {
        "ja": True,
        "zh": (False, "language_zh"),
        "ko": (False, "language_ko"),
        "en": (False, "language_en"),
        "other": (False, "language_other"),
        "code": (False, "language_other"),
        "empty": (False, "language_other"),
    }


def test_script_filter_metadata_and_low_score():
    doc = Document(text=JA, id="0")
    assert ScriptLanguageFilter().filter(doc) is True
    assert doc.metadata == {"language": "ja", "language_score": 1.0}
    # a third English: Japanese by script, but below a strict score
    text = JA + " The meeting is about the budget."
    assert detect_language(text) == ("ja", pytest.approx(0.7, abs=0.05))
    assert ScriptLanguageFilter(min_score=0.9).filter(Document(text=text, id="1")) == (False, "low_language_score")


def test_script_filter_any_language():
    lid = ScriptLanguageFilter(languages=None, min_score=0.0)
    doc = Document(text=KO, id="0")
    assert lid.filter(doc) is True and doc.metadata["language"] == "ko"


def test_script_filter_counts_reasons_in_a_pipeline():
    lid = ScriptLanguageFilter(["ja"])
    docs = [Document(text=t, id=n) for n, t in DOCS.items()]
    kept = list(lid.run(iter(docs)))
    assert [d.id for d in kept] == ["ja"]
    stats = lid.stats.to_dict()["stats"]
    assert stats["dropped"] == 6 and stats["dropped_language_other"] == 3 and stats["dropped_language_en"] == 1


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("__label__ja", "ja"),
        ("__label__en", "en"),
        ("__label__ceb", "ceb"),
        ("__label__jpn_Jpan", "ja"),
        ("__label__cmn_Hani", "zh"),
        ("__label__kor_Hang", "ko"),
        ("__label__eng_Latn", "en"),
        ("__label__yue_Hani", "yue"),
    ],
)
def test_fasttext_label_mapping(label, code):
    assert fasttext_label_to_code(label) == code


def test_fasttext_missing_model_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="hfpretrain never downloads models") as e:
        FastTextLanguageFilter(model_path=str(tmp_path / "lid.176.bin"))
    assert "fasttext.cc" in str(e.value) and "glotlid" in str(e.value)


@pytest.fixture(scope="module")
def tiny_fasttext_model(tmp_path_factory):
    """A supervised fastText model trained here on a few GlotLID-style labelled lines (no download)."""
    fasttext = pytest.importorskip("fasttext")
    ja = [JA, JA_STATUTE, MIXED_JA, "東京は日本の首都です。", "今日はとても良い天気ですね。", "猫が好きです。"]
    en = [EN, MIXED_EN, "London is the capital of England.", "I like cats and dogs.", "This is a small test."]
    folder = tmp_path_factory.mktemp("fasttext")
    train = folder / "train.txt"
    lines = [f"__label__jpn_Jpan {' '.join(t)}" for t in ja] + [f"__label__eng_Latn {t}" for t in en]
    train.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    model = fasttext.train_supervised(str(train), epoch=20, lr=0.5, dim=16, minn=1, maxn=2, verbose=0, thread=1)
    path = folder / "tiny_lid.bin"
    model.save_model(str(path))
    return str(path)


def test_fasttext_filter_uses_the_model_loaded_lazily(tiny_fasttext_model):
    lid = FastTextLanguageFilter(model_path=tiny_fasttext_model, languages=["ja"])
    assert lid._model is None  # nothing loaded before the first document
    pickle.loads(pickle.dumps(lid))  # the step travels to workers as a path
    ja, en = Document(text=" ".join(JA), id="ja"), Document(text=EN, id="en")
    assert lid.filter(ja) is True
    assert ja.metadata["language"] == "ja" and 0.5 <= ja.metadata["language_score"] <= 1.0
    assert lid.filter(en) == (False, "language_en") and en.metadata["language"] == "en"
    assert lid._model is not None
    assert pickle.loads(pickle.dumps(lid))._model is None  # a loaded model is never pickled
    assert lid.filter(Document(text="  \n ", id="empty")) == (False, "language_other")
    strict = FastTextLanguageFilter(model_path=tiny_fasttext_model, languages=["ja"], min_score=1.01)
    assert strict.filter(Document(text=" ".join(JA), id="ja")) == (False, "low_language_score")
