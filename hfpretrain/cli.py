"""The `hfpretrain` command line: a thin layer over library functions of the same names.

hfpretrain info [--preset NAME | --config PATH] [--json]     versions, devices; parameter and FLOP breakdown
hfpretrain convert import-gpt2|import-llama SRC DST          GPT-2 / Llama checkpoints → our GPT
hfpretrain convert export --to llama|gpt2 SRC DST            our GPT → a plain LlamaForCausalLM / GPT2LMHeadModel
hfpretrain tokenizer train --input DATA --vocab-size N --output DIR
hfpretrain tokenizer stats DIR --input FILE [--json]
hfpretrain data run --input RAW --output OUT --language ja [--tokenizer TOK] [--config data.yaml]
hfpretrain ladder --input TRAIN --valid VALID (--tokenizer DIR | --char-level) [--budget-tokens N]
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from huggingface_hub.errors import StrictDataclassError

from . import ladder
from .accounting import flops_breakdown, parameter_breakdown
from .configuration_gpt import PRESETS, GPTConfig


def load_model_config(path: str | Path) -> GPTConfig:
    """A GPTConfig from a saved model folder, a config.json, or a YAML/JSON file of GPTConfig fields.

    A YAML recipe may keep the fields under a `model:` section, and may name `preset:` plus overrides."""
    path = Path(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is a folder without config.json; pass a saved model folder or a file.")
        path = path / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"No such config file: {path}")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        fields = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    else:
        fields = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(fields, dict):
        raise ValueError(f"{path} must hold a mapping of config fields, got {type(fields).__name__}.")
    fields = fields.get("model", fields)
    model_type = fields.pop("model_type", GPTConfig.model_type)
    if model_type != GPTConfig.model_type:
        raise ValueError(f"{path} describes a {model_type!r} model; hfpretrain info reads {GPTConfig.model_type!r}.")
    for key in ("architectures", "auto_map", "transformers_version", "dtype", "torch_dtype"):
        fields.pop(key, None)
    preset = fields.pop("preset", None)
    # A training recipe's model section: preset + overrides, plus settings that do not change the architecture.
    fields.update(fields.pop("overrides", None) or {})
    if fields.pop("init_from", None):
        raise ValueError(f"{path} continues from a model folder (init_from); run hfpretrain info --config on it.")
    for key in ("implementation", "attn_implementation", "activation_checkpointing", "compile"):
        fields.pop(key, None)
    return GPTConfig.from_preset(preset, **fields) if preset else GPTConfig(**fields)


def environment_info() -> dict[str, Any]:
    """Versions of Python and of every library in the pipeline, and the accelerators torch sees."""
    import importlib.metadata as md
    import platform

    import torch

    from . import __version__

    versions = {"python": platform.python_version(), "hfpretrain": __version__}
    for package in (
        "torch",
        "transformers",
        "tokenizers",
        "datasets",
        "accelerate",
        "evaluate",
        "datatrove",
        "huggingface_hub",
        "safetensors",
        "xxhash",
    ):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    devices = {"cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        devices["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        devices["bf16"] = torch.cuda.is_bf16_supported()
    devices["mps"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {"versions": versions, "devices": devices}


def model_info(config: GPTConfig, seq_len: int | None = None) -> dict[str, Any]:
    params = parameter_breakdown(config)
    flops = flops_breakdown(config, seq_len)
    # Hoffmann et al. 2022 ("Chinchilla"): compute-optimal training uses about 20 tokens per parameter.
    tokens = 20 * params["total"]
    return {
        "config": {k: v for k, v in config.to_dict().items() if k in GPTConfig.__dataclass_fields__},
        "parameters": params,
        "flops": flops,
        "chinchilla_tokens": tokens,
        "chinchilla_train_flops": tokens * flops["train_per_token"],
    }


def _describe(config: GPTConfig) -> str:
    kv = f", {config.num_key_value_heads} kv" if config.num_key_value_heads != config.num_attention_heads else ""
    return (
        f"{config.num_hidden_layers} layers × {config.hidden_size} wide, {config.num_attention_heads} heads{kv} "
        f"of {config.head_dim}, ffn {config.intermediate_size} ({config.hidden_act}), "
        f"{config.position_embedding_type} positions, {config.norm_type}"
        f"{', qk-norm' if config.qk_norm else ''}, {'biases' if config.bias else 'no biases'}, "
        f"{'tied' if config.tie_word_embeddings else 'untied'} embeddings, vocab {config.vocab_size:,}, "
        f"context {config.max_position_embeddings:,}"
    )


def _human(n: float) -> str:
    for unit, size in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def format_model_info(name: str, config: GPTConfig, info: dict[str, Any]) -> str:
    params, flops = info["parameters"], info["flops"]
    total = params["total"]
    lines = [f"{name}: {_describe(config)}", "", f"{'parameters':<16}{'count':>16}{'share':>9}"]
    for key in ("embeddings", "attention", "feed_forward", "norms", "output_head"):
        lines.append(f"  {key:<14}{params[key]:>16,}{100 * params[key] / total:>8.1f}%")
    lines += [
        f"  {'total':<14}{total:>16,}",
        f"  {'non-embedding':<14}{params['non_embedding']:>16,}",
        "",
        f"FLOPs per token at context {flops['seq_len']:,} (6N + 12·L·T·d_attn, N = {flops['matmul_parameters']:,} "
        "matmul weights)",
        f"  forward        {_human(flops['forward_per_token']):>10}",
        f"  training       {_human(flops['train_per_token']):>10}   "
        f"(dense {_human(flops['train_dense_per_token'])}, attention {_human(flops['train_attention_per_token'])})",
        f"Compute-optimal budget (20 tokens/parameter, Hoffmann et al. 2022): {_human(info['chinchilla_tokens'])} "
        f"tokens, {_human(info['chinchilla_train_flops'])}FLOP",
    ]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    result: dict[str, Any] = environment_info()
    name, config = None, None
    if args.preset:
        name, config = args.preset, GPTConfig.from_preset(args.preset)
    elif args.config:
        name, config = str(args.config), load_model_config(args.config)
    if config is not None:
        result["model"] = {"name": name, **model_info(config, args.seq_len)}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return 0
    print("  ".join(f"{k} {v}" for k, v in result["versions"].items()))
    print("  ".join(f"{k}: {v}" for k, v in result["devices"].items()))
    if config is not None:
        print()
        print(format_model_info(name, config, result["model"]))
    else:
        print(f"\npresets: {', '.join(PRESETS)} (hfpretrain info --preset NAME)")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert_folder

    direction = f"export-{args.to}" if args.direction == "export" else args.direction
    if args.direction == "export" and not args.to:
        raise ValueError("convert export needs --to llama or --to gpt2")
    overrides = {} if args.dropout is None else {"dropout": args.dropout, "attention_dropout": args.dropout}
    if overrides and not direction.startswith("import"):
        raise ValueError("--dropout applies to imports only")
    result = convert_folder(direction, args.source, args.destination, **overrides)
    print(
        f"{direction}: saved a {result['model_type']} model to {result['destination']}"
        f"{' with its tokenizer' if result['tokenizer'] else ' (the source had no tokenizer)'}; "
        f"max |Δlogit| on a random batch = {result['max_abs_logit_difference']:.2e}"
    )
    return 0


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from .configs import build_config
    from .runtime import tune_cpu_allocator
    from .text_sources import iter_documents
    from .tokenizer import TokenizerTrainingConfig, format_stats, tokenizer_stats, train_tokenizer

    tune_cpu_allocator()
    overrides = {name: getattr(args, name) for name in TOKENIZER_FLAGS}
    config = build_config(TokenizerTrainingConfig, args.config, overrides)
    tokenizer, report = train_tokenizer(args.input, config, output=args.output)
    source = report["source"]
    print(
        f"trained {config.algorithm} tokenizer of {report['vocab_size']:,} tokens on {source['documents']:,} "
        f"documents ({source['characters']:,} characters) in {report['seconds']['total']:.1f} s → {args.output}"
    )
    for kind in ("skipped", "repaired"):
        if source[kind]:
            print(f"  {kind}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(source[kind].items())))
    # Statistics on (a sample of) the training text, saved beside the tokenizer as DESIGN.md's stats.json.
    sample = []
    for text in iter_documents(args.input, config.text_field):
        sample.append(text)
        if sum(map(len, sample)) > 2_000_000:
            break
    stats = tokenizer_stats(tokenizer, sample)
    (Path(args.output) / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    print(format_stats(stats))
    return 0


def cmd_tokenizer_stats(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from .text_sources import SourceStats, iter_documents
    from .tokenizer import format_stats, tokenizer_stats

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    source = SourceStats()
    stats = tokenizer_stats(tokenizer, iter_documents(args.input, args.text_field, source))
    stats["source"] = source.to_dict()
    if args.output:
        Path(args.output).write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print(format_stats(stats))
    return 0


# Command-line names of TokenizerTrainingConfig fields (None = not given, so YAML or the default applies).
TOKENIZER_FLAGS = (
    "vocab_size",
    "algorithm",
    "train_segmentation",
    "normalization",
    "digits",
    "max_token_length",
    "character_coverage",
    "max_chars",
    "text_field",
    "num_reserved_tokens",
    "min_frequency",
    "seed",
)


def add_tokenizer_parsers(sub) -> None:
    tokenizer = sub.add_parser("tokenizer", help="train a tokenizer, or measure one")
    tsub = tokenizer.add_subparsers(dest="tokenizer_command", required=True)
    train = tsub.add_parser("train", help="train a byte-fallback BPE (or Unigram) tokenizer")
    train.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="JSONL(.gz), Parquet or .txt files or folders, a data-pipeline output folder, a datasets "
        "folder, or a Hub dataset id[:config] (streamed, needs internet)",
    )
    train.add_argument("--output", required=True, help="folder to save the tokenizer to")
    train.add_argument("--config", help="YAML file of TokenizerTrainingConfig fields (the flags below override it)")
    train.add_argument("--vocab-size", dest="vocab_size", type=int, help="total vocabulary (rounded up to 64)")
    train.add_argument("--algorithm", choices=["bpe", "unigram"])
    train.add_argument(
        "--train-segmentation",
        dest="train_segmentation",
        choices=["none", "mecab"],
        help="learn merges inside MeCab words only (needs fugashi[unidic-lite] while training)",
    )
    train.add_argument("--normalization", choices=["none", "nfc", "nfkc"], help="none is lossless; nfkc is lossy")
    train.add_argument("--digits", choices=["single", "triples"])
    train.add_argument("--max-token-length", dest="max_token_length", type=int)
    train.add_argument("--character-coverage", dest="character_coverage", type=float)
    train.add_argument("--max-chars", dest="max_chars", type=int, help="character budget, sampled evenly")
    train.add_argument("--text-field", dest="text_field", help="field holding the text (default: text)")
    train.add_argument("--num-reserved-tokens", dest="num_reserved_tokens", type=int)
    train.add_argument("--min-frequency", dest="min_frequency", type=int)
    train.add_argument("--seed", type=int)
    train.set_defaults(func=cmd_tokenizer_train)

    stats = tsub.add_parser("stats", help="compression, coverage and round trip of any AutoTokenizer folder")
    stats.add_argument("tokenizer", help="a tokenizer folder (ours or any AutoTokenizer one)")
    stats.add_argument("--input", nargs="+", required=True, help="text files or folders to measure on")
    stats.add_argument("--text-field", default="text")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--output", help="also save the statistics to this JSON file")
    stats.set_defaults(func=cmd_tokenizer_stats)


def cmd_data_run(args: argparse.Namespace) -> int:
    from .configs import build_config
    from .data.pipeline import DataConfig, run_pipeline

    overrides = {name: getattr(args, name) for name in DATA_FLAGS}
    config = build_config(DataConfig, args.config, overrides)
    result = run_pipeline(config)
    if "submitted" in result:
        print(f"submitted stages {', '.join(result['submitted'])}; logs in {result['logs']}")
    else:
        print(f"curated documents: {config.output}/documents; funnel: {config.output}/funnel.json")
    return 0


DATA_FLAGS = (
    "input",
    "output",
    "language",
    "tokenizer",
    "tasks",
    "workers",
    "executor",
    "lid_model",
    "text_field",
    "input_format",
    "limit",
    "valid_fraction",
    "seed",
)


def add_data_parsers(sub) -> None:
    data = sub.add_parser(
        "data", help="curate raw text with datatrove: clean, language id, quality, dedup, PII, shards"
    )
    dsub = data.add_subparsers(dest="data_command", required=True)
    run = dsub.add_parser("run", help="build and run the data pipeline")
    run.add_argument(
        "--input", nargs="+", help="JSONL(.gz)/Parquet/.txt/WARC files or folders, datasets folders, Hub ids"
    )
    run.add_argument("--output", help="output folder (documents/, removed/, tokens/, funnel.json)")
    run.add_argument("--language", choices=["ja", "en"])
    run.add_argument("--tokenizer", help="tokenizer folder: also write train/valid token shards")
    run.add_argument("--config", help="YAML file of DataConfig fields (flags override it)")
    run.add_argument("--tasks", type=int, help="datatrove tasks per parallel stage")
    run.add_argument("--workers", type=int, help="tasks run at once (local executor)")
    run.add_argument("--executor", choices=["local", "slurm", "ray"])
    run.add_argument("--lid-model", dest="lid_model", help="fastText language-id model file (lid.176.bin, GlotLID)")
    run.add_argument("--text-field", dest="text_field")
    run.add_argument(
        "--input-format", dest="input_format", choices=["auto", "jsonl", "parquet", "txt", "warc", "datasets"]
    )
    run.add_argument("--limit", type=int, help="documents per task and input (for a trial run)")
    run.add_argument("--valid-fraction", dest="valid_fraction", type=float)
    run.add_argument("--seed", type=int)
    run.set_defaults(func=cmd_data_run)


def _load_model(model_dir: str, attn_implementation: str | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs).eval()
    return model, tokenizer


def cmd_generate(args: argparse.Namespace) -> int:
    from .generation import (
        PRESETS,
        SafeTextStreamer,
        compare_modes,
        format_comparison,
        format_probabilities,
        generate_text,
        token_probabilities,
    )

    model, tokenizer = _load_model(args.model)
    overrides = {
        k: getattr(args, k)
        for k in (
            "temperature",
            "top_k",
            "top_p",
            "min_p",
            "num_beams",
            "repetition_penalty",
            "no_repeat_ngram_size",
            "num_return_sequences",
        )
    }
    if args.compare:
        results = compare_modes(
            model, tokenizer, args.prompt, args.modes or list(PRESETS), args.max_new_tokens, args.seed
        )
        print(json.dumps(results, ensure_ascii=False, indent=2) if args.json else format_comparison(results))
        return 0
    if args.probabilities:
        rows = token_probabilities(
            model, tokenizer, args.prompt, args.mode, args.max_new_tokens, seed=args.seed, **overrides
        )
        print(json.dumps(rows, ensure_ascii=False, indent=2) if args.json else format_probabilities(rows))
        return 0
    if args.stream:
        print(args.prompt, end="", flush=True)
        streamer = SafeTextStreamer(tokenizer)
        generate_text(
            model, tokenizer, args.prompt, args.mode, args.max_new_tokens, args.seed, streamer=streamer, **overrides
        )
        print()
        return 0
    texts = generate_text(model, tokenizer, args.prompt, args.mode, args.max_new_tokens, args.seed, **overrides)
    print(json.dumps(texts, ensure_ascii=False, indent=2) if args.json else "\n\n".join(texts))
    return 0


def cmd_attention_map(args: argparse.Namespace) -> int:
    from .viz import attention_map

    path = attention_map(args.model, args.prompt, args.output, args.layer, args.head)
    print(f"attention map: {path}")
    return 0


def add_decoding_parsers(sub) -> None:
    from .generation import PRESETS

    generate = sub.add_parser("generate", help="generate text with a named decoding preset, or compare them all")
    generate.add_argument("model", help="a model folder (AutoModelForCausalLM) with its tokenizer")
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--mode", default="greedy", choices=list(PRESETS), help="decoding preset")
    generate.add_argument("--compare", action="store_true", help="print the prompt under every preset")
    generate.add_argument("--modes", nargs="+", choices=list(PRESETS), help="presets for --compare (default: all)")
    generate.add_argument("--stream", action="store_true", help="print tokens as they come (never a broken character)")
    generate.add_argument(
        "--probabilities", action="store_true", help="show each generated token's probability and the top alternatives"
    )
    generate.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=64)
    generate.add_argument("--seed", type=int, default=0)
    for name, kind in (
        ("temperature", float),
        ("top_k", int),
        ("top_p", float),
        ("min_p", float),
        ("num_beams", int),
        ("repetition_penalty", float),
        ("no_repeat_ngram_size", int),
        ("num_return_sequences", int),
    ):
        generate.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=f"override the preset's {name}")
    generate.add_argument("--json", action="store_true")
    generate.set_defaults(func=cmd_generate)

    attention = sub.add_parser("attention-map", help="heatmaps of the attention of a prompt, per layer and head")
    attention.add_argument("model")
    attention.add_argument("--prompt", required=True)
    attention.add_argument("--output", required=True, help="PNG file")
    attention.add_argument("--layer", type=int, help="only this layer")
    attention.add_argument("--head", type=int, help="only this head")
    attention.set_defaults(func=cmd_attention_map)


def language_model_eval(
    model,
    tokenizer,
    texts: list[str],
    baselines: bool = False,
    baseline_train: list[str] | None = None,
    orders=(2, 3, 4),
    **kwargs,
) -> dict[str, Any]:
    """Metrics of the model on `texts`, and optionally n-gram baselines on the same text. Without baseline_train
    the documents are split by a stable hash: 90% to fit the n-gram models, and the model and the baselines are
    both scored on the other 10%."""
    import math

    from .data.shards import split_of
    from .evaluation.metrics import evaluate_texts

    eval_texts = texts
    if baselines and not baseline_train:
        baseline_train = [t for i, t in enumerate(texts) if split_of(str(i), 0.1) == "train"]
        eval_texts = [t for i, t in enumerate(texts) if split_of(str(i), 0.1) == "valid"] or texts[-1:]
    result = evaluate_texts(model, tokenizer, eval_texts, **kwargs)
    if not baselines:
        return result
    from .evaluation.ngram import char_vocab_size, chars_to_ids, ngram_baselines

    def encode(batch):
        return tokenizer(batch, add_special_tokens=False)["input_ids"]

    chars, bytes_ = result["chars"], result["bytes"]
    token_level = ngram_baselines(encode(baseline_train), encode(eval_texts), len(tokenizer), orders)
    char_level = ngram_baselines(
        [chars_to_ids(t) for t in baseline_train],
        [chars_to_ids(t) for t in eval_texts],
        char_vocab_size(baseline_train),
        orders,
    )
    result["baselines"] = {
        name: {
            "loss": b["nats_per_symbol"],
            "bits_per_char": b["nll_nats"] / math.log(2) / chars,
            "bits_per_byte": b["nll_nats"] / math.log(2) / bytes_,
        }
        for name, b in token_level.items()
    }
    result["baselines_character_level"] = {
        f"{name} (characters)": {"bits_per_char": b["nll_nats"] / math.log(2) / chars} for name, b in char_level.items()
    }
    result["baseline_documents"] = {"fit": len(baseline_train), "scored": len(eval_texts)}
    bigram = result["baselines"]["bigram"]["bits_per_char"]
    margin = bigram - result["bits_per_char"]
    result["comparison"] = (
        f"{'beats' if margin > 0 else 'does not beat'} the token bigram by {abs(margin):.3f} bits per character "
        f"({result['bits_per_char']:.3f} vs {bigram:.3f})"
    )
    return result


def format_eval(result: dict[str, Any]) -> str:
    lines = [f"{'':<26}{'loss':>10}{'bits/char':>11}{'bits/byte':>11}"]
    lines.append(
        f"{'this model':<26}{result['loss']:>10.4f}{result['bits_per_char']:>11.4f}{result['bits_per_byte']:>11.4f}"
    )
    for name, b in (result.get("baselines") or {}).items():
        lines.append(f"{name:<26}{b['loss']:>10.4f}{b['bits_per_char']:>11.4f}{b['bits_per_byte']:>11.4f}")
    for name, b in (result.get("baselines_character_level") or {}).items():
        lines.append(f"{name:<26}{'':>10}{b['bits_per_char']:>11.4f}")
    lines.append(
        f"perplexity {result['perplexity']:.2f}; {result['tokens']:,} tokens, {result['chars']:,} characters"
        + (f"; bits/word {result['bits_per_word']:.3f} ({result['word_unit']})" if result.get("bits_per_word") else "")
    )
    if result.get("comparison"):
        lines.append(result["comparison"])
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from .text_sources import iter_documents

    model, tokenizer = _load_model(args.model)
    if args.task:
        from .evaluation.multiple_choice import evaluate_multiple_choice, load_multiple_choice

        items, bad = load_multiple_choice(args.input[0], limit=args.limit)
        train_items, bad_train = load_multiple_choice(args.fewshot_from) if args.fewshot_from else ([], {})
        outcome = evaluate_multiple_choice(
            model,
            tokenizer,
            items,
            train_items,
            k=args.shots,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=not args.json,
        )
        result = outcome.to_dict()
        result.update(
            {
                "task": args.task,
                "shots": args.shots,
                "accuracy": outcome.acc,
                "skipped_items": dict(bad) | {f"fewshot_{k}": v for k, v in dict(bad_train).items()},
            }
        )
        low, high = outcome.ci95["acc"]
        text = (
            json.dumps(result, ensure_ascii=False, indent=2)
            if args.json
            else (
                f"{args.task} ({args.shots}-shot, n={outcome.n}): accuracy {outcome.acc:.4f} "
                f"[95% CI {low:.3f}–{high:.3f}], acc_norm {outcome.acc_norm:.4f}, chance {outcome.chance:.4f}"
            )
        )
    else:
        texts = list(iter_documents(args.input, args.text_field))
        if args.limit:
            texts = texts[: args.limit]
        baseline_train = list(iter_documents(args.baseline_train, args.text_field)) if args.baseline_train else None
        result = language_model_eval(
            model,
            tokenizer,
            texts,
            args.baselines,
            baseline_train,
            tuple(args.orders),
            max_length=args.max_length,
            stride=args.stride,
            batch_size=args.batch_size,
            progress=not args.json,
        )
        text = json.dumps(result, ensure_ascii=False, indent=2) if args.json else format_eval(result)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(text)
    return 0


def add_eval_parser(sub) -> None:
    ev = sub.add_parser(
        "eval", help="loss, perplexity, bits per char/byte/word (+ n-gram baselines), or few-shot tasks"
    )
    ev.add_argument("model", help="a model folder that AutoModelForCausalLM loads (ours or any other)")
    ev.add_argument("--input", nargs="+", required=True, help="text files/folders (JSONL, .txt, Parquet, datasets)")
    ev.add_argument("--text-field", dest="text_field", default="text")
    ev.add_argument("--limit", type=int, help="at most this many documents / task items")
    ev.add_argument("--baselines", action="store_true", help="also uniform, unigram and n-gram baselines")
    ev.add_argument(
        "--baseline-train",
        dest="baseline_train",
        nargs="+",
        help="text to fit the n-gram baselines on (default: 90%% of --input; both scored on the rest)",
    )
    ev.add_argument("--orders", nargs="+", type=int, default=[2, 3, 4], help="n-gram orders for the baselines")
    ev.add_argument("--max-length", dest="max_length", type=int, help="window (default: the model's context)")
    ev.add_argument("--stride", type=int, help="sliding-window stride (default: half the window)")
    ev.add_argument("--batch-size", dest="batch_size", type=int, default=8)
    ev.add_argument("--task", choices=["jcommonsenseqa", "multiple_choice"], help="few-shot multiple choice instead")
    ev.add_argument("--fewshot-from", dest="fewshot_from", help="train split for the k-shot examples")
    ev.add_argument("--shots", type=int, default=0)
    ev.add_argument("--seed", type=int, default=1234)
    ev.add_argument("--output", help="also save the result as JSON here (e.g. RUN/eval/valid.json for the report)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_eval)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    path = build_report(args.run_dir, prompts=args.prompt or None, modes=args.modes, generate=not args.no_samples)
    print(f"report: {path}")
    return 0


def add_report_parser(sub) -> None:
    report = sub.add_parser("report", help="render RUN_DIR/report.md with plots, evaluation, data and samples")
    report.add_argument("run_dir")
    report.add_argument("--prompt", action="append", help="sample prompt (repeatable; default: a new document)")
    report.add_argument("--modes", nargs="+", help="decoding presets for the samples")
    report.add_argument("--no-samples", action="store_true", help="do not generate samples")
    report.set_defaults(func=cmd_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hfpretrain", description="Pretrain a GPT from raw text, the Hugging Face way."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, devices, and the parameter/FLOP breakdown of a model config")
    source = info.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=list(PRESETS), help="a named GPTConfig preset")
    source.add_argument("--config", help="a saved model folder, its config.json, or a YAML/JSON of GPTConfig fields")
    info.add_argument(
        "--seq-len",
        type=int,
        default=None,
        help="context length for the attention FLOPs (default: max_position_embeddings)",
    )
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(func=cmd_info)

    convert = sub.add_parser("convert", help="import GPT-2/Llama checkpoints, export to plain Llama/GPT-2 folders")
    convert.add_argument("direction", choices=["import-gpt2", "import-llama", "export"])
    convert.add_argument("source", help="model folder (or Hub id, for imports with internet)")
    convert.add_argument("destination", help="folder to write the converted model (and tokenizer) to")
    convert.add_argument("--to", choices=["llama", "gpt2"], help="export format (with `export`)")
    convert.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="imports: replace the checkpoint's dropout (e.g. 0.0 for continued pretraining)",
    )
    convert.set_defaults(func=cmd_convert)

    add_tokenizer_parsers(sub)
    add_data_parsers(sub)
    add_decoding_parsers(sub)
    add_report_parser(sub)
    add_eval_parser(sub)
    ladder.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, StrictDataclassError) as err:
        print(f"hfpretrain {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
