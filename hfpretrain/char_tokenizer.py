"""A character-level tokenizer: one character = one token, UTF-8 bytes for characters not seen in training.

The course's exercises model text one character at a time. This builds that tokenizer with the `tokenizers`
library and saves it as a `PreTrainedTokenizerFast` folder, so it works everywhere our BPE does (`AutoTokenizer`,
the training loop, `evaluate_texts`, `generate`):
- the model is a BPE with every training character in its vocabulary and no merges, so encoding splits text into
  single characters; no pre-tokenizer and no normalizer, so nothing is lost or rewritten;
- `byte_fallback=True` with the 256 tokens `<0x00>`…`<0xFF>`: a character outside the vocabulary (an unseen kanji,
  an emoji) becomes the tokens of its UTF-8 bytes, and the ByteFallback decoder turns them back, so
  `decode(encode(x)) == x` for every string and nothing maps to `<|unk|>`;
- the special tokens and their ids are those of our BPE (`<|pad|>`, `<|begin_of_text|>`, `<|end_of_text|>`,
  `<|unk|>` at 0..3), then the byte tokens, then the characters from the most frequent;
- `min_frequency` spells characters seen fewer times in bytes: Japanese has thousands of kanji seen once or twice,
  whose embeddings would barely train.
"""

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .text_sources import SourceStats, iter_documents
from .tokenizer import BOS, BYTE_TOKENS, EOS, PAD, UNK, save_tokenizer


def build_char_tokenizer(texts: Iterable[str], min_frequency: int = 1):
    """A `PreTrainedTokenizerFast` whose vocabulary is the characters of `texts` (seen at least `min_frequency`
    times) plus byte-fallback tokens."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}.")
    counts: Counter = Counter()
    for text in texts:
        counts.update(text)
    specials = [PAD, BOS, EOS, UNK]
    reserved = set(specials) | set(BYTE_TOKENS)
    characters = [
        ch
        for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if n >= min_frequency and ch not in reserved
    ]
    if not characters:
        raise ValueError(
            "No characters to build a vocabulary from: the training texts are empty"
            + (f" or no character occurs {min_frequency} times; lower min_frequency." if min_frequency > 1 else ".")
        )
    vocab = {token: i for i, token in enumerate(specials + BYTE_TOKENS + characters)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, byte_fallback=True))
    tokenizer.add_special_tokens(specials)
    tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
    )


def train_char_tokenizer(
    inputs: list[str], output: str | Path | None = None, text_field: str = "text", min_frequency: int = 1
) -> tuple[Any, dict]:
    """Build the character tokenizer from the documents of `inputs` (any source `iter_documents` reads); saves it
    to `output` when given. Returns (tokenizer, report)."""
    stats = SourceStats()
    tokenizer = build_char_tokenizer(iter_documents(inputs, text_field, stats), min_frequency)
    report = {
        "kind": "char",
        "min_frequency": min_frequency,
        "vocab_size": len(tokenizer),
        "characters": len(tokenizer) - 4 - len(BYTE_TOKENS),
        "source": stats.to_dict(),
    }
    if output is not None:
        save_tokenizer(tokenizer, output, report)
    return tokenizer, report


__all__ = ["build_char_tokenizer", "train_char_tokenizer"]
