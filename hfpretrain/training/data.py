"""Training data: token shards from the data pipeline, or text tokenized on the fly into shards of the same format,
read by `PackedTokenDataset`. Also the character and byte counts behind bits-per-character and bits-per-byte."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.shards import PackedTokenDataset, split_of, write_shard
from ..text_sources import SourceStats, iter_documents


def _has_shards(path: Path) -> bool:
    return path.is_dir() and any(path.rglob("*.ds"))


def _fingerprint(paths: list[str], extra: str = "") -> str:
    """Names and sizes of the input files (cheap, and changes when the data does)."""
    digest = hashlib.sha256(extra.encode())
    for p in paths:
        path = Path(p)
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(f"{f.name}:{f.stat().st_size if f.exists() else -1};".encode())
    return digest.hexdigest()[:16]


@dataclass
class TrainingData:
    train_folder: Path
    valid_folder: Path | None
    fingerprint: str
    summary: dict


def tokenize_to_shards(
    sources: list[str], tokenizer, out: Path, text_field: str, valid_fraction: float, max_tokens: int | None, seed: int
) -> dict:
    """Tokenize text sources into out/train and out/valid shards, EOS after every document (as the data pipeline
    does), documents split by a stable hash of their position."""
    stats = SourceStats()
    splits: dict[str, list[list[int]]] = {"train": [], "valid": []}
    counted = 0
    batch: list[str] = []

    def flush():
        nonlocal counted
        for position, ids in enumerate(tokenizer(batch, add_special_tokens=False)["input_ids"], start=flush.seen):
            ids.append(tokenizer.eos_token_id)
            split = split_of(str(position), valid_fraction, seed)
            splits[split].append(ids)
            counted += len(ids)
        flush.seen += len(batch)
        batch.clear()

    flush.seen = 0
    for text in iter_documents(sources, text_field, stats):
        batch.append(text)
        if len(batch) >= 256:
            flush()
            if max_tokens and counted >= max_tokens:
                break
    if batch:
        flush()
    name = getattr(tokenizer, "name_or_path", "tokenizer")
    tokens = {}
    for split, docs in splits.items():
        if docs:
            tokens[split] = write_shard(out / split / f"{split}.ds", docs, name, len(tokenizer))
    return {"source": stats.to_dict(), "tokens": tokens, "documents": {k: len(v) for k, v in splits.items()}}


def prepare_data(config, tokenizer, run_dir: Path, is_main: bool, wait) -> TrainingData:
    """Locate or build the train/valid shard folders. Text is tokenized once (by the main process) into
    run_dir/data_cache and reused on resume when the sources and tokenizer are unchanged."""
    d = config.data
    train_paths = [Path(p) for p in d.train]
    if all(_has_shards(p) for p in train_paths) and len(train_paths) == 1:
        root = train_paths[0]
        train = root / "train" if _has_shards(root / "train") else root
        valid = Path(d.valid[0]) if d.valid else (root / "valid" if _has_shards(root / "valid") else None)
        if valid is None and _has_shards(root.parent / "valid") and root.name == "train":
            valid = root.parent / "valid"
        fingerprint = _fingerprint([str(train)] + ([str(valid)] if valid else []))
        return TrainingData(train, valid, fingerprint, {"kind": "shards", "train": str(train), "valid": str(valid)})

    tokenizer_id = _fingerprint([tokenizer.name_or_path]) if Path(tokenizer.name_or_path).exists() else "tok"
    fingerprint = _fingerprint(
        d.train + d.valid, f"{tokenizer_id}:{d.text_field}:{d.valid_fraction}:{d.max_train_tokens}"
    )
    cache = run_dir / "data_cache"
    marker = cache / "fingerprint.json"
    if is_main and not (marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == fingerprint):
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
        seed = config.optimization.seed
        summary = tokenize_to_shards(
            d.train, tokenizer, cache, d.text_field, 0.0 if d.valid else d.valid_fraction, d.max_train_tokens, seed
        )
        if d.valid:
            valid_summary = tokenize_to_shards(
                d.valid, tokenizer, cache / "valid_source", d.text_field, 0.0, None, seed
            )
            (cache / "valid_source" / "train").rename(cache / "valid")
            summary["tokens"]["valid"] = valid_summary["tokens"].get("train", 0)
        marker.write_text(json.dumps({"fingerprint": fingerprint, **summary}, indent=2))
    wait()
    summary = json.loads(marker.read_text())
    valid = cache / "valid" if _has_shards(cache / "valid") else None
    return TrainingData(cache / "train", valid, fingerprint, {"kind": "text", **summary})


@torch.no_grad()
def validation_set(valid_folder: Path, seq_len: int, tokenizer, max_sequences: int | None) -> list[dict]:
    """Fixed validation sequences, each with the characters and UTF-8 bytes of the text its targets spell (for bits
    per character / per byte, tokenizer-independent measures)."""
    dataset = PackedTokenDataset(valid_folder, seq_len, shuffle=False)
    count = dataset.num_sequences if max_sequences is None else min(max_sequences, dataset.num_sequences)
    # Spread the evaluated sequences over the whole validation set.
    indices = np.linspace(0, dataset.num_sequences - 1, count).round().astype(int) if count else []
    out = []
    for index in sorted(set(int(i) for i in indices)):
        ids = dataset.sequence(index)
        # The EOS between documents is predicted (and scored) but spells no text.
        text = tokenizer.decode(ids[1:].tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=False)
        out.append({"input_ids": ids, "chars": len(text), "bytes": len(text.encode("utf-8"))})
    return out
