"""The pretraining loop: one visible loop with named sections, on Accelerate.

`train(config)` runs as `python recipes/pretrain.py`, `accelerate launch recipes/pretrain.py` (one or many
processes, GPUs, nodes). What it guarantees:
- the batch is stated in tokens; micro-batch, gradient accumulation and world size are derived and printed, and the
  accumulated loss is normalized by the target tokens of the whole global batch (it equals the large-batch loss);
- `--resume auto|PATH` continues exactly: model, optimizer, RNG of every process, data position, learning-rate
  scale and the spike guard's running average all come back, so on a CPU every later loss equals the uninterrupted
  run's, bit for bit;
- a non-finite loss or gradient never reaches the weights; a loss spike skips its batch (and logs which sequences
  it held); repeated spikes roll back to the last checkpoint with a lower learning rate;
- checkpoints are atomic (`checkpoint.py`); the run folder holds metrics.jsonl, resolved_config.yaml, checkpoints/,
  final/ (a save_pretrained folder with the tokenizer) and plots/loss.png.
"""

import json
import math
import os
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .checkpoint import complete_checkpoints, find_resume_checkpoint, load_checkpoint, save_checkpoint
from .config import PretrainConfig, read_config, save_config


class TrainingError(RuntimeError):
    """A setting or situation the loop refuses, with what to do about it."""


# Dense bf16 peak FLOP/s from vendor datasheets, for MFU (matched on the device name).
GPU_PEAK_BF16 = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
    "V100": 125e12,
    "T4": 65e12,
}


# ---------------------------------------------------------------------------------------------------------------------
# Set-up


