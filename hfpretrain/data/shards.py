"""Token shards: the train/valid split before tokenization, and the packed dataset training reads them with.

Shards are what datatrove's `DocumentTokenizer` writes: `*.ds` (token ids, uint16 below a 65,536 vocabulary,
uint32 above), `*.ds.index` (uint64 end offset of every document, in tokens) and `*.ds.metadata` (the tokenizer and
token size). Documents are separated by the tokenizer's EOS token, appended by the tokenizer step.

`PackedTokenDataset` reads every shard of a folder as one stream of tokens, cuts it into sequences of `seq_len + 1`
tokens (inputs and shifted labels), and serves them in an order fixed by `(seed, epoch)`. Its state — epoch and the
number of sequences the whole job has consumed — is independent of how many processes read it, so a run resumes at
exactly the same sequence with 1, 2 or 8 ranks.
"""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter


def split_of(doc_id: str, valid_fraction: float, seed: int = 0) -> str:
    """'valid' or 'train' from a stable hash of the document id (the same document always lands in the same split)."""
    digest = hashlib.md5(f"{seed}:{doc_id}".encode()).digest()
    return "valid" if int.from_bytes(digest[:8], "little") / 2**64 < valid_fraction else "train"


class SplitFilter(BaseFilter):
    """Keeps the documents of one split ('train' or 'valid')."""

    name = "✂ train/valid split"

    def __init__(self, split: str, valid_fraction: float, seed: int = 0):
        super().__init__()
        if split not in ("train", "valid"):
            raise ValueError("split must be 'train' or 'valid'")
        self.split, self.valid_fraction, self.seed = split, valid_fraction, seed

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return True if split_of(str(doc.id), self.valid_fraction, self.seed) == self.split else (False, "other_split")


def _shard_token_dtype(path: Path) -> np.dtype:
    """datatrove's .ds.metadata starts with "<tokenizer>|<bytes per token>"; 2 bytes when absent."""
    metadata = path.with_name(path.name + ".metadata")
    if metadata.is_file():
        first = metadata.read_text(encoding="utf-8").split("\n", 1)[0]
        if first.rsplit("|", 1)[-1].strip() == "4":
            return np.dtype(np.uint32)
    return np.dtype(np.uint16)


def write_shard(path: Path, documents: list[list[int]], tokenizer_name: str, vocab_size: int) -> int:
    """Write token documents as a datatrove-compatible shard (.ds, .ds.index, .ds.metadata); returns the tokens."""
    dtype = np.uint32 if vocab_size > 65536 else np.uint16
    tokens = np.fromiter((t for doc in documents for t in doc), dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens.tofile(path)
    np.cumsum([len(d) for d in documents], dtype=np.uint64).tofile(path.with_name(path.name + ".index"))
    path.with_name(path.name + ".metadata").write_text(f"{tokenizer_name}|{np.dtype(dtype).itemsize}\n{len(tokens)}\n")
    return len(tokens)


class PackedTokenDataset(torch.utils.data.IterableDataset):
    """Fixed-length sequences over a folder of token shards, deterministically ordered, exactly resumable.

    Each item is a dict with `input_ids` of length `seq_len + 1` (use `[:-1]` as inputs and `[1:]` as targets, or
    pass the whole thing as both `input_ids` and `labels` to a causal LM after trimming). Rank `r` of `W` reads the
    sequences at global positions `p + r, p + r + W, …` of the current epoch's permutation, where `p` is the position
    restored from `state_dict()`. Every rank counts the sequences the whole job has consumed (ranks consume in
    lockstep), so any rank's `state_dict()` is the job's. Read it in the main process (`num_workers=0`: the shards
    are memory-mapped, reading is cheap), so that the state reflects exactly what training has seen.
    """

    def __init__(
        self, folder: str | Path, seq_len: int, seed: int = 0, rank: int = 0, world_size: int = 1, shuffle: bool = True
    ):
        super().__init__()
        self.folder = Path(folder)
        # a datatrove task that received no documents leaves an empty shard behind: nothing to read there
        self.files = [f for f in sorted(self.folder.rglob("*.ds")) if f.stat().st_size > 0]
        if not self.files:
            raise FileNotFoundError(
                f"No token shards (*.ds) under {self.folder}; run `hfpretrain data run --tokenizer`."
            )
        self.seq_len, self.seed, self.shuffle = seq_len, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self._arrays = [np.memmap(f, dtype=_shard_token_dtype(f), mode="r") for f in self.files]
        self._starts = np.cumsum([0] + [len(a) for a in self._arrays])
        self.num_tokens = int(self._starts[-1])
        self.num_sequences = (self.num_tokens - 1) // seq_len
        if self.num_sequences < 1:
            raise ValueError(f"{self.folder} holds {self.num_tokens} tokens: too few for one sequence of {seq_len}.")
        self.epoch = 0
        self.position = 0  # sequences consumed by the whole job in this epoch

    def set_rank(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_sequences)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_sequences)

    def tokens(self, start: int, end: int) -> np.ndarray:
        """Tokens [start, end) of the concatenated shards."""
        first = int(np.searchsorted(self._starts, start, side="right") - 1)
        pieces = []
        while start < end:
            offset = start - self._starts[first]
            take = min(end - start, len(self._arrays[first]) - offset)
            pieces.append(self._arrays[first][offset : offset + take])
            start += take
            first += 1
        return np.concatenate(pieces) if len(pieces) > 1 else np.asarray(pieces[0])

    def sequence(self, index: int) -> torch.Tensor:
        start = index * self.seq_len
        return torch.from_numpy(self.tokens(start, start + self.seq_len + 1).astype(np.int64))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            order = self.order(self.epoch)
            # Only complete rows of W sequences, so that every rank yields the same number of items per epoch.
            end = self.position + (self.num_sequences - self.position) // self.world_size * self.world_size
            for global_position in range(self.position + self.rank, end, self.world_size):
                item = {"input_ids": self.sequence(int(order[global_position]))}
                # All ranks consume in lockstep: after rank r's item, the job has consumed up to this row of W.
                self.position = global_position - self.rank + self.world_size
                yield item
            self.epoch += 1
            self.position = 0

    def __len__(self) -> int:
        return self.num_sequences

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "position": min(self.position, self.num_sequences),
            "seed": self.seed,
            "seq_len": self.seq_len,
            "num_tokens": self.num_tokens,
            "files": [f.name for f in self.files],
        }

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Restore the position. With strict=False a changed seed keeps the position in the new order, and changed
        shards or sequence length restart the epoch count from the beginning of the data."""
        for key in ("seed", "seq_len", "num_tokens", "files"):
            if state[key] != self.state_dict()[key]:
                if not strict:
                    if key != "seed":
                        self.epoch, self.position = 0, 0
                        return
                    continue
                raise ValueError(
                    f"Cannot resume: the saved data state has {key}={state[key]!r} but this dataset has "
                    f"{self.state_dict()[key]!r}. The token shards or the sequence length changed since the checkpoint."
                )
        self.epoch, self.position = state["epoch"], state["position"]
