"""PII removal: hand-written positives and look-alikes per kind, switches, placeholders, the datatrove formatter."""

import pytest
from datatrove.data import Document

from hfpretrain.data.pii import (
    DEFAULT_PLACEHOLDERS,
    PII_KINDS,
    PIIFormatter,
    PIIMatch,
    find_pii,
    luhn_valid,
    my_number_valid,
    redact_pii,
)


def found(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(m.kind, m.value) for m in find_pii(text, **kwargs)]


# (text, kind, the exact string to be found)
POSITIVES = [
    # email
    ("連絡先はhanako@example.com", "email", "hanako@example.com"),
    ("お問い合わせ：info.1548@example.com まで", "email", "info.1548@example.com"),
    ("Write to john.doe+news@mail.example.org.", "email", "john.doe+news@mail.example.org"),
    ("担当：user2576@example.jp）", "email", "user2576@example.jp"),
    ("メールはinfo＠example.jpへ", "email", "info＠example.jp"),
    ("TEL/MAIL: 山田 <taro@example.co.jp>", "email", "山田 <taro@example.co.jp>"),
    ("From: Taro Yamada <taro@example.com>", "email", "Taro Yamada <taro@example.com>"),
    ("これは私のメールアドレスです山田 <a@example.jp>", "email", "<a@example.jp>"),  # a sentence is no name
    # ip (public by default)
    ("接続元 8.8.8.8 から", "ip", "8.8.8.8"),
    ("from 188.102.128.236.", "ip", "188.102.128.236"),
    ("IPv6は2001:4860:4860::8888です", "ip", "2001:4860:4860::8888"),
    # phone
    ("電話03-1234-5678まで", "phone", "03-1234-5678"),
    ("06(1234)5678", "phone", "06(1234)5678"),
    ("(03)1234-5678", "phone", "(03)1234-5678"),
    ("代表 0123-45-6789", "phone", "0123-45-6789"),
    ("携帯090-1234-5678", "phone", "090-1234-5678"),
    ("080-1234-5678", "phone", "080-1234-5678"),
    ("070-1234-5678", "phone", "070-1234-5678"),
    ("携帯：09012345678", "phone", "09012345678"),
    ("IP電話 050-1234-5678", "phone", "050-1234-5678"),
    ("フリーダイヤル0120-123-456", "phone", "0120-123-456"),
    ("0800-123-4567", "phone", "0800-123-4567"),
    ("Call +81-3-1234-5678 now", "phone", "+81-3-1234-5678"),
    ("Call +81 90 1234 5678 now", "phone", "+81 90 1234 5678"),
    ("電話：０３－１２３４－５６７８", "phone", "０３－１２３４－５６７８"),
    ("電話：０３ー１２３４ー５６７８", "phone", "０３ー１２３４ー５６７８"),
    ("電話：03−1234−5678", "phone", "03−1234−5678"),
    ("担当：佐藤（（０６）０１４６－１４３５）", "phone", "（０６）０１４６－１４３５"),
    ("TEL:03-0123-4567", "phone", "03-0123-4567"),  # unassigned subscriber number: found by format
    ("TEL.03-1234-5678", "phone", "03-1234-5678"),
    ("+81-3-0190-4376", "phone", "+81-3-0190-4376"),
    # postal code, and the address up to its house number
    ("〒100-0001", "postal_code", "〒100-0001"),
    ("〒１００－０００１", "postal_code", "〒１００－０００１"),
    ("〒 100-0001", "postal_code", "〒 100-0001"),
    ("連絡先 〒100-0056 東京都千代田区架空町7-17-7 まで", "postal_code", "〒100-0056 東京都千代田区架空町7-17-7"),
    ("（〒100-0001東京都千代田区千代田一丁目1番1号）", "postal_code", "〒100-0001東京都千代田区千代田一丁目1番1号"),
    # card (Luhn-valid test numbers)
    ("カード番号 4111 1111 1111 1111 で", "card", "4111 1111 1111 1111"),
    ("card 4111-1111-1111-1111", "card", "4111-1111-1111-1111"),
    ("カード4111111111111111", "card", "4111111111111111"),
    ("Amex 3782 822463 10005", "card", "3782 822463 10005"),
    ("JCB 3530111333300000", "card", "3530111333300000"),
    # my_number (valid check digit)
    ("マイナンバー：1234 5678 9018", "my_number", "1234 5678 9018"),
    ("個人番号 1234-5678-9018 を記入", "my_number", "1234-5678-9018"),
    ("番号123456789018です", "my_number", "123456789018"),
    ("０２３４５６７８９０１３", "my_number", "０２３４５６７８９０１３"),
    # Shift_JIS read as Latin-1: `（` became `\x81i`, the `i` is not a letter glued to the number
    ("\x92S\x93\x96\x81F\x8d²\x93¡\x81i090-0554-8358\x81j", "phone", "090-0554-8358"),
]


