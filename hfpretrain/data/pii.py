"""PII removal for Japanese and English text: find personal data and replace it with placeholders.

What is detected (each a `kind`; every kind can be switched off and its placeholder changed):

- ``email``: ``local@domain.tld``, also glued to kana/kanji (``連絡先はhanako@example.com``; datatrove's own regex
  starts with ``\\b``, which does not fire between kanji and an ASCII letter) and with a full-width ``＠``. Example
  domains are redacted too: they stand in for real ones in test data. In the display form ``山田 <taro@example.jp>``
  the display name (one token, two capitalised words or a quoted string) and the angle brackets go with it.
- ``ip``: IPv4 and IPv6 addresses, validated with :mod:`ipaddress`; by default only globally routable ones
  (private, loopback and documentation addresses identify nobody). Dotted version numbers are left alone by
  context: ``v1.2.3.4``, ``version 10.0.0.1``, ``バージョン1.2.3.4``, ``Python 3.11.7.1``.
- ``phone``: Japanese numbers by format, not by assignment (test data uses unassigned ones such as
  ``03-0123-4567``): landlines ``03-1234-5678``, ``(03)1234-5678``, ``06(1234)5678``; mobiles and IP phones
  ``090-1234-5678``, ``09012345678``, ``050-…``; toll-free ``0120-123-456``, ``0800-123-4567``; ``+81-3-1234-5678``,
  ``+81 90 1234 5678``; full-width digits, brackets and hyphens (``－``, ``ー``, ``−``). The national number must
  have 10 digits, or 11 with a mobile/IP/0800 prefix. Run together without separators, only the 11-digit
  (mobile/IP/0800) and 0120/0570 forms count: a bare 10-digit landline is indistinguishable from other codes.
- ``postal_code``: ``〒100-0001`` (also full-width, with a space after 〒, or without the hyphen) plus the
  address that follows it on the same line, up to and including its house number (``東京都千代田区千代田1-1``,
  ``…一丁目2番3号`` is cut after the last arabic digit group); an address is never extended past a space or
  punctuation, and without a house number within 40 characters only the code is replaced.
- ``card``: 13-19 digit payment card numbers, run together or in groups (4-4-4-4[-3], Amex 4-6-5, Diners
  4-6-4), whose first digits and length fit a card network (Visa, Mastercard, Amex, Diners, Discover, JCB,
  UnionPay issuer ranges, ISO/IEC 7812) and with a valid Luhn check digit (ISO/IEC 7812-1 Annex B).
- ``my_number``: Japan's 12-digit Individual Number (個人番号), run together or as 4-4-4 groups, with a valid check
  digit: 11 - (Σ Pn×Qn mod 11) over the other 11 digits (Pn: n-th digit from the right, Qn = n+1 for n ≤ 6,
  n-5 for n ≥ 7; 0 when the remainder is ≤ 1), 総務省令第八十五号 第五条 (the formula of 番号法施行令 第八条).

Digits glued to ASCII letters or underscores (``id=09012345678abc``, ``0x0312345678``, ``SN-090-1234-5678-X``,
``ISBN978-…``), parts of longer digit runs, numbers after 第/¥/ISBN and numbers followed by a unit (円, 年, 号, 条,
…) are never phone, card or My Number matches. A letter right after a C1 control character is not counted as glued:
it is half of a Shift_JIS character read as Latin-1 (mojibake), and the number next to it is still found.

Speed: all patterns are compiled once at import and start with a character class (look-behinds come after it), so
`re` jumps between candidate characters; each kind first checks for a character it cannot do without (``@``,
``.``/``:``, ``〒``, a digit), so most documents skip most patterns. Measured on one core: ~140 MB/s on e-Gov
statutes, ~75 MB/s on Japanese Wikipedia, ~20 MB/s on English web text.
"""

import ipaddress
import re
from collections import Counter
from collections.abc import Collection, Mapping
from typing import NamedTuple

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.formatters.base import BaseFormatter
from datatrove.utils.typeshelper import StatHints

PII_KINDS = ("email", "ip", "phone", "postal_code", "card", "my_number")
DEFAULT_PLACEHOLDERS = {
    "email": "<EMAIL>",
    "ip": "<IP>",
    "phone": "<PHONE>",
    "postal_code": "<POSTAL_CODE>",
    "card": "<CARD>",
    "my_number": "<MY_NUMBER>",
}


class PIIMatch(NamedTuple):
    """One piece of personal data: `text[start:end] == value`."""

    kind: str
    start: int
    end: int
    value: str


