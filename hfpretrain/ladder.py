"""`hfpretrain ladder`: the lecture's ladder on your own text — uniform → unigram → bigram → n-gram → MLP → RNN →
attention → GPT, on the same tokens, each rung scored the same way.

Design:
- One tokenization for every rung: a tokenizer folder, or the character tokenizer (`char_tokenizer.py`) built from
  the training text. Bits per character (total NLL / ln 2 / characters of the validation text) compares rungs
  across tokenizations; loss per token only within one.
- One token budget: the training text is tokenized and every document gives the same share of its tokens (one
  contiguous window at a seeded position), so a few long novels cannot crowd out short articles; these exact token
  windows are what the count models count and what each neural model trains on, one pass over them.
- Count models (`evaluation/ngram.py`) score every validation document after a begin-of-sequence context and
  predict each of its tokens, no end token; neural models are scored by `evaluation/metrics.py::evaluate_texts`,
  which predicts the same tokens after the end-of-text separator, with sliding windows of the training length.
  The ladder checks that both counted the same targets.
- Neural models are trained by the pretraining loop (`training/loop.py`, `model.architecture`), saved as
  `save_pretrained` folders and scored after loading them back with `AutoModelForCausalLM`.
- Sizes are small and comparable (a few million weights at most) so that the whole ladder runs on a laptop CPU;
  the GPT is a named preset (`gpt-tiny` by default). Small budgets are step-limited, so batches are small: 4 × 128
  tokens (on 150k Japanese characters, against 16 × 128: MLP 6.69 → 6.37, RNN 7.16 → 6.25 bits/char). Learning
  rates are high for Adam: 1e-2 for the MLP and RNN (3e-3 left them near the unigram on the same run), 5e-3 for
  the attention layer, 2e-3 for the GPT (as `benchmarks/training_bench.py`; 5e-3 was worse) — a few short runs of
  the benchmark's data, not a sweep.

Writes OUTPUT/ladder.json, OUTPUT/ladder.md and OUTPUT/ladder.png, and one training run folder per neural rung.
"""

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

from .evaluation.ngram import NGramModel, UniformModel, UnigramModel
from .text_sources import iter_documents

RUNGS = ("uniform", "unigram", "ngram", "mlp", "rnn", "attention", "gpt")
# Learning rate of each neural rung (Adam); see the module docstring.
LEARNING_RATES = {"mlp": 1e-2, "rnn": 1e-2, "attention": 5e-3, "gpt": 2e-3}
DESCRIPTIONS = {
    "uniform": "every token 1/V",
    "unigram": "add-one unigram",
    "mlp": "fixed-window MLP (Bengio et al. 2003)",
    "rnn": "recurrent LM",
    "attention": "1 attention-only layer",
    "gpt": "GPT",
}


def _log(message: str) -> None:
    print(message, flush=True)


def budget_windows(documents: list[list[int]], budget: int, seed: int) -> list[list[int]]:
    """The same share of every document's tokens, as one contiguous window at a seeded random position, so that
    the windows hold about `budget` tokens in all (all tokens when there are fewer)."""
    total = sum(len(d) for d in documents)
    if total <= budget:
        return [d for d in documents if d]
    share = budget / total
    rng = random.Random(seed)
    windows = []
    for ids in documents:
        want = round(len(ids) * share)
        if want:
            start = rng.randrange(0, len(ids) - want + 1)
            windows.append(ids[start : start + want])
    return windows


def _shorten(texts: list[str], max_chars: int | None) -> list[str]:
    """Every validation text cut to the same share of its characters (its beginning), to at most `max_chars`."""
    total = sum(len(t) for t in texts)
    if not max_chars or total <= max_chars:
        return texts
    share = max_chars / total
    return [t[: round(len(t) * share)] for t in texts if round(len(t) * share)]


