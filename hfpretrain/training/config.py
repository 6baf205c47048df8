"""Training configuration: typed dataclasses, one docstring per field, from defaults < YAML < command line.

The YAML file has one section per dataclass (`model:`, `data:`, `optimization:`, `checkpointing:`, `logging:`,
`hub:`); on the command line every field is a flag of the same name (`--max_steps 100`, `--learning_rate 1e-3`,
`--push_to_hub`). Unknown keys are errors that name the key and suggest the closest one.
"""

import argparse
import dataclasses
import difflib
import itertools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEDULES = ("cosine", "linear", "wsd", "constant")
MIXED_PRECISION = ("bf16", "fp16", "no")
ARCHITECTURES = ("gpt", "mlp", "rnn", "attention")


@dataclass
class ModelArguments:
    architecture: str = "gpt"
    """gpt, or one of the ladder's smaller models (`hfpretrain ladder`): mlp (fixed-window, Bengio et al. 2003),
    rnn (LSTM/GRU) or attention (one attention-only layer); those take their fields from overrides, not a preset."""
    preset: str = "gpt-debug"
    """A GPTConfig preset (`hfpretrain info` lists them); vocab size and special tokens come from the tokenizer."""
    overrides: dict = field(default_factory=dict)
    """GPTConfig fields that differ from the preset, e.g. {num_hidden_layers: 4, dropout: 0.0} (for another
    architecture: fields of its config, e.g. {cell: gru, hidden_size: 256})."""
    init_from: str | None = None
    """A model folder to continue pretraining from (ours, or an imported GPT-2 / Llama); replaces preset."""
    implementation: str = "hfpretrain"
    """hfpretrain, or transformers: the same shape as transformers' GPT2LMHeadModel / LlamaForCausalLM (for
    comparisons; the preset must be exportable to that format)."""
    attn_implementation: str = "sdpa"
    """Attention kernel: sdpa (default), eager (the reference), flex_attention."""
    activation_checkpointing: bool = False
    """Recompute block activations in the backward pass: less memory, ~30% more compute."""
    compile: bool = False
    """torch.compile the model (worth it on GPUs; little gain on CPUs)."""


@dataclass
class DataArguments:
    tokenizer: str | None = None
    """Tokenizer folder (hfpretrain tokenizer train). Required, except when resuming or with init_from holding one."""
    train: list[str] = field(default_factory=list)
    """Token shards (a folder of *.ds from `hfpretrain data run --tokenizer`, or its tokens/ folder with train/ and
    valid/), or text sources tokenized on the fly: JSONL(.gz), .txt, Parquet, datasets folders or Hub ids."""
    valid: list[str] = field(default_factory=list)
    """Validation shards or text; empty: tokens/valid beside the train shards, or valid_fraction of the text."""
    text_field: str = "text"
    """Field holding the text in JSONL / Parquet / datasets sources."""
    valid_fraction: float = 0.02
    """Share of text documents (stable hash of their position) held out when no validation source is given."""
    max_train_tokens: int | None = None
    """Stop tokenizing a text source after this many tokens (for streamed Hub datasets and quick trials)."""
    seq_len: int = 256
    """Tokens per training sequence (the model's context during training)."""


@dataclass
class OptimizationArguments:
    global_batch_tokens: int = 16384
    """Tokens per optimizer step over all processes, as papers state batch sizes; must be a multiple of
    seq_len × micro_batch_size × processes (the gradient-accumulation steps are derived)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass on one process."""
    max_steps: int | None = None
    """Optimizer steps to train for (or max_tokens)."""
    max_tokens: int | None = None
    """Tokens to train on; converted to steps (max_steps wins when both are given)."""
    learning_rate: float = 6e-4
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a share of the peak (cosine, linear, wsd)."""
    schedule: str = "cosine"
    """cosine, linear (linear warmup then decay), wsd (warmup-stable-decay, Hu et al. 2024) or constant."""
    warmup_steps: int | None = None
    """Linear warmup steps; None: warmup_fraction of max_steps."""
    warmup_fraction: float = 0.05
    """Warmup as a share of the run when warmup_steps is not given."""
    decay_fraction: float = 0.2
    """wsd: share of the run spent decaying at the end."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay, on matrices only (never on norms, biases, embeddings)."""
    beta1: float = 0.9
    """AdamW β1."""
    beta2: float = 0.95
    """AdamW β2 (0.95 as in GPT-3 and Llama; 0.999 is unstable at scale)."""
    eps: float = 1e-8
    """AdamW ε."""
    grad_clip: float | None = 1.0
    """Clip the global gradient norm to this value (None: no clipping)."""
    mixed_precision: str = "bf16"
    """bf16 (autocast; CPUs with AVX-512 BF16 and recent GPUs), fp16 (GPUs only, with loss scaling), or no."""
    seed: int = 0
    """Seed of model initialization, data order and dropout."""
    skip_nonfinite: bool = True
    """Skip (and log) any step whose loss or gradient norm is NaN or infinite."""
    spike_factor: float | None = 3.0
    """Skip a step whose loss exceeds this factor times the running average (None: no spike guard)."""
    spike_warmup_steps: int = 50
    """Steps before the spike guard starts (the average must settle first)."""
    spike_ema: float = 0.98
    """Smoothing of the running average loss used by the spike guard."""
    rollback_after_spikes: int = 3
    """This many skipped spikes within rollback_window steps roll back to the last checkpoint (0: never)."""
    rollback_window: int = 50
    """Window (in steps) in which spikes are counted for a rollback."""
    rollback_lr_factor: float = 0.5
    """After a rollback the learning rate is multiplied by this factor."""
    max_consecutive_skips: int = 20
    """Stop with an error after this many skipped steps in a row (every batch non-finite or spiking)."""
    max_rollbacks: int = 3
    """Stop with an error after this many rollbacks: the run is diverging whatever the learning rate."""


