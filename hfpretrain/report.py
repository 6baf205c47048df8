"""The run report: `hfpretrain report RUN_DIR` renders run/report.md and run/plots/*.png from the run's artifacts —
metrics.jsonl, resolved_config.yaml, final/ (the model), eval/*.json (from `hfpretrain eval --output`), the data
funnel and tokenizer statistics the run's data and tokenizer folders carry, and samples per decoding mode
(run/samples.json, generated if missing). Nothing is read from memory: a report can be rebuilt at any time, and the
same Markdown becomes the model card when the run is pushed to the Hub."""

import json
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.is_file() else []


def plot_curves(records: list[dict], plots: Path) -> dict[str, Path]:
    """loss.png (train + validation), lr.png and throughput.png (tokens/s and MFU) against tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if "loss" in r and "event" not in r]
    if not train:
        return {}
    plots.mkdir(parents=True, exist_ok=True)
    tokens_per_step = train[-1]["tokens"] / max(train[-1]["step"], 1)
    x = [r["tokens"] for r in train]
    out = {}
    evals = [r for r in records if "val_loss" in r]
    for name, series, label in (
        ("loss", "loss", "loss (nats/token)"),
        ("lr", "lr", "learning rate"),
        ("throughput", "tokens_per_second", "tokens/s"),
    ):
        fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
        ax.plot(x, [r.get(series, float("nan")) for r in train], linewidth=1, label=f"train {series}")
        if name == "loss" and evals:
            ax.plot(
                [r["step"] * tokens_per_step for r in evals],
                [r["val_loss"] for r in evals],
                "o-",
                markersize=3,
                label="validation loss",
            )
        if name == "throughput" and any("mfu" in r for r in train):
            mfu_axis = ax.twinx()
            mfu_axis.plot(x, [100 * r.get("mfu", 0) for r in train], color="gray", alpha=0.6, linewidth=0.8)
            mfu_axis.set_ylabel("MFU (%)", color="gray")
        ax.set_xlabel("tokens")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        out[name] = plots / f"{name}.png"
        fig.savefig(out[name])
        plt.close(fig)
    return out


def _table(rows: list[list[Any]], header: list[str]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _find_upwards(start: Path, name: str, levels: int = 3) -> Path | None:
    for folder in [start, *list(start.parents)[:levels]]:
        if (folder / name).is_file():
            return folder / name
    return None


def samples(run: Path, model_dir: Path, prompts: list[str], modes: list[str], max_new_tokens: int = 48) -> dict:
    """Samples per decoding mode, cached in run/samples.json."""
    path = run / "samples.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .generation import compare_modes

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    result = {p: compare_modes(model, tokenizer, p, modes, max_new_tokens) for p in prompts}
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result


def build_report(
    run_dir: str | Path, prompts: list[str] | None = None, modes: list[str] | None = None, generate: bool = True
) -> Path:
    import yaml

    from .accounting import flops_breakdown, parameter_breakdown

    run = Path(run_dir)
    records = read_jsonl(run / "metrics.jsonl")
    if not records:
        raise FileNotFoundError(f"{run} has no metrics.jsonl: is it a training run folder?")
    config = (
        yaml.safe_load((run / "resolved_config.yaml").read_text(encoding="utf-8"))
        if (run / "resolved_config.yaml").is_file()
        else {}
    )
    final = run / "final"
    summary = (
        json.loads((final / "training_summary.json").read_text()) if (final / "training_summary.json").is_file() else {}
    )
    plots = plot_curves(records, run / "plots")
    parts = [f"# Run report: {run.name}", ""]

    # Model
    model_config = json.loads((final / "config.json").read_text()) if (final / "config.json").is_file() else {}
    if model_config.get("model_type") == "hfpretrain_gpt":
        from .configuration_gpt import GPTConfig

        gpt = GPTConfig.from_json_file(final / "config.json")
        params = parameter_breakdown(gpt)
        flops = flops_breakdown(gpt, (config.get("data") or {}).get("seq_len"))
        parts += [
            "## Model",
            "",
            f"{gpt.num_hidden_layers} layers × {gpt.hidden_size} wide, {gpt.num_attention_heads} "
            f"heads ({gpt.num_key_value_heads} key/value), {gpt.position_embedding_type} positions, "
            f"{gpt.norm_type}, {gpt.hidden_act}, vocabulary {gpt.vocab_size:,}.",
            "",
            _table(
                [
                    [k, v, f"{100 * v / params['total']:.1f}%"]
                    for k, v in params.items()
                    if k not in ("total", "non_embedding")
                ]
                + [["total", params["total"], "100%"]],
                ["parameters", "count", "share"],
            ),
            "",
            f"Training FLOPs per token: {flops['train_per_token']:,} (6N + attention at context {flops['seq_len']}).",
            "",
        ]

    # Training
    train = [r for r in records if "loss" in r and "event" not in r]
    events = [r for r in records if "event" in r]
    opt = config.get("optimization") or {}
    parts += [
        "## Training",
        "",
        _table(
            [
                ["steps", summary.get("steps", train[-1]["step"] if train else 0)],
                ["tokens", summary.get("tokens", train[-1]["tokens"] if train else 0)],
                ["global batch (tokens)", opt.get("global_batch_tokens", "-")],
                ["peak learning rate", opt.get("learning_rate", "-")],
                ["schedule", opt.get("schedule", "-")],
                ["final training loss", train[-1]["loss"] if train else "-"],
                ["median tokens/s", sorted(r["tokens_per_second"] for r in train)[len(train) // 2] if train else "-"],
                [
                    "median MFU",
                    f"{100 * sorted(r.get('mfu', 0) for r in train)[len(train) // 2]:.1f}%" if train else "-",
                ],
                [
                    "skipped steps (non-finite / spikes) / rollbacks",
                    " / ".join(str(summary.get(k, 0)) for k in ("skipped_nonfinite", "skipped_spikes", "rollbacks")),
                ],
            ],
            ["", "value"],
        ),
        "",
    ]
    for name in ("loss", "lr", "throughput"):
        if name in plots:
            parts += [f"![{name}](plots/{name}.png)", ""]
    if events:
        parts += [f"Guard events: {len(events)} (see metrics.jsonl).", ""]

    # Evaluation: validation during training, eval/*.json with baselines
    evals = [r for r in records if "val_loss" in r]
    if evals:
        parts += [
            "## Evaluation",
            "",
            _table(
                [
                    [r["step"], r["val_loss"], r["val_perplexity"], r["val_bits_per_char"], r["val_bits_per_byte"]]
                    for r in evals
                ],
                ["step", "val loss", "perplexity", "bits/char", "bits/byte"],
            ),
            "",
        ]
    for path in sorted((run / "eval").glob("*.json")) if (run / "eval").is_dir() else []:
        result = json.loads(path.read_text(encoding="utf-8"))
        parts += [f"### {path.stem}", ""]
        if "bits_per_char" in result:
            rows = [["this model", result["loss"], result["bits_per_char"], result.get("bits_per_byte")]]
            for name, b in (result.get("baselines") or {}).items():
                rows.append([name, b.get("loss", "-"), b.get("bits_per_char"), b.get("bits_per_byte", "-")])
            for name, b in (result.get("baselines_character_level") or {}).items():
                rows.append([name, "-", b.get("bits_per_char"), "-"])
            parts += [_table(rows, ["model", "loss (nats/token)", "bits/char", "bits/byte"]), ""]
            if result.get("comparison"):
                parts += [result["comparison"], ""]
        if "accuracy" in result:
            parts += [
                _table(
                    [
                        [
                            result.get("task", path.stem),
                            result.get("shots", "-"),
                            result["accuracy"],
                            result.get("acc_norm", "-"),
                            result.get("chance", "-"),
                            result.get("n", "-"),
                        ]
                    ],
                    ["task", "shots", "accuracy", "acc_norm", "chance", "n"],
                ),
                "",
            ]

    # Data and tokenizer
    data = config.get("data") or {}
    for source in data.get("train") or []:
        funnel = _find_upwards(Path(source), "funnel.json")
        if funnel:
            f = json.loads(funnel.read_text(encoding="utf-8"))
            parts += [
                "## Data",
                "",
                f"{f['documents_in']:,} documents in, {f['documents_out']:,} kept "
                f"({funnel.parent}). Dropped: "
                + (", ".join(f"{k} {v:,}" for k, v in f["dropped"].items()) or "none")
                + f". Duplicates removed: {f['duplicates_removed']}. PII replaced: {f['pii'] or 'none'}.",
                "",
            ]
            break
    if data.get("tokenizer") and (Path(data["tokenizer"]) / "stats.json").is_file():
        s = json.loads((Path(data["tokenizer"]) / "stats.json").read_text())
        parts += [
            "## Tokenizer",
            "",
            f"{s['vocab_size']:,} tokens; {s['chars_per_token']:.2f} characters and "
            f"{s['bytes_per_token']:.2f} bytes per token on its training text; byte fallback "
            f"{100 * s['byte_fallback_fraction']:.2f}% of tokens; round trip exact: {s['roundtrip_exact']}.",
            "",
        ]

    # Attention maps saved into the run's plots folder (hfpretrain attention-map --output RUN/plots/attention*.png)
    maps = sorted((run / "plots").glob("attention*.png")) if (run / "plots").is_dir() else []
    if maps:
        parts += ["## Attention", ""] + [f"![{m.stem}](plots/{m.name})" for m in maps] + [""]

    # Samples
    if generate and (final / "config.json").is_file():
        table = samples(run, final, prompts or [""], modes or ["greedy", "beam", "top_p", "creative"])
        parts += ["## Samples", ""]
        for prompt, by_mode in table.items():
            parts += [f"Prompt: `{prompt or '(start of a document)'}`", ""]
            for mode, text in by_mode.items():
                parts += [f"**{mode}**", "", "```", text.strip()[:600], "```", ""]
    out = run / "report.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
