"""Offline language identification: a built-in detector from script statistics, and a fastText filter for a model
file the user supplies. Nothing here downloads anything (datatrove's `LanguageFilter` fetches `lid.176.bin` on first
use and fails offline).

- `detect_language(text)` counts letters per script in one pass (`script_counts`) and decides:
  `ko` when Hangul is at least half of the CJK letters; else `ja` when kana are at least `MIN_KANA_SHARE` (2%) of
  kana + kanji; else `zh` (Han without kana); `en` when Latin letters win and English function words are at least
  10% of the Latin words; `other` for everything else — non-English Latin text (French, Lorem ipsum, code without
  English words), Cyrillic, Arabic, text without letters. The score is the share of letters that belong to the
  winning script group (for `ja`: kanji + kana; `zh`: kanji; `ko`: Hangul + kanji; `en`/Latin `other`: Latin).
  Telling English from other Latin-script languages by a short list of English-only function words is cheap and
  reliable for prose; short Latin strings without any of those words ("Loading...") come out as `other`.
- `ScriptLanguageFilter` keeps documents in `languages` with score >= `min_score`; `FastTextLanguageFilter` does
  the same with a fastText model (lid.176.bin or GlotLID's model.bin), loaded lazily in the worker that uses it.
  Both write `doc.metadata["language"]` / `["language_score"]` and drop with `language_<code>` or
  `low_language_score`, so the funnel report says why.
"""

import os
import re
from collections.abc import Iterable

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from ..text_sources import script_of

# One-letter script classes written by `script_counts`'s translation table.
HIRAGANA, KATAKANA, KANJI, HANGUL = "h", "k", "c", "g"
LATIN, LATIN1_LETTER, LATIN1_SYMBOL = "l", "L", "m"  # À-ÿ letters / U+0080-U+00BF (C1 controls, ¡…¿), × ÷
OTHER_LETTER, DIGIT, SPACE, KUTEN, TOTEN, PUNCT = "x", "d", "s", "u", "t", "p"
CLASS_NAMES = {
    HIRAGANA: "hiragana",
    KATAKANA: "katakana",
    KANJI: "kanji",
    HANGUL: "hangul",
    LATIN: "latin",
    LATIN1_LETTER: "latin1_letter",
    LATIN1_SYMBOL: "latin1_symbol",
    OTHER_LETTER: "other_letter",
    DIGIT: "digit",
    SPACE: "space",
    KUTEN: "kuten",
    TOTEN: "toten",
    PUNCT: "punctuation",
}
# Japanese sentence-final and comma punctuation as the Swallow corpus counts them (swallow-llm/swallow-corpus,
# annotate_quality.py: kuten 。．！？, toten 、，).
KUTEN_CHARS, TOTEN_CHARS = "。．！？", "、，"


def _classify(char: str) -> str:
    code = ord(char)
    if char in KUTEN_CHARS:
        return KUTEN
    if char in TOTEN_CHARS:
        return TOTEN
    if 0x80 <= code <= 0xFF:  # the characters Shift_JIS/UTF-8 bytes turn into when decoded as Latin-1
        return LATIN1_LETTER if char.isalpha() else SPACE if char.isspace() else LATIN1_SYMBOL
    if char in "・゠":  # U+30FB / U+30A0 sit in the katakana block but are punctuation (list bullets, name dots)
        return PUNCT
    if char in "〻" or 0xF900 <= code <= 0xFAFF:  # kanji repetition mark, CJK compatibility ideographs
        return KANJI
    if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F or 0xA960 <= code <= 0xA97F:
        return HANGUL
    script = script_of(char)  # the coarse classes the tokenizer statistics use (hfpretrain.text_sources)
    return {
        "hiragana": HIRAGANA,
        "katakana": KATAKANA,
        "kanji": KANJI,
        "latin": LATIN,
        "space": SPACE,
        "digit": DIGIT,
        "punctuation": PUNCT,
    }.get(script, OTHER_LETTER if char.isalpha() else PUNCT)


class _ScriptTable(dict):
    """`str.translate` table mapping every code point to its one-letter class, filled on first sight: after warm-up
    the whole text is classified in C, in one pass (~55 MB/s of Japanese UTF-8 on one core here), and `str.count`
    reads off each class."""

    def __missing__(self, code: int) -> str:
        value = self[code] = _classify(chr(code))
        return value


_SCRIPT_TABLE = _ScriptTable()