@dataclass
class CheckpointArguments:
    output_dir: str = "runs/default"
    """Run folder: metrics.jsonl, resolved_config.yaml, checkpoints/, final/."""
    save_every: int | None = 500
    """Save a checkpoint every this many steps (and always at the end; None: only at the end)."""
    keep_last: int = 2
    """Complete checkpoints kept (older ones are deleted after a new one is committed)."""
    resume: str | None = None
    """auto (the latest complete checkpoint in output_dir, if any) or a checkpoint folder."""
    allow_config_change: bool = False
    """Resume even if seed, sequence length, batch, data, tokenizer or model shape changed."""
    stop_after_step: int | None = None
    """Save a checkpoint and stop at this step while keeping the schedule of the whole run (for time-limited jobs
    that continue with --resume auto)."""
    export_format: str | None = None
    """Also save final-<format>/ as a plain transformers model: llama or gpt2 (see hfpretrain convert)."""


@dataclass
class LoggingArguments:
    log_every: int = 10
    """Write a metrics line every this many steps."""
    eval_every: int | None = 200
    """Evaluate on the validation set every this many steps (None: only at the end)."""
    eval_sequences: int | None = 256
    """Validation sequences per evaluation (None: all)."""
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])
    """Accelerate trackers: tensorboard, trackio, wandb (all offline-safe); [] for none."""
    progress_bar: bool = True
    """Show a progress bar with loss, learning rate, tokens/s, MFU and ETA."""
    peak_flops: float | None = None
    """Peak FLOP/s of one device for MFU; None: a known GPU's datasheet value, or a matmul measured on the CPU."""


@dataclass
class HubArguments:
    push_to_hub: bool = False
    """Push final/ (model, tokenizer, resolved config, model card) to the Hugging Face Hub."""
    hub_model_id: str | None = None
    """ORG/NAME of the Hub repository."""
    hub_private: bool = False
    """Create the repository as private."""
    push_every_checkpoint: bool = False
    """Also push the model of every checkpoint (as a commit on the same repository)."""


SECTIONS: dict[str, type] = {
    "model": ModelArguments,
    "data": DataArguments,
    "optimization": OptimizationArguments,
    "checkpointing": CheckpointArguments,
    "logging": LoggingArguments,
    "hub": HubArguments,
}


@dataclass
class PretrainConfig:
    model: ModelArguments = field(default_factory=ModelArguments)
    data: DataArguments = field(default_factory=DataArguments)
    optimization: OptimizationArguments = field(default_factory=OptimizationArguments)
    checkpointing: CheckpointArguments = field(default_factory=CheckpointArguments)
    logging: LoggingArguments = field(default_factory=LoggingArguments)
    hub: HubArguments = field(default_factory=HubArguments)

    def validate(self) -> None:
        o, c, m = self.optimization, self.checkpointing, self.model
        if o.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {o.schedule!r}")
        if o.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}; got {o.mixed_precision!r}")
        if o.max_steps is None and o.max_tokens is None:
            raise ValueError("Set max_steps or max_tokens (how long to train).")
        if self.data.seq_len < 2:
            raise ValueError("seq_len must be at least 2")
        if o.global_batch_tokens % self.data.seq_len:
            raise ValueError(
                f"global_batch_tokens ({o.global_batch_tokens}) must be a multiple of seq_len ({self.data.seq_len}); "
                f"e.g. {self.data.seq_len * max(1, round(o.global_batch_tokens / self.data.seq_len))}."
            )
        if c.export_format not in (None, "llama", "gpt2"):
            raise ValueError(f"export_format must be llama or gpt2; got {c.export_format!r}")
        if m.implementation not in ("hfpretrain", "transformers"):
            raise ValueError(f"implementation must be hfpretrain or transformers; got {m.implementation!r}")
        if m.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {m.architecture!r}")
        if m.architecture != "gpt" and m.implementation != "hfpretrain":
            raise ValueError(
                f"implementation={m.implementation!r} exports a GPT; architecture={m.architecture!r} has no "
                "transformers equivalent. Use implementation hfpretrain or architecture gpt."
            )
        if self.hub.push_to_hub and not self.hub.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id ORG/NAME.")
        if not self.data.train and not c.resume:
            raise ValueError("No training data: set data.train (token shards or text files) or pass --train.")

    def to_dict(self) -> dict[str, dict]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


