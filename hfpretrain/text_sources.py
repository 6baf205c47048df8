"""Read documents from the text sources users have: JSONL (plain or .gz), Parquet, .txt, `datasets` folders or Hub
ids, and the output folder of the data pipeline — and clean what would crash a tokenizer.

Bad input never crashes a reader and is never dropped silently: every repair or skip is counted by reason in a
`SourceStats`, which the caller prints or saves.
"""

import gzip
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TEXT_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".parquet", ".txt", ".txt.gz")

# Code points that break tokenizers or mean nothing: NUL and the Unicode noncharacters (U+FDD0–U+FDEF and the last
# two code points of every plane). Lone surrogates come from JSON escapes such as "\ud800" and cannot be encoded.
_NONCHARACTERS = re.compile(
    "[\x00\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17))
    + "]"
)
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass
class SourceStats:
    """What reading and cleaning did, by reason."""

    documents: int = 0
    characters: int = 0
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "documents": self.documents,
            "characters": self.characters,
            "files": self.files,
            "skipped": dict(self.skipped),
            "repaired": dict(self.repaired),
        }

    def summary(self) -> str:
        parts = [f"{self.documents:,} documents, {self.characters:,} characters from {self.files} file(s)"]
        if self.skipped:
            parts.append("skipped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.skipped.items())))
        if self.repaired:
            parts.append("repaired: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.repaired.items())))
        return "; ".join(parts)


def clean_text(text: str, stats: SourceStats | None = None) -> str:
    """Remove NUL and noncharacters, replace lone surrogates with U+FFFD; counts each kind in `stats`."""
    if _SURROGATES.search(text):
        # A valid pair written as two escapes ("\ud83d\ude00") is one character once re-decoded.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if stats is not None:
            stats.repaired["lone_surrogate"] += 1
    if _NONCHARACTERS.search(text):
        text = _NONCHARACTERS.sub("", text)
        if stats is not None:
            stats.repaired["nul_or_noncharacter"] += 1
    return text


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files under the given files/folders, sorted for determinism. A data-pipeline output folder is read through its
    `documents/` subfolder."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            if (path / "documents").is_dir():
                path = path / "documents"
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(TEXT_SUFFIXES))
            if not found:
                raise FileNotFoundError(f"{path} holds no {', '.join(TEXT_SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return files


def _open_text_lines(path: Path, stats: SourceStats) -> Iterator[str]:
    """Lines of a (possibly gzipped) UTF-8 file; an undecodable line is decoded with U+FFFD and counted, a BOM is
    removed — unlike a strict reader, the rest of the file is never abandoned."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as raw:
        for number, line in enumerate(raw):
            if number == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
                stats.repaired["bom"] += 1
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                stats.repaired["invalid_utf8"] += 1
                yield line.decode("utf-8", "replace")


def _read_jsonl(path: Path, text_field: str, stats: SourceStats) -> Iterator[str]:
    for line in _open_text_lines(path, stats):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            stats.skipped["invalid_json"] += 1
            continue
        if not isinstance(record, dict):
            stats.skipped["json_not_an_object"] += 1
            continue
        text = record.get(text_field)
        if text is None:
            stats.skipped[f"missing_field_{text_field}"] += 1
            continue
        if not isinstance(text, str):
            stats.skipped["text_not_a_string"] += 1
            continue
        yield text


def _read_txt(path: Path, stats: SourceStats) -> Iterator[str]:
    """A .txt file is one document."""
    yield "".join(_open_text_lines(path, stats))


def _read_parquet(path: Path, text_field: str, stats: SourceStats) -> Iterator[str]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if text_field not in parquet.schema_arrow.names:
        raise ValueError(
            f"{path} has no column {text_field!r} (columns: {parquet.schema_arrow.names}); pass --text-field"
        )
    for batch in parquet.iter_batches(columns=[text_field]):
        for text in batch.column(0).to_pylist():
            if not isinstance(text, str):
                stats.skipped["text_not_a_string"] += 1
                continue
            yield text


def parse_hub_source(source: str) -> tuple[str, str | None]:
    """'owner/name' or 'owner/name:config' (e.g. 'wikimedia/wikipedia:20231101.ja')."""
    name, _, config = source.partition(":")
    return name, config or None


def _read_dataset(source: str, text_field: str, split: str, stats: SourceStats) -> Iterator[str]:
    """A `datasets` folder saved with `save_to_disk`, or a Hub id (streamed; needs internet)."""
    import datasets

    if Path(source).is_dir():
        dataset = datasets.load_from_disk(source)
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[split]
    else:
        name, config = parse_hub_source(source)
        dataset = datasets.load_dataset(name, config, split=split, streaming=True)
    for record in dataset:
        text = record.get(text_field)
        if not isinstance(text, str):
            stats.skipped["missing_or_non_string_text"] += 1
            continue
        yield text


def is_dataset_source(source: str | Path) -> bool:
    """A folder written by `Dataset.save_to_disk`, or something that is not a local path (a Hub id)."""
    path = Path(source)
    if path.is_dir():
        return (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
    return not path.exists() and "/" in str(source) and not str(source).endswith(TEXT_SUFFIXES)


def iter_documents(
    inputs: Iterable[str | Path],
    text_field: str = "text",
    stats: SourceStats | None = None,
    split: str = "train",
    max_doc_chars: int = 1_000_000,
) -> Iterator[str]:
    """Clean documents from every input, in a deterministic order; empty ones are skipped and counted, enormous ones
    (over `max_doc_chars`) are cut into pieces at line breaks so that no regex or tokenizer meets a huge string."""
    stats = stats if stats is not None else SourceStats()
    for source in inputs:
        if is_dataset_source(source):
            stats.files += 1
            streams = [_read_dataset(str(source), text_field, split, stats)]
        else:
            streams = []
            for path in expand_inputs([source]):
                stats.files += 1
                name = path.name
                if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
                    streams.append(_read_jsonl(path, text_field, stats))
                elif name.endswith(".parquet"):
                    streams.append(_read_parquet(path, text_field, stats))
                else:
                    streams.append(_read_txt(path, stats))
        for stream in streams:
            for text in stream:
                text = clean_text(normalize_newlines(text), stats)
                if not text.strip():
                    stats.skipped["empty"] += 1
                    continue
                for piece in split_long(text, max_doc_chars, stats):
                    stats.documents += 1
                    stats.characters += len(piece)
                    yield piece


def split_long(text: str, max_chars: int, stats: SourceStats | None = None) -> Iterator[str]:
    if len(text) <= max_chars:
        yield text
        return
    if stats is not None:
        stats.repaired["split_enormous_document"] += 1
    start = 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            cut = text.rfind("\n", start + max_chars // 2, end)
            end = cut + 1 if cut != -1 else end
        yield text[start:end]
        start = end


def script_of(char: str) -> str:
    """A coarse script class for statistics: kanji, hiragana, katakana, latin, digit, space, punctuation, other."""
    code = ord(char)
    if 0x3040 <= code <= 0x309F:
        return "hiragana"
    if 0x30A0 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F:
        return "katakana"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x3FFFF or char in "々〆〇":
        return "kanji"
    if char.isspace():
        return "space"
    if char.isdigit():
        return "digit"
    category = unicodedata.category(char)
    if category.startswith("L") or category.startswith("M"):
        return "latin" if code < 0x250 or 0x1E00 <= code <= 0x1EFF or 0xFF21 <= code <= 0xFF5A else "other"
    if category[0] in "PS":
        return "punctuation"
    return "other"


__all__ = [
    "SourceStats",
    "clean_text",
    "expand_inputs",
    "is_dataset_source",
    "iter_documents",
    "script_of",
    "split_long",
]
