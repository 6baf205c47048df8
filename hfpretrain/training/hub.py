"""Publish a trained model folder on the Hugging Face Hub: a model card, then one upload.

- `write_model_card` writes `README.md`: YAML metadata the Hub indexes (library, pipeline, tags, language), what
  the model is (read from `config.json` and the safetensors headers), how it was trained and evaluated (the
  dicts it is given), a usage snippet that matches the folder (`trust_remote_code=True` only when the folder
  carries its own code) and limitations. It states only what it is given or reads from the folder.
- `push_to_hub` creates the repo if needed and uploads the folder with `HfApi.upload_folder`, leaving training
  state (optimizer, scheduler, RNG states, temporary files) behind. It checks first what would otherwise fail late
  or obscurely: a missing folder, offline mode, no token, a token the Hub rejects.
"""

import json
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, ModelCardData, get_token, is_offline_mode
from huggingface_hub.errors import HfHubHTTPError
from safetensors import safe_open
from transformers.utils import logging

from ..accounting import parameter_breakdown
from ..configuration_gpt import GPTConfig

logger = logging.get_logger(__name__)

# Files a checkpoint folder may hold that are not the model: accelerate's `save_state` writes optimizer.bin,
# scheduler.bin, random_states_<rank>.pkl and scaler.pt; `*.tmp*` are half-written files of an atomic save.
# Patterns match the path relative to the folder with fnmatch, where `*` also matches `/`.
TRAINING_STATE_PATTERNS = (
    "*.pt",
    "*.pth",
    "*.tmp*",
    "optimizer*",
    "*/optimizer*",
    "scheduler*",
    "*/scheduler*",
    "random_states*",
    "*/random_states*",
    "rng_state*",
    "*/rng_state*",
)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")

# Row labels for common metric and training keys; any other key is shown as "Its words capitalized".
_LABELS = {
    "steps": "Optimizer steps",
    "tokens": "Tokens",
    "batch_size": "Batch size (sequences)",
    "tokens_per_step": "Tokens per step",
    "seq_len": "Sequence length",
    "sequence_length": "Sequence length",
    "lr": "Learning rate",
    "learning_rate": "Learning rate",
    "val_loss": "Validation loss",
    "validation_loss": "Validation loss",
    "ppl": "Perplexity",
    "perplexity": "Perplexity",
    "bpc": "Bits per character",
    "bits_per_character": "Bits per character",
    "bpb": "Bits per byte",
    "bits_per_byte": "Bits per byte",
}

_PROMPTS = {"ja": "昔々、あるところに", "en": "Once upon a time"}


# ---------------------------------------------------------------------------------------------------------------------
# Model card


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " ").capitalize())


def _count(n: int) -> str:
    """1234567 → '1,234,567 (1.23M)': exact, and readable at a glance."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= scale:
            return f"{n:,} ({n / scale:.3g}{suffix})"
    return f"{n:,}"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return _count(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(v) for v in value)
    return str(value)


def _rows(values: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten a dict (one level of nesting becomes 'Outer / inner') into (label, value) rows; None is skipped."""
    rows = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict):
            rows += _rows(value, prefix=f"{prefix}{_label(key)} / ")
        else:
            rows.append((prefix + _label(key), _format(value)))
    return rows