@pytest.mark.parametrize("text,kind,value", POSITIVES)
def test_positive(text, kind, value):
    assert found(text) == [(kind, value)]


NO_PII = [
    # dates, times, statutes
    "2024-12-04",
    "2024/12/04",
    "令和6年12月4日",
    "12:30:45",
    "第三十三条第二項の規定により、第3条を準用する。",
    "第三十四条　法第百四十四条第一項の場合において、沖縄失保法の規定による被保険者期間として計算された一月は、",
    "２　０３条の規定は、昭和五十三年政令第百六十七号による。",
    # version numbers look like IPv4 addresses
    "v1.2.3.4",
    "version 10.0.0.1",
    "バージョン1.2.3.4",
    "Python 3.11.7.1",
    "Firefox 2.0.0.16",
    "settings.css?ver=2.1.0.2",
    "本文の8.2.4.1項に対して",
    "1.2.3.4.5",
    # book numbers, prices
    "ISBN978-4-00-310101-8",
    "978-4-10-101001-2",
    "ISBN 4-00-310101-8",
    "1,234,567円",
    "¥12,800",
    "価格は123456789018円",
    # phone-like digits in code and identifiers
    "id=09012345678abc",
    "SN-090-1234-5678-X",
    "0x0312345678",
    "deadbeef09012345678",
    "a3f0_09012345678",
    "/posts/2395361813834269",
    # digit runs that are no phone, card or My Number
    "12345678901234567890",
    "0123456789",
    "0312345678",  # a 10-digit landline run together is too ambiguous
    "03-1234-567",
    "4111111111111112",  # Luhn fails
    "23242526272829",  # Luhn passes, but no card network issues 14-digit numbers starting with 23
    "1234 5678 9012",  # check digit fails
    "1234 5678 9018 2345",  # a 16-digit number, not a My Number inside it
    "4111 1111 1111 1111 2",  # space-grouped numbers next to more digits are left alone
    "〒なし 100-0001",
    # IPs nobody owns: private, loopback, documentation
    "192.168.0.1 と 10.0.0.1 と 127.0.0.1 と 203.0.113.5 と fe80::1",
    # colons that are no IPv6
    "std::vector<int> v; a[::2]; 12:30:45",
    # emails that are not
    "@username さんへ",
    "icon@2x.png",
]


@pytest.mark.parametrize("text", NO_PII)
def test_no_false_positive(text):
    assert find_pii(text) == []
    assert redact_pii(text) == (text, {})


