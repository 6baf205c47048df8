"""Evaluation throughput: `hfpretrain.evaluation.metrics.evaluate_texts` against a plain one-document-at-a-time loop.

Both score the same documents under the same model with the same sliding window (each token once, context carried
over) and must agree on the total NLL; the baseline runs one forward pass per window of one document at a time, as
the transformers perplexity guide does, while ours batches the windows of all documents sorted by length. Measured in
the same process, baseline / ours / baseline, tokens scored per second.

Documents: the Japanese valid files of ../shared/data, the first 150,000 characters of each (Wikipedia leads: short;
statutes: medium; Aozora: long books that need the sliding window). Model: the gpt-tiny preset (untrained: speed
does not depend on the weights) with a tokenizer trained on the train files.

    python benchmarks/eval_bench.py [--preset gpt-tiny] [--batch-size 16] [--threads 2]
"""

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hfpretrain.evaluation.metrics import evaluate_texts, windows_for

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("ja_wikipedia_kwc", "ja_law_egov", "ja_aozora")


def read_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [t for t in (json.loads(line)["text"] for line in f) if t]


def capped(texts: list[str], chars: int) -> list[str]:
    """The first documents up to `chars` characters in all (the last one cut), so every set weighs the same."""
    out = []
    for text in texts:
        if chars <= 0:
            break
        out.append(text[:chars])
        chars -= len(out[-1])
    return out


@torch.no_grad()
def one_document_at_a_time(model, tokenizer, texts, max_length, stride) -> tuple[float, int]:
    """The baseline: for each document, for each of its windows, one forward pass of batch 1."""
    nll, tokens = 0.0, 0
    for text in texts:
        ids = [tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
        for window, n_targets in windows_for(ids, max_length, stride):
            x = torch.tensor([window])
            logits = model(input_ids=x).logits[0, :-1].float()
            losses = F.cross_entropy(logits, x[0, 1:], reduction="none")
            nll += losses[-n_targets:].double().sum().item()
            tokens += n_targets
    return nll, tokens


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="gpt-tiny")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--chars-per-set", type=int, default=150_000, help="Characters taken from each valid file.")
    parser.add_argument("--json", help="Write the results here.")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the shared corpora)")
        return 0
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from transformers import AutoTokenizer

    from hfpretrain.configuration_gpt import GPTConfig
    from hfpretrain.modeling_gpt import GPTForCausalLM
    from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer

    with tempfile.TemporaryDirectory() as work:
        config = TokenizerTrainingConfig(vocab_size=8192, max_chars=3_000_000, show_progress=False)
        train_tokenizer([str(DATA / s / "train.jsonl") for s in SETS], config, Path(work) / "tok")
        tokenizer = AutoTokenizer.from_pretrained(Path(work) / "tok")
    model = GPTForCausalLM(GPTConfig.from_preset(args.preset, vocab_size=len(tokenizer))).eval()
    texts = [t for s in SETS for t in capped(read_texts(DATA / s / "valid.jsonl"), args.chars_per_set)]
    max_length = model.config.max_position_embeddings
    stride = max_length // 2

    runs = {}

    def timed(name, fn):
        start = time.perf_counter()
        nll, tokens = fn()
        seconds = time.perf_counter() - start
        runs.setdefault(name, []).append({"seconds": seconds, "tokens": tokens, "nll": nll})
        print(f"{name:>24}: {tokens / seconds:10.0f} tokens/s ({tokens} tokens, {seconds:.1f} s)", flush=True)

    def ours():
        kwargs = {"max_length": max_length, "stride": stride, "batch_size": args.batch_size}
        r = evaluate_texts(model, tokenizer, texts, count_words_=False, **kwargs)
        return r["nll_nats"], r["tokens"]

    def baseline():
        return one_document_at_a_time(model, tokenizer, texts, max_length, stride)

    print(
        f"{len(texts)} documents, {sum(map(len, texts)):,} characters; {args.preset} "
        f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters), context {max_length}, stride {stride}, "
        f"batch {args.batch_size}, {args.threads} threads"
    )
    timed("one document at a time", baseline)
    timed("evaluate_texts", ours)
    timed("one document at a time", baseline)
    timed("evaluate_texts", ours)

    best = {name: min(r["seconds"] for r in rs) for name, rs in runs.items()}
    tokens = runs["evaluate_texts"][0]["tokens"]
    assert tokens == runs["one document at a time"][0]["tokens"], "both must score the same tokens"
    nll_ours, nll_base = runs["evaluate_texts"][0]["nll"], runs["one document at a time"][0]["nll"]
    rel = abs(nll_ours - nll_base) / nll_base
    ratio = best["one document at a time"] / best["evaluate_texts"]
    print(
        f"speed-up of evaluate_texts over one document at a time: {ratio:.2f}x "
        f"(best of 2 each); NLL agrees to {rel:.1e} relative ({nll_ours / tokens / math.log(2):.4f} bits/token)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "speedup": ratio, "nll_relative_difference": rel}))
    return 0 if rel < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