def _table(rows: list[tuple[str, str]], header: tuple[str, str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {cell(name)} | {cell(value)} |" for name, value in rows]
    return "\n".join(lines)


def _safetensors_summary(folder: Path) -> tuple[int, list[str], int] | None:
    """(parameters, dtypes, bytes) of the folder's safetensors files, read from their headers (no tensor is loaded).
    transformers saves tied weights once, so the count is that of distinct parameters."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    parameters, dtypes = 0, set()
    for path in files:
        with safe_open(path, framework="pt") as f:
            for name in f.keys():  # noqa: SIM118  (safe_open is not a mapping: it has keys() but no __iter__)
                tensor = f.get_slice(name)
                numel = 1
                for dim in tensor.get_shape():
                    numel *= dim
                parameters += numel
                dtypes.add(tensor.get_dtype())
    return parameters, sorted(dtypes), sum(path.stat().st_size for path in files)


def _architecture_rows(folder: Path, config: dict) -> list[tuple[str, str]]:
    """What the model is, from config.json (GPT-2's n_layer/n_embd/... names included) and the weight files."""

    def field(*names: str) -> Any:
        return next((config[n] for n in names if config.get(n) is not None), None)

    model_type = config.get("model_type", "unknown")
    architectures = ", ".join(config.get("architectures") or [])
    rows = [("Model type", f"{model_type} ({architectures})" if architectures else model_type)]
    heads, kv_heads = field("num_attention_heads", "n_head"), field("num_key_value_heads")
    width, activation = field("intermediate_size", "n_inner"), field("hidden_act", "activation_function")
    for label, value in (
        ("Layers", field("num_hidden_layers", "n_layer")),
        ("Hidden size", field("hidden_size", "n_embd")),
        ("Attention heads", f"{heads} ({kv_heads} key/value heads)" if kv_heads and kv_heads != heads else heads),
        ("Feed-forward width", width),
        ("Activation", activation),
        ("Position embeddings", field("position_embedding_type")),
        ("Normalization", field("norm_type")),
        ("Tied input/output embeddings", field("tie_word_embeddings")),
        ("Context length (tokens)", field("max_position_embeddings", "n_positions")),
        ("Vocabulary size", field("vocab_size")),
    ):
        if value is not None:
            rows.append((label, _format(value)))

    weights = _safetensors_summary(folder)
    if model_type == GPTConfig.model_type:
        counts = parameter_breakdown(GPTConfig.from_json_file(str(folder / "config.json")))
        rows.append(("Parameters", f"{_count(counts['total'])}; {_count(counts['non_embedding'])} without embeddings"))
    elif weights is not None:
        rows.append(("Parameters", _count(weights[0])))
    if weights is not None:
        rows.append(("Weights", f"safetensors, {', '.join(weights[1])}, {weights[2] / 1e6:.1f} MB"))
    return rows


def _languages(data: dict) -> list[str]:
    language = data.get("language")
    if not language:
        return []
    return [language] if isinstance(language, str) else list(language)


def _usage(folder: Path, repo_id: str, config: dict, languages: list[str]) -> str:
    remote_code = "auto_map" in config
    trust = ", trust_remote_code=True" if remote_code else ""
    prompt = next((_PROMPTS[lang] for lang in languages if lang in _PROMPTS), _PROMPTS["en"])
    code = [
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}"{trust})',
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}"{trust})',
        "",
        f'inputs = tokenizer("{prompt}", return_tensors="pt")',
        "outputs = model.generate(**inputs, max_new_tokens=50, do_sample=True, top_k=50)",
        "print(tokenizer.decode(outputs[0], skip_special_tokens=True))",
        "```",
    ]
    if remote_code:
        code_files = ", ".join(f"`{p.name}`" for p in sorted(folder.glob("*.py")))
        notes = [
            f"The model code ({code_files}) is part of this repository and needs only `torch` and `transformers`; "
            "`trust_remote_code=True` runs it, so read it first."
        ]
    elif config.get("model_type") == GPTConfig.model_type:
        code.insert(1, "import hfpretrain  # registers GPTForCausalLM with the Auto classes")
        notes = ["This folder carries no model code: `pip install hfpretrain` and import it before loading."]
    else:
        notes = [f"A plain `{config.get('model_type')}` model: no custom code is needed."]
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        notes.append("This repository holds no tokenizer files: load the tokenizer the model was trained with.")
    return "\n\n".join(["\n".join(code), *notes])


def write_model_card(
    folder: str | Path,
    repo_id: str,
    metrics: dict | None = None,
    training: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Write `folder/README.md`, the model card shown on the Hub page of `repo_id`.

    `metrics` (e.g. val_loss, perplexity, bpc, bpb), `training` (steps, tokens, batch_size, learning_rate,
    hardware, ...) and `data` (language, datasets, documents, tokens, ...) are shown as tables, with nested dicts
    flattened one level; `data["language"]` (a code or a list of codes) also goes into the metadata. Returns the path.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"No config.json in {folder}: save the model there with `save_pretrained` first.")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    metrics, training, data = metrics or {}, training or {}, data or {}
    languages = _languages(data)

    tags = ["hfpretrain", config.get("model_type", "causal-lm")]
    if "auto_map" in config:
        tags.append("custom_code")  # the tag the Hub gives repositories with remote code
    metadata = ModelCardData(
        language=languages or None,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=tags,
    )

    name = repo_id.split("/")[-1]
    sections = [
        f"---\n{metadata.to_yaml()}\n---",
        f"# {name}",
        f"A causal (decoder-only) language model published with hfpretrain as `{repo_id}`.",
        "## Model\n\n" + _table(_architecture_rows(folder, config), ("Field", "Value")),
        "## Training\n\n"
        + (_table(_rows(training), ("Setting", "Value")) if training else "No training details were recorded."),
        "## Evaluation\n\n"
        + (_table(_rows(metrics), ("Metric", "Value")) if metrics else "No evaluation results were recorded."),
        "## Data\n\n" + (_table(_rows(data), ("Field", "Value")) if data else "No data summary was recorded."),
        "## Usage\n\n" + _usage(folder, repo_id, config, languages),
        "## Limitations\n\n"
        "- A base model trained to continue text: it does not follow instructions and has not been aligned or "
        "safety-tuned.\n"
        "- It can write fluent text that is false, biased or offensive, reflecting its training data"
        + (f" (language: {', '.join(languages)})" if languages else "")
        + ".\n- The evaluation above covers only the metrics listed there.",
    ]
    path = folder / "README.md"
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Upload


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload model",
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Upload `folder` to the model repo `repo_id` (created if needed) in one commit; returns the commit URL.

    `private=False` leaves the visibility of a new repo to the Hub (public, unless the organization makes new repos
    private); `private=True` asks for a private one. An existing repo keeps its visibility. A bare repo name goes
    to the token owner's namespace. `revision` is a branch, created if needed; `create_pr=True` opens a pull request
    against main instead. Training state (`TRAINING_STATE_PATTERNS`) is not uploaded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No model folder at {folder}: check the path, or save the model there first.")
    if is_offline_mode():
        raise RuntimeError(
            "Pushing to the Hub needs the network, but offline mode is on (HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1 "
            "in the environment when huggingface_hub was imported). Unset it (`unset HF_HUB_OFFLINE`) and run again."
        )
    if create_pr and revision not in (None, "main"):
        raise ValueError(
            f"create_pr=True opens a pull request against main, but revision={revision!r} was given too: "
            "choose one (a branch, or a pull request)."
        )
    token = token or get_token()
    if token is None:
        raise RuntimeError(
            "No Hugging Face token found. Log in with `hf auth login`, or set HF_TOKEN to a token with write access "
            "(https://huggingface.co/settings/tokens)."
        )

    api = HfApi(token=token)
    try:
        user = api.whoami()
    except HfHubHTTPError as e:
        if e.response is not None and e.response.status_code == 401:
            raise RuntimeError(
                "The Hub rejected the token (401). Log in again with `hf auth login --force`, or set HF_TOKEN to a "
                "valid token with write access (HF_TOKEN takes precedence over the stored login)."
            ) from e
        raise
    if "/" not in repo_id:
        repo_id = f"{user['name']}/{repo_id}"
    if not (folder / "README.md").is_file():
        logger.warning(f"{folder} has no README.md: the Hub page will be empty. Write one with write_model_card.")

    api.create_repo(repo_id, private=private or None, exist_ok=True)
    if revision not in (None, "main"):
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        commit_message=commit_message,
        revision=revision,
        create_pr=create_pr,
        ignore_patterns=list(TRAINING_STATE_PATTERNS),  # a copy: upload_folder appends its defaults to the list
    )
    if info.pr_url:
        logger.info(f"Opened pull request {info.pr_url}")
    logger.info(f"Pushed {folder} to {repo_id}: {info.commit_url}")
    return info.commit_url


__all__ = ["TRAINING_STATE_PATTERNS", "push_to_hub", "write_model_card"]