def script_classes(text: str) -> str:
    """`text` with every character replaced by its one-letter script class (same length)."""
    return text.translate(_SCRIPT_TABLE)


def script_counts(text: str) -> dict[str, int]:
    """Number of characters of `text` in each script class: hiragana, katakana, kanji, hangul, latin, latin1_letter,
    latin1_symbol, other_letter, digit, space, kuten, toten, punctuation."""
    classes = script_classes(text)
    return {name: classes.count(code) for code, name in CLASS_NAMES.items()}


# English-only function words (none is a frequent word in French, German, Spanish, Italian, Portuguese or Dutch:
# "in", "a", "on", "die", "an" are left out on purpose). English prose has 21-33% of its words in this list
# (en_wikitext2 and en_gutenberg documents: lowest 21%, median 29%), hence the 10% threshold below.
# fmt: off
_ENGLISH_WORDS = frozenset({
    "the", "and", "of", "to", "is", "are", "was", "were", "be", "been", "being", "that", "this", "these", "those",
    "with", "for", "from", "by", "not", "have", "has", "had", "which", "who", "what", "when", "where", "will",
    "would", "should", "could", "they", "them", "their", "there", "you", "your", "we", "our", "he", "she", "his",
    "her", "it", "its",
})
# fmt: on
_LATIN_WORD = re.compile(r"[A-Za-z]+")

# Defaults of `detect_language` (see the module docstring for the decision rule).
MAX_SAMPLE_CHARS = 6000  # longer texts are judged on three 2,000-character windows (head, middle, tail)
# of kana + kanji: Japanese prose has 30-60% kana, statutes ~25%, tables of contents ~4%, Chinese ~0%
MIN_KANA_SHARE = 0.02
MIN_ENGLISH_WORD_SHARE = 0.10


