"""Interoperability: GPT-2 and Llama checkpoints in, Llama and GPT-2 checkpoints out.

- `import_gpt2` loads a transformers `GPT2LMHeadModel` (a folder, an in-memory model, or a Hub id for users with
  internet) into our GPT-2-shaped config with the same logits, so pretraining can continue from OpenAI's GPT-2.
- `import_llama` does the same for `LlamaForCausalLM` checkpoints with the default RoPE.
- `export_llama` / `export_gpt2` turn our models whose architecture matches into plain transformers models: the
  folder they save has `model_type: "llama"` or `"gpt2"`, no custom code, and loads in anything built around those
  formats. A mismatched architecture is refused with every differing field and what it would need.

The mapping is exact: our fused q/k/v and gate/up matrices are the row-wise concatenations of Llama's separate ones,
GPT-2's `Conv1D` weights are the transposes of our `nn.Linear` ones, and both models compute the same RoPE (rotate
half), norms and activations. `verify_same_logits` checks a conversion on a random batch.
"""

from pathlib import Path

import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedModel
from transformers.utils import logging

from .configuration_gpt import GPTConfig
from .modeling_gpt import GPTForCausalLM

logger = logging.get_logger(__name__)

# GPT-2's activation names ↔ ours. "gelu_new" is GPT-2's tanh approximation of GELU.
_GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
_EXPORT_GPT2_ACTIVATIONS = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}