def _field_index() -> dict[str, tuple[str, dataclasses.Field]]:
    index = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.name in index:
                raise RuntimeError(f"field {f.name} is defined twice")  # flags must be unique
            index[f.name] = (section, f)
    return index


def _unknown(key: str, known: list[str], where: str) -> ValueError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown setting {key!r} in {where}.{hint}")


def config_from_dict(data: dict[str, Any], where: str = "the config") -> PretrainConfig:
    """A config from a nested mapping {section: {field: value}}; unknown sections and keys are errors."""
    config = PretrainConfig()
    for section, values in (data or {}).items():
        if section not in SECTIONS:
            raise _unknown(section, list(SECTIONS), where)
        if not isinstance(values, dict):
            raise ValueError(f"Section {section!r} in {where} must be a mapping of settings.")
        names = [f.name for f in dataclasses.fields(SECTIONS[section])]
        for key, value in values.items():
            if key not in names:
                raise _unknown(key, names, f"section {section!r} of {where}")
            setattr(getattr(config, section), key, value)
    return config


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_flag(parser: argparse.ArgumentParser, f: dataclasses.Field) -> None:
    hint = f.type if isinstance(f.type, str) else str(f.type)
    origin = typing.get_origin(f.type)
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    base = args[0] if origin in (typing.Union, types.UnionType) and args else f.type
    kwargs: dict[str, Any] = {"dest": f.name, "default": None}
    if base is bool:
        kwargs.update(nargs="?", const=True, type=_parse_bool, metavar="BOOL")
    elif typing.get_origin(base) is list or base is list:
        kwargs.update(nargs="*")
    elif base is dict or typing.get_origin(base) is dict:
        kwargs.update(type=json.loads, metavar="JSON")
    elif base in (int, float, str):
        kwargs.update(type=base)
    else:
        raise RuntimeError(f"no flag type for {f.name}: {hint}")
    parser.add_argument(f"--{f.name}", help=(f.metadata.get("help") or _docstring_of(f)), **kwargs)


def _docstring_of(f: dataclasses.Field) -> str | None:
    return _DOCS.get(f.name)


def _collect_docs() -> dict[str, str]:
    """Field docstrings (the string literal after each field) for --help."""
    import ast
    import inspect

    docs = {}
    tree = ast.parse(inspect.getsource(__import__(__name__, fromlist=["_"])))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            body = node.body
            for a, b in itertools.pairwise(body):
                if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
                    docs[a.target.id] = " ".join(str(b.value.value).split()).replace("%", "%%")
    return docs


_DOCS: dict[str, str] = {}


def build_parser() -> argparse.ArgumentParser:
    global _DOCS
    if not _DOCS:
        _DOCS = _collect_docs()
    parser = argparse.ArgumentParser(
        prog="recipes/pretrain.py",
        description="Pretrain a GPT with Accelerate. Settings: defaults < --config YAML < these flags.",
    )
    parser.add_argument(
        "--config", help="YAML recipe with sections model, data, optimization, checkpointing, logging, hub"
    )
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(section)
        for f in dataclasses.fields(cls):
            _add_flag(group, f)
    return parser


def load_config(argv: list[str] | None = None) -> PretrainConfig:
    """defaults < YAML (--config) < flags."""
    from ..configs import load_yaml

    args = build_parser().parse_args(argv)
    data = load_yaml(args.config) if args.config else {}
    config = config_from_dict(data, str(args.config) if args.config else "the config")
    index = _field_index()
    for name, value in vars(args).items():
        if name == "config" or value is None:
            continue
        section, _ = index[name]
        setattr(getattr(config, section), name, value)
    config.validate()
    return config


def save_config(config: PretrainConfig, path: str | Path) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def read_config(path: str | Path) -> PretrainConfig:
    import yaml

    return config_from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")), str(path))
