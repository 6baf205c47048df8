"""The ladder on Japanese (issue #8): ja_aozora + ja_wikipedia_kwc train, their valid files, at character level and
with our byte-fallback BPE (8,192 tokens, trained here on the same training files), at an equal token budget.

Prints both tables and checks the order the lecture expects in bits per character,
GPT < RNN < MLP < bigram < unigram < uniform, naming every pair that breaks it.

    python benchmarks/ladder_bench.py --budget-tokens 600000 --threads 1

One thread by default: on a shared 2-core machine a second OpenMP thread that waits for a busy core makes the small
models' many tiny kernels up to 80× slower (measured: 650 vs 56,000 tokens/s for a 100k-weight MLP).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("ja_aozora", "ja_wikipedia_kwc")
EXPECTED_ORDER = ("gpt", "rnn", "mlp", "bigram", "unigram", "uniform")  # best first


def order_breaks(rows: list[dict]) -> list[str]:
    """Every pair of the expected order that the measured bits per character contradict."""
    bpc = {row["rung"]: row["bits_per_char"] for row in rows}
    breaks = []
    for i, better in enumerate(EXPECTED_ORDER):
        for worse in EXPECTED_ORDER[i + 1 :]:
            if better in bpc and worse in bpc and not bpc[better] < bpc[worse]:
                breaks.append(f"{better} ({bpc[better]:.3f}) is not below {worse} ({bpc[worse]:.3f})")
    return breaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-tokens", type=int, default=600_000, help="training tokens of every rung")
    parser.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (see the module docstring)")
    parser.add_argument("--max-valid-chars", type=int, default=None, help="cut the validation text (default: all)")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    from hfpretrain.ladder import format_table, run_ladder
    from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer

    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="ladder_bench_"))
    train_files = [str(DATA / s / "train.jsonl") for s in SETS]
    valid_files = [str(DATA / s / "valid.jsonl") for s in SETS]
    started = time.perf_counter()
    train_tokenizer(train_files, TokenizerTrainingConfig(vocab_size=args.vocab_size, show_progress=False), work / "bpe")

    results = {}
    for name, kwargs in (("char", {"char_level": True}), ("bpe", {"tokenizer": str(work / "bpe")})):
        report = run_ladder(
            train_files,
            valid_files,
            work / name,
            budget_tokens=args.budget_tokens,
            max_valid_chars=args.max_valid_chars,
            **kwargs,
        )
        results[name] = {**report, "order_breaks": order_breaks(report["rows"])}
    for name, report in results.items():
        print(f"\n### {name}\n\n{format_table(report)}\n")
        breaks = report["order_breaks"]
        print("expected order holds" if not breaks else "order breaks: " + "; ".join(breaks))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; runs in {work}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
