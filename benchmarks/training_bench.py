"""Training benchmarks: the loop's overhead over a bare training step, and quality at equal compute on Japanese.

1. Loop overhead: tokens/s of `hfpretrain.training.train` (data loading, guards, logging, progress bar — evaluation
   and checkpoint time excluded, as the loop itself reports) against a bare loop of forward + backward + AdamW step
   of the same model on the same batches, measured in the same process (bare, loop, bare). Target ≥ 0.95.
2. Quality at equal compute: the modern preset (RoPE, RMSNorm, SwiGLU), the GPT-2 shape (learned positions,
   LayerNorm, GELU, biases, tied) and transformers' GPT2LMHeadModel of that shape, trained by the same loop on the
   same Japanese tokens with the same tokenizer; validation bits per character on the valid files.

    python benchmarks/training_bench.py --parts overhead quality --tokens 2000000
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hfpretrain.training.config import config_from_dict
from hfpretrain.training.loop import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
JA_SETS = ("ja_wikipedia_kwc", "ja_aozora", "ja_law_egov")
SHAPE = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 6, "max_position_embeddings": 256}


def japanese_tokenizer(work: Path) -> Path:
    from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer

    out = work / "tok"
    files = [str(DATA / s / "train.jsonl") for s in JA_SETS]
    train_tokenizer(files, TokenizerTrainingConfig(vocab_size=8192, max_chars=5_000_000, show_progress=False), out)
    return out


def base_config(work: Path, tokenizer: Path, name: str, tokens: int, **model) -> dict:
    return {
        "model": {"preset": "gpt-tiny", **model},
        "data": {
            "tokenizer": str(tokenizer),
            "train": [str(DATA / s / "train.jsonl") for s in JA_SETS],
            "valid": [str(DATA / s / "valid.jsonl") for s in JA_SETS],
            "seq_len": 256,
            "max_train_tokens": 4 * tokens,
        },
        "optimization": {
            "global_batch_tokens": 8192,
            "micro_batch_size": 8,
            "max_tokens": tokens,
            "learning_rate": 2e-3,
            "warmup_steps": 20,
            "mixed_precision": "bf16",
        },
        "checkpointing": {"output_dir": str(work / name), "save_every": None, "keep_last": 1},
        "logging": {"log_every": 10, "eval_every": None, "eval_sequences": 512, "trackers": [], "progress_bar": False},
    }


def bare_tokens_per_second(config, steps: int = 20) -> float:
    """Forward + backward + AdamW on the loop's own model and data, nothing else."""
    from hfpretrain.data.shards import PackedTokenDataset
    from hfpretrain.training.loop import build_model, load_tokenizer
    from hfpretrain.training.optim import make_optimizer

    tokenizer = load_tokenizer(config)
    torch.manual_seed(0)
    model = build_model(config, tokenizer).train()
    optimizer = make_optimizer(model, config.optimization, torch.device("cpu"))
    data = PackedTokenDataset(Path(config.checkpointing.output_dir) / "data_cache" / "train", config.data.seq_len)
    it = iter(data)
    accumulation = config.optimization.global_batch_tokens // (
        config.data.seq_len * config.optimization.micro_batch_size
    )
    batches = [
        torch.stack([next(it)["input_ids"] for _ in range(config.optimization.micro_batch_size)])
        for _ in range(accumulation * 2)
    ]

    def step():
        for ids in batches[:accumulation]:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(input_ids=ids[:, :-1]).logits
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
            (loss / accumulation).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * config.optimization.global_batch_tokens / (time.perf_counter() - start)


def loop_tokens_per_second(run_dir: Path) -> float:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_second"] for r in records if "tokens_per_second" in r]
    rates = rates[1:] or rates  # the first interval holds start-up
    return sorted(rates)[len(rates) // 2]


def overhead(work: Path, tokenizer: Path) -> dict:
    from hfpretrain.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    config = config_from_dict(
        base_config(work, tokenizer, "overhead", 8192 * 60, overrides={**SHAPE, "num_key_value_heads": 2})
    )
    train(config)  # also tokenizes the data cache the bare loop reads
    bare_before = bare_tokens_per_second(config)
    config = config_from_dict(
        base_config(work, tokenizer, "overhead", 8192 * 60, overrides={**SHAPE, "num_key_value_heads": 2})
    )
    import shutil

    for leftover in ("checkpoints", "final", "metrics.jsonl"):
        path = work / "overhead" / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    train(config)
    loop = loop_tokens_per_second(work / "overhead")
    bare_after = bare_tokens_per_second(config)
    bare = (bare_before + bare_after) / 2
    result = {
        "loop_tokens_per_s": loop,
        "bare_tokens_per_s": bare,
        "ratio": loop / bare,
        "bare_before": bare_before,
        "bare_after": bare_after,
    }
    print(json.dumps(result, indent=2), flush=True)
    return result


def quality(work: Path, tokenizer: Path, tokens: int, only: list[str] | None = None) -> dict:
    variants = {
        "modern (RoPE, RMSNorm, SwiGLU)": {
            "overrides": {**SHAPE, "num_key_value_heads": 6, "tie_word_embeddings": True}
        },
        "GPT-2 shape (ours)": {"preset": "gpt2-small", "overrides": {**SHAPE, "vocab_size": 8192}},
        "GPT2LMHeadModel (transformers)": {
            "preset": "gpt2-small",
            "overrides": {**SHAPE, "vocab_size": 8192},
            "implementation": "transformers",
        },
    }
    results = {}
    for name, model in variants.items():
        if only and not any(name.lower().startswith(o.lower()) for o in only):
            continue
        run = name.split(" ")[0].lower().replace("-", "")
        config = base_config(work, tokenizer, run, tokens, **model)
        start = time.perf_counter()
        summary = train(config_from_dict(config))
        seconds = time.perf_counter() - start
        records = [json.loads(line) for line in (work / run / "metrics.jsonl").read_text().splitlines()]
        last = [r for r in records if "val_loss" in r][-1]
        params = sum(
            p.numel()
            for p in __import__("transformers")
            .AutoModelForCausalLM.from_pretrained(work / run / "final", trust_remote_code=True)
            .parameters()
        )
        results[name] = {
            "val_bits_per_char": last["val_bits_per_char"],
            "val_loss": last["val_loss"],
            "seconds": seconds,
            "tokens": summary["tokens"],
            "parameters": params,
            "tokens_per_second": loop_tokens_per_second(work / run),
        }
        print(
            f"{name:<34} {last['val_bits_per_char']:.4f} bits/char  val loss {last['val_loss']:.4f}  "
            f"{params / 1e6:.1f}M params  {seconds / 60:.1f} min",
            flush=True,
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["overhead", "quality"])
    parser.add_argument("--tokens", type=int, default=2_000_000, help="training tokens per model (quality)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--variants", nargs="+", help="quality: only the variants whose names start so (e.g. GPT2LM)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: this benchmark needs the shared corpora (../shared/data).")
    work = Path(tempfile.mkdtemp(prefix="trainbench_"))
    tokenizer = japanese_tokenizer(work)
    results = {}
    if "overhead" in args.parts:
        results["overhead"] = overhead(work, tokenizer)
    if "quality" in args.parts:
        results["quality"] = quality(work, tokenizer, args.tokens, args.variants)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return results


if __name__ == "__main__":
    main()
