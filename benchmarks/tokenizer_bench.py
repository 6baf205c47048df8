"""Tokenizer benchmark: compression and word-boundary crossing on Japanese, against SentencePiece and GPT-2-style BPE.

All tokenizers are trained on the same text (one character budget, sampled evenly across documents of the
Japanese and English train files of ../shared/data) and measured on the valid files:
- compression: characters per token (Japanese, and English separately);
- token quality: the share of tokens that cross a word boundary of MeCab with UniDic (fugashi) — a token that
  holds the end of one word and the start of the next. A word is its leading whitespace plus its surface, so a
  token " word" does not cross.
Lines are encoded one by one for every tokenizer (SentencePiece trains on lines and has no newline token).
Also: training time and encoding throughput.

    pip install sentencepiece 'fugashi[unidic-lite]'        # benchmark only (make bench installs them)
    python benchmarks/tokenizer_bench.py --vocab-sizes 8192 32768 --max-chars 10000000
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hfpretrain.text_sources import iter_documents
from hfpretrain.tokenizer import TokenizerTrainingConfig, sample_documents, train_tokenizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
JA_SETS = ("ja_wikipedia_kwc", "ja_aozora", "ja_law_egov")
EN_SETS = ("en_gutenberg",)


class Encoder:
    """A tokenizer seen only as: text → list of (start, end) character spans of its tokens."""

    def __init__(self, name: str, spans, train_seconds: float, vocab_size: int, batch=None):
        self.name, self.spans, self.train_seconds, self.vocab_size = name, spans, train_seconds, vocab_size
        self.batch = batch


def hf_encoder(name: str, tokenizer, seconds: float) -> Encoder:
    def spans(text: str):
        return tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]

    def batch(lines):
        return tokenizer(lines, add_special_tokens=False)["input_ids"]

    return Encoder(name, spans, seconds, len(tokenizer), batch)


def train_ours(texts_path: Path, vocab: int, max_chars: int, **fields) -> tuple:
    config = TokenizerTrainingConfig(vocab_size=vocab, max_chars=max_chars, show_progress=False, **fields)
    start = time.time()
    tokenizer, _ = train_tokenizer([str(texts_path)], config)
    return tokenizer, time.time() - start


def train_gpt2_style(lines: list[str], vocab: int):
    """Byte-level BPE with GPT-2's pre-tokenizer regex and no Japanese handling, trained the same way."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    start = time.time()
    tokenizer.train_from_iterator(lines, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer), time.time() - start


def train_sentencepiece(lines: list[str], vocab: int, model_type: str, workdir: Path) -> Encoder:
    import sentencepiece as spm

    prefix = workdir / f"sp_{model_type}_{vocab}"
    start = time.time()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(prefix),
        model_type=model_type,
        vocab_size=vocab,
        byte_fallback=True,
        normalization_rule_name="identity",
        split_digits=True,
        character_coverage=0.9995,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        max_sentence_length=1 << 16,
        num_threads=2,
        minloglevel=2,
        train_extremely_large_corpus=False,
    )
    seconds = time.time() - start
    processor = spm.SentencePieceProcessor(model_file=f"{prefix}.model")

    def spans(text: str):
        """Character spans from the pieces (identity normalization: pieces spell the text, ▁ for a space; byte
        pieces spell one character together and each gets that character's span)."""
        result, position, pending = [], 0, b""
        for piece in processor.encode(text, out_type=str):
            if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                pending += bytes([int(piece[3:5], 16)])
                result.append((position, position + 1))
                try:
                    pending.decode("utf-8")
                    position, pending = position + 1, b""
                except UnicodeDecodeError:
                    pass
                continue
            length = len(piece)
            result.append((position, position + length))
            position += length
        return result

    def batch(lines):
        return processor.encode(lines, num_threads=2)

    name = f"SentencePiece {'BPE' if model_type == 'bpe' else 'Unigram'}"
    return Encoder(name, spans, seconds, vocab, batch)


def word_boundaries(lines: list[str]) -> list[set[int]]:
    """For each line, the character offsets where one MeCab word (leading whitespace + surface) ends and the next
    begins."""
    import fugashi

    tagger = fugashi.Tagger()
    result = []
    for line in lines:
        cuts, position = set(), 0
        for word in tagger(line):
            position += len(word.white_space) + len(word.surface)
            cuts.add(position)
        result.append(cuts if position == len(line) else set())  # skip the rare lines MeCab alters
    return result


def measure(encoder: Encoder, lines: list[str], boundaries: list[set[int]] | None) -> dict:
    tokens = crossing = characters = 0
    for line, cuts in zip(lines, boundaries or [None] * len(lines), strict=True):
        spans = encoder.spans(line)
        characters += len(line)
        tokens += len(spans)
        if cuts:
            crossing += sum(1 for s, e in spans if any(b in cuts for b in range(s + 1, e)))
    result = {"chars_per_token": characters / max(tokens, 1)}
    if boundaries is not None:
        result["crossing"] = crossing / max(tokens, 1)
    return result