# ---------------------------------------------------------------------------------------------------------------
# Character classes. Japanese text writes numbers with full-width digits and many hyphen look-alikes.

_D = "[0-9０-９]"
_HYPHENS = "\\-－ー−‐‑–—―ｰ"  # hyphen-minus, full-width, katakana prolonged mark, minus, hyphens, dashes
_H = f"[{_HYPHENS}]"
_SP = "[ \u3000]"  # a space inside a number: ASCII or ideographic, never a line break
_ALNUM = "0-9A-Za-z_０-９Ａ-Ｚａ-ｚ"
# A digit-based match must not continue a word or a number: not glued to a letter/digit, not after `x.` / `1,`
# (decimals, thousands), not after `SN-` or `id=` or `/posts/` (identifiers, URLs); not followed by a letter/digit,
# `.5` / `,000` or `-X`. A match grouped with spaces must not have a space and another digit on either side either
# (`4111 1111 1111` of a card number): checked in `_number_context_ok`, so that `03-1234-5678 03-1234-5679` still
# gives two numbers.
# An ASCII letter right after a C1 control character (U+0080-U+009F) is not a word: it is the second byte of a
# Shift_JIS character decoded as Latin-1 (mojibake: `（` becomes `\x81i`, `：` becomes `\x81F`).
# The look-behinds are written to run after the first character has been matched (`.` stands for it): a pattern
# that starts with a character class lets `re` skip ahead to candidate characters, ~8x faster than one that
# starts with look-behinds tried at every position.
_NUM_START_AFTER_FIRST = (
    "(?<![0-9_０-９Ａ-Ｚａ-ｚ].)(?<![^\x80-\x9f][A-Za-z].)(?<!^[A-Za-z].)"
    f"(?<!{_D}[.,．，/／].)(?<![{_ALNUM}][{_HYPHENS}/=?&#%].)"
)
_NUM_END = f"(?![{_ALNUM}])(?![.,．，/／]?{_D})(?!{_H}[{_ALNUM}])"


def _number_pattern(first: str, rest: str) -> re.Pattern:
    """A number starting with the character class `first`, continued by `rest`, that is not part of a word or
    a longer number."""
    return re.compile(first + _NUM_START_AFTER_FIRST + rest + _NUM_END)


_DIGIT_SPACE = re.compile(f"{_D}{_SP}")
_SPACE_DIGIT = re.compile(f"{_SP}{_D}")
_TO_ASCII_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_NON_DIGITS = re.compile(r"[^0-9０-９]")
_HAS_DIGIT = re.compile(_D)

# Numbers right after these are article numbers, prices or book numbers; right before these, counts or dates.
_NUM_BLOCKED_BEFORE = re.compile(r"(?:ISBN|ISSN|第|[¥￥$＄])[ \u3000:：\-]?$", re.IGNORECASE)
_NUM_BLOCKED_AFTER = frozenset("円年月日時分秒号条項款目節章版件人個回番倍％%")


def _digits(s: str) -> str:
    return _NON_DIGITS.sub("", s).translate(_TO_ASCII_DIGITS)


def _number_context_ok(text: str, start: int, end: int) -> bool:
    if end < len(text) and text[end] in _NUM_BLOCKED_AFTER:
        return False
    if _NUM_BLOCKED_BEFORE.search(text, max(0, start - 6), start):
        return False
    value = text[start:end]
    if " " not in value and "\u3000" not in value:
        return True
    return not (_DIGIT_SPACE.fullmatch(text, max(0, start - 2), start) or _SPACE_DIGIT.match(text, end))


# ---------------------------------------------------------------------------------------------------------------
# email

_LOCAL_CHARS = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-"
_EMAIL = re.compile(
    f"(?<![{_LOCAL_CHARS}.])"
    f"[{_LOCAL_CHARS}]+(?:\\.[{_LOCAL_CHARS}]+)*"
    "[@＠]"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])"
)
# `Name <addr>`: the name is a quoted string, two capitalised words, or one whole token: up to 20 ASCII letters or
# up to 8 other characters (a Japanese name is written without a space: 山田太郎, or 山田 alone; a longer token is
# a sentence, which is left alone). Searched right-anchored before the `<`.
_NAME_STOP = "\\s<>\"'()（）「」『』【】:：;；,，、。"
_DISPLAY_NAME = re.compile(
    f'(?:"[^"\\n]{{1,64}}"|[A-Z][a-z]+ [A-Z][a-z]+|(?<![^{_NAME_STOP}])(?:[A-Za-z.\\-]{{1,20}}|[^{_NAME_STOP}]{{1,8}}))'
    "[ \u3000]?$"
)