def _load_tokenizer(tokenizer: str | None, char_level: bool, train_inputs: list[str], out: Path, text_field: str):
    from transformers import AutoTokenizer

    if bool(tokenizer) == bool(char_level):
        raise ValueError(
            "Choose the tokenization: pass --tokenizer DIR (e.g. from `hfpretrain tokenizer train`) or "
            "--char-level, not both and not neither."
        )
    if char_level:
        from .char_tokenizer import train_char_tokenizer

        train_char_tokenizer(train_inputs, out / "tokenizer", text_field)
        path = out / "tokenizer"
    else:
        path = Path(tokenizer)
        if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
            raise ValueError(
                f"{path} is not a tokenizer folder (no tokenizer.json); train one with "
                "`hfpretrain tokenizer train` or use --char-level."
            )
    loaded = AutoTokenizer.from_pretrained(path)
    if loaded.eos_token_id is None:
        raise ValueError(f"The tokenizer in {path} has no end-of-text token, which separates documents in training.")
    return loaded, path


def _stored_counts(model) -> int:
    """What a count model stores, its "parameters": the n-gram counts of every order, the unigram's seen symbols."""
    if isinstance(model, NGramModel):
        return sum(len(counts) for counts in model.counts.values())
    return len(model.counts) if isinstance(model, UnigramModel) else 0


def _count_model_row(name: str, model, train: list[list[int]], valid: list[list[int]], chars: int) -> dict:
    start = time.perf_counter()
    nll, tokens = model.fit(train).score(valid)
    return {
        "rung": name,
        "kind": "count",
        "loss": nll / tokens,
        "bits_per_char": nll / math.log(2) / chars,
        "parameters": _stored_counts(model),
        "seconds": time.perf_counter() - start,
        "nll_nats": nll,
        "tokens": tokens,
    }


def _neural_config(rung: str, out: Path, tokenizer_path: Path, settings: dict, trained_tokens: int) -> dict:
    seq_len, width = settings["seq_len"], settings["hidden_size"]
    overrides = {
        "mlp": {"context_size": settings["mlp_context"], "embedding_size": 64, "hidden_size": 2 * width},
        "rnn": {"cell": settings["rnn_cell"], "hidden_size": width},
        "attention": {"hidden_size": width, "num_attention_heads": 4},
        "gpt": {},
    }[rung]
    batch = seq_len * settings["micro_batch_size"]
    return {
        "model": {
            "architecture": rung,
            "preset": settings["gpt_preset"],
            "overrides": overrides,
        },
        "data": {"tokenizer": str(tokenizer_path), "train": [str(out / "data")], "seq_len": seq_len},
        "optimization": {
            "global_batch_tokens": batch,
            "micro_batch_size": settings["micro_batch_size"],
            "max_tokens": trained_tokens,
            "learning_rate": LEARNING_RATES[rung],
            "mixed_precision": settings["mixed_precision"],
            "seed": settings["seed"],
        },
        "checkpointing": {"output_dir": str(out / "runs" / rung), "save_every": None, "keep_last": 1},
        "logging": {"log_every": 5, "eval_every": None, "trackers": [], "progress_bar": False},
    }