def make_accelerator(config: PretrainConfig):
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    precision = config.optimization.mixed_precision
    if precision == "fp16" and not torch.cuda.is_available():
        raise TrainingError("mixed_precision fp16 does nothing on a CPU (Accelerate ignores it); use bf16 or no.")
    trackers = [t for t in config.logging.trackers if _tracker_available(t)]
    accelerator = Accelerator(
        mixed_precision=precision,
        log_with=trackers or None,
        project_config=ProjectConfiguration(
            project_dir=config.checkpointing.output_dir,
            logging_dir=str(Path(config.checkpointing.output_dir) / "tracker"),
        ),
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and accelerator.num_processes == 1:
        raise TrainingError(
            f"{launched} processes were started but Accelerate sees a single, non-distributed one: they would train "
            f"{launched} unsynchronized copies. On CPUs launch with `ACCELERATE_USE_CPU=true accelerate launch "
            "--multi_gpu --num_processes N ...` (or torchrun with the same variable); on GPUs use --multi_gpu."
        )
    return accelerator


def _tracker_available(name: str) -> bool:
    import importlib.util

    module = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb"}.get(name, name)
    return importlib.util.find_spec(module) is not None or (
        name == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None
    )


def load_tokenizer(config: PretrainConfig):
    from transformers import AutoTokenizer

    source = config.data.tokenizer or config.model.init_from
    if not source:
        raise TrainingError("No tokenizer: set data.tokenizer to a folder from `hfpretrain tokenizer train`.")
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.eos_token_id is None:
        raise TrainingError(f"The tokenizer in {source} has no EOS token; pretraining separates documents with it.")
    return tokenizer


def build_model(config: PretrainConfig, tokenizer):
    """Our GPT from a preset (vocabulary and special tokens from the tokenizer), or a pretrained folder; with
    implementation=transformers, the same initial weights as transformers' GPT2LMHeadModel / LlamaForCausalLM.
    Another architecture (the ladder's mlp, rnn, attention) is built from its config's defaults and the overrides."""
    from transformers import AutoModelForCausalLM

    from ..configuration_gpt import GPTConfig
    from ..modeling_gpt import GPTForCausalLM
    from ..modeling_ladder import LADDER_CONFIGS, LADDER_MODELS

    m = config.model
    if m.init_from:
        model = AutoModelForCausalLM.from_pretrained(m.init_from, dtype=torch.float32)
        if model.config.vocab_size < len(tokenizer):
            raise TrainingError(
                f"{m.init_from} has {model.config.vocab_size} embeddings; the tokenizer has "
                f"{len(tokenizer)} tokens. Use the model's own tokenizer."
            )
    else:
        fields = dict(
            vocab_size=64 * math.ceil(len(tokenizer) / 64),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        if m.architecture in LADDER_MODELS:
            config_class, model_class = LADDER_MODELS[m.architecture]
            if "max_position_embeddings" in config_class.__dataclass_fields__:
                fields["max_position_embeddings"] = config.data.seq_len
            model = model_class(config_class(**{**fields, **m.overrides}))
        else:
            preset = GPTConfig.from_preset(m.preset)
            fields["max_position_embeddings"] = max(preset.max_position_embeddings, config.data.seq_len)
            model = GPTForCausalLM(GPTConfig.from_preset(m.preset, **{**fields, **m.overrides}))
        if m.implementation == "transformers":
            from ..convert import export_gpt2, export_llama, llama_problems

            model = export_llama(model) if not llama_problems(model.config) else export_gpt2(model)
    model.config.use_cache = False
    if not isinstance(model.config, LADDER_CONFIGS):  # those have a single attention path
        model.set_attn_implementation(m.attn_implementation)
    if m.activation_checkpointing:
        model.activation_checkpointing_enable()
    return model


def derive_batch(config: PretrainConfig, world_size: int) -> dict[str, int]:
    o, seq_len = config.optimization, config.data.seq_len
    sequences = o.global_batch_tokens // seq_len
    per_rank, remainder = divmod(sequences, world_size)
    accumulation, remainder2 = divmod(per_rank, o.micro_batch_size) if not remainder else (0, 1)
    if remainder or remainder2 or accumulation < 1:
        unit = seq_len * o.micro_batch_size * world_size
        example = unit * max(1, round(o.global_batch_tokens / unit))
        raise TrainingError(
            f"global_batch_tokens ({o.global_batch_tokens}) must be a multiple of seq_len × micro_batch_size × "
            f"processes = {seq_len} × {o.micro_batch_size} × {world_size} = {unit}; e.g. {example}, or change "
            "micro_batch_size."
        )
    total = o.max_steps if o.max_steps is not None else math.ceil(o.max_tokens / o.global_batch_tokens)
    return {"sequences_per_step": sequences, "per_rank": per_rank, "accumulation": accumulation, "total_steps": total}


def peak_flops(config: PretrainConfig, device: torch.device) -> float:
    if config.logging.peak_flops:
        return config.logging.peak_flops
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value if config.optimization.mixed_precision != "no" else value / 2
    dtype = torch.bfloat16 if config.optimization.mixed_precision == "bf16" else torch.float32
    a, b = torch.randn(1024, 1024, dtype=dtype, device=device), torch.randn(1024, 1024, dtype=dtype, device=device)
    a @ b
    best, deadline = 0.0, time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * 1024**3 / (time.perf_counter() - start))
    return best


def run_fingerprint(config: PretrainConfig, data_fingerprint: str, tokenizer) -> dict[str, Any]:
    """What a resume must not change unless allowed: it would alter shapes or the data order."""
    return {
        "seed": config.optimization.seed,
        "seq_len": config.data.seq_len,
        "global_batch_tokens": config.optimization.global_batch_tokens,
        "data": data_fingerprint,
        "tokenizer": [getattr(tokenizer, "name_or_path", None), len(tokenizer)],
        "model": [config.model.preset, config.model.overrides, config.model.init_from, config.model.implementation]
        # the architecture only when it is not the GPT: GPT checkpoints from before the field existed still resume
        + ([config.model.architecture] if config.model.architecture != "gpt" else []),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def evaluate(model, accelerator, sequences: list[dict], micro_batch_size: int) -> dict[str, float]:
    """Validation loss over fixed sequences (split across processes), perplexity, bits per character and per byte
    of the raw text the targets spell."""
    model.eval()
    mine = sequences[accelerator.process_index :: accelerator.num_processes]
    totals = torch.zeros(4, dtype=torch.float64, device=accelerator.device)  # nats, tokens, chars, bytes
    for i in range(0, len(mine), micro_batch_size):
        chunk = mine[i : i + micro_batch_size]
        ids = torch.stack([c["input_ids"] for c in chunk]).to(accelerator.device)
        with accelerator.autocast():
            logits = model(input_ids=ids[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum")
        totals += torch.tensor(
            [loss.item(), ids[:, 1:].numel(), sum(c["chars"] for c in chunk), sum(c["bytes"] for c in chunk)],
            dtype=torch.float64,
            device=accelerator.device,
        )
    totals = accelerator.reduce(totals, reduction="sum")
    model.train()
    nats, tokens, chars, bytes_ = totals.tolist()
    loss = nats / max(tokens, 1)
    return {
        "val_loss": loss,
        "val_perplexity": math.exp(min(loss, 50)),
        "val_bits_per_char": nats / math.log(2) / max(chars, 1),
        "val_bits_per_byte": nats / math.log(2) / max(bytes_, 1),
        "val_tokens": int(tokens),
    }


# ---------------------------------------------------------------------------------------------------------------------
# The loop


def train(config: PretrainConfig, hooks: dict | None = None) -> dict[str, Any]:
    """Run (or resume) a training run; returns a summary. `hooks` lets tests inject faults: {"after_step":
    fn(step), "loss": fn(step, loss) -> loss}."""
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from ..data.shards import PackedTokenDataset
    from ..runtime import tune_cpu_allocator
    from ..tokenizer import save_tokenizer
    from .data import prepare_data, validation_set
    from .optim import lr_factor, make_optimizer
    from .plots import plot_metrics

    hooks = hooks or {}
    config.validate()
    accelerator = make_accelerator(config)
    if accelerator.device.type == "cpu":
        tune_cpu_allocator()
    main = accelerator.is_main_process
    o, c, lg = config.optimization, config.checkpointing, config.logging
    run_dir = Path(c.output_dir)
    checkpoints_dir = run_dir / "checkpoints"
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()

    def log(message: str) -> None:
        if main:
            tqdm.write(message)

    ####################################################################################################################
    # Resume: which checkpoint, and is it compatible?
    resume_from = find_resume_checkpoint(c.resume, run_dir)
    if resume_from is not None:
        saved = read_config(resume_from / "resolved_config.yaml")
        if not config.data.train:
            config.data = saved.data
        if not config.data.tokenizer:
            config.data.tokenizer = str(resume_from / "model")

    ####################################################################################################################
    # Tokenizer, data, batch arithmetic
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer, run_dir, main, accelerator.wait_for_everyone)
    batch = derive_batch(config, accelerator.num_processes)
    total_steps = batch["total_steps"]
    set_seed(o.seed)
    train_set = PackedTokenDataset(
        data.train_folder,
        config.data.seq_len,
        seed=o.seed,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
    )
    valid = (
        validation_set(data.valid_folder, config.data.seq_len, tokenizer, lg.eval_sequences)
        if data.valid_folder
        else []
    )
    fingerprint = run_fingerprint(config, data.fingerprint, tokenizer)

    ####################################################################################################################
    # Model, optimizer
    model = build_model(config, tokenizer)
    if config.model.compile:
        model = torch.compile(model)
    optimizer = make_optimizer(model, o, accelerator.device)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)
    flops_per_token = _flops_per_token(unwrapped, config.data.seq_len)
    peak = peak_flops(config, accelerator.device)
    config_path = run_dir / "resolved_config.yaml"
    if main:
        save_config(config, config_path)

    state = {
        "step": 0,
        "tokens": 0,
        "data": None,
        "lr_scale": 1.0,
        "ema_loss": None,
        "skipped_nonfinite": 0,
        "skipped_spikes": 0,
        "rollbacks": 0,
        "best_val_loss": None,
        "fingerprint": fingerprint,
    }
    if resume_from is not None:
        saved_state = load_checkpoint(accelerator, resume_from)
        differences = {
            k: (v, fingerprint.get(k))
            for k, v in saved_state["fingerprint"].items()
            if json.dumps(v) != json.dumps(fingerprint.get(k))
        }
        if differences and not c.allow_config_change:
            detail = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in differences.items())
            raise TrainingError(
                f"Cannot resume from {resume_from}: {detail}. These change shapes or the data order; "
                "pass --allow_config_change true to resume anyway."
            )
        state.update({k: v for k, v in saved_state.items() if k != "fingerprint"})
        train_set.load_state_dict(state["data"], strict=not c.allow_config_change)
        log(f"resumed from {resume_from} at step {state['step']}")

    log(
        f"model: {sum(p.numel() for p in unwrapped.parameters()):,} parameters ({type(unwrapped).__name__}); "
        f"{accelerator.num_processes} process(es) on {accelerator.device}, mixed precision {o.mixed_precision}"
    )
    log(
        f"batch: {o.global_batch_tokens:,} tokens = {batch['sequences_per_step']} sequences of {config.data.seq_len} "
        f"= {accelerator.num_processes} process(es) × {batch['accumulation']} accumulation step(s) × "
        f"{o.micro_batch_size} micro-batch; {total_steps} steps, {total_steps * o.global_batch_tokens:,} tokens"
    )
    if main and config.logging.trackers and accelerator.log_with:
        accelerator.init_trackers("hfpretrain", config=_flat(config))

    metrics_path = run_dir / "metrics.jsonl"

    def write_metrics(record: dict) -> None:
        if main:
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            numeric = {k: v for k, v in record.items() if isinstance(v, (int, float)) and k != "step"}
            if accelerator.log_with:
                accelerator.log(numeric, step=record["step"])

    def write_model(path: Path) -> None:
        model_to_save = accelerator.unwrap_model(model)
        model_to_save.save_pretrained(path, state_dict=accelerator.get_state_dict(model), safe_serialization=True)
        save_tokenizer(tokenizer, path)

    def checkpoint() -> None:
        state["data"] = train_set.state_dict()
        save_checkpoint(accelerator, checkpoints_dir, state["step"], write_model, dict(state), config_path, c.keep_last)
        if main and config.hub.push_every_checkpoint:
            _push(config, checkpoints_dir / _checkpoint_name(state["step"]) / "model", f"step {state['step']}")

    data_iter = iter(train_set)
    spikes: deque[int] = deque()
    consecutive_skips = 0
    tokens_per_step = o.global_batch_tokens
    num_items = tokens_per_step / accelerator.num_processes  # see "Forward and backward" below
    bar = tqdm(total=total_steps, initial=state["step"], disable=not (main and lg.progress_bar), unit="step")
    interval_start, interval_tokens = time.perf_counter(), 0

    while state["step"] < total_steps:
        ################################################################################################################
        # Batch: `accumulation` micro-batches of this process's share of the global batch
        micro_batches = []
        for _ in range(batch["accumulation"]):
            items = [next(data_iter) for _ in range(o.micro_batch_size)]
            micro_batches.append(torch.stack([it["input_ids"] for it in items]).to(accelerator.device))

        ################################################################################################################
        # Forward and backward. Each process divides its summed token losses by N/W (N target tokens in the global
        # batch, W processes); DDP averages gradients over W, so the update is that of the mean over all N tokens.
        model.train()
        local_loss = torch.zeros((), device=accelerator.device, dtype=torch.float32)
        for i, ids in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            context = accelerator.no_sync(model) if not last and accelerator.num_processes > 1 else _null()
            with context:
                with accelerator.autocast():
                    logits = model(input_ids=ids[:, :-1]).logits
                loss = (
                    F.cross_entropy(
                        logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum"
                    )
                    / num_items
                )
                if "loss" in hooks:
                    loss = hooks["loss"](state["step"], loss)
                accelerator.backward(loss)
            local_loss += loss.detach()
        loss_value = accelerator.reduce(local_loss, reduction="mean").item()
        if o.grad_clip is not None:
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), o.grad_clip)
        else:
            grad_norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
            )
        grad_norm = float(grad_norm)
        interval_tokens += tokens_per_step

        ################################################################################################################
        # Guards: non-finite values and loss spikes never reach the weights
        event = None
        if o.skip_nonfinite and not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            event = "skipped_nonfinite"
            state["skipped_nonfinite"] += 1
        elif (
            o.spike_factor is not None
            and state["ema_loss"] is not None
            and state["step"] >= o.spike_warmup_steps
            and loss_value > o.spike_factor * state["ema_loss"]
        ):
            event = "skipped_spike"
            state["skipped_spikes"] += 1
            spikes.append(state["step"])
        if event:
            consecutive_skips += 1
            if consecutive_skips > o.max_consecutive_skips:
                raise TrainingError(
                    f"{consecutive_skips} steps in a row were skipped ({event}) at step "
                    f"{state['step']}: the model or the data is broken; see metrics.jsonl."
                )
            optimizer.zero_grad(set_to_none=True)
            record = {
                "step": state["step"],
                "event": event,
                "loss": loss_value,
                "grad_norm": grad_norm,
                "ema_loss": state["ema_loss"],
            }
            if event == "skipped_spike":
                record["sequences"] = _describe_batch(micro_batches, tokenizer, accelerator)
            write_metrics(record)
            log(f"step {state['step']}: {event} (loss {loss_value:.4g}, grad norm {grad_norm:.4g})")
            while spikes and spikes[0] < state["step"] - o.rollback_window:
                spikes.popleft()
            if o.rollback_after_spikes and len(spikes) >= o.rollback_after_spikes:
                _rollback(accelerator, checkpoints_dir, state, train_set, o, write_metrics, log)
                spikes.clear()
            continue

        ################################################################################################################
        # Optimizer step with the scheduled learning rate
        factor = lr_factor(
            state["step"], total_steps, _warmup(o, total_steps), o.schedule, o.min_lr_ratio, o.decay_fraction
        )
        lr = o.learning_rate * state["lr_scale"] * factor
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        consecutive_skips = 0
        state["step"] += 1
        state["tokens"] += tokens_per_step
        state["ema_loss"] = (
            loss_value
            if state["ema_loss"] is None
            else (o.spike_ema * state["ema_loss"] + (1 - o.spike_ema) * loss_value)
        )
        bar.update(1)

        ################################################################################################################
        # Logging
        if state["step"] % lg.log_every == 0 or state["step"] == total_steps:
            elapsed = time.perf_counter() - interval_start
            tokens_per_second = interval_tokens / max(elapsed, 1e-9)
            mfu = flops_per_token * tokens_per_second / (peak * accelerator.num_processes)
            write_metrics(
                {
                    "step": state["step"],
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "tokens": state["tokens"],
                    "tokens_per_second": tokens_per_second,
                    "mfu": mfu,
                }
            )
            bar.set_postfix(
                loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_second:,.0f}", mfu=f"{mfu:.0%}"
            )
            interval_start, interval_tokens = time.perf_counter(), 0

        ################################################################################################################
        # Evaluation and checkpoints
        if valid and (state["step"] == total_steps or (lg.eval_every and state["step"] % lg.eval_every == 0)):
            result = evaluate(model, accelerator, valid, o.micro_batch_size)
            best = state["best_val_loss"]
            state["best_val_loss"] = result["val_loss"] if best is None else min(best, result["val_loss"])
            write_metrics({"step": state["step"], **result, "best_val_loss": state["best_val_loss"]})
            log(f"step {state['step']}: val loss {result['val_loss']:.4f}, {result['val_bits_per_char']:.4f} bits/char")
            interval_start = time.perf_counter()  # evaluation time is not training throughput
        if c.save_every and state["step"] % c.save_every == 0 and state["step"] < total_steps:
            checkpoint()
            interval_start = time.perf_counter()
        if "after_step" in hooks:
            hooks["after_step"](state["step"])
        if c.stop_after_step is not None and state["step"] >= c.stop_after_step and state["step"] < total_steps:
            checkpoint()
            bar.close()
            log(f"stopped at step {state['step']} (stop_after_step); continue with --resume auto")
            accelerator.end_training()
            return {"steps": state["step"], "stopped": True}
    bar.close()

    ####################################################################################################################
    # Final: a last checkpoint, final/ (+ an exported copy), plots, Hub
    if not complete_checkpoints(checkpoints_dir) or complete_checkpoints(checkpoints_dir)[-1].name != _checkpoint_name(
        state["step"]
    ):
        checkpoint()
    summary = {
        "steps": state["step"],
        "tokens": state["tokens"],
        "best_val_loss": state["best_val_loss"],
        "skipped_nonfinite": state["skipped_nonfinite"],
        "skipped_spikes": state["skipped_spikes"],
        "rollbacks": state["rollbacks"],
        "data": data.summary,
    }
    if main:
        final = run_dir / "final"
        write_model(final)
        save_config(config, final / "resolved_config.yaml")
        (final / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        if c.export_format:
            from ..convert import EXPORTERS

            exported = EXPORTERS[c.export_format](accelerator.unwrap_model(model))
            exported.save_pretrained(run_dir / f"final-{c.export_format}")
            save_tokenizer(tokenizer, run_dir / f"final-{c.export_format}")
        plot_metrics(metrics_path, run_dir / "plots" / "loss.png")
        if config.hub.push_to_hub:
            folder = run_dir / (f"final-{c.export_format}" if c.export_format else "final")
            _push(config, folder, "final model", summary=summary, metrics=_last_eval(metrics_path))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


# ---------------------------------------------------------------------------------------------------------------------
# Helpers


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _checkpoint_name(step: int) -> str:
    from .checkpoint import checkpoint_name

    return checkpoint_name(step)


def _warmup(o, total_steps: int) -> int:
    return o.warmup_steps if o.warmup_steps is not None else round(o.warmup_fraction * total_steps)


def _flops_per_token(model, seq_len: int) -> int:
    """Training FLOPs per token: the GPT's 6N + attention formula, or 6 × the non-embedding weights of the ladder's
    smaller models (each weight does one multiply-add forward and two backward; an embedding lookup does none)."""
    from ..accounting import training_flops_per_token
    from ..modeling_ladder import LADDER_CONFIGS

    if isinstance(model.config, LADDER_CONFIGS):
        embedding = model.get_input_embeddings().weight
        return 6 * sum(p.numel() for p in model.parameters() if p is not embedding or model.config.tie_word_embeddings)
    return training_flops_per_token(_our_config(model.config), seq_len)


def _our_config(model_config):
    """A GPTConfig describing the model (ours, or a transformers GPT-2 / Llama of the same shape) for FLOP counts."""
    from ..configuration_gpt import GPTConfig

    if isinstance(model_config, GPTConfig):
        return model_config
    from ..convert import gpt2_config_to_ours, llama_config_to_ours

    return (
        llama_config_to_ours(model_config) if model_config.model_type == "llama" else gpt2_config_to_ours(model_config)
    )


def _flat(config: PretrainConfig) -> dict:
    flat = {}
    for section, values in config.to_dict().items():
        for key, value in values.items():
            flat[f"{section}/{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def _describe_batch(micro_batches, tokenizer, accelerator) -> list[str]:
    """The start of every sequence in the batch (all processes), so a spike can be traced to its documents."""
    from accelerate.utils import gather_object

    mine = [tokenizer.decode(ids[:24].tolist())[:60] for mb in micro_batches for ids in mb]
    return gather_object(mine)


def _rollback(accelerator, checkpoints_dir: Path, state: dict, train_set, o, write_metrics, log) -> None:
    """Back to the last complete checkpoint's weights and optimizer, with a lower learning rate; the data position
    is kept, so the batches that spiked are not seen again."""
    found = complete_checkpoints(checkpoints_dir)
    if not found:
        log("repeated loss spikes but no checkpoint to roll back to; continuing")
        return
    if state["rollbacks"] >= o.max_rollbacks:
        raise TrainingError(
            f"Loss spikes continue after {state['rollbacks']} rollbacks; the run is diverging. Lower "
            "the learning rate, check the data around the logged sequences, or raise max_rollbacks."
        )
    position = train_set.state_dict()
    saved = load_checkpoint(accelerator, found[-1])
    lr_scale = state["lr_scale"] * o.rollback_lr_factor
    state.update({k: v for k, v in saved.items() if k != "fingerprint"})
    state["lr_scale"], state["rollbacks"] = lr_scale, state["rollbacks"] + 1
    train_set.load_state_dict(position)
    state["data"] = position
    write_metrics({"step": state["step"], "event": "rollback", "to": found[-1].name, "lr_scale": lr_scale})
    log(f"rolled back to {found[-1].name} with learning-rate scale {lr_scale:g}")


def _last_eval(metrics_path: Path) -> dict:
    last = {}
    if metrics_path.is_file():
        for line in metrics_path.read_text().splitlines():
            record = json.loads(line)
            if "val_loss" in record:
                last = record
    return last


def _push(config: PretrainConfig, folder: Path, what: str, summary: dict | None = None, metrics: dict | None = None):
    from .hub import push_to_hub, write_model_card

    card = write_model_card(
        folder,
        config.hub.hub_model_id,
        metrics=metrics or {},
        training=summary or {},
        data=(summary or {}).get("data") or {},
    )
    if summary is not None:  # the final push: the run report becomes part of the model card
        import shutil

        from ..report import build_report

        run = Path(config.checkpointing.output_dir)
        report = build_report(run, generate=True).read_text(encoding="utf-8")
        if (run / "plots").is_dir():
            shutil.copytree(run / "plots", folder / "plots", dirs_exist_ok=True)
        body = report.split("\n", 1)[1] if report.startswith("# ") else report
        card.write_text(
            card.read_text(encoding="utf-8") + "\n## Run report\n" + body.replace("\n## ", "\n### "), encoding="utf-8"
        )
    return push_to_hub(
        folder, config.hub.hub_model_id, private=config.hub.hub_private, commit_message=f"hfpretrain: {what}"
    )


def main(argv: list[str] | None = None) -> dict:
    from .config import load_config

    config = load_config(argv)
    return train(config)


__all__ = ["TrainingError", "asdict", "main", "train"]
