"""GPTConfig: the configuration of hfpretrain's GPT, a transformers `PreTrainedConfig`.

One config spans the original GPT-2 recipe (learned positions, LayerNorm, GELU, biases, tied embeddings) and the
"modern" Llama-style recipe (RoPE, RMSNorm, SwiGLU, no biases, grouped-query attention). Every field is validated
with an error that names the field and says what to change. Named presets: `GPTConfig.from_preset(name, **overrides)`.

This file imports only transformers and huggingface_hub (never hfpretrain): saved model folders carry it as remote
code so that they load where hfpretrain is not installed.
"""

import math
from typing import Any, Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

POSITION_EMBEDDING_TYPES = ("rope", "learned", "sinusoidal")
NORM_TYPES = ("layernorm", "rmsnorm")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "swiglu", "relu2")
GATED_ACTIVATIONS = ("swiglu",)


def _round_up(x: float, multiple: int) -> int:
    return int(multiple * math.ceil(x / multiple))


def default_intermediate_size(hidden_size: int, hidden_act: str) -> int:
    """4 × hidden_size, as in the original Transformer (Vaswani et al. 2017, d_ff = 4 d_model).

    A gated unit (SwiGLU) has three matrices instead of two, so its width is 2/3 of that, rounded up to a multiple
    of 64, which keeps the feed-forward parameter count (and FLOPs) equal — the choice of Shazeer 2020 ("GLU Variants
    Improve Transformer") and Llama."""
    if hidden_act in GATED_ACTIVATIONS:
        return _round_up(2 * 4 * hidden_size / 3, 64)
    return 4 * hidden_size