def run_ladder(
    train_inputs: list[str],
    valid_inputs: list[str],
    output_dir: str | Path,
    tokenizer: str | None = None,
    char_level: bool = False,
    budget_tokens: int = 500_000,
    rungs: tuple[str, ...] = RUNGS,
    ngram_orders: tuple[int, ...] = (2, 3, 4),
    seq_len: int = 128,
    micro_batch_size: int = 4,
    hidden_size: int = 256,
    mlp_context: int = 16,
    rnn_cell: str = "lstm",
    gpt_preset: str = "gpt-tiny",
    max_valid_chars: int | None = None,
    mixed_precision: str = "bf16",
    text_field: str = "text",
    seed: int = 0,
) -> dict[str, Any]:
    """Train and score every rung; returns {"settings", "data", "rows"} and writes ladder.json/.md/.png."""
    import torch
    from transformers import AutoModelForCausalLM

    from .data.shards import write_shard
    from .evaluation.metrics import evaluate_texts
    from .training.config import config_from_dict
    from .training.loop import train

    unknown = [r for r in rungs if r not in RUNGS]
    if unknown:
        raise ValueError(f"Unknown rung(s) {', '.join(unknown)}; choose among {', '.join(RUNGS)}.")
    if budget_tokens < 1:
        raise ValueError(f"--budget-tokens must be positive, got {budget_tokens}.")
    if rnn_cell not in ("lstm", "gru"):
        raise ValueError(f"rnn_cell must be lstm or gru, got {rnn_cell!r}.")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "train": list(train_inputs),
        "valid": list(valid_inputs),
        "tokenization": "char" if char_level else str(tokenizer),
        "budget_tokens": budget_tokens,
        "rungs": list(rungs),
        "ngram_orders": list(ngram_orders),
        "seq_len": seq_len,
        "micro_batch_size": micro_batch_size,
        "hidden_size": hidden_size,
        "mlp_context": mlp_context,
        "rnn_cell": rnn_cell,
        "gpt_preset": gpt_preset,
        "max_valid_chars": max_valid_chars,
        "mixed_precision": mixed_precision,
        "seed": seed,
    }

    ####################################################################################################################
    # Tokens: one tokenizer, the budget's windows of the training text, the validation text
    tok, tokenizer_path = _load_tokenizer(tokenizer, char_level, train_inputs, out, text_field)
    train_texts = list(iter_documents(train_inputs, text_field))
    valid_texts = _shorten([t for t in iter_documents(valid_inputs, text_field) if t], max_valid_chars)
    if not train_texts or not valid_texts:
        raise ValueError(
            f"No {'training' if not train_texts else 'validation'} text in the given files "
            f"(field {text_field!r}); check --input/--valid and --text-field."
        )
    documents = tok(train_texts, add_special_tokens=False)["input_ids"]
    windows = budget_windows(documents, budget_tokens, seed)
    trained_tokens = write_shard(
        out / "data" / "train" / "train.ds", [[*w, tok.eos_token_id] for w in windows], str(tokenizer_path), len(tok)
    )
    if trained_tokens < 2 * seq_len * micro_batch_size:
        raise ValueError(
            f"The budget holds {trained_tokens} tokens: fewer than two batches of {micro_batch_size} × "
            f"{seq_len}. Raise --budget-tokens (or give more text), or lower --seq-len."
        )
    valid_ids = tok(valid_texts, add_special_tokens=False)["input_ids"]
    valid_chars = sum(len(t) for t in valid_texts)
    data = {
        "vocab_size": len(tok),
        "train_documents": len(train_texts),
        "train_tokens_available": sum(len(d) for d in documents),
        "trained_tokens": trained_tokens,
        "valid_documents": len(valid_texts),
        "valid_chars": valid_chars,
        "valid_tokens": sum(len(v) for v in valid_ids),
    }
    _log(
        f"ladder: {trained_tokens:,} training tokens (of {data['train_tokens_available']:,}), "
        f"{data['valid_tokens']:,} validation tokens = {valid_chars:,} characters, vocabulary {len(tok):,}"
    )

    ####################################################################################################################
    # Count models
    rows = []
    count_models = []
    if "uniform" in rungs:
        count_models.append(("uniform", UniformModel(len(tok))))
    if "unigram" in rungs:
        count_models.append(("unigram", UnigramModel(len(tok))))
    if "ngram" in rungs:
        count_models += [("bigram" if n == 2 else f"{n}-gram", NGramModel(n, len(tok))) for n in ngram_orders]
    for name, model in count_models:
        rows.append(_count_model_row(name, model, windows, valid_ids, valid_chars))
        _log(f"ladder: {name:<10} {rows[-1]['bits_per_char']:.4f} bits/char ({rows[-1]['seconds']:.1f} s)")

    ####################################################################################################################
    # Neural models, trained by the pretraining loop and scored after loading back
    for rung in (r for r in RUNGS if r in rungs and r in LEARNING_RATES):
        config = config_from_dict(_neural_config(rung, out, tokenizer_path, settings, trained_tokens))
        shutil.rmtree(config.checkpointing.output_dir, ignore_errors=True)  # a fresh run, not a resumed or appended one
        start = time.perf_counter()
        train(config)
        train_seconds = time.perf_counter() - start
        model = AutoModelForCausalLM.from_pretrained(out / "runs" / rung / "final", dtype=torch.float32)
        result = evaluate_texts(
            model, tok, valid_texts, max_length=seq_len, batch_size=16, per_document=True, count_words_=False
        )
        if [d["tokens"] for d in result["per_document"]] != [len(ids) for ids in valid_ids]:
            raise RuntimeError(  # the count models and evaluate_texts must predict the same targets
                f"{rung}: evaluate_texts scored {result['tokens']} tokens, the count models {data['valid_tokens']}, "
                "not the same tokens of every document."
            )
        rows.append(
            {
                "rung": rung,
                "kind": "neural",
                "model": type(model).__name__,
                "loss": result["loss"],
                "bits_per_char": result["bits_per_char"],
                "parameters": sum(p.numel() for p in model.parameters()),
                "seconds": time.perf_counter() - start,
                "train_seconds": train_seconds,
                "nll_nats": result["nll_nats"],
                "tokens": result["tokens"],
            }
        )
        _log(f"ladder: {rung:<10} {result['bits_per_char']:.4f} bits/char ({rows[-1]['seconds']:.1f} s)")

    report = {"settings": settings, "data": data, "rows": rows}
    (out / "ladder.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "ladder.md").write_text(format_table(report) + "\n", encoding="utf-8")
    plot_ladder(report, out / "ladder.png", out / "runs")
    return report


def format_table(report: dict) -> str:
    """The ladder as a Markdown table (also readable as plain text)."""
    data, settings = report["data"], report["settings"]
    lines = [
        f"Tokenization: {settings['tokenization']} (vocabulary {data['vocab_size']:,}); "
        f"{data['trained_tokens']:,} training tokens per rung; validation {data['valid_tokens']:,} tokens = "
        f"{data['valid_chars']:,} characters.",
        "",
        "| rung | model | val loss (nats/token) | bits/char | parameters | wall time (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        description = DESCRIPTIONS.get(row["rung"], "Kneser–Ney (modified, interpolated)")
        if row["rung"] == "rnn":
            description += f" ({settings['rnn_cell'].upper()})"
        if row["rung"] == "gpt":
            description += f" ({settings['gpt_preset']})"
        if row["rung"] == "mlp":
            description += f", {settings['mlp_context']}-token window"
        params = f"{row['parameters']:,}" + (" counts" if row["kind"] == "count" and row["parameters"] else "")
        lines.append(
            f"| {row['rung']} | {description} | {row['loss']:.4f} | {row['bits_per_char']:.4f} | {params} | "
            f"{row['seconds']:.1f} |"
        )
    return "\n".join(lines)


def plot_ladder(report: dict, path: Path, runs: Path) -> Path:
    """Bits per character of every rung (bars), and the training loss of the neural rungs against tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["rung"] for r in rows]
    values = [r["bits_per_char"] for r in rows]
    colors = ["tab:gray" if r["kind"] == "count" else "tab:blue" for r in rows]
    bars.barh(names[::-1], values[::-1], color=colors[::-1])
    for y, value in enumerate(values[::-1]):
        bars.text(value, y, f" {value:.3f}", va="center", fontsize=8)
    bars.set_xlabel("validation bits per character (lower is better)")
    bars.set_title(f"The ladder: {report['settings']['tokenization']}, {report['data']['trained_tokens']:,} tokens")
    bars.set_xlim(0, max(values) * 1.15)
    for row in rows:
        metrics = runs / row["rung"] / "metrics.jsonl"
        if row["kind"] != "neural" or not metrics.is_file():
            continue
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
        points = [(r["tokens"], r["loss"]) for r in records if "tokens" in r and "loss" in r and "event" not in r]
        if points:
            curves.plot(*zip(*points, strict=True), label=row["rung"])
    curves.set_xlabel("training tokens")
    curves.set_ylabel("training loss (nats/token)")
    curves.set_title("Training loss of the neural rungs")
    if curves.lines:
        curves.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def cmd_ladder(args: argparse.Namespace) -> int:
    report = run_ladder(
        args.input,
        args.valid,
        args.output,
        tokenizer=args.tokenizer,
        char_level=args.char_level,
        budget_tokens=args.budget_tokens,
        rungs=tuple(args.rungs),
        ngram_orders=tuple(args.ngram_orders),
        seq_len=args.seq_len,
        micro_batch_size=args.micro_batch_size,
        hidden_size=args.hidden_size,
        mlp_context=args.mlp_context,
        rnn_cell=args.rnn_cell,
        gpt_preset=args.gpt_preset,
        max_valid_chars=args.max_valid_chars,
        mixed_precision=args.mixed_precision,
        text_field=args.text_field,
        seed=args.seed,
    )
    print(format_table(report))
    print(f"\nwrote {Path(args.output) / 'ladder.json'}, ladder.md, ladder.png")
    return 0


def add_parser(sub) -> None:
    """Register `hfpretrain ladder` on the command line's subparsers."""
    from .configuration_gpt import PRESETS

    ladder = sub.add_parser(
        "ladder",
        help="train and compare n-gram, MLP, RNN, attention and GPT language models on the same tokens",
        description=__doc__.split("\n\n")[0],
    )
    ladder.add_argument("--input", nargs="+", required=True, help="training text: JSONL(.gz), .txt, Parquet…")
    ladder.add_argument("--valid", nargs="+", required=True, help="validation text, in the same formats")
    ladder.add_argument("--output", default="runs/ladder", help="folder for the table, plot and runs")
    tokenization = ladder.add_mutually_exclusive_group(required=True)
    tokenization.add_argument("--tokenizer", help="a tokenizer folder (hfpretrain tokenizer train)")
    tokenization.add_argument(
        "--char-level", action="store_true", help="one character = one token, UTF-8 bytes for unseen characters"
    )
    ladder.add_argument("--budget-tokens", type=int, default=500_000, help="training tokens of every rung")
    ladder.add_argument(
        "--rungs",
        nargs="+",
        default=list(RUNGS),
        choices=RUNGS,
        metavar="RUNG",
        help=f"rungs to run, among {', '.join(RUNGS)} (default: all; ngram runs every --ngram-orders)",
    )
    ladder.add_argument("--ngram-orders", nargs="+", type=int, default=[2, 3, 4], help="orders of the n-gram rung")
    ladder.add_argument("--seq-len", type=int, default=128, help="training sequence length (and scoring window)")
    ladder.add_argument("--micro-batch-size", type=int, default=4, help="sequences per optimizer step")
    ladder.add_argument("--hidden-size", type=int, default=256, help="width of the RNN and attention models")
    ladder.add_argument("--mlp-context", type=int, default=16, help="tokens the MLP model sees")
    ladder.add_argument("--rnn-cell", choices=["lstm", "gru"], default="lstm", help="recurrent cell")
    ladder.add_argument("--gpt-preset", choices=list(PRESETS), default="gpt-tiny", help="the GPT rung's preset")
    ladder.add_argument("--max-valid-chars", type=int, default=None, help="cut the validation text to this size")
    ladder.add_argument("--mixed-precision", choices=["bf16", "no"], default="bf16", help="autocast for training")
    ladder.add_argument("--text-field", default="text", help="field of the text in JSONL/Parquet")
    ladder.add_argument("--seed", type=int, default=0, help="seed of the budget windows and of training")
    ladder.set_defaults(func=cmd_ladder)


__all__ = ["RUNGS", "add_parser", "budget_windows", "format_table", "plot_ladder", "run_ladder"]
