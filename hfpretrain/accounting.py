"""Parameter and FLOP accounting for `GPTConfig`, computed from the config alone (no model is built).

Parameters are split into embeddings (token + learned positions), attention (q/k/v/o projections and their
biases), feed-forward, norms (block norms, QK-norms, final norm) and the output head (zero when tied). The
`gpt2-small` preset counts exactly what transformers' `GPT2LMHeadModel` of that shape counts (124,439,808).

Training FLOPs per token follow Kaplan et al. 2020 (table 1) and PaLM (Chowdhery et al. 2022, appendix B):
6·N for the weight matmuls (2 forward + 4 backward per parameter per token), where N counts the matrices that are
multiplied — every projection and the output head, tied or not, but not the embedding lookups — plus
12·L·T·(heads·head_dim) for the attention scores and their weighted sum over a context of T tokens. Like PaLM and
nanoGPT we count the full T×T score matrix; a causal kernel that skips the masked half does half of that term.
"""

from typing import Any

from .configuration_gpt import GATED_ACTIVATIONS, GPTConfig


def parameter_breakdown(config: GPTConfig) -> dict[str, int]:
    """Parameter counts per group, the total (shared tied weights counted once) and the non-embedding count."""
    h, L = config.hidden_size, config.num_hidden_layers
    d = config.head_dim
    q_width, kv_width = config.num_attention_heads * d, config.num_key_value_heads * d
    bias = config.bias

    embeddings = config.vocab_size * h
    if config.position_embedding_type == "learned":
        embeddings += config.max_position_embeddings * h

    attention = h * (q_width + 2 * kv_width) + q_width * h
    if bias:
        attention += (q_width + 2 * kv_width) + h

    up_width = config.intermediate_size * (2 if config.hidden_act in GATED_ACTIVATIONS else 1)
    feed_forward = h * up_width + config.intermediate_size * h
    if bias:
        feed_forward += up_width + h

    norm = h * (2 if config.norm_type == "layernorm" and bias else 1)
    norms = (2 * L + 1) * norm + (L * 2 * d if config.qk_norm else 0)

    output_head = 0 if config.tie_word_embeddings else config.vocab_size * h
    counts = {
        "embeddings": embeddings,
        "attention": L * attention,
        "feed_forward": L * feed_forward,
        "norms": norms,
        "output_head": output_head,
    }
    counts["total"] = sum(counts.values())
    counts["non_embedding"] = counts["total"] - embeddings - output_head
    return counts


def matmul_parameters(config: GPTConfig) -> int:
    """Weights that take part in a matrix multiply per token: projections and the output head (tied or not)."""
    h, L = config.hidden_size, config.num_hidden_layers
    d = config.head_dim
    q_width, kv_width = config.num_attention_heads * d, config.num_key_value_heads * d
    up_width = config.intermediate_size * (2 if config.hidden_act in GATED_ACTIVATIONS else 1)
    per_layer = h * (q_width + 2 * kv_width) + q_width * h + h * up_width + config.intermediate_size * h
    return L * per_layer + config.vocab_size * h


def flops_breakdown(config: GPTConfig, seq_len: int | None = None) -> dict[str, Any]:
    """Forward and training FLOPs per token at context length `seq_len` (default: max_position_embeddings)."""
    T = seq_len or config.max_position_embeddings
    n = matmul_parameters(config)
    attention_forward = 4 * config.num_hidden_layers * T * config.num_attention_heads * config.head_dim
    return {
        "seq_len": T,
        "matmul_parameters": n,
        "forward_per_token": 2 * n + attention_forward,
        "train_dense_per_token": 6 * n,
        "train_attention_per_token": 3 * attention_forward,
        "train_per_token": 6 * n + 3 * attention_forward,
    }


def training_flops_per_token(config: GPTConfig, seq_len: int | None = None) -> int:
    """6·N + 12·L·T·d_attn: the FLOPs of one training step divided by the tokens it trains on (for MFU)."""
    return flops_breakdown(config, seq_len)["train_per_token"]


__all__ = ["flops_breakdown", "matmul_parameters", "parameter_breakdown", "training_flops_per_token"]
