"""Train a Japanese-aware BPE (or Unigram) tokenizer with byte fallback, save it as a `PreTrainedTokenizerFast`
folder, and measure any tokenizer.

Design (measurements in BENCHMARKS.md, "Tokenizer"):
- Pre-tokenization splits text into runs of one script — kanji, hiragana, katakana (with ー), other letters (with
  one leading space, as GPT-2 does for English words), single digits, punctuation, whitespace — so no merge can
  grow across a script change. Japanese has no spaces, and GPT-2's regex would make a whole clause one pre-token.
- Optionally (`train_segmentation="mecab"`, needs `fugashi` + `unidic-lite`), the vocabulary is learned on text cut
  at the word boundaries of a morphological analyzer. Only training sees the analyzer: the saved tokenizer needs
  nothing but `tokenizers`, and encodes with the script-run rule above; the merges it learned simply never join
  two words.
- Characters covering `character_coverage` of the training text form the alphabet (SentencePiece's rule, 0.9995
  for CJK); everything else is spelled with the 256 byte tokens `<0x00>`…`<0xFF>`, so nothing ever maps to unk and
  `decode(encode(x)) == x` for every string (with the default lossless normalization).
- Special tokens: `<|pad|>`, `<|begin_of_text|>`, `<|end_of_text|>`, `<|unk|>` (compatibility only) and
  `num_reserved_tokens` × `<|reserved_i|>`, at ids 0, 1, 2, 3, 4…. Pretraining puts `<|end_of_text|>` after every
  document (datatrove's `DocumentTokenizer` does it for token shards); nothing is added automatically on encode.
"""

import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .text_sources import SourceStats, clean_text, iter_documents, script_of

PAD, BOS, EOS, UNK = "<|pad|>", "<|begin_of_text|>", "<|end_of_text|>", "<|unk|>"
BYTE_TOKENS = [f"<0x{i:02X}>" for i in range(256)]
_BYTE_TOKEN = re.compile(r"^<0x[0-9A-F]{2}>$")

# Separator between analyzer words while training: a noncharacter, which input cleaning removes from real text.
_WORD_SEPARATOR = "\ufdd0"


def pretokenizer_pattern(digits: str = "single") -> str:
    """The script-run pre-tokenization regex (Oniguruma syntax, as `tokenizers` uses)."""
    number = r"\p{N}" if digits == "single" else r"\p{N}{1,3}"
    return "|".join(
        [
            r"[\p{Han}々〆〇]+",  # kanji (々 iteration mark, 〆, 〇 are used as kanji)
            r"\p{Hiragana}+",
            r"[\p{Katakana}ーｰﾞﾟ]+",  # katakana with the long-vowel mark ー and half-width forms
            r"'(?i:[sdmt]|ll|ve|re)",  # English contractions, as in GPT-2
            # other letters (Latin, Cyrillic, Hangul…) with combining marks; written as a negated class, which
            # Oniguruma runs ~45% faster than the equivalent class intersection
            r" ?[^\s\p{N}\p{P}\p{S}\p{C}\p{Han}\p{Hiragana}\p{Katakana}々〆〇ーｰﾞﾟ]+",
            number,
            r" ?[^\s\p{L}\p{M}\p{N}]+",  # punctuation and symbols (emoji included)
            r"\n+",
            r"[^\S\n]+(?!\S)",  # spaces before a word leave the last one to the word
            r"[^\S\n]+",
        ]
    )


