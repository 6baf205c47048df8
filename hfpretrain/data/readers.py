"""Readers: datatrove `BaseDiskReader`s that survive bad input, and `make_readers` which picks one per source.

datatrove's own JsonlReader abandons the rest of a file at the first invalid UTF-8 byte, drops the first document
after a BOM and crashes on a JSON line that is not an object (../shared/PITFALLS.md). `RobustJsonlReader` decodes
line by line and counts every problem as a `skipped_*` or `repaired_*` stat instead; a truncated .gz keeps what was
read before the damage. Parquet, `datasets` and WARC inputs use datatrove's readers.
"""

import gzip
import json
import re
import zlib
from pathlib import Path

from datatrove.pipeline.readers.base import BaseDiskReader, BaseReader
from datatrove.utils.logging import logger

from ..text_sources import TEXT_SUFFIXES, is_dataset_source, parse_hub_source


class RobustJsonlReader(BaseDiskReader):
    """JSONL (plain or .gz) reader that never abandons a file and never crashes on a line."""

    name = "🐿 JSONL (robust)"

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if filepath.endswith(".gz") else raw
            line_number = -1
            try:
                for line_number, line in enumerate(stream):
                    document = self._parse(line, line_number, filepath)
                    if document is not None:
                        yield document
            except (EOFError, OSError, zlib.error) as err:  # truncated or corrupt compressed file
                logger.warning(f"{filepath} is damaged after line {line_number + 1} ({err}); kept what was read")
                self.stat_update("skipped_truncated_file")

    def _parse(self, line: bytes, line_number: int, filepath: str):
        if line_number == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
            self.stat_update("repaired_bom")
        if not line.strip():
            return None
        try:
            text_line = line.decode("utf-8")
        except UnicodeDecodeError:
            text_line = line.decode("utf-8", "replace")
            self.stat_update("repaired_invalid_utf8")
        try:
            record = json.loads(text_line)
        except json.JSONDecodeError:
            self.stat_update("skipped_invalid_json")
            return None
        if not isinstance(record, dict):
            self.stat_update("skipped_json_not_an_object")
            return None
        text = record.get(self.text_key)
        if text is None:
            self.stat_update("skipped_missing_text")
            return None
        if not isinstance(text, str):
            self.stat_update("skipped_text_not_a_string")
            return None
        if not text.strip():
            self.stat_update("skipped_empty_text")
            return None
        return self.get_document_from_dict(record, filepath, line_number)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        # An empty folder or glob is not an error: the task completes with no documents (and says so).
        if not self.paths_file and not self.data_folder.get_shard(
            rank, world_size, recursive=self.recursive, glob_pattern=self.glob_pattern
        ):
            if data:
                yield from data
            logger.warning(f"No input files for task {rank} in {self.data_folder.path}")
            self.stat_update("empty_input")
            return
        yield from super().run(data, rank, world_size)


class TextFileReader(BaseDiskReader):
    """A folder of .txt files: each file is one document (invalid UTF-8 replaced and counted)."""

    name = "📄 Text files"

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            self.stat_update("repaired_invalid_utf8")
        if not text.strip():
            self.stat_update("skipped_empty_text")
            return
        document = self.get_document_from_dict({"text": text, "id": Path(filepath).stem}, filepath, 0)
        if document is not None:
            yield document


class LocalDatasetReader(BaseReader):
    """A `datasets` folder written by `save_to_disk` (datatrove's HuggingFaceDatasetReader loads Hub datasets)."""

    name = "🤗 datasets folder"

    def __init__(self, path: str, split: str = "train", text_key: str = "text", id_key: str = "id", limit: int = -1):
        super().__init__(limit=limit, text_key=text_key, id_key=id_key)
        self.path, self.split = path, split

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        import datasets

        if data:
            yield from data
        dataset = datasets.load_from_disk(self.path)
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[self.split]
        shard = dataset.shard(num_shards=world_size, index=rank, contiguous=True) if world_size > 1 else dataset
        for i, record in enumerate(shard):
            if self.limit != -1 and i >= self.limit:
                break
            text = record.get(self.text_key)
            if not isinstance(text, str) or not text.strip():
                self.stat_update("skipped_missing_or_empty_text")
                continue
            document = self.get_document_from_dict(dict(record), self.path, f"{rank}/{i}")
            if document is not None:
                self.update_doc_stats(document)
                yield document