def _sample(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    window = max_chars // 3
    middle = len(text) // 2 - window // 2
    return text[:window] + "\n" + text[middle : middle + window] + "\n" + text[-window:]


def detect_language(text: str, max_chars: int = MAX_SAMPLE_CHARS) -> tuple[str, float]:
    """(`ja` | `zh` | `ko` | `en` | `other`, score in [0, 1]) from script statistics; no model, no download."""
    sample = _sample(text, max_chars)
    counts = script_counts(sample)
    kana = counts["hiragana"] + counts["katakana"]
    kanji, hangul = counts["kanji"], counts["hangul"]
    latin = counts["latin"] + counts["latin1_letter"]
    other = counts["other_letter"]
    letters = kana + kanji + hangul + latin + other
    if letters == 0:
        return "other", 0.0
    cjk = kana + kanji + hangul
    if cjk >= latin and cjk >= other:
        if hangul >= 0.5 * cjk:
            return "ko", (hangul + kanji) / letters
        if kana >= MIN_KANA_SHARE * (kana + kanji):
            return "ja", (kana + kanji) / letters
        return "zh", kanji / letters
    if latin >= other:
        words = _LATIN_WORD.findall(sample)
        english = sum(1 for word in words if word.lower() in _ENGLISH_WORDS)
        language = "en" if words and english >= MIN_ENGLISH_WORD_SHARE * len(words) else "other"
        return language, latin / letters
    return "other", other / letters


class ScriptLanguageFilter(BaseFilter):
    """Keeps documents whose detected language is in `languages` with score >= `min_score`.

    Writes `doc.metadata["language"]` and `doc.metadata["language_score"]`; drops with `language_<code>` (e.g.
    `language_en`, `language_other`) or `low_language_score`.
    """

    name = "🈁 Script language ID"

    def __init__(
        self,
        languages: Iterable[str] | None = ("ja",),
        min_score: float = 0.5,
        exclusion_writer: DiskWriter | None = None,
    ):
        """
        Args:
            languages: codes to keep (`ja`, `zh`, `ko`, `en`, `other`); None keeps every language (annotation only,
                plus the score threshold).
            min_score: minimum share of letters in the detected script group. Our choice, not from a paper: 0.5 keeps
                Japanese text with English terms and names (Wikipedia leads: 1% score under 0.61, lowest 0.51;
                statutes lowest 0.86) and drops pages that are mostly something else.
            exclusion_writer: optional datatrove writer for the dropped documents.
        """
        super().__init__(exclusion_writer)
        self.languages = None if languages is None else frozenset(languages)
        self.min_score = min_score

    def detect(self, text: str) -> tuple[str, float]:
        return detect_language(text)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        language, score = self.detect(doc.text)
        doc.metadata["language"] = language
        doc.metadata["language_score"] = round(score, 4)
        if self.languages is not None and language not in self.languages:
            return False, f"language_{language}"
        if score < self.min_score:
            return False, "low_language_score"
        return True


# fastText label → our code. lid.176.bin labels are ISO 639-1 where one exists (`__label__ja`) and are kept as they
# are. GlotLID labels are ISO 639-3 + ISO 15924 script (`__label__jpn_Jpan`); the script is dropped and the languages
# below are mapped to their ISO 639-1 code (Mandarin `cmn` and the macrolanguage `zho` both to `zh`); any other
# GlotLID language keeps its 3-letter code (`yue`, `ain`, `ryu`…).
# fmt: off
ISO639_3_TO_1 = {
    "jpn": "ja", "cmn": "zh", "zho": "zh", "kor": "ko", "eng": "en", "fra": "fr", "deu": "de", "spa": "es",
    "ita": "it", "por": "pt", "nld": "nl", "rus": "ru", "ukr": "uk", "pol": "pl", "tur": "tr", "ara": "ar",
    "arb": "ar", "fas": "fa", "pes": "fa", "hin": "hi", "ben": "bn", "tha": "th", "vie": "vi", "ind": "id",
    "msa": "ms", "zsm": "ms", "tgl": "tl", "swe": "sv", "dan": "da", "nor": "no", "nob": "nb", "fin": "fi",
    "ces": "cs", "ell": "el", "heb": "he", "hun": "hu", "ron": "ro", "mon": "mn", "khk": "mn",
}
# fmt: on


def fasttext_label_to_code(label: str) -> str:
    """`__label__ja` → `ja`; GlotLID `__label__jpn_Jpan` → `ja`; `__label__yue_Hani` → `yue`."""
    code = label.removeprefix("__label__")
    language = code.split("_")[0]
    if "_" in code:  # GlotLID
        return ISO639_3_TO_1.get(language, language)
    return language


# fastText averages over the whole input; a few thousand characters decide as well as a whole book, faster.
FASTTEXT_MAX_CHARS = 10_000


class FastTextLanguageFilter(ScriptLanguageFilter):
    """`ScriptLanguageFilter` with a fastText model the user supplies: lid.176.bin (fasttext.cc, 176 languages) or
    GlotLID's model.bin (huggingface.co/cis-lmu/glotlid, 2,000+ languages). Never downloads. The model is loaded on
    first use in the process that filters, so a pipeline pickled to workers carries only the path."""

    name = "🈁 fastText language ID"

    def __init__(
        self,
        model_path: str,
        languages: Iterable[str] | None = ("ja",),
        min_score: float = 0.5,
        exclusion_writer: DiskWriter | None = None,
    ):
        """
        Args:
            model_path: local path of a fastText language-identification model (`.bin`).
            languages: our codes to keep (see `fasttext_label_to_code`); None keeps every language.
            min_score: minimum fastText probability of the top label. datatrove's `LanguageFilter` (FineWeb)
                defaults to 0.65; we default to 0.5 like `ScriptLanguageFilter`, unmeasured with real models here
                (none can be downloaded in this environment) — check the score histogram of your data.
            exclusion_writer: optional datatrove writer for the dropped documents.
        """
        if not os.path.isfile(model_path):
            raise FileNotFoundError(
                f"fastText language-ID model not found: {model_path!r}. Download it yourself from "
                "https://fasttext.cc/docs/en/language-identification.html (lid.176.bin) or "
                "https://huggingface.co/cis-lmu/glotlid (model.bin) and pass its path; hfpretrain never downloads "
                "models. Without a model, use ScriptLanguageFilter."
            )
        super().__init__(languages=languages, min_score=min_score, exclusion_writer=exclusion_writer)
        self.model_path = model_path
        self._model = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"] = None  # a loaded model is never pickled to workers; each loads its own on first use
        return state

    @property
    def model(self):
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(self.model_path)
        return self._model

    def detect(self, text: str) -> tuple[str, float]:
        sample = " ".join(text[:FASTTEXT_MAX_CHARS].split())  # fastText predicts one line
        if not sample:
            return "other", 0.0
        labels, scores = self.model.predict(sample, k=1)
        return fasttext_label_to_code(labels[0]), min(1.0, float(scores[0]))


__all__ = [
    "FastTextLanguageFilter",
    "ScriptLanguageFilter",
    "detect_language",
    "fasttext_label_to_code",
    "script_classes",
    "script_counts",
]