class IncompatibleArchitectureError(ValueError):
    """The source architecture cannot be expressed in the target format without changing what it computes."""

    def __init__(self, target: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Cannot convert to {target}; these fields differ:\n{lines}")


def _special_ids(config) -> dict:
    """bos/eos/pad ids of a foreign config; ids outside the vocabulary (e.g. pad_token_id=-1, seen on the Hub) are
    dropped with a warning, since our config refuses them."""
    ids = {}
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(config, name, None)
        values = value if isinstance(value, list) else [value]
        if any(v is not None and not 0 <= v < config.vocab_size for v in values):
            logger.warning(f"{name}={value} is outside the vocabulary of {config.vocab_size}; it is not carried over.")
            value = None
        ids[name] = value
    return ids


def _load(source, cls: type[PreTrainedModel]) -> PreTrainedModel:
    if isinstance(source, PreTrainedModel):
        return source
    return cls.from_pretrained(str(source), dtype=torch.float32)


def _fill(model: PreTrainedModel, tensors: dict[str, torch.Tensor]) -> PreTrainedModel:
    """Copy `tensors` into `model`, insisting that every parameter is written exactly once and nothing is left over."""
    params = dict(model.named_parameters())  # a tied weight appears once, under its embedding name
    missing = sorted(set(params) - set(tensors))
    unexpected = sorted(set(tensors) - set(params))
    if missing or unexpected:
        raise RuntimeError(f"conversion bug: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for name, tensor in tensors.items():
            if params[name].shape != tensor.shape:
                raise RuntimeError(
                    f"conversion bug: {name} has shape {tuple(params[name].shape)}, got {tuple(tensor.shape)}"
                )
            params[name].copy_(tensor)
    return model


def _new_model(cls: type[PreTrainedModel], config) -> PreTrainedModel:
    """An empty model on the CPU in fp32 (its weights are all overwritten by `_fill`)."""
    model = cls(config)
    return model.to(torch.float32).eval()


# ---------------------------------------------------------------------------------------------------------------------
# GPT-2


def gpt2_config_to_ours(config: GPT2Config, **overrides) -> GPTConfig:
    problems = []
    if config.activation_function not in _GPT2_ACTIVATIONS:
        problems.append(
            f"activation_function is {config.activation_function!r}; supported: {', '.join(_GPT2_ACTIVATIONS)}"
        )
    if not config.scale_attn_weights:
        problems.append("scale_attn_weights is False; our attention always scales by 1/sqrt(head_dim)")
    if config.scale_attn_by_inverse_layer_idx:
        problems.append("scale_attn_by_inverse_layer_idx is True; our attention has no per-layer scaling")
    if getattr(config, "add_cross_attention", False):
        problems.append("add_cross_attention is True; a decoder-only GPT has no cross-attention")
    if problems:
        raise IncompatibleArchitectureError("hfpretrain's GPT", problems)
    fields = dict(
        vocab_size=config.vocab_size,
        max_position_embeddings=config.n_positions,
        hidden_size=config.n_embd,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        num_key_value_heads=config.n_head,
        intermediate_size=config.n_inner or 4 * config.n_embd,
        position_embedding_type="learned",
        norm_type="layernorm",
        norm_eps=config.layer_norm_epsilon,
        hidden_act=_GPT2_ACTIVATIONS[config.activation_function],
        bias=True,
        qk_norm=False,
        tie_word_embeddings=config.tie_word_embeddings,
        # GPT-2 has separate embedding and residual dropouts; ours is one value. Both are kept as trained.
        dropout=float(config.resid_pdrop),
        attention_dropout=float(config.attn_pdrop),
        initializer_range=config.initializer_range,
        **_special_ids(config),
    )
    return GPTConfig(**{**fields, **overrides})


def import_gpt2(source, **overrides) -> GPTForCausalLM:
    """A `GPTForCausalLM` computing what the given `GPT2LMHeadModel` computes (folder, Hub id or model)."""
    gpt2 = _load(source, GPT2LMHeadModel)
    config = gpt2_config_to_ours(gpt2.config, **overrides)
    sd = {k: v.float() for k, v in gpt2.state_dict().items()}
    tensors = {
        "model.embed_tokens.weight": sd["transformer.wte.weight"],
        "model.embed_positions.weight": sd["transformer.wpe.weight"],
        "model.norm.weight": sd["transformer.ln_f.weight"],
        "model.norm.bias": sd["transformer.ln_f.bias"],
    }
    for i in range(config.num_hidden_layers):
        src, dst = f"transformer.h.{i}.", f"model.layers.{i}."
        for ours, theirs in (("input_layernorm", "ln_1"), ("post_attention_layernorm", "ln_2")):
            tensors[f"{dst}{ours}.weight"] = sd[f"{src}{theirs}.weight"]
            tensors[f"{dst}{ours}.bias"] = sd[f"{src}{theirs}.bias"]
        # Conv1D stores (in, out); nn.Linear stores (out, in).
        for ours, theirs in (
            ("self_attn.qkv_proj", "attn.c_attn"),
            ("self_attn.o_proj", "attn.c_proj"),
            ("mlp.up_proj", "mlp.c_fc"),
            ("mlp.down_proj", "mlp.c_proj"),
        ):
            tensors[f"{dst}{ours}.weight"] = sd[f"{src}{theirs}.weight"].t().contiguous()
            tensors[f"{dst}{ours}.bias"] = sd[f"{src}{theirs}.bias"]
    if not config.tie_word_embeddings:
        tensors["lm_head.weight"] = sd["lm_head.weight"]
    model = _fill(_new_model(GPTForCausalLM, config), tensors)
    model.generation_config = gpt2.generation_config
    return model


def gpt2_problems(config: GPTConfig) -> list[str]:
    """Why `config` is not a GPT-2 (empty list when it is)."""
    problems = []
    if config.position_embedding_type != "learned":
        problems.append(f"position_embedding_type is {config.position_embedding_type!r}; GPT-2 needs 'learned'")
    if config.norm_type != "layernorm":
        problems.append(f"norm_type is {config.norm_type!r}; GPT-2 needs 'layernorm'")
    if config.hidden_act not in _EXPORT_GPT2_ACTIVATIONS:
        problems.append(
            f"hidden_act is {config.hidden_act!r}; GPT-2 needs one of {', '.join(_EXPORT_GPT2_ACTIVATIONS)}"
        )
    if not config.bias:
        problems.append("bias is False; GPT-2 has biases in every linear layer and LayerNorm (bias=True)")
    if config.qk_norm:
        problems.append("qk_norm is True; GPT-2 has no QK-norm (qk_norm=False)")
    if config.num_key_value_heads != config.num_attention_heads:
        problems.append(
            f"num_key_value_heads is {config.num_key_value_heads}; GPT-2 needs one per query head "
            f"({config.num_attention_heads})"
        )
    return problems


def export_gpt2(model: GPTForCausalLM) -> GPT2LMHeadModel:
    config = model.config
    problems = gpt2_problems(config)
    if problems:
        raise IncompatibleArchitectureError("GPT-2 (GPT2LMHeadModel)", problems)
    gpt2_config = GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.max_position_embeddings,
        n_embd=config.hidden_size,
        n_layer=config.num_hidden_layers,
        n_head=config.num_attention_heads,
        n_inner=config.intermediate_size,
        activation_function=_EXPORT_GPT2_ACTIVATIONS[config.hidden_act],
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.attention_dropout,
        layer_norm_epsilon=config.norm_eps,
        initializer_range=config.initializer_range,
        tie_word_embeddings=config.tie_word_embeddings,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    sd = {k: v.float() for k, v in model.state_dict().items()}
    tensors = {
        "transformer.wte.weight": sd["model.embed_tokens.weight"],
        "transformer.wpe.weight": sd["model.embed_positions.weight"],
        "transformer.ln_f.weight": sd["model.norm.weight"],
        "transformer.ln_f.bias": sd["model.norm.bias"],
    }
    for i in range(config.num_hidden_layers):
        src, dst = f"model.layers.{i}.", f"transformer.h.{i}."
        for ours, theirs in (("input_layernorm", "ln_1"), ("post_attention_layernorm", "ln_2")):
            tensors[f"{dst}{theirs}.weight"] = sd[f"{src}{ours}.weight"]
            tensors[f"{dst}{theirs}.bias"] = sd[f"{src}{ours}.bias"]
        for ours, theirs in (
            ("self_attn.qkv_proj", "attn.c_attn"),
            ("self_attn.o_proj", "attn.c_proj"),
            ("mlp.up_proj", "mlp.c_fc"),
            ("mlp.down_proj", "mlp.c_proj"),
        ):
            tensors[f"{dst}{theirs}.weight"] = sd[f"{src}{ours}.weight"].t().contiguous()
            tensors[f"{dst}{theirs}.bias"] = sd[f"{src}{ours}.bias"]
    if not config.tie_word_embeddings:
        tensors["lm_head.weight"] = sd["lm_head.weight"]
    exported = _fill(_new_model(GPT2LMHeadModel, gpt2_config), tensors)
    exported.generation_config = model.generation_config
    return exported


# ---------------------------------------------------------------------------------------------------------------------
# Llama


def llama_config_to_ours(config: LlamaConfig, **overrides) -> GPTConfig:
    problems = []
    if config.hidden_act != "silu":
        problems.append(f"hidden_act is {config.hidden_act!r}; our SwiGLU uses 'silu'")
    if config.attention_bias or config.mlp_bias:
        problems.append(
            "attention_bias/mlp_bias is True; a Llama-style GPT has no biases (use bias=True models only "
            "with every linear layer biased)"
        )
    rope = config.rope_parameters or {}
    if rope.get("rope_type", "default") != "default":
        problems.append(f"rope_parameters.rope_type is {rope.get('rope_type')!r}; only the default RoPE is supported")
    if config.head_dim * config.num_attention_heads != config.hidden_size:
        problems.append(
            f"head_dim × num_attention_heads is {config.head_dim * config.num_attention_heads}; ours needs it equal "
            f"to hidden_size ({config.hidden_size})"
        )
    if problems:
        raise IncompatibleArchitectureError("hfpretrain's GPT", problems)
    fields = dict(
        vocab_size=config.vocab_size,
        max_position_embeddings=config.max_position_embeddings,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        intermediate_size=config.intermediate_size,
        position_embedding_type="rope",
        rope_theta=float(rope.get("rope_theta", 10000.0)),
        norm_type="rmsnorm",
        norm_eps=config.rms_norm_eps,
        hidden_act="swiglu",
        bias=False,
        qk_norm=False,
        tie_word_embeddings=config.tie_word_embeddings,
        dropout=0.0,
        attention_dropout=float(config.attention_dropout),
        initializer_range=config.initializer_range,
        **_special_ids(config),
    )
    return GPTConfig(**{**fields, **overrides})


def import_llama(source, **overrides) -> GPTForCausalLM:
    """A `GPTForCausalLM` computing what the given `LlamaForCausalLM` computes (folder, Hub id or model)."""
    llama = _load(source, LlamaForCausalLM)
    config = llama_config_to_ours(llama.config, **overrides)
    sd = {k: v.float() for k, v in llama.state_dict().items()}
    tensors = {
        "model.embed_tokens.weight": sd["model.embed_tokens.weight"],
        "model.norm.weight": sd["model.norm.weight"],
    }
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        tensors[f"{p}input_layernorm.weight"] = sd[f"{p}input_layernorm.weight"]
        tensors[f"{p}post_attention_layernorm.weight"] = sd[f"{p}post_attention_layernorm.weight"]
        tensors[f"{p}self_attn.qkv_proj.weight"] = torch.cat(
            [sd[f"{p}self_attn.{x}_proj.weight"] for x in ("q", "k", "v")], dim=0
        )
        tensors[f"{p}self_attn.o_proj.weight"] = sd[f"{p}self_attn.o_proj.weight"]
        tensors[f"{p}mlp.up_proj.weight"] = torch.cat([sd[f"{p}mlp.gate_proj.weight"], sd[f"{p}mlp.up_proj.weight"]])
        tensors[f"{p}mlp.down_proj.weight"] = sd[f"{p}mlp.down_proj.weight"]
    if not config.tie_word_embeddings:
        tensors["lm_head.weight"] = sd["lm_head.weight"]
    model = _fill(_new_model(GPTForCausalLM, config), tensors)
    model.generation_config = llama.generation_config
    return model


def llama_problems(config: GPTConfig) -> list[str]:
    """Why `config` is not a Llama (empty list when it is)."""
    wanted = {
        "position_embedding_type": "rope",
        "norm_type": "rmsnorm",
        "hidden_act": "swiglu",
        "bias": False,
        "qk_norm": False,
    }
    problems = [
        f"{field} is {getattr(config, field)!r}; Llama needs {value!r}"
        for field, value in wanted.items()
        if getattr(config, field) != value
    ]
    if config.dropout:
        problems.append(f"dropout is {config.dropout}; Llama has no residual dropout (dropout=0.0)")
    return problems


def export_llama(model: GPTForCausalLM) -> LlamaForCausalLM:
    config = model.config
    problems = llama_problems(config)
    if problems:
        raise IncompatibleArchitectureError("Llama (LlamaForCausalLM)", problems)
    llama_config = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        hidden_act="silu",
        max_position_embeddings=config.max_position_embeddings,
        initializer_range=config.initializer_range,
        rms_norm_eps=config.norm_eps,
        tie_word_embeddings=config.tie_word_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=config.attention_dropout,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    sd = {k: v.float() for k, v in model.state_dict().items()}
    q_width = config.num_attention_heads * config.head_dim
    kv_width = config.num_key_value_heads * config.head_dim
    tensors = {
        "model.embed_tokens.weight": sd["model.embed_tokens.weight"],
        "model.norm.weight": sd["model.norm.weight"],
    }
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        tensors[f"{p}input_layernorm.weight"] = sd[f"{p}input_layernorm.weight"]
        tensors[f"{p}post_attention_layernorm.weight"] = sd[f"{p}post_attention_layernorm.weight"]
        q, k, v = sd[f"{p}self_attn.qkv_proj.weight"].split([q_width, kv_width, kv_width], dim=0)
        tensors.update(
            {f"{p}self_attn.q_proj.weight": q, f"{p}self_attn.k_proj.weight": k, f"{p}self_attn.v_proj.weight": v}
        )
        tensors[f"{p}self_attn.o_proj.weight"] = sd[f"{p}self_attn.o_proj.weight"]
        gate, up = sd[f"{p}mlp.up_proj.weight"].chunk(2, dim=0)
        tensors.update({f"{p}mlp.gate_proj.weight": gate, f"{p}mlp.up_proj.weight": up})
        tensors[f"{p}mlp.down_proj.weight"] = sd[f"{p}mlp.down_proj.weight"]
    if not config.tie_word_embeddings:
        tensors["lm_head.weight"] = sd["lm_head.weight"]
    exported = _fill(_new_model(LlamaForCausalLM, llama_config), tensors)
    exported.generation_config = model.generation_config
    return exported


# ---------------------------------------------------------------------------------------------------------------------
# Folders


EXPORTERS = {"llama": export_llama, "gpt2": export_gpt2}
IMPORTERS = {"gpt2": import_gpt2, "llama": import_llama}


@torch.no_grad()
def verify_same_logits(a: PreTrainedModel, b: PreTrainedModel, tokens: int = 16, seed: int = 0) -> float:
    """Max absolute difference of the two models' fp32 logits on a random batch (2 rows of `tokens` ids)."""
    vocab = a.config.vocab_size
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (2, min(tokens, a.config.max_position_embeddings)), generator=generator)
    return (a.eval()(ids).logits.float() - b.eval()(ids).logits.float()).abs().max().item()


def _copy_tokenizer(source, destination: Path) -> bool:
    """Save the tokenizer of `source` (a folder or Hub id) beside the converted model, if it has one."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError, TypeError):
        return False
    tokenizer.save_pretrained(destination)
    return True


def convert_folder(direction: str, source, destination, tolerance: float = 1e-4, **overrides) -> dict:
    """`direction` is 'import-gpt2', 'import-llama', 'export-llama' or 'export-gpt2'. Saves the converted model
    (and the source's tokenizer, when it has one) to `destination` after checking that the logits agree."""
    kind, fmt = direction.split("-", 1)
    if kind == "import":
        source_model = _load(source, GPT2LMHeadModel if fmt == "gpt2" else LlamaForCausalLM)
        converted = IMPORTERS[fmt](source_model, **overrides)
    elif kind == "export":
        source_model = _load(source, GPTForCausalLM)
        converted = EXPORTERS[fmt](source_model)
    else:
        raise ValueError(f"unknown conversion {direction!r}")
    difference = verify_same_logits(source_model, converted)
    if difference > tolerance:
        raise RuntimeError(f"converted logits differ by {difference:.3g} (> {tolerance}); nothing was saved")
    destination = Path(destination)
    converted.save_pretrained(destination)
    has_tokenizer = not isinstance(source, PreTrainedModel) and _copy_tokenizer(source, destination)
    return {
        "direction": direction,
        "destination": str(destination),
        "model_type": converted.config.model_type,
        "max_abs_logit_difference": difference,
        "tokenizer": has_tokenizer,
    }


__all__ = [
    "IncompatibleArchitectureError",
    "convert_folder",
    "export_gpt2",
    "export_llama",
    "gpt2_problems",
    "import_gpt2",
    "import_llama",
    "llama_problems",
    "verify_same_logits",
]
