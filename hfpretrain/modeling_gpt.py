"""hfpretrain's GPT: a decoder-only Transformer as a transformers `PreTrainedModel`, readable top to bottom.

Notable features:
- One file spans GPT-2 (learned positions, LayerNorm, GELU, biases, tied embeddings) and Llama-style models
  (RoPE, RMSNorm, SwiGLU, no biases, grouped-query attention), chosen by `GPTConfig` fields.
- Pre-norm residual blocks (Xiong et al. 2020), a final norm, an optional QK-norm per head.
- Attention is one readable eager reference (`eager_attention_forward`); sdpa / flex kernels are picked by name
  through transformers' attention interface, so `attn_implementation=` and `set_attn_implementation()` work.
- Query/key/value come from one fused matmul, and SwiGLU's gate/up from one fused matmul: fewer, larger GEMMs.
- Rotary and sinusoidal tables are computed in fp32 in `forward` (no buffers), so casting the model to bf16
  never degrades positions, and `from_pretrained` has nothing to re-create.
- KV cache through transformers' Cache API (dynamic or static); position ids follow the attention mask, so
  left-padded batches equal the prompts run alone.
- The loss shifts the labels rather than the logits (no copy of the vocabulary-sized tensor) and can be normalized
  by a token count given from outside (`num_items_in_batch`), so gradient accumulation equals the large batch.

This file imports only torch and transformers (and its sibling configuration file): saved folders carry it as
remote code and load with `trust_remote_code=True` where hfpretrain is not installed.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_gpt import GATED_ACTIVATIONS, GPTConfig

# --------------------------------------------------------------------------------------------------------------------
# Normalization and positions


class GPTRMSNorm(nn.Module):
    """RMSNorm (Zhang & Sennrich 2019): x / rms(x) * weight, computed in fp32 like Llama's."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.weight * F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)).to(x.dtype)


def make_norm(config: GPTConfig, dim: int) -> nn.Module:
    if config.norm_type == "rmsnorm":
        return GPTRMSNorm(dim, eps=config.norm_eps)
    return nn.LayerNorm(dim, eps=config.norm_eps, bias=config.bias)


def inverse_frequencies(dim: int, base: float, device: torch.device) -> torch.Tensor:
    """1 / base^(2i/dim) for i < dim/2: the frequencies of both RoPE and the sinusoidal table (fp32)."""
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32, device=device) / dim))


def rotary_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """cos and sin of RoPE angles, (batch, seq, head_dim), in the rotate-half layout used by Llama."""
    freqs = position_ids[..., None].float() * inverse_frequencies(head_dim, theta, position_ids.device)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotate queries and keys (batch, heads, seq, head_dim) by their positions' angles (Su et al. 2021)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def sinusoidal_positions(position_ids: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """The original fixed table (Vaswani et al. 2017, 3.5): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(.)."""
    angles = position_ids[..., None].float() * inverse_frequencies(dim, 10000.0, position_ids.device)
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2).to(dtype)


# --------------------------------------------------------------------------------------------------------------------
# Feed-forward