# `icon@2x.png` is an image at twice the resolution, not an address: none of these is a top-level domain.
_FILE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js"})


# Scanning for emails starts from each `@`: matching `_EMAIL` at every word of an English text is 10x slower.
_AT = re.compile("[@＠]")
_LOCAL_PART = re.compile(f"[{_LOCAL_CHARS}.]{{1,64}}$")  # RFC 5321: a local part has at most 64 characters


def _find_emails(text: str):
    if "@" not in text and "＠" not in text:
        return
    end = 0
    for at in _AT.finditer(text):
        if at.start() < end:
            continue
        local = _LOCAL_PART.search(text, max(end, at.start() - 64), at.start())
        m = local and _EMAIL.match(text, local.end() - len(local.group().lstrip(".")))
        if not m:
            continue
        start, end = m.span()
        if m.group().rsplit(".", 1)[1].lower() in _FILE_EXTENSIONS:
            continue
        if start > 0 and end < len(text) and text[start - 1] in "<＜" and text[end] in ">＞":
            start, end = start - 1, end + 1
            name = _DISPLAY_NAME.search(text, max(0, start - 70), start)
            if name:
                start = name.start()
        yield "email", start, end


# ---------------------------------------------------------------------------------------------------------------
# ip

# Dotted quads not inside a word or a longer dotted number; ipaddress rejects octets above 255 and leading zeros.
_IPV4 = re.compile(r"[0-9](?<![0-9A-Za-z_.].)[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9A-Za-z_]|\.[0-9])")
# A loose candidate (hex groups and colons, optionally ending in an IPv4), validated by ipaddress.
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?![0-9A-Za-z_:])"
)
# A dotted quad after these is a version number, not an address (`v1.2.3.4` is excluded by the letter before it).
_VERSION_BEFORE = re.compile(
    r"(?:§|section|sec\.|version|ver\.?|rev\.?|release|build|firmware|python|java|ruby|perl|php|node(?:\.js)?"
    r"|windows|macos|ios|android|linux|kernel|firefox|chrome|safari|seamonkey|thunderbird|wordpress|wp"
    r"|バージョン|ヴァージョン|リリース|ビルド|ファームウェア)[ \u3000:：=]*$",
    re.IGNORECASE,
)


def _find_ips(text: str, public_only: bool):
    if "." in text:
        for m in _IPV4.finditer(text):
            start, end = m.span()
            # `8.2.4.1項`: a section number
            if _VERSION_BEFORE.search(text, max(0, start - 20), start) or text[end : end + 1] in _NUM_BLOCKED_AFTER:
                continue
            try:
                address = ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            if not public_only or address.is_global:
                yield "ip", start, end
    # Every IPv6 address written in text has `::` or seven colons.
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            value = m.group()
            if value.endswith(":") and not value.endswith("::"):  # `fe80::1:` is `fe80::1` before a colon
                value = value[:-1]
            if sum(1 for g in value.split(":") if g) < 2:  # `::1`-like fragments of code (`a[::2]`)
                continue
            try:
                address = ipaddress.IPv6Address(value)
            except ValueError:
                continue
            if not public_only or address.is_global:
                yield "ip", m.start(), m.start() + len(value)


# ---------------------------------------------------------------------------------------------------------------
# phone (Japan)

_PHONE = _number_pattern(
    "[+＋(（0０]",
    "(?:"
    # +81 3-1234-5678, +81 90 1234 5678, +81 (0)3-1234-5678, +819012345678
    f"(?<=[+＋])[8８][1１](?:{_SP}|{_H})?(?:[(（][0０][)）])?{_SP}?"
    f"(?:[1-9１-９]{_D}{{0,3}}({_H}|{_SP}){_D}{{1,4}}\\1{_D}{{3,4}}|[1-9１-９]{_D}{{8,9}})"
    # (03)1234-5678
    f"|(?<=[(（])[0０]{_D}{{1,4}}[)）]{_SP}?{_D}{{1,4}}{_H}{_D}{{3,4}}"
    # 06(1234)5678
    f"|(?<=[0０]){_D}{{1,4}}[(（]{_D}{{1,4}}[)）]{_D}{{3,4}}"
    # 03-1234-5678, 0120 123 456 (the same separator twice)
    f"|(?<=[0０]){_D}{{1,4}}({_H}|{_SP}){_D}{{1,4}}\\2{_D}{{3,4}}"
    # 09012345678 (only mobile/IP/free-dial forms are accepted when run together, see _valid_phone)
    f"|(?<=[0０]){_D}{{9,10}}"
    ")",
)
# Japan's 11-digit national numbers (M2M 020, IP 050, 060, mobile 070/080/090, toll-free 0800); all others have 10.
_ELEVEN_DIGIT_PREFIXES = ("020", "050", "060", "070", "080", "090", "0800")
# 10-digit numbers written 4-3-3 (free dial, navi dial, ...): the only ones whose last group has three digits.
_FOUR_THREE_THREE_PREFIXES = ("0120", "0570", "0180", "0990")
_LAST_DIGITS = re.compile(f"{_D}+$")