_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def decode_html(payload: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode an HTML payload: the HTTP charset, then a <meta charset>, then UTF-8, then the Japanese legacy
    encodings (Shift_JIS as cp932, EUC-JP) — common on Japanese sites — and finally UTF-8 with replacement."""
    candidates = []
    if declared:
        candidates.append(declared)
    meta = _CHARSET.search(payload[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates += ["utf-8", "cp932", "euc_jp"]
    for charset in candidates:
        charset = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932"}.get(
            charset.lower(), charset
        )
        try:
            return payload.decode(charset), charset
        except (UnicodeDecodeError, LookupError):
            continue
    return payload.decode("utf-8", "replace"), "utf-8-replace"


class WarcTextReader(BaseDiskReader):
    """WARC/ARC files: HTML responses decoded (see `decode_html`) and turned into text with datatrove's Trafilatura
    extractor. Non-HTML records are skipped and counted; a damaged archive keeps the records read before it."""

    name = "🕷 WARC + Trafilatura"

    def __init__(self, data_folder, glob_pattern: str | None = None, limit: int = -1, timeout: float = 1.0):
        super().__init__(data_folder, glob_pattern=glob_pattern, limit=limit)
        self.timeout = timeout
        self._extractor = None

    def read_file(self, filepath: str):
        from datatrove.pipeline.extractors import Trafilatura
        from warcio.archiveiterator import ArchiveIterator

        if self._extractor is None:
            self._extractor = Trafilatura(favour_precision=True, timeout=self.timeout)
        with self.data_folder.open(filepath, "rb") as f:
            try:
                for number, record in enumerate(ArchiveIterator(f, arc2warc=True)):
                    if record.rec_type != "response":
                        continue
                    content_type = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
                    if content_type and "html" not in content_type.lower():
                        self.stat_update("skipped_not_html")
                        continue
                    payload = record.content_stream().read()
                    declared = None
                    if "charset=" in content_type.lower():
                        declared = content_type.lower().split("charset=")[-1].split(";")[0].strip(" \"'")
                    html, _ = decode_html(payload, declared)
                    text = self._extractor.extract(html)
                    if not text or not text.strip():
                        self.stat_update("skipped_no_text_extracted")
                        continue
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    record_id = record.rec_headers.get_header("WARC-Record-ID") or f"{filepath}/{number}"
                    document = self.get_document_from_dict(
                        {"text": text, "id": record_id, "url": url}, filepath, number
                    )
                    if document is not None:
                        yield document
            except Exception as err:  # warcio raises assorted errors on damaged archives
                logger.warning(f"{filepath}: damaged archive ({type(err).__name__}: {err}); kept what was read")
                self.stat_update("skipped_damaged_archive")


def _format_of(path: Path) -> str:
    names = [path.name] if path.is_file() else [p.name for p in path.rglob("*") if p.is_file()]
    for fmt, suffixes in (
        ("jsonl", (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")),
        ("parquet", (".parquet",)),
        ("warc", (".warc", ".warc.gz", ".arc", ".arc.gz")),
        ("txt", (".txt",)),
    ):
        if any(n.endswith(suffixes) for n in names):
            return fmt
    raise ValueError(f"{path}: no readable files ({', '.join(TEXT_SUFFIXES)}, .warc(.gz)); set input_format")


def make_readers(inputs: list[str], text_field: str = "text", input_format: str = "auto", limit: int = -1) -> list:
    """One datatrove reader per input (a file, a folder, a `datasets` folder or a Hub id[:config])."""
    from datatrove.pipeline.readers import HuggingFaceDatasetReader, ParquetReader

    readers = []
    for source in inputs:
        if input_format == "datasets" or (input_format == "auto" and is_dataset_source(source)):
            if Path(source).is_dir():
                readers.append(LocalDatasetReader(source, text_key=text_field, limit=limit))
            else:
                name, config = parse_hub_source(source)
                options = {"split": "train", **({"name": config} if config else {})}
                readers.append(
                    HuggingFaceDatasetReader(
                        name, dataset_options=options, streaming=True, text_key=text_field, limit=limit
                    )
                )
            continue
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"No such input: {source}")
        folder, glob = (str(path.parent), path.name) if path.is_file() else (str(path), None)
        fmt = _format_of(path) if input_format == "auto" else input_format
        if fmt == "jsonl":
            readers.append(
                RobustJsonlReader(folder, glob_pattern=glob or "**/*.*json*", text_key=text_field, limit=limit)
            )
        elif fmt == "txt":
            readers.append(TextFileReader(folder, glob_pattern=glob or "**/*.txt", limit=limit))
        elif fmt == "parquet":
            readers.append(ParquetReader(folder, glob_pattern=glob or "**/*.parquet", text_key=text_field, limit=limit))
        elif fmt == "warc":
            readers.append(WarcTextReader(folder, glob_pattern=glob or "**/*.*arc*", limit=limit))
        else:
            raise ValueError(f"input_format must be auto, jsonl, txt, parquet, warc or datasets; got {fmt!r}")
    return readers