@dataclass
class TokenizerTrainingConfig:
    """How to train a tokenizer. Every field can be set in a YAML file (`--config`) or on the command line."""

    vocab_size: int = 32768
    """Total vocabulary, special and byte tokens included; rounded up to a multiple of 64."""
    algorithm: str = "bpe"
    """bpe (byte-fallback BPE, the default) or unigram (SentencePiece-style Unigram LM, for comparison)."""
    train_segmentation: str = "none"
    """none, or mecab: learn the vocabulary on text cut at MeCab/UniDic word boundaries (needs fugashi and
    unidic-lite while training only)."""
    normalization: str = "none"
    """none (lossless, the default), nfc (canonical composition: decode returns the NFC form of the input) or nfkc
    (lossy: full-width digits become ASCII, half-width katakana full-width; decode cannot restore the input)."""
    digits: str = "single"
    """single: every digit is its own pre-token (numbers tokenize uniformly); triples: up to 3 digits together."""
    max_token_length: int | None = None
    """Longest token in characters, if limited."""
    character_coverage: float = 0.9995
    """Share of character occurrences the alphabet must cover; rarer characters use byte tokens (SentencePiece's
    default for Japanese/Chinese is 0.9995)."""
    max_chars: int | None = None
    """Character budget for training, sampled evenly across documents (None: use all text)."""
    text_field: str = "text"
    """Field (JSONL, Parquet, datasets) holding the text."""
    num_reserved_tokens: int = 0
    """Extra special tokens `<|reserved_i|>` kept for later use (chat roles, tools…)."""
    min_frequency: int = 2
    """A merge must be seen at least this many times."""
    seed: int = 0
    """Seed of the budget sampling."""
    show_progress: bool = True
    """Progress bars while reading and training."""

    def __post_init__(self):
        choices = {
            "algorithm": ("bpe", "unigram"),
            "train_segmentation": ("none", "mecab"),
            "normalization": ("none", "nfc", "nfkc"),
            "digits": ("single", "triples"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        minimum = len(self.special_tokens) + 256 + 64
        if self.vocab_size < minimum:
            raise ValueError(
                f"vocab_size {self.vocab_size} leaves no room for merges: special and byte tokens take "
                f"{minimum - 64}; use at least {minimum}."
            )
        if not 0.5 < self.character_coverage <= 1.0:
            raise ValueError("character_coverage is a share of character occurrences in (0.5, 1].")

    @property
    def special_tokens(self) -> list[str]:
        return [PAD, BOS, EOS, UNK] + [f"<|reserved_{i}|>" for i in range(self.num_reserved_tokens)]

    @property
    def padded_vocab_size(self) -> int:
        return 64 * math.ceil(self.vocab_size / 64)


# ---------------------------------------------------------------------------------------------------------------------
# Reading and sampling


def sample_documents(inputs: list[str], config: TokenizerTrainingConfig, stats: SourceStats) -> Iterator[str]:
    """Documents for training. With a character budget, every document contributes the same share of its text (a
    window at a seeded random position, cut at line breaks), so that a few huge documents cannot crowd out the rest."""
    if config.max_chars is None:
        yield from iter_documents(inputs, config.text_field, stats)
        return
    counting = SourceStats()
    total = sum(len(d) for d in iter_documents(inputs, config.text_field, counting))
    share = min(1.0, config.max_chars / max(total, 1))
    rng = random.Random(config.seed)
    for document in iter_documents(inputs, config.text_field, stats):
        if share >= 1.0:
            yield document
            continue
        want = max(1, round(len(document) * share))
        start = rng.randrange(0, len(document) - want + 1)
        if start:  # begin at a line start when one is near, so windows hold whole lines
            newline = document.find("\n", start, start + want // 2)
            start = newline + 1 if newline != -1 else start
        window = document[start : start + want]
        if window.strip():
            yield window


def _mecab_segmenter():
    try:
        import fugashi
    except ImportError as err:
        raise ImportError(
            "train_segmentation='mecab' needs fugashi and a dictionary: pip install 'fugashi[unidic-lite]'"
        ) from err
    tagger = fugashi.Tagger()

    def segment(text: str) -> str:
        out = []
        for line in text.split("\n"):
            pieces = []
            for word in tagger(line):
                pieces.append(word.white_space + word.surface)
            rebuilt = "".join(pieces)
            # MeCab may drop characters it cannot represent; never train on an altered line.
            out.append(_WORD_SEPARATOR.join(pieces) if rebuilt == line else line)
        return "\n".join(out)

    return segment


def alphabet_for(texts: Iterable[str], coverage: float, limit: int) -> list[str]:
    """The most frequent characters covering `coverage` of all occurrences (at most `limit` of them), plus printable
    ASCII and whitespace."""
    counts = Counter()
    for text in texts:
        counts.update(text)
    counts.pop(_WORD_SEPARATOR, None)
    total = sum(counts.values())
    chosen, covered = [], 0
    for char, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if covered >= coverage * total or len(chosen) >= limit:
            break
        chosen.append(char)
        covered += count
    base = [chr(c) for c in range(0x20, 0x7F)] + ["\n", "\t"]
    return sorted(set(chosen) | set(base))


# ---------------------------------------------------------------------------------------------------------------------
# Training


def _normalizer(kind: str):
    from tokenizers import normalizers

    return {"none": None, "nfc": normalizers.NFC(), "nfkc": normalizers.NFKC()}[kind]


def _pretokenizer(config: TokenizerTrainingConfig, training: bool):
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(pretokenizer_pattern(config.digits)), behavior="isolated")
    if training and config.train_segmentation == "mecab":
        return pre_tokenizers.Sequence([pre_tokenizers.Split(_WORD_SEPARATOR, behavior="removed"), split])
    return split


def train_tokenizer(inputs: list[str], config: TokenizerTrainingConfig, output: str | Path | None = None):
    """Train on the documents of `inputs`; returns (PreTrainedTokenizerFast, report dict). Saves to `output`."""
    from tokenizers import Tokenizer, decoders, models, trainers
    from transformers import PreTrainedTokenizerFast

    started = time.time()
    segment = _mecab_segmenter() if config.train_segmentation == "mecab" else None

    def training_texts(stats: SourceStats) -> Iterator[str]:
        """The (sampled, cleaned, optionally segmented) documents, streamed: nothing holds the corpus in memory."""
        for document in sample_documents(inputs, config, stats):
            yield segment(document) if segment else document

    # Pass 1: count characters (for the alphabet) and documents, with the counted repairs and skips.
    stats = SourceStats()
    specials = config.special_tokens
    learned = config.padded_vocab_size - len(specials) - len(BYTE_TOKENS)
    texts: Iterable[str] = training_texts(stats)
    if config.show_progress:
        from tqdm.auto import tqdm

        texts = tqdm(texts, desc="reading", unit=" docs")
    # The alphabet counts against the vocabulary; at most half of it, so that merges always have room (rarer
    # characters are spelled in bytes).
    alphabet = alphabet_for(texts, config.character_coverage, limit=learned // 2)
    if not stats.documents:
        raise ValueError(f"No text to train on in {inputs} ({stats.summary()}). Check the paths and --text-field.")
    read_seconds = time.time() - started

    trainer_tokenizer = Tokenizer(models.BPE() if config.algorithm == "bpe" else models.Unigram())
    trainer_tokenizer.normalizer = _normalizer(config.normalization)
    trainer_tokenizer.pre_tokenizer = _pretokenizer(config, training=True)
    if config.algorithm == "bpe":
        trainer = trainers.BpeTrainer(
            vocab_size=learned,
            min_frequency=config.min_frequency,
            show_progress=config.show_progress,
            special_tokens=[],
            limit_alphabet=len(alphabet),
            initial_alphabet=alphabet,
            max_token_length=config.max_token_length,
        )
    else:
        trainer = trainers.UnigramTrainer(
            vocab_size=learned + 1,
            show_progress=config.show_progress,
            special_tokens=[UNK],
            unk_token=UNK,
            initial_alphabet=alphabet,
            max_piece_length=config.max_token_length or 16,
        )
    # Pass 2: train on the same stream.
    texts = training_texts(SourceStats())
    if config.algorithm == "unigram":
        # The Unigram trainer insists on a piece for every character it sees: characters outside the alphabet are
        # removed from its training text (encoding spells them in bytes either way).
        keep = set(alphabet) | {_WORD_SEPARATOR}
        texts = ("".join(c for c in text if c in keep) for text in texts)
    train_started = time.time()
    trainer_tokenizer.train_from_iterator(texts, trainer, length=stats.documents)
    train_seconds = time.time() - train_started

    tokenizer = _assemble(trainer_tokenizer, config)
    tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=specials[4:],
        clean_up_tokenization_spaces=False,
    )
    report = {
        "config": asdict(config),
        "vocab_size": len(wrapped),
        "alphabet_size": len(alphabet),
        "source": stats.to_dict(),
        "seconds": {
            "read": round(read_seconds, 2),
            "train": round(train_seconds, 2),
            "total": round(time.time() - started, 2),
        },
    }
    if output is not None:
        save_tokenizer(wrapped, output, report)
    return wrapped, report


def _assemble(trained, config: TokenizerTrainingConfig):
    """The final tokenizer: special tokens, the 256 byte tokens, then the learned vocabulary, with byte fallback."""
    from tokenizers import AddedToken, Tokenizer, models

    specials = config.special_tokens
    head = specials + BYTE_TOKENS
    state = json.loads(trained.model.__getstate__())  # the trained model as tokenizers serializes it
    if config.algorithm == "bpe":
        learned = sorted(state["vocab"].items(), key=lambda kv: kv[1])
        vocab = {token: i for i, token in enumerate(head)}
        for token, _ in learned:
            vocab.setdefault(token, len(vocab))
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in state["merges"]]
        model = models.BPE(vocab=vocab, merges=merges, unk_token=UNK, byte_fallback=True)
    else:
        pieces = [(p, s) for p, s in state["vocab"] if p != UNK]
        floor = min(s for _, s in pieces) - 10.0  # byte pieces are reached only through byte fallback
        vocab = [(token, 0.0) for token in specials] + [(b, floor) for b in BYTE_TOKENS]
        seen = {token for token, _ in vocab}
        vocab += [(p, s) for p, s in pieces if p not in seen]
        model = models.Unigram(vocab, unk_id=specials.index(UNK), byte_fallback=True)
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = _normalizer(config.normalization)
    tokenizer.pre_tokenizer = _pretokenizer(config, training=False)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


def save_tokenizer(tokenizer, output: str | Path, report: dict | None = None) -> Path:
    """Save as an `AutoTokenizer` folder. `tokenizer_class` is written as `PreTrainedTokenizerFast`, which
    transformers 4.x and 5.x both resolve (5.x would otherwise write its alias `TokenizersBackend`)."""
    output = Path(output)
    tokenizer.save_pretrained(output)
    config_path = output / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text(encoding="utf-8"))
    tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if report is not None:
        (output / "training_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return output


# ---------------------------------------------------------------------------------------------------------------------
# Statistics for any tokenizer


def document_separator_id(tokenizer) -> int | None:
    """The token that stands before every document in pretraining (end-of-text between documents; begin-of-text for a
    tokenizer without one), so that scoring or generating "a document" starts from the context training gave it."""
    return tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.bos_token_id


def is_byte_token(token: str) -> bool:
    return bool(_BYTE_TOKEN.match(token))


@dataclass
class _Tally:
    characters: int = 0
    tokens: float = 0.0


def tokenizer_stats(tokenizer, texts: Iterable[str], longest: int = 20) -> dict[str, Any]:
    """Compression, coverage and exactness of any fast tokenizer on `texts` (cleaned first, as training is)."""
    stats = SourceStats()
    characters = bytes_ = tokens = byte_tokens = unk = exact = documents = 0
    used: set[int] = set()
    per_script: dict[str, _Tally] = {}
    unk_id = tokenizer.unk_token_id
    vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    byte_ids = {i for i, t in enumerate(vocabulary) if t is not None and is_byte_token(t)}
    for raw in texts:
        text = clean_text(raw, stats)
        if not text:
            continue
        documents += 1
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
        characters += len(text)
        bytes_ += len(text.encode("utf-8"))
        tokens += len(ids)
        used.update(ids)
        byte_tokens += sum(1 for i in ids if i in byte_ids)
        unk += sum(1 for i in ids if i == unk_id)
        exact += tokenizer.decode(ids, clean_up_tokenization_spaces=False) == text
        for char in text:
            per_script.setdefault(script_of(char), _Tally()).characters += 1
        for start, end in offsets:  # a token counts for the scripts of its characters, in proportion
            span = text[start:end] or " "
            for char in span:
                per_script.setdefault(script_of(char), _Tally()).tokens += 1 / len(span)
    special = set(tokenizer.all_special_ids)
    ranked = sorted(
        ((t, i) for i, t in enumerate(vocabulary) if t is not None and not is_byte_token(t) and i not in special),
        key=lambda ti: (-len(tokenizer.decode([ti[1]])), ti[1]),
    )
    return {
        "documents": documents,
        "characters": characters,
        "bytes": bytes_,
        "tokens": tokens,
        "chars_per_token": characters / max(tokens, 1),
        "bytes_per_token": bytes_ / max(tokens, 1),
        "chars_per_token_by_script": {
            s: round(t.characters / t.tokens, 3) for s, t in sorted(per_script.items()) if t.tokens >= 1
        },
        "vocab_size": len(tokenizer),
        "vocab_utilization": len(used) / len(tokenizer),
        "byte_fallback_fraction": byte_tokens / max(tokens, 1),
        "unk_count": unk,
        "roundtrip_exact": exact == documents,
        "roundtrip_exact_fraction": exact / max(documents, 1),
        "longest_tokens": [tokenizer.decode([i]) for _, i in ranked[:longest]],
        "cleaning": stats.to_dict()["repaired"],
    }


def format_stats(stats: dict[str, Any]) -> str:
    rows = [
        ("documents", f"{stats['documents']:,}"),
        ("characters", f"{stats['characters']:,}"),
        ("tokens", f"{stats['tokens']:,}"),
        ("characters / token", f"{stats['chars_per_token']:.3f}"),
        ("bytes / token", f"{stats['bytes_per_token']:.3f}"),
        ("vocabulary used", f"{stats['vocab_utilization']:.1%} of {stats['vocab_size']:,}"),
        ("byte-fallback tokens", f"{stats['byte_fallback_fraction']:.3%}"),
        ("unk tokens", f"{stats['unk_count']:,}"),
        ("round trip exact", f"{stats['roundtrip_exact']} ({stats['roundtrip_exact_fraction']:.1%} of documents)"),
    ]
    rows += [(f"  chars/token, {script}", f"{v:.3f}") for script, v in stats["chars_per_token_by_script"].items()]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines.append("longest tokens: " + " | ".join(repr(t) for t in stats["longest_tokens"][:10]))
    return "\n".join(lines)


__all__ = [
    "BOS",
    "BYTE_TOKENS",
    "EOS",
    "PAD",
    "UNK",
    "TokenizerTrainingConfig",
    "format_stats",
    "pretokenizer_pattern",
    "save_tokenizer",
    "tokenizer_stats",
    "train_tokenizer",
]