def _valid_phone(value: str) -> bool:
    digits = _digits(value)
    if value[0] in "+＋":
        digits = digits[2:] if digits[2] == "0" else "0" + digits[2:]
    if digits[1] == "0":  # 00x: international and carrier prefixes, not a national number
        return False
    if len(digits) == 11:
        return digits.startswith(_ELEVEN_DIGIT_PREFIXES)
    if len(digits) != 10:
        return False
    last_group = _LAST_DIGITS.search(value).group()
    if len(last_group) == 10:  # run together: only free/navi dial, not landlines (too many other 10-digit codes)
        return digits.startswith(_FOUR_THREE_THREE_PREFIXES)
    return len(last_group) == 4 or digits.startswith(_FOUR_THREE_THREE_PREFIXES)


def _find_phones(text: str):
    for m in _PHONE.finditer(text):
        if _valid_phone(m.group()) and _number_context_ok(text, *m.span()):
            yield "phone", m.start(), m.end()


# ---------------------------------------------------------------------------------------------------------------
# postal code (Japan), with the address after it

_POSTAL_STOP = r"\s〒<>＜＞()（）「」『』【】、。，,;；:：|｜"
_POSTAL = re.compile(
    f"〒{_SP}*{_D}{{3}}{_H}?{_D}{{4}}(?!{_D})"
    # the address: starts with a non-digit (a prefecture or city), ends with its house number
    + f"(?:{_SP}*[^{_POSTAL_STOP}0-9０-９][^{_POSTAL_STOP}]{{0,40}}?{_D}(?:[{_HYPHENS}の丁目番地号]*{_D})*"
    + "(?:丁目|番地?|号)?)?"
)


def _find_postal_codes(text: str):
    if "〒" not in text:
        return
    for m in _POSTAL.finditer(text):
        yield "postal_code", m.start(), m.end()


# ---------------------------------------------------------------------------------------------------------------
# card

_CARD = _number_pattern(
    "[2-6２-６]",
    f"(?:{_D}{{12,18}}"  # run together
    f"|{_D}{{3}}({_SP}|{_H}){_D}{{4}}\\1{_D}{{4}}\\1{_D}{{4}}(?:\\1{_D}{{3}})?"  # 4-4-4-4, 4-4-4-4-3
    f"|(?<=[3３]){_D}{{3}}({_SP}|{_H}){_D}{{6}}\\2{_D}{{4,5}})",  # Amex 4-6-5, Diners 4-6-4
)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check (ISO/IEC 7812-1 Annex B): from the right, double every second digit (minus 9 above 9);
    the total must be divisible by 10."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_network_ok(digits: str) -> bool:
    """Do the first digits and the length fit a card network? (Issuer identification ranges of ISO/IEC 7812 as
    published by the networks; any other Luhn-valid number is just a number: ids, calendar rows, ...)"""
    n, first2, first3, first4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= first2 <= 55 or 2221 <= first4 <= 2720:  # Mastercard
        return n == 16
    if first2 in (34, 37):  # American Express
        return n == 15
    if 300 <= first3 <= 305 or first2 in (36, 38, 39):  # Diners Club
        return n in (14, 16)
    if first4 == 6011 or 644 <= first3 <= 649 or first2 == 65 or 3528 <= first4 <= 3589 or first2 == 62:
        return n >= 16  # Discover, JCB, UnionPay
    return False


def _find_cards(text: str):
    for m in _CARD.finditer(text):
        digits = _digits(m.group())
        if _card_network_ok(digits) and luhn_valid(digits) and _number_context_ok(text, *m.span()):
            yield "card", m.start(), m.end()


# ---------------------------------------------------------------------------------------------------------------
# My Number

# The separator group may be empty (run together); it is not optional, since `\1` never matches an unset group.
_MY_NUMBER = _number_pattern(_D, f"{_D}{{3}}({_SP}|{_H}|){_D}{{4}}\\1{_D}{{4}}")
_MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)  # Qn for the 1st..11th digit from the left


