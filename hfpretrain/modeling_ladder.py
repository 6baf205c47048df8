"""The ladder's neural rungs below the GPT, as transformers `PreTrainedModel`s with `generate()`.

Notable features:
- `MLPLMForCausalLM` (Bengio et al. 2003): each position sees exactly the last `context_size` tokens (zeros stand
  for the tokens before the sequence start), embedded, concatenated, through one tanh layer. All windows of a
  sequence are computed at once with `unfold`, so training uses the same (batch, seq) batches as the GPT. The
  "direct connections" from the embeddings to the output of the paper are left out: they are optional there and
  cost vocab × context × embedding weights.
- `RNNLMForCausalLM`: embeddings → LSTM or GRU (cuDNN/oneDNN kernels of `nn.LSTM` / `nn.GRU`) → tied output layer.
  Its state is reset at the start of every training sequence, as the loop's sequences are independent.
- `AttentionLMForCausalLM`: one pre-norm causal self-attention layer on learned positions, no feed-forward block: the
  smallest model that can look arbitrarily far back and copy from there (Elhage et al. 2021). Its embedding and
  output layer are untied, so that their direct path can hold asymmetric bigram statistics.
- None of them keeps a cache: `generate()` runs on the whole sequence at every step (`use_cache=False` in their
  configs). Cheap for these sizes, and it keeps each model one screen long.
- Padding: positions where `attention_mask` is 0 read as zero embeddings (MLP, RNN) or are masked as keys
  (attention), so right-padded batches score like the sequences alone. The RNN still steps through left padding:
  a left-padded batch differs slightly from its prompts run one by one.

This file imports only torch, transformers and its sibling files (the loss of `modeling_gpt`): saved folders carry
them as remote code and load with `trust_remote_code=True` where hfpretrain is not installed.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_ladder import AttentionLMConfig, MLPLMConfig, RNNLMConfig
from .modeling_gpt import causal_lm_loss


class _LadderPreTrainedModel(PreTrainedModel):
    """What the three share: normal init, the embedding accessors, the output with loss."""

    base_model_prefix = "model"

    def _init_weights(self, module: nn.Module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.RNNBase):
            bound = 1.0 / math.sqrt(module.hidden_size)  # PyTorch's own init for recurrent layers
            for weight in module.parameters():
                init.uniform_(weight, -bound, bound)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding):
        self.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear):
        self.lm_head = value

    def _embed(self, input_ids, inputs_embeds, attention_mask) -> torch.Tensor:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        if attention_mask is not None and attention_mask.ndim == 2:
            x = x * attention_mask[..., None].to(x.dtype)
        return x

    def _output(self, hidden_states, labels, logits_to_keep, num_items_in_batch, return_dict):
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, keep, :])
        loss = None
        if labels is not None:
            if logits.shape[1] != labels.shape[1]:
                raise ValueError("labels need the logits of every position: leave logits_to_keep at 0 when training.")
            loss = causal_lm_loss(logits, labels, num_items_in_batch)
        output = CausalLMOutputWithPast(loss=loss, logits=logits)
        return output if return_dict is not False else output.to_tuple()


# --------------------------------------------------------------------------------------------------------------------
# Fixed-window MLP (Bengio et al. 2003)


class MLPLMForCausalLM(_LadderPreTrainedModel, GenerationMixin):
    """p(x_t | x_{t-n..t-1}) = softmax(W tanh(H [e(x_{t-n}); …; e(x_{t-1})] + d) + b), n = context_size."""

    config_class = MLPLMConfig
    config: MLPLMConfig

    def __init__(self, config: MLPLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size)
        self.hidden = nn.Linear(config.context_size * config.embedding_size, config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        x = self._embed(input_ids, inputs_embeds, attention_mask)
        B, T, E = x.shape  # batch, time, embedding
        n = self.config.context_size
        x = F.pad(x, (0, 0, n - 1, 0))  # n − 1 zero vectors before the first token
        windows = x.unfold(1, n, 1).transpose(-1, -2).reshape(B, T, n * E)  # (B, T, n·E), oldest token first
        hidden = torch.tanh(self.hidden(self.dropout(windows)))
        return self._output(self.dropout(hidden), labels, logits_to_keep, num_items_in_batch, return_dict)


# --------------------------------------------------------------------------------------------------------------------
# Recurrent (LSTM / GRU)


class RNNLMForCausalLM(_LadderPreTrainedModel, GenerationMixin):
    """Embeddings → stacked LSTM/GRU → (tied) output layer."""

    config_class = RNNLMConfig
    config: RNNLMConfig
    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}

    def __init__(self, config: RNNLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        recurrent = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = recurrent(
            config.hidden_size,
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            dropout=config.dropout if config.num_hidden_layers > 1 else 0.0,
            batch_first=True,
        )
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        x = self.dropout(self._embed(input_ids, inputs_embeds, attention_mask))
        hidden, _ = self.rnn(x)  # (B, T, hidden); the final state is not kept (no cache)
        return self._output(self.dropout(hidden), labels, logits_to_keep, num_items_in_batch, return_dict)


# --------------------------------------------------------------------------------------------------------------------
# One attention layer, no MLP


class AttentionLMForCausalLM(_LadderPreTrainedModel, GenerationMixin):
    """x = e(tokens) + p(positions); x + attn(LN(x)); LN; output layer (untied by default, see the config)."""

    config_class = AttentionLMConfig
    config: AttentionLMConfig
    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}

    def __init__(self, config: AttentionLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.input_layernorm = nn.LayerNorm(config.hidden_size)
        self.qkv_proj = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        x = self._embed(input_ids, inputs_embeds, None)
        B, T, C = x.shape  # batch, time, channels
        if x.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"The sequence has {T} tokens, beyond max_position_embeddings ({self.config.max_position_embeddings})"
                ": shorten the input or generate fewer tokens."
            )
        if position_ids is None:
            if attention_mask is not None:  # left padding: the first real token is at position 0
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            else:
                position_ids = torch.arange(T, device=x.device).expand(B, -1)
        x = self.dropout(x + self.embed_positions(position_ids))

        H = self.config.num_attention_heads
        q, k, v = self.qkv_proj(self.input_layernorm(x)).view(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, T) causal
        if attention_mask is not None:
            # padded keys are hidden; the diagonal stays visible so a padded query still has one key (no NaN)
            mask = (mask & attention_mask.bool()[:, None, None, :]) | torch.eye(T, dtype=torch.bool, device=x.device)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, C // H)
        x = x + self.dropout(self.o_proj(attn.transpose(1, 2).reshape(B, T, C)))
        return self._output(self.norm(x), labels, logits_to_keep, num_items_in_batch, return_dict)


LADDER_MODELS = {
    "mlp": (MLPLMConfig, MLPLMForCausalLM),
    "rnn": (RNNLMConfig, RNNLMForCausalLM),
    "attention": (AttentionLMConfig, AttentionLMForCausalLM),
}
LADDER_CONFIGS = (MLPLMConfig, RNNLMConfig, AttentionLMConfig)

__all__ = ["LADDER_CONFIGS", "LADDER_MODELS", "AttentionLMForCausalLM", "MLPLMForCausalLM", "RNNLMForCausalLM"]