def test_my_number_check_digit():
    # 総務省令第八十五号 第五条: remainders 0 and 1 give a check digit of 0
    assert my_number_valid("123456789018")
    assert my_number_valid("023456789013")
    assert my_number_valid("123456789000")
    assert not any(my_number_valid(f"12345678901{d}") for d in "0123456789" if d != "8")


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_public_ips_only():
    text = "a 8.8.8.8 b 10.0.0.1 c 203.0.113.7 d 2001:db8::1 e 2001:4860:4860::8888"
    assert [m.value for m in find_pii(text)] == ["8.8.8.8", "2001:4860:4860::8888"]
    assert [m.value for m in find_pii(text, public_ips_only=False)] == [
        "8.8.8.8",
        "10.0.0.1",
        "203.0.113.7",
        "2001:db8::1",
        "2001:4860:4860::8888",
    ]
    # a version number stays a version number even when all addresses are removed
    assert find_pii("version 10.0.0.1", public_ips_only=False) == []


MIXED = "山田 <taro@example.jp> 8.8.8.8 090-1234-5678 〒100-0001、4111 1111 1111 1111、1234 5678 9018"


def test_redact_all_kinds_with_default_placeholders():
    text, counts = redact_pii(MIXED)
    assert text == "<EMAIL> <IP> <PHONE> <POSTAL_CODE>、<CARD>、<MY_NUMBER>"
    assert counts == dict.fromkeys(PII_KINDS, 1)


def test_matches_are_sorted_spans_of_the_text():
    matches = find_pii(MIXED)
    assert [m.kind for m in matches] == list(PII_KINDS)
    for m in matches:
        assert isinstance(m, PIIMatch) and MIXED[m.start : m.end] == m.value


def test_kinds_can_be_switched_off():
    text, counts = redact_pii(MIXED, kinds=("phone", "card"))
    assert text == "山田 <taro@example.jp> 8.8.8.8 <PHONE> 〒100-0001、<CARD>、1234 5678 9018"
    assert counts == {"phone": 1, "card": 1}
    assert redact_pii(MIXED, kinds=()) == (MIXED, {})


def test_placeholders_are_configurable():
    text, _ = redact_pii("mail: a@example.com tel: 03-1234-5678", placeholders={"email": "[メール]"})
    assert text == "mail: [メール] tel: <PHONE>"


def test_unknown_kinds_fail_loudly():
    with pytest.raises(ValueError, match="unknown PII kinds"):
        find_pii("x", kinds=("emails",))
    with pytest.raises(ValueError, match="unknown PII kinds"):
        PIIFormatter(placeholders={"phone_number": "<TEL>"})


def test_text_without_pii_is_returned_unchanged():
    text = "吾輩は猫である。名前はまだ無い。2024年12月4日、第3条。"
    out, counts = redact_pii(text)
    assert out is text and counts == {}


def test_formatter_counts_per_kind():
    docs = [
        Document(text="連絡先はhanako@example.comまたは090-1234-5678まで。", id="a"),
        Document(text="吾輩は猫である。", id="b"),
        Document(text="taro@example.jp, jiro@example.jp, 〒100-0001", id="c"),
    ]
    formatter = PIIFormatter(placeholders={"email": "<MAIL>"})
    out = list(formatter.run(iter(docs)))
    assert [d.text for d in out] == [
        "連絡先は<MAIL>または<PHONE>まで。",
        "吾輩は猫である。",
        "<MAIL>, <MAIL>, <POSTAL_CODE>",
    ]
    assert out[0].metadata["pii"] == {"email": 1, "phone": 1}
    assert "pii" not in out[1].metadata
    assert out[2].metadata["pii"] == {"email": 2, "postal_code": 1}
    stats = formatter.stats.stats
    assert stats["total"].total == 3
    assert stats["pii_email"].total == 3
    assert stats["pii_phone"].total == 1
    assert stats["pii_postal_code"].total == 1
    assert "pii_card" not in stats


def test_formatter_format_and_switches():
    formatter = PIIFormatter(kinds=("ip",), public_ips_only=False)
    assert formatter.format("10.0.0.1 a@example.com") == "<IP> a@example.com"
    assert PIIFormatter().placeholders == DEFAULT_PLACEHOLDERS