@strict
class GPTConfig(PreTrainedConfig):
    r"""Configuration of [`GPTForCausalLM`].

    Example:
    ```python
    >>> from hfpretrain import GPTConfig, GPTForCausalLM
    >>> config = GPTConfig.from_preset("gpt2-small", vocab_size=32000)
    >>> model = GPTForCausalLM(config)
    ```
    """

    model_type = "hfpretrain_gpt"

    vocab_size: int = 50304
    """Number of token ids; the embedding and output matrices have this many rows. A multiple of 64 is faster."""
    max_position_embeddings: int = 1024
    """Longest sequence (context length) the model is built for; size of learned/sinusoidal position tables."""
    hidden_size: int = 768
    """Width of the residual stream (d_model)."""
    num_hidden_layers: int = 12
    """Number of transformer blocks."""
    num_attention_heads: int = 12
    """Number of query heads; hidden_size must be divisible by it (head_dim = hidden_size / heads)."""
    num_key_value_heads: int | None = None
    """Key/value heads for grouped-query attention (Ainslie et al. 2023); None = num_attention_heads (multi-head),
    1 = multi-query attention. Must divide num_attention_heads."""
    intermediate_size: int | None = None
    """Feed-forward width; None = 4 × hidden_size (2/3 of that, rounded up to a multiple of 64, for SwiGLU)."""
    position_embedding_type: Literal["rope", "learned", "sinusoidal"] = "learned"
    """rope (Su et al. 2021), learned absolute (GPT-2) or sinusoidal (the fixed sin/cos table of Vaswani et al.)."""
    norm_type: Literal["layernorm", "rmsnorm"] = "layernorm"
    """Normalization before each sub-layer and at the end (pre-norm): LayerNorm (GPT-2) or RMSNorm
    (Zhang & Sennrich 2019)."""
    norm_eps: float = 1e-5
    """Epsilon of every normalization layer."""
    hidden_act: Literal["gelu", "gelu_tanh", "relu", "swiglu", "relu2"] = "gelu_tanh"
    """Feed-forward activation: gelu (exact), gelu_tanh (GPT-2's tanh approximation), relu, swiglu (gated SiLU,
    Shazeer 2020) or relu2 (squared ReLU, So et al. 2021 "Primer")."""
    qk_norm: bool = False
    """RMS-normalize queries and keys per head before attention (stabilizes training; OLMo 2, Qwen 3)."""
    dropout: float = 0.0
    """Dropout on embeddings and on each residual branch. 0 for pretraining; GPT-2 used 0.1."""
    attention_dropout: float = 0.0
    """Dropout on attention probabilities."""
    bias: bool = True
    """Biases in linear layers and LayerNorms (GPT-2: True; Llama: False)."""
    tie_word_embeddings: bool = True
    """Share the token embedding matrix with the output head (Press & Wolf 2017)."""
    initializer_range: float = 0.02
    """Standard deviation of the normal init of weights (GPT-2: 0.02)."""
    scale_residual_init: bool = True
    """Divide the init std of the projections that write into the residual stream by sqrt(2 × num_hidden_layers),
    GPT-2's scaled residual initialization (Radford et al. 2019, section 2.3)."""
    rope_theta: float = 10000.0
    """Base of the RoPE frequencies (Su et al. 2021: 10,000; Llama 3 uses 500,000 for long contexts)."""
    bos_token_id: int | None = None
    """Id of the beginning-of-sequence token, if the tokenizer has one."""
    eos_token_id: int | list[int] | None = None
    """Id of the end-of-sequence token (generation stops there)."""
    pad_token_id: int | None = None
    """Id of the padding token."""
    use_cache: bool = True
    """Return a key/value cache from forward passes so that generation reuses past keys and values."""

    def __post_init__(self, **kwargs: Any):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.intermediate_size is None and self.hidden_act in ACTIVATIONS and self.hidden_size > 0:
            self.intermediate_size = default_intermediate_size(self.hidden_size, self.hidden_act)
        super().__post_init__(**kwargs)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # `@strict` runs every `validate_*` method after construction (and on `config.validate()`).
    def validate_architecture(self):
        """Check every field; each message names the field and what to change."""
        choices = {
            "position_embedding_type": POSITION_EMBEDDING_TYPES,
            "norm_type": NORM_TYPES,
            "hidden_act": ACTIVATIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}.")
        for name in (
            "vocab_size",
            "max_position_embeddings",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "intermediate_size",
        ):
            value = getattr(self, name)
            if value is None or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}. Set {name} to a value >= 1.")
        if self.hidden_size % self.num_attention_heads != 0:
            divisors = [h for h in range(1, min(self.hidden_size, 64) + 1) if self.hidden_size % h == 0]
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}). Change num_attention_heads to a divisor of hidden_size "
                f"(e.g. one of {divisors[-4:]}) or change hidden_size."
            )
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"num_key_value_heads ({self.num_key_value_heads}) must divide num_attention_heads "
                f"({self.num_attention_heads}): each key/value head serves a whole group of query heads. "
                f"Choose num_key_value_heads among "
                f"{[k for k in range(1, self.num_attention_heads + 1) if self.num_attention_heads % k == 0]}."
            )
        if self.position_embedding_type == "rope" and self.head_dim % 2 != 0:
            raise ValueError(
                f"position_embedding_type='rope' rotates pairs of channels, so head_dim (hidden_size / "
                f"num_attention_heads = {self.head_dim}) must be even. Change hidden_size or num_attention_heads."
            )
        if self.position_embedding_type == "sinusoidal" and self.hidden_size % 2 != 0:
            raise ValueError(
                f"position_embedding_type='sinusoidal' interleaves sin and cos, so hidden_size ({self.hidden_size}) "
                "must be even."
            )
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} is a probability in [0, 1); got {value}. Use 0.0 to disable dropout.")
        for name in ("norm_eps", "initializer_range", "rope_theta"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}.")
        for name in ("bos_token_id", "pad_token_id", "eos_token_id"):
            value = getattr(self, name)
            ids = value if isinstance(value, list) else [value]
            for token_id in ids:
                if token_id is not None and not 0 <= token_id < self.vocab_size:
                    raise ValueError(
                        f"{name} ({token_id}) is outside the vocabulary [0, {self.vocab_size}). Set {name} to an id "
                        "of your tokenizer, or raise vocab_size to the tokenizer's length."
                    )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "GPTConfig":
        """Build a config from a named preset (see `PRESETS`), with any field overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}. Available presets: {', '.join(PRESETS)}.")
        fields = {**PRESETS[name], **overrides}
        # A width override for a preset re-derives the feed-forward width unless that is overridden too.
        if "intermediate_size" not in overrides and ({"hidden_size", "hidden_act"} & overrides.keys()):
            fields.pop("intermediate_size", None)
        return cls(**fields)


# The two architecture families. GPT-2: Radford et al. 2019 and OpenAI's released checkpoints.
_GPT2 = dict(
    position_embedding_type="learned",
    norm_type="layernorm",
    norm_eps=1e-5,
    hidden_act="gelu_tanh",
    bias=True,
    tie_word_embeddings=True,
    qk_norm=False,
)
# Modern: exactly what transformers' LlamaForCausalLM computes, so these models export to the Llama format
# (RoPE with rotate-half, RMSNorm, SwiGLU, no biases). Untied embeddings, as in Llama.
_MODERN = dict(
    position_embedding_type="rope",
    norm_type="rmsnorm",
    norm_eps=1e-5,
    hidden_act="swiglu",
    bias=False,
    tie_word_embeddings=False,
    qk_norm=False,
    rope_theta=10000.0,
)

PRESETS: dict[str, dict[str, Any]] = {
    # Seconds on a CPU: unit tests and smoke runs.
    "gpt-debug": dict(
        _MODERN,
        vocab_size=512,
        max_position_embeddings=128,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    ),
    # Minutes on a laptop CPU: `make demo` and the course's exercises (~6M parameters with an 8k vocabulary).
    "gpt-tiny": dict(
        _MODERN,
        vocab_size=8192,
        max_position_embeddings=256,
        hidden_size=256,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=4,
        tie_word_embeddings=True,
    ),
    # The GPT-2 family shapes (Radford et al. 2019, Table 2): 124M, 350M, 774M.
    "gpt2-small": dict(
        _GPT2,
        vocab_size=50257,
        max_position_embeddings=1024,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
    ),
    "gpt2-medium": dict(
        _GPT2,
        vocab_size=50257,
        max_position_embeddings=1024,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
    ),
    "gpt2-large": dict(
        _GPT2,
        vocab_size=50257,
        max_position_embeddings=1024,
        hidden_size=1280,
        num_hidden_layers=36,
        num_attention_heads=20,
    ),
    # Llama-style models. A 32k vocabulary (multiple of 64) suits a Japanese+English BPE.
    "modern-small": dict(
        _MODERN,
        vocab_size=32768,
        max_position_embeddings=2048,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        num_key_value_heads=4,
    ),
    "modern-medium": dict(
        _MODERN,
        vocab_size=32768,
        max_position_embeddings=2048,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=8,
    ),
    # The TinyLlama-1.1B shape (Zhang et al. 2024): 22 layers, 2048 wide, 32 query / 4 key-value heads.
    "modern-1b": dict(
        _MODERN,
        vocab_size=32768,
        max_position_embeddings=2048,
        hidden_size=2048,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        intermediate_size=5632,
    ),
}

__all__ = ["PRESETS", "GPTConfig", "default_intermediate_size"]