class GPTMLP(nn.Module):
    """Position-wise feed-forward: down(act(up(x))), or down(silu(gate(x)) * up(x)) for SwiGLU."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.gated = config.hidden_act in GATED_ACTIVATIONS
        self.hidden_act = config.hidden_act
        width = config.intermediate_size * (2 if self.gated else 1)
        # Gated: one matmul yields [gate | up]; the halves are split below.
        self.up_proj = nn.Linear(config.hidden_size, width, bias=config.bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.bias)
        self.down_proj._is_residual_projection = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up_proj(x)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        elif self.hidden_act == "gelu":
            h = F.gelu(h)
        elif self.hidden_act == "gelu_tanh":
            h = F.gelu(h, approximate="tanh")
        elif self.hidden_act == "relu":
            h = F.relu(h)
        else:  # relu2, So et al. 2021 ("Primer")
            h = F.relu(h).square()
        return self.down_proj(h)


# --------------------------------------------------------------------------------------------------------------------
# Attention


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
):
    """The reference: softmax(q kᵀ · scaling + mask) v, returning the attention probabilities too.

    query (batch, heads, q_len, head_dim); key/value (batch, kv_heads, kv_len, head_dim); the mask comes from
    transformers' `create_causal_mask` (additive floats for eager, or booleans where True = attend)."""
    if module.num_key_value_groups > 1:  # grouped-query attention: each kv head serves a group of query heads
        key = key.repeat_interleave(module.num_key_value_groups, dim=1)
        value = value.repeat_interleave(module.num_key_value_groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, q_len, kv_len)
    if attention_mask is None:  # plain causal attention (no padding, no cache)
        q_len, kv_len = scores.shape[-2:]
        keep = torch.ones(q_len, kv_len, dtype=torch.bool, device=scores.device).tril(kv_len - q_len)
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    elif attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    else:
        scores = scores + attention_mask
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value).transpose(1, 2).contiguous()  # (B, q_len, H, head_dim)
    return output, probs