def my_number_valid(digits: str) -> bool:
    """Check digit of the Individual Number (総務省令第八十五号 第五条), see the module docstring."""
    remainder = sum(int(d) * w for d, w in zip(digits[:11], _MY_NUMBER_WEIGHTS, strict=True)) % 11
    return int(digits[11]) == (0 if remainder <= 1 else 11 - remainder)


def _find_my_numbers(text: str):
    for m in _MY_NUMBER.finditer(text):
        if my_number_valid(_digits(m.group())) and _number_context_ok(text, *m.span()):
            yield "my_number", m.start(), m.end()


# ---------------------------------------------------------------------------------------------------------------
# public API


def _check_kinds(kinds: Collection[str]) -> None:
    unknown = set(kinds) - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; choose from {list(PII_KINDS)}")


def find_pii(text: str, kinds: Collection[str] = PII_KINDS, public_ips_only: bool = True) -> list[PIIMatch]:
    """All PII of the given kinds in `text`, sorted by position and not overlapping.

    Where two matches overlap, the earlier one wins, then the longer one.
    """
    _check_kinds(kinds)
    spans = []
    if "email" in kinds:
        spans.extend(_find_emails(text))
    if "ip" in kinds:
        spans.extend(_find_ips(text, public_ips_only))
    if "postal_code" in kinds:
        spans.extend(_find_postal_codes(text))
    if ("phone" in kinds or "card" in kinds or "my_number" in kinds) and _HAS_DIGIT.search(text):
        if "phone" in kinds:
            spans.extend(_find_phones(text))
        if "card" in kinds:
            spans.extend(_find_cards(text))
        if "my_number" in kinds:
            spans.extend(_find_my_numbers(text))
    spans.sort(key=lambda s: (s[1], -s[2]))
    matches, last_end = [], 0
    for kind, start, end in spans:
        if start >= last_end:
            matches.append(PIIMatch(kind, start, end, text[start:end]))
            last_end = end
    return matches


def redact_pii(
    text: str,
    kinds: Collection[str] = PII_KINDS,
    public_ips_only: bool = True,
    placeholders: Mapping[str, str] | None = None,
) -> tuple[str, Counter]:
    """`text` with every match of `find_pii` replaced by its kind's placeholder, and the count per kind.

    `placeholders` overrides entries of `DEFAULT_PLACEHOLDERS`. Text without PII is returned unchanged.
    """
    matches = find_pii(text, kinds, public_ips_only)
    if not matches:
        return text, Counter()
    placeholders = {**DEFAULT_PLACEHOLDERS, **(placeholders or {})}
    parts, pos = [], 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(placeholders[m.kind])
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts), Counter(m.kind for m in matches)


class PIIFormatter(BaseFormatter):
    """Replaces personal data in `doc.text` with placeholders (see the module docstring for what is detected).

    Counts go to the step's stats as `pii_<kind>` (e.g. `pii_email`, `pii_phone`) and, per document, to
    `doc.metadata["pii"]` (kind -> count, set only on documents where something was found).

    Args:
        kinds: the kinds to remove, a subset of `PII_KINDS`.
        placeholders: replacement text per kind, overriding `DEFAULT_PLACEHOLDERS` (`<EMAIL>`, `<IP>`, ...).
        public_ips_only: only remove globally routable IP addresses; private, loopback and documentation
            addresses identify nobody.
    """

    name = "📞 PII"

    def __init__(
        self,
        kinds: Collection[str] = PII_KINDS,
        placeholders: Mapping[str, str] | None = None,
        public_ips_only: bool = True,
    ):
        super().__init__()
        _check_kinds(kinds)
        unknown = set(placeholders or {}) - set(PII_KINDS)
        if unknown:
            raise ValueError(f"placeholders for unknown PII kinds {sorted(unknown)}; choose from {list(PII_KINDS)}")
        self.kinds = tuple(kinds)
        self.placeholders = {**DEFAULT_PLACEHOLDERS, **(placeholders or {})}
        self.public_ips_only = public_ips_only

    def format(self, text: str) -> str:
        return redact_pii(text, self.kinds, self.public_ips_only, self.placeholders)[0]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update(StatHints.total)
            with self.track_time():
                doc.text, counts = redact_pii(doc.text, self.kinds, self.public_ips_only, self.placeholders)
            for kind, count in counts.items():
                self.stat_update(f"pii_{kind}", value=count)
            if counts:
                doc.metadata["pii"] = dict(counts)
            yield doc