def throughput(encode_batch, lines: list[str], repeats: int = 3) -> float:
    """Characters per second of batch encoding (the way datatrove and training encode)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encode_batch(lines)
        best = min(best, time.perf_counter() - start)
    return sum(map(len, lines)) / best


def lines_of(sets: tuple[str, ...], split: str) -> list[str]:
    files = [str(DATA / s / f"{split}.jsonl") for s in sets]
    return [line for doc in iter_documents(files) for line in doc.split("\n") if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-sizes", nargs="+", type=int, default=[8192, 32768])
    parser.add_argument("--max-chars", type=int, default=10_000_000, help="training character budget")
    parser.add_argument("--only", nargs="*", default=None, help="names of tokenizers to run (default: all)")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: this benchmark needs the shared corpora (../shared/data).")

    train_files = [str(DATA / s / "train.jsonl") for s in JA_SETS + EN_SETS]
    workdir = Path(tempfile.mkdtemp(prefix="tokbench_"))
    sample = workdir / "sample.jsonl"
    budget = TokenizerTrainingConfig(max_chars=args.max_chars, show_progress=False)
    with open(sample, "w", encoding="utf-8") as f:
        for text in sample_documents(train_files, budget, __import__("hfpretrain").text_sources.SourceStats()):
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    train_lines = [line for doc in iter_documents([str(sample)]) for line in doc.split("\n") if line.strip()]
    print(f"training text: {sum(map(len, train_lines)):,} characters in {len(train_lines):,} lines", flush=True)

    ja_sets = {name: lines_of((name,), "valid") for name in JA_SETS}
    ja_lines = [line for lines in ja_sets.values() for line in lines]
    en_lines = lines_of(EN_SETS, "valid")
    started = time.time()
    boundaries = {name: word_boundaries(lines) for name, lines in ja_sets.items()}
    all_boundaries = [b for name in JA_SETS for b in boundaries[name]]
    print(
        f"validation: {sum(map(len, ja_lines)):,} Japanese characters (MeCab in {time.time() - started:.1f} s: "
        + ", ".join(f"{n} {sum(map(len, ls)):,}" for n, ls in ja_sets.items())
        + f"), {sum(map(len, en_lines)):,} English",
        flush=True,
    )

    builders = {
        "ours (script runs)": lambda v: hf_encoder("ours (script runs)", *train_ours(sample, v, None)),
        "ours (script runs + MeCab-trained)": lambda v: hf_encoder(
            "ours (script runs + MeCab-trained)", *train_ours(sample, v, None, train_segmentation="mecab")
        ),
        "ours unigram (script runs)": lambda v: hf_encoder(
            "ours unigram (script runs)", *train_ours(sample, v, None, algorithm="unigram")
        ),
        "SentencePiece BPE": lambda v: train_sentencepiece(train_lines, v, "bpe", workdir),
        "SentencePiece Unigram": lambda v: train_sentencepiece(train_lines, v, "unigram", workdir),
        "GPT-2-style byte-level BPE": lambda v: hf_encoder(
            "GPT-2-style byte-level BPE", *train_gpt2_style(train_lines, v)
        ),
    }
    results = []
    for vocab in args.vocab_sizes:
        for name, build in builders.items():
            if args.only and name not in args.only:
                continue
            encoder = build(vocab)
            ja = measure(encoder, ja_lines, all_boundaries)
            row = {
                "tokenizer": name,
                "vocab": vocab,
                "train_seconds": encoder.train_seconds,
                "ja_chars_per_token": ja["chars_per_token"],
                "ja_crossing": ja["crossing"],
                "en_chars_per_token": measure(encoder, en_lines, None)["chars_per_token"],
                "ja_chars_per_second": throughput(encoder.batch, ja_lines),
            }
            for set_name, lines in ja_sets.items():
                part = measure(encoder, lines, boundaries[set_name])
                row[f"{set_name}_chars_per_token"], row[f"{set_name}_crossing"] = (
                    part["chars_per_token"],
                    part["crossing"],
                )
            results.append(row)
            by_set = "  ".join(
                f"{n.split('_')[1]} {row[f'{n}_chars_per_token']:.2f}/{row[f'{n}_crossing']:.0%}" for n in JA_SETS
            )
            print(
                f"{vocab:>6} {name:<36} ja {row['ja_chars_per_token']:.3f} chars/token, "
                f"{row['ja_crossing']:.1%} crossing ({by_set}) | en {row['en_chars_per_token']:.3f} | "
                f"train {row['train_seconds']:.1f} s | encode {row['ja_chars_per_second'] / 1e6:.2f} M chars/s",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return results


if __name__ == "__main__":
    main()