class GPTAttention(nn.Module):
    """Causal self-attention with grouped-query heads, optional QK-norm and RoPE."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.head_dim = config.hidden_size // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
        # One matmul yields [q | k | v]: num_heads + 2 × num_key_value_heads heads of head_dim.
        self.qkv_proj = nn.Linear(
            config.hidden_size, (self.num_heads + 2 * self.num_key_value_heads) * self.head_dim, bias=config.bias
        )
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=config.bias)
        self.o_proj._is_residual_projection = True
        if config.qk_norm:
            self.q_norm = GPTRMSNorm(self.head_dim, eps=config.norm_eps)
            self.k_norm = GPTRMSNorm(self.head_dim, eps=config.norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None,
        attention_mask: torch.Tensor | None,
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, _ = hidden_states.shape  # batch, time
        qkv = self.qkv_proj(hidden_states)
        q, k, v = qkv.split(
            [
                self.num_heads * self.head_dim,
                self.num_key_value_heads * self.head_dim,
                self.num_key_value_heads * self.head_dim,
            ],
            dim=-1,
        )
        q = q.view(B, T, -1, self.head_dim).transpose(1, 2)  # (B, heads, T, head_dim)
        k = k.view(B, T, -1, self.head_dim).transpose(1, 2)  # (B, kv_heads, T, head_dim)
        v = v.view(B, T, -1, self.head_dim).transpose(1, 2)
        if self.config.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if position_embeddings is not None:  # RoPE
            q, k = apply_rotary(q, k, *position_embeddings)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        output, weights = attention_interface(
            self,
            q,
            k,
            v,
            attention_mask,
            dropout=self.config.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        return self.o_proj(output.reshape(B, T, -1)), weights


# --------------------------------------------------------------------------------------------------------------------
# Block and model


class GPTBlock(GradientCheckpointingLayer):
    """x + attn(norm(x)), then x + mlp(norm(x)). Activation checkpointing comes from `GradientCheckpointingLayer`."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.input_layernorm = make_norm(config, config.hidden_size)
        self.self_attn = GPTAttention(config, layer_idx)
        self.post_attention_layernorm = make_norm(config, config.hidden_size)
        self.mlp = GPTMLP(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_out, attn_weights = self.self_attn(
            self.input_layernorm(hidden_states), position_embeddings, attention_mask, cache=cache, **kwargs
        )
        hidden_states = hidden_states + self.dropout(attn_out)
        hidden_states = hidden_states + self.dropout(self.mlp(self.post_attention_layernorm(hidden_states)))
        return hidden_states, attn_weights


class GPTPreTrainedModel(PreTrainedModel):
    config_class = GPTConfig
    config: GPTConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["GPTBlock"]
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = True

    def _init_weights(self, module: nn.Module):
        """Normal(0, initializer_range) weights, zero biases, unit norms; the projections that write into the
        residual stream get std / sqrt(2 × layers) (GPT-2's scaled residual init, Radford et al. 2019)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            if getattr(module, "_is_residual_projection", False) and self.config.scale_residual_init:
                std = std / math.sqrt(2 * self.config.num_hidden_layers)
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, (nn.LayerNorm, GPTRMSNorm)):
            init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)


class GPTModel(GPTPreTrainedModel):
    """Embeddings → blocks → final norm. Returns the last hidden state (and cache, hidden states, attentions)."""

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        if config.position_embedding_type == "learned":
            self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(GPTBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm = make_norm(config, config.hidden_size)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding):
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        use_cache = config.use_cache if use_cache is None else use_cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if output_attentions and config._attn_implementation != "eager":
            raise ValueError(
                f"output_attentions=True needs the eager attention reference, but this model uses "
                f"{config._attn_implementation!r}. Load it with attn_implementation='eager' or call "
                "model.set_attn_implementation('eager') first."
            )
        if self.gradient_checkpointing and self.training and use_cache:
            use_cache = False  # recomputing a block in backward would write to the cache twice

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and cache is None:
            cache = DynamicCache(config=config)
        B, T = inputs_embeds.shape[:2]  # batch, time
        past = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past, past + T, device=inputs_embeds.device).unsqueeze(0).expand(B, -1)

        hidden_states = inputs_embeds
        position_embeddings = None
        if config.position_embedding_type == "learned":
            if past + T > config.max_position_embeddings:
                raise ValueError(
                    f"The sequence reaches {past + T} tokens, beyond max_position_embeddings "
                    f"({config.max_position_embeddings}) of this model's learned position table: shorten the input "
                    "or generate fewer tokens."
                )
            hidden_states = hidden_states + self.embed_positions(position_ids)
        elif config.position_embedding_type == "sinusoidal":
            hidden_states = hidden_states + sinusoidal_positions(position_ids, config.hidden_size, hidden_states.dtype)
        else:
            position_embeddings = rotary_cos_sin(position_ids, config.head_dim, config.rope_theta, hidden_states.dtype)
        hidden_states = self.dropout(hidden_states)

        mask = create_causal_mask(
            config=config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )

        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for i, layer in enumerate(self.layers):
            hidden_states, weights = layer(hidden_states, position_embeddings, mask, cache=cache, **kwargs)
            if output_hidden_states and i < len(self.layers) - 1:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:  # GPT-2's convention: the last entry is the normalized final state
            all_hidden_states += (hidden_states,)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            cache=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )
        return output if return_dict is not False else output.to_tuple()


def causal_lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: int | torch.Tensor | None = None
) -> torch.Tensor:
    """Next-token cross-entropy; label -100 is ignored.

    Position t predicts labels[t + 1]: the labels are shifted left (and padded with -100) rather than slicing the
    logits, which would copy the (batch, seq, vocab) tensor. With `num_items_in_batch` (the number of target tokens in
    the whole accumulated batch) the sum is divided by it, so micro-batch losses add up to the large-batch mean."""
    targets = F.pad(labels, (0, 1), value=-100)[..., 1:].reshape(-1).to(logits.device)
    logits = logits.float().reshape(-1, logits.shape[-1])
    if num_items_in_batch is None:
        return F.cross_entropy(logits, targets, ignore_index=-100)
    return F.cross_entropy(logits, targets, ignore_index=-100, reduction="sum") / num_items_in_batch


class GPTForCausalLM(GPTPreTrainedModel, GenerationMixin):
    """GPTModel with a language-model head; `generate()` comes from transformers' `GenerationMixin`."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.model = GPTModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding):
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear):
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        """`labels` are the input ids themselves (shifted inside); `logits_to_keep=k` computes only the last k
        positions' logits (generation needs 1), or the positions of a 1-D index tensor."""
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, keep, :])
        loss = None
        if labels is not None:
            if logits.shape[1] != labels.shape[1]:
                raise ValueError("labels need the logits of every position: leave logits_to_keep at 0 when training.")
            loss = causal_lm_loss(logits, labels, num_items_in_batch)
        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = ["GPTForCausalLM", "GPTModel", "GPTPreTrainedModel", "causal_lm_loss"]
