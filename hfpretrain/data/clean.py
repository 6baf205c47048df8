"""TextCleaner: the first step after reading. Normalizes what would otherwise split duplicates, break hashing or hang a
regex, repairs mojibake it can and drops what it cannot — every change and every drop counted by reason.

- newlines: CRLF, CR, NEL (U+0085), U+2028/U+2029, vertical tab and form feed become "\\n";
- control characters other than tab and newline, NUL, Unicode noncharacters are removed; lone surrogates become
  U+FFFD (see `hfpretrain.text_sources.clean_text`);
- NFC (canonical composition), so that NFC and NFD spellings of the same text hash alike — lossless in meaning;
- mojibake: Shift_JIS (cp932) bytes that were decoded as Latin-1 are decoded again (the classic Japanese web
  mojibake, which ftfy does not handle); UTF-8 read as Windows-1252/Latin-1 is repaired with ftfy's
  `fix_encoding`; a document still looking garbled afterwards is dropped (`mojibake`);
- caps: a line longer than `max_line_chars` is wrapped, a document longer than `max_doc_chars` is truncated at a
  line break, so no later regex or tokenizer meets a pathological string.
"""

import re
import unicodedata

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from ..text_sources import SourceStats, clean_text

_LINE_SEPARATORS = re.compile("\r\n|[\r\x85\u2028\u2029\x0b\x0c]")
_CONTROL = re.compile("[\x01-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
# Shift_JIS double-byte characters as Latin-1: a lead byte 0x81–0x9F/0xE0–0xFC and a trail byte 0x40–0x7E/0x80–0xFC,
# or a half-width katakana byte 0xA1–0xDF. A run of at least two such characters is a candidate.
_SJIS_AS_LATIN1 = re.compile("(?:[\x81-\x9f\xe0-\xfc][\x40-\x7e\x80-\xfc]|[\xa1-\xdf]){2,}")
# Once a document is known to hold such runs, single characters are decoded too (a lone "\x81j" is "）").
_SJIS_AS_LATIN1_ANY = re.compile("(?:[\x81-\x9f\xe0-\xfc][\x40-\x7e\x80-\xfc]|[\xa1-\xdf])+")
_C1 = re.compile("[\x80-\x9f]")
# Cheap pre-check before ftfy: characters that mojibake is made of (Latin-1 supplement and cp1252's extra symbols).
_GARBLE_HINT = re.compile(
    "[\x80-\xff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


def _decode_sjis_run(match: re.Match) -> str:
    run = match.group(0)
    try:
        decoded = run.encode("latin-1").decode("cp932")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return run
    # Accept only if the result is mostly Japanese: a random Latin-1 run rarely decodes into kana/kanji.
    # Half-width katakana does not count: UTF-8 mojibake such as "Ã©" also decodes into it.
    japanese = sum(1 for c in decoded if "\u3000" <= c <= "\u9fff" or "\uff01" <= c <= "\uff5e")
    return decoded if japanese >= 0.5 * len(decoded) else run


class TextCleaner(BaseFilter):
    """Normalizes and repairs `doc.text` in place; drops documents that end up empty or garbled."""

    name = "🧹 Text cleaner"

    def __init__(
        self,
        max_doc_chars: int = 1_000_000,
        max_line_chars: int = 20_000,
        max_garble_fraction: float = 0.01,
        repair_mojibake: bool = True,
        exclusion_writer=None,
    ):
        """
        Args:
            max_doc_chars: longer documents are truncated at a line break (counted `truncated_document`).
            max_line_chars: longer lines are wrapped into pieces of this length (counted `wrapped_line`).
            max_garble_fraction: after repair, a document whose ftfy badness (count of weird character sequences)
                exceeds this share of its length is dropped; 1% tolerates a stray symbol, not a garbled paragraph.
            repair_mojibake: try to decode Shift_JIS-as-Latin-1 runs and UTF-8-as-cp1252 text.
        """
        super().__init__(exclusion_writer)
        self.max_doc_chars = max_doc_chars
        self.max_line_chars = max_line_chars
        self.max_garble_fraction = max_garble_fraction
        self.repair_mojibake = repair_mojibake

    def clean(self, text: str, counts: SourceStats | None = None) -> str:
        counts = counts if counts is not None else SourceStats()
        text = clean_text(text, counts)  # surrogates, NUL, noncharacters
        # Mojibake first: its byte-characters include C1 controls and NEL, which the next steps would remove.
        if self.repair_mojibake and _GARBLE_HINT.search(text):
            repaired = text
            if any(_decode_sjis_run(m) != m.group(0) for m in _SJIS_AS_LATIN1.finditer(text)):
                repaired = _SJIS_AS_LATIN1_ANY.sub(_decode_sjis_run, text)
            if repaired == text:
                from ftfy import fix_encoding
                from ftfy.badness import badness

                # A lone NEL or "…" byte is ambiguous; a real garbled run scores at least 2.
                if badness(text) >= 2:
                    repaired = fix_encoding(text)
            if repaired != text:
                text = repaired
                counts.repaired["mojibake"] += 1
        if _LINE_SEPARATORS.search(text):
            text = _LINE_SEPARATORS.sub("\n", text)
            counts.repaired["newlines"] += 1
        if _CONTROL.search(text):
            text = _CONTROL.sub("", text)
            counts.repaired["control_characters"] += 1
        if not text.isascii():
            normalized = unicodedata.normalize("NFC", text)
            if normalized != text:
                text = normalized
                counts.repaired["nfc"] += 1
        if len(text) > self.max_line_chars and any(len(line) > self.max_line_chars for line in text.split("\n")):
            step = self.max_line_chars
            text = "\n".join(
                "\n".join(line[i : i + step] for i in range(0, len(line), step)) if len(line) > step else line
                for line in text.split("\n")
            )
            counts.repaired["wrapped_line"] += 1
        if len(text) > self.max_doc_chars:
            cut = text.rfind("\n", 0, self.max_doc_chars)
            text = text[: cut + 1 if cut > self.max_doc_chars // 2 else self.max_doc_chars]
            counts.repaired["truncated_document"] += 1
        return text

    def garbled(self, text: str) -> bool:
        """Still looks like mojibake: ftfy's badness score (weird character sequences) per character."""
        if not _GARBLE_HINT.search(text):
            return False
        from ftfy.badness import badness

        return badness(text) > self.max_garble_fraction * len(text)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        counts = SourceStats()
        doc.text = self.clean(doc.text, counts)
        for reason, n in counts.repaired.items():
            self.stat_update(f"repaired_{reason}", value=n)
        if not doc.text.strip():
            return False, "empty"
        if self.repair_mojibake and self.garbled(doc.text):
            return False, "mojibake"
        return True
