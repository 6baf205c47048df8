"""TextCleaner: every repair and drop, with its counted reason."""

import unicodedata

from datatrove.data import Document

from hfpretrain.data.clean import TextCleaner
from hfpretrain.text_sources import SourceStats

JAPANESE = (
    "担当：佐藤（4111 1111 1111 1111）\n炭水化物（たんすいかぶつ）は、単糖を構成成分とする有機化合物の総称である。"
)


def clean(text, **kwargs):
    counts = SourceStats()
    return TextCleaner(**kwargs).clean(text, counts), dict(counts.repaired)


def test_line_separators_become_newlines():
    text, counts = clean("a\r\nb\rc\u2028d\u2029e\x85f\x0bg\x0ch")
    assert text == "a\nb\nc\nd\ne\nf\ng\nh" and counts == {"newlines": 1}


def test_control_characters_nul_noncharacters_and_surrogates():
    text, counts = clean("x\x07y\x1bz\x00w\ufdd0v\ud800u\tt")
    assert text == "xyzwv\ufffdu\tt"
    assert counts == {"control_characters": 1, "nul_or_noncharacter": 1, "lone_surrogate": 1}


def test_nfc():
    text, counts = clean(unicodedata.normalize("NFD", "ガギグ café"))
    assert text == "ガギグ café" and counts == {"nfc": 1}


def test_shift_jis_read_as_latin1_is_repaired():
    garbled = JAPANESE.encode("cp932").decode("latin-1")
    text, counts = clean(garbled)
    assert text == JAPANESE and counts == {"mojibake": 1}


def test_utf8_read_as_cp1252_is_repaired_and_real_accents_are_kept():
    text, counts = clean("The cafÃ© menu â€” Ã©tÃ©")
    assert text == "The café menu — été" and counts == {"mojibake": 1}
    for good in ("naïve café über straße", "Ωmega «quotes» — “double” 1·2", "吾輩は猫である。"):
        assert clean(good) == (good, {})


def test_long_lines_are_wrapped_and_long_documents_truncated():
    text, counts = clean("a" * 25 + "\nb", max_line_chars=10)
    assert text.split("\n") == ["a" * 10, "a" * 10, "a" * 5, "b"] and counts == {"wrapped_line": 1}
    text, counts = clean(("x" * 9 + "\n") * 10, max_doc_chars=55)
    assert text == ("x" * 9 + "\n") * 5 and counts == {"truncated_document": 1}


def test_filter_drops_empty_and_garbled_documents_with_reasons():
    cleaner = TextCleaner()
    assert cleaner.filter(Document(text="\x00\x07  ", id="1")) == (False, "empty")
    garbled = Document(text="Ã" * 3 + "â€" * 20 + " still garbled ÃƒÂ©" * 5, id="2")
    assert cleaner.filter(garbled) == (False, "mojibake")
    good = Document(text=JAPANESE.encode("cp932").decode("latin-1"), id="3")
    assert cleaner.filter(good) is True and good.text == JAPANESE
    assert cleaner.stats["repaired_mojibake"].total == 2  # the garbled one was partly repaired, then dropped
